"""The eigen view of first-order methods on quadratics: iteration matrices, rates, limits, optima.

On a quadratic with Hessian eigenvalues ``h_i`` (and on least squares, see ``core.problems.linear``)
every method below is linear in the error ``e = w - w*``; in the Hessian's eigenbasis it decouples
into one small recurrence per eigenvalue (seeds/003, lines ~1850-2460 and ~3690-4650):

- GD: ``e' = (1 - lr h) e``: one real eigenvalue ``1 - lr h`` per direction.
- heavy ball, PyTorch form (kind ``momentum``; ``v' = beta v + c g``, ``w' = w - lr v'``, with
  ``c = 1 - dampening``): state ``(e, v)``, matrix ``[[1 - lr c h, -lr beta], [c h, beta]]`` whose
  characteristic polynomial ``z^2 - (1 + beta - lr c h) z + beta`` is that of the companion matrix
  ``[[1 + beta - lr c h, -beta], [1, 0]]`` (Polyak 1964; Goh, "Why Momentum Really Works", Distill 2017).
  Complex roots (spirals) have ``|z| = sqrt(beta)``.
- heavy ball, low-pass form (kind ``momentum_lowpass``; ``v' = beta v + (1 - beta) g``): the same with
  ``c = 1 - beta``.
- Nesterov, PyTorch form (kind ``nesterov``; ``w' = w - lr (g + beta v')``): matrix
  ``[[1 - lr h (1 + beta c), -lr beta^2], [c h, beta]]``, for ``c = 1`` the classical
  ``z^2 - (1 + beta)(1 - lr h) z + beta (1 - lr h)``.

Coupled ``weight_decay`` adds ``wd`` to every ``h``. ``momentum = 0`` ignores dampening (``c = 1``),
as ``torch.optim.SGD`` and ``core.optimizers`` do. The spectral radius ``rho = max_i |z_i|`` is the
predicted rate: the distance to the minimizer shrinks by about ``rho`` per step, the loss gap by
``rho^2`` (measured rates: ``core.metrics``). Where ``rho`` crosses 1, the stability limits, is
``core.stability`` (``curvature_limit``, ``lr_limit``), the one definition the tree uses.

**Momentum conventions.** The lecture writes the low-pass filter with the *new* input weighted by
``b``: ``a_{t+1} = (1 - b) a_t + b g_t``, ``w_{t+1} = w_t - eta a_{t+1}`` (small ``b`` = more smoothing).
That is exactly ``momentum_lowpass(lr = eta, beta = 1 - b)`` and, step for step (both start from
``a = 0`` / PyTorch's buffer starts at ``g``), PyTorch's ``SGD(lr = eta * b, momentum = 1 - b,
dampening = 0)`` = our ``momentum(lr = eta b, momentum = 1 - b)``. So the same ``lr`` means a
``1 / (1 - beta)`` times larger step in PyTorch's form: the lecture's warning. PyTorch's
``dampening = delta`` multiplies the new gradient by ``1 - delta`` (but not the first one, which
starts the buffer undamped); after the first step it behaves as ``momentum_lowpass`` with
``lr' = lr (1 - delta) / (1 - beta)``. :func:`lecture_to_lowpass` and :func:`lowpass_to_pytorch`
convert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from core.errors import LabError
from core.stability import LINEAR_KINDS, defaults, momentum_parts

ZERO_EIGEN = 1e-12  # eigenvalues at or below this fraction of the largest are a null space: excluded from rates

#: a discriminant ``T^2 - 4D`` within this many ulps of ``T^2 + 4|D|`` is a double root: the rounding
#: of ``T = 1 + beta - lr c h`` (a few ulps of its terms) moves it by up to ~6 ulps of that scale
DOUBLE_ROOT_ULPS = 32


# --- convention conversions ---------------------------------------------------------------------
def lecture_to_lowpass(eta: float, b: float) -> dict[str, float]:
    """The lecture's ``a = (1 - b) a + b g; w -= eta a`` as ``momentum_lowpass`` hyperparameters."""
    return {"lr": eta, "beta": 1.0 - b}


def lowpass_to_pytorch(lr: float, beta: float) -> dict[str, float]:
    """``momentum_lowpass(lr, beta)`` as PyTorch's ``SGD`` = our ``momentum`` (identical iterates)."""
    return {"lr": lr * (1.0 - beta), "momentum": beta, "dampening": 0.0}


