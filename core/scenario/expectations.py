"""Expectations: the claims a scenario makes about its own run, verified by ``main.py check``.

Each ``[[expect]]`` table names a ``check`` of :data:`CHECKS`; the table lists which keys each
takes. A check looks at every trajectory its ``optimizer`` names (a trajectory label, or an
optimizer entry's label for all of its trajectories) and reports an :class:`ExpectationOutcome`
with the measured value next to the required one, so a failure says by how much.

"Reached" means the first recorded step ``k`` with ``metric_k < tol``; the metric is
:func:`core.metrics.default_metric` (the distance to the nearest known minimum when the problem
knows its minima, else the gap ``loss - loss*``, else the loss) unless ``metric`` names one; the
series come from :mod:`core.metrics`. Rates compare :func:`core.metrics.measured_rate` of the
error series with :func:`core.theory.predicted_rate` (the spectral radius of the iteration matrix
on quadratics, Goh 2017) or with a given ``expected`` value. ``sharpness`` compares with
:func:`core.stability.curvature_limit`. A check judges a finished result only (it imports neither
the runner nor the loader).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from core.errors import LabError
from core.metrics import default_metric, first_below, measured_rate, predicted_rate_of, rate_series, series
from core.scenario.schema import Expectation
from core.theory import predicted_rate
from core.stability import LINEAR_KINDS, curvature_limit, describe

if TYPE_CHECKING:
    from core.engine import Run


class Result(Protocol):
    """What a check judges: a run and what was computed beside it (``core.scenario.runner.Result``
    has these; the expectations do not import the runner, which imports them)."""

    scenario: Any
    run: "Run"
    surface: Any
    sharpness: dict[str, dict[int, float]] | None


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
def _final(metric: str) -> Callable[[Expectation, Result, int], Verdict]:
    def check(e: Expectation, result: Result, i: int) -> Verdict:
        run = result.run
        value = float(series(run, metric, i)[-1])
        tail = f" (diverged at step {run.last_step(i)})" if run.diverged(i) else ""
        return _bounded(value, e), f"{metric} {_fmt(value)}{tail}", f"{metric} {_bounds_phrase(e)}"
    return check


def _diverged(e: Expectation, result: Result, i: int) -> Verdict:
    run = result.run
    want = True if e.diverged is None else e.diverged
    did = run.diverged(i)
    measured = f"diverged at step {run.last_step(i)}" if did else f"did not diverge in {run.steps} steps"
    required = ("diverges " + _steps_phrase(e)) if want else "does not diverge"
    ok = did == want and (not did or _in_steps(run.last_step(i), e))
    return ok, measured, required


def _steps_to(e: Expectation, result: Result, i: int) -> Verdict:
    metric = e.metric or default_metric(result.run.problem)
    values = series(result.run, metric, i)
    k = first_below(values, e.tol)
    if k is None:
        best = float(torch.nan_to_num(values, nan=math.inf).min())
        measured = f"never reached {metric} < {e.tol:g} in {result.run.last_step(i)} steps (best {_fmt(best)})"
    else:
        measured = f"{metric} < {e.tol:g} first at step {k}"
    return k is not None and _in_steps(k, e), measured, f"{metric} < {e.tol:g} {_steps_phrase(e)}"


def _best_step(e: Expectation, result: Result, i: int) -> Verdict:
    """Early stopping's step: the first step where ``metric`` (default ``test_loss``) is best."""
    metric = e.metric or "test_loss"
    values = series(result.run, metric, i)
    if metric == "test_accuracy":
        k = int(torch.argmax(torch.nan_to_num(values, nan=-math.inf)))
    else:
        k = int(torch.argmin(torch.nan_to_num(values, nan=math.inf)))
    measured = f"best {metric} {_fmt(float(values[k]))} at step {k} of {result.run.last_step(i)}"
    return _in_steps(k, e), measured, f"best {metric} {_steps_phrase(e)}"


def _layer_grad_ratio(e: Expectation, result: Result, i: int) -> Verdict:
    """``|grad of layer 1| / |grad of the last layer|`` at step ``at`` (default 0), from the run's record."""
    run = result.run
    if run.layer_grad_norm is None:
        return False, "no per-layer gradient norms (not a net)", f"ratio {_bounds_phrase(e)}"
    step = min(e.at or 0, run.last_step(i))
    g = run.layer_grad_norm[step, i]
    ratio = float(g[0] / g[-1])
    return _bounded(ratio, e), f"{run.layer_names[0]}/{run.layer_names[-1]} gradient norm {_fmt(ratio)} at step {step}", \
        f"ratio {_bounds_phrase(e)}"


