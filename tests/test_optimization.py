"""Optimisation-based methods: exact meta-gradients (loop reference, learn2learn, finite differences),
Reptile, ANIL, the LSTM meta-learner, first-order memory, and clear errors on bad input.

Exactness is checked in float64 with a relative difference of 1e-10 on the whole meta-gradient,
``|g - g_ref| / |g_ref|`` over all parameters together. That bound catches an error of the kind
measured with torch 2.14.1 for ``vmap`` over ``F.batch_norm(training=True)`` (a second-order
meta-gradient about 9% off): ``test_the_check_catches_a_wrong_second_order_term`` shows that dropping
only the second-order terms through the batch statistics moves the meta-gradient far more than 1e-10.
"""
import copy

import learn2learn as l2l
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from metalib.backbones import MLP, Conv4Classifier
from metalib.optimization import (ANIL, MAML, BatchStatNorm, LSTMMetaLearner, MetaSGD, NonFiniteInnerLossError,
                                  Reptile, preprocess, with_batch_statistics)
from metalib.profiling import graph_bytes
from metalib.tasks import Episode

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TOLERANCE = 1e-10


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def episode(B=3, N=4, K=2, Q=3, shape=(1, 12, 12), seed=0, device="cpu", dtype=None):
    g = torch.Generator().manual_seed(seed)
    dtype = dtype or torch.get_default_dtype()
    sx = torch.rand(B, N * K, *shape, generator=g, dtype=dtype)
    qx = torch.rand(B, N * Q, *shape, generator=g, dtype=dtype)
    sy = torch.arange(N).repeat_interleave(K).expand(B, -1).contiguous()
    qy = torch.arange(N).repeat_interleave(Q).expand(B, -1).contiguous()
    return Episode(sx.to(device), sy.to(device), qx.to(device), qy.to(device), None, None)


def networks(N=4):
    """The two networks of the exactness tests: the strided Conv4 with batch norm, and an MLP with batch norm."""
    torch.manual_seed(0)
    conv = Conv4Classifier(N, hidden=6)
    for m in conv.modules():  # batch-norm scales away from 1, so their derivatives matter
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)
    mlp = MLP([144, 16, 12, N], batch_norm=True)
    return {"conv4": conv, "mlp": mlp}


def relative_difference(a, b):
    num = sum(((x - y) ** 2).sum() for x, y in zip(a, b)).sqrt()
    den = sum((y ** 2).sum() for y in b).sqrt()
    return (num / den).item()


def loop_reference(model, ep, inner_lr, steps, lrs=None, first_order=False):
    """MAML written as plainly as possible: a Python loop over tasks, ``nn.BatchNorm`` in training mode,
    ``torch.autograd.grad(create_graph=True)``. Returns the meta-loss and its gradients with respect to
    the parameters (and to the per-parameter step sizes ``lrs`` for Meta-SGD)."""
    model = copy.deepcopy(model).train()
    theta = dict(model.named_parameters())
    total = 0.0
    B = ep.support_x.shape[0]
    for b in range(B):
        fast = dict(theta)
        for _ in range(steps):
            loss = F.cross_entropy(functional_call(model, fast, (ep.support_x[b],)), ep.support_y[b])
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not first_order)
            fast = {n: w - (lrs[n] if lrs is not None else inner_lr) * g for (n, w), g in zip(fast.items(), grads)}
        total = total + F.cross_entropy(functional_call(model, fast, (ep.query_x[b],)), ep.query_y[b])
    meta_loss = total / B
    wrt = list(theta.values()) + (list(lrs.values()) if lrs is not None else [])
    return meta_loss, torch.autograd.grad(meta_loss, wrt)


