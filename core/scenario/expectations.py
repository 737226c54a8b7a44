"""Expectations: the claims a scenario makes about its own run, verified by ``main.py check``.

Each ``[[expect]]`` table names a ``check`` of :data:`CHECKS`; the table lists which keys each
takes. A check looks at every trajectory its ``optimizer`` names (a trajectory label, or an
optimizer entry's label for all of its trajectories) and reports an :class:`ExpectationOutcome`
with the measured value next to the required one, so a failure says by how much.

"Reached" means the first recorded step ``k`` with ``metric_k < tol``; the metric is the distance
to the nearest known minimum when the problem knows its minima, else the gap ``loss - loss*``,
else the loss (override with ``metric``). Rates compare :func:`core.theory.measured_rate` of the
error series with :func:`core.theory.predicted_rate` (the spectral radius of the iteration matrix
on quadratics, Goh 2017) or with a given ``expected`` value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from core.errors import LabError
from core.scenario.schema import Expectation
from core.stability import LINEAR_KINDS, curvature_limit, describe

if TYPE_CHECKING:
    from core.engine import Run
    from core.problems.base import Problem
    from core.scenario.runner import Result


@dataclass(frozen=True)
class ExpectationOutcome:
    """The verdict on one expectation: ``measured`` and ``required`` are short human phrases."""

    index: int
    check: str
    optimizer: str | None
    passed: bool
    measured: str
    required: str
    note: str = ""

    def describe(self) -> str:
        who = f" {self.optimizer!r}" if self.optimizer else ""
        text = f"expect[{self.index}] {self.check}{who}: measured {self.measured}, required {self.required}"
        return text + (f" ({self.note})" if self.note and not self.passed else "")


def _fmt(x: float | None) -> str:
    if x is None:
        return "none"
    return f"{x:.4g}"


def default_metric(problem: "Problem") -> str:
    if problem.minima is not None:
        return "distance"
    return "gap" if problem.loss_star is not None else "loss"


def series(run: "Run", i: int, metric: str) -> Tensor:
    """Metric of trajectory ``i`` at steps ``0..last_step(i)`` (float64, CPU)."""
    n = run.last_step(i) + 1
    if metric == "loss":
        return run.loss[:n, i].double()
    if metric == "grad_norm":
        return run.grad_norm[:n, i].double()
    if metric == "gap":
        if run.problem.loss_star is None:
            raise LabError(f"metric 'gap' needs a known minimum value; problem {run.problem.kind!r} has none (use 'loss')", "metric")
        return run.loss[:n, i].double() - run.problem.loss_star
    if metric == "distance":
        if run.thetas is None or run.problem.minima is None:
            raise LabError("metric 'distance' needs known minima and recorded parameters", "metric")
        return run.problem.distance_to_minimum(run.thetas[:n, i].double()).double()
    raise LabError(f"unknown metric {metric!r}", "metric")


def rate_series(run: "Run", i: int, metric: str) -> Tensor:
    """``|metric|`` of trajectory ``i`` up to where it sinks to round-off (``1e-12`` of its start):
    a rate measured on the float64 floor is noise."""
    return above_floor(series(run, i, metric).abs())


def above_floor(values: Tensor) -> Tensor:
    """The leading part of ``values`` that stays above ``1e-12`` of the first (below is round-off)."""
    floor = float(values[0]) * 1e-12 if values.numel() else 0.0
    stop = torch.nonzero(~(values > floor)).flatten()
    return values[: int(stop[0])] if stop.numel() else values


def first_below(values: Tensor, tol: float) -> int | None:
    """First index with ``values < tol`` (NaN never counts), or None."""
    hits = torch.nonzero(values < tol).flatten()
    return int(hits[0]) if hits.numel() else None


def _theory() -> Any:
    import core.theory

    return core.theory


def _in_steps(step: int, e: Expectation) -> bool:
    if e.at is not None:
        return step == e.at
    if e.between is not None:
        return e.between[0] <= step <= e.between[1]
    return True


def _steps_phrase(e: Expectation) -> str:
    if e.at is not None:
        return f"at step {e.at}"
    if e.between is not None:
        return f"at a step in [{e.between[0]}, {e.between[1]}]"
    return "within the run"


def _bounds_phrase(e: Expectation) -> str:
    parts = ([f"< {e.below:g}"] if e.below is not None else []) + ([f"> {e.above:g}"] if e.above is not None else [])
    return " and ".join(parts)


def _bounded(value: float, e: Expectation) -> bool:
    ok = math.isfinite(value)
    if e.below is not None:
        ok = ok and value < e.below
    if e.above is not None:
        ok = ok and value > e.above
    return ok


Verdict = tuple[bool, str, str]  # passed, measured, required


# --- one function per check: (expectation, result, trajectory index) -> verdict --------------------
def _final(metric: str) -> Callable[[Expectation, "Result", int], Verdict]:
    def check(e: Expectation, result: "Result", i: int) -> Verdict:
        run = result.run
        value = float(series(run, i, metric)[-1])
        tail = f" (diverged at step {run.last_step(i)})" if run.diverged(i) else ""
        return _bounded(value, e), f"{metric} {_fmt(value)}{tail}", f"{metric} {_bounds_phrase(e)}"
    return check


def _diverged(e: Expectation, result: "Result", i: int) -> Verdict:
    run = result.run
    want = True if e.diverged is None else e.diverged
    did = run.diverged(i)
    measured = f"diverged at step {run.last_step(i)}" if did else f"did not diverge in {run.steps} steps"
    required = ("diverges " + _steps_phrase(e)) if want else "does not diverge"
    ok = did == want and (not did or _in_steps(run.last_step(i), e))
    return ok, measured, required


def _steps_to(e: Expectation, result: "Result", i: int) -> Verdict:
    metric = e.metric or default_metric(result.run.problem)
    values = series(result.run, i, metric)
    k = first_below(values, e.tol)
    if k is None:
        best = float(torch.nan_to_num(values, nan=math.inf).min())
        measured = f"never reached {metric} < {e.tol:g} in {result.run.last_step(i)} steps (best {_fmt(best)})"
    else:
        measured = f"{metric} < {e.tol:g} first at step {k}"
    return k is not None and _in_steps(k, e), measured, f"{metric} < {e.tol:g} {_steps_phrase(e)}"


def _rate(e: Expectation, result: "Result", i: int) -> Verdict:
    run = result.run
    metric = e.metric or default_metric(run.problem)
    values = rate_series(run, i, metric)
    if values.numel() < 3:
        return False, f"too few steps above round-off ({values.numel()})", "at least 3"
    theory = _theory()
    measured = float(theory.measured_rate(values))
    if e.expected is not None:
        predicted, source = e.expected, "given"
    else:
        p = theory.predicted_rate(run.problem, run.kinds[i], run.hyper[i])
        if p is None:
            return False, f"rate {_fmt(measured)}", f"a predicted rate, but theory has none for problem {run.problem.kind!r} (give 'expected')"
        # theory predicts the distance's rate; the loss gap of a quadratic shrinks by its square
        predicted, source = (float(p) ** 2 if metric == "gap" else float(p)), "predicted"
    ok = abs(measured - predicted) <= e.within / 100 * abs(predicted)
    return ok, f"rate {_fmt(measured)}", f"within {e.within:g}% of the {source} rate {_fmt(predicted)}"


def _reach(result: "Result", label: str, e: Expectation, metric: str) -> tuple[int | None, str]:
    """The earliest step any trajectory named ``label`` reaches ``tol`` (when several do, the slowest)."""
    rows = _rows(result.run, label)
    hits = [first_below(series(result.run, j, metric), e.tol) for j in rows]
    k = None if any(h is None for h in hits) else max(hits)
    return k, f"{label!r} at step {k}" if k is not None else f"{label!r} never"


def _order(e: Expectation, result: "Result", i: int) -> Verdict:
    metric = e.metric or default_metric(result.run.problem)
    mine = first_below(series(result.run, i, metric), e.tol)
    other, other_text = _reach(result, e.before, e, metric)
    ok = mine is not None and (other is None or mine < other)
    measured = f"{metric} < {e.tol:g}: {result.run.labels[i]!r} " + (f"at step {mine}" if mine is not None else "never") + f", {other_text}"
    return ok, measured, f"{result.run.labels[i]!r} strictly before {e.before!r}"


def _sharpness(e: Expectation, result: "Result", i: int) -> Verdict:
    run = result.run
    step = run.last_step(i) if e.at is None else e.at
    kind = run.kinds[i]
    target = curvature_limit(kind, run.hyper[i])
    if target is None or not math.isfinite(target):
        return (False, f"{kind} has no finite stability limit",
                f"an optimizer with a linear stability limit ({', '.join(LINEAR_KINDS)})")
    value = _sharpness_value(result, i, step)
    ok = math.isfinite(value) and abs(value - target) <= e.within / 100 * abs(target)
    return ok, f"sharpness {_fmt(value)} at step {step}", f"within {e.within:g}% of {describe(kind)} = {_fmt(target)}"


def _sharpness_value(result: "Result", i: int, step: int) -> float:
    """Top Hessian eigenvalue at ``theta_step``: the tracked value when the run has it, else computed."""
    tracked = result.sharpness
    if tracked is not None:
        value = tracked.get(result.run.labels[i], {}).get(step) if isinstance(tracked, dict) else None
        if value is not None:
            return float(value)
    run = result.run
    if run.thetas is None:
        raise LabError("sharpness needs recorded parameters", "sharpness")
    theta = run.thetas[step, i].to(run.problem.device, run.problem.dtype)
    from core.spectra import sharpness

    value, _ = sharpness(run.problem, theta)
    return float(value)


def _landscape_min(e: Expectation, result: "Result", i: int) -> Verdict:
    surface = result.surface
    if surface is None:
        return False, "no landscape was computed", "a landscape (view.panels has 'landscape')"
    a, b = surface.argmin()
    coords = [a] if surface.is_line else [a, b]
    dist = math.hypot(*coords)
    where = "(" + ", ".join(f"{c:.3g}" for c in coords) + ")"
    return dist <= e.within, f"slice minimum at {where}, {dist:.3g} from the centre", f"within {e.within:g} of the centre"


@dataclass(frozen=True)
class CheckKind:
    """A check: the keys it needs and accepts, what it means, and how it is judged."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    doc: str
    judge: Callable[[Expectation, "Result", int], Verdict]
    per_trajectory: bool = True

    def validate(self, e: Expectation, path: str) -> None:
        """Shape rules a table alone can break (the rest needs the problem: :func:`validate_against`)."""
        if "below" in self.optional and e.below is None and e.above is None:
            raise LabError("give below, above or both", path)
        if e.at is not None and e.between is not None:
            raise LabError("give at or between, not both", f"{path}.between")
        if e.diverged is False and (e.at is not None or e.between is not None):
            raise LabError("diverged = false takes no at/between", f"{path}.diverged")


