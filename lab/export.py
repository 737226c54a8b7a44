"""Exports: PNG of a widget, GIF/MP4 of the animation, CSV of the run.

Frames are rendered on the GUI thread (Qt paints only there) by stepping the session through the
run and grabbing the widget. Each frame goes to the encoder as soon as it is grabbed (GIF:
:class:`GifStream`, one frame in memory at a time; MP4: ``imageio-ffmpeg``'s pipe), so a long run
needs no more memory than a short one. ``imageio-ffmpeg`` (a dependency of the package) ships the
ffmpeg binary MP4 export uses.

Every export writes a temporary sibling of the target and renames it over the target only when
the file is complete (:func:`core.files.atomic_file`): a failure, Ctrl-C, SIGTERM or SIGKILL leaves
the user's earlier file as it was (or nothing). The target is checked (:func:`check_target`: its
suffix, its folder) before any frame is drawn. Ctrl-C and SIGTERM are honoured between frames
(:func:`interruptible`): Qt would swallow a KeyboardInterrupt raised inside its event processing;
elsewhere (encoding) they stop the export at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PyQt6.QtCore import QCoreApplication
from PyQt6.QtGui import QImage

from core.errors import LabError

DEFAULT_FPS = 15


def _flush(widget: Any) -> None:
    """Throttled panels (the eigen view) draw the current step before a grab."""
    from lab.panels import PanelArea

    areas = [widget] if isinstance(widget, PanelArea) else widget.findChildren(PanelArea)
    for area in areas:
        area.flush()
    QCoreApplication.processEvents()


#: what each export writes, by the target's suffix
SUFFIXES = {"png": (".png",), "csv": (".csv",), "animation": (".gif", ".mp4")}


def check_target(path: str | Path, kind: str) -> Path:
    """Refuses, before anything is drawn or written, a target the export cannot write: a suffix
    other than :data:`SUFFIXES` ``[kind]`` (``.txt``), a folder, a folder
    that cannot be written or created (missing parent under a file, no permission)."""
    from core.files import check_writable_folder

    path = Path(path)
    allowed = SUFFIXES[kind]
    if path.suffix.lower() not in allowed:
        got = repr(path.suffix) if path.suffix else "no suffix"
        raise LabError(f"{'a ' + kind if kind != 'animation' else 'an animation'} export writes "
                       f"{' or '.join(allowed)} files, got {got}", "", str(path))
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # a name longer than the system allows
        raise LabError(f"cannot use this name: {exc.strerror or type(exc).__name__}", "", str(path)[:300]) from None
    if is_dir:
        raise LabError("is a folder; give a file name to write", "", str(path))
    check_writable_folder(path.parent if str(path.parent) else Path("."), "folder")
    return path


class Guard:
    """Ctrl-C and SIGTERM during an export (see :func:`interruptible`). Outside :meth:`qt` a signal
    raises ``KeyboardInterrupt`` at once (encoding, writing: plain Python); inside it (Qt painting,
    processing events, where PyQt would swallow the exception) it is only recorded, and calling
    the guard, between frames, raises it. A second signal always raises at once."""

    def __init__(self) -> None:
        self.caught: list[int] = []
        self.depth = 0

    def handler(self, signum: int, frame: Any) -> None:
        first = not self.caught
        self.caught.append(signum)
        if self.depth == 0 or not first:
            raise KeyboardInterrupt

    def __call__(self) -> None:
        if self.caught:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def qt(self) -> Iterator[None]:
        """A stretch of Qt work: signals are deferred to the check at its end."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        self()


@contextlib.contextmanager
def interruptible() -> Iterator[Guard]:
    """Installs a :class:`Guard` as the SIGINT and SIGTERM handler for the block (the previous
    handlers come back afterwards). Outside the main thread (signals go there only) the guard
    never fires."""
    import signal
    import threading

    guard = Guard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, guard.handler)
    try:
        yield guard
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)


def png(widget: Any, path: str | Path) -> Path:
    """A screenshot of ``widget`` as PNG, written atomically (the earlier file survives a failure)."""
    from core.files import atomic_file

    path = check_target(path, "png")
    with interruptible() as check:
        with check.qt():
            _flush(widget)
            image = widget.grab()
        with atomic_file(path) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise LabError("could not write the image", "", str(path))
            check()
    return path


def csv(session: Any, path: str | Path) -> Path:
    """The run's table as CSV, written atomically (the earlier file survives a failure)."""
    from core.files import atomic_file

    if session.result is None:
        raise LabError("nothing to export: no run yet")
    path = check_target(path, "csv")
    with atomic_file(path) as tmp:
        session.result.run.table().to_csv(tmp, index=False)
    return path