def learn2learn_reference(model, ep, inner_lr, steps, meta_sgd=False, first_order=False):
    """The same meta-loss with learn2learn's MAML / MetaSGD wrappers (clone, adapt, evaluate per task)."""
    if meta_sgd:
        wrapper = l2l.algorithms.MetaSGD(copy.deepcopy(model), lr=inner_lr, first_order=first_order)
    else:
        wrapper = l2l.algorithms.MAML(copy.deepcopy(model), lr=inner_lr, first_order=first_order)
    total = 0.0
    B = ep.support_x.shape[0]
    for b in range(B):
        learner = wrapper.clone()
        for _ in range(steps):
            learner.adapt(F.cross_entropy(learner(ep.support_x[b]), ep.support_y[b]))
        total = total + F.cross_entropy(learner(ep.query_x[b]), ep.query_y[b])
    meta_loss = total / B
    wrt = list(wrapper.module.parameters()) + (list(wrapper.lrs) if meta_sgd else [])
    return meta_loss, torch.autograd.grad(meta_loss, wrt)


def metalib_gradients(method, ep):
    loss = method.loss(ep)
    return loss, torch.autograd.grad(loss, list(method.parameters()))


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("net", ["conv4", "mlp"])
def test_maml_meta_gradient_equals_the_loop_reference_and_learn2learn(float64, net, steps):
    model = networks()[net]
    ep = episode()
    maml = MAML(model, inner_lr=0.3, inner_steps=steps)
    loss, grads = metalib_gradients(maml, ep)
    ref_loss, ref_grads = loop_reference(model, ep, 0.3, steps)
    l2l_loss, l2l_grads = learn2learn_reference(model, ep, 0.3, steps)
    assert abs(loss.item() - ref_loss.item()) <= TOLERANCE * abs(ref_loss.item())
    assert relative_difference(grads, ref_grads) <= TOLERANCE
    assert abs(loss.item() - l2l_loss.item()) <= TOLERANCE * abs(l2l_loss.item())
    assert relative_difference(grads, l2l_grads) <= TOLERANCE


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("net", ["conv4", "mlp"])
def test_meta_sgd_meta_gradient_equals_the_loop_reference_and_learn2learn(float64, net, steps):
    model = networks()[net]
    ep = episode(seed=1)
    meta = MetaSGD(model, inner_lr=0.2, inner_steps=steps)
    with torch.no_grad():  # step sizes that differ per coordinate, shared with both references
        for lr in meta.lrs:
            lr.uniform_(0.05, 0.4)
    loss, grads = metalib_gradients(meta, ep)  # parameters: the network's, then the step sizes
    lrs = {n: lr.detach().clone().requires_grad_() for n, lr in meta.step_sizes().items()}
    ref_loss, ref_grads = loop_reference(model, ep, None, steps, lrs=lrs)
    assert abs(loss.item() - ref_loss.item()) <= TOLERANCE * abs(ref_loss.item())
    assert relative_difference(grads, ref_grads) <= TOLERANCE

    wrapper_lrs = [lr.detach().clone() for lr in meta.lrs]
    wrapper = l2l.algorithms.MetaSGD(copy.deepcopy(model), lrs=torch.nn.ParameterList(wrapper_lrs))
    total = 0.0
    for b in range(ep.support_x.shape[0]):
        learner = wrapper.clone()
        for _ in range(steps):
            learner.adapt(F.cross_entropy(learner(ep.support_x[b]), ep.support_y[b]))
        total = total + F.cross_entropy(learner(ep.query_x[b]), ep.query_y[b])
    l2l_grads = torch.autograd.grad(total / ep.support_x.shape[0],
                                    list(wrapper.module.parameters()) + list(wrapper.lrs))
    assert relative_difference(grads, l2l_grads) <= TOLERANCE


@pytest.mark.parametrize("steps", [1, 5])
def test_first_order_maml_equals_learn2learn_first_order(float64, steps):
    model = networks()["conv4"]
    ep = episode(seed=2)
    loss, grads = metalib_gradients(MAML(model, inner_lr=0.3, inner_steps=steps, first_order=True), ep)
    _, l2l_grads = learn2learn_reference(model, ep, 0.3, steps, first_order=True)
    _, ref_grads = loop_reference(model, ep, 0.3, steps, first_order=True)
    assert relative_difference(grads, l2l_grads) <= TOLERANCE
    assert relative_difference(grads, ref_grads) <= TOLERANCE
    _, second = metalib_gradients(MAML(model, inner_lr=0.3, inner_steps=steps), ep)
    assert relative_difference(grads, second) > 1e-4, "first order must differ from second order"


