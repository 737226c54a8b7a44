"""The real main window for GUI tests: shown at a size, closed afterwards without the
unsaved-changes prompt (a modal dialog would block the test run). One definition for every
fixture that needs a window."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def close(w) -> None:
    """Stops playback and any work in flight, forgets unsaved edits, closes."""
    w.player.pause()
    w.session.cancel()
    w.session.dirty = False
    w.close()
    w.deleteLater()


@contextmanager
def main_window(width: int = 1200, height: int = 800, lesson=None) -> Iterator:
    """A shown :class:`lab.window.MainWindow`, with ``lesson`` opened and run when given."""
    from lab.window import MainWindow

    w = MainWindow()
    w.resize(width, height)
    w.show()
    try:
        if lesson is not None:
            assert w.open(lesson), w.banner.label.text()
            w.session.wait()  # the run may go to the worker (by its estimated cost, which depends on the load)
        yield w
    finally:
        close(w)
