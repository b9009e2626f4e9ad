"""Metric-based meta-learning: learn an embedding in which a fixed rule classifies by distance.

One file per method, each a few equations:

- :mod:`~metalib.metric.distances`: squared Euclidean and cosine between sets of embeddings, for a
  batch of tasks at once.
- :mod:`~metalib.metric.siamese`: contrastive and triplet losses (with batch-hard mining) and the
  one-shot nearest-neighbour classifier (Koch et al., 2015; Hadsell et al., 2006; Hermans et al., 2017).
- :mod:`~metalib.metric.prototypical`: class means and a softmax over negative distances
  (Snell et al., 2017).
- :mod:`~metalib.metric.matching`: attention over the support set, with full-context embeddings
  (Vinyals et al., 2016).
- :mod:`~metalib.metric.relation`: a learned relation module scores query-class pairs (Sung et al., 2018).

Every method is an ``nn.Module`` whose ``forward(support_x, support_y, query_x)`` maps a batch of
tasks to scores ``[B, N*Q, N]`` (higher is more likely; the argmax is the prediction), so
:func:`metalib.evaluate` scores them all the same way, and whose ``loss(episode)`` is what
meta-training minimises.
"""
from .distances import cosine_similarity, pairwise_distances, squared_euclidean
from .matching import FullContextEmbedding, MatchingNetwork, matching_log_probs
from .prototypical import PrototypicalNetwork, prototypes, prototypical_logits
from .relation import RelationModule, RelationNetwork
from .siamese import SiameseNetwork, batch_hard_triplet_loss, contrastive_loss, triplet_loss

__all__ = ["cosine_similarity", "pairwise_distances", "squared_euclidean", "FullContextEmbedding",
           "MatchingNetwork", "matching_log_probs", "PrototypicalNetwork", "prototypes",
           "prototypical_logits", "RelationModule", "RelationNetwork", "SiameseNetwork",
           "batch_hard_triplet_loss", "contrastive_loss", "triplet_loss"]
