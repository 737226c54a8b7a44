"""Hessian spectra of any problem: exact for small d, Lanczos on Hessian-vector products for large d,
and the spectral density by stochastic Lanczos quadrature.

Operators are separate from algorithms (the shape of pytorch-hessian-eigenthings): an operator
has ``size``, ``dtype``, ``device`` and ``matvec(v[d]) -> [d]``; :func:`lanczos` and
:func:`slq_density` accept any operator or a dense symmetric matrix. Start vectors are drawn on the
CPU from a seeded ``torch.Generator`` and then moved, so CPU and GPU runs start alike. Every
eigenpair comes with its residual ``||H v - lambda v||`` so a view can say how far to trust it.
Matrix-vector products stay in torch (no NumPy round trip per product).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from scipy.linalg import eigh_tridiagonal
from torch import Tensor

from core.errors import LabError
from core.problems.base import Problem

EXACT_MAX_DIM = 400  # "auto" builds the dense Hessian up to this many parameters


# --- operators ---------------------------------------------------------------------------------------
@dataclass
class DenseOperator:
    """A symmetric matrix as an operator (tests, small problems)."""

    matrix: Tensor

    @property
    def size(self) -> int:
        return self.matrix.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.matrix.dtype

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    def matvec(self, v: Tensor) -> Tensor:
        return self.matrix @ v


@dataclass
class HessianOperator:
    """``v -> H(theta) v`` for one point of a problem, by ``problem.hvp`` (autograd, or a closed form)."""

    problem: Problem
    theta: Tensor

    @property
    def size(self) -> int:
        return self.theta.numel()

    @property
    def dtype(self) -> torch.dtype:
        return self.theta.dtype

    @property
    def device(self) -> torch.device:
        return self.theta.device

    def matvec(self, v: Tensor) -> Tensor:
        return self.problem.hvp(self.theta, v).detach()


@dataclass
class LambdaOperator:
    """Any function ``v -> A v`` of a symmetric A."""

    fn: Callable[[Tensor], Tensor]
    size: int
    dtype: torch.dtype = torch.float64
    device: torch.device = torch.device("cpu")

    def matvec(self, v: Tensor) -> Tensor:
        return self.fn(v)


def as_operator(A: Tensor | object) -> object:
    return DenseOperator(A) if isinstance(A, Tensor) else A


# --- results ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EigenResult:
    """Eigenpairs in the order asked for (top: descending; bottom: ascending; both: top then bottom),
    ``eigenvectors [d, k]``, ``residuals [k]`` = ``||A v - lambda v||``, Lanczos ``iterations``
    (0 for exact) and whether every residual met ``tol * max(|lambda|)``."""

    eigenvalues: Tensor
    eigenvectors: Tensor
    residuals: Tensor
    iterations: int
    converged: bool


def start_vector(size: int, seed: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    g = torch.Generator().manual_seed(int(seed))
    v = torch.randn(size, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    return v / v.norm()


def _select(values: Tensor, k: int, which: str) -> Tensor:
    """Indices of the wanted eigenvalues in an ascending ``values``."""
    m = values.numel()
    k = min(k, m)
    top = torch.arange(m - 1, m - 1 - k, -1, device=values.device)
    bottom = torch.arange(0, k, device=values.device)
    if which == "top":
        return top
    if which == "bottom":
        return bottom
    return torch.cat([top, bottom[~torch.isin(bottom, top)]])


def _check_which(which: str) -> None:
    if which not in ("top", "bottom", "both"):
        raise LabError(f"which must be top, bottom or both, got {which!r}", "which")


# --- algorithms ----------------------------------------------------------------------------------------
def lanczos(A: Tensor | object, k: int = 6, which: str = "top", *, tol: float = 1e-8, max_iter: int | None = None,
            seed: int = 0, v0: Tensor | None = None, check_every: int = 5) -> EigenResult:
    """Lanczos with full reorthogonalization (Gram-Schmidt twice per step) on a symmetric operator.

    Grows the Krylov basis until the k wanted Ritz pairs have residual estimates
    ``|beta_m s_{m,i}| <= tol * max|theta|`` or ``max_iter`` (default ``min(d, max(300, 4 k))``) is
    reached; then reports the true residuals ``||A y - theta y||`` (k more products). ``v0`` warm-starts
    (e.g. the previous sharpness vector along a run); otherwise a seeded Gaussian start."""
    _check_which(which)
    op = as_operator(A)
    d = op.size
    if k < 1:
        raise LabError(f"k must be >= 1, got {k!r}", "k")
    k = min(k, d)
    m_max = min(d, max_iter if max_iter is not None else max(300, 4 * k))
    q = start_vector(d, seed, op.dtype, op.device) if v0 is None else v0.detach().to(op.device, op.dtype).reshape(-1)
    nq = q.norm()
    if not torch.isfinite(nq) or nq == 0:
        q = start_vector(d, seed, op.dtype, op.device)
    else:
        q = q / nq
    # the basis grows by doubling: a warm-started sharpness on a big net needs a few rows, not m_max
    Q = torch.zeros(min(m_max + 1, 32), d, dtype=op.dtype, device=op.device)
    alpha = torch.zeros(m_max, dtype=op.dtype, device=op.device)
    beta = torch.zeros(m_max, dtype=op.dtype, device=op.device)
    Q[0] = q
    m, next_check = 0, k
    for j in range(m_max):
        w = op.matvec(Q[j])
        alpha[j] = torch.dot(w, Q[j])
        for _ in range(2):  # full reorthogonalization against every basis vector, twice
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = w.norm()
        beta[j] = b
        m = j + 1
        breakdown = bool(b <= 1e-14 * alpha[: j + 1].abs().max().clamp(min=1e-300))
        if not breakdown:
            if j + 1 == Q.shape[0]:
                Q = torch.cat([Q, torch.zeros(min(Q.shape[0], m_max + 1 - Q.shape[0]), d, dtype=op.dtype, device=op.device)])
            Q[j + 1] = w / b
        if breakdown or m == m_max or m == next_check:
            next_check = m + max(check_every, m // 8)
            theta, S = _ritz(alpha[:m], beta[: m - 1])
            idx = _select(theta, k, which)
            est = (beta[m - 1] * S[m - 1, idx]).abs()
            if breakdown or bool((est <= tol * theta.abs().max()).all()):
                break
    theta, S = _ritz(alpha[:m], beta[: m - 1])
    idx = _select(theta, k, which)
    vals = theta[idx]
    vecs = Q[:m].T @ S[:, idx]
    vecs = vecs / vecs.norm(dim=0, keepdim=True)
    res = torch.stack([(op.matvec(vecs[:, i]) - vals[i] * vecs[:, i]).norm() for i in range(vals.numel())])
    # the true residuals can sit slightly above the estimate from rounding: allow 100 eps
    scale = vals.abs().max().clamp(min=torch.finfo(op.dtype).tiny)
    return EigenResult(vals, vecs, res, m, bool((res <= max(tol, 100 * torch.finfo(op.dtype).eps) * scale).all()))


def _ritz(alpha: Tensor, beta: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenpairs of the small symmetric tridiagonal matrix (LAPACK stemr via SciPy, O(m^2); the
    m-vectors cross to NumPy once per check, never per matrix-vector product)."""
    a = alpha.detach().cpu().double().numpy()
    b = beta.detach().cpu().double().numpy()
    w, S = eigh_tridiagonal(a, b)
    return torch.from_numpy(w).to(alpha), torch.from_numpy(S).to(alpha)


