"""Linear least squares: OLS and ridge, with the closed forms the lecture derives.

**Scaling (the one convention of this module, of ``core.spectra`` and of ``core.theory``)**::

    L(w) = (1/n) ||y - X w||^2 + lambda ||w||^2
    grad = (2/n) X^T (X w - y) + 2 lambda w,        H = (2/n) X^T X + 2 lambda I

Write the normalized design as a thin SVD ``X / sqrt(n) = U diag(sigma) V^T``. Everywhere in the lab
"the singular values" ``sigma_i`` are those of ``X / sqrt(n)`` (they do not grow with n; the
synthetic generator's ``singular_values`` sets them). Then ``H = 2 V diag(sigma^2 + lambda) V^T``
(plus ``2 lambda`` on the null space of X), and in SVD coordinates GD multiplies the error along
``v_i`` by ``1 - 2 lr (sigma_i^2 + lambda)`` every step: the lecture's ``1 - 2 eta sigma_i^2``
(seeds/003, around lines 1850-2460). GD is stable iff ``lr < 1 / (sigma_max^2 + lambda)``.

A minibatch ``batch[B, m]`` (sample indices per trajectory) gives
``(1/m) sum_{j in batch} (y_j - x_j . w)^2 + lambda ||w||^2``, an unbiased estimate of L.

For a wide problem (n < d) without ridge the minimizers form an affine set; ``minima`` then holds
the minimum-norm one, ``pinv(X) y``, which GD reaches from ``w = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from core.errors import LabError
from core.problems.base import Problem

SMALL = 1 << 16  # products with at most this many multiply-adds avoid BLAS (see _matmul)


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b``; tiny products (the engine's usual case: a few trajectories, small data) as a
    broadcast sum instead. MKL may hand even a [4, 50] x [50, 2] product to its thread pool; on a
    busy 2-core machine that took 23 ms instead of 5 us."""
    if a.shape[0] * a.shape[1] * b.shape[1] <= SMALL:
        return (a[:, :, None] * b[None]).sum(1)
    return a @ b


