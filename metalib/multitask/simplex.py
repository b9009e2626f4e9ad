"""Exact minimisation over the probability simplex, face by face: the solver of MGDA and CAGrad.

MGDA and CAGrad both pick task weights ``w`` in the simplex ``Δ = {w ≥ 0, Σ w = 1}`` that minimise a
convex function of them. The minimiser lies in the relative interior of one face of ``Δ`` (the tasks
``S`` with ``w_i > 0``), and there it is also the minimiser over that face's affine hull
``{w : w_i = 0 for i ∉ S, Σ w = 1}``, a problem with one equality constraint. With ``T`` tasks there
are ``2^T − 1`` faces (255 for ``T = 8``), so both solvers solve the affine problem on **every** face
at once, as one batched linear solve (MGDA, quadratic) or one batched Newton iteration (CAGrad), keep
the solutions that lie in the simplex, and return the best one. MGDA's is exact to round-off with
nothing to tune; CAGrad's Newton steps run until no face improves (at most 50). Both are
deterministic and, unlike the Frank-Wolfe iteration of Sener & Koltun (2018), which stops when a step
falls below a threshold, reach the optimum (``tests/test_multitask_gradients.py`` compares them with
torchjd's Frank-Wolfe and interior-point solutions).
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import torch

MAX_TASKS = 12
"""The face enumeration holds ``2^T − 1`` faces: 4,095 at ``T = 12``, beyond which it stops being cheap."""


@functools.lru_cache(maxsize=None)
def _faces_cpu(num_tasks: int) -> torch.Tensor:
    codes = torch.arange(1, 2 ** num_tasks)
    return ((codes[:, None] >> torch.arange(num_tasks)) & 1).bool()


def faces(num_tasks: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool ``[2^T − 1, T]``: row ``k`` marks the tasks of face ``k`` (every non-empty subset)."""
    if not 1 <= num_tasks <= MAX_TASKS:
        raise ValueError(f"the exact simplex solver handles 1 to {MAX_TASKS} tasks, got {num_tasks}; "
                         f"group the tasks (metalib.multitask.grouping) or combine fewer at a time")
    return _faces_cpu(num_tasks).to(device)


def check_gram(gram: torch.Tensor) -> torch.Tensor:
    if gram.dim() != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] == 0:
        raise ValueError(f"expected a square Gram matrix J J^T [T, T] of T task gradients, got shape "
                         f"{tuple(gram.shape)}")
    if not torch.isfinite(gram).all():
        raise ValueError("the task gradients hold NaN or infinite values; check the losses before "
                         "combining their gradients")
    return gram


