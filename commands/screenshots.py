"""``screenshots DIR [--lessons A,B] [--sizes 1280x720,1920x1080] [--modes normal,lecture]``: the
window rendered headless on every shipped lesson (:func:`scenarios.lessons`), at each size, in
normal and in lecture mode, one PNG each, named ``<lesson>-<W>x<H>-<normal|lecture>.png``.

Each lesson is played to the frame its story ends on: in normal mode the last step (the caption
is then the last beat's, as the timeline shows it); in lecture mode the last beat (every beat's
``set`` applied, its caption and highlighted panel shown) -- or the last step for a lesson without
beats. Each lesson gets a fresh window (nothing one lesson changed carries into the next); the run
is computed once per lesson and mode and every size is a resize of the same window.

Runs offscreen when there is no display (``QT_QPA_PLATFORM=offscreen``); progress goes to stderr,
one line per PNG. Every PNG is written through a temporary sibling renamed into place
(:func:`core.files.atomic_file`): an interrupted run leaves the earlier files as they were. DIR is
created if missing; a DIR that cannot be written is refused before any lesson is opened (exit 2).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

DEFAULT_SIZES = "1280x720,1920x1080"
MODES = ("normal", "lecture")
#: the smallest and largest window side a screenshot may ask for (as ``export --size``)
MIN_SIDE, MAX_SIDE = 200, 8192


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("screenshots", help="PNG screenshots of every shipped lesson, at each size, normal and lecture mode")
    p.add_argument("dir", metavar="DIR", help="folder to write <lesson>-<W>x<H>-<normal|lecture>.png into (created if missing)")
    p.add_argument("--lessons", default=None,
                   help="comma-separated lesson names (file names without .toml) to render; default: every shipped lesson")
    p.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated window sizes WxH (default {DEFAULT_SIZES})")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated modes: normal, lecture (default both)")
    p.set_defaults(handler=handler)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    from core.errors import LabError

    sizes = []
    for part in (text or "").split(","):
        m = re.fullmatch(r"\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*", part)
        if not m:
            raise LabError(f"expected WIDTHxHEIGHT in pixels such as 1280x720, got {part!r}", "--sizes")
        w, h = int(m.group(1)), int(m.group(2))
        if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
            raise LabError(f"each side must be {MIN_SIDE} to {MAX_SIDE} pixels, got {w}x{h}", "--sizes")
        if (w, h) not in sizes:
            sizes.append((w, h))
    return sizes


def parse_modes(text: str) -> list[str]:
    from core.errors import LabError, suggest

    modes = []
    for part in (text or "").split(","):
        mode = part.strip()
        if mode not in MODES:
            raise LabError(f"unknown mode {mode!r}{suggest(mode, MODES)}; expected normal or lecture", "--modes")
        if mode not in modes:
            modes.append(mode)
    return modes


def select_lessons(text: str | None) -> list[Path]:
    from core.errors import LabError, suggest
    from scenarios import lessons

    shipped = lessons()
    if text is None:
        return shipped
    by_name = {p.stem: p for p in shipped}
    chosen = []
    for part in text.split(","):
        name = part.strip().removesuffix(".toml")
        if name not in by_name:
            raise LabError(f"no shipped lesson {name!r}{suggest(name, list(by_name))}", "--lessons")
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    return chosen


def file_name(lesson: Path, size: tuple[int, int], mode: str) -> str:
    return f"{lesson.stem}-{size[0]}x{size[1]}-{mode}.png"


def handler(args: argparse.Namespace) -> int:
    from core.files import check_writable_folder

    sizes = parse_sizes(args.sizes)
    modes = parse_modes(args.modes)
    chosen = select_lessons(args.lessons)
    folder = check_writable_folder(args.dir, "screenshot folder")
    folder.mkdir(parents=True, exist_ok=True)
    total = len(chosen) * len(sizes) * len(modes)
    done = 0
    start = time.perf_counter()

    def progress(path: Path, seconds: float) -> None:
        nonlocal done
        done += 1
        print(f"[{done}/{total}] {path.name} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    app = application(sizes)  # kept: the QApplication lives while the windows do
    for lesson in chosen:
        shoot(lesson, modes, sizes, folder, progress)
    del app
    print(f"wrote {total} screenshots to {folder} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


def application(sizes: list[tuple[int, int]]):
    """The QApplication, offscreen with one virtual screen per size side by side (so lecture
    mode's full screen is exactly that size, as on a projector of that resolution). Screenshots
    are always rendered offscreen, display or not: the sizes asked for are what comes out. When a
    QApplication exists already (called in-process) its screens are used as they are."""
    import json
    import os
    import tempfile

    from PyQt6.QtWidgets import QApplication

    _quiet_offscreen()
    if QApplication.instance() is not None:
        from lab.app import application as lab_application

        return lab_application(headless=True)
    x, screens = 0, []
    for k, (w, h) in enumerate(sizes):
        screens.append({"name": f"screen{k}-{w}x{h}", "x": x, "y": 0, "width": w, "height": h,
                        "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1})
        x += w
    config = {"synchronousWindowSystemEvents": True, "windowFrameMargins": False, "screens": screens}
    fd, name = tempfile.mkstemp(prefix="lab-screens-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={name}"
        from lab.app import application as lab_application

        return lab_application(headless=True)
    finally:
        os.unlink(name)  # read once, when the QApplication starts


def _quiet_offscreen() -> None:
    """Drops the offscreen plugin's "does not support propagateSizeHints()" warning (one per
    window state change), which would bury the progress lines; every other Qt message passes."""
    from PyQt6.QtCore import qInstallMessageHandler

    previous = None

    def handler(kind, context, message):
        if "propagateSizeHints" in message:
            return
        if previous is not None:
            previous(kind, context, message)
        else:
            print(message, file=sys.stderr)

    previous = qInstallMessageHandler(handler)


def _screen_for(app, size: tuple[int, int]):
    for screen in app.screens():
        g = screen.geometry()
        if (g.width(), g.height()) == size:
            return screen
    return None


def _place(app, window, size: tuple[int, int], full: bool) -> None:
    """``window`` on the virtual screen of ``size``: full screen there (lecture), or a window of
    exactly that size at its corner (normal mode: the window as large as the screen)."""
    screen = _screen_for(app, size)
    window.showNormal()
    if screen is not None:
        window.move(screen.geometry().topLeft())
        window.windowHandle().setScreen(screen)
    window.resize(*size)
    if full:
        window.showFullScreen()
    for _ in range(3):
        app.processEvents()


def shoot(lesson: Path, modes: list[str], sizes: list[tuple[int, int]], folder: Path, progress) -> list[Path]:
    """Opens ``lesson`` in a fresh window, plays it to its last step (normal mode), then to its
    last beat in lecture mode, and writes one PNG per mode and size. Returns the paths written."""
    from PyQt6.QtWidgets import QApplication

    from core.errors import LabError
    from core.files import atomic_file
    from lab.window import MainWindow

    app = QApplication.instance()
    window = MainWindow()
    written = []

    def save(size: tuple[int, int], mode: str, t0: float) -> float:
        _place(app, window, size, full=mode == "lecture")
        image = window.grab()
        if (image.width(), image.height()) != size:  # the window's minimum size is larger than the screen
            print(f"warning: {lesson.stem} in {mode} mode does not fit {size[0]}x{size[1]}: the window is "
                  f"{image.width()}x{image.height()}", file=sys.stderr)
        path = folder / file_name(lesson, size, mode)
        with atomic_file(path) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise LabError("could not write the image", "", str(path))
        written.append(path)
        progress(path, time.perf_counter() - t0)
        return time.perf_counter()

    try:
        t0 = time.perf_counter()
        _place(app, window, sizes[0], full=False)
        if not window.open(lesson):
            raise LabError(window.banner.label.text() or "could not open the lesson", "", str(lesson))
        window.session.wait(timeout_ms=600_000, extras=True)
        if window.session.result is None:
            raise LabError(window.banner.label.text() or "the lesson did not run", "", str(lesson))
        if "normal" in modes:
            window.session.set_frame(window.session.steps)
            for size in sizes:
                t0 = save(size, "normal", t0)
        if "lecture" in modes:
            _place(app, window, sizes[0], full=False)
            window.lecture.enter()
            beats = window.lecture.beats
            if beats:
                last = len(beats) - 1
                window.session.set_frame(beats[last].step)
                window.lecture.activate(last)
            else:
                window.session.set_frame(window.session.steps)
            window.player.pause()
            window.session.wait(timeout_ms=600_000, extras=True)
            for size in sizes:
                t0 = save(size, "lecture", t0)
    finally:
        window.player.pause()
        window.session.cancel()
        window.session.dirty = False
        window.close()
        window.deleteLater()
        app.processEvents()
    return written
