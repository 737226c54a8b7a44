"""From a validated :class:`Scenario` to what the engine runs, once: :func:`build` gives a
:class:`Built` (the problem, the engine groups, the steps and the engine's keyword arguments) and
raises a :class:`LabError` for everything a file can get wrong that needs the problem to see: start
points of the wrong dimension, labels used twice, a view the problem cannot show, expectations
naming no trajectory, beats that do not work played in order. ``execute`` and the app reuse the
:class:`Built` (``execute(scenario, built=...)``); loading never builds."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from core.device import resolve_dtype
from core.engine import Group, Run, default_labels
from core.errors import LabError, suggest
from core.metrics import available, default_metric
from core.optimizers.schedules import lr_curve, read_schedule
from core.optimizers.schedules import resolve as resolve_schedule
from core.problems import make_problem, path_parameters
from core.problems.base import Problem
from core.scenario.io import set_paths
from core.scenario.schema import Expectation, OptimizerSpec, Scenario, StartSpec
from core.stability import LINEAR_KINDS
from core.values import show

MAX_TRAJECTORIES = 100_000
RECORD_LIMIT = 50_000_000  # recorded parameter floats (steps x trajectories x dim) kept in memory
TRACK_SHARPNESS_DIM = 64  # smaller Hessians are cheap enough to compute exactly when a frame is shown


@dataclass(frozen=True)
class Built:
    """A scenario made runnable: ``problem``; ``groups`` (one engine group per optimizer entry: its
    hyperparameter rows x start points); ``steps``; ``run_kwargs``, the keyword arguments of
    :func:`core.engine.iterate` (device, dtype, seed, bounds, whether parameters are recorded).
    ``scenario`` is what it was built from."""

    scenario: Scenario
    problem: Problem
    groups: tuple[Group, ...]
    steps: int
    run_kwargs: dict[str, Any]

    @property
    def trajectories(self) -> int:
        return sum(g.size for g in self.groups)

    @property
    def labels(self) -> list[str]:
        """Every trajectory's label, in run order."""
        return [lab for g in self.groups for lab in g.traj_labels]

    @property
    def entries(self) -> list[str]:
        """The optimizer label of every trajectory, in run order."""
        return [g.label for g in self.groups for _ in g.traj_labels]

    def lr_curves(self) -> dict[str, Tensor]:
        """:func:`lr_curves` of the scenario this was built from."""
        return lr_curves(self.scenario)

    @property
    def names(self) -> list[str]:
        """Every label a beat, view or expectation may name: the entries', then the trajectories'."""
        return list(dict.fromkeys(self.entries + self.labels))


def build_problem(scenario: Scenario) -> Problem:
    """The problem of ``scenario`` (its parameters were checked at load; what only the factory
    can judge, such as a formula's syntax, is its LabError here)."""
    params = dict(scenario.problem.params)
    base = Path(scenario.source).resolve().parent if scenario.source else Path.cwd()
    for name in path_parameters(scenario.problem.kind):  # file names are relative to the scenario
        if isinstance(params.get(name), str):
            params[name] = str(base / params[name])
    try:
        problem = make_problem(scenario.problem.kind, params)
        return problem if params == scenario.problem.params else problem.replace(params=dict(scenario.problem.params))
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
    seeds = spec.init if isinstance(spec.init, tuple) else (seed,)
    if problem.initial_point(seeds[0]) is None:
        raise LabError(f"problem {problem.kind!r} has no initial point of its own; give points instead", f"{path}.init")
    return torch.stack([problem.initial_point(s).detach().to("cpu", torch.float64).reshape(-1) for s in seeds])


def start_names(spec: StartSpec) -> list[str] | None:
    """Names for the start points of ``spec`` where coordinates would make poor labels: ``init 4``
    for each seed of ``init = [...]``; None otherwise (labels then show the start's coordinates)."""
    return [f"init {s}" for s in spec.init] if isinstance(spec.init, tuple) else None


