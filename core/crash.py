"""What happens to an exception no check foresaw: one line for the user, the traceback in a log.

A :class:`core.errors.LabError` is the user's mistake and is printed as it is. Anything else is a
bug (or the machine: ``MemoryError``, ``RecursionError``); the user still sees one line,
``internal error: <type>: <message> (details in <log>)``, and the traceback goes to a log file in
:func:`log_folder`: ``$XDG_STATE_HOME/loss-landscape-lab`` (default
``~/.local/state/loss-landscape-lab``), or the temporary folder when that cannot be written. The
CLI exits 3 for these (2 stays a LabError); the app shows the line in its banner and keeps running.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path
from types import TracebackType

from core.errors import printable

APP = "loss-landscape-lab"
#: the exit status of ``main.py`` after an internal error (2 is a LabError, 1 a failed check)
INTERNAL_EXIT = 3


def log_folder() -> Path:
    """``$XDG_STATE_HOME/loss-landscape-lab`` or ``~/.local/state/loss-landscape-lab``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / APP


def write_log(exc: BaseException, tb: TracebackType | None = None, context: str = "") -> Path | None:
    """Writes the traceback of ``exc`` to ``crash-<timestamp>-<pid>.log`` in :func:`log_folder`
    (the temporary folder if that fails); the file, or None when nothing could be written."""
    try:
        text = "".join(traceback.format_exception(type(exc), exc, tb if tb is not None else exc.__traceback__))
    except RecursionError:  # a traceback thousands of frames deep
        text = f"{type(exc).__name__}: {exc}\n(traceback too deep to format)\n"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    header = f"{APP} {context}\n{time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}\n\n".lstrip()
    for folder in (log_folder(), Path(tempfile.gettempdir()) / APP):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"crash-{stamp}-{os.getpid()}.log"
            with open(path, "a", encoding="utf-8") as f:
                f.write(header + text)
            return path
        except OSError:
            continue
    return None


def one_line(exc: BaseException, log: Path | None) -> str:
    """``internal error: <type>: <message> (details in <log>)``, one bounded line."""
    message = str(exc) if not isinstance(exc, RecursionError) else "nested too deeply"
    if isinstance(exc, MemoryError):
        message = message or "out of memory"
    where = f" (details in {log})" if log is not None else " (no log could be written)"
    return printable(f"internal error: {type(exc).__name__}: {message}", 300) + where


def report(exc: BaseException, context: str = "") -> str:
    """Logs ``exc`` and returns the one line to show."""
    return one_line(exc, write_log(exc, context=context))
