"""Legend entries shared by the panels: a trajectory family (every trajectory of one optimizer entry,
from its sweeps and start points) is listed one trajectory per line while it has at most
:data:`FAMILY_LEGEND` members (the palette's ten colours still tell them apart, and a lecture's
five-rate sweep names each rate), and as ONE line past that: ``GD: 1,000 trajectories, lr 0.001
to 2.5, 312 diverged``. pyqtgraph lays its legend out again for every item added, so thousands of
lines cost minutes (a 10,000-rate sweep spent more than 100 s there) and could not be read anyway.
A family whose members share every hyperparameter (eight SGD seeds, a grid of start points) is one
line whatever its size: its lines would only repeat one name. A family shown as one line is drawn
as a colour ramp of its colour (:func:`family_colors`), light to dark in run order."""

from __future__ import annotations

from typing import Any

FAMILY_LEGEND = 10


def families(view: Any) -> dict[str, list[int]]:
    """Optimizer entry label -> the indices of its trajectories, in run order."""
    out: dict[str, list[int]] = {}
    for i, entry in enumerate(view.entry):
        out.setdefault(entry, []).append(i)
    return out


def family_name(view: Any, entry: str, members: list[int]) -> str:
    """One line for a whole family: its size, the range of each swept hyperparameter, divergences."""
    first = view.hyper[members[0]]
    parts = []
    for key in first:
        values = [float(view.hyper[i][key]) for i in members if key in view.hyper[i]]
        if len(set(values)) > 1:
            parts.append(f"{key} {min(values):.4g} to {max(values):.4g}")
    diverged = int(sum(bool(view.diverged[i]) for i in members))
    text = f"{entry}: {len(members):,} trajectories"
    if parts:
        text += ", " + ", ".join(parts)
    if diverged:
        text += f", {diverged:,} diverged"
    return text


def legend_names(view: Any, names: list[str]) -> dict[int, str]:
    """Trajectory index -> its legend line, for the trajectories that get one: every member of a
    small family (with ``names[i]``), the first member of a large one (with :func:`family_name`)."""
    out: dict[int, str] = {}
    for entry, members in families(view).items():
        if one_line(view, members):
            out[members[0]] = family_name(view, entry, members)
        else:
            out.update((i, names[i]) for i in members)
    return out


def one_line(view: Any, members: list[int]) -> bool:
    """Whether a family is listed as one legend line: more than :data:`FAMILY_LEGEND` members, or
    several that differ only in their seed or start (the same hyperparameters)."""
    if len(members) > FAMILY_LEGEND:
        return True
    return len(members) > 1 and all(view.hyper[i] == view.hyper[members[0]] for i in members)


def collapsed(view: Any) -> set[int]:
    """Indices of the trajectories that belong to a family shown as one legend line."""
    return {i for members in families(view).values() if one_line(view, members) for i in members}


def family_colors(view: Any) -> list[str]:
    """The colour each trajectory is drawn in: its own, or for a family shown as one legend line a
    ramp of the family's first colour (:func:`lab.panels.display.ramp`), so its members stay apart."""
    from lab.panels.display import ramp

    colors = list(view.colors)
    for members in families(view).values():
        if one_line(view, members):
            for i, c in zip(members, ramp(view.colors[members[0]], len(members))):
                colors[i] = c
    return colors


# -- where a legend goes in its plot ----------------------------------------------------------------
#: the corners a legend inside a plot may take, as ``LegendItem.setOffset`` offsets (pixels from the
#: view box's edges; negative: from the right or bottom), top ones first
CORNERS = ((-8, 8), (8, 8), (-8, -8), (8, -8))
#: a corner is good enough while the legend there covers at most this share of the points
COVER = 0.01
#: a legend takes at most this share of its view box's height (more columns otherwise)
LEGEND_SHARE = 0.4


def pixel_points(vb: Any, xs: Any, ys: Any):
    """The points ``(xs, ys)`` (view coordinates, log-axis ones as drawn) in the view box's pixels,
    finite ones only, as two arrays."""
    import numpy as np

    (x0, x1), (y0, y1) = vb.viewRange()
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    w, h = max(vb.width(), 1.0), max(vb.height(), 1.0)
    return (x[ok] - x0) / max(x1 - x0, 1e-300) * w, (y1 - y[ok]) / max(y1 - y0, 1e-300) * h


def corner_rect(vb: Any, legend: Any, offset: tuple[float, float]) -> tuple[float, float, float, float]:
    """``(left, top, right, bottom)`` of ``legend`` at a corner offset, in the view box's pixels."""
    w, h = legend.width(), legend.height()
    left = offset[0] if offset[0] > 0 else vb.width() - w + offset[0]
    top = offset[1] if offset[1] > 0 else vb.height() - h + offset[1]
    return left, top, left + w, top + h


