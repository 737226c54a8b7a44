"""Display helpers shared by the panels (and the reason the 3-D view need not import the 2-D one):
the colour scale of a landscape, contour levels, the trail's fading brushes, a family's colour
ramp, where a diverged path leaves the picture, and cached axes. Presentation only: scaling values
for colours and clipping to the drawn box, no maths on the run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtGui import QBrush, QColor

TRAIL = 24  # iterates in the fading trail
N_CONTOURS = 14


def display_transform(values: np.ndarray, log: bool):
    """``(f, label)``: what the colours (and 3-D heights) show for a loss value, fixed by the grid's
    values: the loss itself, or log10 of its height above the lowest grid value."""
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if not log:
        return (lambda x: np.where(np.isfinite(x), x, hi)), "loss"
    eps = max((hi - lo) * 1e-6, 1e-300)
    return (lambda x: np.log10(np.where(np.isfinite(x), np.maximum(np.asarray(x, dtype=float) - lo, 0.0), hi - lo) + eps)), "log10(loss - min)"


def display_values(values: np.ndarray, log: bool) -> tuple[np.ndarray, str]:
    f, label = display_transform(values, log)
    return f(np.asarray(values, dtype=float)), label


def contour_levels(z: np.ndarray, n: int = N_CONTOURS) -> np.ndarray:
    """Levels at evenly spaced quantiles of the shown values, so lines are dense where the data is."""
    q = np.quantile(z[np.isfinite(z)], np.linspace(0.02, 0.95, n))
    return np.unique(q)


def fading_brushes(color: str, n: int = TRAIL) -> list[QBrush]:
    out = []
    for k in range(n):
        c = QColor(pg.mkColor(color))  # pyqtgraph reads #rrggbbaa alpha last, as the scenario format does
        c.setAlphaF(0.08 + 0.8 * (k + 1) / n)
        out.append(QBrush(c))
    return out


def cache_axes(plot_item: Any) -> None:
    """Axes as cached pixmaps: a frame that only moves the trajectories then blits them instead of
    re-rendering every tick label (the biggest cost of a frame otherwise)."""
    from PyQt6.QtWidgets import QGraphicsItem

    for name in ("left", "bottom", "right", "top"):
        plot_item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

RAMP_LEVELS = 8  # shades a family's colour ramp is quantized to (the paths are one item per shade)


def ramp(color: str, n: int, levels: int = RAMP_LEVELS) -> list[str]:
    """``n`` shades of ``color`` from light to dark (a family drawn as one colour ramp), quantized to
    at most ``levels`` distinct shades; the hue and any alpha stay."""
    base = QColor(pg.mkColor(color))

    def name(c: QColor) -> str:  # the scenario format's (and pyqtgraph's) #rrggbbaa, alpha last
        return f"#{c.red():02x}{c.green():02x}{c.blue():02x}{c.alpha():02x}"

    if n <= 1:
        return [name(base)]
    h, s, _, a = base.getHslF()
    h = max(h, 0.0)  # achromatic colours report hue -1
    out = []
    for i in range(n):
        t = round(i / (n - 1) * (levels - 1)) / (levels - 1) if n > levels else i / (n - 1)
        c = QColor.fromHslF(h, s, 0.72 - 0.44 * t, a)
        out.append(name(c))
    return out


def in_box_until(x: np.ndarray, y: np.ndarray | None, last: int, box: tuple[float, float, float, float] | None) -> int:
    """The last step ``<= last`` at which the iterate ``(x[n], y[n])`` is finite and inside ``box``
    (xmin, xmax, ymin, ymax; ``y`` None for a curve, ``box`` None: finite only), or -1 when none is:
    where the picture of a diverged path stops."""
    ok = np.isfinite(x[: last + 1])
    if y is not None:
        ok &= np.isfinite(y[: last + 1])
    if box is not None:
        with np.errstate(invalid="ignore"):
            ok &= (x[: last + 1] >= box[0]) & (x[: last + 1] <= box[1])
            if y is not None:
                ok &= (y[: last + 1] >= box[2]) & (y[: last + 1] <= box[3])
    idx = np.flatnonzero(ok)
    return int(idx[-1]) if idx.size else -1
