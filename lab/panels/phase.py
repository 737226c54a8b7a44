"""The (lr, beta) phase diagram of a momentum method: the convergence rate as a heatmap.

It draws :class:`core.analysis.Phase` (computed with the run in the worker, from
``core.theory.phase_diagram``): the per-step rate (the spectral radius of the iteration matrix over
the Hessian's eigenvalues) over log-spaced learning rates and momentum coefficients, the border of
the stable region (rate = 1) as a contour, the optimum of Polyak / Lessard-Recht-Packard as a star,
and the run's trajectories of that method as points: a slider change re-runs, and the points move.
Darker is faster; past the contour every error grows.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

#: rates above this are drawn as this (divergent): the colour range is [min rate, RATE_CAP]
RATE_CAP = 1.2


class PhasePanel(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.title = QLabel("<b>Phase diagram</b>")
        self.note = QLabel("")
        self.note.setStyleSheet("color: #555;")
        self.note.setWordWrap(True)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.item = self.plot.getPlotItem()
        self.item.hideButtons()
        self.item.setLabel("bottom", "log10 lr")
        for side in ("left", "bottom"):
            self.item.getAxis(side).enableAutoSIPrefix(False)  # beta in [0, 1] as itself, not "x0.001"
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.image.setZValue(-10)
        self.item.addItem(self.image)
        self.border = pg.IsocurveItem(level=1.0, pen=pg.mkPen("w", width=2), axisOrder="row-major")
        self.border.setParentItem(self.image)
        self.bar = pg.ColorBarItem(values=(0.0, RATE_CAP), colorMap=pg.colormap.get("viridis"), label="rate per step",
                                   interactive=False, width=12)
        self.bar.setImageItem(self.image, insert_in=self.item)
        self.optimum = pg.ScatterPlotItem(symbol="star", size=16, brush=pg.mkBrush("#ffd700"), pen=pg.mkPen("k", width=1))
        self.points = pg.ScatterPlotItem(size=11, pen=pg.mkPen("w", width=1.5))
        self.item.addItem(self.optimum)
        self.item.addItem(self.points)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.title)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.note)
        session.result_changed.connect(self.refresh)

    def refresh(self) -> None:
        view = self.session.view
        ph = None if view is None else view.phase
        if ph is None:
            self.plot.hide()
            self.note.setText(view.phase_note if view is not None else "")
            return
        self.plot.show()
        x = np.log10(ph.lrs)
        rate = np.minimum(ph.rate, RATE_CAP)
        self.image.setImage(rate, levels=(float(rate.min()), RATE_CAP))
        self.image.setRect(QRectF(x[0], ph.betas[0], x[-1] - x[0], ph.betas[-1] - ph.betas[0]))
        self.border.setData(rate)
        self.bar.setLevels((float(rate.min()), RATE_CAP))
        self.item.setLabel("left", ph.beta_name)
        self.item.setRange(xRange=(x[0], x[-1]), yRange=(ph.betas[0], ph.betas[-1]), padding=0)
        colors = [view.colors[i] for i in ph.owners]
        self.points.setData(np.log10(ph.points[:, 0]), ph.points[:, 1], brush=[pg.mkBrush(c) for c in colors])
        notes = []
        if ph.optimum is not None:
            lr, beta, r = ph.optimum
            self.optimum.setData([np.log10(lr)], [beta])
            notes.append(f"★ optimum lr {lr:.3g}, {ph.beta_name} {beta:.3g}: rate {r:.3g}")
        else:
            self.optimum.setData([], [])
        self.title.setText(f"<b>Phase diagram</b> of {html.escape(ph.kind)}: rate per step, white line = 1")
        self.note.setText("; ".join(notes))

    def set_font_size(self, points: int | None) -> None:
        """Lecture mode's sizes for the axes, the colour bar, the title and the note (``None``: defaults)."""
        from PyQt6.QtGui import QFont

        from lab.style import set_plot_font

        set_plot_font(self.item, points)
        for label in (self.title, self.note):
            font = label.font()
            font.setPointSize(points or QFont().pointSize())
            label.setFont(font)
