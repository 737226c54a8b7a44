"""Exports: PNG of a widget, GIF/MP4 of the animation, CSV of the run.

Animations are drawn by an offscreen copy of the panels (:class:`Offscreen`: its own session
showing the same computed run, its own :class:`PanelArea` at the live one's size, never shown on
screen), so the live window's frame, player and fonts never move during an export. Each frame
carries a band with the step counter and the caption of the beat shown at that step.

Threads: Qt widgets may only be created, painted and grabbed on the GUI thread, so frames are
drawn there; encoding (palette mapping, LZW, ffmpeg's pipe) is plain Python/C and runs anywhere.
In the app (:func:`run_in_app`, :class:`BackgroundExport`) a QTimer draws one frame per tick on
the GUI thread (the window stays responsive between ticks) and a worker thread encodes them in
order from a bounded queue; a progress dialog counts encoded frames and its Cancel stops the
export at the next tick, leaving neither the file nor a temporary file. The CLI
(:func:`animation`) draws and encodes in turn on one thread and prints its progress.

GIF: one global 256-colour palette (:func:`global_palette`, median cut of the first, middle and
last frames, drawn before the file opens and not kept), every frame mapped to it by the nearest
colour without dithering (no flicker between frames, no dither noise on the colour bar); each
frame after the first stores only the changed rectangle with unchanged pixels transparent. The
app keeps an animation to :data:`MAX_FRAMES` frames (:func:`budget_every`). Each frame goes to the
encoder as soon as it is drawn (GIF: :class:`GifStream`; MP4: ``imageio-ffmpeg``'s pipe, which
ships the ffmpeg binary), so a long run needs no more memory than a short one.

Every export writes a temporary sibling of the target and renames it over the target only when
the file is complete (:func:`core.files.atomic_file`): a failure, a cancel, Ctrl-C, SIGTERM or
SIGKILL leaves the user's earlier file as it was (or nothing). The target is checked
(:func:`check_target`: its suffix, its folder) before any frame is drawn. Ctrl-C and SIGTERM are
honoured between frames (:func:`interruptible`): Qt would swallow a KeyboardInterrupt raised
inside its event processing; elsewhere (encoding) they stop the export at once.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PyQt6.QtCore import QCoreApplication, QObject, QTimer, pyqtSignal
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
    """An RGB ``uint8 [h, w, 3]`` copy of a QImage (one animation frame)."""
    return _pixels(image)


def _pixels(image: QImage) -> np.ndarray:
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


def caption_at(scenario: Any, step: int, run: Any = None, selected: int = 0) -> str:
    """The caption of the scenario's beat shown at ``step`` (the last beat at or before it), as the
    window's caption line shows it outside lecture mode (with ``run``: its ``{...}`` fields filled
    at ``step``, :mod:`core.captions`); the title at step 0 of a lesson without beats; empty otherwise."""
    beats = getattr(scenario, "beats", ()) or ()
    text = ""
    for beat in beats:
        if beat.step <= step:
            text = beat.caption
    if not beats and scenario is not None and step == 0:
        text = getattr(scenario, "title", "") or ""
    elif run is not None and text:
        from core.captions import render

        text = render(str(text), run, step, selected, missing="…")
    return " ".join(str(text).split())


#: the band under each animation frame: step counter on the left, the beat's caption beside it
BAND_HEIGHT = 30
#: the app picks ``every`` so that an animation has at most this many frames (the CLI's --every
#: default does the same; an explicit --every is honoured)
MAX_FRAMES = 300


def budget_every(steps: int, max_frames: int = MAX_FRAMES) -> int:
    """The smallest ``every`` that keeps :func:`frame_steps` at or under ``max_frames`` frames."""
    every = 1
    while len(frame_steps(steps, every)) > max_frames:
        every += 1
    return every


def _panel_area(widget: Any) -> Any:
    from lab.panels import PanelArea

    if isinstance(widget, PanelArea):
        return widget
    areas = widget.findChildren(PanelArea)
    if not areas:
        raise LabError("nothing to animate: the widget holds no panels")
    return areas[0]


class Offscreen:
    """An offscreen copy of a panel area showing the same computed run: its own session (no job
    runs: :meth:`QtSession.show_result`) and :class:`PanelArea`, never shown on screen
    (``WA_DontShowOnScreen``), the same size and the same visible panels as the live one. The live
    window's frame, player and fonts are never touched (lecture-mode fonts do not carry into an
    export). GUI thread only (Qt paints only there)."""

    def __init__(self, session: Any, widget: Any) -> None:
        from PyQt6.QtCore import Qt

        from lab.panels.area import PanelArea
        from lab.qt_session import QtSession

        live = _panel_area(widget)
        self.scenario = session.scenario
        self.steps = session.steps
        self.session = QtSession()
        self.area = PanelArea(self.session)
        self.area.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        self.area.panel("landscape").toggle3d.hide()
        size = live.size()
        self.area.resize(max(size.width(), 200), max(size.height(), 150))
        self.session.show_result(session.result)
        self.session.select(session.selected)
        for name, panel in live.panels.items():
            on = panel.isVisibleTo(live)
            if self.area.panels[name].isVisibleTo(self.area) != on:
                self.area.show_panel(name, on)
        self.area.show()
        QCoreApplication.processEvents()

    def image(self, step: int) -> QImage:
        """The panels at ``step`` with the step counter and the beat's caption burned in below."""
        from PyQt6.QtCore import QRect, Qt
        from PyQt6.QtGui import QColor, QFont, QFontMetrics, QPainter

        self.session.set_frame(step)
        _flush(self.area)
        panels = self.area.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        w, h = panels.width(), panels.height()
        out = QImage(w, h + BAND_HEIGHT, QImage.Format.Format_RGB32)
        out.fill(QColor("white"))
        painter = QPainter(out)
        try:
            painter.drawImage(0, 0, panels)
            painter.fillRect(0, h, w, BAND_HEIGHT, QColor("#f2f2f2"))
            font = QFont()
            font.setPixelSize(15)
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(QColor("#111111"))
            width = len(str(self.steps))
            counter = f"step {step:>{width}} / {self.steps}"
            metrics = QFontMetrics(font)
            cw = metrics.horizontalAdvance(f"step {'8' * width} / {self.steps}") + 24
            painter.drawText(QRect(10, h, cw, BAND_HEIGHT), int(Qt.AlignmentFlag.AlignVCenter), counter)
            font.setBold(False)
            painter.setFont(font)
            caption = QFontMetrics(font).elidedText(caption_at(self.scenario, step, self.session.result.run, self.session.selected), Qt.TextElideMode.ElideRight,
                                                    max(0, w - cw - 20))
            painter.drawText(QRect(10 + cw, h, w - cw - 20, BAND_HEIGHT), int(Qt.AlignmentFlag.AlignVCenter), caption)
        finally:
            painter.end()
        return out

    def ramps(self) -> list[np.ndarray]:
        """The RGB lookup tables of the colour maps the visible panels draw (``cmap``)."""
        out = []
        for panel in self.area.panels.values():
            cmap = getattr(panel, "cmap", None)
            if cmap is not None and panel.isVisibleTo(self.area) and hasattr(cmap, "getLookupTable"):
                out.append(np.asarray(cmap.getLookupTable(nPts=256, alpha=False), dtype=np.uint8))
        return out

    def close(self) -> None:
        self.session.cancel()
        self.area.shutdown()
        self.area.close()
        self.area.deleteLater()


