"""The Qt side of the session: runs the model's jobs on worker threads and re-emits its events as
Qt signals for the widgets.

:class:`QtSession` wraps one Qt-free :class:`lab.session.Session` (``model``). It owns the
:class:`lab.worker.Worker` threads: each ``job_requested`` becomes a worker whose progress, answer
or error come back on the GUI thread into :meth:`Session.job_progress` / ``job_done`` /
``job_failed``, and ``job_cancelled`` cancels that worker. Every model event is re-emitted as the Qt
signal of the same name, so a widget's slot runs under Qt's rules (an exception in one redraw goes
to :func:`lab.app._slot_excepthook` and the other widgets still update). The state and the edits
are the model's: ``qt_session.set(...)`` is ``qt_session.model.set(...)``.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QCoreApplication, QElapsedTimer, QObject, QThread, pyqtSignal

from lab.session import Job, Session
from lab.worker import Worker

#: the model events a widget may subscribe to, re-emitted as Qt signals
EVENTS = ("scenario_changed", "result_changed", "extras_changed", "frame_changed", "error", "busy", "progress",
          "dirty_changed")


class QtSession(QObject):
    """The session as the widgets see it: the model's state and edits, its events as Qt signals."""

    scenario_changed = pyqtSignal()
    result_changed = pyqtSignal()
    extras_changed = pyqtSignal()
    frame_changed = pyqtSignal(int)
    error = pyqtSignal(str, str)
    busy = pyqtSignal(str)
    progress = pyqtSignal(int, int)
    dirty_changed = pyqtSignal(bool)

    def __init__(self, model: Session | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model if model is not None else Session(background=True)
        self.model.background = True
        for name in EVENTS:
            getattr(self.model, name).connect(getattr(self, name).emit)
        self.model.job_requested.connect(self._start)
        self.model.job_cancelled.connect(self._cancel)
        self._workers: dict[Job, Worker] = {}

    def __getattr__(self, name: str) -> Any:
        # only called for what QtSession itself lacks: the model's state and edits
        if name == "model":  # not set yet (during __init__)
            raise AttributeError(name)
        return getattr(self.model, name)

    @property
    def dirty(self) -> bool:
        return self.model.dirty

    @dirty.setter
    def dirty(self, value: bool) -> None:
        self.model.dirty = bool(value)

    @property
    def confirm_large(self) -> Any:
        return self.model.confirm_large

    @confirm_large.setter
    def confirm_large(self, ask: Any) -> None:
        self.model.confirm_large = ask

    # -- workers ------------------------------------------------------------------------------
    def _start(self, job: Job) -> None:
        worker = Worker(job.fn, *job.args)
        model = self.model
        worker.signals.progress.connect(lambda done, total, j=job: model.job_progress(j, done, total))
        worker.signals.result.connect(lambda value, j=job: model.job_done(j, value))
        worker.signals.error.connect(lambda message, j=job: model.job_failed(j, message))
        worker.signals.finished.connect(lambda j=job: self._workers.pop(j, None))
        self._workers[job] = worker
        worker.start()

    def _cancel(self, job: Job) -> None:
        worker = self._workers.pop(job, None)
        if worker is not None:
            worker.cancel()

    @property
    def _worker(self) -> Worker | None:
        """The worker computing the current run (None when the run on screen is current)."""
        return self._worker_of("run")

    @property
    def _extra(self) -> Worker | None:
        """The worker tracking the sharpness along the current run."""
        return self._worker_of("extras")

    def _worker_of(self, kind: str) -> Worker | None:
        job = self.model.jobs.get(kind)
        return None if job is None else self._workers.get(job)

    def wait(self, timeout_ms: int = 120_000, extras: bool = False, check: Any = None) -> None:
        """Blocks (processing events) until the run (and with ``extras`` the sharpness tracking)
        is done: for tests and headless export. ``check()`` is called between waits (headless
        export: :func:`lab.export.interruptible` raises there on Ctrl-C, and the work is cancelled)."""
        clock = QElapsedTimer()
        clock.start()
        jobs = self.model.jobs
        while ("run" in jobs or (extras and "extras" in jobs)) and clock.elapsed() < timeout_ms:
            QCoreApplication.processEvents()
            QThread.msleep(10)
            if check is not None:
                try:
                    check()
                except BaseException:
                    self.model.cancel()
                    raise