def _face_system(gram: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[F, T+1, T+1]`` KKT matrices ``[[A_S, 1_S], [1_S^T, 0]]`` with the identity outside each face.

    ``gram`` is one matrix ``[T, T]`` for every face or one per face ``[F, T, T]`` (a Hessian)."""
    m = mask.to(gram.dtype)
    t = gram.shape[-1]
    kkt = gram.new_zeros(mask.shape[0], t + 1, t + 1)
    kkt[:, :t, :t] = gram * m[:, :, None] * m[:, None, :] + torch.diag_embed(1 - m)
    kkt[:, :t, t] = m
    kkt[:, t, :t] = m
    return kkt


def _solve(kkt: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Batched ``kkt⁻¹ rhs``; the systems that are singular (dependent gradients) use the pseudo-inverse.

    The systems are tiny (``T + 1`` unknowns), so they are solved on the host in float64 by numpy's
    LAPACK call, a few microseconds for all faces where ``torch.linalg.solve_ex`` takes ten times
    longer (``benchmarks/multitask_speed.py``); the answer comes back in ``kkt``'s dtype and device.
    """
    k = kkt.detach().to("cpu", torch.float64).numpy()
    r = rhs.detach().to("cpu", torch.float64).numpy()
    try:
        solution = np.linalg.solve(k, r)
        bad = ~np.isfinite(solution).reshape(len(k), -1).all(1)
    except np.linalg.LinAlgError:  # some system is exactly singular: numpy solves none of them
        solution, bad = np.empty_like(r), np.ones(len(k), dtype=bool)
    if bad.any():
        solution[bad] = np.linalg.pinv(k[bad]) @ r[bad]
    return torch.from_numpy(solution).to(kkt.device, kkt.dtype)


def _best_feasible(w: torch.Tensor, value: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    """The feasible row of ``w`` with the lowest value, clipped to the simplex."""
    tol = 1e-9 if w.dtype == torch.float64 else 1e-5
    ok = ok & (w >= -tol).all(1) & torch.isfinite(value)
    if not bool(ok.any()):  # cannot happen for a finite Gram matrix: the vertices are always feasible
        raise FloatingPointError("no face of the simplex gave a feasible solution; the Gram matrix is "
                                 "probably ill-conditioned beyond float precision: use float64")
    best = torch.argmin(torch.where(ok, value, torch.full_like(value, float("inf"))))
    w = w[best].clamp(min=0)
    return w / w.sum()


def min_norm_weights(gram: torch.Tensor) -> torch.Tensor:
    """The weights ``w ∈ Δ`` minimising ``‖Σ_i w_i g_i‖² = wᵀ G w``, given the Gram matrix ``G = J Jᵀ``.

    On face ``S`` the stationarity conditions ``G_S w_S = λ 1``, ``1ᵀ w_S = 1`` are one linear system
    (``λ`` is the squared norm reached); the pseudo-inverse solves it also when the gradients of ``S``
    are linearly dependent.
    """
    gram = check_gram(gram)
    t = gram.shape[0]
    if t == 2:  # the closed form: w_1 = clip((g_2 − g_1)·g_2 / ‖g_1 − g_2‖², 0, 1)
        gap = gram[0, 0] + gram[1, 1] - 2 * gram[0, 1]
        w1 = ((gram[1, 1] - gram[0, 1]) / gap).clamp(0, 1) if gap > 0 else gram.new_tensor(0.5)
        return torch.stack([w1, 1 - w1])
    mask = faces(t, gram.device)
    rhs = gram.new_zeros(mask.shape[0], t + 1, 1)
    rhs[:, t] = 1
    solution = _solve(_face_system(gram, mask), rhs)
    w = solution[:, :t, 0] * mask
    value = ((w @ gram) * w).sum(1)                           # wᵀ G w for every face
    return _best_feasible(w, value, (w.sum(1) - 1).abs() < 1e-6)


def newton_on_faces(gram: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor],
                    gradient_hessian: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                    iterations: int = 50) -> torch.Tensor:
    """Minimise a smooth convex ``objective(w [F, T]) -> [F]`` over the simplex, every face at once.

    Each face takes Newton steps in its affine hull (the KKT system with the Hessian), each step
    shortened by the best of 25 halvings (all evaluated in one batch), from the face's centre, until
    no face improves. A face
    counts when its last step left its projected gradient at round-off level and it lies in the
    simplex; the best of those is returned.
    """
    t = gram.shape[0]
    mask = faces(t, gram.device)
    m = mask.to(gram.dtype)
    w = m / m.sum(1, keepdim=True)
    steps = 0.5 ** torch.arange(25, dtype=gram.dtype, device=gram.device)
    for _ in range(iterations):
        grad, hess = gradient_hessian(w)
        kkt = _face_system(hess, mask)
        rhs = torch.cat([-grad * m, grad.new_zeros(w.shape[0], 1)], 1)[..., None]
        delta = _solve(kkt, rhs)[:, :t, 0] * m
        trial = w[:, None, :] + steps[None, :, None] * delta[:, None, :]
        values = objective(trial.reshape(-1, t)).view(w.shape[0], -1)
        best = values.argmin(1)
        better = values.gather(1, best[:, None])[:, 0] < objective(w)
        if not bool(better.any()):  # every face has converged to round-off
            break
        w = torch.where(better[:, None], trial[torch.arange(w.shape[0]), best], w)
    grad, _ = gradient_hessian(w)
    centred = (grad - (grad * m).sum(1, keepdim=True) / m.sum(1, keepdim=True)) * m
    scale = grad.abs().amax(1).clamp(min=torch.finfo(gram.dtype).tiny)
    tol = 1e-7 if gram.dtype == torch.float64 else 1e-3
    return _best_feasible(w, objective(w), centred.abs().amax(1) <= tol * scale)

