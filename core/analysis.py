"""What the panels draw, as NumPy arrays: a :class:`core.scenario.Result` unpacked once per run,
inside the worker (:func:`run_view`), so drawing a frame costs no torch call.

Every number comes from core: the run's tensors, ``Surface.project`` for nets,
``Problem.distance_to_minimum``, ``core.theory`` for predicted rates, and the analyses below, each
batched and bounded: tangents and derivative curves of 1-D problems, the eigen panel's spectra
along the run (:class:`Spectra`: Hessian eigenvalues at the recorded iterates, iteration-matrix
eigenvalues per trajectory, ``core.stability`` limits), the model panel's predictions and ReLU
elbows (:class:`ModelArrays`) and the known minima. Panels index these arrays by step and never
touch tensors, so drawing a frame costs no torch call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import Cancelled

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
SERIES_NAMES = {"loss": "loss", "gap": "loss - loss*", "distance": "distance to the nearest minimum"}


@dataclass
class RunView:
    labels: list[str]
    entry: list[str]
    kinds: list[str]
    hyper: list[dict[str, float]]
    colors: list[str]
    steps: int
    dim: int
    coord_names: list[str]
    coords: np.ndarray | None  # [T+1, B, k] where the landscape draws each iterate (k = 1 or 2)
    off_plane: np.ndarray | None  # [T+1, B] distance from the plotted plane (nets), else None
    plane_value: np.ndarray | None  # [T+1, B] the surface's value where the iterate is drawn (nets), else None
    loss: np.ndarray  # [T+1, B]
    series: np.ndarray  # [T+1, B], what the convergence panel plots
    series_kind: str
    last: np.ndarray  # [B] last drawn step
    diverged: np.ndarray  # [B] bool
    grad: np.ndarray | None = None  # [T+1, B, d] for 1-D problems (the tangent in the lecture's picture)
    curve_grad: np.ndarray | None = None  # 1-D problems: g'(w) on the surface's grid
    theory: dict[int, np.ndarray] = field(default_factory=dict)  # trajectory -> predicted series [T+1]
    #: trajectory -> the per-step rate of ITS predicted series (``series_kind``'s units: the gap's is
    #: the square of the distance's), from the modes its start excites (``core.theory.excited_rate``)
    rates: dict[int, float] = field(default_factory=dict)
    #: trajectory -> the worst-case rate over every direction (``result.theory``'s predicted_rate, the
    #: spectral radius, distance units): what the start does not excite is no part of ``rates``
    worst_rates: dict[int, float] = field(default_factory=dict)
    modes: dict[int, "Modes"] = field(default_factory=dict)  # trajectory -> per-mode error (:func:`mode_curves`)
    minima: np.ndarray | None = None  # [m, 2] known minima as the landscape draws them: (x, y), or (w, g(w)) in 1-D
    local_minima: np.ndarray | None = None  # [m, 2] other local minima (Problem.local_minima), drawn like ``minima``
    saddles: np.ndarray | None = None  # [m, 2] known saddles (Problem.saddles), drawn like ``minima``
    spectra: "Spectra | None" = None  # what the eigen panel draws (:func:`spectra`)
    model: "ModelArrays | None" = None  # what the model panel draws (:func:`model_view`), None when it has nothing
    model_note: str = ""  # why there is no model view
    #: [T+1, B] the loss on the held-out split (nets with a test split), drawn beside the training
    #: loss when the convergence panel shows the loss; None otherwise
    held_out: np.ndarray | None = None
    #: [T+1, B, L] the norm of the used gradient per layer (nets; Run.layer_grad_norm) and the layers' names
    layer_grad_norm: np.ndarray | None = None
    layer_names: list[str] = field(default_factory=list)
    #: [B] training samples one step of each trajectory uses (its minibatch size, or n for full
    #: batch): the convergence panel's "per sample" x-axis; None for problems without data
    samples_per_step: np.ndarray | None = None
    phase: "Phase | None" = None  # what the phase panel draws (:func:`phase`), None when it has nothing
    phase_note: str = ""  # why there is no phase diagram
    #: optimizer entry label -> [rows, T] its scheduled learning rate lr_t (t = 0 .. T-1, the rate
    #: of the update from step t), from core.scenario.build.lr_curves; empty without schedules
    lr_curves: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.labels)

    @staticmethod
    def from_result(result: Any, spec: dict | None = None) -> "RunView":
        run = result.run
        problem = run.problem
        spec = spec or {}
        colors = [c or PALETTE[i % len(PALETTE)] for i, c in enumerate(run.colors)]
        thetas = run.thetas
        loss = run.loss.numpy()
        coords = off = grad = plane = None
        if thetas is not None:
            if problem.dim <= 2:
                coords = thetas.numpy()
            elif result.surface is not None and hasattr(result.surface, "project"):
                c, o = result.surface.project(thetas)
                coords, off = np.asarray(c), np.asarray(o)
                plane = np.asarray(result.surface.value_at(c))
            if problem.dim == 1:
                flat = thetas.reshape(-1, 1).to(problem.device, problem.dtype)
                ok = flat.isfinite().all(dim=1)
                g = np.full(flat.shape, np.nan)
                if bool(ok.any()):
                    g[ok.cpu().numpy()] = problem.loss_and_grad(flat[ok])[1].cpu().numpy()
                grad = g.reshape(thetas.shape)
        curve_grad = None
        if problem.dim == 1 and result.surface is not None:
            w = _tensor(result.surface.alphas).reshape(-1, 1).to(problem.device, problem.dtype)
            curve_grad = problem.loss_and_grad(w)[1][:, 0].cpu().numpy()
        from core import metrics  # the one definition of the series and of the default (core/metrics.py)

        kind = metrics.resolve(problem, (spec.get("view") or {}).get("convergence"), thetas is not None)
        series = metrics.series(run, kind).numpy()
        last = np.array([run.last_step(i) for i in range(run.size)], dtype=int)
        view = RunView(labels=list(run.labels), entry=list(run.entry), kinds=list(run.kinds), hyper=list(run.hyper),
                       colors=colors, steps=int(run.steps), dim=problem.dim, coord_names=list(problem.coord_names),
                       coords=coords, off_plane=off, plane_value=plane, loss=loss, series=np.asarray(series, dtype=float), series_kind=kind,
                       last=last, diverged=run.diverged_step.numpy() >= 0, grad=grad, curve_grad=curve_grad,
                       held_out=run.test_loss.numpy() if run.test_loss is not None and kind == "loss" else None)
        if run.layer_grad_norm is not None:
            view.layer_grad_norm, view.layer_names = run.layer_grad_norm.numpy(), list(run.layer_names)
        if run.samples_seen is not None and run.steps >= 1:
            view.samples_per_step = run.samples_seen[1].numpy().astype(float)
        view.theory, view.rates, view.worst_rates, view.modes = _theory(result, view)
        from core.scenario.build import lr_curves  # noqa: PLC0415 (build imports the engine, which the views need not)

        scenario = getattr(result, "scenario", None)  # a bare result (a run and a surface) has no schedules
        view.lr_curves = {} if scenario is None else {k: v.numpy() for k, v in lr_curves(scenario).items()}
        return view


#: the per-mode view shows at most this many eigendirections (spread over the excited spectrum)
MAX_MODES = 8


@dataclass
class Modes:
    """The error along Hessian eigenvectors ``q_j`` (Goh, "Why Momentum Really Works", Distill 2017)
    of one trajectory on a quadratic or least squares: ``h [m]`` the eigenvalues of the directions
    shown (at most :data:`MAX_MODES`, largest first), ``measured [T+1, m]`` ``q_j . (w_t - w*)`` of
    the run, ``predicted [T+1, m]`` the same from ``core.theory.predict``, ``rates [m]`` the
    per-step factor of each (``max |z|`` of that direction's iteration matrix)."""

    h: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    rates: np.ndarray


def mode_indices(h: np.ndarray, e0: np.ndarray, cap: int = MAX_MODES) -> np.ndarray:
    """Which eigendirections the per-mode view shows: those the start excites
    (``|e0_j| > core.theory.EXCITED max |e0|``), largest eigenvalue first, at most ``cap`` of them
    evenly spread over that list (both ends kept)."""
    from core.theory import EXCITED

    size = np.abs(e0)
    if not size.size or not np.isfinite(size).all() or size.max() == 0:
        return np.zeros(0, dtype=int)
    order = [j for j in np.argsort(-h, kind="stable") if size[j] > EXCITED * size.max()]
    if len(order) > cap:
        order = [order[k] for k in np.unique(np.round(np.linspace(0, len(order) - 1, cap)).astype(int))]
    return np.asarray(order, dtype=int)


def _theory(result: Any, view: RunView) -> tuple[dict[int, np.ndarray], dict[int, float], dict[int, float], dict[int, Modes]]:
    """Predicted curves from ``core.theory.predict`` (exact on quadratics and linear models, from
    each trajectory's start), each curve's own rate (``core.theory.excited_rate`` in the series'
    units), the worst-case rates of ``result.theory[label]`` and the per-mode errors."""
    curves, rates, worst, modes = {}, {}, {}, {}
    theory = getattr(result, "theory", None) or {}
    for i, label in enumerate(view.labels):
        rate = (theory.get(label) or {}).get("predicted_rate")
        if rate is not None and np.isfinite(rate):
            worst[i] = float(rate)
    run = result.run
    if not worst or run.thetas is None:
        return curves, rates, worst, modes
    import torch

    from core import theory as th
    from core.metrics import predicted_rate_of

    for i in worst:
        start = run.thetas[0, i]
        pred = th.predict(run.problem, view.kinds[i], view.hyper[i], start, view.steps)
        if pred is None:
            continue
        if view.series_kind in ("gap", "distance"):
            curves[i] = pred[view.series_kind].detach().cpu().numpy()
            rates[i] = predicted_rate_of(view.series_kind, float(pred["rate"]))
        h, Q, w_star = th.hessian_basis(run.problem)
        pick = mode_indices(h.numpy(), pred["initial"].numpy())
        if not pick.size:
            continue
        sel = torch.as_tensor(pick)
        measured = (run.thetas[:, i].detach().cpu().double() - w_star) @ Q[:, sel]  # [T+1, m]
        z = th.eigenvalues(view.kinds[i], view.hyper[i], h[sel]).abs().amax(dim=-1)
        modes[i] = Modes(h=h[sel].numpy(), measured=measured.numpy(), predicted=pred["per_direction"][:, sel].numpy(),
                         rates=z.numpy())
    return curves, rates, worst, modes


def _tensor(x: Any):
    import torch

    return x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))