def test_meta_gradient_matches_finite_differences(float64):
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    ep = episode(B=2, N=3, K=2, Q=2, shape=(2,), seed=3)
    maml = MAML(model, inner_lr=0.5, inner_steps=2)
    _, grads = metalib_gradients(maml, ep)
    analytic = torch.cat([g.flatten() for g in grads])
    params = list(maml.parameters())
    numeric = []
    h = 1e-6
    with torch.no_grad():
        for p in params:
            for i in range(p.numel()):
                values = []
                for sign in (1, -1):
                    p.view(-1)[i] += sign * h
                    with torch.enable_grad():
                        values.append(maml.loss(ep).item())
                    p.view(-1)[i] -= sign * h
                numeric.append((values[0] - values[1]) / (2 * h))
    numeric = torch.tensor(numeric)
    assert ((analytic - numeric).norm() / numeric.norm()).item() < 1e-7
    # first order is visibly wrong on the same check: the test can fail
    _, fo = metalib_gradients(MAML(model, inner_lr=0.5, inner_steps=2, first_order=True), ep)
    fo = torch.cat([g.flatten() for g in fo])
    assert ((fo - numeric).norm() / numeric.norm()).item() > 1e-3


def test_the_check_catches_a_wrong_second_order_term(float64, monkeypatch):
    """Treating the batch statistics as constants in the backward pass (an error of the vmap batch-norm
    kind: right forward, wrong derivative) moves the meta-gradient by far more than the tolerance."""
    model = networks()["conv4"]
    ep = episode()
    _, ref_grads = loop_reference(model, ep, 0.3, 1)

    def detached_statistics(self, x):
        dims = [0, *range(2, x.dim())]
        shape = (1, -1) + (1,) * (x.dim() - 2)
        var, mean = torch.var_mean(x.detach(), dims, correction=0, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight.view(shape) + self.bias.view(shape)

    monkeypatch.setattr(BatchStatNorm, "forward", detached_statistics)
    _, grads = metalib_gradients(MAML(model, inner_lr=0.3, inner_steps=1), ep)
    assert relative_difference(grads, ref_grads) > 1e3 * TOLERANCE


def test_batch_stat_norm_equals_batch_norm_in_training_mode(float64):
    bn = torch.nn.BatchNorm2d(5)
    torch.nn.init.uniform_(bn.weight)
    torch.nn.init.uniform_(bn.bias)
    x = torch.randn(7, 5, 4, 3)
    ours = with_batch_statistics(torch.nn.Sequential(bn))
    assert isinstance(ours[0], BatchStatNorm) and isinstance(bn, torch.nn.BatchNorm2d)
    torch.testing.assert_close(ours(x), bn.train()(x), rtol=0, atol=1e-12)
    assert [n for n, _ in ours.named_parameters()] == ["0.weight", "0.bias"]


def test_anil_adapts_only_the_head_and_equals_a_loop_reference(float64):
    model = networks()["conv4"]
    ep = episode(seed=4)
    anil = ANIL(model.features, model.head, inner_lr=0.3, inner_steps=3)
    assert anil.adapted_names() == ["head.weight", "head.bias"]
    loss, grads = metalib_gradients(anil, ep)
    # reference: MAML's loop with the inner step applied to the head only
    ref = copy.deepcopy(model).train()
    theta = dict(ref.named_parameters())
    total = 0.0
    for b in range(ep.support_x.shape[0]):
        fast = dict(theta)
        for _ in range(3):
            inner = F.cross_entropy(functional_call(ref, fast, (ep.support_x[b],)), ep.support_y[b])
            head = ["head.weight", "head.bias"]
            g = torch.autograd.grad(inner, [fast[n] for n in head], create_graph=True)
            fast.update({n: fast[n] - 0.3 * gn for n, gn in zip(head, g)})
        total = total + F.cross_entropy(functional_call(ref, fast, (ep.query_x[b],)), ep.query_y[b])
    ref_grads = torch.autograd.grad(total / ep.support_x.shape[0], list(theta.values()))
    assert relative_difference(grads, ref_grads) <= TOLERANCE


def test_reptile_meta_step_equals_the_update_written_out(float64):
    model = networks()["mlp"]
    ep = episode(seed=5)
    reptile = Reptile(model, inner_lr=0.1, inner_steps=4)
    theta = {n: p.detach().clone() for n, p in reptile.model.named_parameters()}
    ref = copy.deepcopy(model).train()
    expected = {n: torch.zeros_like(p) for n, p in theta.items()}
    for b in range(ep.support_x.shape[0]):
        fast = {n: p.clone().requires_grad_() for n, p in theta.items()}
        for _ in range(4):
            loss = F.cross_entropy(functional_call(ref, fast, (ep.support_x[b],)), ep.support_y[b])
            g = torch.autograd.grad(loss, list(fast.values()))
            fast = {n: (w - 0.1 * gn).detach().requires_grad_() for (n, w), gn in zip(fast.items(), g)}
        for n in expected:
            expected[n] += (fast[n].detach() - theta[n]) / ep.support_x.shape[0]
    reptile.meta_step(ep.support_x, ep.support_y, outer_lr=0.5)
    for n, p in reptile.model.named_parameters():
        torch.testing.assert_close(p.detach(), theta[n] + 0.5 * expected[n], rtol=0, atol=1e-12)


def test_reptile_with_one_step_is_joint_training(float64):
    model = networks()["mlp"]
    ep = episode(seed=6)
    reptile = Reptile(model, inner_lr=0.1, inner_steps=1)
    direction = reptile.direction(ep.support_x, ep.support_y)
    joint = MAML(model, inner_lr=0.1, inner_steps=1)
    losses = joint.task_losses({n: p.expand(3, *p.shape) for n, p in joint.model.named_parameters()},
                               ep.support_x, ep.support_y)
    grads = torch.autograd.grad(losses.mean(), list(joint.model.parameters()))
    for (n, d), g in zip(direction.items(), grads):
        torch.testing.assert_close(d, -0.1 * g, rtol=0, atol=1e-12)


def test_lstm_meta_learner_update_rule_and_gradients(float64):
    torch.manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3))
    ep = episode(B=2, N=3, K=2, Q=2, shape=(2,), seed=7)
    meta = LSTMMetaLearner(model, inner_steps=2, hidden=5)
    # one step by hand: theta_1 = f * theta_0 - i * grad, with the gates computed from the same inputs
    adapted = meta.adapt(ep.support_x, ep.support_y, steps=1)
    theta = torch.cat([p.flatten() for p in meta.model.parameters()])
    grads = []
    for b in range(2):
        loss = F.cross_entropy(functional_call(meta.model, dict(meta.model.named_parameters()), (ep.support_x[b],)),
                               ep.support_y[b])
        g = torch.autograd.grad(loss, list(meta.model.parameters()))
        grads.append((torch.cat([x.flatten() for x in g]), loss.detach()))
    for b, (g, loss) in enumerate(grads):
        x = torch.cat([preprocess(g), preprocess(loss.expand_as(g))], 1)
        h, _ = meta.lstm(x)
        zeros = torch.zeros_like(theta)
        f = torch.sigmoid(meta.cell.forget(torch.cat([h, theta[:, None], zeros[:, None]], 1))).squeeze(1)
        i = torch.sigmoid(meta.cell.input(torch.cat([h, theta[:, None], zeros[:, None]], 1))).squeeze(1)
        ours = torch.cat([adapted[n][b].flatten() for n, _ in meta.model.named_parameters()])
        torch.testing.assert_close(ours, f * theta - i * g, rtol=0, atol=1e-12)
    loss = meta.loss(ep)
    loss.backward()
    for name, p in meta.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert meta.cell.input.bias.grad.abs() > 0 and meta.model[0].weight.grad.abs().sum() > 0


