"""metalib.model_based (neural processes, label sequences) and metalib.data.gp (the GP oracle)."""
import math

import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import pytest
import torch
from hypothesis import given, settings, strategies as st

from metalib.data.gp import gaussian_log_likelihood, gp_posterior, kernel_matrix, sample_gp_tasks
from metalib.model_based import ConditionalNeuralProcess, LatentNeuralProcess, label_sequences
from metalib.tasks import Episode


@pytest.mark.parametrize("kernel", ["rbf", "periodic"])
def test_gp_posterior_equals_a_direct_solve(kernel):
    tasks = sample_gp_tasks(3, 7, 5, kernel=kernel, generator=torch.Generator().manual_seed(0),
                            dtype=torch.float64)
    mean, var = gp_posterior(tasks.x_context, tasks.y_context, tasks.x_target, kernel=kernel)
    for b in range(3):  # the textbook formulas, one task at a time, with a general solver
        xc, yc, xt = tasks.x_context[b], tasks.y_context[b], tasks.x_target[b]
        k = lambda a, c: kernel_matrix(a[None], c[None], kernel)[0]  # noqa: E731
        kcc = k(xc, xc) + (0.1 ** 2 + 1e-6) * torch.eye(7, dtype=torch.float64)
        direct_mean = k(xt, xc) @ torch.linalg.solve(kcc, yc)
        direct_var = torch.diagonal(k(xt, xt) - k(xt, xc) @ torch.linalg.solve(kcc, k(xc, xt))) + 0.1 ** 2
        assert torch.allclose(mean[b], direct_mean, atol=1e-10)
        assert torch.allclose(var[b, :, 0], direct_var, atol=1e-10)
    assert (var >= 0.1 ** 2 - 1e-12).all()  # never below the noise


def test_gp_posterior_without_context_is_the_prior():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64).view(1, 9, 1)
    mean, var = gp_posterior(x[:, :0], x[:, :0], x)
    assert torch.equal(mean, torch.zeros_like(x)) and torch.allclose(var, torch.full_like(x, 1 + 0.1 ** 2))
    with pytest.raises(ValueError, match="unknown kernel 'matern'"):
        kernel_matrix(x, x, "matern")


def test_cnp_log_likelihood_is_the_hand_computed_gaussian():
    torch.manual_seed(0)
    cnp = ConditionalNeuralProcess(hidden=16, representation=8)
    tasks = sample_gp_tasks(4, 6, 9, generator=torch.Generator().manual_seed(1))
    mean, sigma = cnp(tasks.x_context, tasks.y_context, tasks.x_target)
    by_hand = (-0.5 * math.log(2 * math.pi) - torch.log(sigma)
               - 0.5 * ((tasks.y_target - mean) / sigma) ** 2).mean()
    got = cnp.log_likelihood(tasks.x_context, tasks.y_context, tasks.x_target, tasks.y_target)
    assert torch.allclose(got, by_hand, atol=1e-6)
    assert torch.allclose(gaussian_log_likelihood(tasks.y_target, mean, sigma ** 2), by_hand, atol=1e-6)
    assert (sigma >= 0.1).all()


def test_cnp_ignores_the_order_of_its_context_and_counts_its_parameters():
    torch.manual_seed(0)
    cnp = ConditionalNeuralProcess(hidden=8, representation=4)
    # encoder 2-8-8-4: 24 + 72 + 36; decoder 5-8-8-2: 48 + 72 + 18
    assert sum(p.numel() for p in cnp.parameters()) == 132 + 138
    tasks = sample_gp_tasks(2, 5, 3, generator=torch.Generator().manual_seed(2))
    order = torch.randperm(5)
    a = cnp(tasks.x_context, tasks.y_context, tasks.x_target)[0]
    b = cnp(tasks.x_context[:, order], tasks.y_context[:, order], tasks.x_target)[0]
    assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="at least one context point"):
        cnp(tasks.x_context[:, :0], tasks.y_context[:, :0], tasks.x_target)


