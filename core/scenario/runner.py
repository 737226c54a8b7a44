"""From a built scenario to a run: ``execute`` runs the engine on a :class:`~core.scenario.build.Built`
(built here when the caller has none), then computes the landscape slice, the theory numbers and
the sharpness track the view asks for. ``main.py run`` and ``check`` and the app go through it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from core.engine import Run, iterate
from core.errors import Cancelled, LabError
from core.problems.base import Problem
from core.scenario.build import (  # noqa: F401  (build, sharpness_every, wants_sharpness: also imported from here)
    Built, build, directions, sharpness_every, theory_numbers, wants_sharpness,
)
from core.scenario.schema import Scenario

Progress = Callable[[str, int, int], None]


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


def execute(scenario: Scenario, progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
            device: str | None = None, landscape: bool | None = None, sharpness: bool | None = None, *,
            allow_large: bool = False, budget: Any = None, built: Built | None = None) -> Result:
    """Runs a scenario: the trajectories, then the landscape slice of ``view`` and the theory numbers. ``progress(stage, done, total)`` is called as it goes (stage ``"run"`` or
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
    ``allow_large``. ``built``: :func:`core.scenario.build.build` of ``scenario`` (with ``device``)
    when the caller has it, so the problem is built once."""
    from core.budget import enforce, estimate

    start = time.perf_counter()
    if built is None:
        built = build(scenario, device=device)
    problem, groups, steps, kw = built.problem, list(built.groups), built.steps, built.run_kwargs
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
    result.theory = theory_numbers(run)
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