def test_preprocess_keeps_scale_and_sign():
    x = torch.tensor([1.0, -1e-3, 1e-6, 0.0])
    out = preprocess(x, p=10.0)
    torch.testing.assert_close(out[0], torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(out[1], torch.tensor([torch.log(torch.tensor(1e-3)).item() / 10, -1.0]))
    torch.testing.assert_close(out[2], torch.tensor([-1.0, torch.exp(torch.tensor(10.0)).item() * 1e-6]))
    torch.testing.assert_close(out[3], torch.tensor([-1.0, 0.0]))


def test_first_order_graph_does_not_grow_with_inner_steps():
    model = Conv4Classifier(4, hidden=8)
    ep = episode(shape=(1, 28, 28))
    held = {}
    for first_order in (True, False):
        for steps in (1, 5):
            maml = MAML(model, inner_lr=0.1, inner_steps=steps, first_order=first_order)
            loss, held[first_order, steps] = graph_bytes(lambda: maml.loss(ep))
            del loss
    assert held[True, 5] <= 1.05 * held[True, 1], held
    assert held[False, 5] > 2 * held[False, 1], held


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["maml", "fomaml", "metasgd", "anil", "reptile", "lstm"])
def test_every_method_runs_on_each_device_with_finite_gradients(method, device):
    torch.manual_seed(0)
    net = Conv4Classifier(4, hidden=8).to(device)
    make = {"maml": lambda: MAML(net, 0.4, 2), "fomaml": lambda: MAML(net, 0.4, 2, first_order=True),
            "metasgd": lambda: MetaSGD(net, 0.4, 1), "anil": lambda: ANIL(net.features, net.head, 0.4, 2),
            "reptile": lambda: Reptile(net, 0.1, 2), "lstm": lambda: LSTMMetaLearner(net, 2, hidden=4)}
    learner = make[method]()
    ep = episode(B=2, shape=(1, 28, 28), device=device)
    scores = learner(ep.support_x, ep.support_y, ep.query_x)
    assert scores.shape == (2, 12, 4) and scores.device.type == device
    if method == "reptile":
        before = [p.detach().clone() for p in learner.parameters()]
        learner.meta_step(ep.support_x, ep.support_y, outer_lr=0.5)
        assert any((p - q).abs().max() > 0 for p, q in zip(learner.parameters(), before))
        return
    learner.loss(ep).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in learner.parameters())


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rates_are_refused(lr):
    with pytest.raises(ValueError, match="inner_lr must be a positive number"):
        MAML(MLP([4, 3]), inner_lr=lr)
    with pytest.raises(ValueError, match="inner_lr must be a positive number"):
        MetaSGD(MLP([4, 3]), inner_lr=lr)
    with pytest.raises(ValueError, match="outer_lr must be a positive number"):
        Reptile(MLP([4, 3])).meta_step(torch.zeros(1, 2, 4), torch.zeros(1, 2, dtype=torch.int64), outer_lr=lr)


