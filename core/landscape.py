"""Loss landscapes: 2-D slices and 1-D lines ``L(theta0 + a d1 + b d2)`` through parameter space.

Directions (all drawn on the CPU in float64 from an explicit seed, then moved to the problem's
device and dtype, so CPU and GPU slices start from the same numbers):

- ``axes``: for problems with at most two parameters, the parameter plane itself;
- ``random``: Gaussian directions, filter-normalized as in Li et al. 2018, "Visualizing the Loss
  Landscape of Neural Nets" (arXiv 1712.09913, section 4): for every parameter tensor with two or
  more dimensions, each filter (slice along the first dimension: a neuron's row of weights) of the
  direction is rescaled to the norm of the same filter of the weights,
  ``d_i <- d_i * ||w_i|| / (||d_i|| + 1e-10)``; one-dimensional tensors (biases, norm layers) are
  zeroed (``bias="zero"``, their "ignore biasbn") or copied from the weights (``bias="weights"``);
- ``pca``: the first two principal components of the trajectory ``theta_i - theta_final``
  (Li et al. section 7; centred as scikit-learn's PCA does), with their explained variance;
- ``hessian``: the top two Hessian eigenvectors at the centre (from :mod:`core.spectra`);
- ``segment``: the line from the trajectory's first point to its last (1-D interpolation,
  Goodfellow et al. 2015).

Grids are evaluated in chunks of grid points, each chunk one batched call of the problem; nets
use :meth:`core.problems.neural.NeuralProblem.loss_on_plane`, which gets the first layer's
pre-activations (affine in ``(a, b)``) from three products computed once per grid rather than a
matrix product per point. A picture of a
trajectory on a slice is a projection, so :func:`honest_projection` reports, per step, the
off-plane distance and the true loss beside the loss at the projected point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from core.errors import Cancelled, LabError  # Cancelled: raised by the grid evaluation (re-exported)
from core.problems.base import Problem
from core.problems.protocols import ModelView, ParameterLayout, PlaneEvaluator

DIRECTIONS = ("axes", "random", "pca", "hessian", "segment")
BIAS_MODES = ("zero", "weights")
SPLITS = ("train", "test")
#: bytes a chunk of grid points may occupy in its largest activation tensor. Measured on this CPU
#: (1 thread, float32): about 8 MB is the sweet spot on every net tried (heart net 541 points per
#: chunk: 12.5 ms per 101 x 101 grid vs 12.9 ms at 4 MB; moons 64 hidden on 3200 samples: 10 points
#: 88 ms vs 110 ms at 16 points per 1616; 256-256 net: 2 points 0.57 s vs 0.73 s at 16). Bigger
#: chunks fall out of the cache (32 points of the moons net: 2.5x slower).
CHUNK_BYTES = 8 << 20
#: on a GPU every call costs kernel launches and there is no CPU cache to fit: much bigger chunks
#: (a guess, not yet measured: no GPU was lent to this round)
GPU_CHUNK_BYTES = 256 << 20

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None


@dataclass(frozen=True)
class Plane:
    """The slice ``theta0 + a d1 + b d2`` (float64, CPU; ``d2`` None on a line) on the grid
    ``alphas x betas`` (``betas`` empty on a line): what :func:`plane` builds, :func:`compute_surface`
    evaluates and a distributed surface job (``core.distributed``) deals out by rows. The one plane
    type of the tree: ``axis_labels`` name the axes, ``kind`` the directions it was built from,
    ``explained`` is the PCA variance share (None otherwise), ``meta`` what the directions were
    built from (seed, normalization, eigenvalues)."""

    theta0: Tensor
    d1: Tensor
    d2: Tensor | None
    alphas: Tensor
    betas: Tensor
    axis_labels: tuple[str, str] = ("alpha", "beta")
    kind: str = "axes"
    explained: Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_line(self) -> bool:
        return self.d2 is None

    @property
    def basis(self) -> Tensor:
        """The plane's directions as columns ``[d, 1 or 2]``."""
        return self.d1[:, None] if self.is_line else torch.stack([self.d1, self.d2], dim=1)

    def point(self, coords: Tensor) -> Tensor:
        """Parameter vectors ``[..., d]`` at plane coordinates ``coords[..., 2]``."""
        coords = torch.as_tensor(coords, dtype=self.theta0.dtype)
        basis = self.basis
        return self.theta0 + coords[..., : basis.shape[1]] @ basis.T

    def project(self, thetas: Tensor) -> tuple[Tensor, Tensor]:
        """Least-squares plane coordinates ``[..., 2]`` of ``thetas[..., d]`` (second coordinate 0 on
        a line) and the distance ``[...]`` from each point to the plane (what the picture hides).
        Works for non-orthogonal directions: ``c = (D^T D)^{-1} D^T (theta - theta0)``."""
        thetas = torch.as_tensor(thetas).to(self.theta0)
        D = self.basis
        diff = thetas - self.theta0
        c = torch.linalg.solve(D.T @ D, (diff @ D).unsqueeze(-1)).squeeze(-1)
        off = (diff - c @ D.T).norm(dim=-1)
        if c.shape[-1] == 1:
            c = torch.cat([c, torch.zeros_like(c)], dim=-1)
        return c, off

    def arrays(self) -> dict[str, np.ndarray]:
        """The plane's tensors as NumPy arrays (``d2`` omitted on a line), in a fixed order."""
        return {k: getattr(self, k).detach().cpu().numpy() for k in ("theta0", "d1", "d2", "alphas", "betas")
                if getattr(self, k) is not None}

    def digest(self) -> str:
        """sha256 of the plane's float64 bytes: names one plane whatever the file it came from."""
        import hashlib

        h = hashlib.sha256()
        for name, a in self.arrays().items():
            h.update(name.encode())
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()


