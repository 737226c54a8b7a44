"""Hessian spectra of any problem: exact for small d, Lanczos on Hessian-vector products for large d,
and the spectral density by stochastic Lanczos quadrature.

Operators are separate from algorithms (the shape of pytorch-hessian-eigenthings): an operator
has ``size``, ``dtype``, ``device`` and ``matvec(v[d]) -> [d]``; :func:`lanczos` and
:func:`slq_density` accept any operator or a dense symmetric matrix. Both (and with them
:func:`sharpness` and ``core.sharpness``) grow their basis with the one Lanczos loop,
:class:`Krylov`, and solve its tridiagonal matrix with the one solver, :func:`tridiagonal_eigh`. Start vectors are drawn on the
CPU from a seeded ``torch.Generator`` and then moved, so CPU and GPU runs start alike. Every
eigenpair comes with its residual ``||H v - lambda v||`` so a view can say how far to trust it.
Matrix-vector products stay in torch (no NumPy round trip per product).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from scipy.linalg.lapack import dstev
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
    (0 for exact; the number of operator products) and whether the stopping rule was met (every
    residual below ``tol * max(|lambda|)``, or with ``converge="value"`` every eigenvalue's error
    bound)."""

    eigenvalues: Tensor
    eigenvectors: Tensor
    residuals: Tensor
    iterations: int
    converged: bool


