"""From a :class:`Scenario` to a run: ``build`` (problem + engine groups, every check that needs the
problem) and ``execute`` (engine run, then the landscape slice and theory numbers when those
modules are present). The GUI re-runs an edited scenario through ``build``; ``main.py run`` and
``check`` go through ``execute``."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from core.device import resolve_dtype
from core.engine import Group, Run, default_labels, iterate
from core.errors import LabError
from core.optimizers import get_rule
from core.errors import suggest
from core.values import show
from core.problems import make_problem, problem_parameters
from core.problems.base import Problem
from core.scenario.schema import Scenario, StartSpec

MAX_TRAJECTORIES = 100_000
RECORD_LIMIT = 50_000_000  # recorded parameter floats (steps x trajectories x dim) kept in memory
TRACK_SHARPNESS_DIM = 64  # smaller Hessians are cheap enough to compute exactly when a frame is shown
FILE_KEYS = ("data", "dataset", "path", "file")
FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".npz", ".npy", ".json", ".pt")

Progress = Callable[[str, int, int], None]


class Cancelled(LabError):
    """Raised by :func:`execute` when its ``cancel`` callback says stop."""


def _file_param(name: str, value: Any) -> bool:
    """A problem parameter that names a file: a data/path key whose value looks like a file name
    (``data = "synthetic"`` names a built-in data set, ``data = "points.csv"`` a file)."""
    if not isinstance(value, str) or not (name in FILE_KEYS or name.endswith(("_file", "_path", "_csv"))):
        return False
    return value.lower().endswith(FILE_SUFFIXES) or "/" in value or "\\" in value


def resolve_files(scenario: Scenario) -> dict[str, Any]:
    """The problem's parameters with relative file names resolved next to the scenario file (then
    the working directory); a file found in neither is an error naming both places."""
    params = dict(scenario.problem.params)
    try:
        names = problem_parameters(scenario.problem.kind)
    except KeyError:
        return params
    base = Path(scenario.source).parent if scenario.source else None
    for key, value in params.items():
        if key not in names or not _file_param(key, value):
            continue
        if "\0" in value:
            raise LabError("a file name cannot contain a NUL character", f"problem.{key}")
        p = Path(value)
        candidates = [p] if p.is_absolute() else ([base / p] if base else []) + [Path.cwd() / p]

        def regular(c: Path) -> bool:
            try:
                return c.is_file()
            except OSError as exc:  # a name longer than the system allows (ENAMETOOLONG), ...
                raise LabError(f"file {show(value)} cannot be looked up: {exc.strerror or type(exc).__name__}",
                               f"problem.{key}") from None

        found = next((c for c in candidates if regular(c)), None)
        if found is None:
            where = " or ".join(str(c.parent) for c in candidates)
            raise LabError(f"file {value!r} not found (looked in {where})", f"problem.{key}")
        params[key] = str(found)
    return params


def build_problem(scenario: Scenario) -> Problem:
    params = resolve_files(scenario)
    try:
        return make_problem(scenario.problem.kind, params)
    except LabError:
        raise
    except Exception as exc:  # a factory choking on a value of the wrong shape is still the user's input
        raise LabError(f"bad parameters for problem {scenario.problem.kind!r}: {exc}", "problem") from None


def _box(box: Any, problem: Problem, path: str) -> list[tuple[float, float]]:
    box = list(box) if box is not None else list(problem.box)
    if len(box) != problem.dim:
        raise LabError(f"needs a box with one [low, high] range per parameter ({problem.dim}), got {len(box)}"
                       + (" (the problem's default box does not cover every parameter)" if path.endswith("problem box") else ""), path)
    return box


def start_points(spec: StartSpec, problem: Problem, seed: int, path: str = "start") -> Tensor:
    """The start points ``[n, d]`` (float64, CPU) a :class:`StartSpec` describes."""
    d = problem.dim
    if spec.points is not None:
        for i, p in enumerate(spec.points):
            if len(p) != d:
                raise LabError(f"start point {list(p)} has {len(p)} coordinate{'s' if len(p) != 1 else ''} but problem "
                               f"{problem.kind!r} has {d} parameter{'s' if d != 1 else ''}", f"{path}.points[{i}]")
        return torch.tensor(spec.points, dtype=torch.float64)
    if spec.grid is not None:
        g = spec.grid
        box = _box(g.box, problem, f"{path}.grid.box" if g.box is not None else f"{path}.grid.box (problem box)")
        n = list(g.n) * d if len(g.n) == 1 else list(g.n)
        if len(n) != d:
            raise LabError(f"give one count, or one per parameter ({d}), got {len(n)}", f"{path}.grid.n")
        if math.prod(n) > MAX_TRAJECTORIES:
            raise LabError(f"{math.prod(n)} grid points is more than {MAX_TRAJECTORIES}", f"{path}.grid.n")
        axes = [torch.linspace(lo, hi, k, dtype=torch.float64) for (lo, hi), k in zip(box, n)]
        return torch.stack([a.flatten() for a in torch.meshgrid(*axes, indexing="ij")], dim=1)
    if spec.random is not None:
        r = spec.random
        if r.n > MAX_TRAJECTORIES:
            raise LabError(f"{r.n} random points is more than {MAX_TRAJECTORIES}", f"{path}.random.n")
        box = torch.tensor(_box(r.box, problem, f"{path}.random.box" if r.box is not None else f"{path}.random.box (problem box)"),
                           dtype=torch.float64)
        u = torch.rand(r.n, d, generator=torch.Generator().manual_seed(r.seed), dtype=torch.float64)
        return box[:, 0] + u * (box[:, 1] - box[:, 0])
    point = problem.initial_point(seed)
    if point is None:
        raise LabError(f"problem {problem.kind!r} has no initial point of its own; give points instead", f"{path}.init")
    return point.detach().to("cpu", torch.float64).reshape(1, -1)


def hyper_rows(spec: Any, path: str) -> list[dict[str, float]]:
    """Validated hyperparameter rows of one optimizer entry: the Cartesian product of its sweeps."""
    rule = get_rule(spec.kind, f"{path}.kind")
    names = rule.hyper_names
    for key, value in spec.hyper.items():
        if key not in names:
            raise LabError(f"{spec.kind} has no hyperparameter {key!r}{suggest(key, names)}; "
                           f"allowed: {', '.join(names)}, and label, color, batch_size, noise, start", f"{path}.{key}")
        sweep = isinstance(value, tuple | list)  # a list, from code that edits a scenario, is a sweep too
        if sweep and not value:
            raise LabError("a sweep needs at least one value", f"{path}.{key}")
        for j, v in enumerate(value if sweep else (value,)):
            rule.spec(key).check(v, f"{path}.{key}" + (f"[{j}]" if sweep else ""))
    keys = list(spec.hyper)
    grids = [tuple(v) if isinstance(v, tuple | list) else (v,) for v in spec.hyper.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*grids)] or [{}]


def build(scenario: Scenario, device: str | None = None) -> tuple[Problem, list[Group], int, dict[str, Any]]:
    """The problem, the engine groups (one per optimizer entry: hyperparameter rows x start points),
    the number of steps and the keyword arguments of :func:`core.engine.run`. Raises
    :class:`LabError` for everything a file can get wrong that needs the problem to see."""
    from core.scenario.expectations import validate_against

    problem = build_problem(scenario)
    common = start_points(scenario.start, problem, scenario.seed, "start")
    groups: list[Group] = []
    total = 0
    for i, o in enumerate(scenario.optimizers):
        path = f"optimizers[{i}]"
        if o.label in [g.label for g in groups]:
            raise LabError(f"label {o.label!r} is used twice; every optimizer needs its own label", f"{path}.label")
        rows = hyper_rows(o, path)
        starts = common if o.start is None else start_points(o.start, problem, scenario.seed, f"{path}.start")
        if o.batch_size is not None and problem.n_samples is None:
            raise LabError(f"batch_size needs a data problem; {problem.kind!r} is analytic (use noise = sigma for stochastic gradients)", f"{path}.batch_size")
        if o.batch_size is not None and o.batch_size > problem.n_samples:
            raise LabError(f"batch_size must be at most the {problem.n_samples} training samples, got {o.batch_size}", f"{path}.batch_size")
        total += len(rows) * starts.shape[0]
        if total > MAX_TRAJECTORIES:
            raise LabError(f"{total} trajectories is more than {MAX_TRAJECTORIES}", path)
        full_rows = [r for r in rows for _ in range(starts.shape[0])]
        full_starts = starts.repeat(len(rows), 1)
        groups.append(Group(o.label, o.kind, full_rows, full_starts, traj_labels=default_labels(o.label, full_rows, full_starts),
                            batch_size=o.batch_size, noise=o.noise, color=o.color))
    entries = [g.label for g in groups for _ in g.traj_labels]  # the optimizer label of each trajectory
    labels = [lab for g in groups for lab in g.traj_labels]
    if len(set(labels)) != len(labels):
        dup = next(lab for lab in labels if labels.count(lab) > 1)
        raise LabError(f"two trajectories are both labelled {dup!r}; give the optimizers distinct labels", "optimizers")
    known = list(dict.fromkeys(entries + labels))
    view = scenario.view
    if view.trajectory is not None and view.trajectory not in known:
        raise LabError(f"no trajectory labelled {view.trajectory!r}{suggest(view.trajectory, known)}", "view.trajectory")
    if view.center is not None and "landscape" in view.panels and directions(view.directions, problem) == "axes":
        raise LabError("the parameter plane (directions = 'axes') is drawn over span, it has no center; "
                       "use span, or center a random, pca, hessian or segment slice", "view.center")
    if isinstance(view.center, tuple) and len(view.center) != problem.dim:
        raise LabError(f"center has {len(view.center)} coordinates but the problem has {problem.dim}", "view.center")
    if "landscape" in view.panels and view.directions == "axes" and problem.dim > 2:
        raise LabError(f"directions = 'axes' shows a parameter plane, and {problem.kind!r} has {problem.dim} parameters; "
                       "use random, pca, hessian or segment", "view.directions")
    if view.span is not None and directions(view.directions, problem) == "axes" and len(view.span) != min(problem.dim, 2):
        raise LabError(f"span needs {min(problem.dim, 2)} [low, high] range(s), one per plotted axis, got {len(view.span)}", "view.span")
    with_lr = {g.label: "lr" in g.rule.hyper_names for g in groups}
    with_lr.update({lab: with_lr[g.label] for g in groups for lab in g.traj_labels})
    for n, e in enumerate(scenario.expect):
        validate_against(e, f"expect[{n}]", problem, entries, labels, scenario.steps, view.panels, with_lr)
    _check_beats(scenario, known, device)
    d = problem.dim
    kw = {"device": device or scenario.device, "dtype": resolve_dtype(scenario.dtype), "seed": scenario.seed,
          "diverge_bound": scenario.diverge_bound, "loss_bound": scenario.loss_bound,
          "record_params": (scenario.steps + 1) * total * d <= RECORD_LIMIT}
    return problem, groups, scenario.steps, kw


def _check_beats(scenario: Scenario, known: list[str], device: str | None) -> None:
    """The lecture timeline, checked as the lecture plays it: in order, each beat's ``set`` applied
    (all its keys at once) to the scenario as the earlier beats left it, so beats that are valid
    one at a time but not together (a beat replacing the optimizer list, the next one setting
    ``optimizers[1].lr``) are refused here, not when the lecture reaches them. Highlights name the
    labels of the scenario at their beat. The state starts without the timeline and expectations:
    those describe the file's own (headless) run, which beats do not change."""
    from core.scenario.io import assign, from_dict, to_dict
    from core.values import show

    state = dataclasses.replace(scenario, beats=(), expect=())
    changed = False  # whether an earlier beat changed the scenario (said in errors)
    for b, beat in enumerate(scenario.beats):
        path = f"beats[{b}]"
        if beat.step > state.steps:
            raise LabError(f"step {beat.step} is past the end of the run (steps = {state.steps}"
                           + (", as the earlier beats set it)" if state.steps != scenario.steps else ")"), f"{path}.step")
        if beat.set:
            for key in beat.set:
                if key.split(".")[0].split("[")[0] in ("beats", "expect", "format", "title", "description"):
                    raise LabError(f"a beat may change the problem, optimizers, start, steps or view, not {key!r}", f"{path}.set")
            after = f" (on the scenario as beats[0..{b - 1}] left it)" if changed else ""
            try:
                doc = to_dict(state)
                for key, value in beat.set.items():
                    try:
                        assign(doc, key, value)
                    except LabError as exc:
                        raise LabError(exc.message, key) from None
                state = dataclasses.replace(from_dict(doc, scenario.source, semantic=False), source=scenario.source)
                _, groups, _, _ = build(state, device)
            except LabError as exc:
                keys = list(beat.set)
                culprit = next((k for k in keys if exc.path == k or exc.path.startswith((k + ".", k + "["))), None)
                if culprit is None and len(keys) == 1:
                    culprit = keys[0]
                what = f"{culprit} = {show(beat.set[culprit])}" if culprit else f"{', '.join(keys)} together"
                at = f" (at {exc.path})" if exc.path and exc.path != culprit else ""
                raise LabError(f"{what}: {exc.message}{at}{after}", f"{path}.set") from None
            changed = True
            known = list(dict.fromkeys([g.label for g in groups for _ in g.traj_labels] + [lab for g in groups for lab in g.traj_labels]))
        if beat.highlight is not None and beat.highlight not in known:
            raise LabError(f"no trajectory labelled {beat.highlight!r}{suggest(beat.highlight, known)}; labels: {', '.join(known)}", f"{path}.highlight")