@dataclass(frozen=True, kw_only=True)
class Surface(Plane):
    """A computed slice: the :class:`Plane` with ``values[j, i] = L(theta0 + alphas[i] d1 + betas[j] d2)``
    (``[nb, na]``), or ``values[i]`` along a line. ``accuracy`` likewise when the problem
    classifies; ``split`` the data split it was evaluated on."""

    values: Tensor
    accuracy: Tensor | None = None
    split: str = "train"

    @classmethod
    def of(cls, plane: Plane, values: Tensor, accuracy: Tensor | None = None, split: str = "train") -> "Surface":
        """``plane`` evaluated: its values (and accuracy) on the grid."""
        return cls(**{f.name: getattr(plane, f.name) for f in fields(Plane)}, values=values, accuracy=accuracy, split=split)

    def value_at(self, coords: Tensor) -> Tensor:
        """The surface at plane coordinates ``coords[..., 2]`` by bilinear (linear on a line)
        interpolation of the grid; NaN outside it."""
        coords = torch.as_tensor(coords, dtype=torch.float64)
        vals = self.values.double().cpu()
        ia, ta, ok = _cell(self.alphas.double().cpu(), coords[..., 0])
        if self.is_line:
            out = vals[ia] * (1 - ta) + vals[ia + 1] * ta
        else:
            ib, tb, okb = _cell(self.betas.double().cpu(), coords[..., 1])
            ok = ok & okb
            out = ((vals[ib, ia] * (1 - ta) + vals[ib, ia + 1] * ta) * (1 - tb)
                   + (vals[ib + 1, ia] * (1 - ta) + vals[ib + 1, ia + 1] * ta) * tb)
        return torch.where(ok, out, torch.full_like(out, math.nan))

    def argmin(self) -> tuple[float, float]:
        """Plane coordinates of the lowest grid value."""
        flat = int(torch.nan_to_num(self.values, nan=math.inf).argmin())
        if self.is_line:
            return float(self.alphas[flat]), 0.0
        j, i = divmod(flat, self.values.shape[1])
        return float(self.alphas[i]), float(self.betas[j])

    def to_npz(self, path: str | Path) -> None:
        """Everything needed to redraw the slice (numpy arrays; ``d2`` omitted on a line)."""
        arrays = {k: getattr(self, k).detach().cpu().numpy() for k in ("alphas", "betas", "values", "d1", "theta0")}
        for k in ("accuracy", "d2", "explained"):
            if getattr(self, k) is not None:
                arrays[k] = getattr(self, k).detach().cpu().numpy()
        np.savez(path, axis_labels=np.array(self.axis_labels), kind=np.array(self.kind),
                 split=np.array(self.split), **arrays)

    @classmethod
    def from_npz(cls, path: str | Path) -> "Surface":
        import io

        from core.files import read_bounded

        # through the bounded reader (a regular file of limited size), never unpickling
        with np.load(io.BytesIO(read_bounded(path, what="landscape file")), allow_pickle=False) as f:
            t = {k: torch.from_numpy(f[k]) for k in f.files if k not in ("axis_labels", "kind", "split")}
            return cls(alphas=t["alphas"], betas=t["betas"], values=t["values"], accuracy=t.get("accuracy"),
                       axis_labels=tuple(str(s) for s in f["axis_labels"]), d1=t["d1"], d2=t.get("d2"),
                       theta0=t["theta0"], explained=t.get("explained"), kind=str(f["kind"]), split=str(f["split"]))


