"""metalib.task_embedding: CAVIA's inner loop and meta-gradient."""
import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import pytest
import torch
from torch import nn

from metalib.task_embedding import CAVIA


def model(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(1 + 3, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    return CAVIA(net, context_dim=3, inner_lr=0.5, inner_steps=2)


def tasks(b=4, k=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, k, 1, generator=g, dtype=torch.float64) * 10 - 5
    amplitude = torch.rand(b, 1, 1, generator=g, dtype=torch.float64) * 4 + 1
    return x, amplitude * torch.sin(x)


def test_the_inner_loop_is_gradient_descent_on_each_task_alone():
    cavia = model()
    x, y = tasks()
    batched = cavia.adapt(x, y)
    for b in range(4):  # task b alone, written out
        phi = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
        for _ in range(2):
            loss = ((cavia.predict(phi, x[b:b + 1]) - y[b:b + 1]) ** 2).mean()
            (g,) = torch.autograd.grad(loss, phi, create_graph=True)
            phi = phi - 0.5 * g
        assert torch.allclose(batched[b], phi[0], atol=1e-12)


def test_adaptation_leaves_the_network_alone_and_the_meta_gradient_reaches_it():
    cavia = model()
    x, y = tasks()
    before = [p.detach().clone() for p in cavia.parameters()]
    query = cavia(x, y, x)
    assert all(torch.equal(a, p) for a, p in zip(before, cavia.parameters()))
    ((query - y) ** 2).mean().backward()
    second = [p.grad.clone() for p in cavia.parameters()]
    assert all(g.abs().sum() > 0 for g in second)
    cavia.zero_grad()
    cavia.first_order = True
    ((cavia(x, y, x) - y) ** 2).mean().backward()
    assert any(not torch.allclose(a, p.grad) for a, p in zip(second, cavia.parameters()))  # 2nd-order terms


def test_the_context_lowers_the_support_loss_and_bad_arguments_are_named():
    cavia = model()
    x, y = tasks()
    zero = cavia.task_losses(torch.zeros(4, 3, dtype=torch.float64), x, y)
    adapted = cavia.task_losses(cavia.adapt(x, y).detach(), x, y)
    assert (adapted < zero).all()
    with pytest.raises(ValueError, match="context_dim must be a positive integer"):
        CAVIA(nn.Linear(2, 1), context_dim=0)
    with pytest.raises(ValueError, match=r"support_x \[B, K, d\]"):
        cavia.adapt(x[0], y[0])


from metalib.backbones import Conv4  # noqa: E402
from metalib.metric import PrototypicalNetwork  # noqa: E402
from metalib.task_embedding.tadam import TADAM, FiLMConv4  # noqa: E402
from metalib.task_embedding.leo import LEO  # noqa: E402
from metalib.tasks import Episode  # noqa: E402
from metalib.task_embedding.task2vec import diagonal_fisher, filter_means, task2vec_distance  # noqa: E402


def image_tasks(b=3, n=3, k=2, q=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    sx, qx = torch.rand(b, n * k, 1, 16, 16, generator=g), torch.rand(b, n * q, 1, 16, 16, generator=g)
    return sx, torch.arange(n).repeat_interleave(k).repeat(b, 1), qx, torch.arange(n).repeat_interleave(q).repeat(b, 1)


def test_tadam_starts_as_the_plain_prototypical_network():
    torch.manual_seed(0)
    sx, sy, qx, _ = image_tasks()
    tadam = TADAM(FiLMConv4(hidden=8), feature_dim=8).eval()
    plain = PrototypicalNetwork(Conv4(hidden=8)).eval()
    plain.backbone.load_state_dict(tadam.backbone.state_dict())  # the same weights, key for key
    with torch.no_grad():
        assert torch.allclose(tadam(sx, sy, qx), plain(sx, sy, qx), atol=1e-5)


def test_tadam_modulates_each_task_on_its_own_and_counts_parameters():
    torch.manual_seed(0)
    sx, sy, qx, qy = image_tasks()
    tadam = TADAM(FiLMConv4(hidden=8), feature_dim=8).eval()
    with torch.no_grad():
        before = tadam(sx, sy, qx)
        tadam.encoder.gamma_scale.fill_(1.0)
        tadam.encoder.beta_scale.fill_(1.0)
        batched = tadam(sx, sy, qx)
        for b in range(3):
            assert torch.allclose(batched[b:b + 1], tadam(sx[b:b + 1], sy[b:b + 1], qx[b:b + 1]), atol=1e-5)
    assert not torch.allclose(before, batched)  # the task encoder now changes the embedding
    conv = (9 * 1 * 8 + 8 + 16) + 3 * (9 * 8 * 8 + 8 + 16)
    encoder = (8 * 64 + 64) + 2 * 4 * (64 * 8 + 8) + 4 + 4
    assert sum(p.numel() for p in tadam.parameters()) == conv + encoder + 1
    plain = TADAM(FiLMConv4(hidden=8), feature_dim=8, film=False)
    assert sum(p.numel() for p in plain.parameters()) == conv + 1
    tadam.train()
    tadam.loss(Episode(sx, sy, qx, qy, sy, sy)).backward()
    assert tadam.encoder.gamma_scale.grad.abs().sum() > 0


def leo_tasks(b=3, n=3, k=2, q=2, d=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(b, n * k, d, generator=g, dtype=torch.float64)
    zq = torch.randn(b, n * q, d, generator=g, dtype=torch.float64)
    return zs, torch.arange(n).repeat_interleave(k).repeat(b, 1), zq, torch.arange(n).repeat_interleave(q).repeat(b, 1)


def test_leo_adapts_every_task_on_its_own_in_latent_space():
    torch.manual_seed(0)
    leo = LEO(10, latent_dim=4, inner_steps=3, inner_lr=0.5).double().eval()
    zs, sy, zq, _ = leo_tasks()
    batched = leo(zs, sy, zq, 3)
    for b in range(3):
        alone = leo(zs[b:b + 1], sy[b:b + 1], zq[b:b + 1], 3)
        assert torch.allclose(batched.logits[b:b + 1], alone.logits, atol=1e-10)
    mean, _ = leo.encode(zs, sy, 3)
    codes = mean.detach().requires_grad_(True)  # three steps written out, all tasks summed
    for _ in range(3):
        logits = zs @ leo.decode(codes, sample=False).transpose(1, 2)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), sy.flatten(), reduction="sum") / 6
        codes = codes - 0.5 * torch.autograd.grad(loss, codes)[0]
    assert torch.allclose(batched.logits, zq @ leo.decode(codes, False).transpose(1, 2), atol=1e-10)
    assert batched.encoder_penalty > 0


def test_leo_regularisers_by_hand_and_the_meta_gradient_reaches_every_part():
    torch.manual_seed(0)
    leo = LEO(10, latent_dim=4, inner_steps=2).double()
    zs, sy, zq, qy = leo_tasks()
    mean, std = leo.encode(zs, sy, 3)
    out = leo.eval()(zs, sy, zq, 3)
    kl = (0.5 * (mean ** 2 + std ** 2 - 1) - std.log()).sum(-1).mean()
    assert torch.allclose(out.kl, kl, atol=1e-10)
    import numpy as np
    corr = np.corrcoef(leo.decoder.weight.detach().numpy().T)
    assert abs(out.orthogonality.item() - ((corr - np.eye(4)) ** 2).mean()) < 1e-10
    leo.train().loss(zs, sy, zq, qy, 3).backward()
    for name in ("encoder.weight", "relation.0.weight", "decoder.weight", "log_inner_lr"):
        assert dict(leo.named_parameters())[name].grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="embed the images first"):
        leo(torch.zeros(3, 6, 1, 4, 4), sy, torch.zeros(3, 6, 1, 4, 4), 3)


def test_diagonal_fisher_of_a_softmax_regression_is_the_closed_form():
    torch.manual_seed(0)
    model = nn.Linear(5, 3).double().eval()
    x = torch.randn(20, 5, dtype=torch.float64)
    fisher = diagonal_fisher(model, x)
    p = model(x).softmax(-1).detach()
    # sum_y p_y (e_y - p)_k^2 = p_k (1 - p_k), so F_W[k, j] = mean_x p_k (1 - p_k) x_j^2
    assert torch.allclose(fisher["weight"], (p * (1 - p)).T @ x ** 2 / 20, atol=1e-12)
    assert torch.allclose(fisher["bias"], (p * (1 - p)).mean(0), atol=1e-12)


def test_diagonal_fisher_equals_a_loop_over_examples_and_classes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)).double()
    model.eval()
    x = torch.randn(6, 1, 4, 4, dtype=torch.float64)
    fisher = diagonal_fisher(model, x, names=["0.weight", "4.weight"])
    loop = {k: torch.zeros_like(v) for k, v in model.named_parameters() if k in fisher}
    for i in range(6):
        log_p = model(x[i:i + 1]).log_softmax(-1)[0]
        for y in range(3):
            grads = torch.autograd.grad(log_p[y], [dict(model.named_parameters())[k] for k in loop], retain_graph=True)
            for k, g in zip(loop, grads):
                loop[k] += log_p[y].exp().detach() * g ** 2 / 6
    for k in loop:
        assert torch.allclose(fisher[k], loop[k], atol=1e-12)
    assert filter_means(fisher).shape == (2 + 3,)
    with pytest.raises(ValueError, match="model.eval()"):
        diagonal_fisher(model.train(), x)


def test_task2vec_distance_is_zero_on_itself_symmetric_and_scale_free():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(7, generator=g, dtype=torch.float64), torch.rand(7, generator=g, dtype=torch.float64)
    assert task2vec_distance(a, a).abs() < 1e-12
    assert torch.allclose(task2vec_distance(a, b), task2vec_distance(b, a))
    assert torch.allclose(task2vec_distance(3 * a, 3 * b), task2vec_distance(a, b))
    pairs = task2vec_distance(torch.stack([a, b]), torch.stack([a, b]))
    assert pairs.shape == (2, 2) and torch.allclose(pairs[0, 1], task2vec_distance(a, b))
