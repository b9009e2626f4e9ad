"""Metric-based methods: hand computations, invariances, losses at their margins, shapes and devices."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from metalib.backbones import MLP, Conv4, embed_tasks
from metalib.metric import (MatchingNetwork, PrototypicalNetwork, RelationModule, RelationNetwork, SiameseNetwork,
                            batch_hard_triplet_loss, contrastive_loss, cosine_similarity, prototypes,
                            prototypical_logits, squared_euclidean, triplet_loss)
from metalib.metric.matching import matching_attention
from metalib.metric.siamese import all_pairs_contrastive_loss, nearest_support_scores
from metalib.tasks import Episode

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class Identity(torch.nn.Module):
    """A backbone that flattens: embeddings are the raw pixels, so results can be computed by hand."""

    def forward(self, x):
        return x.flatten(1)


def tasks(B=3, N=4, K=2, Q=3, side=8, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    sx = torch.rand(B, N * K, 1, side, side, generator=g)
    qx = torch.rand(B, N * Q, 1, side, side, generator=g)
    sy = torch.arange(N).repeat_interleave(K).expand(B, -1).contiguous()
    qy = torch.arange(N).repeat_interleave(Q).expand(B, -1).contiguous()
    return Episode(sx.to(device), sy.to(device), qx.to(device), qy.to(device), None, None)


def test_prototype_log_probabilities_equal_a_hand_computation():
    # One task, 2 classes, 2-D embeddings. Class 0: (0,0), (2,0) -> c0 = (1,0); class 1: (0,2) -> c1 = (0,2).
    z_support = torch.tensor([[[0., 0.], [2., 0.], [0., 2.]]])
    support_y = torch.tensor([[0, 0, 1]])
    z_query = torch.tensor([[[1., 1.]]])
    c = prototypes(z_support, support_y)
    assert torch.equal(c, torch.tensor([[[1., 0.], [0., 2.]]]))
    # d(q, c0) = 0 + 1 = 1, d(q, c1) = 1 + 1 = 2 -> p0 = e^-1 / (e^-1 + e^-2) = 1 / (1 + e^-1)
    log_p = prototypical_logits(z_query, c).log_softmax(-1)
    expected = torch.tensor([-math.log1p(math.exp(-1)), -1 - math.log1p(math.exp(-1))])
    assert torch.allclose(log_p[0, 0], expected, atol=1e-6)


def test_prototypical_network_matches_a_loop_over_tasks_and_classes():
    ep = tasks()
    net = PrototypicalNetwork(Identity())
    logits = net(ep.support_x, ep.support_y, ep.query_x)
    for b in range(3):
        zs, zq = ep.support_x[b].flatten(1), ep.query_x[b].flatten(1)
        c = torch.stack([zs[ep.support_y[b] == k].mean(0) for k in range(4)])
        d = torch.stack([((zq - c[k]) ** 2).sum(1) for k in range(4)], dim=1)
        assert torch.allclose(logits[b], -d, atol=1e-4)


@pytest.mark.parametrize("make", [
    lambda: PrototypicalNetwork(Conv4(hidden=8)),
    lambda: PrototypicalNetwork(Conv4(hidden=8), distance="cosine", scale=10),
    lambda: MatchingNetwork(Conv4(hidden=8)),
    lambda: SiameseNetwork(Conv4(hidden=8)),
    lambda: RelationNetwork(Conv4(hidden=8, pool_blocks=2, flatten=False), RelationModule(16, hidden=8)),
], ids=["proto", "proto-cosine", "matching", "siamese", "relation"])
def test_predictions_do_not_depend_on_the_order_of_the_support_set(make):
    torch.manual_seed(0)
    net = make().eval()   # eval: batch norm's running statistics, so the batch's order cannot matter either
    ep = tasks(side=28)
    perm = torch.randperm(ep.support_x.shape[1])
    with torch.no_grad():
        a = net(ep.support_x, ep.support_y, ep.query_x)
        b = net(ep.support_x[:, perm], ep.support_y[:, perm], ep.query_x)
    assert torch.allclose(a, b, atol=1e-5)


def test_full_context_embeddings_read_the_support_set_as_a_sequence():
    torch.manual_seed(0)
    net = MatchingNetwork(Identity(), fce=True, embedding_dim=64).eval()
    ep = tasks()
    perm = torch.randperm(ep.support_x.shape[1])
    with torch.no_grad():
        a = net(ep.support_x, ep.support_y, ep.query_x)
        b = net(ep.support_x[:, perm], ep.support_y[:, perm], ep.query_x)
    assert torch.allclose(a.exp().sum(-1), torch.ones(3, 12), atol=1e-5)
    assert not torch.allclose(a, b, atol=1e-5)   # the bidirectional LSTM makes order matter, as in the paper


def test_matching_attention_rows_sum_to_one_and_follow_the_cosine():
    g = torch.Generator().manual_seed(1)
    zq, zs = torch.randn(2, 5, 7, generator=g), torch.randn(2, 9, 7, generator=g)
    a = matching_attention(zq, zs)
    assert a.shape == (2, 5, 9) and (a > 0).all()
    assert torch.allclose(a.sum(-1), torch.ones(2, 5), atol=1e-6)
    cos = F.cosine_similarity(zq[1, 3].unsqueeze(0), zs[1], dim=-1)
    assert torch.allclose(a[1, 3], cos.softmax(0), atol=1e-6)


def test_matching_network_probabilities_are_attention_mass_per_class():
    ep = tasks()
    net = MatchingNetwork(Identity())
    log_p = net(ep.support_x, ep.support_y, ep.query_x)
    a = matching_attention(ep.query_x.flatten(2), ep.support_x.flatten(2))
    by_hand = torch.stack([a[..., ep.support_y[0] == k].sum(-1) for k in range(4)], dim=-1)
    assert torch.allclose(log_p.exp(), by_hand, atol=1e-6)


def test_triplet_loss_is_zero_once_the_margin_holds_and_linear_before():
    a, p = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])
    far = torch.tensor([[0.0, 2.5]])     # D(a,n) - D(a,p) = 1.5 > margin 1
    near = torch.tensor([[0.0, 1.5]])    # 0.5 < margin: loss = 1 + 1 - 1.5 = 0.5
    assert triplet_loss(a, p, far, margin=1.0) == 0
    assert torch.isclose(triplet_loss(a, p, near, margin=1.0), torch.tensor(0.5), atol=1e-5)


def test_batch_hard_triplet_loss_equals_brute_force():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(2, 8, 5, generator=g)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]).expand(2, 8)
    expected = []
    for b, i in itertools.product(range(2), range(8)):
        d = (z[b] - z[b, i]).norm(dim=1)
        pos = max(float(d[j]) for j in range(8) if y[b, j] == y[b, i] and j != i)
        neg = min(float(d[j]) for j in range(8) if y[b, j] != y[b, i])
        expected.append(max(0.0, 0.7 + pos - neg))
    assert torch.isclose(batch_hard_triplet_loss(z, y, margin=0.7), torch.tensor(sum(expected) / 16), atol=1e-5)
    # Classes far apart, each class in a tight cluster: every triplet satisfies the margin.
    centres = torch.arange(4.0).repeat_interleave(2).unsqueeze(-1) * 10
    assert batch_hard_triplet_loss(torch.cat([centres, torch.zeros(8, 1)], 1).unsqueeze(0), y[:1]) == 0


def test_contrastive_loss_pulls_same_pairs_and_pushes_different_ones_to_the_margin():
    z1, z2 = torch.zeros(3, 2), torch.tensor([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0]])   # distances 5, 0.5, 5
    same = torch.tensor([1, 0, 0])
    # same pair at 5: 25; different pair at 0.5 < m=2: (2 - 0.5)^2 = 2.25; different pair at 5 > m: 0
    assert torch.isclose(contrastive_loss(z1, z2, same, margin=2.0), torch.tensor((25 + 2.25) / 3), atol=1e-4)
    z = torch.tensor([[[0.0], [0.0], [10.0], [10.0]]])
    assert all_pairs_contrastive_loss(z, torch.tensor([[0, 0, 1, 1]]), margin=2.0) < 1e-10


def test_siamese_classifies_by_the_nearest_support_example():
    z_support = torch.tensor([[[0.0], [10.0], [4.0], [20.0]]])   # class 0 at 0 and 10, class 1 at 4 and 20
    support_y = torch.tensor([[0, 0, 1, 1]])
    scores = nearest_support_scores(torch.tensor([[[9.0], [5.0]]]), z_support, support_y)
    assert torch.allclose(scores, -torch.tensor([[[1.0, 5.0], [5.0, 1.0]]]), atol=1e-5)


def test_relation_network_sums_each_class_and_scores_every_pair():
    torch.manual_seed(0)
    net = RelationNetwork()
    ep = tasks(B=2, N=5, K=3, Q=2, side=28)
    scores = net(ep.support_x, ep.support_y, ep.query_x)
    assert scores.shape == (2, 10, 5) and ((scores > 0) & (scores < 1)).all()
    loss = net.loss(ep)
    assert torch.isclose(loss, F.mse_loss(scores, F.one_hot(ep.query_y, 5).float()))


def test_distances_agree_with_torch():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(2, 4, 3, generator=g, dtype=torch.float64), torch.randn(2, 6, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(squared_euclidean(a, b), torch.cdist(a, b) ** 2)
    assert torch.allclose(cosine_similarity(a, b), F.cosine_similarity(a.unsqueeze(2), b.unsqueeze(1), dim=-1))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make", [
    lambda: PrototypicalNetwork(Conv4()),
    lambda: MatchingNetwork(Conv4(), fce=True, embedding_dim=64),
    lambda: SiameseNetwork(Conv4(), loss="contrastive"),
    lambda: SiameseNetwork(Conv4(), loss="triplet"),
    lambda: RelationNetwork(),
], ids=["proto", "matching-fce", "siamese-contrastive", "siamese-triplet", "relation"])
def test_shapes_devices_and_gradients(make, device):
    torch.manual_seed(0)
    net = make().to(device)
    ep = tasks(B=2, N=5, K=2, Q=3, side=28, device=device)
    scores = net(ep.support_x, ep.support_y, ep.query_x, n_way=5)
    assert scores.shape == (2, 15, 5) and scores.device.type == device
    loss = net.loss(ep, n_way=5)
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_backbones():
    assert Conv4()(torch.zeros(3, 1, 28, 28)).shape == (3, 64)
    assert Conv4(in_channels=3)(torch.zeros(2, 3, 84, 84)).shape == (2, 1600)
    assert Conv4(pool_blocks=2, flatten=False)(torch.zeros(2, 1, 28, 28)).shape == (2, 64, 7, 7)
    assert MLP([784, 32, 16])(torch.zeros(5, 1, 28, 28)).shape == (5, 16)
    a, b = embed_tasks(Identity(), torch.ones(2, 3, 1, 2, 2), torch.zeros(2, 4, 1, 2, 2))
    assert a.shape == (2, 3, 4) and b.shape == (2, 4, 4) and a.eq(1).all() and b.eq(0).all()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="flatten a batch of tasks"):
        Conv4()(torch.zeros(2, 3, 1, 28, 28))
    with pytest.raises(ValueError, match="unknown distance 'manhattan'"):
        PrototypicalNetwork(Conv4(), distance="manhattan")
    with pytest.raises(ValueError, match="embedding_dim=64"):
        MatchingNetwork(Conv4(), fce=True)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        SiameseNetwork(Conv4(), loss="hinge")
    with pytest.raises(ValueError, match="x.unsqueeze\\(0\\) for a single task"):
        PrototypicalNetwork(Conv4())(torch.zeros(5, 1, 28, 28), torch.zeros(5, dtype=torch.long),
                                     torch.zeros(5, 1, 28, 28))
    with pytest.raises(ValueError, match="a class has no support example"):
        prototypes(torch.zeros(1, 2, 3), torch.tensor([[0, 2]]))
    with pytest.raises(ValueError, match="too small for two 2x2 pools"):
        RelationModule(feature_size=(1, 1))
    with pytest.raises(ValueError, match="must return feature maps"):
        RelationNetwork(encoder=Conv4())(*[t for t in (torch.zeros(1, 5, 1, 28, 28), torch.arange(5).view(1, 5),
                                                       torch.zeros(1, 5, 1, 28, 28))])