def run_view(result: Any, scenario: Any, progress: Progress = None, cancel: Cancel = None) -> RunView:
    """Everything the panels draw for ``result`` of ``scenario``; called inside the worker job.
    ``progress(done, total)`` after each chunk of the analyses (spectra, model predictions);
    ``cancel()`` returning true between chunks stops it with :class:`core.errors.Cancelled`."""
    view = RunView.from_result(result, {"view": {"convergence": scenario.view.convergence}})
    view.minima = minima(result.run.problem)
    view.local_minima = minima(result.run.problem, "local_minima")
    view.saddles = minima(result.run.problem, "saddles")
    run = result.run
    tick = _Ticker(progress, cancel, spectra_chunks(run) + model_chunks(run))
    view.spectra = spectra(run, view.last, tick=tick)
    view.phase, view.phase_note = phase(run)
    try:
        view.model = model_view(run, view.last, tick=tick)
        if view.model is None:
            view.model_note = "the model view needs a net on 1-D or 2-D inputs"
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing prediction must not take the run down: the panel says why
        view.model_note = f"model view failed: {exc}"
    return view


# -- the (lr, beta) phase diagram --------------------------------------------------------------------
#: the phase diagram's grid: learning rates (log-spaced) by momentum coefficients
PHASE_LRS, PHASE_BETAS = 160, 120
#: the kinds it draws, first found in the run decides
PHASE_KINDS = ("momentum", "nesterov", "momentum_lowpass")


