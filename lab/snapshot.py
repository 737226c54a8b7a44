"""Offscreen rendering of a scenario's panels, for ``main.py run`` (DIR/panels.png). Animation
exports draw through the same kind of offscreen copy (:class:`lab.export.Offscreen`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render_png(result: Any, path: str | Path, size: tuple[int, int] = (1400, 800), step: int | None = None) -> Path:
    """Renders the panels the scenario shows for a computed :class:`core.scenario.Result` at ``step``
    (default: the last) into a PNG of ``size`` pixels, without showing a window. The file is
    written atomically (:func:`core.files.atomic_file`); Ctrl-C/SIGTERM while painting is honoured
    (:func:`lab.export.interruptible`: Qt swallows a KeyboardInterrupt raised in a paint) and
    leaves no file."""
    from PyQt6.QtCore import Qt

    from core.errors import LabError
    from core.files import atomic_file
    from lab.app import application
    from lab.export import interruptible

    app = application(headless=True)
    from lab.panels.area import PanelArea
    from lab.qt_session import QtSession

    path = Path(path)
    with interruptible() as check, check.qt():
        session = QtSession()  # shows the result as it is: no job runs
        area = PanelArea(session)
        area.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)  # drawn, never shown (a real display too)
        try:
            area.resize(*size)
            area.panel("landscape").toggle3d.hide()
            session.show_result(result)
            session.set_frame(session.steps if step is None else step)
            area.show()
            app.processEvents()
            area.flush()
            app.processEvents()
            check()
            image = area.grab()
            with atomic_file(path) as tmp:
                if not image.save(str(tmp), "PNG"):
                    raise LabError("could not write the image", "", str(path))
                check()
        finally:
            area.shutdown()
            area.close()
            area.deleteLater()
            app.processEvents()
    return path