def hyper_rows(spec: OptimizerSpec) -> list[dict[str, float]]:
    """The hyperparameter rows of one optimizer entry (validated at load): the Cartesian product of
    its sweeps, in the order written."""
    keys = list(spec.hyper)
    grids = [tuple(v) if isinstance(v, tuple | list) else (v,) for v in spec.hyper.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*grids)] or [{}]


def lr_curves(scenario: Scenario) -> dict[str, Tensor]:
    """The learning rate ``lr_t``, ``t = 0 .. steps - 1``, of every optimizer entry with a
    schedule: label -> ``[rows, steps]`` float64, one row per hyperparameter row (its ``lr``, or
    the rule's default), from the closed form the optimizer steps with
    (:func:`core.optimizers.schedules.lr_at`). Needs no problem: the app draws it from the file."""
    from core.optimizers import get_rule

    out = {}
    for i, o in enumerate(scenario.optimizers):
        if o.schedule is not None:
            default = get_rule(o.kind).spec("lr").default
            lr = torch.tensor([[r.get("lr", default)] for r in hyper_rows(o)], dtype=torch.float64)
            out[o.label] = lr_curve(read_schedule(o.schedule, f"optimizers[{i}].schedule"), lr, scenario.steps)
    return out


def directions(name: str, problem: Problem) -> str:
    """The slice directions a view asks for, ``auto`` resolved: the parameter plane for at most two
    parameters, filter-normalized random directions (Li et al. 2018) otherwise."""
    if name != "auto":
        return name
    return "axes" if problem.dim <= 2 else "random"


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


def build(scenario: Scenario, device: str | None = None) -> Built:
    """``scenario`` made runnable (see :class:`Built`), every check that needs the problem done:
    a scenario that builds runs. ``device`` overrides the scenario's."""
    try:
        built = _build(scenario, device, None)
        for n, e in enumerate(scenario.expect):
            check_expectation(e, f"expect[{n}]", built)
        _check_beats(scenario, built, device)
    except LabError as exc:
        raise LabError(exc.message, exc.path, exc.file or scenario.source) from None
    return built


def _build(scenario: Scenario, device: str | None, problem: Problem | None) -> Built:
    """The groups and view checks of :func:`build` (not the expectations and beats), on ``problem``
    when the caller has it (a beat that does not touch ``problem``)."""
    problem = problem if problem is not None else build_problem(scenario)
    common = start_points(scenario.start, problem, scenario.seed, "start")
    groups: list[Group] = []
    total = 0
    for i, o in enumerate(scenario.optimizers):
        path = f"optimizers[{i}]"
        if o.label in [g.label for g in groups]:
            raise LabError(f"label {o.label!r} is used twice; every optimizer needs its own label", f"{path}.label")
        rows = hyper_rows(o)
        starts = common if o.start is None else start_points(o.start, problem, scenario.seed, f"{path}.start")
        names = start_names(scenario.start if o.start is None else o.start)
        if o.batch_size is not None and problem.n_samples is None:
            raise LabError(f"batch_size needs a data problem; {problem.kind!r} is analytic (use noise = sigma for stochastic gradients)", f"{path}.batch_size")
        if o.batch_size is not None and o.batch_size > problem.n_samples:
            raise LabError(f"batch_size must be at most the {problem.n_samples} training samples, got {o.batch_size}", f"{path}.batch_size")
        total += len(rows) * starts.shape[0]
        if total > MAX_TRAJECTORIES:
            raise LabError(f"{total} trajectories is more than {MAX_TRAJECTORIES}", path)
        full_rows = [r for r in rows for _ in range(starts.shape[0])]
        full_starts = starts.repeat(len(rows), 1)
        full_names = None if names is None else names * len(rows)
        groups.append(Group(o.label, o.kind, full_rows, full_starts,
                            traj_labels=default_labels(o.label, full_rows, full_starts, full_names),
                            batch_size=o.batch_size, noise=o.noise, color=o.color,
                            schedule=None if o.schedule is None else resolve_schedule(
                                read_schedule(o.schedule, f"{path}.schedule"), scenario.steps)))
    labels = [lab for g in groups for lab in g.traj_labels]
    if len(set(labels)) != len(labels):
        dup = next(lab for lab in labels if labels.count(lab) > 1)
        raise LabError(f"two trajectories are both labelled {dup!r}; give the optimizers distinct labels", "optimizers")
    d = problem.dim
    kw = {"device": device or scenario.device, "dtype": resolve_dtype(scenario.dtype), "seed": scenario.seed,
          "diverge_bound": scenario.diverge_bound, "loss_bound": scenario.loss_bound,
          "record_params": (scenario.steps + 1) * total * d <= RECORD_LIMIT}
    built = Built(scenario, problem, tuple(groups), scenario.steps, kw)
    _check_view(built)
    return built