_FINAL = ("below", "above")
CHECKS: dict[str, CheckKind] = {
    "final_loss": CheckKind(("optimizer",), _FINAL, "loss at the last step below/above a bound", _final("loss")),
    "gap": CheckKind(("optimizer",), _FINAL, "loss - loss* at the last step below/above a bound", _final("gap")),
    "distance": CheckKind(("optimizer",), _FINAL, "distance to the nearest known minimum at the last step", _final("distance")),
    "diverged": CheckKind(("optimizer",), ("diverged", "at", "between"), "diverged (default true) or not, optionally at a step or in a step range", _diverged),
    "steps_to": CheckKind(("optimizer", "tol"), ("metric", "at", "between"), "first step with metric < tol, optionally at a step or in a range", _steps_to),
    "rate": CheckKind(("optimizer", "within"), ("metric", "expected"), "measured linear rate within `within` percent of the predicted (or `expected`) rate", _rate),
    "order": CheckKind(("optimizer", "before", "tol"), ("metric",), "optimizer reaches metric < tol strictly before `before` does", _order),
    "sharpness": CheckKind(("optimizer", "within"), ("at",), "top Hessian eigenvalue (at step `at`, default the last) within `within` percent of the optimizer's stability limit (2/lr for GD, 2(1+beta)/lr for heavy ball)", _sharpness),
    "landscape_min_near_center": CheckKind(("within",), (), "the minimum of the computed slice lies within `within` of its centre", _landscape_min, per_trajectory=False),
}