@dataclass
class Phase:
    """The convergence rate of one momentum method over a grid of ``(lr, beta)`` on a quadratic or
    least-squares problem (``core.theory.phase_diagram``: the spectral radius of the iteration
    matrix over the Hessian's eigenvalues ``h``): ``rate [n_beta, n_lr]`` (NaN-free, 1 or more is
    divergent), ``lrs [n_lr]`` log-spaced around the stable range, ``betas [n_beta]`` in [0, 0.995],
    the optimum ``(lr, beta, rate)`` (Polyak / Lessard-Recht-Packard), and ``points [m, 2]`` the
    ``(lr, beta)`` of the run's trajectories of that kind with their indices ``owners [m]``."""

    kind: str
    beta_name: str
    lrs: np.ndarray
    betas: np.ndarray
    rate: np.ndarray
    optimum: tuple[float, float, float] | None
    points: np.ndarray
    owners: np.ndarray


def phase(run: Any) -> tuple["Phase | None", str]:
    """The phase diagram of the run's first momentum method on a constant-Hessian problem, or
    ``(None, why not)``."""
    import torch

    from core import theory
    from core.problems.protocols import ConstantHessian
    from core.stability import defaults

    problem = run.problem
    kind = next((k for k in run.kinds if k in PHASE_KINDS), None)
    if kind is None:
        return None, "the phase diagram needs a heavy-ball or Nesterov trajectory"
    if not isinstance(problem, ConstantHessian):
        return None, "the phase diagram needs a quadratic or least-squares problem (a constant Hessian)"
    h = problem.eigenbasis()[0].detach().cpu().double()
    h = h[h > 1e-12 * h.abs().max()]
    mu, L = float(h.min()), float(h.max())
    name = "beta" if kind == "momentum_lowpass" else "momentum"
    rows = [i for i, k in enumerate(run.kinds) if k == kind]
    points = np.array([[float(defaults(kind, run.hyper[i])["lr"]), float(defaults(kind, run.hyper[i])[name])] for i in rows])
    # learning rates from far below the stable range to past its widest end (beta -> 1: 2 (1 + beta) / L)
    best = None
    if mu > 0:
        hyper, r = theory.optimal(kind, mu, L)
        best = (float(hyper["lr"]), float(hyper[name]), float(r))
    # from well below the optimum (or the run's points) to past the stable range's widest end
    top = 4.0 / L / (1.0 - 0.995) if kind == "momentum_lowpass" else 4.0 / L
    lo = min((best[0] if best else 1.0 / L) / 50, float(points[:, 0].min()) / 2)
    hi = max(top, float(points[:, 0].max()) * 2)
    lrs = np.geomspace(lo, hi, PHASE_LRS)
    betas = np.linspace(0.0, 0.995, PHASE_BETAS)
    rate = theory.phase_diagram(kind, torch.from_numpy(lrs), torch.from_numpy(betas), torch.tensor([mu, L], dtype=torch.float64))
    return Phase(kind=kind, beta_name=name, lrs=lrs, betas=betas, rate=np.nan_to_num(rate.numpy(), nan=np.inf),
                 optimum=best, points=points, owners=np.array(rows, dtype=int)), ""


