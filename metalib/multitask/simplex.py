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

The problems are tiny (``T + 1`` unknowns per face), so they are solved on the host in float64 with
numpy, whose calls on small arrays cost a fraction of torch's (at ``T = 4`` the 15 systems take about
8 µs in numpy's LAPACK call and 90 µs in ``torch.linalg.solve_ex`` on 2 CPU cores); the weights come
back as a tensor of the Gram matrix's dtype and device.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import torch

MAX_TASKS = 12
"""The face enumeration holds ``2^T − 1`` faces: 4,095 at ``T = 12``, beyond which it stops being cheap."""


@functools.lru_cache(maxsize=None)
def _faces(num_tasks: int) -> np.ndarray:
    codes = np.arange(1, 2 ** num_tasks)
    mask = ((codes[:, None] >> np.arange(num_tasks)) & 1).astype(bool)
    mask.flags.writeable = False
    return mask


def faces(num_tasks: int) -> np.ndarray:
    """Bool ``[2^T − 1, T]``: row ``k`` marks the tasks of face ``k`` (every non-empty subset)."""
    if not 1 <= num_tasks <= MAX_TASKS:
        raise ValueError(f"the exact simplex solver handles 1 to {MAX_TASKS} tasks, got {num_tasks}; "
                         f"group the tasks (metalib.multitask.grouping) or combine fewer at a time")
    return _faces(num_tasks)


def _check_shape(gram: torch.Tensor) -> None:
    if gram.dim() != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] == 0:
        raise ValueError(f"expected a square Gram matrix J J^T [T, T] of T task gradients, got shape "
                         f"{tuple(gram.shape)}")


NOT_FINITE = ("the task gradients hold NaN or infinite values; check the losses before combining their "
              "gradients")


def check_gram(gram: torch.Tensor) -> torch.Tensor:
    """``gram`` itself, once checked to be a finite square matrix."""
    _check_shape(gram)
    if not torch.isfinite(gram).all():
        raise ValueError(NOT_FINITE)
    return gram


def host_gram(gram: torch.Tensor) -> np.ndarray:
    """A checked float64 numpy copy of ``gram`` (the solvers' working copy)."""
    _check_shape(gram)
    g = gram.detach().to("cpu", torch.float64).numpy()
    if not np.isfinite(g).all():
        raise ValueError(NOT_FINITE)
    return g


@functools.lru_cache(maxsize=None)
def _kkt_template(num_tasks: int) -> tuple[np.ndarray, np.ndarray]:
    """What every face's KKT matrix holds whatever the Gram matrix: the constraint rows and columns
    ``1_S`` and the identity outside the face ``[F, T+1, T+1]``; and the face's pairs ``[F, T, T]``."""
    m = faces(num_tasks).astype(np.float64)
    t = num_tasks
    base = np.zeros((m.shape[0], t + 1, t + 1))
    base[:, :t, :t] = np.eye(t) * (1 - m)[:, None, :]
    base[:, :t, t] = m
    base[:, t, :t] = m
    pairs = m[:, :, None] * m[:, None, :]
    base.flags.writeable = pairs.flags.writeable = False
    return base, pairs


def _face_system(gram: np.ndarray) -> np.ndarray:
    """``[F, T+1, T+1]`` KKT matrices ``[[A_S, 1_S], [1_S^T, 0]]`` with the identity outside each face.

    ``gram`` is one matrix ``[T, T]`` for every face or one per face ``[F, T, T]`` (a Hessian)."""
    t = gram.shape[-1]
    base, pairs = _kkt_template(t)
    kkt = base.copy()
    kkt[:, :t, :t] += gram * pairs
    return kkt


