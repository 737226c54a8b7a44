"""Offscreen rendering of a scenario's panels, for ``main.py run`` (DIR/panels.png) and exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render_png(result: Any, path: str | Path, size: tuple[int, int] = (1400, 800), step: int | None = None) -> Path:
    """Renders the panels the scenario shows for a computed :class:`core.scenario.Result` at ``step``
    (default: the last) into a PNG of ``size`` pixels, without showing a window."""
    from lab.app import application

    app = application(headless=True)
    from lab.panels import PanelArea
    from lab.session import Session

    session = Session()
    area = PanelArea(session)
    area.resize(*size)
    area.panel("landscape").toggle3d.hide()
    session.show_result(result)
    session.set_frame(session.steps if step is None else step)
    area.show()
    app.processEvents()
    area.flush()
    app.processEvents()
    path = Path(path)
    area.grab().save(str(path))
    area.shutdown()
    area.close()
    area.deleteLater()
    app.processEvents()
    return path