def _rows(run: "Run", label: str) -> list[int]:
    if label in run.labels:
        return [run.labels.index(label)]
    rows = [j for j, entry in enumerate(run.entry) if entry == label]
    if not rows:
        raise LabError(f"no trajectory or optimizer labelled {label!r}; labels: {', '.join(dict.fromkeys(run.entry + run.labels))}")
    return rows


def validate_against(e: Expectation, path: str, problem: "Problem", entries: list[str], labels: list[str],
                     steps: int, panels: tuple[str, ...], kinds_with_lr: dict[str, bool]) -> None:
    """What needs the built problem: labels exist, the metric is defined, steps are in the run.
    ``entries`` is the optimizer label of each trajectory, ``labels`` the trajectory labels."""
    known = list(dict.fromkeys(entries + labels))
    if e.at_least is not None and e.optimizer in known:
        count = 1 if e.optimizer in labels else entries.count(e.optimizer)
        if e.at_least > count:
            raise LabError(f"at_least = {e.at_least}, but {e.optimizer!r} has {count} trajector{'y' if count == 1 else 'ies'}", f"{path}.at_least")
    for key in ("optimizer", "before"):
        name = getattr(e, key)
        if name is not None and name not in known:
            from core.errors import suggest

            raise LabError(f"no trajectory or optimizer labelled {name!r}{suggest(name, known)}; labels: {', '.join(known)}", f"{path}.{key}")
    metric = e.metric or (default_metric(problem) if e.check in ("steps_to", "rate", "order") else None)
    if e.check == "distance":
        metric = "distance"
    if e.check == "gap":
        metric = "gap"
    if metric == "distance" and problem.minima is None:
        raise LabError(f"problem {problem.kind!r} has no known minimum to measure a distance to; use metric 'loss'", f"{path}.metric")
    if metric == "gap" and problem.loss_star is None:
        raise LabError(f"problem {problem.kind!r} has no known minimum value for a gap; use metric 'loss'", f"{path}.metric")
    for step in ([e.at] if e.at is not None else []) + (list(e.between) if e.between else []):
        if step > steps:
            raise LabError(f"step {step} is past the end of the run (steps = {steps})", f"{path}.{'at' if e.at is not None else 'between'}")
    if e.check == "landscape_min_near_center" and "landscape" not in panels:
        raise LabError("landscape_min_near_center needs 'landscape' in view.panels", f"{path}.check")
    if e.check == "sharpness" and e.optimizer is not None and not kinds_with_lr.get(e.optimizer, True):
        raise LabError(f"sharpness is compared with the optimizer's stability limit (core.stability), and {e.optimizer!r} has none; "
                       f"use one of {', '.join(LINEAR_KINDS)}", f"{path}.optimizer")