@dataclass
class Result:
    """A scenario's run and what was computed beside it: ``surface`` (a ``core.landscape.Surface``
    when the view shows a landscape), ``theory`` (per trajectory label: predicted and measured rate),
    ``sharpness`` (label -> {step: value}, when tracked), ``seconds`` of wall time."""

    scenario: Scenario
    run: Run
    surface: Any | None = None
    theory: dict[str, dict[str, float | None]] = field(default_factory=dict)
    sharpness: dict[str, dict[int, float]] | None = None
    seconds: float = 0.0

    @property
    def problem(self) -> Problem:
        return self.run.problem

    def summary(self) -> dict[str, Any]:
        """``summary.json``: the run's per-trajectory facts, with the theory numbers beside them."""
        out = self.run.summary()
        for entry in out["trajectories"]:
            entry.update(self.theory.get(entry["label"], {}))
            trace = (self.sharpness or {}).get(entry["label"])
            if trace:
                entry["sharpness"] = {"steps": list(trace), "values": list(trace.values())}
        return {"title": self.scenario.title, "seed": self.scenario.seed, "seconds": round(self.seconds, 3), **out}


def _trajectory(run: Run, label: str | None) -> int:
    if label is None:
        return 0
    return run.labels.index(label) if label in run.labels else run.entry.index(label)


