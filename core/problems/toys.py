"""Analytic toy losses from the lectures and the optimization literature.

Each factory returns a :class:`Problem` whose ``loss`` maps ``theta[B, d]`` to ``[B]``; known
minima are computed here (roots of the derivative), not quoted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from core.errors import LabError
from core.problems.base import Problem
from core.problems.formula import compile_formula, infer_variables


@dataclass(frozen=True, eq=False)
class AnalyticProblem(Problem):
    """A toy given by a closed-form function ``fn(theta[B, d]) -> [B]``."""

    fn: Callable[[Tensor], Tensor] | None = field(default=None, repr=False)

    def loss(self, theta: Tensor, batch: Tensor | None = None) -> Tensor:
        return self.fn(theta)


def _tensor(x: Sequence[Sequence[float]] | Sequence[float]) -> Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _real_roots(coeffs: Sequence[float]) -> np.ndarray:
    r = np.roots(coeffs)
    return np.sort(r[np.abs(r.imag) < 1e-9].real)


def quartic() -> Problem:
    """The lecture's quartic ``g(w) = (w^4 + w^2 + 10 w) / 50``: one minimum at ``w* ~ -1.2348``
    (root of ``4 w^3 + 2 w + 10``), ``g(w*) ~ -0.16997``; ``g''(w*) ~ 0.406`` so the local step
    limit is ``2 / g''(w*) ~ 4.93``, yet from ``w = 2.5`` a far smaller learning rate diverges."""
    w_star = _real_roots([4.0, 0.0, 2.0, 10.0])[0]
    g = lambda w: (w**4 + w**2 + 10 * w) / 50  # noqa: E731
    return AnalyticProblem(kind="quartic", dim=1, coord_names=["w"], fn=lambda t: g(t[:, 0]),
                           minima=_tensor([[w_star]]), loss_star=float(g(w_star)), box=[(-3.0, 3.0)])


def bowl() -> Problem:
    """The lecture's bowl ``g(w1, w2) = w1^2 + w2^2 + 2``; GD gives ``w_k = (1 - 2 lr)^k w_0``."""
    # a quadratic 0.5 w^T (2 I) w + 2, so that core.theory knows its Hessian (issue 12: the bowl had
    # no predicted curve while the lesson is about its rate |1 - 2 lr|)
    return QuadraticProblem(kind="bowl", dim=2, coord_names=["w1", "w2"], A=2.0 * torch.eye(2, dtype=torch.float64),
                            center=_tensor([0.0, 0.0]), offset=2.0, eigenvalues=_tensor([2.0, 2.0]),
                            eigenvectors=torch.eye(2, dtype=torch.float64),
                            minima=_tensor([[0.0, 0.0]]), loss_star=2.0, box=[(-3.0, 3.0)] * 2)


def rotation_matrix(dim: int, angle: float = 0.0, seed: int | None = None) -> Tensor:
    """2-D: rotation by ``angle`` degrees. d > 2: a Haar-random orthogonal matrix from ``seed``
    (QR of a Gaussian, signs fixed), or the identity when ``seed`` is None."""
    if dim == 2:
        a = math.radians(angle)
        return _tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    if seed is None or dim == 1:
        return torch.eye(dim, dtype=torch.float64)
    g = torch.Generator().manual_seed(int(seed))
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


#: the most eigenvalues a quadratic takes (its Hessian is a dense d x d matrix: 128 MB at 4096)
MAX_QUADRATIC_DIM = 4096


def quadratic(eigenvalues: Sequence[float] = (1.0, 10.0), angle: float = 0.0,
              center: Sequence[float] | None = None, offset: float = 0.0,
              rotation_seed: int | None = None) -> Problem:
    """``f(w) = 0.5 (w - c)^T A (w - c) + offset`` with ``A = R diag(eigenvalues) R^T``.

    ``R`` rotates by ``angle`` degrees in 2-D (the eigenvectors are the rotated axes) or is a seeded
    random orthogonal matrix for d > 2. Negative eigenvalues make a saddle (no minimum)."""
    eig = [float(e) for e in _list("eigenvalues", eigenvalues)]
    if not eig:
        raise LabError("needs at least one eigenvalue", "eigenvalues")
    dim = len(eig)
    if dim > MAX_QUADRATIC_DIM:
        raise LabError(f"{dim} eigenvalues is more than {MAX_QUADRATIC_DIM} (the Hessian is stored dense: d x d)", "eigenvalues")
    c = _tensor(center if center is not None else [0.0] * dim)
    if c.shape != (dim,):
        raise LabError(f"center has {c.numel()} entries but there are {dim} eigenvalues", "center")
    R = rotation_matrix(dim, angle, rotation_seed)
    A = R @ torch.diag(_tensor(eig)) @ R.T
    A = 0.5 * (A + A.T)
    prob = QuadraticProblem(kind="quadratic", dim=dim, A=A, center=c, offset=float(offset),
                            eigenvalues=_tensor(eig), eigenvectors=R,
                            minima=c[None] if min(eig) > 0 else None,
                            saddles=c[None] if min(eig) < 0 < max(eig) else None,
                            loss_star=float(offset) if min(eig) >= 0 else None,
                            box=[(float(ci) - 3.0, float(ci) + 3.0) for ci in c.tolist()[:2]],
                            coord_names=["w1", "w2"] if dim == 2 else [])
    return prob


