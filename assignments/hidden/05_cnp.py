"""Hidden tests of assignment 05_cnp (a Gaussian log-likelihood and a CNP's, on a batch of tasks).

References: torch.distributions.Normal's log_prob, and the CNP computed task by task.
"""
import math

import torch

from grading.judge import Question, close, setup_namespace
from grading.runner import attempt, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)

SETUP = setup_namespace("05_cnp")


def sigma(rho):
    return 0.1 + 0.9 * torch.nn.functional.softplus(rho)


def inputs_gaussian(generator):
    return {"y": torch.randn(3, 5, 1, dtype=torch.float64, generator=generator),
            "mean": torch.randn(3, 5, 1, dtype=torch.float64, generator=generator),
            "rho": torch.randn(3, 5, 1, dtype=torch.float64, generator=generator)}


def probe_gaussian(ns, inputs):
    import torch

    y = torch.zeros(4, dtype=torch.float64)
    return {"value": attempt(ns["gaussian_log_likelihood"], inputs["y"], inputs["mean"], inputs["rho"]),
            "floor": attempt(ns["gaussian_log_likelihood"], y, y, torch.full((4,), -50.0, dtype=torch.float64))}


def checks_gaussian(inputs, out, grade):
    expected = torch.distributions.Normal(inputs["mean"], sigma(inputs["rho"])).log_prob(inputs["y"]).mean()
    grade.check(1.5, close(out["value"], expected, atol=1e-9),
                "the mean log-density over a [3, 5, 1] batch equals torch.distributions.Normal's",
                "sigma = 0.1 + 0.9 softplus(rho); the density has -log(sigma) and (y - mean)^2 / (2 sigma^2); "
                "return the mean over all entries")
    grade.check(0.5, close(out["floor"], torch.tensor(-0.5 * math.log(2 * math.pi) - math.log(0.1),
                                                      dtype=torch.float64), atol=1e-9),
                "a perfect fit with rho = -50: sigma stops at its floor 0.1",
                "the floor is 0.1 + 0.9 softplus(rho), not softplus(rho) alone")


def inputs_cnp(generator):
    return {"batch": [torch.randn(3, n, 1, generator=generator) for n in (6, 6, 4, 4)]}


def probe_cnp(ns, inputs):
    import torch

    def gaussian_log_likelihood(y, mean, rho):   # question 1's answer, so that question 2 stands alone
        s = 0.1 + 0.9 * torch.nn.functional.softplus(rho)
        return (-0.5 * torch.log(2 * torch.pi * s**2) - (y - mean) ** 2 / (2 * s**2)).mean()

    ns["gaussian_log_likelihood"] = gaussian_log_likelihood
    value = attempt(ns["cnp_log_likelihood"], *inputs["batch"])

    def gradient():
        parameters = list(ns["encoder"].parameters()) + list(ns["decoder"].parameters())
        return list(torch.autograd.grad(ns["cnp_log_likelihood"](*inputs["batch"]), parameters))

    return {"value": value.detach() if isinstance(value, torch.Tensor) else value, "gradient": attempt(gradient)}


def checks_cnp(inputs, out, grade):
    x_c, y_c, x_t, y_t = inputs["batch"]
    encoder, decoder = SETUP["encoder"], SETUP["decoder"]
    per_task = []
    for b in range(len(x_c)):
        r = encoder(torch.cat([x_c[b], y_c[b]], -1)).mean(0)
        o = decoder(torch.cat([x_t[b], r.expand(len(x_t[b]), -1)], -1))
        per_task.append(torch.distributions.Normal(o[:, :1], sigma(o[:, 1:])).log_prob(y_t[b]).mean())
    expected = torch.stack(per_task).mean()
    gradient = torch.autograd.grad(expected, list(encoder.parameters()) + list(decoder.parameters()))
    grade.check(1.5, close(out["value"], expected.detach(), atol=1e-5),
                "3 tasks, 6 context and 4 target points: the mean target log-likelihood",
                "encode [x, y] of each context pair, average over the context points of each task (dim=1), "
                "decode [x_t, r] for every target point; the decoder's two outputs are mean and rho")
    grade.check(0.5, close(out["gradient"], list(gradient), atol=1e-5),
                "its gradient with respect to the encoder's and decoder's parameters",
                "return a tensor that is still a function of the networks: no .item(), no detach")


QUESTIONS = [
    Question("q1_gaussian", 2, inputs_gaussian, probe_gaussian, checks_gaussian),
    Question("q2_cnp", 2, inputs_cnp, probe_cnp, checks_cnp),
]