def directions(name: str, problem: Problem) -> str:
    """The slice directions a view asks for, ``auto`` resolved: the parameter plane for at most two
    parameters, filter-normalized random directions (Li et al. 2018) otherwise."""
    if name != "auto":
        return name
    return "axes" if problem.dim <= 2 else "random"


def _surface(scenario: Scenario, run: Run, progress: Progress | None, cancel: Callable[[], bool] | None) -> Any:
    from core.landscape import compute_surface

    view, problem = scenario.view, run.problem
    i = _trajectory(run, view.trajectory)
    path = None
    if run.thetas is not None:
        path = run.thetas[: run.last_step(i) + 1, i].to(problem.device, problem.dtype)
    center = None  # compute_surface's default: the trajectory's last point (first for a segment)
    if isinstance(view.center, tuple):
        center = torch.tensor(view.center, dtype=torch.float64)
    elif view.center == "start" and path is not None:
        center = path[0]
    elif view.center == "final":
        center = run.final_theta[i]
    return compute_surface(
        problem, directions=directions(view.directions, problem), center=center,
        span=None if view.span is None else [list(s) for s in view.span], resolution=view.resolution,
        seed=scenario.seed if view.seed is None else view.seed, filter_normalize=view.filter_normalize, bias=view.bias,
        thetas=path, progress=None if progress is None else (lambda d, t: progress("landscape", d, t)), cancel=cancel,
    )


