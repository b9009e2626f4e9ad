"""Hidden tests of assignment 06_gradient_reversal (the reversal layer and DANN's domain loss).

References: the plain binary cross-entropy and its gradients from torch.autograd, with the feature
gradient multiplied by -scale by hand.
"""
import torch

from grading.judge import Question, close
from grading.runner import attempt, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)


def inputs_reversal(generator):
    return {"x": torch.randn(4, 3, dtype=torch.float64, generator=generator),
            "w": torch.randn(4, 3, dtype=torch.float64, generator=generator)}


def probe_reversal(ns, inputs):
    import torch

    def run(scale):
        x = inputs["x"].clone().requires_grad_()
        out = ns["reverse_gradient"](x, scale)
        (g,) = torch.autograd.grad((out * inputs["w"]).sum(), x)
        return [out.detach(), g]

    return {"scaled": attempt(run, 2.5), "zero": attempt(run, 0.0)}


def checks_reversal(inputs, out, grade):
    x, w = inputs["x"], inputs["w"]
    scaled = out["scaled"]
    grade.check(0.5, close(scaled[0] if isinstance(scaled, list) else scaled, x, atol=0),
                "forward: the output equals the input", "forward returns x.view_as(x)")
    grade.check(1, close(scaled[1] if isinstance(scaled, list) else scaled, -2.5 * w, atol=1e-12),
                "backward with scale 2.5: the gradient times -2.5",
                "backward returns (-ctx.scale * grad, None); keep scale on ctx in forward")
    zero = out["zero"]
    grade.check(0.5, close(zero[1] if isinstance(zero, list) else zero, torch.zeros_like(w), atol=0),
                "scale 0 blocks the gradient", "multiply by the scale kept in forward, not a constant")


def inputs_domain_loss(generator):
    layers = {"0.weight": torch.randn(8, 3, dtype=torch.float64, generator=generator),
              "0.bias": torch.randn(8, dtype=torch.float64, generator=generator),
              "2.weight": torch.randn(1, 8, dtype=torch.float64, generator=generator),
              "2.bias": torch.randn(1, dtype=torch.float64, generator=generator)}
    return {"layers": layers, "features": torch.randn(10, 3, dtype=torch.float64, generator=generator),
            "is_target": (torch.arange(10) >= 5).double()}


def probe_domain_loss(ns, inputs):
    import torch

    class ReverseGradient(torch.autograd.Function):   # question 1's answer, so question 2 stands alone
        @staticmethod
        def forward(ctx, x, scale):
            ctx.scale = scale
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad):
            return -ctx.scale * grad, None

    ns["ReverseGradient"] = ReverseGradient
    ns["reverse_gradient"] = lambda x, scale=1.0: ReverseGradient.apply(x, scale)
    disc = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    disc.load_state_dict(inputs["layers"])
    f = inputs["features"].clone().requires_grad_()

    def run():
        loss = ns["domain_loss"](f, inputs["is_target"], disc, 0.7)
        grads = torch.autograd.grad(loss, [f] + list(disc.parameters()))
        return [loss.detach(), list(grads)]

    return attempt(run)


def checks_domain_loss(inputs, out, grade):
    disc = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    disc.load_state_dict(inputs["layers"])
    f = inputs["features"].clone().requires_grad_()
    plain = torch.nn.functional.binary_cross_entropy_with_logits(disc(f)[:, 0], inputs["is_target"])
    grads = torch.autograd.grad(plain, [f] + list(disc.parameters()))
    loss, got = (out[0], out[1]) if isinstance(out, list) else (out, out)
    grade.check(0.5, close(loss, plain.detach(), atol=1e-12),
                "the loss equals the discriminator's binary cross-entropy (mean over examples)",
                "binary_cross_entropy_with_logits(logits[:, 0], is_target): logits, not probabilities")
    grade.check(1, close(got[0] if isinstance(got, list) else got, -0.7 * grads[0], atol=1e-12),
                "the features' gradient is reversed and scaled by 0.7",
                "pass the features through reverse_gradient(features, scale) before the discriminator")
    grade.check(0.5, close(got[1:] if isinstance(got, list) else got, list(grads[1:]), atol=1e-12),
                "the discriminator's gradient is not reversed",
                "reverse only between the features and the discriminator, not after it")


QUESTIONS = [
    Question("q1_reversal", 2, inputs_reversal, probe_reversal, checks_reversal),
    Question("q2_domain_loss", 2, inputs_domain_loss, probe_domain_loss, checks_domain_loss),
]