def test_latent_np_kl_vanishes_when_the_targets_repeat_the_context():
    torch.manual_seed(0)
    np_ = LatentNeuralProcess(hidden=16, latent=4)
    tasks = sample_gp_tasks(3, 6, 6, generator=torch.Generator().manual_seed(3))
    same = np_.elbo(tasks.x_context, tasks.y_context, tasks.x_context, tasks.y_context, samples=4)
    posterior = np_.latent(torch.cat([tasks.x_context] * 2, 1), torch.cat([tasks.y_context] * 2, 1))
    prior = np_.latent(tasks.x_context, tasks.y_context)
    assert torch.allclose(posterior.mean, prior.mean, atol=1e-6)  # a mean of codes: duplicates change nothing
    assert torch.isfinite(same)
    draws = np_(tasks.x_context, tasks.y_context, tasks.x_target, samples=5)
    assert draws.mean.shape == (5, 3, 6, 1)
    assert not torch.allclose(draws.mean[0], draws.mean[1])  # different latents, different curves


def toy_episode(b, n, k, q, seed):
    g = torch.Generator().manual_seed(seed)
    support_y = torch.arange(n).repeat_interleave(k).repeat(b, 1)
    query_y = torch.arange(n).repeat_interleave(q).repeat(b, 1)
    # each image is its label plus noise, so a row can be traced back to its label
    sx = support_y[..., None, None, None].float() + 0.01 * torch.rand(b, n * k, 1, 2, 2, generator=g)
    qx = query_y[..., None, None, None].float() + 0.01 * torch.rand(b, n * q, 1, 2, 2, generator=g)
    return Episode(sx, support_y, qx, query_y, torch.zeros(b, n, dtype=torch.long),
                   torch.zeros(b, n, k + q, dtype=torch.long))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.integers(0, 10 ** 6))
def test_label_sequences(b, n, k, q, seed):
    episode = toy_episode(b, n, k, q, seed)
    seq = label_sequences(episode, n, generator=torch.Generator().manual_seed(seed))
    s = n * k
    assert seq.inputs.shape == (b, s + n * q, 4 + n) and seq.is_query.tolist() == [False] * s + [True] * (n * q)
    assert (seq.inputs[:, s:, 4:] == 0).all()  # query labels are zero
    one_hot = seq.inputs[:, :s, 4:]
    assert torch.equal(one_hot.argmax(-1), seq.labels[:, :s]) and (one_hot.sum(-1) == 1).all()
    assert torch.equal(seq.inputs[:, :s, :4].mean(-1).round().long(), seq.labels[:, :s])  # images kept their labels
    counts = torch.stack([(seq.labels[:, :s] == c).sum(1) for c in range(n)], 1)
    assert (counts == k).all()  # every class appears K times before the queries
    assert torch.equal(seq.inputs[:, s:, :4].mean(-1).round().long(), seq.labels[:, s:])  # queries too
    assert torch.equal(seq.labels[:, s:].sort(1).values, episode.query_y)  # the same queries, reordered


def test_label_sequences_shuffle_the_support_and_the_query_order():
    episode = toy_episode(16, 5, 2, 2, 0)
    seq = label_sequences(episode, 5, generator=torch.Generator().manual_seed(0))
    for part in (slice(0, 10), slice(10, 20)):  # support, then queries
        orders = {tuple(row.tolist()) for row in seq.labels[:, part]}
        assert len(orders) > 10  # the order varies from task to task
    fixed = label_sequences(episode, 5, shuffle=False)
    assert torch.equal(fixed.labels, torch.cat([episode.support_y, episode.query_y], 1))
    with pytest.raises(ValueError, match="n_way is 3"):
        label_sequences(episode, 3)


from metalib.model_based import MANN, SNAIL, CausalSelfAttention, InContextTransformer, LSTMLearner  # noqa: E402
from metalib.model_based.snail import AttentionBlock, DenseBlock, TCBlock  # noqa: E402

LEARNERS = {
    "transformer": lambda: InContextTransformer(7, 3, d_model=16, layers=2, heads=2),
    "snail": lambda: SNAIL(7, 3, length=12, key=8, value=8, filters=8),
    "lstm": lambda: LSTMLearner(7, 3, hidden=16),
    "mann": lambda: MANN(7, 3, hidden=16, slots=8, width=6),
}