def exact_eigen(H: Tensor, k: int = 6, which: str = "top") -> EigenResult:
    """Dense ``eigh`` of a symmetric matrix, with the same result shape as :func:`lanczos`."""
    _check_which(which)
    H = 0.5 * (H + H.T)
    values, vectors = torch.linalg.eigh(H)
    idx = _select(values, k, which)
    vals, vecs = values[idx], vectors[:, idx]
    res = (H @ vecs - vecs * vals).norm(dim=0)
    return EigenResult(vals, vecs, res, 0, True)


def hessian_eigen(problem: Problem, theta: Tensor, k: int = 6, which: str = "top", method: str = "auto",
                  tol: float = 1e-8, seed: int = 0, v0: Tensor | None = None) -> EigenResult:
    """The k top / bottom / both-end Hessian eigenpairs of ``problem`` at ``theta[d]``: the dense
    Hessian (``problem.hessian``) when ``method = "exact"`` or ``"auto"`` and d <= 400, else Lanczos
    on ``problem.hvp``."""
    if method not in ("auto", "exact", "lanczos"):
        raise LabError(f"method must be auto, exact or lanczos, got {method!r}", "method")
    theta = theta.detach().reshape(-1).to(problem.device, problem.dtype)
    if method == "exact" or (method == "auto" and theta.numel() <= EXACT_MAX_DIM):
        return exact_eigen(problem.hessian(theta).detach(), k, which)
    return lanczos(HessianOperator(problem, theta), k, which, tol=tol, seed=seed, v0=v0)


