"""Long work off the GUI thread (superqt's GeneratorWorker, reduced to what the lab needs).

A :class:`Worker` runs ``fn(*args, progress, cancelled)`` on the global ``QThreadPool``. ``progress``
is ``callable(done, total)`` and ``cancelled`` is ``callable() -> bool``; core routines accept both
as their ``progress=``/``cancel=`` arguments and check them between chunks, which is the only
place a cancel can take effect; a job that stops there raises :class:`core.errors.Cancelled`
and the worker stays silent. The worker gets data and emits data, never a widget.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

from core.errors import Cancelled, LabError


class WorkerSignals(QObject):
    progress = pyqtSignal(int, int)
    result = pyqtSignal(object)
    error = pyqtSignal(str)
    finished = pyqtSignal()


_RUNNING: set["Worker"] = set()  # a cancelled worker is dropped by its owner but must live until its thread ends


class Worker(QRunnable):
    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        self.fn, self.args = fn, args
        self.signals = WorkerSignals()
        self._cancel = threading.Event()
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> None:
        _RUNNING.add(self)
        QThreadPool.globalInstance().start(self)

    def run(self) -> None:  # runs in the pool thread
        def progress(done: int, total: int) -> None:
            if not self._cancel.is_set():
                self.signals.progress.emit(int(done), int(total))

        try:
            out = self.fn(*self.args, progress, self._cancel.is_set)
        except Cancelled:
            out = None
        except LabError as exc:
            if not self._cancel.is_set():
                self.signals.error.emit(str(exc))
            out = None
        except Exception as exc:  # noqa: BLE001 - a bug in a job must reach the user, not kill the thread silently
            if not self._cancel.is_set():
                self.signals.error.emit(f"internal error: {exc!r}\n{traceback.format_exc(limit=3)}")
            out = None
        else:
            if not self._cancel.is_set():
                self.signals.result.emit(out)
        # the window (and with it the signals object) may be gone when a job ends after it closed
        with contextlib.suppress(RuntimeError):
            self.signals.finished.emit()
        _RUNNING.discard(self)