def _check_view(built: Built) -> None:
    view, problem, known = built.scenario.view, built.problem, built.names
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


def check_expectation(e: Expectation, path: str, built: Built) -> None:
    """What an expectation needs of the built scenario: labels exist, the metric is defined for
    the problem, steps are in the run, the panel or learning rate it compares with is there."""
    problem, entries, labels = built.problem, built.entries, built.labels
    steps, panels = built.scenario.steps, built.scenario.view.panels
    known = built.names
    if e.at_least is not None and e.optimizer in known:
        count = 1 if e.optimizer in labels else entries.count(e.optimizer)
        if e.at_least > count:
            raise LabError(f"at_least = {e.at_least}, but {e.optimizer!r} has {count} trajector{'y' if count == 1 else 'ies'}", f"{path}.at_least")
    for key in ("optimizer", "before"):
        name = getattr(e, key)
        if name is not None and name not in known:
            raise LabError(f"no trajectory or optimizer labelled {name!r}{suggest(name, known)}; labels: {', '.join(known)}", f"{path}.{key}")
    metric = e.metric or (default_metric(problem) if e.check in ("steps_to", "rate", "order") else None)
    if e.check in ("distance", "gap"):
        metric = e.check
    if e.check in ("final_test_loss", "best_step"):
        metric = e.metric or "test_loss"
    if metric in ("test_loss", "test_accuracy") and not available(problem, metric):
        raise LabError(f"metric {metric!r} needs a held-out split (a net with test_fraction > 0"
                       + (" and class labels" if metric == "test_accuracy" else "") + f"); problem {problem.kind!r} has none", f"{path}.metric")
    if metric == "distance" and problem.minima is None:
        raise LabError(f"problem {problem.kind!r} has no known minimum to measure a distance to; use metric 'loss'", f"{path}.metric")
    if metric == "gap" and problem.loss_star is None:
        raise LabError(f"problem {problem.kind!r} has no known minimum value for a gap; use metric 'loss'", f"{path}.metric")
    for step in ([e.at] if e.at is not None else []) + (list(e.between) if e.between else []):
        if step > steps:
            raise LabError(f"step {step} is past the end of the run (steps = {steps})", f"{path}.{'at' if e.at is not None else 'between'}")
    if e.check == "layer_grad_ratio":
        from core.problems.protocols import ModelView

        if not isinstance(problem, ModelView):
            raise LabError(f"layer_grad_ratio needs a net (per-layer gradients); problem {problem.kind!r} is not one", f"{path}.check")
    if e.check == "landscape_min_near_center" and "landscape" not in panels:
        raise LabError("landscape_min_near_center needs 'landscape' in view.panels", f"{path}.check")
    if e.check == "sharpness" and e.optimizer is not None:
        # compared with the optimizer's stability limit, core.stability's one definition
        limited = {g.label: g.kind in LINEAR_KINDS for g in built.groups}
        limited.update({lab: limited[g.label] for g in built.groups for lab in g.traj_labels})
        if not limited.get(e.optimizer, True):
            raise LabError(f"sharpness is compared with the optimizer's stability limit, and {e.optimizer!r} has none "
                           f"(optimizers with one: {', '.join(LINEAR_KINDS)})", f"{path}.optimizer")