class GifStream:
    """An animated GIF written frame by frame to ``fp`` with ONE global 256-colour palette
    (:func:`global_palette`, built once from sample frames): every frame is mapped to it by the
    nearest colour without dithering, so a colour is the same index in every frame (no flicker,
    no dither noise on the colour bar). Each frame after the first encodes only the rectangle that
    changed, and inside it the pixels that did not change are the transparent index
    (:data:`TRANSPARENT`; disposal 1 keeps the previous frame under them): unchanged pixels cost
    almost nothing. Only the previous frame's indices are kept. ``close()`` writes the trailer; a
    file without it (an interrupted export) is never renamed into place."""

    TRANSPARENT = 255

    def __init__(self, fp: BinaryIO, duration_ms: float, palette: Any, loop: int = 0) -> None:
        self.fp, self.duration, self.loop = fp, max(10, int(round(duration_ms))), loop
        self.palette = palette  # a "P" image whose palette has 255 colours and a spare last entry
        self.previous: np.ndarray | None = None
        self.count = 0

    def indices(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` (RGB) as indices into the global palette: nearest colour, no dithering; the
        transparent index is never used for a colour."""
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8), "RGB")
        index = np.asarray(image.quantize(palette=self.palette, dither=Image.Dither.NONE))
        return np.where(index == self.TRANSPARENT, 0, index).astype(np.uint8)  # entry 255 copies entry 0

    def _header(self, width: int, height: int) -> bytes:
        import struct

        table = bytes(self.palette.getpalette()[: 3 * 256]).ljust(768, b"\0")
        head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + table  # 256-entry global table
        if self.loop is not None:
            head += b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", self.loop) + b"\0"
        return head

    def append(self, frame: np.ndarray) -> None:
        from PIL import GifImagePlugin, Image

        index = self.indices(frame)
        h, w = index.shape
        params: dict[str, Any] = {"duration": self.duration, "disposal": 1, "include_color_table": False}
        offset = (0, 0)
        part = index
        if self.count == 0:
            self.fp.write(self._header(w, h))
        elif self.previous is not None and self.previous.shape == index.shape:
            changed = index != self.previous
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            if rows.size:  # the changed rectangle; inside it, unchanged pixels are transparent
                box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
                part = np.where(changed[box], index[box], self.TRANSPARENT).astype(np.uint8)
                offset = (int(cols[0]), int(rows[0]))
            else:  # an unchanged frame still takes its time: one transparent pixel
                part = np.full((1, 1), self.TRANSPARENT, dtype=np.uint8)
            params["transparency"] = self.TRANSPARENT
        image = Image.fromarray(np.ascontiguousarray(part), "L").convert("P")
        image.putpalette(self.palette.getpalette()[: 3 * 256])
        self.fp.write(b"".join(GifImagePlugin.getdata(image, offset=offset, **params)))
        self.fp.flush()  # on disk as it is drawn (a delta frame is often smaller than the buffer)
        self.previous = index
        self.count += 1

    def close(self) -> None:
        self.fp.write(b";")


#: palette entries kept for the colour maps the panels draw (the colour bar's gradient): median cut
#: alone gives a smooth ramp few entries, since it counts pixels and the bar is narrow
RAMP_COLOURS = 96


def global_palette(frames: list[np.ndarray], ramps: list[np.ndarray] = ()) -> Any:
    """One palette for a whole animation: :data:`RAMP_COLOURS` entries spread over the panels'
    colour maps (``ramps``: RGB lookup tables), the rest a median cut of the sample frames (the
    first, middle and last, side by side) without dithering; 255 colours in all, and the 256th
    entry copies the first and is kept for :data:`GifStream.TRANSPARENT`."""
    from PIL import Image

    ramp = np.zeros((0, 3), dtype=np.uint8)
    if len(ramps):
        table = np.concatenate([np.asarray(r, dtype=np.uint8)[:, :3] for r in ramps])
        ramp = table[np.linspace(0, len(table) - 1, min(RAMP_COLOURS, len(table))).round().astype(int)]
    adaptive = 255 - len(ramp)
    width = max(f.shape[1] for f in frames)
    stacked = np.concatenate([np.pad(f, ((0, 0), (0, width - f.shape[1]), (0, 0)), mode="edge") for f in frames])
    quant = Image.fromarray(stacked, "RGB").quantize(colors=adaptive, method=Image.Quantize.MEDIANCUT,
                                                      dither=Image.Dither.NONE)
    colours = list(quant.getpalette()[: 3 * adaptive])
    colours += colours[:3] * (adaptive - len(colours) // 3)  # fewer colours than asked: repeats
    colours += ramp.reshape(-1).tolist()
    colours += colours[:3]
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours)
    return palette


class AnimationExport:
    """One animation export, in steps a caller drives: :meth:`open` (the palette's sample frames,
    then the temporary file), :meth:`render` (GUI thread: frame ``k`` of the offscreen copy),
    :meth:`encode` (any thread, in order), then :meth:`commit` (the file renamed into place) or
    :meth:`abort` (the temporary file removed: nothing is left). :func:`animation` drives it in a
    loop (the CLI); the app renders in QTimer slices and encodes in a worker thread
    (:class:`BackgroundExport`)."""

    def __init__(self, session: Any, widget: Any, path: str | Path, *, fps: float = DEFAULT_FPS,
                 every: int | None = None) -> None:
        self.path = check_target(path, "animation")
        if session.result is None:
            raise LabError("nothing to export: no run yet")
        if not (isinstance(fps, int | float) and np.isfinite(fps) and fps > 0):
            raise LabError(f"frames per second must be a positive number, got {fps!r}", "fps")
        self.fps = fps
        self.steps = frame_steps(session.steps, budget_every(session.steps) if every is None else every)
        self.gif = self.path.suffix.lower() == ".gif"
        self.offscreen = Offscreen(session, widget)
        self.size: tuple[int, ...] | None = None
        self._stack: contextlib.ExitStack | None = None
        self._stream: BinaryIO | None = None
        self.writer: Any = None

    def __len__(self) -> int:
        return len(self.steps)

    def open(self) -> None:
        from core.files import atomic_file

        palette = None
        if self.gif:  # drawn before the file opens and not kept: only the palette is
            picks = sorted({0, len(self.steps) // 2, len(self.steps) - 1})
            palette = global_palette([_pixels(self.offscreen.image(self.steps[i])) for i in picks],
                                     self.offscreen.ramps())
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_file(self.path))
        try:
            if self.gif:
                self._stream = open(tmp, "wb")
                self.writer = GifStream(self._stream, 1000 / self.fps, palette)
            else:
                import imageio.v2 as imageio

                self.writer = imageio.get_writer(tmp, fps=self.fps, codec="libx264", quality=8, macro_block_size=2)
        except BaseException as exc:
            self.abort(exc)
            raise

    def render(self, k: int) -> np.ndarray:
        frame = to_array(self.offscreen.image(self.steps[k]))
        if self.size is None:
            self.size = frame.shape
        elif frame.shape != self.size:  # cannot happen offscreen, kept as a guard: the first frame's size
            fixed = np.zeros(self.size, dtype=np.uint8)
            h, w = min(self.size[0], frame.shape[0]), min(self.size[1], frame.shape[1])
            fixed[:h, :w] = frame[:h, :w]
            frame = fixed
        return frame

    def encode(self, frame: np.ndarray) -> None:
        if self.gif:
            self.writer.append(frame)
        else:
            self.writer.append_data(frame)

    def commit(self) -> None:
        """The trailer, then the rename into place."""
        try:
            self.writer.close()
            if self._stream is not None:
                self._stream.close()
        except BaseException as exc:
            self.abort(exc)
            raise
        stack, self._stack = self._stack, None
        try:
            stack.close()
        finally:
            self.offscreen.close()

    def abort(self, exc: BaseException | None = None) -> None:
        """Stops the encoder and removes the temporary file (the earlier file at the target stays)."""
        if self.writer is not None and not self.gif:
            with contextlib.suppress(Exception):
                self.writer.close()  # stop ffmpeg (the file is removed below)
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
        stack, self._stack = self._stack, None
        if stack is not None:
            error = exc if exc is not None else LabError("export cancelled; nothing was written")
            with contextlib.suppress(BaseException):
                stack.__exit__(type(error), error, error.__traceback__)
        self.offscreen.close()


def animation(session: Any, widget: Any, path: str | Path, *, fps: float = DEFAULT_FPS, every: int | None = None,
              progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None) -> int:
    """Writes the animation of the panels of ``widget`` over the run as GIF or MP4 (by the file's
    suffix), drawn by an offscreen copy (:class:`Offscreen`: the live window is never animated);
    returns the number of frames. ``every`` None: :func:`budget_every`. Blocking: frames are drawn
    and encoded in turn on this thread (the CLI; the app uses :class:`BackgroundExport`). The file
    appears complete at ``path`` or not at all (a failure, Ctrl-C or ``cancel`` leaves the earlier
    file as it was and no temporary file)."""
    with interruptible() as check:
        with check.qt():
            job = AnimationExport(session, widget, path, fps=fps, every=every)
        try:
            with check.qt():
                job.open()
            for k in range(len(job)):
                check()
                if cancel is not None and cancel():
                    raise LabError("export cancelled; nothing was written", "", str(job.path))
                with check.qt():
                    frame = job.render(k)
                check()
                job.encode(frame)
                if progress is not None:
                    progress(k + 1, len(job))
            check()  # a Ctrl-C before the trailer: the file is not renamed into place
        except BaseException as exc:
            job.abort(exc)
            raise
        job.commit()
    return len(job)


class BackgroundExport(QObject):
    """An animation export in the app, the UI responsive throughout: frames are drawn on the GUI
    thread (Qt widgets are created and grabbed only there) one per QTimer tick, by the offscreen
    copy (the live window never moves), and encoded in a worker thread in order (a bounded queue
    of :data:`QUEUE` frames: drawing waits a tick when the encoder is behind). ``progress(done,
    total)`` counts encoded frames; ``finished(ok, message)`` comes once, on the GUI thread:
    ``ok`` when the file is in place, otherwise the message says why (cancelled, a failure) and
    neither the file nor a temporary file was written. :meth:`cancel` stops it at the next tick."""

    progress = pyqtSignal(int, int)
    finished = pyqtSignal(bool, str)

    QUEUE = 4

    def __init__(self, job: AnimationExport, parent: QObject | None = None) -> None:
        import queue

        super().__init__(parent)
        self.job = job
        self.frames: queue.Queue = queue.Queue(maxsize=self.QUEUE)
        self.next = 0
        self.encoded = 0
        self.error: BaseException | None = None
        self.cancelled = False
        self.done = False
        self.sent_end = False
        self.thread: Any = None
        self.timer = QTimer(self)
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        import threading

        try:
            self.job.open()
        except (LabError, OSError) as exc:
            self.job.abort(exc)  # the offscreen copy goes too (the file was never opened)
            self._end(False, f"could not export: {exc}")
            return
        self.thread = threading.Thread(target=self._encode, name="export-encoder", daemon=True)
        self.thread.start()
        self.timer.start()

    def cancel(self) -> None:
        self.cancelled = True

    def _encode(self) -> None:  # the worker thread
        while True:
            frame = self.frames.get()
            if frame is None or self.error is not None or self.cancelled:
                while not self.frames.empty():  # let a blocked put return
                    with contextlib.suppress(Exception):
                        self.frames.get_nowait()
                return
            try:
                self.job.encode(frame)
            except BaseException as exc:  # reported on the GUI thread, at the next tick
                self.error = exc
                return
            self.encoded += 1

    def _tick(self) -> None:  # the GUI thread
        import queue

        total = len(self.job)
        self.progress.emit(self.encoded, total)
        if self.cancelled or self.error is not None:
            self._stop_thread()
            self.job.abort(self.error)
            if self.error is not None:
                self._end(False, f"could not export: {self.error}")
            else:
                self._end(False, f"export cancelled; {self.job.path} was not written")
            return
        if self.next < total:
            if not self.frames.full():
                try:
                    frame = self.job.render(self.next)
                except (LabError, OSError) as exc:
                    self.error = exc
                    return
                self.frames.put(frame)
                self.next += 1
            return
        if not self.sent_end:
            try:
                self.frames.put_nowait(None)  # no more frames: the worker ends after the last
                self.sent_end = True
            except queue.Full:
                pass
            return
        if self.thread.is_alive():
            return  # the worker is still encoding
        self.thread = None
        if self.error is not None:
            return  # reported at the next tick
        try:
            self.job.commit()
        except (LabError, OSError) as exc:
            self._end(False, f"could not export: {exc}")
            return
        self.progress.emit(total, total)
        self._end(True, f"wrote {self.job.path} ({total} frames)")

    def _stop_thread(self) -> None:
        """Ends the worker (it drops what is queued once ``cancelled`` or ``error`` is set)."""
        import queue

        while self.thread is not None and self.thread.is_alive():
            with contextlib.suppress(queue.Full):
                self.frames.put(None, timeout=0.05)
            self.thread.join(0.05)
        self.thread = None

    def _end(self, ok: bool, message: str) -> None:
        self.timer.stop()
        if not self.done:
            self.done = True
            self.finished.emit(ok, message)


def run_in_app(parent: Any, session: Any, widget: Any, path: str | Path, *, fps: float = DEFAULT_FPS,
               every: int | None = None, done: Callable[[bool, str], None] | None = None) -> BackgroundExport | None:
    """The app's animation export: a modal-free progress dialog with Cancel over a
    :class:`BackgroundExport`; ``done(ok, message)`` when it ends. A target or run that cannot be
    exported raises :class:`LabError` at once, before anything is drawn."""
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QProgressDialog

    job = AnimationExport(session, widget, path, fps=fps, every=every)
    export = BackgroundExport(job, parent)
    dialog = QProgressDialog(f"Exporting {Path(path).name} ...", "Cancel", 0, len(job), parent)
    dialog.setWindowTitle("Export animation")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setValue(0)
    dialog.canceled.connect(export.cancel)
    export.progress.connect(lambda n, total: dialog.setValue(min(n, total)))

    def ended(ok: bool, message: str) -> None:
        dialog.canceled.disconnect(export.cancel)
        dialog.close()
        dialog.deleteLater()
        if done is not None:
            done(ok, message)

    export.finished.connect(ended)
    export.dialog = dialog
    parent._export = export  # kept alive while it runs
    export.start()
    return export