def _rate(e: Expectation, result: Result, i: int) -> Verdict:
    run = result.run
    metric = e.metric or default_metric(run.problem)
    values = rate_series(run, metric, i)
    if values.numel() < 3:
        return False, f"too few steps above round-off ({values.numel()})", "at least 3"
    measured = float(measured_rate(values))
    if e.expected is not None:
        predicted, source = e.expected, "given"
    else:
        p = predicted_rate(run.problem, run.kinds[i], run.hyper[i])
        if p is None:
            return False, f"rate {_fmt(measured)}", f"a predicted rate, but theory has none for problem {run.problem.kind!r} (give 'expected')"
        predicted, source = predicted_rate_of(metric, float(p)), "predicted"
    ok = abs(measured - predicted) <= e.within / 100 * abs(predicted)
    return ok, f"rate {_fmt(measured)}", f"within {e.within:g}% of the {source} rate {_fmt(predicted)}"


def _reach(result: Result, label: str, e: Expectation, metric: str) -> tuple[int | None, str]:
    """The earliest step any trajectory named ``label`` reaches ``tol`` (when several do, the slowest)."""
    rows = _rows(result.run, label)
    hits = [first_below(series(result.run, metric, j), e.tol) for j in rows]
    k = None if any(h is None for h in hits) else max(hits)
    return k, f"{label!r} at step {k}" if k is not None else f"{label!r} never"


def _order(e: Expectation, result: Result, i: int) -> Verdict:
    metric = e.metric or default_metric(result.run.problem)
    mine = first_below(series(result.run, metric, i), e.tol)
    other, other_text = _reach(result, e.before, e, metric)
    ok = mine is not None and (other is None or mine < other)
    measured = f"{metric} < {e.tol:g}: {result.run.labels[i]!r} " + (f"at step {mine}" if mine is not None else "never") + f", {other_text}"
    return ok, measured, f"{result.run.labels[i]!r} strictly before {e.before!r}"


def _sharpness(e: Expectation, result: Result, i: int) -> Verdict:
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


def _sharpness_value(result: Result, i: int, step: int) -> float:
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


def _landscape_min(e: Expectation, result: Result, i: int) -> Verdict:
    surface = result.surface
    if surface is None:
        return False, "no landscape was computed", "a landscape (view.panels has 'landscape')"
    a, b = surface.argmin()
    coords = [a] if surface.is_line else [a, b]
    dist = math.hypot(*coords)
    where = "(" + ", ".join(f"{c:.3g}" for c in coords) + ")"
    return dist <= e.within, f"slice minimum at {where}, {dist:.3g} from the centre", f"within {e.within:g} of the centre"


Judge = Callable[[Expectation, Result, int], Verdict]

#: check name -> its judge, (expectation, result, trajectory index) -> verdict. The keys each check
#: takes, their meaning and ``per_trajectory`` are its model's in ``core.scenario.schema``; what
#: needs the built problem is checked by ``core.scenario.build.check_expectation``.
CHECKS: dict[str, Judge] = {
    "final_loss": _final("loss"),
    "gap": _final("gap"),
    "distance": _final("distance"),
    "final_test_loss": _final("test_loss"),
    "best_step": _best_step,
    "layer_grad_ratio": _layer_grad_ratio,
    "diverged": _diverged,
    "steps_to": _steps_to,
    "rate": _rate,
    "order": _order,
    "sharpness": _sharpness,
    "landscape_min_near_center": _landscape_min,
}


def _rows(run: "Run", label: str) -> list[int]:
    if label in run.labels:
        return [run.labels.index(label)]
    rows = [j for j, entry in enumerate(run.entry) if entry == label]
    if not rows:
        raise LabError(f"no trajectory or optimizer labelled {label!r}; labels: {', '.join(dict.fromkeys(run.entry + run.labels))}")
    return rows


def check(result: Result) -> list[ExpectationOutcome]:
    """Judges every expectation of ``result.scenario`` on ``result``. A check that cannot be
    evaluated (missing theory, no surface) is a failed outcome that says why, never an exception."""
    out = []
    for n, e in enumerate(result.scenario.expect):
        judge, per_trajectory = CHECKS[e.check], e.per_trajectory
        try:
            rows = _rows(result.run, e.optimizer) if per_trajectory else [0]
            verdicts = [(judge(e, result, j), j) for j in rows]
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
                who = result.run.labels[j] if per_trajectory else None
        except LabError as exc:
            passed, measured, required, who = False, f"could not evaluate: {exc.message}", "an evaluable check", e.optimizer
        out.append(ExpectationOutcome(n, e.check, who, passed, measured, required, e.note))
    return out
