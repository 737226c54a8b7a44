"""Fonts for plots: pyqtgraph axes take their tick font and label size explicitly."""

from __future__ import annotations

from typing import Any

from PyQt6.QtGui import QFont


def set_plot_font(plot_item: Any, points: int | None) -> None:
    """Tick and label fonts of every axis of a PlotItem; ``None`` restores pyqtgraph's defaults."""
    font = QFont()
    if points:
        font.setPointSize(points)
    for name in ("left", "bottom", "right", "top"):
        axis = plot_item.getAxis(name)
        axis.setStyle(tickFont=font if points else None)
        axis.label.setFont(font)
    title = plot_item.titleLabel
    if title is not None and points:
        title.setText(title.text, size=f"{points}pt")