def start_vector(size: int, seed: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A seeded unit Gaussian vector, drawn on the CPU in the operator's floating dtype (float32's
    sampler is vectorized: 0.24 ms vs 1.4 ms for 10^5 doubles) and then moved, so CPU and GPU runs
    start alike."""
    g = torch.Generator().manual_seed(int(seed))
    draw = dtype if dtype in (torch.float32, torch.float64) else torch.float64
    v = torch.randn(size, generator=g, dtype=draw).to(device=device, dtype=dtype)
    return v / torch.linalg.vector_norm(v)


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


# --- the Lanczos loop (one, for eigenpairs, sharpness and SLQ) -------------------------------------------
#: a new residual norm below this fraction of max |alpha| ends the basis: it spans an invariant subspace
BREAKDOWN = 1e-14
#: SLQ's (a quadrature keeps nothing from directions this weakly coupled: their weight is its square)
SLQ_BREAKDOWN = 1e-12


class Krylov:
    """An orthonormal Krylov basis of a symmetric operator, grown one Lanczos step per
    :meth:`step` with full reorthogonalization (Gram-Schmidt twice per step), and its tridiagonal
    matrix ``T_m`` (``alpha [m]`` on the diagonal, ``beta [m - 1]`` beside it; ``beta[m - 1]`` is
    the norm of the last residual, the coupling to the next basis vector).

    ``Q [m, d]`` holds the basis and, when ``products``, ``W [m, d]`` the raw products ``A q_j``
    (so Ritz residuals need no further product). Storage grows by doubling: a warm start needs a
    few rows, not ``m_max``. ``q`` must be a unit vector."""

    def __init__(self, op: object, q: Tensor, m_max: int, *, products: bool = True, breakdown: float = BREAKDOWN) -> None:
        self.op, self.m_max, self.breakdown = op, m_max, breakdown
        rows = min(m_max + 1, 16)
        self.Q = torch.empty(rows, op.size, dtype=op.dtype, device=op.device)
        self.W = torch.empty(rows, op.size, dtype=op.dtype, device=op.device) if products else None
        self.Q[0] = q
        self.alpha: list[float] = []
        self.beta: list[float] = []
        self.m = 0
        self.broke = False

    def step(self) -> bool:
        """One product and one row of ``T``; False when no further step can be taken (the basis
        broke down into an invariant subspace, or has ``m_max`` vectors)."""
        j = self.m
        w = self.op.matvec(self.Q[j])
        if self.W is not None:
            self.W[j] = w
        self.alpha.append(float(torch.dot(w, self.Q[j])))
        B = self.Q[: j + 1]
        for _ in range(2):  # full reorthogonalization against every basis vector, twice
            w = torch.addmv(w, B.T, B @ w, alpha=-1)
        b = float(torch.linalg.vector_norm(w))
        self.beta.append(b)
        self.m = j + 1
        self.broke = b <= self.breakdown * max(abs(x) for x in self.alpha) or not math.isfinite(b)
        if self.broke or self.m >= self.m_max:
            return False
        if j + 1 == self.Q.shape[0]:
            grow = min(self.Q.shape[0], self.m_max + 1 - self.Q.shape[0])
            self.Q = torch.cat([self.Q, self.Q.new_empty(grow, self.op.size)])
            if self.W is not None:
                self.W = torch.cat([self.W, self.W.new_empty(grow, self.op.size)])
        torch.div(w, b, out=self.Q[j + 1])
        return True

    def ritz(self) -> tuple["np.ndarray", "np.ndarray"]:
        """Ritz values (ascending) and the eigenvectors ``S [m, m]`` of ``T_m`` (float64, NumPy)."""
        return tridiagonal_eigh(self.alpha, self.beta[: self.m - 1])


# --- algorithms ----------------------------------------------------------------------------------------
def lanczos(A: Tensor | object, k: int = 6, which: str = "top", *, tol: float = 1e-8, max_iter: int | None = None,
            seed: int = 0, v0: Tensor | None = None, check_every: int = 1, converge: str = "residual") -> EigenResult:
    """Lanczos with full reorthogonalization (Gram-Schmidt twice per step) on a symmetric operator.

    Grows the Krylov basis (by doubling: a warm start needs a few rows, not ``max_iter``) until the
    k wanted Ritz pairs meet the stopping rule, checked every ``check_every`` steps, or ``max_iter``
    (default ``min(d, max(300, 4 k))``) is reached. With ``r_i = |beta_m s_{m,i}|`` (the Ritz
    residual) and ``scale = max|theta|``:

    - ``converge="residual"``: ``r_i <= tol * scale``, eigenvectors to ``tol``;
    - ``converge="value"``: eigenvalues to ``tol`` relative to ``scale`` (for the top eigenvalue:
      relative to itself), by the a-posteriori bound
      ``|lambda - theta_i| <= min(r_i, r_i^2 / gap_i)`` with ``gap_i`` the distance to the nearest
      other Ritz value (Parlett, *The Symmetric Eigenvalue Problem*, 11.7; Saad 2011, 6.5). The error
      of a Ritz value is quadratic in its residual, so this needs far fewer products.

    The reported residuals are true ``||A y - theta y||``: the raw products ``A q_j`` are kept, and
    ``A y = sum_j s_j A q_j`` by linearity, so no product is spent on them. ``iterations`` is the
    number of products. ``v0`` warm-starts (e.g. the previous sharpness vector along a run);
    otherwise a seeded Gaussian start."""
    _check_which(which)
    if converge not in ("residual", "value"):
        raise LabError(f"converge must be residual or value, got {converge!r}", "converge")
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
    kr = Krylov(op, q, m_max)
    theta = S = None
    while True:
        more = kr.step()
        m = kr.m
        # every step while the tridiagonal eigensolve is cheap (O(m^3)), then every m / 32 steps
        if not more or (m >= k and (m - k) % max(check_every, m // 32, 1) == 0):
            theta, S = kr.ritz()
            if not more or _met(theta, S, kr.beta[-1], k, which, tol, converge):
                break
    Q, W = kr.Q, kr.W
    met = _met(theta, S, kr.beta[-1], k, which, tol, converge)
    idx = _select_np(theta, k, which)
    vals = torch.as_tensor(theta[idx], dtype=op.dtype, device=op.device)
    Sk = torch.as_tensor(S[:, idx], dtype=op.dtype, device=op.device)
    Y = Q[:m].T @ Sk
    norms = Y.norm(dim=0)
    vecs = Y / norms
    res = ((W[:m].T @ Sk) / norms - vecs * vals).norm(dim=0)
    if converge == "residual":  # the true residuals can sit slightly above the estimate from rounding
        scale = vals.abs().max().clamp(min=torch.finfo(op.dtype).tiny)
        met = bool((res <= max(tol, 100 * torch.finfo(op.dtype).eps) * scale).all())
    return EigenResult(vals, vecs, res, m, met)


def tridiagonal_eigh(alpha: list[float], beta: list[float]) -> tuple["np.ndarray", "np.ndarray"]:
    """Eigenpairs (ascending values, eigenvectors as columns) of the symmetric tridiagonal matrix
    with diagonal ``alpha`` and off-diagonal ``beta``, in float64: LAPACK ``stev`` directly (a few
    microseconds for the small matrices of a Lanczos run; SciPy's wrapper costs more than the
    solve), SciPy's ``eigh_tridiagonal`` if it reports a failure. The one solver of every Lanczos
    user here (eigenpairs, sharpness, SLQ)."""
    if len(alpha) == 1:
        return np.asarray(alpha, dtype=np.float64), np.ones((1, 1))
    w, S, info = dstev(np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64), compute_v=1)
    if info != 0:
        return eigh_tridiagonal(alpha, beta)
    return w, S


def _select_np(values: "np.ndarray", k: int, which: str) -> "np.ndarray":
    """:func:`_select` for a NumPy array (the Lanczos loop's bookkeeping stays off torch)."""
    return _select(torch.from_numpy(values), k, which).numpy() if which == "both" else (
        np.arange(values.size - 1, max(values.size - 1 - k, -1), -1) if which == "top" else np.arange(min(k, values.size)))


def _met(theta: "np.ndarray", S: "np.ndarray", b: float, k: int, which: str, tol: float, converge: str) -> bool:
    """The stopping rule of :func:`lanczos` for the wanted Ritz pairs of ``T_m = S diag(theta) S^T``."""
    m = theta.size
    if k == 1 and which == "top" and m >= 2 and converge == "value":  # the sharpness: no arrays to build
        r, scale = abs(b * S[m - 1, m - 1]), max(abs(theta[0]), abs(theta[-1]))
        return min(r, r * r / max(theta[-1] - theta[-2], 1e-300)) <= tol * scale
    idx = _select_np(theta, k, which)
    est = np.abs(b * S[m - 1, idx])
    scale = np.abs(theta).max()
    if converge == "residual":
        return bool((est <= tol * scale).all())
    if m <= idx.size:  # no unwanted Ritz value yet: no gap to measure
        return bool((est <= tol * scale).all())
    others = np.abs(theta[idx][:, None] - theta[None, :])
    others[np.arange(idx.size), idx] = np.inf
    gap = others.min(axis=1)
    return bool((np.minimum(est, est**2 / np.maximum(gap, 1e-300)) <= tol * scale).all())


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
                  tol: float = 1e-8, seed: int = 0, v0: Tensor | None = None, converge: str = "residual") -> EigenResult:
    """The k top / bottom / both-end Hessian eigenpairs of ``problem`` at ``theta[d]``: the dense
    Hessian (``problem.hessian``) when ``method = "exact"`` or ``"auto"`` and d <= 400, else Lanczos
    on ``problem.hvp`` (``tol`` and ``converge`` as in :func:`lanczos`: ``converge="value"`` when only
    the eigenvalues are wanted to ``tol`` relative)."""
    if method not in ("auto", "exact", "lanczos"):
        raise LabError(f"method must be auto, exact or lanczos, got {method!r}", "method")
    theta = theta.detach().reshape(-1).to(problem.device, problem.dtype)
    if method == "exact" or (method == "auto" and theta.numel() <= EXACT_MAX_DIM):
        return exact_eigen(problem.hessian(theta).detach(), k, which)
    return lanczos(HessianOperator(problem, theta), k, which, tol=tol, seed=seed, v0=v0, converge=converge)