# -- the analyses the panels draw ------------------------------------------------------------------
#
# Each is batched (one call of the problem for a chunk of iterates) and bounded: spectra along the
# run only for problems with at most LOCAL_MAX_DIM parameters and at most MAX_SPECTRA iterates
# (a stride over the steps beyond that), model predictions at most MAX_PREDICTIONS values.

#: Hessians along the run are computed densely for problems with at most this many parameters;
#: bigger problems show the sharpness along the run instead (``core.sharpness``, tracked later)
LOCAL_MAX_DIM = 64
#: at most this many iterate Hessians per run (steps + 1 times trajectories); past it the spectra
#: are taken every ``stride`` steps (:attr:`Spectra.steps`) and a frame shows the last one before it;
#: a sweep of more than half this many trajectories has spectra for its first ``MAX_SPECTRA // 2``
MAX_SPECTRA = 4096
#: iterates per batched Hessian call
SPECTRA_CHUNK = 256
#: the model view's input grid: points per axis on 2-D inputs, points on 1-D inputs
MODEL_GRID = 90
MODEL_CURVE = 400
#: at most this many predicted values per run (trajectories x steps x grid points, float32: 32 MB);
#: past it the predictions are taken every ``stride`` steps (:attr:`ModelArrays.steps`), and a sweep
#: too big for even two steps each keeps the predictions of its first trajectories only
MAX_PREDICTIONS = 8_000_000
#: predicted values per batched call (bounds the activations held at once)
PREDICTION_CHUNK = 1_000_000

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None


class _Ticker:
    """One progress count over every chunk of every analysis, and the cancel check between chunks."""

    def __init__(self, progress: Progress, cancel: Cancel, total: int) -> None:
        self.progress, self.cancel, self.total, self.done = progress, cancel, max(int(total), 1), 0

    def __call__(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("cancelled", "analysis")
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)


