"""The landscape panel: the loss surface with every trajectory moving on it.

2-D (toys with two parameters, or a slice of a net): heatmap (``ImageItem`` placed on the
(alpha, beta) axes with ``setRect``), contour lines (``IsocurveItem`` children of the image, so
they follow its transform), a colour bar (linear or log10 of ``loss - min``), known minima as
stars, other local minima as hollow stars and saddles as crosses, and the trajectories (faint
paths, fading trails and heads) with a legend beside the plot, never over it. Both axes of a 2-D
landscape are the same kind of coordinate (two parameters of one problem, or the alpha and beta
of a plane through parameter space), so it is drawn at equal scale by default (a circular bowl is
round); the "1:1" button turns that off. A left click sets a new start point for every optimizer.
1-D problems are drawn as the curve ``g(w)`` with the iterates on it and the tangent at the current
one, as in the lecture, and the derivative ``g'(w)`` (dashed) on its own axis on the right. A "3-D"
toggle shows the surface in OpenGL where that is available.

A diverged trajectory is drawn up to its last finite step inside the picture; an x marks where it
left, labelled "diverged at step N" (N: the step the engine stopped it).

Many trajectories stay fast: the items are made once per run and updated in place on every frame,
one path item per colour (NaN-separated paths, ``connect="finite"``), one scatter for all heads
and one for all trails, their brushes built once per run; a family shown as one legend line is a
colour ramp quantized to a few shades, so the item count does not grow with the trajectories.
Until there is a picture (the first run is computing, or it failed) the panel says so instead of
showing empty axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QTransform
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from lab.panels.display import TRAIL, cache_axes, contour_levels, display_values, fading_brushes, in_box_until
from lab.panels.legend import family_colors, legend_names

CONTOUR_GRID = 128
#: trails (the fading last iterates) are drawn while there are at most this many trajectories;
#: past that a trail per trajectory is noise, and the paths and heads say where each one is
MAX_TRAILS = 64
#: "diverged at step N" labels are written while at most this many trajectories diverged (the
#: legend counts the rest); every one still gets its x
MAX_DIVERGED_LABELS = 8
PATH_ALPHA, DIM_ALPHA = 0.6, 0.15  # path opacity normally, and of the others while one is emphasised
#: equal scale is the default for a box at most this elongated (either way); the 1:1 button decides after
MAX_EQUAL_RATIO = 2.5
MARGIN = 0.02  # the box a diverged path is cut at: the picture's, grown by this fraction per side


class LandscapePanel(QWidget):
    """Reads ``session.view`` / ``session.result.surface``; writes ``session.set_start`` on click."""

    clicked = pyqtSignal(float, float)

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.log = False
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.plot.getPlotItem().hideButtons()
        self.item = self.plot.getPlotItem()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.cmap = pg.colormap.get("viridis")
        self.image.setColorMap(self.cmap)
        self.item.addItem(self.image)
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=self.cmap, interactive=False, width=14, pen="k")
        self.bar.setImageItem(self.image, insert_in=self.item)
        self.bar.axis.enableAutoSIPrefix(False)
        self.isocurves: list[pg.IsocurveItem] = []
        self.curve = pg.PlotDataItem(pen=pg.mkPen("#222", width=2))  # 1-D: g(w)
        self.tangent = pg.PlotDataItem(pen=pg.mkPen("#d62728", width=1.5, style=Qt.PenStyle.DotLine))
        for it in (self.curve, self.tangent):
            self.item.addItem(it)
        # 1-D: the derivative on its own axis (right), x linked to the curve's
        self.deriv_vb = pg.ViewBox(enableMenu=False)
        self.deriv_vb.setMouseEnabled(False, False)
        self.deriv = pg.PlotDataItem(pen=pg.mkPen("#888", width=1.5, style=Qt.PenStyle.DashLine))
        self.deriv_zero = pg.InfiniteLine(angle=0, pos=0.0, pen=pg.mkPen("#bbb", width=1, style=Qt.PenStyle.DotLine))
        self.deriv_vb.addItem(self.deriv)
        self.deriv_vb.addItem(self.deriv_zero)
        self.item.scene().addItem(self.deriv_vb)
        self.item.getAxis("right").linkToView(self.deriv_vb)
        self.deriv_vb.setXLink(self.item.vb)
        self.item.vb.sigResized.connect(self._sync_deriv_geometry)
        self.minima = pg.ScatterPlotItem(symbol="star", size=18, brush=pg.mkBrush("w"), pen=pg.mkPen("k", width=1.2))
        self.local_minima = pg.ScatterPlotItem(symbol="star", size=15, brush=pg.mkBrush(255, 255, 255, 60), pen=pg.mkPen("k", width=1.2))
        self.saddles = pg.ScatterPlotItem(symbol="+", size=16, brush=pg.mkBrush("k"), pen=pg.mkPen("w", width=1))
        for it in (self.minima, self.local_minima, self.saddles):
            it.setZValue(1.5)
            self.item.addItem(it)
        # the legend sits in the plot's layout under the bottom axis, in columns: beside the data,
        # never on it (the axes keep the panel's width; a 2-D picture at equal scale has spare height
        # only when the panel is tall, a legend on the right would take the width it needs)
        self.legend = pg.LegendItem(labelTextColor="k", brush=pg.mkBrush(255, 255, 255, 0), pen=None, verSpacing=-4)
        # its width is never the layout's business (a long name must not push the axes off the panel)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.legend.setMinimumWidth(0)
        self.item.layout.addItem(self.legend, 5, 0, 1, 7, alignment=Qt.AlignmentFlag.AlignLeft)
        # trajectories: one path item per colour, one trail scatter, one head scatter, one x scatter
        self.paths: list[pg.PlotCurveItem] = []
        self.focus = pg.PlotCurveItem(connect="finite")
        self.trails = pg.ScatterPlotItem(size=7, pen=None)
        self.heads = pg.ScatterPlotItem(size=15, symbol="o", pen=pg.mkPen("w", width=2))
        self.crosses = pg.ScatterPlotItem(size=14, symbol="x", pen=None)
        for z, it in ((2.5, self.focus), (3, self.trails), (4, self.heads), (4.5, self.crosses)):
            it.setZValue(z)
            self.item.addItem(it)
        self.diverged_labels: list[tuple[int, pg.TextItem]] = []
        self.samples: list[Any] = []  # legend swatches (not in the plot)
        self.note = QLabel("")
        self.note.setStyleSheet("color: #555;")
        # a long note (the busy message, the off-plane line) is clipped, never widens the window
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.aspect = QPushButton("1:1")
        self.aspect.setCheckable(True)
        self.aspect.setChecked(True)
        self.aspect.setToolTip("Equal scale on both axes (a circular bowl looks round); off: each axis fills the panel")
        self.aspect.toggled.connect(self._apply_aspect)
        self.toggle3d = QPushButton("3-D")
        self.toggle3d.setCheckable(True)
        self.toggle3d.setToolTip("Show the surface in 3-D (OpenGL)")
        self.toggle3d.toggled.connect(self.show_3d)
        self.state = QLabel("")  # what is shown while there is no picture: computing, or why not
        self.state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.state.setWordWrap(True)
        self.state.setStyleSheet("color: #555; font-size: 15px; background: white;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.state)
        self.view3d: QWidget | None = None
        top = QHBoxLayout()
        self.title = QLabel("<b>Landscape</b>")
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.note)
        top.addWidget(self.aspect)
        top.addWidget(self.toggle3d)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(self.stack, 1)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        session.result_changed.connect(self.refresh)
        session.frame_changed.connect(self.set_frame)
        session.busy.connect(self._on_busy)
        session.error.connect(self._on_error)
        self._busy_text = ""
        self._error_text = ""
        self._dim = 0
        self._drawn: tuple = ()
        self._tracks_for: tuple = ()
        self._label_points = 0
        self._highlight: str | None = None
        self._empty_tracks()
        cache_axes(self.item)
        self._show_state()

    # -- the state without a picture -----------------------------------------------------------
    def _has_picture(self) -> bool:
        view, result = self.session.view, self.session.result
        if view is None or result is None:
            return False
        if self._busy_text and getattr(result, "scenario", None) is not None and self.session.scenario is not None \
                and result.scenario.problem != self.session.scenario.problem:
            return False  # the picture on screen is of the previous problem
        return getattr(result, "surface", None) is not None or view.dim == 1

    def _show_state(self) -> None:
        if self._has_picture():
            self.state.setText("")
            if self.stack.currentWidget() is self.state:
                self.stack.setCurrentWidget(self.view3d if self.view3d is not None and self.toggle3d.isChecked() else self.plot)
            return
        if self._busy_text:
            text = "computing the landscape ...\n\n" + self._busy_text
        elif self._error_text:
            text = "no landscape: " + self._error_text
        elif self.session.view is not None:
            text = "no landscape for this run (it was not computed)"
        else:
            text = "no scenario open"
        self.state.setText(text)
        self.stack.setCurrentWidget(self.state)

    def _on_busy(self, message: str) -> None:
        self._busy_text = message
        if message:
            self._error_text = ""
        self._show_state()

    def _on_error(self, path: str, message: str) -> None:
        if message and not path:
            self._error_text = message
            self._show_state()

    # -- data ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        view, result = self.session.view, self.session.result
        if view is None:
            self._show_state()
            return
        self._error_text = ""
        surface = getattr(result, "surface", None)
        self.log = bool(self.session.scenario.view.log_scale)
        # a 1-parameter problem is a curve whether or not its landscape was computed (hidden panel)
        one_d = len(np.asarray(surface.betas)) == 0 if surface is not None else view.dim == 1
        self._dim = 1 if one_d else 2
        key = (id(surface), self.log, one_d)
        if key != self._drawn:  # a knob that kept the landscape keeps its image and contours
            self._drawn = key
            self._tracks_for = ()
            for iso in self.isocurves:
                iso.setParentItem(None)
                if iso.scene() is not None:
                    iso.scene().removeItem(iso)
            self.isocurves = []
            self.image.setVisible(not one_d and surface is not None)
            self.bar.setVisible(not one_d and surface is not None)
            for it in (self.curve, self.deriv, self.tangent):
                it.setVisible(one_d)
                it.clear()
            self.deriv_vb.setVisible(one_d)
            self.item.showAxis("right", one_d)
            self._box = None
            if surface is not None and one_d:
                self._draw_curve(surface, view)
            elif surface is not None:
                self._draw_surface(surface)
        labels = getattr(surface, "axis_labels", None) or (view.coord_names + ["", ""])[:2]
        self.item.setLabel("bottom", labels[0])
        if one_d:
            name = labels[0] or (view.coord_names + ["w"])[0]
            self.item.setLabel("left", f"loss g({name})")
            self.item.setLabel("right", f"derivative g'({name})")
        else:
            self.item.setLabel("left", labels[1])
        self._apply_aspect()
        self._draw_minima(view)
        self._make_tracks(view)
        self.note.setText("" if view.coords is not None else "trajectories not recorded for this problem")
        self._show_state()
        if self.view3d is not None and self.toggle3d.isChecked():
            self.view3d.refresh()
        self.set_frame(self.session.frame)

    def _apply_aspect(self, *_: Any) -> None:
        """Equal scale for a 2-D landscape (both axes one kind of coordinate) unless the 1:1 button
        is off; a 1-D curve (parameter against loss) always fills the panel."""
        equal = self._dim == 2 and self.aspect.isChecked()
        self.aspect.setEnabled(self._dim == 2)
        self.item.vb.setAspectLocked(equal, ratio=1.0)
        box = getattr(self, "_range", None)
        if box is not None:
            self.item.setRange(xRange=box[0], yRange=box[1], padding=box[2])

    def _sync_deriv_geometry(self) -> None:
        self.deriv_vb.setGeometry(self.item.vb.sceneBoundingRect())
        self.deriv_vb.linkedViewChanged(self.item.vb, self.deriv_vb.XAxis)

    def _draw_surface(self, surface: Any) -> None:
        a, b = np.asarray(surface.alphas, dtype=float), np.asarray(surface.betas, dtype=float)
        z, label = display_values(np.asarray(surface.values), self.log)
        self.image.setImage(z, autoLevels=False)
        lo, hi = float(np.min(z)), float(np.max(z))
        self.image.setLevels((lo, hi if hi > lo else lo + 1))
        self.bar.setLevels((lo, hi if hi > lo else lo + 1))
        self.bar.axis.setLabel(label)
        # each grid value sits at the centre of its pixel
        da = (a[-1] - a[0]) / max(len(a) - 1, 1)
        db = (b[-1] - b[0]) / max(len(b) - 1, 1)
        self.image.setRect(QRectF(a[0] - da / 2, b[0] - db / 2, da * len(a), db * len(b)))
        # contours from a grid of at most CONTOUR_GRID per axis (pyqtgraph's marching squares is
        # Python-speed), scaled back onto the image's pixels
        stride = max(1, int(np.ceil(max(z.shape) / CONTOUR_GRID)))
        zc = z[::stride, ::stride]
        for level in contour_levels(z):
            iso = pg.IsocurveItem(data=zc, level=float(level), pen=pg.mkPen(255, 255, 255, 150, width=1), axisOrder="row-major")
            iso.setParentItem(self.image)
            if stride > 1:
                iso.setTransform(QTransform.fromScale(stride, stride))
            self.isocurves.append(iso)
        mx, my = MARGIN * (a[-1] - a[0]), MARGIN * (b[-1] - b[0])
        self._box = (a[0] - mx, a[-1] + mx, b[0] - my, b[-1] + my)
        self._range = ((a[0], a[-1]), (b[0], b[-1]), 0)
        # equal scale is the default unless the box is so elongated that it would squash the picture
        # into a strip (the PCA plane of a net: 88 % of the variance on one axis); the 1:1 button keeps it
        ratio = abs(a[-1] - a[0]) / max(abs(b[-1] - b[0]), 1e-300)
        self.aspect.blockSignals(True)
        self.aspect.setChecked(bool(1.0 / MAX_EQUAL_RATIO <= ratio <= MAX_EQUAL_RATIO))
        self.aspect.blockSignals(False)

    def _draw_curve(self, surface: Any, view: Any) -> None:
        w = np.asarray(surface.alphas, dtype=float)
        g = np.asarray(surface.values, dtype=float)
        self.curve.setData(w, g)
        dg = getattr(view, "curve_grad", None)
        if dg is not None:
            self.deriv.setData(w, dg)
            finite = dg[np.isfinite(dg)]
            if finite.size:
                self.deriv_vb.setYRange(float(finite.min()), float(finite.max()), padding=0.05)
        lo, hi = float(np.nanmin(g)), float(np.nanmax(g))
        mx = MARGIN * (w[-1] - w[0])
        self._box = (w[0] - mx, w[-1] + mx, -np.inf, np.inf)
        self._range = ((w[0], w[-1]), (lo, hi), 0.05)
        self._sync_deriv_geometry()

    def _draw_minima(self, view: Any) -> None:
        """Known minima as stars (``RunView.minima``: on the curve in 1-D), other local minima as
        hollow stars and saddles as crosses where the problem knows them."""
        for item, points in ((self.minima, view.minima), (self.local_minima, getattr(view, "local_minima", None)),
                             (self.saddles, getattr(view, "saddles", None))):
            if points is None or len(points) == 0:
                item.clear()
            else:
                item.setData(points[:, 0], points[:, 1])

    def _empty_tracks(self) -> None:
        self._X = self._Y = np.zeros((0, 1))
        self._cut = np.zeros(0, dtype=int)
        self._groups: list[np.ndarray] = []
        self._head_brushes: list[Any] = []
        self._dim_brushes: list[Any] = []
        self._trail_brushes = np.zeros((0, TRAIL), dtype=object)
        self._gone: tuple = ()
        self._trail_mask = b""
        self._heads_style = -1
        self._brush_version = 0

    def _make_tracks(self, view: Any) -> None:
        names = [view.labels[i] + (f"  (diverged at step {view.last[i]})" if view.diverged[i] else "") for i in range(view.size)]
        box = getattr(self, "_box", None)
        signature = (tuple(names), tuple(view.colors), self._dim, box, id(view))
        if signature == self._tracks_for:
            return  # same trajectories (a knob moved): the items stay, set_frame moves them
        self._tracks_for = signature
        for path in self.paths:
            self.item.removeItem(path)
        self.paths = []
        for _, text in self.diverged_labels:
            self.item.removeItem(text)
        self.diverged_labels = []
        self.legend.clear()
        self.samples = []
        self._empty_tracks()
        if self._dim == 1:
            for it, name in ((self.curve, "loss"), (self.deriv, "derivative (right axis)"), (self.tangent, "tangent at the iterate")):
                self.legend.addItem(it, name)
        if view.coords is None or view.size == 0:
            self._clear_tracks()
            return
        B, T1 = view.size, view.coords.shape[0]
        X = np.array(view.coords[:, :, 0].T, dtype=float)  # [B, T+1]
        Y = np.array((view.loss if self._dim == 1 else view.coords[:, :, 1]).T, dtype=float)
        last = np.minimum(np.asarray(view.last, dtype=int), T1 - 1)
        cut = last.copy()
        for i in np.flatnonzero(view.diverged):
            cut[i] = max(in_box_until(X[i], Y[i] if self._dim == 2 else None, int(last[i]), box), 0)
        steps = np.arange(T1)
        beyond = steps[None, :] > cut[:, None]
        X[beyond] = np.nan
        Y[beyond] = np.nan
        self._X, self._Y, self._cut, self._last = X, Y, cut, last
        colors = family_colors(view)
        self._colors = colors
        order: dict[str, list[int]] = {}
        for i, c in enumerate(colors):
            order.setdefault(c, []).append(i)
        for color, members in order.items():
            # a hairline (width 1) is Qt's fast path: many trajectories draw thin
            path = pg.PlotCurveItem(pen=pg.mkPen(color, width=1.6 if B <= MAX_TRAILS else 1), connect="finite")
            path.setOpacity(PATH_ALPHA)
            path.setZValue(2)
            self.item.addItem(path)
            self.paths.append(path)
            self._groups.append(np.asarray(members, dtype=int))
        self._head_brushes = [pg.mkBrush(c) for c in colors]
        dimmed = []
        for c in colors:
            q = QColor(pg.mkColor(c))
            q.setAlphaF(0.3 * q.alphaF())
            dimmed.append(pg.mkBrush(q))
        self._dim_brushes = dimmed
        self._trail_brushes = np.empty((B, TRAIL), dtype=object)
        if B <= MAX_TRAILS:
            for i, c in enumerate(colors):
                self._trail_brushes[i, :] = fading_brushes(c)
        self._cross_pens = [pg.mkPen(c, width=3) for c in colors]
        self._diverged = np.flatnonzero(view.diverged)
        self.crosses.clear()
        self.trails.clear()
        self.heads.clear()
        if 0 < len(self._diverged) <= MAX_DIVERGED_LABELS:
            for i in self._diverged:
                text = pg.TextItem(f"diverged at step {int(view.last[i])}", color=QColor(pg.mkColor(view.colors[i])).darker(130),
                                   anchor=(0, 1), fill=pg.mkBrush(255, 255, 255, 190))
                text.setZValue(5)
                text.setVisible(False)
                self.item.addItem(text)
                self.diverged_labels.append((int(i), text))
        legend = legend_names(view, names)  # a large sweep or a seed family is one line
        for i, name in legend.items():
            sample = pg.ScatterPlotItem(symbol="o", size=12, brush=pg.mkBrush(view.colors[i]), pen=pg.mkPen("w", width=1.5))
            self.samples.append(sample)
            self.legend.addItem(sample, name)
        self._legend_columns()
        self._apply_highlight()

    def _clear_tracks(self) -> None:
        for it in (self.focus, self.trails, self.heads, self.crosses):
            it.clear()

    # -- frames ----------------------------------------------------------------------------------
    def positions(self, step: int) -> np.ndarray:
        """Data coordinates ``[B, 2]`` of every head at ``step`` (x, y as drawn; NaN where nothing
        is drawn)."""
        n = np.minimum(step, self._cut)
        if len(n) == 0:
            return np.zeros((0, 2))
        rows = np.arange(len(n))
        return np.column_stack([self._X[rows, n], self._Y[rows, n]])

    def head_positions(self) -> np.ndarray:
        """``[B, 2]`` where the heads are drawn now (read back from the scatter item)."""
        x, y = self.heads.getData()
        return np.column_stack([x, y]) if x is not None else np.zeros((0, 2))

    def set_frame(self, step: int) -> None:
        view = self.session.view
        if view is None or view.coords is None or not self.paths:
            return
        X, Y = self._X, self._Y
        B = X.shape[0]
        s = int(min(max(step, 0), X.shape[1] - 1))
        for path, idx in zip(self.paths, self._groups):
            xs = np.full((len(idx), s + 2), np.nan)
            ys = np.full((len(idx), s + 2), np.nan)
            xs[:, : s + 1] = X[idx, : s + 1]
            ys[:, : s + 1] = Y[idx, : s + 1]
            path.setData(xs.ravel(), ys.ravel(), connect="finite")
        if self._focus is not None and len(self._focus):
            idx = self._focus
            xs = np.full((len(idx), s + 2), np.nan)
            ys = np.full((len(idx), s + 2), np.nan)
            xs[:, : s + 1] = X[idx, : s + 1]
            ys[:, : s + 1] = Y[idx, : s + 1]
            self.focus.setData(xs.ravel(), ys.ravel(), connect="finite")
        n = np.minimum(s, self._cut)
        rows = np.arange(B)
        hx, hy = X[rows, n], Y[rows, n]
        _move(self.heads, hx, hy, lambda: self._brushes_now, self._heads_style == self._brush_version)
        self._heads_style = self._brush_version
        if B <= MAX_TRAILS:
            k = np.arange(TRAIL)
            j = n[:, None] - (TRAIL - 1) + k[None, :]  # [B, TRAIL], the newest last
            ok = j >= 0
            jj = np.where(ok, j, 0)
            tx, ty = X[rows[:, None], jj][ok], Y[rows[:, None], jj][ok]
            mask = ok.tobytes()
            _move(self.trails, tx, ty, lambda: list(self._trail_brushes[ok]), self._trail_mask == mask)
            self._trail_mask = mask
        gone = tuple(int(i) for i in self._diverged if s > self._cut[i] or s >= self._last[i])
        if gone != self._gone:
            self._gone = gone
            if gone:
                g = list(gone)
                self.crosses.setData(X[g, self._cut[g]], Y[g, self._cut[g]], pen=[self._cross_pens[i] for i in g])
            else:
                self.crosses.clear()
        for i, text in self.diverged_labels:
            on = i in gone
            if on:
                x, y = X[i, self._cut[i]], Y[i, self._cut[i]]
                (x0, x1), (y0, y1) = self.item.vb.viewRange()
                text.setAnchor((1 if x > (x0 + x1) / 2 else 0, 0 if y > (y0 + y1) / 2 else 1))  # inside the picture
                text.setPos(x, y)
            if text.isVisible() != on:
                text.setVisible(on)
        if self._dim == 1 and view.grad is not None and view.size:
            i = self.session.selected
            m = int(min(s, view.last[i]))
            w, g, dg = view.coords[m, i, 0], view.loss[m, i], view.grad[m, i, 0]
            span = self.item.vb.viewRange()[0]
            h = 0.15 * (span[1] - span[0])
            if np.isfinite([w, g, dg]).all():
                self.tangent.setData([w - h, w + h], [g - h * dg, g + h * dg])
            else:
                self.tangent.clear()
        if view.off_plane is not None and view.size:
            # the picture is a projection: say how far off the plane the iterate is, and its true loss
            i = self.session.selected
            m = int(min(s, view.last[i]))
            self.note.setText(f"{view.labels[i]} at step {m}: {view.off_plane[m, i]:.3g} off the plane; "
                              f"true loss {view.loss[m, i]:.4g}, surface here {view.plane_value[m, i]:.4g}")
        if self.view3d is not None and self.toggle3d.isChecked():
            self.view3d.set_frame(step)

    # -- input ----------------------------------------------------------------------------------
    def _on_click(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        vb = self.item.vb
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = vb.mapSceneToView(event.scenePos())
        self.click_at(p.x(), p.y())

    def click_at(self, x: float, y: float) -> None:
        """A new start point at data coordinates (x, y) (the curve's w for 1-D problems)."""
        view = self.session.view
        if view is None or view.dim > 2:
            self.note.setText("start points of nets come from the scenario (start.init)")
            return
        self.clicked.emit(x, y)
        self.session.set_start([x] if view.dim == 1 else [x, y])

    def show_3d(self, on: bool) -> None:
        if on and self.view3d is None:
            from lab.panels.surface3d import make_surface_view

            self.view3d = make_surface_view(self.session)
            self.stack.addWidget(self.view3d)
        if self.view3d is not None:
            self.stack.setCurrentWidget(self.view3d if on else self.plot)
            if on:
                self.view3d.refresh()
        self._show_state()

    def set_font_size(self, points: int | None) -> None:
        from lab.style import set_plot_font

        set_plot_font(self.item, points)
        self.title.setStyleSheet(f"font-size: {points}pt;" if points else "")
        self._font_points = points
        self._legend_columns()
        for _, text in self.diverged_labels:
            font = text.textItem.font()
            font.setPointSize(max(9, int(0.7 * points)) if points else 9)  # marks, smaller than the axes'
            text.setFont(font)

    _font_points: int | None = None

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._legend_columns()  # as many columns as the new width holds

    def _legend_columns(self) -> None:
        names = [label.text for _, label in self.legend.items]
        # the widest entry as drawn (its font, lecture mode's too), not a guess from a character width
        widest = max((label.item.boundingRect().width() for _, label in self.legend.items), default=0.0)
        columns = _columns(names, self.width(), 0, cell=int(widest) + 40)  # the plot fills the panel's width
        if columns != self.legend.columnCount:
            self.legend.setColumnCount(columns)

    def highlight(self, label: str | None) -> None:
        """Emphasises the trajectories named ``label`` (a trajectory or an optimizer entry); None resets."""
        self._highlight = label
        self._apply_highlight()
        self.set_frame(self.session.frame)

    _focus: np.ndarray | None = None
    _brushes_now: list[Any] = []
    _brush_version = 0

    def _apply_highlight(self) -> None:
        self._brush_version += 1  # the heads' brushes are set again on the next frame
        view, label = self.session.view, self._highlight
        if view is None or not self._head_brushes:
            self._focus, self._brushes_now = None, list(self._head_brushes)
            return
        on = np.array([label is None or label in (view.labels[i], view.entry[i]) for i in range(view.size)])
        if label is None or not on.any():
            self._focus = None
            self._brushes_now = list(self._head_brushes)
            self.focus.clear()
            for path in self.paths:
                path.setOpacity(PATH_ALPHA)
            self.trails.setOpacity(1.0)
            return
        self._focus = np.flatnonzero(on)
        first = int(self._focus[0])
        self.focus.setPen(pg.mkPen(self._colors[first], width=2.8))
        for path in self.paths:
            path.setOpacity(DIM_ALPHA)
        self.trails.setOpacity(0.5)
        self._brushes_now = [self._head_brushes[i] if on[i] else self._dim_brushes[i] for i in range(view.size)]


def _move(scatter: pg.ScatterPlotItem, x: np.ndarray, y: np.ndarray, brushes: Any, same_style: bool) -> None:
    """Puts ``scatter``'s points at ``(x, y)``: in place when the count and the brushes are those of
    the last frame (``setData`` would look every point's symbol up again: ~60 ms for 400 points),
    else with ``setData(brush=brushes())``."""
    data = scatter.data
    if same_style and len(data) == len(x):
        data["x"] = x
        data["y"] = y
        scatter.prepareGeometryChange()
        scatter.informViewBoundsChanged()
        scatter.bounds = [None, None]
        scatter.invalidate()
    else:
        scatter.setData(x, y, brush=brushes())


def _columns(names: list[str], width: int, char: int, cell: int | None = None) -> int:
    """How many legend columns fit ``width`` pixels (at most 3, at least 1) for these names (each
    ``cell`` pixels wide when given, else estimated from the character width ``char``)."""
    if not names:
        return 1
    if cell is None:
        cell = max(len(n) for n in names) * max(char, 5) + 40  # swatch and spacing
    return int(max(1, min(3, len(names), (max(width, 200) - 20) // cell)))