def check(result: "Result") -> list[ExpectationOutcome]:
    """Judges every expectation of ``result.scenario`` on ``result``. A check that cannot be
    evaluated (missing theory, no surface) is a failed outcome that says why, never an exception."""
    out = []
    for n, e in enumerate(result.scenario.expect):
        kind = CHECKS[e.check]
        try:
            rows = _rows(result.run, e.optimizer) if kind.per_trajectory else [0]
            verdicts = [(kind.judge(e, result, j), j) for j in rows]
            bad = [(v, j) for v, j in verdicts if not v[0]]
            if e.at_least is not None:
                good = len(verdicts) - len(bad)
                passed = good >= e.at_least
                (_, example, wanted), j = bad[0] if bad else verdicts[0]
                measured = f"{good} of {len(verdicts)} trajectories hold" + (f" ({result.run.labels[j]!r}: {example})" if bad else "")
                required = f"at least {e.at_least} with {wanted}"
                who = e.optimizer
            else:
                (passed, measured, required), j = bad[0] if bad else verdicts[0]
                who = result.run.labels[j] if kind.per_trajectory else None
        except LabError as exc:
            passed, measured, required, who = False, f"could not evaluate: {exc.message}", "an evaluable check", e.optimizer
        out.append(ExpectationOutcome(n, e.check, who, passed, measured, required, e.note))
    return out