def sample_steps(steps: int, trajectories: int, cap: int) -> np.ndarray:
    """Steps ``0, s, 2 s, ...`` (and always the last) with ``len * trajectories <= cap`` where it
    can be (``s = 1`` when everything fits; at least the first and the last step)."""
    n = steps + 1
    rows = max(2, cap // max(trajectories, 1))
    stride = 1 if rows >= n else -(-(n - 1) // (rows - 1))  # then at most `rows` steps, both ends included
    out = np.arange(0, n, stride)
    if out[-1] != steps:
        out = np.append(out, steps)
    return out.astype(int)


def kept(trajectories: int, cap: int) -> int:
    """How many trajectories (the first ones) an analysis with room for ``cap`` iterates covers:
    all of them while each gets at least its first and last step, else the first ``cap // 2``."""
    return max(1, min(trajectories, cap // 2))


def row_of(steps: np.ndarray, step: int) -> int:
    """Index of the last of ``steps`` at or before ``step`` (0 before the first)."""
    return max(int(np.searchsorted(steps, step, side="right")) - 1, 0)


def iterates(run: Any, steps: np.ndarray, last: np.ndarray) -> Any:
    """``thetas [S, B, d]`` at ``min(step, last[i])`` for each of ``steps`` and each trajectory
    (a diverged trajectory stays at its last drawn step, as the panels draw it)."""
    import torch

    at = torch.as_tensor(np.minimum(steps[:, None], np.asarray(last)[None, :]))  # [S, B]
    return run.thetas[at, torch.arange(at.shape[1])[None, :]]


@dataclass
class Spectra:
    """What the eigen panel draws, per trajectory ``i`` and computed step ``steps[s]``:

    - ``mode``: ``"exact"`` (a constant, known Hessian: quadratics and linear models; one row,
      valid at every step), ``"local"`` (the Hessian at the recorded iterates, problems with at most
      :data:`LOCAL_MAX_DIM` parameters), ``"sharpness"`` (bigger problems: the panel draws the
      sharpness along the run against ``limits``) or ``"none"``;
    - ``hessian[s, i]``: the Hessian's eigenvalues there, largest first (NaN: not finite);
    - ``iteration[s, i]``: the iteration-matrix eigenvalues of trajectory ``i``'s optimizer on that
      spectrum (``core.theory.eigenvalues``; GD one per Hessian eigenvalue, momentum methods two;
      NaN padding, all NaN for optimizers the linear theory does not cover) and ``radius[s, i]``
      their largest modulus;
    - ``limits[i]``: the curvature the optimizer is stable below (``core.stability.curvature_limit``;
      NaN when it has none) and ``limit_names[i]`` its formula;
    - ``circles[i]``: the radius ``sqrt(beta)`` the heavy ball's complex eigenvalues lie on
      (``core.theory.complex_radius``; NaN for other optimizers)."""

    mode: str
    steps: np.ndarray  # [S]
    hessian: np.ndarray  # [S, B, k]
    iteration: np.ndarray  # [S, B, m] complex
    radius: np.ndarray  # [S, B]
    limits: np.ndarray  # [B]
    limit_names: list[str]
    circles: np.ndarray | None = None  # [B]

    def row(self, step: int) -> int:
        return row_of(self.steps, step)


def spectra_mode(run: Any) -> tuple[str, Any]:
    """``(mode, hessian basis or None)`` for ``run`` (see :class:`Spectra`)."""
    from core import theory

    try:
        basis = theory.hessian_basis(run.problem)
    except Exception:  # noqa: BLE001 - a problem without a known Hessian simply has no exact basis
        basis = None
    if basis is not None:
        return "exact", basis
    if run.problem.dim <= LOCAL_MAX_DIM:
        return ("local" if run.thetas is not None else "none"), None
    return "sharpness", None


def spectra_chunks(run: Any) -> int:
    mode, _ = spectra_mode(run)
    if mode != "local":
        return 0
    n = kept(run.size, MAX_SPECTRA)
    return -(-len(sample_steps(int(run.steps), n, MAX_SPECTRA)) * n // SPECTRA_CHUNK)


def hessians(problem: Any, thetas: Any) -> Any:
    """Exact Hessians ``[n, d, d]`` at ``thetas[n, d]``, batched: one reverse pass for the gradients
    and one per coordinate for the Hessian's rows (rows of a problem's loss are independent, so
    derivatives of the summed loss are the per-row derivatives, as in ``Problem.loss_and_grad``).
    Equal to ``problem.hessian(theta)`` per row."""
    import torch

    with torch.enable_grad():
        t = thetas.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(problem.loss(t).sum(), t, create_graph=True)
        rows = []
        for j in range(t.shape[1]):
            (r,) = torch.autograd.grad(g[:, j].sum(), t, retain_graph=j + 1 < t.shape[1], allow_unused=True)
            rows.append(torch.zeros_like(t) if r is None else r)
    H = torch.stack(rows, dim=1).detach()
    return 0.5 * (H + H.transpose(1, 2))


def spectra(run: Any, last: np.ndarray, *, tick: Callable[[], None] | None = None) -> Spectra:
    """The eigen panel's arrays for ``run`` (:class:`Spectra`); ``last[i]`` the last drawn step of
    each trajectory. Local spectra cost one batched Hessian per :data:`SPECTRA_CHUNK` iterates."""
    import torch

    from core import theory
    from core.stability import curvature_limit, describe

    problem, B = run.problem, run.size
    kinds, hypers = list(run.kinds), list(run.hyper)
    limits = np.full(B, np.nan)
    for i in range(B):
        try:
            limit = curvature_limit(kinds[i], hypers[i])
        except Exception:  # noqa: BLE001 - hyperparameters outside the theory's range have no line
            limit = None
        if limit is not None:
            limits[i] = float(limit)
    names = [describe(k) for k in kinds]
    circles = np.full(B, np.nan)
    for i in range(B):
        try:
            r = theory.complex_radius(kinds[i], hypers[i])
        except Exception:  # noqa: BLE001 - hyperparameters outside the theory's range have no circle
            r = None
        if r is not None:
            circles[i] = r
    mode, basis = spectra_mode(run)
    empty = np.zeros((0, B, 0))
    if mode == "exact":
        h = torch.sort(basis[0].double(), descending=True).values
        steps = np.zeros(1, dtype=int)
        H = h.reshape(1, 1, -1).expand(1, B, -1)
    elif mode == "local":
        n = kept(B, MAX_SPECTRA)  # a sweep too big for the cap: the first n trajectories, the rest NaN
        steps = sample_steps(int(run.steps), n, MAX_SPECTRA)
        pts = iterates(run, steps, last[:n]).to(problem.device, problem.dtype)  # [S, n, d]
        flat = pts.reshape(-1, pts.shape[-1])
        vals = torch.full(flat.shape, math.nan, dtype=torch.float64)
        ok = flat.isfinite().all(dim=1).cpu()
        where = torch.nonzero(ok).reshape(-1)
        for start in range(0, len(where), SPECTRA_CHUNK):
            idx = where[start:start + SPECTRA_CHUNK]
            w = torch.linalg.eigvalsh(hessians(problem, flat[idx.to(flat.device)]).double().cpu())
            vals[idx] = torch.flip(w, dims=[1])
            if tick is not None:
                tick()
        H = torch.full((len(steps), B, problem.dim), math.nan, dtype=torch.float64)
        H[:, :n] = vals.reshape(len(steps), n, -1)
    else:
        return Spectra(mode, np.zeros(0, dtype=int), empty, empty.astype(complex), np.zeros((0, B)), limits, names, circles)
    S, k = H.shape[0], H.shape[2]
    Z = np.full((S, B, 2 * k), np.nan + 0j)
    for kind in dict.fromkeys(kinds):
        if kind not in theory.LINEAR_KINDS:
            continue
        members = [i for i in range(B) if kinds[i] == kind]
        keys = sorted({key for i in members for key in hypers[i]})
        try:
            hyper = {key: torch.tensor([float(hypers[i].get(key, math.nan)) for i in members],
                                       dtype=torch.float64).reshape(-1, 1, 1) for key in keys}
            hyper = {key: v for key, v in hyper.items() if bool(v.isfinite().all())}
            z = theory.eigenvalues(kind, hyper, H[:, members].permute(1, 0, 2))  # [b, S, k, m]
        except Exception:  # noqa: BLE001 - hyperparameters the theory refuses draw no points
            continue
        z = z.reshape(len(members), S, -1).permute(1, 0, 2).numpy()
        Z[:, members, : z.shape[2]] = z
    with np.errstate(invalid="ignore"):
        mod = np.abs(Z)
        radius = np.where(np.isfinite(mod).any(axis=2), np.nanmax(np.where(np.isfinite(mod), mod, -np.inf), axis=2), np.nan)
    return Spectra(mode, steps, np.asarray(H.numpy(), dtype=float), Z, radius, limits, names, circles)


@dataclass
class ModelArrays:
    """What the model panel draws for a net on 1-D or 2-D inputs: the training data ``X [n, p]``,
    ``y [n]``, the input ``grid [G, p]`` (2-D: ``MODEL_GRID`` x ``MODEL_GRID`` row-major over the
    data's box plus 10 %, ``axes`` its two axes; 1-D: ``MODEL_CURVE`` points over the data plus 5 %),
    ``predictions[s, i]`` ``[G]`` of trajectory ``i`` at ``steps[s]`` (the probability of class 1 for
    a classifier, the output for a regression; float32; ``i`` below ``predictions.shape[1]``, every
    trajectory unless the sweep is too big for :data:`MAX_PREDICTIONS`) and, for one-hidden-layer ReLU nets on 1-D
    inputs, ``elbows[t, i]`` ``[h]``: where each hidden unit switches on, ``x = -b_j / w_j`` (NaN
    when ``w_j = 0``), at every step ``t``."""

    inputs: int
    X: np.ndarray
    y: np.ndarray
    grid: np.ndarray
    axes: tuple[np.ndarray, ...]
    steps: np.ndarray
    predictions: np.ndarray
    elbows: np.ndarray | None = None
    #: the hidden layers' activations, each ``(name, z, phi(z), phi'(z))`` on ``z`` in [-4, 4]
    #: (:func:`activation_curves`), drawn beside the model so the kinks and saturation are visible
    activations: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def row(self, step: int) -> int:
        return row_of(self.steps, step)


def has_model_view(run: Any) -> bool:
    """A layered model (``ModelView``) trained on 1-D or 2-D inputs (``DataProblem``), parameters recorded."""
    from core.problems.protocols import DataProblem, ModelView

    problem = run.problem
    return (isinstance(problem, ModelView) and isinstance(problem, DataProblem) and problem.X.shape[1] <= 2
            and run.thetas is not None)


def model_grid(X: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The input grid of the model view (see :class:`ModelArrays`)."""
    if X.shape[1] == 2:
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = 0.1 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        axes = tuple(np.linspace(lo[k], hi[k], MODEL_GRID) for k in range(2))
        gx, gy = np.meshgrid(*axes)
        return np.column_stack([gx.ravel(), gy.ravel()]), axes
    lo, hi = X.min(), X.max()
    pad = 0.05 * (hi - lo)
    grid = np.linspace(lo - pad, hi + pad, MODEL_CURVE)
    return grid[:, None], (grid,)


def _model_plan(run: Any) -> tuple[np.ndarray, int]:
    """The steps and the number of (first) trajectories the model view keeps predictions for."""
    G = MODEL_GRID ** 2 if run.problem.X.shape[1] == 2 else MODEL_CURVE
    cap = max(MAX_PREDICTIONS // G, 2)
    n = kept(run.size, cap)
    return sample_steps(int(run.steps), n, cap), n


def _prediction_chunk(run: Any) -> int:
    G = MODEL_GRID ** 2 if run.problem.X.shape[1] == 2 else MODEL_CURVE
    return max(PREDICTION_CHUNK // G, 1)


def model_chunks(run: Any) -> int:
    if not has_model_view(run):
        return 0
    steps, n = _model_plan(run)
    return -(-len(steps) * n // _prediction_chunk(run))


def predictions(problem: Any, thetas: Any, grid: Any) -> Any:
    """``problem.predict`` for a batch ``thetas [n, d]`` on the inputs ``grid [G, p]``, ``[n, G]``:
    the probability of class 1 (two classes), the first column otherwise (``torch.func.vmap`` over
    the rows, one batched call)."""
    import torch

    with torch.no_grad():
        out = torch.func.vmap(lambda t: problem.predict(t, grid))(thetas)
    if out.ndim == 3:  # class probabilities [n, G, k]
        return out[..., 1] if out.shape[2] == 2 else out[..., 0]
    return out.reshape(out.shape[0], grid.shape[0], -1)[..., 0]


def relu_elbows(problem: Any, thetas: Any) -> np.ndarray | None:
    """``[..., h]`` positions ``x = -b_j / w_j`` where each hidden ReLU unit of a one-hidden-layer
    net on one input switches on, for ``thetas [..., d]`` (NaN where ``w_j = 0``); None for other nets."""
    import torch

    from core.problems.protocols import DataProblem, ModelView

    net = isinstance(problem, ModelView) and isinstance(problem, DataProblem)
    if not net or problem.activations != ["relu"] or problem.X.shape[1] != 1:
        return None
    params = list(problem.unflatten(thetas.double()).values())
    w = params[0].reshape(*thetas.shape[:-1], -1)
    b = params[1].reshape(*thetas.shape[:-1], -1)
    return torch.where(w != 0, -b / torch.where(w != 0, w, torch.ones_like(w)), torch.full_like(w, math.nan)).numpy()


def model_view(run: Any, last: np.ndarray, *, tick: Callable[[], None] | None = None) -> ModelArrays | None:
    """The model panel's arrays for ``run`` (:class:`ModelArrays`), None when the problem is not a
    net on 1-D or 2-D inputs or its parameters were not recorded."""
    import torch

    if not has_model_view(run):
        return None
    problem = run.problem
    X = problem.X.detach().cpu().double().numpy()
    y = problem.y.detach().cpu().double().numpy().ravel()
    grid, axes = model_grid(X)
    steps, n = _model_plan(run)
    pts = iterates(run, steps, last[:n])  # [S, n, d]
    flat = pts.reshape(-1, pts.shape[-1]).to(problem.device, problem.dtype)
    g = torch.as_tensor(grid, dtype=problem.dtype, device=problem.device)
    out = np.full((flat.shape[0], len(grid)), np.nan, dtype=np.float32)
    chunk = _prediction_chunk(run)
    for start in range(0, flat.shape[0], chunk):
        part = flat[start:start + chunk]
        ok = part.isfinite().all(dim=1)
        if bool(ok.any()):
            rows = torch.nonzero(ok.cpu()).reshape(-1).numpy() + start
            out[rows] = predictions(problem, part[ok], g).float().cpu().numpy()
        if tick is not None:
            tick()
    elbows = relu_elbows(problem, run.thetas)
    return ModelArrays(inputs=X.shape[1], X=X, y=y, grid=grid, axes=axes, steps=steps,
                       predictions=out.reshape(len(steps), n, len(grid)), elbows=elbows,
                       activations=activation_curves(problem))


#: the range and resolution of the activation curves of the model view
ACTIVATION_RANGE, ACTIVATION_POINTS = 4.0, 401


def activation_curves(problem: Any) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """``(name, z, phi(z), phi'(z))`` for each distinct hidden activation of a net, in layer order,
    from the closed forms of :mod:`core.problems.activations` (the ones its Hessian uses)."""
    import torch

    from core.problems.activations import derivatives

    z = torch.linspace(-ACTIVATION_RANGE, ACTIVATION_RANGE, ACTIVATION_POINTS, dtype=torch.float64)
    out = []
    for name in dict.fromkeys(problem.activations):
        phi, d1, _ = derivatives(name, z, getattr(problem.net, "leaky_slope", 0.1))
        out.append((name, z.numpy(), phi.numpy(), d1.numpy()))
    return out


def minima(problem: Any, which: str = "minima") -> np.ndarray | None:
    """Known minima (or ``which`` = ``"local_minima"`` / ``"saddles"``: the problem's other known
    stationary points) as the landscape draws them: ``(x, y)`` of 2-parameter problems,
    ``(w, g(w))`` of 1-parameter ones; None for bigger problems or none known."""
    import torch

    m = getattr(problem, which, None)
    if m is None or problem.dim > 2:
        return None
    pts = m.detach().to(problem.device, problem.dtype)
    if problem.dim == 1:
        with torch.no_grad():
            vals = problem.loss(pts).detach().cpu().double().numpy()
        return np.column_stack([pts.cpu().double().numpy()[:, 0], vals])
    return pts.cpu().double().numpy()[:, :2]