@dataclass(frozen=True, eq=False)
class QuadraticProblem(Problem):
    """``0.5 (w - c)^T A (w - c) + offset``; keeps ``A`` and its eigen-decomposition for theory
    (a :class:`core.problems.protocols.ConstantHessian`)."""

    A: Tensor | None = None
    center: Tensor | None = None
    offset: float = 0.0
    eigenvalues: Tensor | None = None
    eigenvectors: Tensor | None = None

    def loss(self, theta: Tensor, batch: Tensor | None = None) -> Tensor:
        e = theta - self.center
        return 0.5 * ((e @ self.A) * e).sum(dim=1) + self.offset

    def eigenbasis(self) -> tuple[Tensor, Tensor]:
        """``(eigenvalues [d], eigenvectors [d, d])`` of ``A``, paired column by column (those it was
        built from; ``eigh`` of ``A`` when it was given without them)."""
        if self.eigenvalues is not None and self.eigenvectors is not None:
            return self.eigenvalues, self.eigenvectors
        return torch.linalg.eigh(self.A)

    def stationary_point(self) -> Tensor:
        """The centre ``c``: the minimum, or the saddle when an eigenvalue is negative."""
        return self.center


def multimin(dim: int = 1) -> Problem:
    """Two wells of different depth, for "SGD noise can escape a local minimum".

    1-D: ``h(x) = x^4/4 - x^2 + 0.4 x + 1`` has a shallow local minimum near ``x ~ 1.30`` and the
    global one near ``x ~ -1.505`` (roots of ``h'(x) = x^3 - 2x + 0.4``); 2-D adds ``y^2 / 2``."""
    if dim not in (1, 2):
        raise LabError(f"dim must be 1 or 2, got {dim!r}", "dim")
    h = lambda x: 0.25 * x**4 - x**2 + 0.4 * x + 1.0  # noqa: E731
    roots = _real_roots([1.0, 0.0, -2.0, 0.4])  # h'(x) = x^3 - 2x + 0.4
    wells = [r for r in roots if 3 * r * r - 2 > 0]  # h'' > 0
    glob = min(wells, key=h)
    shallow = [r for r in wells if r != glob]
    hump = [r for r in roots if 3 * r * r - 2 < 0]  # h'' < 0: the maximum between the wells
    if dim == 1:
        return AnalyticProblem(kind="multimin", params={"dim": 1}, dim=1, coord_names=["x"],
                               fn=lambda t: h(t[:, 0]), minima=_tensor([[glob]]),
                               local_minima=_tensor([[r] for r in shallow]) if shallow else None,
                               loss_star=float(h(glob)), box=[(-2.5, 2.5)])
    return AnalyticProblem(kind="multimin", params={"dim": 2}, dim=2, coord_names=["x", "y"],
                           fn=lambda t: h(t[:, 0]) + 0.5 * t[:, 1] ** 2,
                           minima=_tensor([[glob, 0.0]]), loss_star=float(h(glob)),
                           local_minima=_tensor([[r, 0.0] for r in shallow]) if shallow else None,
                           saddles=_tensor([[r, 0.0] for r in hump]) if hump else None,
                           box=[(-2.5, 2.5), (-2.0, 2.0)])


def local_minima_multimin() -> list[float]:
    """Both wells' x positions of :func:`multimin` (global first): for expectations and tests."""
    h = lambda x: 0.25 * x**4 - x**2 + 0.4 * x + 1.0  # noqa: E731
    roots = _real_roots([1.0, 0.0, -2.0, 0.4])
    return sorted([float(r) for r in roots if 3 * r * r - 2 > 0], key=h)


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Problem:
    """``(a - x)^2 + b (y - x^2)^2``; minimum at ``(a, a^2)`` in a curved, flat-bottomed valley."""
    a, b = float(a), float(b)
    if b <= 0:
        raise LabError(f"b must be > 0, got {b}", "b")
    return AnalyticProblem(kind="rosenbrock", dim=2, coord_names=["x", "y"],
                           fn=lambda t: (a - t[:, 0]) ** 2 + b * (t[:, 1] - t[:, 0] ** 2) ** 2,
                           minima=_tensor([[a, a * a]]), loss_star=0.0,
                           box=[(-2.0, 2.0), (-1.0, 3.0)])


