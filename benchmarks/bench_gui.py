"""GUI benchmark: median frame time while animating 5 optimizers over a 256x256 landscape, rendered
offscreen, and the time from launching ``main.py`` to its first drawn frame.

    .venv/bin/python benchmarks/bench_gui.py [--frames 200] [--launches 3]

Targets (issue 6): a frame <= 16 ms, launch <= 4 s. A "frame" is what the player does per tick:
``session.set_frame(t)`` (every panel updates its items) and one pass of the event loop, in which
every changed view repaints (offscreen into its backing store; a paint counter on the landscape
proves each frame painted). A whole-window ``grab()`` (what exports do per frame) is timed apart.
The knob benchmark times one slider move on a toy: validate, re-run, redraw, paint (target 100 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SCENARIO = """
format = 1
title = "benchmark: five optimizers on Rosenbrock"
steps = 400
[problem]
kind = "rosenbrock"
[start]
points = [[-1.5, 2.0]]
[[optimizers]]
kind = "gd"
label = "GD"
lr = 0.0015
[[optimizers]]
kind = "momentum"
label = "heavy ball"
lr = 0.0008
momentum = 0.9
[[optimizers]]
kind = "nesterov"
label = "Nesterov"
lr = 0.0008
momentum = 0.9
[[optimizers]]
kind = "adam"
label = "Adam"
lr = 0.05
[[optimizers]]
kind = "rmsprop"
label = "RMSProp"
lr = 0.01
[view]
panels = ["landscape", "convergence", "eigen"]
span = [[-2.0, 2.0], [-1.0, 3.0]]
resolution = 256
log_scale = true
"""

LAUNCH_CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from lab.app import application
app = application()
from lab.window import MainWindow, first_frame
w = MainWindow()
w.show()
def done():
    w.grab()
    print("FIRST_FRAME", time.time(), flush=True)
    w.session.dirty = False
    app.quit()
w.session.result_changed.connect(lambda: __import__("PyQt6.QtCore", fromlist=["QTimer"]).QTimer.singleShot(0, done))
first_frame(w, {path!r})
app.exec()
"""


class PaintCounter:
    """Counts paint events of a widget: proof that a measured frame really painted."""

    def __init__(self, widget) -> None:
        from PyQt6.QtCore import QEvent, QObject

        counter = self

        class Filter(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
                if event.type() == QEvent.Type.Paint:
                    counter.n += 1
                return False

        self.n = 0
        self.filter = Filter()
        widget.installEventFilter(self.filter)


def open_window(path: Path):
    from lab.app import application

    app = application(headless=True)
    from lab.window import MainWindow

    w = MainWindow()
    w.resize(1600, 950)
    w.show()
    assert w.open(path), w.banner.label.text()
    app.processEvents()
    return app, w


def frame_times(path: Path, frames: int) -> dict[str, float]:
    app, w = open_window(path)
    surface = w.session.result.surface
    assert tuple(surface.values.shape) == (256, 256), surface.values.shape
    paints = PaintCounter(w.panels.panel("landscape").plot.viewport())
    frame, grab = [], []
    steps = w.session.steps
    for k in range(frames):
        t0 = time.perf_counter()
        w.session.set_frame(1 + k % steps)
        app.processEvents()  # the event loop's pass: every changed view repaints once (offscreen: into its backing store)
        t1 = time.perf_counter()
        w.grab()
        grab.append(time.perf_counter() - t1)
        frame.append(t1 - t0)
    assert paints.n >= frames, f"only {paints.n} paints for {frames} frames"
    out = {"frame_ms": 1e3 * statistics.median(frame), "frame_p90_ms": 1e3 * sorted(frame)[int(0.9 * len(frame))],
           "grab_ms": 1e3 * statistics.median(grab), "knob_bench_ms": knob_time(app, w, "optimizers[3].lr", (0.05, 0.06))}
    w.session.dirty = False
    w.close()
    return out


def knob_time(app, w, path: str, values: tuple[float, float], repeats: int = 6) -> float:
    """One slider move: validate, re-run every trajectory, redraw (landscape reused), paint."""
    slider = w.controls.sliders[path]
    times = []
    for k in range(repeats):
        t0 = time.perf_counter()
        slider.slider.setValue(slider.to_slider(values[k % 2]))
        app.processEvents()  # the slider's coalescing timer fires, the session re-runs, views repaint
        app.processEvents()
        times.append(time.perf_counter() - t0)
    assert w.session.view.hyper[int(path[11])][path.split(".")[-1]] == slider.from_slider(slider.to_slider(values[(repeats - 1) % 2]))
    return 1e3 * statistics.median(times)


def knob_on(path: Path, knob: str, values: tuple[float, float]) -> float:
    app, w = open_window(path)
    out = knob_time(app, w, knob, values)
    w.session.dirty = False
    w.close()
    return out


def launch_time(path: Path) -> float:
    code = LAUNCH_CHILD.format(root=str(ROOT), path=str(path))
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    for line in out.stdout.splitlines():
        if line.startswith("FIRST_FRAME"):
            return float(line.split()[1]) - start
    raise RuntimeError(out.stderr[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--launches", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(SCENARIO)
        f = frame_times(path, args.frames)
        launches = [launch_time(ROOT / "scenarios" / "quartic_gd.toml") for _ in range(args.launches)]
    launch = statistics.median(launches)
    knob_default = knob_on(ROOT / "scenarios" / "quartic_gd.toml", "optimizers[0].lr", (0.5, 1.0))
    knob_zigzag = knob_on(ROOT / "scenarios" / "zigzag_momentum.toml", "optimizers[0].lr", (0.05, 0.07))
    print(f"5 optimizers x 400 steps over a 256x256 landscape, offscreen ({args.frames} frames)")
    print(f"  frame (update every panel + paint), median : {f['frame_ms']:7.2f} ms   (p90 {f['frame_p90_ms']:.2f} ms; "
          f"target 16 ms, ratio {f['frame_ms'] / 16:.2f})")
    print(f"  whole-window grab (exports), median        : {f['grab_ms']:7.2f} ms")
    print("knob change (slider -> validate, re-run, redraw, paint), median; target 100 ms:")
    print(f"  quartic_gd (1 x 40 steps)                  : {knob_default:7.2f} ms   (ratio {knob_default / 100:.2f})")
    print(f"  zigzag_momentum (4 x 200 steps)            : {knob_zigzag:7.2f} ms   (ratio {knob_zigzag / 100:.2f})")
    print(f"  this benchmark (5 x 400 steps)             : {f['knob_bench_ms']:7.2f} ms   (ratio {f['knob_bench_ms'] / 100:.2f})")
    print(f"launch to first frame (python main.py, default scenario), median of {len(launches)}: "
          f"{launch:.2f} s   (target 4 s, ratio {launch / 4:.2f}; runs: {', '.join(f'{x:.2f}' for x in launches)})")


if __name__ == "__main__":
    main()