def pytorch_to_lowpass(lr: float, momentum: float, dampening: float = 0.0) -> dict[str, float]:
    """PyTorch's ``(lr, momentum, dampening)`` as ``momentum_lowpass`` (identical iterates when
    ``dampening = 0``; with dampening identical from the second step on)."""
    return {"lr": lr * (1.0 - dampening) / (1.0 - momentum), "beta": momentum}


def _t(x: Any, like: Tensor) -> Tensor:
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


# --- iteration matrices and their eigenvalues --------------------------------------------------
def iteration_matrix(kind: str, hyper: Mapping[str, Any] | None, h: Tensor) -> Tensor:
    """The per-eigenvalue iteration matrix ``[..., s, s]`` acting on the state ``(e, v)`` (s = 2) or
    ``e`` (GD, s = 1), for Hessian eigenvalues ``h`` broadcast against tensor hyperparameters."""
    p = defaults(kind, hyper)
    h = torch.as_tensor(h, dtype=torch.float64) if not isinstance(h, Tensor) else h
    lr = _t(p["lr"], h)
    h = h + _t(p["weight_decay"], h)
    if kind in ("gd", "sgd"):
        return (1 - lr * h)[..., None, None]
    beta, c = (_t(x, h) for x in momentum_parts(kind, p))
    lr, beta, c, h = torch.broadcast_tensors(lr, beta, c, h)
    if kind == "nesterov":
        top = torch.stack([1 - lr * h * (1 + beta * c), -lr * beta * beta], dim=-1)
    else:
        top = torch.stack([1 - lr * c * h, -lr * beta], dim=-1)
    bottom = torch.stack([c * h, beta], dim=-1)
    return torch.stack([top, bottom], dim=-2)


def char_poly(kind: str, hyper: Mapping[str, Any] | None, h: Tensor) -> tuple[Tensor, Tensor]:
    """``(T, D)`` with the iteration eigenvalues the roots of ``z^2 - T z + D`` (GD: ``D = 0``, the
    second root 0 is dropped by :func:`eigenvalues`)."""
    p = defaults(kind, hyper)
    h = torch.as_tensor(h, dtype=torch.float64) if not isinstance(h, Tensor) else h
    lr = _t(p["lr"], h)
    h = h + _t(p["weight_decay"], h)
    if kind in ("gd", "sgd"):
        return 1 - lr * h, torch.zeros_like(lr * h)
    beta, c = (_t(x, h) for x in momentum_parts(kind, p))
    if kind == "nesterov":
        return 1 + beta - lr * h * (1 + beta * c), beta * (1 - lr * h)
    return 1 + beta - lr * c * h, beta + 0 * h


def eigenvalues(kind: str, hyper: Mapping[str, Any] | None, h: Tensor) -> Tensor:
    """Iteration-matrix eigenvalues, complex ``[..., 1]`` (GD) or ``[..., 2]``, by the exact
    quadratic formula (batched; no per-matrix LAPACK call)."""
    T, D = char_poly(kind, hyper, h)
    if kind in ("gd", "sgd"):
        return T.to(torch.complex128 if T.dtype == torch.float64 else torch.complex64)[..., None]
    T, D = torch.broadcast_tensors(T, D)
    complex_dtype = torch.complex128 if T.dtype == torch.float64 else torch.complex64
    # A double root (the optimal heavy ball and Nesterov put one at both ends of the spectrum) has
    # a discriminant that is 0 only up to the rounding of T and D; its square root would turn that
    # rounding (~1e-16) into a ~1e-8 error in the root. Within that rounding the root is double:
    # z = sign(T) sqrt(D) (z^2 = D exactly, |z| = sqrt(beta) for the heavy ball).
    disc2 = T * T - 4 * D
    double = disc2.abs() <= DOUBLE_ROOT_ULPS * torch.finfo(T.dtype).eps * (T * T + 4 * D.abs())
    root = torch.copysign(D.clamp(min=0).sqrt(), T).to(complex_dtype)
    Tc = T.to(complex_dtype)
    disc = torch.sqrt(torch.where(double, torch.zeros_like(disc2), disc2).to(complex_dtype))
    z1, z2 = (Tc + disc) / 2, (Tc - disc) / 2
    return torch.stack([torch.where(double, root, z1), torch.where(double, root, z2)], dim=-1)