@dataclass(frozen=True, eq=False)
class LinearProblem(Problem):
    """``(1/n) ||y - X w||^2 + ridge ||w||^2`` with the SVD of ``X / sqrt(n)`` kept for theory
    (a :class:`~core.problems.protocols.DataProblem` and a :class:`~core.problems.protocols.ConstantHessian`).

    ``U [n, r]``, ``sigma [r]`` (descending) and ``V [d, d]`` (a full orthonormal basis whose first
    r columns pair with ``sigma``; the rest span the null space of X)."""

    X: Tensor | None = None
    y: Tensor | None = None
    ridge: float = 0.0
    U: Tensor | None = None
    sigma: Tensor | None = None
    V: Tensor | None = None
    w_true: Tensor | None = None

    def __post_init__(self) -> None:
        n, d = self.X.shape
        self._init(dim=d, n_samples=n)
        if self.sigma is None:
            U, s, Vh = torch.linalg.svd(self.X / math.sqrt(n), full_matrices=True)
            r = min(n, d)
            self._init(U=U[:, :r], sigma=s[:r], V=Vh.T)
        w = self.solution()
        self._init(minima=w[None], loss_star=float(self.loss(w[None])[0]))
        if not self.box:
            self._init(box=[(float(c) - 3.0, float(c) + 3.0) for c in w.tolist()[:2]])
        super().__post_init__()

    # -- the loss and its derivatives (closed forms; autograd gives the same, see the tests) ----
    def _residual(self, theta: Tensor, batch: Tensor | None) -> Tensor:
        if batch is None:
            return _matmul(theta, self.X.T) - self.y  # [B, n]
        return (self.X[batch] * theta[:, None, :]).sum(-1) - self.y[batch]  # [B, m]

    def loss(self, theta: Tensor, batch: Tensor | None = None) -> Tensor:
        r = self._residual(theta, batch)
        return (r * r).mean(dim=1) + self.ridge * (theta * theta).sum(dim=1)

    def loss_and_grad(self, theta: Tensor, batch: Tensor | None = None) -> tuple[Tensor, Tensor]:
        theta = theta.detach()
        r = self._residual(theta, batch)
        g = _matmul(r, self.X) if batch is None else (r[:, :, None] * self.X[batch]).sum(1)
        m = r.shape[1]
        return (r * r).mean(dim=1) + self.ridge * (theta * theta).sum(dim=1), (2.0 / m) * g + (2.0 * self.ridge) * theta

    def loss_and_batch_grad(self, theta: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """The full-batch loss ``[B]`` and the minibatch gradient ``[B, d]`` from one forward pass:
        the minibatch residuals are gathered from the full ones (what the engine records for a
        minibatch row, without a second forward pass)."""
        theta = theta.detach()
        r = self._residual(theta, None)  # [B, n]
        rb = r.gather(1, batch)  # [B, m]
        g = (rb[:, :, None] * self.X[batch]).sum(1)
        ridge = self.ridge * (theta * theta).sum(dim=1)
        return (r * r).mean(dim=1) + ridge, (2.0 / batch.shape[1]) * g + (2.0 * self.ridge) * theta

    def hessian(self, theta: Tensor | None = None) -> Tensor:
        """``(2/n) X^T X + 2 ridge I``; the same at every point."""
        n, d = self.X.shape
        return (2.0 / n) * self.X.T @ self.X + 2.0 * self.ridge * torch.eye(d, dtype=self.X.dtype, device=self.X.device)

    def hvp(self, theta: Tensor, v: Tensor) -> Tensor:
        return (2.0 / self.X.shape[0]) * (self.X.T @ (self.X @ v)) + 2.0 * self.ridge * v

    # -- spectra ------------------------------------------------------------------------------
    def hessian_eigenvalues(self) -> Tensor:
        """All d eigenvalues of H, descending: ``2 (sigma_i^2 + ridge)``, then ``2 ridge`` on the null space."""
        d = self.dim
        tail = torch.full((d - self.sigma.numel(),), 2.0 * self.ridge, dtype=self.sigma.dtype, device=self.sigma.device)
        return torch.cat([2.0 * (self.sigma**2 + self.ridge), tail])

    def eigenbasis(self) -> tuple[Tensor, Tensor]:
        """``(eigenvalues [d], eigenvectors V [d, d])`` of H, paired column by column."""
        return self.hessian_eigenvalues(), self.V

    def stationary_point(self) -> Tensor:
        """Where the gradient vanishes: :meth:`solution` (the minimum-norm one when wide)."""
        return self.solution()

    # -- closed-form solutions ------------------------------------------------------------------
    def solution(self, lam: float | None = None) -> Tensor:
        """The minimizer of the loss with ridge ``lam`` (default: this problem's) in SVD form,
        ``V diag(sigma / (sigma^2 + lam)) U^T y / sqrt(n)``; with ``lam = 0`` it is ``pinv(X) y``,
        the minimum-norm least-squares solution (directions with ``sigma = 0`` get 0)."""
        lam = self.ridge if lam is None else float(lam)
        s = self.sigma
        r = s.numel()
        keep = s > s.max() * max(self.X.shape) * torch.finfo(s.dtype).eps if lam == 0 else torch.ones_like(s, dtype=torch.bool)
        coef = torch.where(keep, s / (s * s + lam), torch.zeros_like(s))
        uty = self.U.T @ self.y / math.sqrt(self.X.shape[0])
        return self.V[:, :r] @ (coef * uty)

    def ridge_primal(self, lam: float | None = None) -> Tensor:
        """``(X^T X / n + lam I)^{-1} X^T y / n`` (a d x d solve)."""
        lam = self.ridge if lam is None else float(lam)
        n, d = self.X.shape
        A = self.X.T @ self.X / n + lam * torch.eye(d, dtype=self.X.dtype, device=self.X.device)
        return torch.linalg.solve(A, self.X.T @ self.y / n)

    def ridge_dual(self, lam: float | None = None) -> Tensor:
        """``X^T (X X^T + n lam I)^{-1} y`` (an n x n solve: cheap for wide problems)."""
        lam = self.ridge if lam is None else float(lam)
        n = self.X.shape[0]
        K = self.X @ self.X.T + n * lam * torch.eye(n, dtype=self.X.dtype, device=self.X.device)
        return self.X.T @ torch.linalg.solve(K, self.y)

    def augmented_ols(self, lam: float | None = None) -> Tensor:
        """OLS on the augmented data ``[X; sqrt(n lam) I], [y; 0]``: ridge as plain least squares."""
        lam = self.ridge if lam is None else float(lam)
        n, d = self.X.shape
        Xa = torch.cat([self.X, math.sqrt(n * lam) * torch.eye(d, dtype=self.X.dtype, device=self.X.device)])
        ya = torch.cat([self.y, torch.zeros(d, dtype=self.y.dtype, device=self.y.device)])
        return torch.linalg.lstsq(Xa, ya[:, None], driver="gelsd" if Xa.device.type == "cpu" else None).solution[:, 0]

    def min_norm(self) -> Tensor:
        """``pinv(X) y``, computed by ``torch.linalg.pinv`` (an independent route to :meth:`solution`)."""
        return torch.linalg.pinv(self.X) @ self.y

    def gd_iterates(self, lr: float, steps: int, w0: Tensor | None = None) -> Tensor:
        """GD's iterates ``[steps + 1, d]`` in closed form: in the eigenbasis V of H the error
        ``w_t - w*`` is multiplied by ``(1 - lr h_i)^t`` per direction, with no coupling. ``w*`` is
        :meth:`solution`; a null-space component of ``w0`` (``h_i = 0``) stays as it is."""
        h, V = self.eigenbasis()
        w_star = self.solution()
        w0 = torch.zeros_like(w_star) if w0 is None else torch.as_tensor(w0, dtype=w_star.dtype, device=w_star.device)
        t = torch.arange(steps + 1, dtype=h.dtype, device=h.device)[:, None]
        factors = (1.0 - lr * h)[None, :] ** t  # [T+1, d]
        return w_star + (factors * (V.T @ (w0 - w_star))[None, :]) @ V.T

    def describe(self) -> str:
        n, d = self.X.shape
        shape = "wide" if n < d else "tall" if n > d else "square"
        return f"{self.kind or 'linear'} least squares ({shape}: n={n}, d={d}, ridge={self.ridge:g})"


# --- filter factors: ridge and early-stopped GD (the lecture's "they act alike") ----------------------
def ridge_filter(sigma: Tensor, lam: float) -> Tensor:
    """How much of each SVD direction of the OLS solution ridge keeps: ``sigma^2 / (sigma^2 + lam)``."""
    return sigma**2 / (sigma**2 + lam)


def gd_filter(sigma: Tensor, lr: float, t: int | Tensor) -> Tensor:
    """The same for GD from 0 after t steps: ``1 - (1 - 2 lr sigma^2)^t``."""
    return 1.0 - (1.0 - 2.0 * lr * sigma**2) ** t


@dataclass
class RegularizationPaths:
    """GD from 0 against the ridge path: ``gd [T+1, d]`` at ``steps``, ``ridge [L, d]`` at ``lambdas``;
    for each GD step the closest ridge solution (``nearest_lambda``, ``distance``) and the
    heuristic match ``matched_lambda = 1 / (2 lr t)`` (from ``(1 - 2 lr s^2)^t ~ exp(-2 lr t s^2)``)."""

    steps: Tensor
    gd: Tensor
    lambdas: Tensor
    ridge: Tensor
    nearest_lambda: Tensor
    distance: Tensor
    matched_lambda: Tensor


def early_stopping_vs_ridge(problem: LinearProblem, lr: float, steps: int,
                            lambdas: Sequence[float] | Tensor | None = None) -> RegularizationPaths:
    """GD's path from ``w = 0`` (closed form, on the problem without its own ridge term) and the
    ridge path over ``lambdas`` (default: 200 log-spaced values spanning the spectrum), with the
    distance from each GD iterate to the nearest point of the ridge path."""
    if not isinstance(problem, LinearProblem):
        raise LabError(f"early stopping vs ridge needs a linear problem, got {problem.kind!r}", "problem.kind")
    base = LinearProblem(X=problem.X, y=problem.y, ridge=0.0, U=problem.U, sigma=problem.sigma, V=problem.V,
                         dtype=problem.dtype, device=problem.device)
    gd = base.gd_iterates(lr, steps)
    s = problem.sigma[problem.sigma > 0]
    if lambdas is None:
        lo, hi = float(s.min() ** 2) * 1e-3, float(s.max() ** 2) * 1e3
        lambdas = torch.logspace(math.log10(lo), math.log10(hi), 200, dtype=gd.dtype)
    lambdas = torch.as_tensor(lambdas, dtype=gd.dtype)
    ridge = torch.stack([base.solution(float(lam)) for lam in lambdas])
    dist = torch.cdist(gd, ridge, compute_mode="donot_use_mm_for_euclid_dist")  # [T+1, L]; exact differences, no |a|^2 + |b|^2 - 2ab
    best = dist.argmin(dim=1)
    t = torch.arange(steps + 1, dtype=gd.dtype)
    return RegularizationPaths(steps=t, gd=gd, lambdas=lambdas, ridge=ridge, nearest_lambda=lambdas[best],
                               distance=dist.gather(1, best[:, None])[:, 0],
                               matched_lambda=torch.where(t > 0, 1.0 / (2.0 * lr * t.clamp(min=1)), torch.full_like(t, math.inf)))


# --- data -----------------------------------------------------------------------------------------
#: the largest synthetic data matrix (n x d entries, 160 MB in float64)
MAX_DATA_ENTRIES = 20_000_000


def _orthonormal(rows: int, cols: int, g: torch.Generator) -> Tensor:
    """``[rows, cols]`` with orthonormal columns, Haar-distributed (QR of a Gaussian, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(rows, cols, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def spectrum(singular_values: Sequence[float] | None, condition: float | None, r: int, sigma_max: float = 1.0) -> Tensor:
    """The singular values of ``X / sqrt(n)``: the given list, or ``r`` values log-spaced from
    ``sigma_max`` down to ``sigma_max / condition`` (``condition`` is that of X, not of H = its square)."""
    if singular_values is not None and condition is not None:
        raise LabError("give either singular_values or condition, not both", "singular_values")
    if singular_values is not None:
        if isinstance(singular_values, (int, float)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in singular_values):
            raise LabError(f"singular_values must be a list of numbers, got {singular_values!r}", "singular_values")
        s = torch.tensor([float(v) for v in singular_values], dtype=torch.float64)
        if s.numel() != r:
            raise LabError(f"singular_values needs min(n, d) = {r} values, got {s.numel()}", "singular_values")
        if not torch.isfinite(s).all() or (s < 0).any():
            raise LabError(f"singular_values must be finite and >= 0, got {singular_values!r}", "singular_values")
        return s.sort(descending=True).values
    cond = 10.0 if condition is None else condition
    if isinstance(cond, bool) or not isinstance(cond, (int, float)) or not math.isfinite(cond) or cond < 1:
        raise LabError(f"condition must be a number >= 1, got {condition!r}", "condition")
    return sigma_max * torch.logspace(0.0, -math.log10(cond), r, dtype=torch.float64) if r > 1 else torch.tensor([float(sigma_max)], dtype=torch.float64)


def synthetic(n: int = 100, d: int = 2, singular_values: Sequence[float] | None = None, condition: float | None = None,
              sigma_max: float = 1.0, noise: float = 0.0, ridge: float = 0.0, seed: int = 0,
              w_true: Sequence[float] | None = None, angle: float | None = None) -> LinearProblem:
    """Synthetic data with chosen spectrum: ``X = sqrt(n) U diag(sigma) V^T`` with Haar-random U
    from ``seed``; V Haar-random too, or, when ``angle`` is given, the identity rotated by ``angle``
    degrees (d = 2; ``angle = 0``: the singular directions are the axes, largest sigma first; for
    d > 2 only 0 is allowed). ``y = X w_true + noise * N(0, 1)``, ``w_true ~ N(0, I)`` unless given.
    ``n < d`` is a wide (underdetermined) problem, ``n > d`` a tall one."""
    for name, v in (("n", n), ("d", d)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise LabError(f"{name} must be a positive integer, got {v!r}", name)
    for name, v in (("noise", noise), ("ridge", ridge), ("sigma_max", sigma_max)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise LabError(f"{name} must be a number >= 0, got {v!r}", name)
    if n * d > MAX_DATA_ENTRIES:
        raise LabError(f"n x d = {n * d:,} entries of X is more than {MAX_DATA_ENTRIES:,} (a {8 * n * d / 1e9:.1f} GB matrix)", "n")
    r = min(n, d)
    s = spectrum(singular_values, condition, r, sigma_max)
    g = torch.Generator().manual_seed(int(seed))
    V = _orthonormal(d, d, g)
    if angle is not None:
        if isinstance(angle, bool) or not isinstance(angle, (int, float)) or (d != 2 and angle != 0):
            raise LabError(f"angle must be a number of degrees (d = 2) or 0 (any d), got {angle!r}", "angle")
        a = math.radians(angle)
        V = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64) if d == 2 else torch.eye(d, dtype=torch.float64)
    U = _orthonormal(n, r, g)
    X = math.sqrt(n) * (U * s) @ V[:, :r].T
    if w_true is None:
        w = torch.randn(d, generator=g, dtype=torch.float64)
    else:
        w = torch.as_tensor([float(v) for v in w_true], dtype=torch.float64)
        if w.shape != (d,):
            raise LabError(f"w_true needs d = {d} values, got {w.numel()}", "w_true")
    y = X @ w + float(noise) * torch.randn(n, generator=g, dtype=torch.float64)
    return LinearProblem(kind="linear", X=X, y=y, ridge=float(ridge), U=U, sigma=s, V=V, w_true=w,
                         coord_names=[f"w{i + 1}" for i in range(d)])  # the weights, named as the lessons do


def heart(ridge: float = 0.0) -> LinearProblem:
    """Least squares on the 13 raw Cleveland heart-disease columns (read by ``core.datasets.read_heart``,
    all 303 patients), each column standardized (population std) and the 0/1 target centred, so no
    intercept is needed. Categorical codes enter as numbers: a linear model of the table as it is."""
    from core.datasets import HEART_COLUMNS, read_heart

    cols = read_heart()
    names = [c for c in HEART_COLUMNS if c != "target"]
    X = torch.stack([torch.as_tensor(cols[c], dtype=torch.float64) for c in names], dim=1)
    X = (X - X.mean(dim=0)) / X.std(dim=0, unbiased=False)
    y = torch.as_tensor(cols["target"], dtype=torch.float64)
    return LinearProblem(kind="linear", X=X, y=y - y.mean(), ridge=float(ridge), coord_names=names)


def linear(data: str = "synthetic", n: int = 100, d: int = 2, singular_values: Sequence[float] | None = None,
           condition: float | None = None, sigma_max: float = 1.0, noise: float = 0.0, ridge: float = 0.0,
           seed: int = 0, w_true: Sequence[float] | None = None, angle: float | None = None) -> LinearProblem:
    """The ``[problem] kind = "linear"`` factory: ``data = "synthetic"`` (the other keys choose its
    shape and spectrum) or ``"heart"`` (only ``ridge`` applies)."""
    if data == "synthetic":
        return synthetic(n=n, d=d, singular_values=singular_values, condition=condition, sigma_max=sigma_max,
                         noise=noise, ridge=ridge, seed=seed, w_true=w_true, angle=angle)
    if data == "heart":
        given = {"n": n != 100, "d": d != 2, "singular_values": singular_values is not None, "condition": condition is not None,
                 "sigma_max": sigma_max != 1.0, "noise": noise != 0.0, "seed": seed != 0, "w_true": w_true is not None,
                 "angle": angle is not None}
        extra = [k for k, v in given.items() if v]
        if extra:
            raise LabError(f"data = 'heart' is fixed real data; only ridge applies, not {', '.join(extra)}", extra[0])
        return heart(ridge=ridge)
    raise LabError(f"unknown data {data!r}; allowed: synthetic, heart", "data")
