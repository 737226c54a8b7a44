"""Fonts for plots: pyqtgraph axes, legends and colour bars take their font sizes explicitly.

:func:`set_plot_font` is the panels' one font hook (``panel.set_font_size(points)`` calls it for
its plot; lecture mode sets 20 pt and ``None`` on leaving). It scales every text of the plot's
scene, not only the plot's own axes: the tick labels and axis labels of every axis in it (a
colour bar inserted into the plot's layout is one), every legend (``LegendItem.setLabelTextSize``,
which also holds for the entries a later run adds) and the plot's title. ``None`` restores
pyqtgraph's defaults, so nothing of lecture mode carries into the normal window or an export.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtGui import QFont

#: the caption bar's point size: normal, and in lecture mode (lab.window.Caption, lab.lecture)
CAPTION_PT = 11
LECTURE_CAPTION_PT = 26
#: lecture mode's sizes scale with the screen's height (a 720-line projector gets smaller text than
#: a 1080-line one, so the plots keep their room): plots and player, and the caption bar
LECTURE_MIN_PT, LECTURE_MAX_PT = 16, 20
LECTURE_CAPTION_MIN_PT = 20
#: an axis label (``axis.label``) is drawn at this fraction of the tick font: a long y label
#: ("distance to the nearest minimum") then fits the height of a short lecture panel
AXIS_LABEL_SCALE = 0.8


def lecture_points(screen_height: int) -> int:
    """The plots' and player's point size in lecture mode on a screen ``screen_height`` pixels tall:
    16 pt at 720 lines, 20 pt from 900 lines up."""
    return int(min(LECTURE_MAX_PT, max(LECTURE_MIN_PT, round(screen_height / 45))))


def lecture_caption_points(screen_height: int) -> int:
    """The caption bar's point size in lecture mode: 20 pt at 720 lines, 26 pt from 936 up."""
    return int(min(LECTURE_CAPTION_PT, max(LECTURE_CAPTION_MIN_PT, round(screen_height / 36))))


#: pyqtgraph's own legend label size (``LegendItem(labelTextSize=...)``), restored on ``None``
LEGEND_DEFAULT = "9pt"


def set_plot_font(plot_item: Any, points: int | None) -> None:
    """Tick and label fonts of every axis, every legend and the title in ``plot_item``'s scene
    (only its own axes and legend while it is in none); ``None`` restores pyqtgraph's defaults."""
    import pyqtgraph as pg

    font = QFont()
    if points:
        font.setPointSize(points)
    scene = plot_item.scene()
    items = list(scene.items()) if scene is not None else []
    axes = [it for it in items if isinstance(it, pg.AxisItem)] or [plot_item.getAxis(n) for n in ("left", "bottom", "right", "top")]
    legends = [it for it in items if isinstance(it, pg.LegendItem)]
    if not legends and getattr(plot_item, "legend", None) is not None:
        legends = [plot_item.legend]
    label_font = QFont()
    if points:
        label_font.setPointSize(max(int(round(points * AXIS_LABEL_SCALE)), 9))
    for axis in axes:
        axis.setStyle(tickFont=font if points else None)
        axis.label.setFont(label_font)
        axis._label_font = QFont(label_font)  # the size fit_axis_label may shrink from
        axis.picture = None  # re-rendered with the new font
        axis.update()
    size = f"{points}pt" if points else LEGEND_DEFAULT
    for legend in legends:
        legend.setLabelTextSize(size)  # the size of the entries added later
        for _, label in legend.items:  # setLabelTextSize only stores it for the present ones
            label.setText(label.text, size=size)
        legend.updateSize()
    for item in items if items else [plot_item]:
        title = getattr(item, "titleLabel", None)
        if isinstance(item, pg.PlotItem) and title is not None and title.text:
            if points:
                title.opts["size"] = f"{points}pt"
            else:
                title.opts.pop("size", None)
            title.setText(title.text)


def font_points(widget: Any) -> float:
    """The point size a widget draws its text in (tests and the lecture's checks)."""
    return widget.font().pointSizeF()


def tidy_log_ticks(axis: Any) -> None:
    """A log axis labels its decades only once two or more are in view: pyqtgraph also labels the
    minor ticks 2..9 of every decade, and those crowd together at the top of each decade (0.9, 0.8,
    0.7 printed over each other). Under two decades only the minor ticks 2 and 5 are labelled."""
    import math

    original = axis.logTickValues

    def tick_values(min_val: float, max_val: float, size: float, std_ticks: Any) -> Any:
        levels = list(original(min_val, max_val, size, std_ticks))
        decades = math.floor(max_val) - math.ceil(min_val) + 1
        whole = sum(1 for spacing, _ in levels if spacing is not None)
        if decades >= 2 and whole:
            axis.style["maxTextLevel"] = whole - 1
        elif levels and levels[-1][0] is None:  # under two decades: of the minor ticks label 2 and 5 only
            minor = list(levels.pop()[1])
            keep = [v for v in minor if round(10 ** (v - math.floor(v + 1e-9))) in (2, 5)]
            levels += [(None, keep), (None, [v for v in minor if v not in keep])]
            axis.style["maxTextLevel"] = len(levels) - 2
        else:
            axis.style["maxTextLevel"] = 2
        return levels

    axis.logTickValues = tick_values


def clip_title(plot_item: Any) -> None:
    """A plot's title no longer sets the plot's minimum width: pyqtgraph's ``LabelItem`` makes its
    text's width its minimum on every ``setText`` and resize, so a long title at lecture size pushed
    the plot's right axis past its panel's edge. The title is clipped instead (idempotent)."""
    from PyQt6.QtCore import Qt

    label = plot_item.titleLabel
    if getattr(label, "_clipped", False):
        return
    update = label.updateMin

    def update_min() -> None:
        update()
        label.setMinimumWidth(0)
        for hint in (Qt.SizeHint.MinimumSize, Qt.SizeHint.PreferredSize):
            if hint in label._sizeHint:
                label._sizeHint[hint] = (0, label._sizeHint[hint][1])
        label.updateGeometry()

    label.updateMin = update_min
    label._clipped = True
    update_min()


def fit_axis_label(axis: Any, length: float, smallest: int = 7) -> None:
    """Shrinks an axis label's font (never below ``smallest`` pt) until its text fits ``length``
    pixels along the axis: a long y label ("distance to the nearest minimum") on a short plot was
    cut at both ends. The label's own font size is the upper bound (lecture mode's or the default)."""
    from PyQt6.QtGui import QFontMetricsF

    label = axis.label
    text = label.toPlainText()
    if not text or length <= 0:
        return
    font = QFont(getattr(axis, "_label_font", None) or label.font())
    axis._label_font = QFont(font)  # the size asked for, before any fitting
    size = font.pointSizeF() if font.pointSizeF() > 0 else 9.0
    while size > smallest and QFontMetricsF(font).horizontalAdvance(text) > length - 8:
        size -= 1.0
        font.setPointSizeF(size)
    if font.pointSizeF() != label.font().pointSizeF():
        label.setFont(font)
        axis.picture = None
        axis.update()