@pytest.mark.parametrize("name", LEARNERS)
@pytest.mark.parametrize("t", [0, 4, 10])
def test_in_context_learners_are_causal(name, t):
    """The output at step t does not change when any later input changes."""
    torch.manual_seed(0)
    model = LEARNERS[name]().eval()
    x = torch.randn(2, 12, 7)
    changed = x.clone()
    changed[:, t + 1:] = torch.randn(2, 12 - t - 1, 7)
    a, b = model(x), model(changed)
    assert a.shape == (2, 12, 3)
    assert torch.allclose(a[:, :t + 1], b[:, :t + 1], atol=1e-5)
    if t < 11:
        assert not torch.allclose(a[:, t + 1:], b[:, t + 1:])  # the later outputs do see the change


def test_attention_weights_sum_to_one_over_past_keys_and_parameters_are_counted():
    torch.manual_seed(0)
    attention = CausalSelfAttention(8, heads=2)
    assert sum(p.numel() for p in attention.parameters()) == 4 * (8 * 8 + 8)
    _, weights = attention(torch.randn(3, 6, 8))
    assert torch.allclose(weights.sum(-1), torch.ones(3, 2, 6))
    assert (weights.triu(1) == 0).all()  # nothing on the future
    with pytest.raises(ValueError, match="multiple of heads"):
        CausalSelfAttention(6, heads=4)


def test_snail_blocks_have_every_parameter_registered():
    dense = DenseBlock(5, 2, 4)  # two convolutions 5 -> 4, kernel 2: 2 * (5 * 4 * 2 + 4)
    assert sum(p.numel() for p in dense.parameters()) == 2 * (5 * 4 * 2 + 4)
    tc = TCBlock(5, 12, 4)  # dilations 1, 2, 4, 8: inputs 5, 9, 13, 17
    assert len(tc.blocks) == 4 and tc.out_channels == 5 + 4 * 4
    assert sum(p.numel() for p in tc.parameters()) == sum(2 * (c * 4 * 2 + 4) for c in (5, 9, 13, 17))
    block = AttentionBlock(5, 3, 2)  # query and key 5 -> 3, value 5 -> 2
    assert sum(p.numel() for p in block.parameters()) == 2 * (5 * 3 + 3) + (5 * 2 + 2)
    snail = SNAIL(7, 3, length=12, key=8, value=8, filters=8)

    def attention(c):  # query, key and value, each c -> 8
        return 3 * (c * 8 + 8)

    def tc(c):  # four dense blocks of 8 filters
        return sum(2 * ((c + 8 * i) * 8 * 2 + 8) for i in range(4))

    # channels: 7 -> +8 (attention) 15 -> +32 (TC) 47 -> 55 -> 87 -> 95, then the readout to 3
    hand = attention(7) + tc(15) + attention(47) + tc(55) + attention(87) + 95 * 3 + 3
    assert sum(p.numel() for p in snail.parameters()) == hand


def test_mann_reads_stay_finite_from_a_zero_memory_and_parameters_are_counted():
    torch.manual_seed(0)
    mann = MANN(7, 3, hidden=16, slots=8, width=6)
    # controller LSTMCell(7 + 6 -> 16): 4 * 16 * (13 + 16) + 2 * 4 * 16; key 16 -> 6; gate 16 -> 1;
    # readout 22 -> 3
    hand = 4 * 16 * (13 + 16) + 2 * 4 * 16 + (16 * 6 + 6) + (16 + 1) + (22 * 3 + 3)
    assert sum(p.numel() for p in mann.parameters()) == hand
    zeros = torch.zeros(2, 20, 7)
    out = mann(zeros)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in mann.parameters() if p.grad is not None)


from metalib.model_based.meta_networks import (MetaNetwork, linear_gradients, per_example_gradients,  # noqa: E402
                                               preprocess_gradient)


