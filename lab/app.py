"""Starting Qt: one QApplication per process; offscreen when there is no display (headless
exports, ``main.py run`` snapshots, CI)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PyQt6.QtWidgets import QApplication


def application(headless: bool = False) -> QApplication:
    """The process's QApplication, created on first use (offscreen when ``headless`` or no display)."""
    app = QApplication.instance()
    if app is None:
        if headless or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("win32", "darwin")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Loss Landscape Lab")
    return app  # type: ignore[return-value]


def run_gui(path: str | Path, lecture: bool = False) -> int:
    """Opens the main window on ``path`` and runs the event loop."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
            or sys.platform in ("win32", "darwin")):
        from core.errors import LabError

        raise LabError("no display to open the window on (DISPLAY is not set); to render headless use "
                       "'main.py export FILE --png OUT' (or --gif/--mp4)", "open")
    app = application()
    from lab.window import MainWindow, first_frame

    window = MainWindow()
    window.show()
    first_frame(window, path, lecture)
    return app.exec()
