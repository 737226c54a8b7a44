"""The convergence panel: loss, loss - loss* or distance to the minimum against step, on a log
axis, one curve per trajectory, and a cursor at the player's step (drag it to scrub).

Where ``core.theory`` predicts the curve (quadratics, least squares; ``RunView.theory``) the
prediction is drawn ON TOP of the measured one in a contrasting style (a darker shade of the
trajectory's colour, dashed, thicker, over a thin white halo) and labelled on the plot and in the
legend with its own rate (``RunView.rates``: the slowest mode its start excites, in the series'
units). The "per mode" box switches to the error along each Hessian eigenvector of the selected
trajectory (``RunView.modes``; Goh, "Why Momentum Really Works", Distill 2017): measured solid,
predicted dashed, one line per eigenvalue."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QFont
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from lab.panels.display import cache_axes
from lab.panels.legend import collapsed, legend_names
from core.analysis import SERIES_NAMES

#: past this share of the plot's height (or its width) the legend goes under the plot (``self.key``)
KEY_SHARE = 0.45
FLOOR = 1e-16  # a gap that rounds to zero is drawn at this floor rather than vanishing from a log axis


MEASURED_WIDTH = 2.0
THEORY_WIDTH = 2.6  # thicker than the measured line, dashed: the measured colour shows between the dashes
THEORY_Z, LABEL_Z = 5, 6  # above every measured curve (z 0)
HALO_Z = -1  # the halo under every curve: it outlines a prediction against the grid without hiding the measured line
#: eigendirections in the per-mode view, largest eigenvalue first (distinct hues: modes often share a rate)
MODE_COLORS = ("#e6550d", "#3182bd", "#31a354", "#756bb1", "#e7298a", "#a6761d", "#17becf", "#636363")


def positive(series: np.ndarray) -> np.ndarray:
    s = np.asarray(series, dtype=float)
    return np.where(np.isfinite(s), np.maximum(np.abs(s), FLOOR), np.nan)


def theory_color(color: str) -> QColor:
    """The predicted curve's colour: a dark shade of the trajectory's (contrasting on its own line,
    still telling the trajectories apart)."""
    c = QColor(pg.mkColor(color))
    c.setAlpha(255)
    return c.darker(250)


def theory_pens(color: str) -> tuple[Any, Any]:
    """(halo, dashes) pens of a predicted curve."""
    halo = pg.mkPen(QColor(255, 255, 255, 220), width=THEORY_WIDTH + 3.0)
    dash = pg.mkPen(theory_color(color), width=THEORY_WIDTH, style=Qt.PenStyle.CustomDashLine)
    dash.setDashPattern([3.0, 2.0])
    return halo, dash


def rate_text(rate: float) -> str:
    return f"{rate:.3g}/step"


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
        from lab.style import tidy_log_ticks

        tidy_log_ticks(self.item.getAxis("left"))  # decades only, no crowded 0.9 0.8 0.7
        cache_axes(self.item)
        self.cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#444", width=1.5))
        self.cursor.setZValue(10)
        self.cursor.sigPositionChanged.connect(self._scrub)
        self.item.addItem(self.cursor)
        self.dots = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=1.2))
        self.dots.setZValue(11)
        self.item.addItem(self.dots)
        self.legend = self.item.addLegend(offset=(-10, 10), labelTextColor="k", brush=pg.mkBrush(255, 255, 255, 200))
        self._yrange: tuple[float, float] | None = None  # the measured curves' log10 range
        # scheduled learning rates lr_t (RunView.lr_curves, computed by core) on a linear right axis
        self.lr_view = pg.ViewBox(enableMenu=False)
        self.lr_view.setMouseEnabled(False, False)
        self.item.scene().addItem(self.lr_view)
        self.item.getAxis("right").linkToView(self.lr_view)
        self.lr_view.setXLink(self.item)
        self.item.vb.sigResized.connect(self._sync_lr_view)
        self.lr_items: list[pg.PlotDataItem] = []
        self.item.vb.sigResized.connect(self._place_legend)  # a new size: the legend's corner again
        self.curves: list[pg.PlotDataItem] = []
        self.owner: list[int] = []  # trajectory index of each curve
        self._signature: tuple = ()
        self.labels: list[pg.TextItem] = []  # each predicted curve's rate, on the plot
        self._points: int | None = None  # the font size lecture mode set (None: the default)
        self.title = QLabel("<b>Convergence</b>")
        self.per_mode = QCheckBox("per mode")
        self.per_mode.setToolTip("the error along each Hessian eigenvector of the selected trajectory: measured solid, predicted dashed")
        self.per_mode.setVisible(False)
        self.per_mode.toggled.connect(lambda _on: self.refresh())
        self._mode_of = -1  # the trajectory the per-mode view shows
        self.per_layer = QCheckBox("per layer")
        self.per_layer.setToolTip("the norm of the gradient of each layer of the selected trajectory (nets): "
                                  "vanishing gradients shrink layer by layer towards the input")
        self.per_layer.setVisible(False)
        self.per_layer.toggled.connect(lambda _on: self.refresh())
        self._layers = False  # the per-layer view is shown
        self.per_sample = QCheckBox("per sample")
        self.per_sample.setToolTip("x axis: training samples the gradients used (RunView.samples_per_step), so full-batch "
                                   "and minibatch runs compare per sample seen as well as per step")
        self.per_sample.setVisible(False)
        self.per_sample.toggled.connect(lambda _on: self.refresh())
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.per_layer)
        head.addWidget(self.per_sample)
        head.addWidget(self.per_mode)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(head)
        lay.addWidget(self.plot, 1)
        self.key = QLabel("")  # the legend, under the plot, when the plot is too small to hold it
        self.key.setWordWrap(True)
        self.key.setTextFormat(Qt.TextFormat.RichText)
        self.key.setVisible(False)
        lay.addWidget(self.key)
        self._placing = False
        self._setting = False
        session.result_changed.connect(self.refresh)
        session.frame_changed.connect(self.set_frame)

    def refresh(self) -> None:
        view = self.session.view
        if view is None:
            return
        steps = np.arange(view.steps + 1)
        self.per_mode.setVisible(bool(view.modes))
        self.per_sample.setVisible(view.samples_per_step is not None)
        self.per_layer.setVisible(view.layer_grad_norm is not None)
        self._layers = self.per_layer.isChecked() and view.layer_grad_norm is not None
        modes = self.per_mode.isChecked() and bool(view.modes) and not self._layers
        wanted = (self._layer_curves(view, steps) if self._layers else self._mode_curves(view, steps) if modes
                  else self._curves(view, steps))
        signature = tuple((w[0], w[4], w[5], w[6], w[3].color().name(), w[3].style()) for w in wanted)
        if signature == self._signature:  # same curves (a knob moved): new data in place
            for c, w in zip(self.curves, wanted):
                c.setData(w[1], w[2])
        else:
            self._signature = signature
            for c in self.curves:
                self.item.removeItem(c)
            self.legend.clear()
            self.curves, self.owner = [], []
            for i, x, y, pen, name, z, _color in wanted:
                c = pg.PlotDataItem(x, y, pen=pen, name=name, connect="finite")
                c.setZValue(z)
                self.item.addItem(c)
                self.curves.append(c)
                self.owner.append(i)
        kind = SERIES_NAMES.get(view.series_kind, view.series_kind)
        of = html.escape(view.labels[self._mode_of]) if self._mode_of >= 0 else ""
        self.title.setText("<b>Convergence</b>" + (f" per eigenvector of {of}" if modes else f": gradient per layer of {of}"
                                                   if self._layers else ""))
        self.item.setLabel("left", "|error along each eigenvector|" if modes else "|gradient| of each layer" if self._layers else kind)
        right = view.steps * max((self._scale(i) for i in range(view.size)), default=1.0)
        self.cursor.setBounds((0, right))
        self.item.setXRange(0, right, padding=0.02)
        self.item.setLabel("bottom", "samples seen" if self._per_sample() else "step")
        data = np.concatenate([np.ravel(w[2]) for w in wanted if not w[5]] or [np.array([1.0])])  # measured only
        ys = data[np.isfinite(data)] if np.isfinite(data).any() else np.array([1.0])
        lo, hi = np.log10(np.nanmin(ys)), np.log10(np.nanmax(ys))
        self._yrange = (lo, hi)
        self._place_legend()  # sets the y range (with room above the curves when no corner is free)
        self._label_theory(view, wanted, lo, hi)
        self._draw_lr(view)
        self.set_frame(self.session.frame)

    def _draw_lr(self, view: Any) -> None:
        """Each scheduled optimizer's lr_t (t = 0 .. steps-1, the rate of the update from step t),
        dashed in its colour on the right axis; the axis is hidden when no optimizer has a schedule.
        The values are core's (``RunView.lr_curves``): nothing is computed here."""
        for c in self.lr_items:
            self.lr_view.removeItem(c)
        self.lr_items = []
        curves = getattr(view, "lr_curves", None) or {}
        self.item.showAxis("right", bool(curves))
        if not curves:
            return
        self.item.getAxis("right").setLabel("learning rate (dashed)")
        for label, rows in curves.items():
            color = view.colors[view.entry.index(label)] if label in view.entry else "#444"
            for row in np.unique(np.asarray(rows, dtype=float), axis=0):
                owner = view.entry.index(label) if label in view.entry else 0
                c = pg.PlotDataItem(np.arange(row.size) * self._scale(owner), row,
                                    pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine))
                c.lr_label = label
                self.lr_view.addItem(c)
                self.lr_items.append(c)
        top = max(float(np.nanmax(rows)) for rows in curves.values())
        self.lr_view.setYRange(0.0, top if top > 0 else 1.0, padding=0.05)
        self._sync_lr_view()

    def _sync_lr_view(self, *_: Any) -> None:
        self.lr_view.setGeometry(self.item.vb.sceneBoundingRect())
        self.lr_view.linkedViewChanged(self.item.vb, self.lr_view.XAxis)

    def _curves(self, view: Any, steps: np.ndarray) -> list[tuple]:
        """(owner, x, y, pen, name, z, theory?) per curve; name None: not in the legend. A
        prediction is two items, its halo and its dashes (the dashes carry the legend entry)."""
        self._mode_of = -1
        wanted = []
        legend = legend_names(view, view.labels)  # a large sweep family is one line (lab.panels.legend)
        grouped = collapsed(view)
        for i in range(view.size):
            n = view.last[i] + 1
            wanted.append((i, self._x(i, steps)[:n], positive(view.series[:n, i]), pg.mkPen(view.colors[i], width=MEASURED_WIDTH),
                           legend.get(i), 0, False))
        if view.held_out is not None:  # the held-out loss, dotted in the trajectory's colour (one legend entry)
            for k, i in enumerate(range(view.size)):
                n = view.last[i] + 1
                pen = pg.mkPen(view.colors[i], width=MEASURED_WIDTH, style=Qt.PenStyle.DotLine)
                wanted.append((i, self._x(i, steps)[:n], positive(view.held_out[:n, i]), pen,
                               "held-out loss" if k == 0 else None, 0, False))
        for i in range(view.size):  # every prediction above every measured curve
            if i in view.theory:
                rate = view.rates.get(i)
                name = None if i not in legend else "theory" if i in grouped or rate is None else f"theory {rate_text(rate)}"
                halo, dash = theory_pens(view.colors[i])
                y = positive(view.theory[i])
                wanted.append((i, self._x(i, steps), y, halo, None, HALO_Z, True))
                wanted.append((i, self._x(i, steps), y, dash, name, THEORY_Z, True))
        return wanted

    def _mode_curves(self, view: Any, steps: np.ndarray) -> list[tuple]:
        """The selected trajectory's error along each eigenvector (``RunView.modes``), or the first
        trajectory that has them."""
        sel = self.session.selected
        i = sel if sel in view.modes else min(view.modes)
        self._mode_of = i
        m = view.modes[i]
        n = view.last[i] + 1
        wanted = []
        for j, h in enumerate(m.h):
            color = MODE_COLORS[j % len(MODE_COLORS)]
            wanted.append((i, self._x(i, steps)[:n], positive(m.measured[:n, j]), pg.mkPen(color, width=MEASURED_WIDTH),
                           f"h = {h:.3g}: {rate_text(float(m.rates[j]))}", 0, False))
        for j in range(len(m.h)):
            halo, dash = theory_pens(MODE_COLORS[j % len(MODE_COLORS)])
            y = positive(m.predicted[:, j])
            wanted.append((i, self._x(i, steps), y, halo, None, HALO_Z, True))
            wanted.append((i, self._x(i, steps), y, dash, "theory" if j == 0 else None, THEORY_Z, True))
        return wanted

    def _layer_curves(self, view: Any, steps: np.ndarray) -> list[tuple]:
        """The selected trajectory's gradient norm per layer (``RunView.layer_grad_norm``), input
        layer first, one colour per layer."""
        i = min(max(self.session.selected, 0), view.size - 1)
        self._mode_of = i
        n = view.last[i] + 1
        return [(i, self._x(i, steps)[:n], positive(view.layer_grad_norm[:n, i, k]),
                 pg.mkPen(MODE_COLORS[k % len(MODE_COLORS)], width=MEASURED_WIDTH), name, 0, False)
                for k, name in enumerate(view.layer_names)]

    def _label_theory(self, view: Any, wanted: list[tuple], lo: float, hi: float) -> None:
        """Each prediction's own rate, written beside it where it leaves the shown range (or at its end)."""
        for t in self.labels:
            self.item.removeItem(t)
        self.labels = []
        if self._layers:
            return
        dashes = [w for w in wanted if w[5] and w[3].style() == Qt.PenStyle.CustomDashLine]
        if self._mode_of >= 0:
            named = [(w, rate_text(float(r))) for w, r in zip(dashes, view.modes[self._mode_of].rates)]
        else:
            named = [(w, rate_text(view.rates[w[0]])) for w in dashes if w[0] in view.rates]
        for w, text in named:
            y = np.log10(w[2])
            # where the curve leaves the shown range or reaches the floor, else 85 % along it
            inside = np.flatnonzero(np.isfinite(y) & (y >= lo) & (y <= hi) & (w[2] > 10 * FLOOR))
            if not inside.size:
                continue
            k = int(inside[-1])
            k = int(inside[int(0.85 * (len(inside) - 1))]) if k >= len(y) - 1 else k
            right = w[1][k] > 0.5 * view.steps  # the text on the side with room
            below = 0.0 if y[k] > hi - 0.15 * (hi - lo) else 1.0  # leaving through the top: the text under it
            label = pg.TextItem(text, color=w[3].color(), anchor=(1.0 if right else 0.0, below),
                                fill=pg.mkBrush(255, 255, 255, 190))
            label.setPos(float(w[1][k]), float(y[k]))
            if self._points:
                font = label.textItem.font()
                font.setPointSize(max(self._points - 4, 8))
                label.setFont(font)
            label.setZValue(LABEL_Z)
            self.item.addItem(label)
            self.labels.append(label)

    def set_frame(self, step: int) -> None:
        view = self.session.view
        if view is None:
            return
        self._setting = True
        self.cursor.setValue(step * self._scale(self.session.selected))
        self._setting = False
        if self._mode_of >= 0 and self.session.selected != self._mode_of and (self._layers or self.session.selected in view.modes):
            self.refresh()  # the per-mode view follows the selected trajectory
            return
        xs, ys, brushes = [], [], []
        for i in range(view.size if self._mode_of < 0 else 0):
            if step <= view.last[i]:
                v = positive(view.series[step, i : i + 1])[0]
                if np.isfinite(v):
                    xs.append(step * self._scale(i))
                    ys.append(np.log10(v))  # scatter items take log-mode coordinates as given
                    brushes.append(pg.mkBrush(view.colors[i]))
        self.dots.setData(xs, ys, brush=brushes)

    def _per_sample(self) -> bool:
        view = self.session.view
        return self.per_sample.isChecked() and view is not None and view.samples_per_step is not None

    def _scale(self, i: int) -> float:
        """x units per step of trajectory ``i``: its samples per step on the per-sample axis, else 1."""
        view = self.session.view
        if not self._per_sample() or not 0 <= i < len(view.samples_per_step):
            return 1.0
        return float(view.samples_per_step[i])

    def _x(self, i: int, steps: np.ndarray) -> np.ndarray:
        return steps * self._scale(i)

    def _scrub(self) -> None:
        if not self._setting:
            self.session.set_frame(int(round(self.cursor.value() / self._scale(self.session.selected))))

    def set_font_size(self, points: int | None) -> None:
        from lab.style import set_plot_font

        set_plot_font(self.item, points)
        self._points = points
        for label in self.labels:
            font = label.textItem.font()
            font.setPointSize(max(points - 4, 8) if points else QFont().pointSize())
            label.setFont(font)
        self.title.setStyleSheet(f"font-size: {points}pt;" if points else "")
        self._place_legend()

    def _place_legend(self, *_: Any) -> None:
        """The legend in columns (at most 40 % of the plot's height), at the corner over the fewest
        curve points (:func:`lab.panels.legend.best_corner`); where every corner covers more than 1 %
        of them, the y range gets room above the curves and the legend sits there. Runs per run and
        per resize, never per frame: playback does not move it."""
        if self._placing:
            return
        self._placing = True
        try:
            self._place_legend_now()
        finally:
            self._placing = False

    def _place_legend_now(self) -> None:
        from lab.panels import legend as lg

        if self._yrange is None:
            return
        lo, hi = self._yrange
        vb = self.item.vb
        self.item.setYRange(lo, hi, padding=0.05)
        lg.fit_columns(self.legend, vb.width(), vb.height())
        pts = [c.getData() for c in self.curves]

        def pixels() -> tuple[np.ndarray, np.ndarray]:  # every curve, sampled along its segments
            got = [lg.along(*lg.pixel_points(vb, x, y)) for x, y in pts if x is not None and len(x)]
            if not got:
                return np.zeros(0), np.zeros(0)
            return np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])

        px, py = pixels()
        corner, count = lg.best_corner(vb, self.legend, px, py)
        share = (self.legend.height() + 16) / max(vb.height(), 1.0)
        outside = bool(self.legend.items) and (self.legend.width() > vb.width() - 16 or share > KEY_SHARE)
        self.key.setText(lg.key_html(self.legend) if outside else "")
        self.key.setStyleSheet(f"font-size: {max(self._points - 4, 9)}pt;" if self._points else "")
        self.key.setVisible(outside)
        self.legend.setVisible(not outside)
        from lab.style import fit_axis_label

        fit_axis_label(self.item.getAxis("left"), vb.height())
        if outside:
            return
        if px.size and count > lg.COVER * px.size and vb.height() > 0:
            span = hi - lo if hi > lo else 1.0
            top = lg.headroom_top(lo - 0.05 * span, hi + 0.05 * span, share)
            self.item.setYRange(lo - 0.05 * span, top, padding=0)
            px, py = pixels()
            corner, count = lg.best_corner(vb, self.legend, px, py)
        self.legend.setOffset(corner)

    def highlight(self, label: str | None) -> None:
        view = self.session.view
        if view is None:
            return
        if self._mode_of >= 0:
            return
        for c, i in zip(self.curves, self.owner):
            on = label is None or label in (view.labels[i], view.entry[i])
            c.setOpacity(1.0 if on else 0.2)
