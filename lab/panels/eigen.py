"""The eigen view: why the trajectories move as they do. It draws the arrays of
:class:`core.analysis.Spectra` (computed in the worker with the run; see there for what is
computed and its bounds) and computes nothing itself.

- **Iteration-matrix eigenvalues** on the complex plane with the unit circle: for quadratics and
  linear models the exact ones (GD: ``1 - lr h`` on the real line; heavy ball and Nesterov: pairs
  that become complex, i.e. spirals); for other small problems those of each trajectory's
  linearization at its iterate of the player's step (the Hessian there), so they move with the
  player. They follow lr and beta live because every knob change re-runs the session.
- **Hessian spectrum** at the selected trajectory's iterate, as bars, with its optimizer's
  stability line ``core.stability.curvature_limit`` (GD ``2 / lr``, heavy ball ``2 (1 + beta) / lr``).
- **Sharpness along the run** (nets): the top Hessian eigenvalue per step against each
  trajectory's stability line (the same limit; Cohen et al. 2021, edge of stability), tracked by the
  session in the worker once the run is on screen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lab.panels.display import cache_axes

SPECTRUM_K = 20  # bars shown at most


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
        self.limit = pg.InfiniteLine(angle=0, pen=pg.mkPen("#d62728", width=1.5, style=Qt.PenStyle.DashLine),
                                     label="stability limit", labelOpts={"color": "#d62728", "position": 0.9})
        self.spec_plot.addItem(self.limit)
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

    # -- per run ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        view, result = self.session.view, self.session.result
        spectra = None if view is None else view.spectra
        if spectra is None:
            self._mode = "none"
            return
        sharp = getattr(result, "sharpness", None)
        self._mode = spectra.mode
        for p in self.points:
            self.circle_plot.removeItem(p)
        self.points = []
        for i in range(view.size):
            sp = pg.ScatterPlotItem(size=10, brush=pg.mkBrush(view.colors[i]), pen=pg.mkPen("k", width=0.8), name=view.labels[i])
            self.circle_plot.addItem(sp)
            self.points.append(sp)
        self.circle_plot.setVisible(self._mode != "sharpness")
        self.bars.setVisible(self._mode != "sharpness")
        self.limit.setVisible(self._mode != "sharpness")
        self.sharp_cursor.setVisible(self._mode == "sharpness")
        for it in self.sharp_items:
            self.spec_plot.removeItem(it)
        self.sharp_items = []
        axis = self.spec_plot.getAxis("bottom")
        if self._mode == "sharpness":
            axis.setTickSpacing()
            self._draw_sharpness(view, sharp)
        else:
            axis.setTickSpacing(major=5, minor=1)
            self.spec_plot.setTitle("Hessian eigenvalues" + ("" if self._mode == "exact" else " here"), size="9pt")
            self.spec_plot.setLabel("bottom", "index (largest first)")
        self.circle_plot.setTitle("iteration matrix" + ("" if self._mode == "exact" else " (local)"), size="9pt")
        self.set_frame(self.session.frame)

    def _draw_sharpness(self, view: Any, sharp: dict | None) -> None:
        """Sharpness along the run per trajectory, with its stability line (GD: 2 / lr; heavy
        ball: 2 (1 + beta) / lr: ``Spectra.limits``, from ``core.stability.curvature_limit``)."""
        self.spec_plot.setTitle("sharpness along the run vs its stability line", size="9pt")
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
        self.note.setText("" if sharp else "tracking the sharpness along the run (in the background) ...")

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
        self.bars.setOpts(x=np.arange(len(shown)), height=shown, width=0.6)
        limits = []
        radii = []
        for i, sp in enumerate(self.points):
            z = spectra.iteration[row, i]
            z = z[np.isfinite(z)]
            if not z.size or (view.diverged[i] and step > view.last[i]):
                sp.clear()
                continue
            sp.setData(z.real, z.imag)
            limits.append(float(spectra.limits[i]))
            radii.append(f"<span style='color:{view.colors[i]}'>ρ = {spectra.radius[row, i]:.3f}</span>")
        sel = self.session.selected
        limit = float(spectra.limits[sel])
        self._set_limit(limit, spectra.limit_names[sel])
        finite = [x for x in ([limit] + limits) if np.isfinite(x)]
        top = max(float(shown[0]) if len(shown) else 1.0, finite[0] if finite else 0.0)
        self.spec_plot.setYRange(min(0.0, float(np.min(shown))) if len(shown) else 0.0, top * 1.1, padding=0)
        self.spec_plot.setXRange(-0.6, max(len(shown), 1) - 0.4, padding=0)
        z_all = [p.getData() for p in self.points if p.data.size]
        r = max([1.05] + [float(np.max(np.hypot(x, y))) * 1.05 for x, y in z_all if len(x)])
        self.circle_plot.setRange(xRange=(-min(r, 3), min(r, 3)), yRange=(-min(r, 3), min(r, 3)), padding=0)
        text = " &nbsp; ".join(radii)
        if self._mode == "local":
            at = int(spectra.steps[row])
            text = f"at step {at}: " + text + " (|z| &lt; 1 locally stable)"
        self.note.setText(text)

    def _set_limit(self, limit: float, name: str = "") -> None:
        """The selected trajectory's stability line (``Spectra.limits``, NaN: none)."""
        if np.isfinite(limit):
            self.limit.setValue(limit)
            # the formula where it fits on the line's label (GD's "2/lr"), else the value
            self.limit.label.setFormat(name if len(name) <= 6 else f"limit {limit:.3g}")
            self.limit.setVisible(True)
        else:
            self.limit.setVisible(False)

    def set_font_size(self, points: int | None) -> None:
        from lab.style import set_plot_font

        for p in (self.circle_plot, self.spec_plot):
            set_plot_font(p, points)
        self.title.setStyleSheet(f"font-size: {points}pt;" if points else "")
        self.note.setStyleSheet(f"color: #555; font-size: {points - 4}pt;" if points else "color: #555;")