def sharpness(problem: Problem, theta: Tensor, v0: Tensor | None = None, *, tol: float = 1e-6,
              seed: int = 0) -> tuple[float, Tensor]:
    """The top Hessian eigenvalue (the sharpness; GD is locally stable iff it is below ``2 / lr``)
    and its eigenvector. Pass the previous vector as ``v0`` along a run: Lanczos then needs few steps."""
    r = hessian_eigen(problem, theta, k=1, which="top", tol=tol, seed=seed, v0=v0)
    return float(r.eigenvalues[0]), r.eigenvectors[:, 0]


# --- spectral density ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpectralDensity:
    """Stochastic Lanczos quadrature: Gaussian-smoothed density ``density [G]`` on ``grid [G]``
    (integrates to about 1), and the raw quadrature ``nodes [n_vectors, m]`` and ``weights`` (each
    row sums to 1): ``tr f(H) / d ~ mean over rows of sum_j weights f(nodes)``."""

    grid: Tensor
    density: Tensor
    nodes: Tensor
    weights: Tensor


def slq_density(A: Tensor | object, *, n_vectors: int = 8, steps: int = 80, grid_size: int = 400,
                width: float | None = None, seed: int = 0) -> SpectralDensity:
    """Spectral density by stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019;
    Lin, Saad & Yang 2016): per Rademacher start vector, ``steps`` Lanczos steps; the Ritz values
    are quadrature nodes, the squared first components of the Ritz vectors their weights.
    ``width`` is the Gaussian smoothing (default 1% of the spectral range)."""
    op = as_operator(A)
    steps = min(steps, op.size)
    g = torch.Generator().manual_seed(int(seed))
    nodes, weights = [], []
    for i in range(n_vectors):
        v = (torch.randint(0, 2, (op.size,), generator=g, dtype=torch.int64) * 2 - 1).to(op.device, op.dtype)
        r = _tridiagonal(op, v, steps)
        theta, S = _ritz(*r)
        nodes.append(theta)
        weights.append(S[0] ** 2)
    N, W = _pad(nodes, weights)
    lo, hi = float(N.min()), float(N.max())
    span = max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    s = width if width is not None else 0.01 * span
    grid = torch.linspace(lo - 5 * s, hi + 5 * s, grid_size, dtype=N.dtype, device=N.device)
    z = (grid[:, None, None] - N[None]) / s
    dens = (W[None] * torch.exp(-0.5 * z * z)).sum(dim=2).mean(dim=1) / (s * math.sqrt(2 * math.pi))
    return SpectralDensity(grid, dens, N, W)


def _pad(nodes: list[Tensor], weights: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Stacks rows of unequal length (a Lanczos run that stopped early): padding nodes repeat the
    last node with weight 0, so they change nothing."""
    m = max(t.numel() for t in nodes)
    N = torch.stack([torch.cat([t, t[-1:].expand(m - t.numel())]) for t in nodes])
    W = torch.stack([torch.cat([w, w.new_zeros(m - w.numel())]) for w in weights])
    return N, W


def _tridiagonal(op: object, v: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """``(alpha, beta)`` of ``steps`` Lanczos steps from ``v`` with full reorthogonalization."""
    d = op.size
    Q = torch.zeros(steps, d, dtype=op.dtype, device=op.device)
    alpha, beta = [], []
    q = v / v.norm()
    for j in range(steps):
        Q[j] = q
        w = op.matvec(q)
        alpha.append(torch.dot(w, q))
        for _ in range(2):
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = w.norm()
        if j == steps - 1 or b <= 1e-12 * max(abs(float(a)) for a in alpha):
            break
        beta.append(b)
        q = w / b
    a = torch.stack(alpha)
    bt = torch.stack(beta) if beta else torch.zeros(0, dtype=op.dtype, device=op.device)
    return a, bt


def spectral_density(problem: Problem, theta: Tensor, **kw: object) -> SpectralDensity:
    """:func:`slq_density` of the Hessian of ``problem`` at ``theta[d]`` (keywords as there)."""
    theta = theta.detach().reshape(-1).to(problem.device, problem.dtype)
    return slq_density(HessianOperator(problem, theta), **kw)