def covered(rect: tuple[float, float, float, float], px: Any, py: Any) -> int:
    """How many of the pixel points lie under ``rect``."""
    import numpy as np

    return int(np.count_nonzero((px >= rect[0]) & (px <= rect[2]) & (py >= rect[1]) & (py <= rect[3])))


def fit_columns(legend: Any, width: float, height: float, share: float = LEGEND_SHARE) -> None:
    """The fewest columns (1 to 3) that keep ``legend`` within ``share`` of ``height`` and within
    ``width``: a 10-entry legend in one column would cover half a small plot."""
    n = len(legend.items)
    best = 1
    for columns in (1, 2, 3):
        if columns > max(n, 1):
            break
        legend.setColumnCount(columns)
        legend.updateSize()
        if legend.width() > width - 16 and columns > 1:
            break  # wider than the plot: keep the previous count
        best = columns
        if legend.height() <= share * height:
            break
    if legend.columnCount != best:
        legend.setColumnCount(best)
    legend.updateSize()


def best_corner(vb: Any, legend: Any, px: Any, py: Any) -> tuple[tuple[float, float], int]:
    """The corner offset where ``legend`` covers the fewest pixel points, and that count (ties: the
    first of :data:`CORNERS`)."""
    counts = [covered(corner_rect(vb, legend, c), px, py) for c in CORNERS]
    k = int(min(range(len(CORNERS)), key=lambda j: counts[j]))
    return CORNERS[k], counts[k]


def headroom_top(lo: float, hi: float, share: float) -> float:
    """The top of a range ``[lo, top]`` in which data up to ``hi`` stays below the top ``share`` of
    the height (room for a legend above every curve)."""
    share = min(max(share, 0.0), 0.6)
    return (hi - share * lo) / (1.0 - share)


def key_html(legend: Any) -> str:
    """The entries of a pyqtgraph ``legend`` as one wrapped line of rich text (a swatch in each
    entry's pen colour, dashed or dotted as drawn, then its name): the legend shown under a plot too
    narrow for it (:class:`lab.panels.convergence.ConvergencePanel`). The predictions' entries
    ("theory 0.9/step", one per curve) are one entry listing each rate in its curve's colour."""
    import html

    from PyQt6.QtCore import Qt

    glyphs = {Qt.PenStyle.DashLine: "╍╍", Qt.PenStyle.CustomDashLine: "╍╍", Qt.PenStyle.DotLine: "┈┈"}
    parts, rates = [], []
    for sample, label in legend.items:
        pen = getattr(getattr(sample, "item", None), "opts", {}).get("pen")
        color, glyph = "#444", "━━"
        if pen is not None and hasattr(pen, "color"):
            color, glyph = pen.color().name(), glyphs.get(pen.style(), "━━")
        if glyph == "╍╍" and label.text.startswith("theory "):  # the predictions: one entry, each rate in its colour
            rates.append(f"<span style='color:{color}'>{html.escape(label.text[len('theory '):])}</span>")
            continue
        name = html.escape(label.text).replace(" ", "&nbsp;")  # an entry never breaks inside (Qt ignores nowrap on spans)
        parts.append(f"<span style='color:{color}'><b>{glyph}</b></span>&nbsp;{name}")
    if rates:
        parts.append("<span><b>╍╍</b>&nbsp;theory " + ", ".join(rates) + "</span>")
    return " &nbsp; ".join(parts)


def along(px: Any, py: Any, spacing: float = 4.0, cap: int = 400_000):
    """The polyline ``(px, py)`` (pixels, NaN-free) sampled every ``spacing`` pixels along each segment,
    so a legend over a long steep segment (a noisy SGD curve's spikes) counts as covering it; at most
    about ``cap`` samples (the spacing grows for a huge curve)."""
    import numpy as np

    px, py = np.asarray(px, dtype=float), np.asarray(py, dtype=float)
    if px.size < 2:
        return px, py
    dx, dy = np.diff(px), np.diff(py)
    length = np.hypot(dx, dy)
    spacing = max(spacing, float(length.sum()) / cap)
    n = np.maximum(np.ceil(length / spacing).astype(np.int64), 1)
    seg = np.repeat(np.arange(n.size), n)
    t = (np.arange(seg.size) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
    return (np.concatenate([px[:-1][seg] + t * dx[seg], px[-1:]]),
            np.concatenate([py[:-1][seg] + t * dy[seg], py[-1:]]))