def test_meta_network_per_example_gradients_are_the_closed_form():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 5, generator=g, dtype=torch.float64)
    z = torch.randn(2, 4, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 4), generator=g)
    got = per_example_gradients(w, z, y)
    # d CE(W z, y) / dW = (softmax(W z) - e_y) z^T, for every example of every task
    by_hand = ((z @ w.T).softmax(-1) - torch.nn.functional.one_hot(y, 3))[..., None] * z[:, :, None]
    assert got.shape == (2, 4, 3, 5) and torch.allclose(got, by_hand, atol=1e-12)
    assert torch.allclose(linear_gradients(w, z, y), got, atol=1e-12)  # what the Meta Network uses


def test_gradient_preprocessing_by_hand():
    g = torch.tensor([1e-2, -3.0, 1e-6, 0.0], dtype=torch.float64)
    out = preprocess_gradient(g, p=10.0)
    assert torch.allclose(out[:2, 0], torch.log(torch.tensor([1e-2, 3.0], dtype=torch.float64)) / 10)
    assert out[:2, 1].tolist() == [1.0, -1.0]
    assert out[2:, 0].tolist() == [-1.0, -1.0]  # below e^-10: (-1, e^10 g)
    assert torch.allclose(out[2:, 1], torch.tensor([math.exp(10) * 1e-6, 0.0], dtype=torch.float64))


def test_meta_network_batches_tasks_counts_parameters_and_names_a_wrong_n_way():
    torch.manual_seed(0)
    embedding = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 6))
    net = MetaNetwork(embedding, feature_dim=6, n_way=3, hidden=5).double()
    episode = toy_episode(4, 3, 2, 2, 1)
    sx, qx = episode.support_x.double(), episode.query_x.double()
    batched = net(sx, episode.support_y, qx)
    for b in range(4):
        alone = net(sx[b:b + 1], episode.support_y[b:b + 1], qx[b:b + 1])
        assert torch.allclose(batched[b:b + 1], alone, atol=1e-12)
    relabelled = net(sx, (episode.support_y + 1) % 3, qx)
    assert not torch.allclose(batched, relabelled)  # the fast weights carry the support labels
    assert sum(p.numel() for p in net.parameters()) == (4 * 6 + 6) + 3 * 6 + (2 * 5 + 5) + (5 + 1) + 1
    net.loss(Episode(sx, episode.support_y, qx, episode.query_y, episode.classes, episode.examples)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with pytest.raises(ValueError, match="built for 3-way tasks, got n_way=5"):
        net(sx, episode.support_y, qx, n_way=5)


from metalib.model_based import EmbeddedSequenceLearner, online_sequences  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(0, 10 ** 6))
def test_online_sequences_offset_labels_by_one_step(b, n, k, q, seed):
    episode = toy_episode(b, n, k, q, seed)
    seq = online_sequences(episode, n, generator=torch.Generator().manual_seed(seed))
    length = n * (k + q)
    assert seq.inputs.shape == (b, length, 4 + n)
    assert torch.equal(seq.inputs[:, :, :4].mean(-1).round().long(), seq.labels)  # each image kept its label
    assert (seq.inputs[:, 0, 4:] == 0).all()  # nothing before the first example
    assert torch.equal(seq.inputs[:, 1:, 4:].argmax(-1), seq.labels[:, :-1])  # the previous step's label
    for c in range(n):  # instance counts 1, 2, ... along the stream for every class
        mask = seq.labels == c
        assert all(seq.instance[i][mask[i]].tolist() == list(range(1, k + q + 1)) for i in range(b))


def test_embedded_sequence_learner_embeds_every_image_and_names_a_wrong_shape():
    torch.manual_seed(0)
    learner = EmbeddedSequenceLearner(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 5)),
                                      LSTMLearner(5 + 3, 3, hidden=8), (1, 2, 2))
    seq = label_sequences(toy_episode(2, 3, 1, 2, 0), 3)
    out = learner(seq.inputs)
    z = learner.embedding(seq.inputs[..., :4].reshape(-1, 1, 2, 2)).view(2, 9, 5)
    assert torch.allclose(out, learner.learner(torch.cat([z, seq.inputs[..., 4:]], -1)))
    with pytest.raises(ValueError, match="build them with label_sequences"):
        learner(seq.inputs[..., :3])
