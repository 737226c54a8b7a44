"""The panels, one module each, and :class:`PanelArea`, which lays them out: the landscape on the
left, convergence / eigen / model stacked on the right (the design card's layout). The scenario's
``view.panels`` says which are shown; the main window and the offscreen snapshot share this. The
names are :data:`lab.panels.names.PANEL_NAMES` (Qt-free, registered with core's schema)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``from lab.panels import PanelArea`` (lab/panels/area.py), imported on first use: importing
    the package itself needs no Qt, so :mod:`lab.panels.names` registers the panel names in a
    process without Qt (the CLI's ``run``/``check``, the Qt-free session and its tests)."""
    if name == "PanelArea":
        from lab.panels.area import PanelArea

        return PanelArea
    raise AttributeError(f"module 'lab.panels' has no attribute {name!r}")
