"""The convergence panel: loss, loss - loss* or distance to the minimum against step, on a log
axis, one curve per trajectory, the rate predicted by ``core.theory`` dashed beside it, and a
cursor at the player's step (drag it to scrub)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lab.panels.display import cache_axes
from lab.panels.legend import collapsed, legend_names
from core.analysis import SERIES_NAMES

FLOOR = 1e-16  # a gap that rounds to zero is drawn at this floor rather than vanishing from a log axis


def positive(series: np.ndarray) -> np.ndarray:
    s = np.asarray(series, dtype=float)
    return np.where(np.isfinite(s), np.maximum(np.abs(s), FLOOR), np.nan)


class ConvergencePanel(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.item = self.plot.getPlotItem()
        self.item.hideButtons()
        self.item.setLogMode(False, True)
        self.item.showGrid(x=True, y=True, alpha=0.25)
        self.item.setLabel("bottom", "step")
        self.item.getAxis("left").enableAutoSIPrefix(False)
        cache_axes(self.item)
        self.cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#444", width=1.5))
        self.cursor.setZValue(10)
        self.cursor.sigPositionChanged.connect(self._scrub)
        self.item.addItem(self.cursor)
        self.dots = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=1.2))
        self.dots.setZValue(11)
        self.item.addItem(self.dots)
        self.legend = self.item.addLegend(offset=(-10, 10), labelTextColor="k", brush=pg.mkBrush(255, 255, 255, 200))
        self.curves: list[pg.PlotDataItem] = []
        self.owner: list[int] = []  # trajectory index of each curve
        self._signature: tuple = ()
        self.title = QLabel("<b>Convergence</b>")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.title)
        lay.addWidget(self.plot, 1)
        self._setting = False
        session.result_changed.connect(self.refresh)
        session.frame_changed.connect(self.set_frame)

    def refresh(self) -> None:
        view = self.session.view
        if view is None:
            return
        steps = np.arange(view.steps + 1)
        wanted = []  # (owner, x, y, pen, name) per curve; name None: not in the legend
        legend = legend_names(view, view.labels)  # a large sweep family is one line (lab.panels.legend)
        grouped = collapsed(view)
        for i in range(view.size):
            n = view.last[i] + 1
            wanted.append((i, steps[:n], positive(view.series[:n, i]), pg.mkPen(view.colors[i], width=2), legend.get(i)))
            if i in view.theory:
                rate = view.rates.get(i)
                name = None if i not in legend else "theory" if i in grouped or not rate else f"theory, rate {rate:.3g}"
                wanted.append((i, steps, positive(view.theory[i]),
                               pg.mkPen(view.colors[i], width=1.3, style=Qt.PenStyle.DashLine), name))
        signature = tuple((w[0], w[4], view.colors[w[0]]) for w in wanted)
        if signature == self._signature:  # same curves (a knob moved): new data in place
            for c, w in zip(self.curves, wanted):
                c.setData(w[1], w[2])
        else:
            self._signature = signature
            for c in self.curves:
                self.item.removeItem(c)
            self.legend.clear()
            self.curves, self.owner = [], []
            for i, x, y, pen, name in wanted:
                c = pg.PlotDataItem(x, y, pen=pen, name=name, connect="finite")
                self.item.addItem(c)
                self.curves.append(c)
                self.owner.append(i)
        self.item.setLabel("left", SERIES_NAMES.get(view.series_kind, view.series_kind))
        self.cursor.setBounds((0, view.steps))
        self.item.setXRange(0, view.steps, padding=0.02)
        ys = positive(view.series[np.isfinite(view.series)]) if np.isfinite(view.series).any() else np.array([1.0])
        self.item.setYRange(np.log10(np.nanmin(ys)), np.log10(np.nanmax(ys)), padding=0.05)
        self.set_frame(self.session.frame)

    def set_frame(self, step: int) -> None:
        view = self.session.view
        if view is None:
            return
        self._setting = True
        self.cursor.setValue(step)
        self._setting = False
        xs, ys, brushes = [], [], []
        for i in range(view.size):
            if step <= view.last[i]:
                v = positive(view.series[step, i : i + 1])[0]
                if np.isfinite(v):
                    xs.append(step)
                    ys.append(np.log10(v))  # scatter items take log-mode coordinates as given
                    brushes.append(pg.mkBrush(view.colors[i]))
        self.dots.setData(xs, ys, brush=brushes)

    def _scrub(self) -> None:
        if not self._setting:
            self.session.set_frame(int(round(self.cursor.value())))

    def set_font_size(self, points: int | None) -> None:
        from lab.style import set_plot_font

        set_plot_font(self.item, points)
        self.title.setStyleSheet(f"font-size: {points}pt;" if points else "")

    def highlight(self, label: str | None) -> None:
        view = self.session.view
        if view is None:
            return
        for c, i in zip(self.curves, self.owner):
            on = label is None or label in (view.labels[i], view.entry[i])
            c.setOpacity(1.0 if on else 0.2)
