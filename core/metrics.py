"""Convergence series and their rates, in one place: the expectations judge them, the runner
reports their rates, the app's convergence panel plots them (issue 11).

A *metric* is one number per recorded step and trajectory of a :class:`core.engine.Run`:

- ``loss``: the full-batch loss;
- ``gap``: ``loss - loss*`` (needs the problem's known minimum value ``loss_star``);
- ``distance``: to the nearest known minimum (needs ``problem.minima`` and recorded parameters);
- ``grad_norm``: the norm of the gradient the optimizer used.

**The default metric** (:func:`default_metric`), wherever a metric is not named (an expectation
without ``metric``, the runner's measured rate, a view asking for a series the problem cannot give)
is the first the run can give of ``distance``, ``gap``, ``loss``: the distance says most about a
method (it is what the iteration-matrix theory predicts), the gap next, the loss always exists.
:func:`resolve` is the one rule for a requested metric: itself when the run can give it, else the
default. Series are float64 on the CPU.

**Rates.** An error that shrinks geometrically (distance, gap) has a rate: :func:`measured_rate`
of the part of the series above round-off (:func:`above_floor`). The iteration-matrix theory
(``core.theory``) predicts the distance's rate ``rho``; the gap of a quadratic shrinks by ``rho^2``
(:func:`predicted_rate_of`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from core.errors import LabError

if TYPE_CHECKING:
    from core.engine import Run
    from core.problems.base import Problem

METRICS = ("loss", "gap", "distance", "grad_norm", "test_loss", "test_accuracy")
#: the default chain: the first of these the run can give (see the module docstring)
DEFAULT_ORDER = ("distance", "gap", "loss")
#: below this fraction of its start an error is float64 round-off: no rate is measured there
ROUNDOFF = 1e-12


def available(problem: "Problem", metric: str, recorded: bool = True) -> bool:
    """Whether a run on ``problem`` (with parameters ``recorded`` or not) can give ``metric``."""
    if metric == "gap":
        return problem.loss_star is not None
    if metric == "distance":
        return problem.minima is not None and recorded
    if metric in ("test_loss", "test_accuracy"):
        from core.problems.protocols import HeldOut

        if not (isinstance(problem, HeldOut) and problem.n_test > 0):
            return False
        return metric == "test_loss" or getattr(problem, "task", "regression") != "regression"
    if metric in METRICS:
        return True
    raise LabError(f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}", "metric")


def default_metric(problem: "Problem", recorded: bool = True) -> str:
    """The first of ``distance``, ``gap``, ``loss`` that a run on ``problem`` can give."""
    return next(m for m in DEFAULT_ORDER if available(problem, m, recorded))


def resolve(problem: "Problem", wanted: str | None, recorded: bool = True) -> str:
    """``wanted`` when the run can give it, else :func:`default_metric` (``None``: the default)."""
    if wanted is not None and available(problem, wanted, recorded):
        return wanted
    return default_metric(problem, recorded)


def series(run: "Run", metric: str, i: int | None = None) -> Tensor:
    """``metric`` of trajectory ``i`` at steps ``0..last_step(i)`` (``[n]``), or of every trajectory
    at every recorded step (``i = None``: ``[steps + 1, B]``; a diverged row keeps what the engine
    recorded after its divergence). Float64, CPU. A metric the run cannot give is a LabError."""
    n = run.loss.shape[0] if i is None else run.last_step(i) + 1
    col = slice(None) if i is None else i
    problem = run.problem
    if metric == "loss":
        return run.loss[:n, col].double()
    if metric == "grad_norm":
        return run.grad_norm[:n, col].double()
    if metric == "gap":
        if problem.loss_star is None:
            raise LabError(f"metric 'gap' needs a known minimum value; problem {problem.kind!r} has none (use 'loss')", "metric")
        return run.loss[:n, col].double() - problem.loss_star
    if metric in ("test_loss", "test_accuracy"):
        values = getattr(run, metric, None)
        if values is None:
            raise LabError(f"metric {metric!r} needs a held-out split (a net with test_fraction > 0"
                           + (", and a classifier" if metric == "test_accuracy" else "") + f"); problem {problem.kind!r} has none", "metric")
        return values[:n, col].double()
    if metric == "distance":
        if run.thetas is None or problem.minima is None:
            raise LabError("metric 'distance' needs known minima and recorded parameters", "metric")
        return problem.distance_to_minimum(run.thetas[:n, col].double()).double().cpu()
    raise LabError(f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}", "metric")


def above_floor(values: Tensor, floor: float = ROUNDOFF) -> Tensor:
    """The leading part of ``values`` that stays above ``floor`` times the first (below is round-off)."""
    cut = float(values[0]) * floor if values.numel() else 0.0
    stop = torch.nonzero(~(values > cut)).flatten()
    return values[: int(stop[0])] if stop.numel() else values


def rate_series(run: "Run", metric: str, i: int) -> Tensor:
    """``|metric|`` of trajectory ``i`` up to where it sinks to round-off: a rate measured on the
    float64 floor is noise."""
    return above_floor(series(run, metric, i).abs())


def distance_series(run: "Run", i: int, target: Tensor) -> Tensor:
    """``|theta_t - target|`` of trajectory ``i`` up to round-off (``target``: where the method
    converges, e.g. ``core.theory.fixed_point``)."""
    if run.thetas is None:
        raise LabError("a distance needs recorded parameters", "metric")
    return above_floor((run.thetas[: run.last_step(i) + 1, i].double() - target.double().cpu()).norm(dim=1))


def first_below(values: Tensor, tol: float) -> int | None:
    """First index with ``values < tol`` (NaN never counts), or None."""
    hits = torch.nonzero(values < tol).flatten()
    return int(hits[0]) if hits.numel() else None


def measured_rate(values: Sequence[float] | Tensor | np.ndarray, tail: float = 0.5, floor: float = ROUNDOFF) -> float:
    """The geometric mean ratio of successive errors over the tail of ``values`` (an error that
    should shrink geometrically: distance to the minimizer, or the loss gap).

    The series is first cut where it stops being finite and positive or falls below
    ``floor * max`` (the rounding floor); ``tail`` is the fraction of what remains that is used.
    A monotone tail gives ``(s_end / s_start)^(1 / (end - start))`` exactly. A spiralling error
    (momentum) is ``rho^t |cos(omega t + phi)|``: its endpoint ratio depends on the phases, so then
    the rate is the least-squares slope of ``log s`` through the tail's local maxima (the envelope).
    NaN when fewer than two points remain."""
    s = torch.as_tensor(np.asarray(values, dtype=np.float64)).flatten()
    if s.numel() < 2:
        return math.nan
    ok = torch.isfinite(s) & (s > 0)
    if ok.any():
        ok &= s > floor * s[ok].max()
    bad = torch.nonzero(~ok)
    end = int(bad[0]) if bad.numel() else s.numel()
    s = s[:end]
    if s.numel() < 2:
        return math.nan
    start = min(int(s.numel() * (1 - tail)), s.numel() - 2)
    s = s[start:]
    n = s.numel() - 1
    rising = torch.nonzero(s[1:] > s[:-1]).flatten()
    if rising.numel() == 0:
        return float((s[-1] / s[0]) ** (1.0 / n))
    inner = torch.nonzero((s[1:-1] >= s[:-2]) & (s[1:-1] > s[2:])).flatten() + 1
    if inner.numel() < 3:
        return float((s[-1] / s[0]) ** (1.0 / n))
    t = inner.to(s.dtype)
    y = torch.log(s[inner])
    slope = ((t - t.mean()) * (y - y.mean())).sum() / ((t - t.mean()) ** 2).sum()
    return float(torch.exp(slope))


#: fewer points above round-off than this give no rate
MIN_RATE_POINTS = 3


def trajectory_rate(run: "Run", i: int, metric: str | None = None, target: Tensor | None = None) -> float | None:
    """The measured rate of trajectory ``i``: of its distance to ``target`` when given (where the
    method converges), else of ``metric`` (default: :func:`default_metric`). None when fewer than
    :data:`MIN_RATE_POINTS` points lie above round-off or the estimate is not finite."""
    if target is not None:
        values = distance_series(run, i, target)
    else:
        values = rate_series(run, metric or default_metric(run.problem, run.thetas is not None), i)
    if values.numel() < MIN_RATE_POINTS:
        return None
    m = measured_rate(values)
    return m if math.isfinite(m) else None


def predicted_rate_of(metric: str, rho: float) -> float:
    """The rate of ``metric`` when the distance shrinks by ``rho`` per step (a quadratic's gap is
    ``0.5 sum h e^2``: ``rho^2``)."""
    return rho * rho if metric == "gap" else rho
