"""Every file the program reads or writes goes through here, so the guarantees hold in one place.

Writing: nothing the user has is ever half-written or silently replaced. :func:`atomic_file`
yields a temporary sibling (same folder, so the final ``os.replace`` is atomic on POSIX and
Windows) and renames it over the target only when the block finishes; on an exception, Ctrl-C or
SIGTERM the temporary is removed and the old file is untouched. SIGKILL cannot be caught: then the
old file is still untouched and a ``.NAME.tmp-PID-*`` sibling may remain, which
:func:`remove_stale_temporaries` deletes once that process is gone. :func:`atomic_dir` does the same
for a whole output folder (every file of one run, or none), and :class:`FolderLock` refuses a
second writer while one is at work (``flock``, released by the kernel if the holder dies).

Reading: :func:`read_bounded` opens only regular files (a FIFO would block, ``/dev/zero`` never
ends), refuses files over a size limit before reading them, and turns every OS error into a
one-line :class:`LabError`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from core.errors import LabError

#: the largest scenario, CSV or NPZ input the program reads (scenario files are a few KB)
MAX_INPUT_BYTES = 64 * 1024 * 1024
_TMP_MARK = ".tmp-"


def _os_message(exc: OSError) -> str:
    """The OS's words for ``exc`` (libraries such as pandas raise OSError with only a message)."""
    return exc.strerror or str(exc) or type(exc).__name__


def read_bounded(path: str | Path, limit: int = MAX_INPUT_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; anything else is a LabError naming
    the file (missing, a folder, a device or FIFO, too large, unreadable, a name too long)."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise LabError(f"no such {what}", "", str(p)) from None
        raise LabError(f"cannot read this {what}: {_os_message(exc)}", "", str(p)) from None
    if stat.S_ISDIR(st.st_mode):
        raise LabError(f"is a folder, expected a {what}", "", str(p))
    if not stat.S_ISREG(st.st_mode):
        raise LabError(f"is not a regular file (a device, FIFO or socket); expected a {what}", "", str(p))
    if st.st_size > limit:
        raise LabError(f"is {st.st_size:,} bytes; a {what} may be at most {limit:,} bytes", "", str(p))
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise LabError(f"cannot read this {what}: {_os_message(exc)}", "", str(p)) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped between stat and open
            raise LabError(f"is not a regular file; expected a {what}", "", str(p))
        data = f.read(limit + 1)
    if len(data) > limit:
        raise LabError(f"is larger than {limit:,} bytes; a {what} may be at most that", "", str(p))
    return data


def read_text_bounded(path: str | Path, limit: int = MAX_INPUT_BYTES, what: str = "file") -> str:
    """:func:`read_bounded` decoded as UTF-8 (a clear error for a binary file)."""
    data = read_bounded(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabError(f"is not UTF-8 text (byte {exc.start})", "", str(path)) from None


def _temporary_sibling(path: Path, directory: bool = False) -> Path:
    # the suffix is kept (".gif", ".png"): encoders pick their format from it
    return path.with_name(f".{path.stem}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{'' if directory else path.suffix}")


def check_writable_folder(folder: str | Path, what: str = "output folder") -> Path:
    """Fails early (before any computation) when ``folder`` could not be created or written: a
    file in the way, a parent that is a file, no permission, a name too long. Creates nothing."""
    p = Path(folder)
    if p.exists() and not p.is_dir():
        raise LabError(f"is a file, not a folder; the {what} must be a folder", "", str(p))
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise LabError(f"cannot be created: {probe} is a file", "", str(p))
    try:
        name = os.fspath(p.absolute())
        if len(os.fsencode(name)) > os.pathconf(probe, "PC_PATH_MAX") or any(
                len(os.fsencode(part)) > os.pathconf(probe, "PC_NAME_MAX") for part in p.parts):
            raise LabError(f"the name of this {what} is longer than the system allows", "", str(p)[:200] + "...")
        fd = os.open(probe / f".write-test{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise LabError(f"cannot write here: {_os_message(exc)} ({probe})", "", str(p)) from None
    os.close(fd)
    for leftover in probe.glob(f".write-test{_TMP_MARK}{os.getpid()}-*"):
        leftover.unlink(missing_ok=True)
    return p


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yields a temporary sibling of ``path`` to write; renames it over ``path`` when the block
    ends normally, removes it otherwise (the previous ``path``, if any, stays as it was)."""
    target = Path(path)
    if target.is_dir():
        raise LabError("is a folder; expected a file name to write", "", str(target))
    check_writable_folder(target.parent if str(target.parent) else Path("."), "folder")
    if not target.parent.is_dir():
        raise LabError(f"the folder {target.parent} does not exist", "", str(target))
    tmp = _temporary_sibling(target)
    try:
        yield tmp
        if not tmp.exists():
            raise LabError("nothing was written", "", str(target))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise LabError(f"cannot write: {_os_message(exc)}", "", str(target)) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Writes ``data`` (text as UTF-8) to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yields an empty temporary sibling folder; when the block ends normally it takes the place of
    ``path`` as one set (an earlier folder there, with every file of an earlier run, is removed),
    otherwise it is removed and ``path`` stays as it was. Between the two renames a SIGKILL can
    leave ``path`` absent and the earlier results in a ``.NAME.old-*`` sibling: never a mix."""
    target = Path(path)
    check_writable_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(target, directory=True)
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
            os.rename(target, old)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise LabError(f"cannot write: {_os_message(exc)}", "", str(target)) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Deletes the ``.NAME.tmp-PID-*`` / ``.NAME.old-PID-*`` leftovers of processes that are gone
    (a SIGKILL mid-write); returns what it removed. Leftovers of live processes are kept."""
    removed = []
    for p in Path(folder).glob(".*"):
        for mark in (_TMP_MARK, ".old-"):
            head, sep, tail = p.name.rpartition(mark)
            if not sep or not head:
                continue
            # exactly the names this module makes (PID-8 hex digits, the file's suffix): a user's
            # ".zshrc.old-2023" is not a leftover
            m = re.fullmatch(r"(\d+)-[0-9a-f]{8}(\.[^.]*)?", tail)
            if m and not process_alive(int(m.group(1))):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p)
            break
    return removed


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


class FolderLock:
    """An exclusive lock on ``folder`` held through a ``.NAME.lock`` file beside it (beside, not in:
    :func:`atomic_dir` replaces the folder itself). A second holder gets a LabError naming the
    process that has it. ``flock`` is released by the kernel when the holder dies, SIGKILL too."""

    def __init__(self, folder: str | Path, what: str = "run") -> None:
        self.folder = Path(folder)
        self.path = self.folder.with_name(f".{self.folder.name}.lock")
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> "FolderLock":
        import fcntl
        import sys
        import time

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 400).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise LabError(f"another {self.what} is writing here ({holder}); wait for it to finish or choose "
                           "another output folder", "", str(self.folder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                     f"{' '.join(sys.argv)[:200]}".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # the file stays (unlinking a flock file races with a waiting opener)
            self._fd = None
