"""The model view, for nets on low-dimensional data: what the network computes at the player's step.

- 2 inputs (classification): the predicted probability of class 1 over the input plane as a
  heatmap, the 0.5 decision boundary as a contour, the training points coloured by class.
- 1 input: the training points and the fitted curve; for ReLU nets with one hidden layer the
  elbows (where a hidden unit switches on, ``x = -b_j / w_j``) as faint vertical lines.
- Below, a small plot of each hidden activation ``phi`` (solid) and its derivative ``phi'``
  (dashed) on ``z`` in [-4, 4]: where ``phi'`` is 0 no gradient passes (dead ReLUs, saturated
  sigmoids, the step), which is what the convergence panel then shows.

It draws :class:`core.analysis.ModelArrays` (the predictions of every trajectory on the input grid
and the elbows, computed with the run in the worker) for the selected trajectory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget


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
        self.act_plot = pg.PlotWidget(background="w")  # phi and phi' of the hidden activations
        self.act_plot.setMenuEnabled(False)
        self.act_plot.setMaximumHeight(150)
        self.act_item = self.act_plot.getPlotItem()
        self.act_item.hideButtons()
        self.act_item.setLabel("bottom", "z")
        self.act_item.showGrid(x=True, y=True, alpha=0.2)
        self.act_legend = self.act_item.addLegend(offset=(4, 4), labelTextSize="8pt")
        self.act_curves: list[pg.PlotDataItem] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.title)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.act_plot)
        lay.addWidget(self.note)
        self._inputs = 0
        session.result_changed.connect(self.refresh)
        session.frame_changed.connect(self.set_frame)

    def refresh(self) -> None:
        view = self.session.view
        model = None if view is None else view.model
        if model is None:
            self._inputs = 0
            self.plot.hide()
            self.act_plot.hide()
            self.note.setText(view.model_note if view is not None else "")
            return
        self.plot.show()
        self.note.setText("")
        self._inputs = model.inputs
        self._draw_activations(model)
        Xn, y = model.X, model.y
        self.image.setVisible(self._inputs == 2)
        self.boundary.setVisible(self._inputs == 2)
        self.curve.setVisible(self._inputs == 1)
        if self._inputs == 2:
            (ax, ay) = model.axes
            self._shape = (len(ay), len(ax))
            self._rect = QRectF(ax[0], ay[0], ax[-1] - ax[0], ay[-1] - ay[0])
            colours = [pg.mkBrush("#b2182b") if v > 0.5 else pg.mkBrush("#2166ac") for v in y]  # the colour map's ends
            self.points.setData(Xn[:, 0], Xn[:, 1], brush=colours)
            self.item.setLabel("bottom", "x1")
            self.item.setLabel("left", "x2")
            self.item.setRange(xRange=(ax[0], ax[-1]), yRange=(ay[0], ay[-1]), padding=0)
        else:
            self.points.setData(Xn[:, 0], y, brush=pg.mkBrush(80, 80, 80, 160))
            self.item.setLabel("bottom", "x")
            self.item.setLabel("left", "y")
        self.set_frame(self.session.frame)

    def _draw_activations(self, model: Any) -> None:
        for c in self.act_curves:
            self.act_item.removeItem(c)
        self.act_legend.clear()
        self.act_curves = []
        colors = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b"]
        for k, (name, z, phi, d1) in enumerate(model.activations):
            color = colors[k % len(colors)]
            for y, style, label in ((phi, Qt.PenStyle.SolidLine, name), (d1, Qt.PenStyle.DashLine, f"{name}'")):
                c = pg.PlotDataItem(z, y, pen=pg.mkPen(color, width=2, style=style), name=label)
                self.act_item.addItem(c)
                self.act_curves.append(c)
        self.act_plot.setVisible(bool(model.activations))

    def flush(self) -> None:
        self.set_frame(self.session.frame)

    def prediction(self, step: int) -> np.ndarray | None:
        """The selected trajectory's prediction on the input grid at ``step`` (the last computed
        step at or before it: ``ModelArrays.steps``); None past the trajectories a huge sweep keeps."""
        model = self.session.view.model
        if self.session.selected >= model.predictions.shape[1]:
            return None
        return model.predictions[model.row(step), self.session.selected]

    def set_frame(self, step: int) -> None:
        view = self.session.view
        if not self._inputs or view is None or view.model is None or not self.isVisible():
            return
        p = self.prediction(step)
        if p is None:
            self.note.setText(f"predictions are kept for the first {view.model.predictions.shape[1]:,} trajectories")
            return
        self.note.setText("")
        if self._inputs == 2:
            img = p.reshape(self._shape)
            self.image.setImage(img, levels=(0.0, 1.0))
            self.image.setRect(self._rect)  # after setImage: the rect scales the image's pixel size
            self.boundary.setData(img)
        else:
            self.curve.setData(view.model.grid[:, 0], p)
            self._draw_elbows(step)
        self.title.setText(f"<b>Model</b> at step {step} ({view.labels[self.session.selected]})")

    def _draw_elbows(self, step: int) -> None:
        for line in self.elbows:
            self.item.removeItem(line)
        self.elbows = []
        view = self.session.view
        elbows = view.model.elbows
        if elbows is None:
            return
        i = self.session.selected
        grid = view.model.grid[:, 0]
        lo, hi = grid[0], grid[-1]
        for x in elbows[min(step, view.last[i]), i]:
            if np.isfinite(x) and lo <= x <= hi:
                line = pg.InfiniteLine(pos=float(x), angle=90, pen=pg.mkPen(150, 150, 150, 120, style=Qt.PenStyle.DotLine))
                self.item.addItem(line)
                self.elbows.append(line)

    def set_font_size(self, points: int | None) -> None:
        from lab.style import set_plot_font

        set_plot_font(self.item, points)
        set_plot_font(self.act_item, points)