@pytest.mark.parametrize("make", [lambda s: MAML(MLP([4, 3]), inner_steps=s), lambda s: Reptile(MLP([4, 3]), inner_steps=s),
                                  lambda s: LSTMMetaLearner(MLP([4, 3]), inner_steps=s)])
def test_zero_inner_steps_are_refused_where_adaptation_is_required(make):
    with pytest.raises(ValueError, match="needs at least one step"):
        make(0)


def test_zero_steps_is_allowed_when_asked_for_explicitly():
    maml = MAML(MLP([4, 3]), inner_steps=1)
    params = maml.adapt(torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.int64), steps=0)
    for n, p in maml.model.named_parameters():
        assert torch.equal(params[n][1], p.detach())


def test_mismatched_shapes_are_refused():
    maml = MAML(MLP([4, 3]))
    with pytest.raises(ValueError, match="must agree in their first two dimensions"):
        maml.adapt(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="expected a batch of tasks"):
        maml.adapt(torch.zeros(3, 4), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="same tasks B and the same example shape"):
        maml(torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 5, 5))


def test_a_nan_loss_names_the_inner_step_where_it_appeared():
    # Linear regression with a huge step: the loss grows each step until it overflows; the error must
    # name the first step whose loss is not finite, found here independently with a plain loop.
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    x = torch.linspace(1, 2, 5).view(1, 5, 1)
    y = torch.zeros(1, 5, 1)
    lr, steps = 1e8, 8
    w = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
    first_bad = None
    for t in range(steps):
        loss = F.mse_loss(functional_call(model, w, (x[0],)), y[0])
        if not torch.isfinite(loss):
            first_bad = t + 1
            break
        g = torch.autograd.grad(loss, list(w.values()))
        w = {n: (p - lr * gn).detach().requires_grad_() for (n, p), gn in zip(w.items(), g)}
    assert first_bad is not None and first_bad > 1
    maml = MAML(model, inner_lr=lr, inner_steps=steps, loss=F.mse_loss)
    with pytest.raises(NonFiniteInnerLossError, match=f"at inner step {first_bad} of {steps}"):
        maml.adapt(x, y)
    bad = x.clone()
    bad[0, 2, 0] = float("nan")
    with pytest.raises(NonFiniteInnerLossError, match="at inner step 1 of"):
        MAML(model, inner_lr=0.1, inner_steps=2, loss=F.mse_loss).adapt(bad, y)