def spectral_radius(kind: str, hyper: Mapping[str, Any] | None, h: Tensor, *, exclude_zero: bool = True) -> Tensor:
    """``max_i |z(h_i)|`` over the last axis of ``h`` (Hessian eigenvalues), broadcast over tensor
    hyperparameters. Eigenvalues ``h <= 1e-12 max h`` (a null space: the error there never moves
    and is not part of the distance to the reachable minimizer) are skipped when ``exclude_zero``."""
    h = torch.as_tensor(h, dtype=torch.float64) if not isinstance(h, Tensor) else h
    radius = eigenvalues(kind, hyper, h).abs().amax(dim=-1)
    if exclude_zero:
        wd = _t(defaults(kind, hyper)["weight_decay"], h)
        heff = h + wd
        keep = heff > ZERO_EIGEN * heff.abs().amax(dim=-1, keepdim=True).clamp(min=1e-300)
        radius = torch.where(keep, radius, torch.zeros_like(radius))
    return radius.amax(dim=-1)


def phase_diagram(kind: str, lrs: Sequence[float] | Tensor, betas: Sequence[float] | Tensor, h: Sequence[float] | Tensor,
                  hyper: Mapping[str, Any] | None = None) -> Tensor:
    """Spectral radius ``[n_beta, n_lr]`` over a grid of learning rates and momentum coefficients,
    one batched tensor operation. For eigenvalues filling an interval pass its ends ``[mu, L]``:
    the radius of these methods over an interval is attained at an end (tests check it)."""
    if kind not in ("momentum", "nesterov", "momentum_lowpass"):
        raise LabError(f"a phase diagram needs a momentum method (momentum, nesterov, momentum_lowpass), got {kind!r}", "kind")
    lrs = torch.as_tensor(lrs, dtype=torch.float64)
    betas = torch.as_tensor(betas, dtype=torch.float64)
    h = torch.as_tensor(h, dtype=torch.float64)
    name = "beta" if kind == "momentum_lowpass" else "momentum"
    p = dict(hyper or {})
    p.update({"lr": lrs[None, :, None], name: betas[:, None, None]})
    return spectral_radius(kind, p, h[None, None, :])


# --- optima (stability limits: core.stability) ----------------------------------------------------------------------------
def optimal(kind: str, mu: float, L: float) -> tuple[dict[str, float], float]:
    """The hyperparameters that minimize the worst-case rate over ``[mu, L]``, and that rate
    (condition number ``k = L / mu``):

    - GD: ``lr = 2 / (L + mu)``, rate ``(k - 1) / (k + 1)``;
    - heavy ball: ``lr = 4 / (sqrt L + sqrt mu)^2``, ``beta = ((sqrt k - 1) / (sqrt k + 1))^2``, rate
      ``(sqrt k - 1) / (sqrt k + 1)`` (Polyak 1964) (``momentum_lowpass``: ``lr / (1 - beta)``);
    - Nesterov: ``lr = 4 / (3 L + mu)``, ``beta = (sqrt(3k + 1) - 2) / (sqrt(3k + 1) + 2)``, rate
      ``1 - 2 / sqrt(3k + 1)`` (Lessard, Recht & Packard 2016)."""
    if not (0 < mu <= L and math.isfinite(L)):
        raise LabError(f"need 0 < mu <= L, got mu={mu!r}, L={L!r}", "eigenvalues")
    k = L / mu
    if kind in ("gd", "sgd"):
        return {"lr": 2.0 / (L + mu)}, (k - 1) / (k + 1)
    if kind in ("momentum", "momentum_lowpass"):
        sk = math.sqrt(k)
        beta = ((sk - 1) / (sk + 1)) ** 2
        lr = 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2
        hyper = {"lr": lr, "momentum": beta, "dampening": 0.0} if kind == "momentum" else {"lr": lr / (1 - beta), "beta": beta}
        return hyper, (sk - 1) / (sk + 1)
    if kind == "nesterov":
        s = math.sqrt(3 * k + 1)
        return {"lr": 4.0 / (3 * L + mu), "momentum": (s - 2) / (s + 2), "dampening": 0.0}, 1 - 2 / s
    raise LabError(f"no known optimum for {kind!r}; allowed: {', '.join(LINEAR_KINDS)}", "kind")