def _solve(kkt: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched ``kkt⁻¹ rhs``; the systems that are singular (dependent gradients) use the pseudo-inverse."""
    try:
        solution = np.linalg.solve(kkt, rhs)
        if np.isfinite(solution).all():
            return solution
        bad = ~np.isfinite(solution).reshape(len(kkt), -1).all(1)
    except np.linalg.LinAlgError:  # some system is exactly singular: numpy then solves none of them
        solution, bad = np.empty_like(rhs), np.ones(len(kkt), dtype=bool)
    solution[bad] = np.linalg.pinv(kkt[bad]) @ rhs[bad]
    return solution


def _best_feasible(w: np.ndarray, value: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The feasible row of ``w`` with the lowest value, clipped to the simplex."""
    ok = ok & (w >= -1e-9).all(1) & np.isfinite(value)
    best = np.where(ok, value, np.inf).argmin()
    if not ok[best]:  # cannot happen for a finite Gram matrix: the vertices are always feasible
        raise FloatingPointError("no face of the simplex gave a feasible solution; the Gram matrix is "
                                 "probably ill-conditioned beyond float64 precision")
    w = np.clip(w[best], 0, None)
    return w / w.sum()


@functools.lru_cache(maxsize=None)
def _unit_rhs(num_tasks: int) -> np.ndarray:
    """The right-hand side ``[0, …, 0, 1]`` of every face's KKT system ``[F, T+1, 1]``."""
    rhs = np.zeros((len(faces(num_tasks)), num_tasks + 1, 1))
    rhs[:, num_tasks] = 1
    rhs.flags.writeable = False
    return rhs


def min_norm_weights(gram: torch.Tensor) -> torch.Tensor:
    """The weights ``w ∈ Δ`` minimising ``‖Σ_i w_i g_i‖² = wᵀ G w``, given the Gram matrix ``G = J Jᵀ``.

    On face ``S`` the stationarity conditions ``G_S w_S = λ 1``, ``1ᵀ w_S = 1`` are one linear system
    (``λ`` is the squared norm reached); the pseudo-inverse solves it also when the gradients of ``S``
    are linearly dependent.
    """
    g = host_gram(gram)
    t = g.shape[0]
    if t == 2:  # the closed form: w_1 = clip((g_2 − g_1)·g_2 / ‖g_1 − g_2‖², 0, 1)
        gap = g[0, 0] + g[1, 1] - 2 * g[0, 1]
        w1 = min(max((g[1, 1] - g[0, 1]) / gap, 0.0), 1.0) if gap > 0 else 0.5
        best = np.array([w1, 1 - w1])
    else:
        w = _solve(_face_system(g), _unit_rhs(t))[:, :t, 0] * faces(t)
        value = ((w @ g) * w).sum(1)                         # wᵀ G w for every face
        best = _best_feasible(w, value, np.abs(w.sum(1) - 1) < 1e-6)
    return torch.from_numpy(best).to(gram.device, gram.dtype)


def newton_on_faces(gram: np.ndarray, objective: Callable[[np.ndarray], np.ndarray],
                    gradient_hessian: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                    iterations: int = 50) -> np.ndarray:
    """Minimise a smooth convex ``objective(w [F, T]) -> [F]`` over the simplex, every face at once.

    Each face takes Newton steps in its affine hull (the KKT system with the Hessian), each step
    shortened by the best of 25 halvings (all evaluated in one batch), from the face's centre, until
    no face improves. A face counts when its last step left its projected gradient at round-off
    level and it lies in the simplex; the best of those is returned. All arrays are float64 numpy.
    """
    t = gram.shape[0]
    mask = faces(t)
    m = mask.astype(np.float64)
    w = m / m.sum(1, keepdims=True)
    steps = 0.5 ** np.arange(25)
    # On a face where the objective is unbounded (dependent gradients) the iterates run off to
    # infinity; such faces leave the simplex and are dropped, so their overflow is no error.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        rows = np.arange(w.shape[0])
        for _ in range(iterations):
            grad, hess = gradient_hessian(w)
            rhs = np.concatenate([-grad * m, np.zeros((w.shape[0], 1))], 1)[..., None]
            delta = _solve(_face_system(hess), rhs)[:, :t, 0] * m
            trial = w[:, None, :] + steps[None, :, None] * delta[:, None, :]
            values = objective(trial.reshape(-1, t)).reshape(w.shape[0], -1)
            values[np.isnan(values)] = np.inf
            best = values.argmin(1)
            better = values[rows, best] < objective(w)
            if not better.any():  # every face has converged to round-off
                break
            w = np.where(better[:, None], trial[rows, best], w)
        grad, _ = gradient_hessian(w)
        centred = (grad - (grad * m).sum(1, keepdims=True) / m.sum(1, keepdims=True)) * m
        scale = np.maximum(np.abs(grad).max(1), np.finfo(np.float64).tiny)
        return _best_feasible(w, objective(w), np.abs(centred).max(1) <= 1e-7 * scale)
