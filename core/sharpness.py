"""Sharpness along a training run: the top Hessian eigenvalue every ``k`` steps, against ``2 / lr``.

Gradient descent with learning rate ``lr`` is stable on a quadratic only while the largest
Hessian eigenvalue stays below ``2 / lr``. On neural nets, full-batch GD first *sharpens*
(the top eigenvalue grows) until it reaches about ``2 / lr``, then hovers there while the loss keeps
falling non-monotonically: the "edge of stability" (Cohen, Kaur, Li, Kolter, Talwalkar 2021,
arXiv 2103.00065). Each optimizer's line is ``core.stability.curvature_limit`` (``2 (1 + beta) / lr``
for heavy ball); for adaptive methods there is no such fixed line and ``limit`` is None.

Each eigenvalue comes from :func:`core.spectra.sharpness` (exact for small nets, Lanczos on
Hessian-vector products otherwise), warm-started from the previous step's eigenvector, which is
close to the new one, so Lanczos needs only a few products per point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from core.engine import Run
from core.errors import LabError
from core.stability import curvature_limit


@dataclass
class SharpnessTrace:
    """One trajectory's sharpness: ``values[k]`` at ``steps[k]``, the stability ``limit`` of its
    optimizer (``core.stability.curvature_limit``: ``2 / lr`` for GD; None for adaptive methods) and its label."""

    label: str
    steps: list[int]
    values: list[float]
    limit: float | None

    def as_dict(self) -> dict[int, float]:
        return dict(zip(self.steps, self.values))


def track_sharpness(run: Run, *, every: int = 10, labels: Sequence[str] | None = None, tol: float = 1e-6,
                    seed: int = 0, progress: Callable[[int, int], None] | None = None,
                    cancel: Callable[[], bool] | None = None) -> dict[str, SharpnessTrace]:
    """Top Hessian eigenvalue at steps ``0, every, 2 every, ...`` (and the last step) of each
    trajectory in ``labels`` (default all) of a recorded run, warm-started along the run.
    ``progress(done, total)`` after each eigenvalue; ``cancel()`` stops early (returns what is done)."""
    from core.spectra import sharpness

    if run.thetas is None:
        raise LabError("sharpness tracking needs recorded parameters (record_params)", "sharpness")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise LabError(f"every must be a positive integer, got {every!r}", "sharpness.every")
    labels = list(run.labels) if labels is None else list(labels)
    problem = run.problem
    plan = []
    for label in labels:
        i = run.index(label)
        last = run.last_step(i)
        steps = list(range(0, last + 1, every))
        if steps[-1] != last:
            steps.append(last)
        plan.append((label, i, steps))
    total, done = sum(len(s) for _, _, s in plan), 0
    out: dict[str, SharpnessTrace] = {}
    for label, i, steps in plan:
        trace = SharpnessTrace(label, [], [], curvature_limit(run.kinds[i], run.hyper[i]))
        out[label] = trace
        v: Tensor | None = None
        for t in steps:
            if cancel is not None and cancel():
                return out
            theta = run.thetas[t, i].to(problem.device, problem.dtype)
            value, v = sharpness(problem, theta, v0=v, tol=tol, seed=seed)
            trace.steps.append(t)
            trace.values.append(float(value))
            done += 1
            if progress is not None:
                progress(done, total)
    return out


def as_result_dict(traces: dict[str, SharpnessTrace]) -> dict[str, dict[int, float]]:
    """``label -> {step: value}``, the shape ``core.scenario`` keeps in ``Result.sharpness``."""
    return {label: tr.as_dict() for label, tr in traces.items()}
