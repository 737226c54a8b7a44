"""What the panels draw, as NumPy arrays: a :class:`core.scenario.Result` unpacked once per run,
inside the worker (:func:`run_view`), so drawing a frame costs no torch call.

Packing only: every number comes from core (the run's tensors, ``Surface.project`` for nets,
``Problem.distance_to_minimum``, ``core.theory`` for predicted rates). Panels index these arrays
by step and never touch tensors, so drawing a frame costs no torch call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    rates: dict[int, float] = field(default_factory=dict)

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
        kind = (spec.get("view") or {}).get("convergence") or ("gap" if problem.loss_star is not None else "loss")
        series = loss
        if kind == "gap" and problem.loss_star is not None:
            series = loss - problem.loss_star
        elif kind == "distance" and problem.minima is not None and thetas is not None:
            series = problem.distance_to_minimum(thetas.to(problem.device, problem.dtype)).cpu().numpy()
        else:
            kind = "loss"
        last = np.array([run.last_step(i) for i in range(run.size)], dtype=int)
        view = RunView(labels=list(run.labels), entry=list(run.entry), kinds=list(run.kinds), hyper=list(run.hyper),
                       colors=colors, steps=int(run.steps), dim=problem.dim, coord_names=list(problem.coord_names),
                       coords=coords, off_plane=off, plane_value=plane, loss=loss, series=np.asarray(series, dtype=float), series_kind=kind,
                       last=last, diverged=run.diverged_step.numpy() >= 0, grad=grad, curve_grad=curve_grad)
        view.theory, view.rates = _theory(result, view)
        return view


def _theory(result: Any, view: RunView) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """Predicted curves from ``core.theory.predict`` (exact on quadratics and linear models, from
    each trajectory's start) and the predicted rates of ``result.theory[label]``."""
    curves, rates = {}, {}
    theory = getattr(result, "theory", None) or {}
    for i, label in enumerate(view.labels):
        rate = (theory.get(label) or {}).get("predicted_rate")
        if rate is not None and np.isfinite(rate):
            rates[i] = float(rate)
    if view.series_kind not in ("gap", "distance") or not rates:
        return curves, rates
    from core import theory as th

    run = result.run
    for i in rates:
        if run.thetas is None:
            break
        pred = th.predict(run.problem, view.kinds[i], view.hyper[i], run.thetas[0, i], view.steps)
        if pred is not None and view.series_kind in pred:
            curves[i] = pred[view.series_kind].detach().cpu().numpy()
    return curves, rates


def _tensor(x: Any):
    import torch

    return x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))


def run_view(result: Any, scenario: Any) -> RunView:
    """Everything the panels draw for ``result`` of ``scenario``; called inside the worker job."""
    return RunView.from_result(result, {"view": {"convergence": scenario.view.convergence}})
