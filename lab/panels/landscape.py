"""The landscape panel: the loss surface with every trajectory moving on it.

2-D (toys with two parameters, or a slice of a net): heatmap (``ImageItem`` placed on the
(alpha, beta) axes with ``setRect``), contour lines (``IsocurveItem`` children of the image, so
they follow its transform), a colour bar (linear or log10 of ``loss - min``), known minima as
stars, and per trajectory a faint path, a fading trail and a head, with a legend. A left click
sets a new start point for every optimizer. 1-D problems are drawn as the curve ``g(w)`` with its
derivative ``g'(w)`` (dashed), the iterates on the curve and the tangent at the current one, as
in the lecture. A "3-D" toggle shows the surface in OpenGL where that is available.

Items are created once per run and updated in place with ``setData`` on every frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QTransform
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from lab.panels.display import TRAIL, cache_axes, contour_levels, display_values, fading_brushes
from lab.panels.legend import legend_names

CONTOUR_GRID = 128


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
        self.deriv = pg.PlotDataItem(pen=pg.mkPen("#888", width=1.5, style=Qt.PenStyle.DashLine))
        self.tangent = pg.PlotDataItem(pen=pg.mkPen("#d62728", width=1.5, style=Qt.PenStyle.DotLine))
        for it in (self.curve, self.deriv, self.tangent):
            self.item.addItem(it)
        self.minima = pg.ScatterPlotItem(symbol="star", size=18, brush=pg.mkBrush("w"), pen=pg.mkPen("k", width=1.2))
        self.minima.setZValue(1.5)
        self.item.addItem(self.minima)
        self.legend = pg.LegendItem(offset=(-10, 10), labelTextColor="k", brush=pg.mkBrush(255, 255, 255, 200), pen=pg.mkPen("#999"))
        self.legend.setParentItem(self.item.vb)
        self.tracks: list[dict[str, Any]] = []
        self.note = QLabel("")
        self.note.setStyleSheet("color: #555;")
        # a long note (the busy message, the off-plane line) is clipped, never widens the window
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.toggle3d = QPushButton("3-D")
        self.toggle3d.setCheckable(True)
        self.toggle3d.setToolTip("Show the surface in 3-D (OpenGL)")
        self.toggle3d.toggled.connect(self.show_3d)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot)
        self.view3d: QWidget | None = None
        top = QHBoxLayout()
        self.title = QLabel("<b>Landscape</b>")
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.note)
        top.addWidget(self.toggle3d)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(self.stack, 1)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        session.result_changed.connect(self.refresh)
        session.frame_changed.connect(self.set_frame)
        self._dim = 0
        self._drawn: tuple = ()
        self._tracks_for: tuple = ()
        cache_axes(self.item)

    # -- data ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        view, result = self.session.view, self.session.result
        if view is None:
            return
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
            if surface is not None and one_d:
                self._draw_curve(surface, view)
            elif surface is not None:
                self._draw_surface(surface)
        labels = getattr(surface, "axis_labels", None) or (view.coord_names + ["", ""])[:2]
        self.item.setLabel("bottom", labels[0])
        self.item.setLabel("left", "loss" if one_d else labels[1])
        self._draw_minima(view)
        self._make_tracks(view)
        self.note.setText("" if view.coords is not None else "trajectories not recorded for this problem")
        if self.view3d is not None and self.toggle3d.isChecked():
            self.view3d.refresh()
        self.set_frame(self.session.frame)

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
        self.item.setRange(xRange=(a[0], a[-1]), yRange=(b[0], b[-1]), padding=0)

    def _draw_curve(self, surface: Any, view: Any) -> None:
        w = np.asarray(surface.alphas, dtype=float)
        g = np.asarray(surface.values, dtype=float)
        self.curve.setData(w, g)
        dg = getattr(view, "curve_grad", None)
        if dg is not None:
            self.deriv.setData(w, dg)
        lo = np.nanmin(np.concatenate([g, dg])) if dg is not None else np.nanmin(g)
        hi = np.nanmax(g)
        self.item.setRange(xRange=(w[0], w[-1]), yRange=(lo, hi), padding=0.05)

    def _draw_minima(self, view: Any) -> None:
        """Known minima as stars (``RunView.minima``: on the curve in 1-D)."""
        if view.minima is None:
            self.minima.clear()
        else:
            self.minima.setData(view.minima[:, 0], view.minima[:, 1])

    def _make_tracks(self, view: Any) -> None:
        names = [view.labels[i] + (f"  (diverged at step {view.last[i]})" if view.diverged[i] else "") for i in range(view.size)]
        signature = (tuple(names), tuple(view.colors), self._dim)
        if signature == self._tracks_for:
            return  # same trajectories (a knob moved): the items stay, set_frame moves them
        self._tracks_for = signature
        for tr in self.tracks:
            for key in ("path", "trail", "head"):
                self.item.removeItem(tr[key])
        self.legend.clear()
        if self._dim == 1:
            for it, name in ((self.curve, "loss g(w)"), (self.deriv, "derivative g'(w)"), (self.tangent, "tangent at the iterate")):
                self.legend.addItem(it, name)
        self.tracks = []
        legend = legend_names(view, names)  # a large sweep family is one line
        for i in range(view.size):
            color = view.colors[i]
            path = pg.PlotDataItem(pen=pg.mkPen(color, width=1.6), connect="finite")
            path.setOpacity(0.55)
            trail = pg.ScatterPlotItem(size=7, pen=None)
            head = pg.ScatterPlotItem(size=15, symbol="o", brush=pg.mkBrush(color), pen=pg.mkPen("w", width=2))
            for z, it in ((2, path), (3, trail), (4, head)):
                it.setZValue(z)
                self.item.addItem(it)
            if i in legend:
                self.legend.addItem(head, legend[i])
            self.tracks.append({"path": path, "trail": trail, "head": head, "brushes": fading_brushes(color)})

    # -- frames ----------------------------------------------------------------------------------
    def positions(self, step: int) -> np.ndarray:
        """Data coordinates ``[B, 2]`` of every head at ``step`` (x, y as drawn)."""
        view = self.session.view
        out = np.full((view.size, 2), np.nan)
        if view.coords is None:
            return out
        for i in range(view.size):
            n = min(step, view.last[i])
            x = view.coords[n, i, 0]
            out[i] = (x, view.loss[n, i]) if self._dim == 1 else (x, view.coords[n, i, 1])
        return out

    def set_frame(self, step: int) -> None:
        view = self.session.view
        if view is None or view.coords is None or not self.tracks:
            return
        for i, tr in enumerate(self.tracks):
            n = min(step, view.last[i])
            xs = view.coords[: n + 1, i, 0]
            ys = view.loss[: n + 1, i] if self._dim == 1 else view.coords[: n + 1, i, 1]
            tr["path"].setData(xs, ys)
            k = min(TRAIL, n + 1)
            tr["trail"].setData(xs[-k:], ys[-k:], brush=tr["brushes"][TRAIL - k:])
            tr["head"].setData(xs[-1:], ys[-1:])
        if self._dim == 1 and view.grad is not None and view.size:
            i = self.session.selected
            n = min(step, view.last[i])
            w, g, dg = view.coords[n, i, 0], view.loss[n, i], view.grad[n, i, 0]
            span = self.item.vb.viewRange()[0]
            h = 0.15 * (span[1] - span[0])
            self.tangent.setData([w - h, w + h], [g - h * dg, g + h * dg])
        if view.off_plane is not None and view.size:
            # the picture is a projection: say how far off the plane the iterate is, and its true loss
            i = self.session.selected
            n = min(step, view.last[i])
            self.note.setText(f"{view.labels[i]} at step {n}: {view.off_plane[n, i]:.3g} off the plane; "
                              f"true loss {view.loss[n, i]:.4g}, surface here {view.plane_value[n, i]:.4g}")
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

    def set_font_size(self, points: int | None) -> None:
        from lab.style import set_plot_font

        set_plot_font(self.item, points)
        self.title.setStyleSheet(f"font-size: {points}pt;" if points else "")

    def highlight(self, label: str | None) -> None:
        """Emphasises the trajectories named ``label`` (a trajectory or an optimizer entry); None resets."""
        view = self.session.view
        if view is None:
            return
        for i, tr in enumerate(self.tracks):
            on = label is None or label in (view.labels[i], view.entry[i])
            tr["path"].setOpacity(0.9 if label is not None and on else 0.55 if on else 0.15)
            tr["trail"].setOpacity(1.0 if on else 0.2)
            tr["head"].setOpacity(1.0 if on else 0.3)