def sharpness(problem: Problem, theta: Tensor, v0: Tensor | None = None, *, tol: float = 1e-6,
              seed: int = 0) -> tuple[float, Tensor]:
    """The top Hessian eigenvalue (the sharpness; GD is locally stable iff it is below ``2 / lr``)
    and its eigenvector. Pass the previous vector as ``v0`` along a run: Lanczos then needs few steps.
    Only the value is wanted to ``tol`` (``converge="value"``); the vector, good to about
    ``sqrt(tol)``, serves as the next warm start."""
    r = hessian_eigen(problem, theta, k=1, which="top", tol=tol, seed=seed, v0=v0, converge="value")
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
        kr = Krylov(op, v / torch.linalg.vector_norm(v), steps, products=False, breakdown=SLQ_BREAKDOWN)
        while kr.step():
            pass
        theta, S = kr.ritz()
        nodes.append(torch.from_numpy(theta).to(op.device, op.dtype))
        weights.append(torch.from_numpy(S[0] ** 2).to(op.device, op.dtype))
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


def spectral_density(problem: Problem, theta: Tensor, **kw: object) -> SpectralDensity:
    """:func:`slq_density` of the Hessian of ``problem`` at ``theta[d]`` (keywords as there)."""
    theta = theta.detach().reshape(-1).to(problem.device, problem.dtype)
    return slq_density(HessianOperator(problem, theta), **kw)
