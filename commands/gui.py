"""``open [FILE] [--lecture]``: the desktop lab. ``export FILE --png/--gif/--mp4 OUT``: the same
window rendered headless (a screenshot, or the animation)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scenarios import DEFAULT as DEFAULT_SCENARIO  # the shipped lesson, found relative to its package


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("open", help="open the desktop lab on a scenario (the default when no command is given)")
    p.add_argument("file", nargs="?", default=str(DEFAULT_SCENARIO),
                   help=f"scenario file (default: the shipped lesson {DEFAULT_SCENARIO.name})")
    p.add_argument("--lecture", action="store_true", help="start in lecture mode: full screen, the scenario's beats")
    p.set_defaults(handler=open_handler)
    e = sub.add_parser("export", help="render a scenario headless: window screenshot (PNG), animation (GIF/MP4)")
    e.add_argument("file", help="scenario file")
    e.add_argument("--png", metavar="OUT", help="screenshot of the main window at --step (default: the last step)")
    e.add_argument("--gif", metavar="OUT", help="animation of the panels over the run")
    e.add_argument("--mp4", metavar="OUT", help="animation as MP4 (needs imageio-ffmpeg)")
    e.add_argument("--step", type=int, default=None, help="step shown in the PNG (default: the last)")
    e.add_argument("--every", type=int, default=None,
                   help="animate every k-th step (default: 1, or what keeps the animation to 300 frames)")
    e.add_argument("--fps", type=int, default=15, help="frames per second of the animation (default 15)")
    e.add_argument("--size", default="1500x900", help="window size WxH in pixels (default 1500x900)")
    e.set_defaults(handler=export_handler)


def open_handler(args: argparse.Namespace) -> int:
    from core.errors import LabError
    from lab.app import run_gui

    if not _readable(args.file):
        raise LabError("scenario file not found", "", args.file)
    return run_gui(args.file, lecture=args.lecture)


def _readable(name: str) -> bool:
    """False when ``name`` does not exist; a LabError when it cannot be read as a scenario file (a
    FIFO, ``/dev/zero``, a folder, too large, a name too long): refused at once, before any window."""
    from core.errors import LabError
    from core.files import read_text_bounded
    from core.scenario.io import MAX_SCENARIO_BYTES

    try:
        read_text_bounded(name, MAX_SCENARIO_BYTES, "scenario file")
    except LabError as exc:
        if exc.message.startswith("no such"):
            return False
        raise
    return True


#: export limits: frames per second an encoder and a viewer handle, and the largest window side
#: (a 30000 x 30000 window is 3.6 GB of pixels; Qt and the encoders fail far below that)
MAX_FPS = 120
MAX_SIDE = 8192
MIN_SIDE = 200


def export_options(args: argparse.Namespace) -> tuple[int, int]:
    """``--fps``, ``--every``, ``--step`` and ``--size`` checked like scenario keys (core.values);
    returns the window size."""
    import re

    from core.errors import LabError
    from core.values import MAX_STEPS, integer

    integer(1, MAX_FPS)(args.fps, "--fps")
    if args.every is not None:
        integer(1, MAX_STEPS)(args.every, "--every")
    if args.step is not None:
        integer(0, MAX_STEPS)(args.step, "--step")
    m = re.fullmatch(r"\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*", args.size or "")
    if not m:
        raise LabError(f"expected WIDTHxHEIGHT in pixels such as 1500x900, got {args.size!r}", "--size")
    w, h = int(m.group(1)), int(m.group(2))
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise LabError(f"each side must be {MIN_SIDE} to {MAX_SIDE} pixels, got {w}x{h}", "--size")
    return w, h


def _printer(out: str) -> Any:
    """Progress of an animation export on stderr (stdout keeps only the ``wrote`` lines): one line
    per tenth of the frames (and the last), so a log stays short and a terminal shows it moving."""
    import sys
    import time

    start = time.monotonic()
    shown: set[int] = set()

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth not in shown or done == total:
            shown.add(tenth)
            print(f"exporting {out}: frame {done}/{total} ({time.monotonic() - start:.1f} s)", file=sys.stderr,
                  flush=True)

    return progress


def export_handler(args: argparse.Namespace) -> int:
    """Each OUT is checked (suffix, folder) before the scenario is even read, and written through a
    temporary sibling renamed into place when complete (:mod:`lab.export`): a failure, Ctrl-C,
    SIGTERM or SIGKILL leaves the earlier file at OUT as it was. Ctrl-C while the run computes or
    frames are drawn stops the export (exit 130)."""
    from core.errors import LabError
    from lab import export

    if not (args.png or args.gif or args.mp4):
        raise LabError("say what to export: --png OUT, --gif OUT or --mp4 OUT", "export")
    w, h = export_options(args)
    targets = [(args.gif, "--gif", ".gif"), (args.mp4, "--mp4", ".mp4"), (args.png, "--png", ".png")]
    for out, flag, suffix in targets:
        if out:
            if Path(out).suffix.lower() != suffix:
                got = repr(Path(out).suffix) if Path(out).suffix else "no suffix"
                raise LabError(f"{flag} writes a {suffix} file, got {got}; nothing was written", flag, out)
            export.check_target(out, "png" if suffix == ".png" else "animation")
    named = [str(Path(out).absolute()) for out, _, _ in targets if out]
    if len(set(named)) != len(named):
        raise LabError("the same file is named twice; give each export its own file", "export")
    if not _readable(args.file):
        raise LabError("scenario file not found", "", args.file)
    from lab.app import application

    app = application(headless=True)
    from lab.window import MainWindow

    window = MainWindow()
    try:
        with export.interruptible() as check, check.qt():
            window.resize(w, h)
            window.show()
            app.processEvents()
            check()
            if not window.session.open(args.file):
                message = window.banner.label.text()  # the loader's message, which names the file
                raise LabError(message) if message else LabError("could not open the scenario", "", args.file)
            window.session.wait(timeout_ms=600_000, extras=True, check=check)
            app.processEvents()
            check()
            if window.session.result is None:
                message = window.banner.label.text()
                raise LabError(message) if message else LabError("the scenario did not run", "", args.file)
        for out in (args.gif, args.mp4):
            if out:
                n = export.animation(window.session, window.panels, out, fps=args.fps, every=args.every,
                                     progress=_printer(out))
                print(f"wrote {out} ({n} frames)", flush=True)
        if args.png:
            window.session.set_frame(window.session.steps if args.step is None else args.step)
            export.png(window, args.png)
            print(f"wrote {args.png}")
    finally:
        window.session.cancel()
        window.session.dirty = False
        window.close()
    return 0
