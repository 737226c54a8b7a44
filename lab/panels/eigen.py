"""The eigen view: why the trajectories move as they do. It draws the arrays of
:class:`core.analysis.Spectra` (computed in the worker with the run; see there for what is
computed and its bounds) and computes nothing itself.

- **Iteration-matrix eigenvalues** on the complex plane with the unit circle: for quadratics and
  linear models the exact ones (GD: ``1 - lr h`` on the real line; heavy ball and Nesterov: pairs
  that become complex, i.e. spirals); for other small problems those of each trajectory's
  linearization at its iterate of the player's step (the Hessian there), so they move with the
  player. They follow lr and beta live because every knob change re-runs the session.
  Every trajectory keeps its points, a diverged one too (they show why it diverged: ``|z| > 1``);
  the plane autoranges past the unit circle to the largest ``|z|``; a heavy ball's ``sqrt(beta)``
  circle (``Spectra.circles``), where its complex eigenvalues lie, is drawn dashed in its colour.
- **Hessian spectrum** at the selected trajectory's iterate, as bars (on a log axis when the
  positive spectrum spans more than :data:`LOG_SPREAD`), with every optimizer's own stability line
  ``core.stability.curvature_limit`` in its colour (GD ``2 / lr``, heavy ball ``2 (1 + beta) / lr``;
  the selected trajectory's drawn thicker and labelled with its formula).
- **Sharpness along the run** (nets): the top Hessian eigenvalue per step against each
  trajectory's stability line (the same limit; Cohen et al. 2021, edge of stability), tracked by the
  session in the worker once the run is on screen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lab.panels.display import cache_axes

SPECTRUM_K = 20  # bars shown at most
LOG_SPREAD = 100.0  # bars on a log axis when the largest shown eigenvalue is more than this times the smallest (all > 0)


class EigenPanel(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.title = QLabel("<b>Eigenvalues</b>")
        self.note = QLabel("")
        self.note.setStyleSheet("color: #555;")
        self.note.setWordWrap(True)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        self.circle_plot = self.canvas.addPlot(row=0, col=0, title="iteration matrix")
        self.spec_plot = self.canvas.addPlot(row=0, col=1, title="Hessian spectrum")
        for p in (self.circle_plot, self.spec_plot):
            p.setMenuEnabled(False)
            p.hideButtons()
            p.showGrid(x=True, y=True, alpha=0.2)
        self.circle_plot.setAspectLocked(True)
        self.spec_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.circle_plot.setLabel("bottom", "Re z")
        self.circle_plot.setLabel("left", "Im z")
        t = np.linspace(0, 2 * np.pi, 361)
        self.circle_plot.plot(np.cos(t), np.sin(t), pen=pg.mkPen("#666", width=1.2))
        self.circle_plot.addItem(pg.InfiniteLine(angle=0, pen=pg.mkPen("#ccc")))
        self.circle_plot.addItem(pg.InfiniteLine(angle=90, pen=pg.mkPen("#ccc")))
        self.points: list[pg.ScatterPlotItem] = []
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush="#1f77b4")
        self.spec_plot.addItem(self.bars)
        self.spec_plot.setLabel("bottom", "index (largest first)")
        self.limits: list[pg.InfiniteLine] = []  # one per distinct stability limit, in its trajectories' colour
        self.circles: list[Any] = []  # the sqrt(beta) circles of heavy-ball trajectories
        self.log_bars = False  # the bars' axis is log10 (see LOG_SPREAD)
        self.waiting = pg.TextItem("", color="#555", anchor=(0.5, 0.5))  # the sharpness tracker's progress
        self.waiting.setVisible(False)
        self.spec_plot.addItem(self.waiting, ignoreBounds=True)
        self.sharp_items: list[Any] = []  # per trajectory: its sharpness curve and its stability line
        self.sharp_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#444"))
        self.spec_plot.addItem(self.sharp_cursor)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.title)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.note)
        self._mode = "none"
        for p in (self.circle_plot, self.spec_plot):
            cache_axes(p)
        session.result_changed.connect(self.refresh)
        session.extras_changed.connect(self.refresh)
        session.frame_changed.connect(self.set_frame)
        session.progress.connect(self._progress)

    # -- per run ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        view, result = self.session.view, self.session.result
        spectra = None if view is None else view.spectra
        if spectra is None:
            self._mode = "none"
            return
        sharp = getattr(result, "sharpness", None)
        self._mode = spectra.mode
        self._drawn_view = view  # the view the items below belong to (see set_frame)
        for p in self.points:
            self.circle_plot.removeItem(p)
        self.points = []
        for i in range(view.size):
            sp = pg.ScatterPlotItem(size=10, brush=pg.mkBrush(view.colors[i]), pen=pg.mkPen("k", width=0.8), name=view.labels[i])
            self.circle_plot.addItem(sp)
            self.points.append(sp)
        self.circle_plot.setVisible(self._mode != "sharpness")
        self.bars.setVisible(self._mode != "sharpness")
        self.sharp_cursor.setVisible(self._mode == "sharpness")
        self._draw_circles(view)
        self._draw_limits(view)
        for it in self.sharp_items:
            self.spec_plot.removeItem(it)
        self.sharp_items = []
        axis = self.spec_plot.getAxis("bottom")
        if self._mode == "sharpness":
            axis.setTickSpacing()
            self._set_log(False)
            self._draw_sharpness(view, sharp)
        else:
            axis.setTickSpacing(major=5, minor=1)
            self._set_title(self.spec_plot, "Hessian eigenvalues" + ("" if self._mode == "exact" else " here"))
            self.spec_plot.setLabel("bottom", "index (largest first)")
        self._set_title(self.circle_plot, "iteration matrix" + ("" if self._mode == "exact" else " (local)"))
        self.set_frame(self.session.frame)

    def _draw_sharpness(self, view: Any, sharp: dict | None) -> None:
        """Sharpness along the run per trajectory, with its stability line (GD: 2 / lr; heavy
        ball: 2 (1 + beta) / lr: ``Spectra.limits``, from ``core.stability.curvature_limit``)."""
        self._set_title(self.spec_plot, "sharpness vs its stability line")
        self.spec_plot.setLabel("bottom", "step")
        self.spec_plot.enableAutoRange()
        for i in range(view.size):
            color = view.colors[i]
            limit = float(view.spectra.limits[i])
            if np.isfinite(limit):
                line = pg.InfiniteLine(pos=limit, angle=0, pen=pg.mkPen(color, width=1.3, style=Qt.PenStyle.DashLine),
                                       label=f"{limit:.3g}", labelOpts={"color": color, "position": 0.05})
                self.spec_plot.addItem(line)
                self.sharp_items.append(line)
            series = (sharp or {}).get(view.labels[i])
            if series:
                steps = sorted(series)
                curve = pg.PlotDataItem(steps, [series[s] for s in steps], pen=pg.mkPen(color, width=2), symbol="o",
                                        symbolSize=4, symbolBrush=color, symbolPen=None)
                self.spec_plot.addItem(curve)
                self.sharp_items.append(curve)
        self.waiting.setVisible(not sharp)
        if not sharp:  # the axes the curves will have (steps, up past the lines), not the cursor's autorange
            finite = view.spectra.limits[np.isfinite(view.spectra.limits)]
            top = float(finite.max()) * 1.2 if finite.size else 1.0
            self.spec_plot.setXRange(0, max(view.steps, 1), padding=0.02)
            self.spec_plot.setYRange(0, top, padding=0)
            self.waiting.setPos(max(view.steps, 1) / 2, top / 2)
            self._progress(0, 0)
        else:
            self.note.setText("")

    def _progress(self, done: int, total: int) -> None:
        """While the sharpness is tracked in the background, a labelled progress state instead of an
        empty plot (``done / total`` from the extras job; nothing known yet: no percentage)."""
        if self._mode != "sharpness" or not self.waiting.isVisible():
            return
        jobs = getattr(self.session, "jobs", {})
        if "run" in jobs:  # a new run is on its way: this progress is not the tracker's
            return
        percent = f" {int(100 * done / total)} %" if total > 0 else ""
        text = f"tracking the sharpness along the run ...{percent}"
        self.waiting.setText(text)
        self.note.setText(text + " (in the background; the curves appear when it is done)")

    def _draw_circles(self, view: Any) -> None:
        """Each distinct heavy-ball radius ``sqrt(beta)`` (``Spectra.circles``), dashed, in the colour
        of the first trajectory that has it."""
        for c in self.circles:
            self.circle_plot.removeItem(c)
        self.circles = []
        radii = view.spectra.circles if view.spectra.circles is not None else np.full(view.size, np.nan)
        seen: list[float] = []
        t = np.linspace(0, 2 * np.pi, 241)
        for i, r in enumerate(radii):
            if not np.isfinite(r) or any(abs(r - q) < 1e-12 for q in seen):
                continue
            seen.append(float(r))
            c = pg.PlotDataItem(r * np.cos(t), r * np.sin(t), pen=pg.mkPen(view.colors[i], width=1.2, style=Qt.PenStyle.DashLine))
            label = pg.TextItem(f"√β = {r:.3g}", color=view.colors[i], anchor=(0.5, 0.0))  # under the circle, inside the unit one
            self._scale_text(label)
            label.setPos(0.0, -float(r))
            for it in (c, label):
                self.circle_plot.addItem(it)
                self.circles.append(it)

    def _draw_limits(self, view: Any) -> None:
        """Every distinct finite stability limit (``Spectra.limits``) as a dashed line in the colour
        of the first trajectory with it; positions are set per frame (:meth:`_place_limits`)."""
        for line in self.limits:
            self.spec_plot.removeItem(line)
        self.limits = []
        if self._mode == "sharpness":
            return
        spectra = view.spectra
        groups: dict[float, list[int]] = {}
        for i, limit in enumerate(spectra.limits):
            if np.isfinite(limit):
                groups.setdefault(float(limit), []).append(i)
        sel = self._limits_for = self.session.selected
        for k, (limit, members) in enumerate(groups.items()):
            mine = sel in members
            i = sel if mine else members[0]
            name = spectra.limit_names[i]
            text = (name if len(name) <= 6 else "limit") + f" = {limit:.3g}" if mine else f"{limit:.3g}"
            line = pg.InfiniteLine(angle=0, pen=pg.mkPen(view.colors[i], width=2.4 if mine else 1.3, style=Qt.PenStyle.DashLine),
                                   label=text, labelOpts={"color": view.colors[i], "position": 0.8 - 0.22 * (k % 4),
                                                          "fill": pg.mkBrush(255, 255, 255, 200)})
            line.limit = limit  # the curvature it marks (its position is log10 of it on a log axis)
            line.owners = members
            line.setZValue(5 if mine else 4)
            self.spec_plot.addItem(line)
            self.limits.append(line)

    def _set_log(self, on: bool) -> None:
        if on != self.log_bars:
            self.log_bars = on
            self.spec_plot.setLogMode(False, on)

    # -- per frame -------------------------------------------------------------------------------
    def hessian_spectrum(self, step: int) -> np.ndarray | None:
        """Eigenvalues (largest first) of the Hessian at the selected trajectory's iterate."""
        spectra = self.session.view.spectra
        if spectra is None or spectra.mode not in ("exact", "local"):
            return None
        h = spectra.hessian[spectra.row(step), min(self.session.selected, spectra.hessian.shape[1] - 1)]
        return None if not np.isfinite(h).all() else h

    def set_frame(self, step: int) -> None:
        view = self.session.view
        if view is None or self._mode == "none" or not self.isVisible():
            return
        if getattr(self, "_drawn_view", None) is not view:
            # a new run whose result_changed has not reached this panel yet (another panel's slot
            # moved the frame first): build its items before drawing, never index old ones
            self.refresh()
            return
        if self._mode == "sharpness":
            self.sharp_cursor.setValue(step)
            return
        self._draw(step)

    def shutdown(self) -> None:
        pass

    def flush(self) -> None:
        """Draws the current step now (exports and snapshots)."""
        if self._mode not in ("none", "sharpness"):
            self._draw(self.session.frame)

    def _draw(self, step: int) -> None:
        view = self.session.view
        if view is None or self._mode in ("none", "sharpness"):
            return
        h = self.hessian_spectrum(step)
        if h is None:
            return
        spectra = view.spectra
        row = spectra.row(step)
        shown = h[:SPECTRUM_K]
        radii = []
        for i, sp in enumerate(self.points):
            z = spectra.iteration[row, i]
            z = z[np.isfinite(z)]
            if not z.size:
                sp.clear()
                continue
            sp.setData(z.real, z.imag)  # a diverged trajectory keeps its points: |z| > 1 is why it diverged
            radii.append(f"<span style='color:{view.colors[i]}'>ρ = {spectra.radius[row, i]:.3f}</span>")
        if getattr(self, "_limits_for", None) != self.session.selected:  # the selected line is the thick, labelled one
            self._draw_limits(view)
        limits = [line.limit for line in self.limits]
        positive = len(shown) and float(np.min(shown)) > 0
        self._set_log(bool(positive and float(shown[0]) > LOG_SPREAD * float(np.min(shown))))
        if self.log_bars:
            floor = np.log10(float(np.min(shown))) - 0.5  # bars rise from half a decade below the smallest
            self.bars.setOpts(x=np.arange(len(shown)), y0=floor, height=np.log10(shown) - floor, width=0.6)
            for line in self.limits:
                line.setValue(np.log10(line.limit) if line.limit > 0 else floor)
            top = np.log10(max([float(shown[0])] + [x for x in limits if x > 0]))
            self.spec_plot.setYRange(floor, top + 0.15 * (top - floor), padding=0)
        else:
            self.bars.setOpts(x=np.arange(len(shown)), y0=0, height=shown, width=0.6)
            for line in self.limits:
                line.setValue(line.limit)
            top = max([float(shown[0]) if len(shown) else 1.0] + limits)
            bottom = min(0.0, float(np.min(shown))) if len(shown) else 0.0
            self.spec_plot.setYRange(bottom, top + 0.1 * (top - bottom), padding=0)
        self.spec_plot.setXRange(-0.6, max(len(shown), 1) - 0.4, padding=0)
        z_all = [p.getData() for p in self.points if p.data.size]
        r = max([1.05] + [float(np.max(np.hypot(x, y))) * 1.08 for x, y in z_all if len(x)])
        self.circle_plot.setRange(xRange=(-r, r), yRange=(-r, r), padding=0)
        text = " &nbsp; ".join(radii)
        if self._mode == "local":
            at = int(spectra.steps[row])
            text = f"at step {at}: " + text + " (|z| &lt; 1 locally stable)"
        self.note.setText(text)

    _points: int | None = None  # the font size lecture mode set (None: the default)

    def _title_size(self) -> str:
        """The plots' titles: 9 pt, or a little under lecture mode's tick size."""
        return f"{max(self._points - 2, 9)}pt" if self._points else "9pt"

    def _set_title(self, plot: Any, text: str) -> None:
        """A plot's title at :meth:`_title_size` that never widens its plot: pyqtgraph makes a title's
        width the plot's minimum, so a long lecture-size title pushed the axis past the panel's edge;
        a title wider than its plot is clipped instead."""
        from lab.style import clip_title

        clip_title(plot)
        plot.setTitle(text, size=self._title_size())

    def _scale_text(self, item: Any) -> None:
        """A label drawn on a plot (the sqrt(beta) circles', a limit's) at the panel's font size."""
        font = item.textItem.font()
        font.setPointSize(max(self._points - 4, 9) if self._points else 9)
        item.setFont(font)

    def set_font_size(self, points: int | None) -> None:
        from lab.style import set_plot_font

        self._points = points
        for it in self.circles:
            if isinstance(it, pg.TextItem):
                self._scale_text(it)

        font = self.waiting.textItem.font()
        font.setPointSize(points or QFont().pointSize())
        self.waiting.setFont(font)
        for p in (self.circle_plot, self.spec_plot):
            set_plot_font(p, points)
        for p in (self.circle_plot, self.spec_plot):  # the titles a little under the ticks (as refresh sets them)
            if p.titleLabel.text:
                self._set_title(p, p.titleLabel.text)
        self.title.setStyleSheet(f"font-size: {points}pt;" if points else "")
        self.note.setStyleSheet(f"color: #555; font-size: {points - 4}pt;" if points else "color: #555;")