# --- predicted error curves --------------------------------------------------------------------
def error_curves(kind: str, hyper: Mapping[str, Any] | None, h: Tensor, e0: Tensor, steps: int) -> Tensor:
    """The error ``[steps + 1, n]`` along each eigendirection (``h [n]``, initial error ``e0 [n]``)
    from the iteration matrices, with each rule's own start: ``momentum_lowpass`` from ``v = 0``;
    PyTorch's ``momentum``/``nesterov`` start the buffer at the first gradient ``v_1 = h e_0``
    (undamped), then follow the matrix."""
    p = defaults(kind, hyper)
    h = torch.as_tensor(h, dtype=torch.float64)
    e = torch.as_tensor(e0, dtype=h.dtype).clone()
    M = iteration_matrix(kind, hyper, h)  # [n, s, s]
    out = [e.clone()]
    if kind in ("gd", "sgd"):
        factors = M[..., 0, 0]
        t = torch.arange(steps + 1, dtype=h.dtype)[:, None]
        return factors[None] ** t * e[None]
    heff = h + float(p["weight_decay"])
    state = torch.stack([e, torch.zeros_like(e)], dim=-1)  # [n, 2]
    if kind in ("momentum", "nesterov") and steps >= 1:
        v = heff * e
        beta = float(p["momentum"])
        step = v if kind == "momentum" else heff * e + beta * v
        state = torch.stack([e - float(p["lr"]) * step, v], dim=-1)
        out.append(state[:, 0].clone())
        steps -= 1
    states = apply_powers(M, state, steps)  # [steps + 1, n, 2]
    return torch.cat([torch.stack(out), states[1:, :, 0]])


def apply_powers(M: Tensor, state: Tensor, steps: int) -> Tensor:
    """``[M^0 s, M^1 s, ..., M^steps s]`` as ``[steps + 1, n, k]`` for ``M [n, k, k]``, ``s [n, k]``,
    in ``ceil(log2(steps + 1))`` batched operations (no loop over steps): the states known for
    ``t < L`` give those for ``L <= t < 2L`` as ``M^L s_t``, then ``M^L`` is squared. Every state
    is a product of at most ~log2(steps) rounded matrices, where stepping takes ``t``: the two
    agree to float64 rounding (tests/test_table.py compares them over real, complex and double
    roots)."""
    out = torch.empty((steps + 1, *state.shape), dtype=state.dtype, device=state.device)
    out[0] = state
    P, known = M, 1  # P = M^known
    while known < steps + 1:
        take = min(known, steps + 1 - known)
        out[known:known + take] = torch.einsum("nij,tnj->tni", P, out[:take])
        known += take
        if known < steps + 1:
            P = P @ P
    return out


def predict(problem: Any, kind: str, hyper: Mapping[str, Any] | None, start: Tensor, steps: int) -> dict[str, Tensor] | None:
    """Predicted curves from ``start[d]`` on a quadratic or linear problem (``None`` otherwise):
    ``per_direction [T+1, d]`` (the offset from the problem's minimizer ``w*`` along each Hessian
    eigenvector), ``distance [T+1]`` (to ``w*``), ``gap [T+1]`` = ``0.5 sum h e^2`` (= loss - loss*),
    ``eigenvalues``. Coupled ``weight_decay = wd`` moves the fixed point to
    ``w_wd = Q diag(h / (h + wd)) Q^T w*`` (ridge toward 0); the iterates converge there, so the
    distance to ``w*`` levels off at ``|w_wd - w*|``."""
    basis = hessian_basis(problem)
    if basis is None or kind not in LINEAR_KINDS:
        return None
    h, Q, w_star = basis
    wd = float(defaults(kind, hyper)["weight_decay"])
    c = Q.T @ w_star
    offset = -(wd / (h + wd)) * c if wd > 0 else torch.zeros_like(c)  # (w_wd - w*) in eigen coordinates
    e0 = Q.T @ (torch.as_tensor(start, dtype=h.dtype) - w_star) - offset
    per = error_curves(kind, hyper, h, e0, steps) + offset
    return {"per_direction": per, "distance": per.norm(dim=1), "gap": 0.5 * (h * per * per).sum(dim=1), "eigenvalues": h,
            "rate": excited_rate(kind, hyper, h, e0), "initial": e0}