def to_array(image: QImage) -> np.ndarray:
    """An RGB ``uint8 [h, w, 3]`` copy of a QImage."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits().asstring(stride * h), dtype=np.uint8).reshape(h, stride)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def frame_steps(steps: int, every: int = 1) -> list[int]:
    """The steps an animation shows: 0, every, 2 every, ..., always ending on the last step."""
    out = list(range(0, steps + 1, max(1, every)))
    if out[-1] != steps:
        out.append(steps)
    return out


class GifStream:
    """An animated GIF written frame by frame to ``fp``: each RGB frame is quantized to its own
    256-colour palette (a local colour table) and encoded at once, so only the previous frame is
    kept (to encode just the rectangle that changed). ``close()`` writes the trailer; a file
    without it (an interrupted export) is never renamed into place."""

    def __init__(self, fp: BinaryIO, duration_ms: float, loop: int = 0) -> None:
        self.fp, self.duration, self.loop = fp, max(10, int(round(duration_ms))), loop
        self.previous: np.ndarray | None = None
        self.count = 0

    def append(self, frame: np.ndarray) -> None:
        from PIL import GifImagePlugin, Image

        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        offset = (0, 0)
        part = frame
        if self.previous is not None and self.previous.shape == frame.shape:
            changed = np.any(frame != self.previous, axis=2)
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            if rows.size:  # only the rectangle that changed, drawn over the previous frame
                part = frame[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
                offset = (int(cols[0]), int(rows[0]))
            else:  # an unchanged frame still takes its time: one pixel, redrawn
                part = frame[:1, :1]
        image = Image.fromarray(part, "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
        if self.count == 0:
            header, _ = GifImagePlugin.getheader(image, info={"loop": self.loop, "duration": self.duration})
            self.fp.write(b"".join(header))
        else:
            GifImagePlugin.getheader(image)  # the palette trimmed to the colours used, as for the first
        # disposal 1: a frame stays on screen under the next one's rectangle
        data = GifImagePlugin.getdata(image, offset=offset, duration=self.duration, disposal=1,
                                      include_color_table=self.count > 0)
        self.fp.write(b"".join(data))
        self.previous = frame
        self.count += 1

    def close(self) -> None:
        self.fp.write(b";")


def animation(session: Any, widget: Any, path: str | Path, *, fps: float = DEFAULT_FPS, every: int = 1,
              progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None) -> int:
    """Writes the animation of ``widget`` over the run as GIF or MP4 (by the file's suffix);
    returns the number of frames. Frames stream to the encoder; the file appears complete at
    ``path`` or not at all (a failure, Ctrl-C or ``cancel`` leaves the earlier file as it was).
    The session's frame is restored afterwards."""
    from core.files import atomic_file

    path = check_target(path, "animation")
    if session.result is None:
        raise LabError("nothing to export: no run yet")
    if not (isinstance(fps, int | float) and np.isfinite(fps) and fps > 0):
        raise LabError(f"frames per second must be a positive number, got {fps!r}", "fps")
    steps = frame_steps(session.steps, every)
    keep = session.frame
    gif = path.suffix.lower() == ".gif"
    size = None
    done = False
    try:
        with interruptible() as check, atomic_file(path) as tmp:
            if gif:
                stream = open(tmp, "wb")
                writer: Any = GifStream(stream, 1000 / fps)
            else:
                import imageio.v2 as imageio

                writer = imageio.get_writer(tmp, fps=fps, codec="libx264", quality=8, macro_block_size=2)
            try:
                for k, step in enumerate(steps):
                    check()
                    if cancel is not None and cancel():
                        raise LabError("export cancelled; nothing was written", "", str(path))
                    with check.qt():
                        session.set_frame(step)
                        _flush(widget)
                        frame = to_array(widget.grab().toImage())
                    if size is None:
                        size = frame.shape
                    elif frame.shape != size:  # a resize mid-export: every frame the first frame's size
                        fixed = np.zeros(size, dtype=np.uint8)
                        h, w = min(size[0], frame.shape[0]), min(size[1], frame.shape[1])
                        fixed[:h, :w] = frame[:h, :w]
                        frame = fixed
                    check()
                    if gif:
                        writer.append(frame)
                    else:
                        writer.append_data(frame)
                    if progress is not None:
                        progress(k + 1, len(steps))
                done = True
            finally:
                if gif:
                    if done:
                        writer.close()
                    stream.close()
                elif done:
                    writer.close()
                else:
                    with contextlib.suppress(Exception):
                        writer.close()  # an interrupted MP4: stop ffmpeg (the file is removed)
            check()  # a Ctrl-C while the encoder finished: the file is not renamed into place
    finally:
        session.set_frame(keep)
    return len(steps)
