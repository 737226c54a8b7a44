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
        install_excepthook()
    return app  # type: ignore[return-value]


#: the one-line reports of exceptions raised in Qt slots this process (newest last)
slot_errors: list[str] = []


def _slot_excepthook(kind: type[BaseException], exc: BaseException, tb) -> None:
    """An exception escaping a Qt slot (a redraw, a click): logged with its traceback
    (:mod:`core.crash`), shown as one line in the window's banner and on stderr; the app goes on."""
    if issubclass(kind, KeyboardInterrupt):
        return sys.__excepthook__(kind, exc, tb)
    from core.crash import one_line, write_log
    from core.errors import LabError

    line = str(exc) if isinstance(exc, LabError) else one_line(exc, write_log(exc, tb, "Qt slot"))
    slot_errors.append(line)
    print(line, file=sys.stderr)
    app = QApplication.instance()
    for widget in app.topLevelWidgets() if app is not None else ():
        banner = getattr(widget, "banner", None)
        if banner is not None and hasattr(banner, "show_message"):
            banner.show_message(line)


def install_excepthook() -> None:
    """Routes exceptions of Qt slots through :func:`_slot_excepthook` (PyQt calls ``sys.excepthook``)."""
    sys.excepthook = _slot_excepthook


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