def _cell(grid: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Index of the grid cell holding ``x`` (ascending grid), the fraction inside it, and whether
    ``x`` is inside the grid at all."""
    n = grid.numel()
    ok = (x >= grid[0]) & (x <= grid[-1])
    i = (torch.searchsorted(grid, x.contiguous(), right=True) - 1).clamp(0, max(n - 2, 0))
    if n < 2:
        return i, torch.zeros_like(x), ok
    t = ((x - grid[i]) / (grid[i + 1] - grid[i])).clamp(0, 1)
    return i, t, ok


# -- directions -----------------------------------------------------------------------------------

def filter_normalize(direction: Tensor, weights: Tensor, shapes: Sequence[tuple[str, tuple[int, ...]]],
                     bias: str = "zero") -> Tensor:
    """Li et al. 2018's filter normalization of ``direction[d]`` against ``weights[d]``.

    Per tensor of two or more dimensions, every slice along the first dimension is scaled to the
    norm of the weights' slice (``* ||w_i|| / (||d_i|| + 1e-10)``, the reference code's epsilon);
    a 1-D tensor is zeroed (``bias="zero"``) or set to the weights (``bias="weights"``). One
    vectorized operation per tensor, no per-filter loop and no host synchronisation."""
    if bias not in BIAS_MODES:
        raise LabError(f"unknown bias mode {bias!r}; allowed: {', '.join(BIAS_MODES)}", "bias")
    sizes = [math.prod(s) for _, s in shapes]
    out = []
    for (_, shape), dp, wp in zip(shapes, direction.split(sizes), weights.split(sizes)):
        if len(shape) <= 1:
            out.append(torch.zeros_like(dp) if bias == "zero" else wp.clone())
            continue
        D, W = dp.reshape(shape[0], -1), wp.reshape(shape[0], -1)
        out.append((D * (W.norm(dim=1, keepdim=True) / (D.norm(dim=1, keepdim=True) + 1e-10))).reshape(-1))
    return torch.cat(out)


def random_directions(problem: Problem, theta0: Tensor, seed: int = 0, *, filter_normalize_: bool = True,
                      bias: str = "zero", orthogonalize: bool = False, count: int = 2) -> list[Tensor]:
    """``count`` seeded Gaussian directions ``[d]`` (float64, CPU), filter-normalized against
    ``theta0`` for nets (problems with a parameter layout ``shapes``), else scaled to unit length
    (a toy or linear model has no filters). ``orthogonalize`` applies Gram-Schmidt to the second
    (keeping its norm; its filters then no longer match the weights exactly)."""
    if bias not in BIAS_MODES:
        raise LabError(f"unknown bias mode {bias!r}; allowed: {', '.join(BIAS_MODES)}", "view.bias")
    g = torch.Generator().manual_seed(int(seed))
    w = theta0.detach().double().cpu()
    shapes = problem.shapes if isinstance(problem, ParameterLayout) else None
    dirs = []
    for _ in range(count):
        d = torch.randn(problem.dim, generator=g, dtype=torch.float64)
        d = filter_normalize(d, w, shapes, bias) if filter_normalize_ and shapes else d / d.norm()
        if not bool(d.norm() > 0):
            raise LabError("filter-normalized directions vanish at this centre (all its filters are zero); "
                           "use filter_normalize = false or another centre", "view.filter_normalize")
        dirs.append(d)
    if orthogonalize and count > 1:
        d1, d2 = dirs[0], dirs[1]
        n2 = d2.norm()
        d2 = d2 - (d2 @ d1) / (d1 @ d1) * d1
        dirs[1] = d2 * (n2 / d2.norm())
    return dirs


def pca_directions(thetas: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The first two principal directions ``[d]`` of ``theta_i - theta_final`` (rows of a
    trajectory ``thetas[T, d]``, centred over the rows as scikit-learn's PCA does, as in Li et al.
    section 7) and the explained-variance ratios ``[2]``. Signs are chosen so that the start of
    the trajectory has positive coordinates."""
    thetas = torch.as_tensor(thetas, dtype=torch.float64).cpu()
    if thetas.ndim != 2 or thetas.shape[0] < 3:
        raise LabError(f"PCA directions need a trajectory of at least 3 points [T, d]; got shape {tuple(thetas.shape)}", "view.directions")
    M = thetas - thetas[-1]
    M = M - M.mean(dim=0)
    _, S, Vh = torch.linalg.svd(M, full_matrices=False)
    var = S**2
    if not bool(var.sum() > 0):
        raise LabError("PCA directions need a trajectory that moves", "view.directions")
    dirs = []
    for k in range(2):
        v = Vh[k] if k < Vh.shape[0] else torch.zeros(thetas.shape[1], dtype=torch.float64)
        sign = 1.0 if float((thetas[0] - thetas[-1]) @ v) >= 0 else -1.0
        dirs.append(sign * v)
    explained = (var / var.sum())[:2]
    return dirs[0], dirs[1], torch.nn.functional.pad(explained, (0, 2 - explained.numel()))