def _check_beats(scenario: Scenario, built: Built, device: str | None) -> None:
    """The lecture timeline, checked as the lecture plays it: in order, each beat's ``set`` applied
    (all its keys at once) to the scenario as the earlier beats left it, so beats that are valid
    one at a time but not together (a beat replacing the optimizer list, the next one setting
    ``optimizers[1].lr``) are refused here, not when the lecture reaches them. Highlights name the
    labels of the scenario at their beat. The state starts without the timeline and expectations:
    those describe the file's own (headless) run, which beats do not change. A beat that does not
    touch ``problem`` reuses the problem already built."""
    state = scenario.model_copy(update={"beats": (), "expect": ()})
    problem, known = built.problem, built.names
    changed = False  # whether an earlier beat changed the scenario (said in errors)
    for b, beat in enumerate(scenario.beats):
        path = f"beats[{b}]"
        if beat.step > state.steps:
            raise LabError(f"step {beat.step} is past the end of the run (steps = {state.steps}"
                           + (", as the earlier beats set it)" if state.steps != scenario.steps else ")"), f"{path}.step")
        if beat.set:
            after = f" (on the scenario as beats[0..{b - 1}] left it)" if changed else ""
            try:
                state = set_paths(state, beat.set)
                if any(key.split(".")[0].split("[")[0] == "problem" for key in beat.set):
                    problem = None  # rebuilt for this beat and the ones after it
                now = _build(state, device, problem)
                problem = now.problem
            except LabError as exc:
                keys = list(beat.set)
                culprit = next((k for k in keys if exc.path == k or exc.path.startswith((k + ".", k + "["))), None)
                if culprit is None and len(keys) == 1:
                    culprit = keys[0]
                what = f"{culprit} = {show(beat.set[culprit])}" if culprit else f"{', '.join(keys)} together"
                at = f" (at {exc.path})" if exc.path and exc.path != culprit else ""
                raise LabError(f"{what}: {exc.message}{at}{after}", f"{path}.set") from None
            changed = True
            known = now.names
        if beat.highlight is not None and beat.highlight not in known:
            raise LabError(f"no trajectory labelled {beat.highlight!r}{suggest(beat.highlight, known)}; labels: {', '.join(known)}", f"{path}.highlight")


def theory_numbers(run: Run) -> dict[str, dict[str, float | None]]:
    """Predicted rate (spectral radius of the iteration matrix) next to the measured one, per
    trajectory. The measured rate is that of the distance to where the method converges
    (:func:`core.theory.fixed_point`: the minimizer, shrunk by weight decay) when the problem has a
    linear theory, else of the scenario's default metric. Stochastic trajectories get no prediction:
    the spectral radius describes only their expected iterate, not the noisy path. (What ``execute``
    adds to a run; here, below the runner, so that :mod:`core.budget` can time it.)"""
    import core.theory as theory
    from core.metrics import trajectory_rate

    out: dict[str, dict[str, float | None]] = {}
    for i, label in enumerate(run.labels):
        entry: dict[str, float | None] = {"predicted_rate": None, "measured_rate": None}
        try:
            stochastic = bool(run.stochastic) and run.stochastic[i]
            p = None if stochastic else theory.predicted_rate(run.problem, run.kinds[i], run.hyper[i])
            entry["predicted_rate"] = None if p is None else float(p)
            target = theory.fixed_point(run.problem, run.kinds[i], run.hyper[i])
            if not run.diverged(i):
                entry["measured_rate"] = trajectory_rate(run, i, target=target if run.thetas is not None else None)
        except LabError:
            pass
        out[label] = entry
    return out