def himmelblau() -> Problem:
    """``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``: four global minima of value 0 (three found by
    Newton from the textbook approximations, one exact at (3, 2))."""
    f = lambda t: (t[:, 0] ** 2 + t[:, 1] - 11) ** 2 + (t[:, 0] + t[:, 1] ** 2 - 7) ** 2  # noqa: E731
    guesses = _tensor([[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126]])
    minima = torch.stack([_newton(f, g) for g in guesses])
    return AnalyticProblem(kind="himmelblau", dim=2, coord_names=["x", "y"], fn=f, minima=minima,
                           loss_star=0.0, box=[(-5.0, 5.0)] * 2)


def _newton(f: Callable[[Tensor], Tensor], x: Tensor, iters: int = 20) -> Tensor:
    scalar = lambda v: f(v[None])[0]  # noqa: E731
    for _ in range(iters):
        g = torch.func.grad(scalar)(x)
        H = torch.func.hessian(scalar)(x)
        x = x - torch.linalg.solve(H, g)
    return x


def rastrigin(dim: int = 2, A: float = 10.0) -> Problem:
    """``A d + sum(x_i^2 - A cos(2 pi x_i))``: a lattice of local minima, global 0 at the origin."""
    if not isinstance(dim, int) or dim < 1:
        raise LabError(f"dim must be a positive integer, got {dim!r}", "dim")
    A = float(A)
    return AnalyticProblem(kind="rastrigin", dim=dim,
                           fn=lambda t: A * t.shape[1] + (t**2 - A * torch.cos(2 * math.pi * t)).sum(dim=1),
                           minima=torch.zeros(1, dim, dtype=torch.float64), loss_star=0.0,
                           box=[(-5.12, 5.12)] * min(dim, 2),
                           coord_names=["x", "y"] if dim == 2 else [])


def formula(expr: str, variables: Sequence[str] | None = None,
            box: Sequence[Sequence[float]] | None = None,
            minima: Sequence[Sequence[float]] | None = None, loss_star: float | None = None,
            saddles: Sequence[Sequence[float]] | None = None) -> Problem:
    """A user-typed loss of the parameters (see :mod:`core.problems.formula` for the grammar).
    ``variables`` fixes their order (default: inferred, ``w, x, y, z`` first); ``saddles`` are
    marked on the landscape."""
    names = list(variables) if variables is not None else infer_variables(expr)
    fn = compile_formula(expr, names)  # structural errors first, with their own message
    if not names:
        raise LabError(f"formula {expr!r} uses no variable; write it in terms of e.g. x and y", "expr")
    dim = len(names)
    probe = torch.zeros(1, dim, dtype=torch.float64)
    try:
        out = fn(probe)
    except RuntimeError as exc:
        raise LabError(f"formula {expr!r} cannot be evaluated: {exc}", "expr") from None
    if out.shape != (1,):
        raise LabError(f"formula {expr!r} does not give one number per point", "expr")
    m = _tensor(minima) if minima is not None else None
    if m is not None and (m.ndim != 2 or m.shape[1] != dim):
        raise LabError(f"minima must be a list of points with {dim} coordinates", "minima")
    sd = _tensor(saddles) if saddles is not None else None
    if sd is not None and (sd.ndim != 2 or sd.shape[1] != dim):
        raise LabError(f"saddles must be a list of points with {dim} coordinates", "saddles")
    return AnalyticProblem(kind="formula", dim=dim, coord_names=names, fn=fn, minima=m, saddles=sd,
                           loss_star=None if loss_star is None else float(loss_star),
                           box=[tuple(map(float, b)) for b in box] if box else [(-3.0, 3.0)] * min(dim, 2))


def _list(name: str, value: object) -> list:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise LabError(f"expected a list of numbers, got {value!r}", name)
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise LabError(f"expected a list of numbers, got {value!r}", name)
    return list(value)


#: the analytic toys (no data, cheap to evaluate), part of the registry :data:`core.problems.PROBLEMS`
TOYS = {
    "quartic": quartic, "bowl": bowl, "quadratic": quadratic, "multimin": multimin,
    "rosenbrock": rosenbrock, "himmelblau": himmelblau, "rastrigin": rastrigin, "formula": formula,
}