def hessian_directions(problem: Problem, theta0: Tensor, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """The eigenvectors of the two largest Hessian eigenvalues at ``theta0`` and those eigenvalues."""
    from core.spectra import hessian_eigen

    res = hessian_eigen(problem, theta0.to(problem.device, problem.dtype), k=2, which="top", seed=seed)
    vals = torch.as_tensor(res.eigenvalues).double().cpu()
    vecs = torch.as_tensor(res.eigenvectors).double().cpu()
    order = torch.argsort(vals, descending=True)
    return vecs[:, order[0]], vecs[:, order[1]], vals[order]


# -- grids ----------------------------------------------------------------------------------------

def _auto_chunk(problem: Problem, n_points: int, split: str) -> int:
    """Grid points per chunk so that the largest activation tensor stays near CHUNK_BYTES."""
    if isinstance(problem, PlaneEvaluator):
        per_point = problem.plane_point_size(split)
    else:
        per_point = problem.dim * 8 + max(problem.n_samples or 1, 1)
    budget = CHUNK_BYTES if problem.device.type == "cpu" else GPU_CHUNK_BYTES
    return max(1, min(n_points, budget // max(per_point * problem.dtype.itemsize, 1)))


def _losses(problem: Problem, theta0: Tensor, d1: Tensor, d2: Tensor | None, coords: Tensor,
            split: str, workspace: dict, accuracy: bool) -> tuple[Tensor, Tensor | None]:
    """Loss (and accuracy) ``[G]`` at the plane points ``coords[G, 2]``: one batched call."""
    if isinstance(problem, PlaneEvaluator):
        return problem.loss_on_plane(theta0, d1, d2, coords, split, workspace=workspace, accuracy=accuracy)
    pts = theta0 + coords[:, :1] * d1 + (coords[:, 1:2] * d2 if d2 is not None else 0)
    if isinstance(problem, ModelView):
        loss, acc = problem.evaluate(pts, split)
        return loss, acc if accuracy else None
    if split != "train":
        raise LabError(f"problem {problem.kind!r} has no test split", "view.split")
    return problem.loss(pts), None


def evaluate_grid(problem: Problem, theta0: Tensor, d1: Tensor, d2: Tensor | None, alphas: Tensor,
                  betas: Tensor | None, *, chunk: int | None = None, progress: Progress = None,
                  cancel: Cancel = None, split: str = "train", accuracy: bool = True) -> tuple[Tensor, Tensor | None]:
    """Loss ``[nb, na]`` (``[na]`` on a line) and accuracy (None for regression, or when not asked
    for) on the grid, on the problem's device and dtype, in chunks of ``chunk`` grid points
    (automatic by default). ``progress(done, total)`` is called after each chunk, ``cancel()``
    checked before each (raises :class:`Cancelled`)."""
    if split not in SPLITS:
        raise LabError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}", "view.split")
    dev, dt = problem.device, problem.dtype
    theta0, d1 = theta0.to(dev, dt), d1.to(dev, dt)
    line = d2 is None or betas is None or betas.numel() == 0
    d2 = None if line else d2.to(dev, dt)
    alphas = torch.as_tensor(alphas).to(dev, dt)
    if line:
        coords = torch.stack([alphas, torch.zeros_like(alphas)], dim=1)
        shape: tuple[int, ...] = (alphas.numel(),)
    else:
        betas = torch.as_tensor(betas).to(dev, dt)
        B, A = torch.meshgrid(betas, alphas, indexing="ij")
        coords = torch.stack([A.reshape(-1), B.reshape(-1)], dim=1)
        shape = (betas.numel(), alphas.numel())
    total = coords.shape[0]
    chunk = chunk or _auto_chunk(problem, total, split)
    if chunk < 1:
        raise LabError(f"chunk must be a positive number of grid points, got {chunk!r}", "chunk")
    values = torch.empty(total, device=dev, dtype=dt)
    acc: Tensor | None = None
    workspace: dict = {}  # what a problem keeps between the chunks of this one grid
    with torch.no_grad():
        for start in range(0, total, chunk):
            if cancel is not None and cancel():
                raise Cancelled(f"grid cancelled after {start} of {total} points")
            loss, a = _losses(problem, theta0, d1, d2, coords[start:start + chunk], split, workspace, accuracy)
            values[start:start + chunk] = loss
            if a is not None:
                if acc is None:
                    acc = torch.empty(total, device=dev, dtype=dt)
                acc[start:start + chunk] = a
            if progress is not None:
                progress(min(start + chunk, total), total)
    return values.reshape(shape), None if acc is None else acc.reshape(shape)


def evaluate_plane(problem: Problem, theta0: Tensor, d1: Tensor, d2: Tensor | None, alphas: Tensor,
                   betas: Tensor | None, chunk: int | None = None, progress: Progress = None,
                   cancel: Cancel = None, split: str = "train") -> Tensor:
    """Loss ``[nb, na]`` at ``theta0 + alphas[i] d1 + betas[j] d2`` (``[na]`` when ``d2`` is None or
    ``betas`` empty); see :func:`evaluate_grid`."""
    return evaluate_grid(problem, theta0, d1, d2, alphas, betas, chunk=chunk, progress=progress,
                         cancel=cancel, split=split, accuracy=False)[0]


def _resolution(resolution: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(resolution, int) and not isinstance(resolution, bool):
        na = nb = resolution
    elif isinstance(resolution, (list, tuple)) and len(resolution) == 2 and all(isinstance(r, int) and not isinstance(r, bool) for r in resolution):
        na, nb = resolution
    else:
        raise LabError(f"resolution must be a count or [na, nb], got {resolution!r}", "view.resolution")
    if min(na, nb) < 2:
        raise LabError(f"resolution needs at least 2 points per axis, got {resolution!r}", "view.resolution")
    return na, nb


def _span(span: Sequence[Sequence[float]] | None, default: list[list[float]], axes: int) -> list[list[float]]:
    span = [list(map(float, s)) for s in span] if span is not None else default
    if len(span) == 1 and axes == 2:
        span = span * 2
    if len(span) < axes or any(len(s) != 2 or not s[0] < s[1] for s in span[:axes]):
        raise LabError(f"span must be {axes} increasing [low, high] pair(s), got {span!r}", "view.span")
    return span[:axes]


def _trajectory(thetas: Tensor | None, d: int, what: str) -> Tensor:
    if thetas is None:
        raise LabError(f"directions = {what!r} needs a trajectory (thetas [T, d])", "view.directions")
    thetas = torch.as_tensor(thetas, dtype=torch.float64).cpu()
    if thetas.ndim != 2 or thetas.shape[1] != d:
        raise LabError(f"the trajectory must be [T, {d}], got {tuple(thetas.shape)}", "view.trajectory")
    keep = torch.isfinite(thetas).all(dim=1)
    return thetas[keep]


def plane(problem: Problem, *, directions: str = "axes", center: Tensor | None = None,
          span: list[list[float]] | None = None, resolution: int | Sequence[int] = 101, seed: int = 0,
          filter_normalize: bool = True, bias: str = "zero", orthogonalize: bool = False,
          thetas: Tensor | None = None) -> Plane:
    """The plane (or line) :func:`compute_surface` slices, without evaluating it: directions,
    centre, span and grid axes (arguments as there). A distributed job builds it once and deals
    the rows out."""
    if directions not in DIRECTIONS:
        from core.errors import suggest

        raise LabError(f"unknown directions {directions!r}{suggest(directions, DIRECTIONS)}; allowed: {', '.join(DIRECTIONS)}", "view.directions")
    d = problem.dim
    na, nb = _resolution(resolution)
    explained = None
    meta: dict[str, Any] = {"seed": int(seed)}
    f64 = dict(dtype=torch.float64)

    def centre(default: Tensor | None) -> Tensor:
        if center is not None:
            c = torch.as_tensor(center, **f64).cpu().reshape(-1)
            if c.numel() != d:
                raise LabError(f"center has {c.numel()} coordinates, the problem {d}", "view.center")
            return c
        if default is not None:
            return default
        init = problem.initial_point(seed)
        if init is not None:
            return init.double().cpu()
        if problem.minima is not None:
            return problem.minima[0].double().cpu()
        return torch.zeros(d, **f64)

    traj = _trajectory(thetas, d, directions) if thetas is not None or directions in ("pca", "segment") else None
    if directions == "axes":
        if d > 2:
            raise LabError(f"directions = 'axes' needs at most 2 parameters; {problem.kind!r} has {d} (use random, pca, hessian or segment)", "view.directions")
        theta0 = torch.zeros(d, **f64)
        eye = torch.eye(d, **f64)
        d1, d2 = eye[0], (eye[1] if d == 2 else None)
        box = [list(map(float, b)) for b in problem.box] or [[-3.0, 3.0]] * d
        sp = _span(span, box, d)
        names = list(problem.coord_names) + ["", ""]
        labels = (names[0], names[1] if d == 2 else "")
    elif directions == "segment":
        theta0 = centre(traj[0])
        end = traj[-1]
        d1, d2 = end - theta0, None
        if not bool(d1.norm() > 0):
            raise LabError("the segment's end points coincide", "view.directions")
        sp = _span(span, [[-0.5, 1.5]], 1)
        labels = ("t (0 = start, 1 = end)", "")
    elif directions == "pca":
        d1, d2, explained = pca_directions(traj)
        theta0 = centre(traj[-1])
        c, _ = Plane(theta0, d1, d2, torch.zeros(0), torch.zeros(0)).project(traj)
        lo, hi = c.min(dim=0).values, c.max(dim=0).values
        pad = 0.2 * (hi - lo).clamp_min(1e-12)
        sp = _span(span, [[float(lo[k] - pad[k]), float(hi[k] + pad[k])] for k in range(2)], 2)
        labels = tuple(f"PC{k + 1} ({100 * float(explained[k]):.1f}% of variance)" for k in range(2))
    elif directions == "random":
        theta0 = centre(traj[-1] if traj is not None else None)
        d1, d2 = random_directions(problem, theta0, seed, filter_normalize_=filter_normalize, bias=bias,
                                   orthogonalize=orthogonalize)
        sp = _span(span, [[-1.0, 1.0], [-1.0, 1.0]], 2)
        normalized = bool(filter_normalize and isinstance(problem, ParameterLayout) and problem.shapes)
        tag = "filter-normalized " if normalized else "unit "
        labels = (f"{tag}random direction 1", f"{tag}random direction 2")
        meta.update(filter_normalize=normalized, bias=bias, orthogonalize=bool(orthogonalize))
    else:  # hessian
        theta0 = centre(traj[-1] if traj is not None else None)
        d1, d2, vals = hessian_directions(problem, theta0, seed)
        sp = _span(span, [[-1.0, 1.0], [-1.0, 1.0]], 2)
        labels = (f"Hessian eigenvector 1 (lambda = {float(vals[0]):.4g})", f"Hessian eigenvector 2 (lambda = {float(vals[1]):.4g})")
        meta["eigenvalues"] = vals.tolist()
    alphas = torch.linspace(sp[0][0], sp[0][1], na, **f64)
    betas = torch.linspace(sp[1][0], sp[1][1], nb, **f64) if d2 is not None else torch.zeros(0, **f64)
    return Plane(theta0, d1, d2, alphas, betas, labels, directions, explained, meta)


def compute_surface(problem: Problem, *, directions: str = "axes", center: Tensor | None = None,
                    span: list[list[float]] | None = None, resolution: int | Sequence[int] = 101, seed: int = 0,
                    filter_normalize: bool = True, bias: str = "zero", orthogonalize: bool = False,
                    thetas: Tensor | None = None, split: str = "train", progress: Progress = None,
                    cancel: Cancel = None, chunk: int | None = None, accuracy: bool = True) -> Surface:
    """A slice of ``problem``'s loss on its current device and dtype (see the module docstring).

    The centre is ``center`` if given, else the trajectory's last point (``pca``, ``random``,
    ``hessian`` with ``thetas``), its first (``segment``), the problem's initial point (nets) or
    its first known minimum. Default spans: the problem's box (``axes``), ``[-1, 1]^2`` (random and
    Hessian directions, in units of the direction), the trajectory's extent plus a 20 % margin
    (``pca``), ``[-0.5, 1.5]`` (``segment``: 0 is the start, 1 the end). ``accuracy=False`` skips
    the accuracy surface."""
    pl = plane(problem, directions=directions, center=center, span=span, resolution=resolution, seed=seed,
               filter_normalize=filter_normalize, bias=bias, orthogonalize=orthogonalize, thetas=thetas)
    values, acc = evaluate_grid(problem, pl.theta0, pl.d1, pl.d2, pl.alphas, pl.betas, chunk=chunk, progress=progress,
                                cancel=cancel, split=split, accuracy=accuracy)
    return Surface.of(pl, values.cpu(), None if acc is None else acc.cpu(), split)


# -- honest projections ---------------------------------------------------------------------------

@dataclass
class Projection:
    """A trajectory seen on a slice, with what the picture hides: per step the plane coordinates,
    the distance to the plane, the true loss at ``theta_t``, the exact loss at the projected point
    ``theta0 + c1 d1 + c2 d2`` and the surface's interpolated value there (NaN off the grid)."""

    coords: Tensor
    off_plane: Tensor
    true_loss: Tensor
    plane_loss: Tensor
    surface_value: Tensor

    def table(self) -> "Any":
        import pandas as pd

        return pd.DataFrame({"step": np.arange(len(self.off_plane)), "a": self.coords[:, 0].numpy(),
                             "b": self.coords[:, 1].numpy(), "off_plane": self.off_plane.numpy(),
                             "true_loss": self.true_loss.numpy(), "plane_loss": self.plane_loss.numpy(),
                             "surface_value": self.surface_value.numpy()})


def honest_projection(problem: Problem, surface: Surface, thetas: Tensor, split: str | None = None) -> Projection:
    """Projects ``thetas[T, d]`` onto ``surface``'s plane and evaluates both the true loss and the
    loss at the projected points (one batched call each), so a view can show the gap."""
    thetas = torch.as_tensor(thetas, dtype=torch.float64).cpu()
    coords, off = surface.project(thetas)
    split = split or surface.split
    dev, dt = problem.device, problem.dtype

    def losses(pts: Tensor) -> Tensor:
        pts = pts.to(dev, dt)
        out = problem.evaluate(pts, split)[0] if isinstance(problem, ModelView) else problem.loss(pts)
        return out.double().cpu()

    with torch.no_grad():
        true, flat = losses(thetas), losses(surface.point(coords))
    return Projection(coords=coords, off_plane=off, true_loss=true, plane_loss=flat,
                      surface_value=surface.value_at(coords))
