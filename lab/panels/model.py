"""The model view, for nets on low-dimensional data: what the network computes at the player's step.

- 2 inputs (classification): the predicted probability of class 1 over the input plane as a
  heatmap, the 0.5 decision boundary as a contour, the training points coloured by class.
- 1 input: the training points and the fitted curve; for ReLU nets with one hidden layer the
  elbows (where a hidden unit switches on, ``x = -b_j / w_j``) as faint vertical lines.

Predictions come from ``problem.predict(theta, X)`` (core); this panel only draws them, for the
selected trajectory, and caches them per step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core.problems.protocols import DataProblem, ModelView

GRID = 90  # input-plane resolution of the 2-D view


class ModelPanel(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.title = QLabel("<b>Model</b>")
        self.note = QLabel("")
        self.note.setStyleSheet("color: #555;")
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.item = self.plot.getPlotItem()
        self.item.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("CET-D1"))
        self.image.setZValue(-10)
        self.image.setOpacity(0.55)  # pale, so the data points stand out on it
        self.item.addItem(self.image)
        self.boundary = pg.IsocurveItem(level=0.5, pen=pg.mkPen("k", width=2), axisOrder="row-major")
        self.boundary.setParentItem(self.image)
        self.points = pg.ScatterPlotItem(size=7, pen=pg.mkPen("k", width=0.6))
        self.item.addItem(self.points)
        self.curve = pg.PlotDataItem(pen=pg.mkPen("#d62728", width=2.5))
        self.item.addItem(self.curve)
        self.elbows: list[pg.InfiniteLine] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.title)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.note)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._inputs = 0
        session.result_changed.connect(self.refresh)
        session.frame_changed.connect(self.set_frame)

    def refresh(self) -> None:
        result = self.session.result
        self._cache = {}
        problem = None if result is None else result.run.problem
        net = isinstance(problem, ModelView) and isinstance(problem, DataProblem)
        if not net or problem.X.shape[1] > 2 or result.run.thetas is None:
            self._inputs = 0
            self.plot.hide()
            self.note.setText("the model view needs a net on 1-D or 2-D inputs")
            return
        X = problem.X
        self.plot.show()
        self.note.setText("")
        self._inputs = X.shape[1]
        Xn = X.detach().cpu().numpy()
        y = problem.y.detach().cpu().numpy().ravel()
        self.image.setVisible(self._inputs == 2)
        self.boundary.setVisible(self._inputs == 2)
        self.curve.setVisible(self._inputs == 1)
        if self._inputs == 2:
            lo, hi = Xn.min(axis=0), Xn.max(axis=0)
            pad = 0.1 * (hi - lo)
            lo, hi = lo - pad, hi + pad
            self._axes = [np.linspace(lo[k], hi[k], GRID) for k in range(2)]
            gx, gy = np.meshgrid(*self._axes)
            self._grid = np.column_stack([gx.ravel(), gy.ravel()])
            self._rect = QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
            colours = [pg.mkBrush("#b2182b") if v > 0.5 else pg.mkBrush("#2166ac") for v in y]  # the colour map's ends
            self.points.setData(Xn[:, 0], Xn[:, 1], brush=colours)
            self.item.setLabel("bottom", "x1")
            self.item.setLabel("left", "x2")
            self.item.setRange(xRange=(lo[0], hi[0]), yRange=(lo[1], hi[1]), padding=0)
        else:
            lo, hi = Xn.min(), Xn.max()
            pad = 0.05 * (hi - lo)
            self._grid = np.linspace(lo - pad, hi + pad, 400)[:, None]
            self.points.setData(Xn[:, 0], y, brush=pg.mkBrush(80, 80, 80, 160))
            self.item.setLabel("bottom", "x")
            self.item.setLabel("left", "y")
        self.set_frame(self.session.frame)

    def flush(self) -> None:
        self.set_frame(self.session.frame)

    def prediction(self, step: int) -> np.ndarray | None:
        view, run = self.session.view, self.session.result.run
        i = self.session.selected
        n = min(step, view.last[i])
        key = (i, n)
        if key not in self._cache:
            import torch

            problem = run.problem
            theta = run.thetas[n, i].to(problem.device, problem.dtype)
            with torch.no_grad():
                out = problem.predict(theta, torch.as_tensor(self._grid, dtype=problem.dtype, device=problem.device))
            out = out.detach().cpu().numpy()
            self._cache[key] = out[:, 1] if out.ndim == 2 and out.shape[1] == 2 else out.reshape(len(self._grid), -1)[:, 0]
        return self._cache[key]

    def set_frame(self, step: int) -> None:
        if not self._inputs or self.session.view is None or not self.isVisible():
            return
        try:
            p = self.prediction(step)
        except Exception as exc:  # noqa: BLE001 - a failing prediction must not take the window down
            self.note.setText(f"model view failed: {exc}")
            return
        if self._inputs == 2:
            img = p.reshape(GRID, GRID)
            self.image.setImage(img, levels=(0.0, 1.0))
            self.image.setRect(self._rect)  # after setImage: the rect scales the image's pixel size
            self.boundary.setData(img)
        else:
            self.curve.setData(self._grid[:, 0], p)
            self._draw_elbows(step)
        self.title.setText(f"<b>Model</b> at step {step} ({self.session.view.labels[self.session.selected]})")

    def _draw_elbows(self, step: int) -> None:
        for line in self.elbows:
            self.item.removeItem(line)
        self.elbows = []
        run, problem = self.session.result.run, self.session.result.run.problem
        if not isinstance(problem, ModelView) or problem.activations != ["relu"]:
            return
        i = self.session.selected
        params = list(problem.unflatten(run.thetas[min(step, self.session.view.last[i]), i]).values())
        w, b = params[0].reshape(-1).numpy(), params[1].reshape(-1).numpy()
        lo, hi = self._grid[0, 0], self._grid[-1, 0]
        for wj, bj in zip(w, b):
            if wj != 0 and lo <= -bj / wj <= hi:
                line = pg.InfiniteLine(pos=-bj / wj, angle=90, pen=pg.mkPen(150, 150, 150, 120, style=Qt.PenStyle.DotLine))
                self.item.addItem(line)
                self.elbows.append(line)

    def set_font_size(self, points: int | None) -> None:
        from lab.style import set_plot_font

        set_plot_font(self.item, points)
