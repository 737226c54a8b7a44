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
    for axis in axes:
        axis.setStyle(tickFont=font if points else None)
        axis.label.setFont(font)
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
