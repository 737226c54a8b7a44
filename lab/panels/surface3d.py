"""The 3-D surface view (pyqtgraph.opengl): the landscape as a height field with the trajectories
riding on it. Needs OpenGL (PyOpenGL and a platform with a GL context); without it the panel
shows a note saying why, and the 2-D view stays available. A diverged path ends where it leaves
the plotted square (as in the 2-D view); a family shown as one legend line is its colour ramp."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lab.panels.display import display_transform, in_box_until

HEIGHT = 0.6  # the surface's height as a fraction of its width


def gl_unavailable_reason() -> str | None:
    """Why the 3-D view cannot run here, or None when it can."""
    platform = QGuiApplication.platformName()
    if platform in ("offscreen", "minimal"):
        return f"the Qt platform '{platform}' has no OpenGL"
    if importlib.util.find_spec("OpenGL") is None:
        return "PyOpenGL is not installed (pip install PyOpenGL)"
    return None


class NoGL(QLabel):
    def __init__(self, reason: str) -> None:
        super().__init__(f"3-D view unavailable: {reason}. The 2-D view shows the same landscape.")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setStyleSheet("color: #8a1f11; font-size: 14px;")
        self.available = False

    def refresh(self) -> None:
        pass

    def set_frame(self, step: int) -> None:
        pass


def make_surface_view(session: Any) -> QWidget:
    reason = gl_unavailable_reason()
    if reason:
        return NoGL(reason)
    try:
        return Surface3D(session)
    except Exception as exc:  # noqa: BLE001 - any GL failure falls back to the note
        return NoGL(f"OpenGL failed to start ({exc})")


class Surface3D(QWidget):
    def __init__(self, session: Any) -> None:
        super().__init__()
        import pyqtgraph as pg
        import pyqtgraph.opengl as gl

        self.available = True
        self.session = session
        self.gl = gl
        self.pg = pg
        self.view = gl.GLViewWidget()
        self.view.setBackgroundColor("w")
        self.view.setCameraPosition(distance=9, elevation=32, azimuth=-60)
        self.surface: Any = None
        self.lines: list[Any] = []
        self.heads: list[Any] = []
        self._scale = (1.0, 0.0, 1.0)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)

    def _z(self, values: np.ndarray) -> np.ndarray:
        lo, span, width = self._scale
        return (values - lo) / span * width * HEIGHT

    def refresh(self) -> None:
        result, view = self.session.result, self.session.view
        surface = getattr(result, "surface", None)
        for it in [self.surface, *self.lines, *self.heads]:
            if it is not None:
                self.view.removeItem(it)
        self.surface, self.lines, self.heads = None, [], []
        if surface is None or len(np.asarray(surface.betas)) == 0:
            return
        a, b = np.asarray(surface.alphas, dtype=float), np.asarray(surface.betas, dtype=float)
        log = bool(self.session.scenario.view.log_scale)
        # heights are the loss itself (a bowl looks like a bowl); colours follow the 2-D view's scale
        self._f, _ = display_transform(np.asarray(surface.values), False)
        z = self._f(np.asarray(surface.values, dtype=float))
        shade, _ = display_transform(np.asarray(surface.values), log)
        c = shade(np.asarray(surface.values, dtype=float))
        lo, hi = float(z.min()), float(z.max())
        width = max(a[-1] - a[0], b[-1] - b[0])
        self._scale = (lo, max(hi - lo, 1e-12), width)
        cmap = self.pg.colormap.get("viridis")
        colors = cmap.map((c - c.min()) / max(float(c.max() - c.min()), 1e-12), mode="float")  # [nb, na, 4]
        # GLSurfacePlotItem wants z[x, y]: alphas along the first axis
        self.surface = self.gl.GLSurfacePlotItem(x=a, y=b, z=self._z(z).T, colors=colors.transpose(1, 0, 2).reshape(-1, 4),
                                                 shader=None, smooth=False, glOptions="opaque")
        self.surface.translate(-(a[0] + a[-1]) / 2, -(b[0] + b[-1]) / 2, 0)
        self.view.addItem(self.surface)
        self._offset = ((a[0] + a[-1]) / 2, (b[0] + b[-1]) / 2)
        from PyQt6.QtGui import QVector3D

        self.view.setCameraPosition(pos=QVector3D(0, 0, width * HEIGHT * 0.35), distance=width * 1.9, elevation=28, azimuth=-60)
        # a diverged path ends at its last finite step above the plotted square, as in the 2-D view
        box = (a[0], a[-1], b[0], b[-1])
        self._cut = [in_box_until(view.coords[:, i, 0], view.coords[:, i, 1], int(view.last[i]), box) if view.diverged[i]
                     else int(view.last[i]) for i in range(view.size)] if view.coords is not None else []
        from lab.panels.legend import family_colors

        colors = family_colors(view)
        for i in range(view.size):
            color = self.pg.mkColor(colors[i]).getRgbF()
            line = self.gl.GLLinePlotItem(color=color, width=3, antialias=True, glOptions="translucent")
            head = self.gl.GLScatterPlotItem(color=color, size=14, pxMode=True, glOptions="translucent")
            self.view.addItem(line)
            self.view.addItem(head)
            self.lines.append(line)
            self.heads.append(head)
        self.set_frame(self.session.frame)

    def set_frame(self, step: int) -> None:
        view = self.session.view
        if view is None or view.coords is None or not self.lines:
            return
        for i, (line, head) in enumerate(zip(self.lines, self.heads)):
            n = min(step, self._cut[i])
            if n < 0:  # never inside the square
                line.setData(pos=np.zeros((0, 3)))
                head.setData(pos=np.zeros((0, 3)))
                continue
            xy = view.coords[: n + 1, i, :2] - np.asarray(self._offset)
            pts = np.column_stack([xy, self._z(self._f(view.loss[: n + 1, i])) + 0.02])
            line.setData(pos=pts)
            head.setData(pos=pts[-1:])