#: an eigendirection whose initial error is at most this fraction of the largest is not excited
#: (a start on one eigenvector has round-off ~1e-16 along the others: it must not set the rate)
EXCITED = 1e-9


def excited_rate(kind: str, hyper: Mapping[str, Any] | None, h: Tensor, e0: Tensor) -> float:
    """The asymptotic per-step factor of the distance to the fixed point from the initial error
    ``e0 [n]`` (in the Hessian's eigenbasis, ``h [n]``): the largest ``|z|`` of the directions the
    start excites, ``|e0_i| > EXCITED max |e0|`` (the null space excluded, as in
    :func:`spectral_radius`). It is the rate of the curve :func:`predict` draws from that start, at
    most the worst-case :func:`spectral_radius` (equal when the start has a component along the
    slowest direction); 0 when the start is the fixed point. The loss gap shrinks by its square."""
    h = torch.as_tensor(h, dtype=torch.float64)
    e0 = torch.as_tensor(e0, dtype=torch.float64)
    size = e0.abs()
    if not size.numel() or not bool(size.isfinite().all()) or float(size.max()) == 0.0:
        return 0.0
    modes = eigenvalues(kind, hyper, h).abs().amax(dim=-1)  # [n]
    heff = h + float(defaults(kind, hyper)["weight_decay"])
    keep = (size > EXCITED * size.max()) & (heff > ZERO_EIGEN * heff.abs().max().clamp(min=1e-300))
    return float(modes[keep].max()) if bool(keep.any()) else 0.0


def complex_radius(kind: str, hyper: Mapping[str, Any] | None) -> float | None:
    """The circle the iteration eigenvalues of a heavy ball lie on once they are complex (spirals):
    ``|z| = sqrt(D) = sqrt(beta)`` (``momentum``, ``momentum_lowpass``; the product of the two roots
    is ``D = beta`` for every curvature, :func:`char_poly`). None for other kinds: GD's roots are
    real and Nesterov's ``D = beta (1 - lr h)`` depends on the curvature (no one circle)."""
    if kind not in ("momentum", "momentum_lowpass"):
        return None
    beta, _ = momentum_parts(kind, defaults(kind, hyper))
    beta = float(beta)
    return math.sqrt(beta) if 0.0 <= beta < 1.0 else None


def fixed_point(problem: Any, kind: str, hyper: Mapping[str, Any] | None) -> Tensor | None:
    """Where the method converges on a quadratic or linear problem: the problem's minimizer ``w*``,
    or with coupled ``weight_decay = wd`` the shrunk ``Q diag(h / (h + wd)) Q^T w*``. A rate should
    be measured as the distance to this point (``None`` when there is no linear theory)."""
    basis = hessian_basis(problem)
    if basis is None or kind not in LINEAR_KINDS:
        return None
    h, Q, w_star = basis
    wd = float(defaults(kind, hyper)["weight_decay"])
    return w_star if wd == 0 else Q @ ((h / (h + wd)) * (Q.T @ w_star))


def hessian_basis(problem: Any) -> tuple[Tensor, Tensor, Tensor] | None:
    """``(h [d], Q [d, d], w_star [d])`` for problems whose Hessian is constant and known: the
    :class:`core.problems.protocols.ConstantHessian`s (quadratic toys, least squares); ``None`` for
    every other problem."""
    from core.problems.protocols import ConstantHessian

    if isinstance(problem, ConstantHessian):
        h, Q = problem.eigenbasis()
        return h.cpu().double(), Q.cpu().double(), problem.stationary_point().cpu().double()
    return None


def predicted_rate(problem: Any, kind: str, hyper: Mapping[str, Any] | None) -> float | None:
    """The spectral radius for ``kind`` with ``hyper`` on a quadratic or linear problem: the
    per-step factor of the distance to the minimizer (loss gap: its square). ``None`` when the
    problem is not one of those or the method has no linear theory (Adam, RMSProp, ...); ``sgd``
    gets GD's rate (that of the expected iterate; exact with full batches)."""
    basis = hessian_basis(problem)
    if basis is None or kind not in LINEAR_KINDS:
        return None
    return float(spectral_radius(kind, hyper, basis[0]))