@pytest.mark.parametrize("make", [
    lambda net: MAML(net, inner_lr=0.3, inner_steps=2),
    lambda net: MetaSGD(net, inner_lr=0.3),
    lambda net: ANIL(net.features, net.head, inner_lr=0.3, inner_steps=2)])
def test_a_meta_batch_in_chunks_gives_the_same_loss_and_meta_gradient(float64, make):
    # 5 tasks in pieces of 1, 2 and 2 against one piece: the same meta-objective and meta-gradient
    ep = episode(B=5)
    whole, chunked = make(networks()["conv4"]), make(networks()["conv4"])
    whole.task_chunk, chunked.task_chunk = 5, 2
    grads = []
    for learner in (whole, chunked):
        loss = learner.loss(ep)
        grads.append((loss.detach(), torch.autograd.grad(loss, list(learner.parameters()))))
    assert abs(grads[0][0] - grads[1][0]) < 1e-12
    assert relative_difference(grads[1][1], grads[0][1]) < TOLERANCE


def test_chunk_size_on_the_cpu_and_elsewhere():
    maml = MAML(Conv4Classifier(5))
    five_shot = torch.empty(32, 25, 1, 28, 28)                  # 25 support images per task
    assert maml.chunk_size(five_shot) == 6                      # at most 6 tasks (160 images) per piece
    assert maml.chunk_size(torch.empty(32, 5, 1, 28, 28)) == 32  # 1-shot: one piece
    assert maml.chunk_size(five_shot.to("meta")) == 32          # not the CPU: one piece
    assert MAML(Conv4Classifier(5), task_chunk=4).chunk_size(five_shot) == 4
    with pytest.raises(ValueError, match="task_chunk"):
        MAML(Conv4Classifier(5), task_chunk=0)


def test_a_nan_in_a_later_chunk_names_the_task_in_the_whole_meta_batch():
    ep = episode(B=5)
    ep.support_x[3, 0, 0, 0, 0] = float("nan")                   # pieces [0], [1, 2], [3, 4]: the third's first task
    maml = MAML(networks()["conv4"], inner_lr=0.1, task_chunk=2)
    with pytest.raises(NonFiniteInnerLossError, match=r"at inner step 1 of 1 \(task 3 of the meta-batch\)"):
        maml.loss(ep)