def wants_sharpness(scenario: Scenario, problem: Problem) -> bool:
    """Whether sharpness is tracked along the run: when the eigen panel is shown and the problem's
    Hessian is not constant (not a quadratic or least squares) and is too big to compute exactly
    whenever a frame is shown (more than ``TRACK_SHARPNESS_DIM`` parameters)."""
    from core.theory import hessian_basis

    return ("eigen" in scenario.view.panels and problem.dim > TRACK_SHARPNESS_DIM
            and hessian_basis(problem) is None)


def sharpness_every(steps: int) -> int:
    """Track the sharpness every k steps: about 32 points along a run."""
    return max(1, steps // 32)


def _theory(run: Run) -> dict[str, dict[str, float | None]]:
    """Predicted rate (spectral radius of the iteration matrix) next to the measured one, per
    trajectory. The measured rate is that of the distance to where the method converges
    (:func:`core.theory.fixed_point`: the minimizer, shrunk by weight decay) when the problem has a
    linear theory, else of the scenario's default metric. Stochastic trajectories get no prediction:
    the spectral radius describes only their expected iterate, not the noisy path."""
    import core.theory as theory
    from core.scenario.expectations import above_floor, default_metric, rate_series

    out: dict[str, dict[str, float | None]] = {}
    metric = default_metric(run.problem)
    for i, label in enumerate(run.labels):
        entry: dict[str, float | None] = {"predicted_rate": None, "measured_rate": None}
        try:
            stochastic = bool(run.stochastic) and run.stochastic[i]
            p = None if stochastic else theory.predicted_rate(run.problem, run.kinds[i], run.hyper[i])
            entry["predicted_rate"] = None if p is None else float(p)
            target = theory.fixed_point(run.problem, run.kinds[i], run.hyper[i])
            if target is not None and run.thetas is not None:
                values = above_floor((run.thetas[: run.last_step(i) + 1, i].double() - target).norm(dim=1))
            else:
                values = rate_series(run, i, metric)
            if values.numel() >= 3 and not run.diverged(i):
                m = float(theory.measured_rate(values))
                entry["measured_rate"] = m if math.isfinite(m) else None
        except LabError:
            pass
        out[label] = entry
    return out


def execute(scenario: Scenario, progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
            device: str | None = None, landscape: bool | None = None, sharpness: bool | None = None, *,
            allow_large: bool = False, budget: Any = None, built: tuple | None = None) -> Result:
    """Runs a scenario: the trajectories, then (when present) the landscape slice of ``view`` and the
    theory numbers. ``progress(stage, done, total)`` is called as it goes (stage ``"run"`` or
    ``"landscape"``); ``cancel()`` returning true stops it with :class:`Cancelled`. ``device``
    overrides the scenario's device; ``landscape`` forces the slice on or off (default: when the
    view shows a landscape); ``sharpness`` the tracking of the top Hessian eigenvalue along each
    trajectory (:func:`core.sharpness.track_sharpness`, about 32 points per run; default: when the
    view shows the eigen panel and the problem's Hessian is not constant, i.e. not a quadratic or
    least squares, and it has more than 64 parameters). Stages: ``"run"``, ``"landscape"``,
    ``"sharpness"``.

    Before anything runs, its cost is estimated (:func:`core.budget.estimate`) and a run over
    ``budget`` (default :meth:`core.budget.Budget.default`: memory and time) is refused with
    :class:`core.budget.BudgetExceeded`, one line naming the key and the estimate, unless
    ``allow_large``. ``built``: the result of ``build(scenario, device)`` when the caller has it."""
    from core.budget import enforce, estimate

    start = time.perf_counter()
    if built is None:
        built = build(scenario, device=device)
    problem, groups, steps, kw = built
    if not allow_large:
        enforce(estimate(scenario, built, landscape=landscape, sharpness=sharpness), budget)
    gen = iterate(problem, groups, steps, progress_every=max(1, min(50, steps // 20)), **kw)
    try:
        while True:
            t = next(gen)
            if cancel is not None and cancel():
                gen.close()
                raise Cancelled("cancelled", "run")
            if progress is not None:
                progress("run", t, steps)
    except StopIteration as stop:
        run: Run = stop.value
    result = Result(scenario=scenario, run=run)
    if landscape is None:
        landscape = "landscape" in scenario.view.panels
    if landscape:
        import core.landscape

        try:
            result.surface = _surface(scenario, run, progress, cancel)
        except core.landscape.Cancelled:
            raise Cancelled("cancelled", "landscape") from None
    result.theory = _theory(run)
    if sharpness is None:
        sharpness = wants_sharpness(scenario, run.problem)
    if sharpness and run.thetas is not None:
        from core.sharpness import as_result_dict, track_sharpness

        traces = track_sharpness(run, every=sharpness_every(steps), seed=scenario.seed, cancel=cancel,
                                 progress=None if progress is None else (lambda d, t: progress("sharpness", d, t)))
        if cancel is not None and cancel():
            raise Cancelled("cancelled", "sharpness")
        result.sharpness = as_result_dict(traces)
    result.seconds = time.perf_counter() - start
    return result
