"""GUI benchmark: median frame time while animating (5 optimizers x 400 steps over a 256x256
landscape; 400 trajectories from a 20x20 grid of starts), rendered offscreen, the knob-change
time on the three knob cases, and the time from launching ``main.py`` to its first drawn frame.

    .venv/bin/python benchmarks/bench_gui.py [--frames 200] [--launches 3] [--json PATH]

Targets (issues 6, 12, 15): a frame <= 16 ms (both cases), a knob change <= 100 ms (each case),
launch <= 4 s. ``--json PATH`` writes every figure as a record (benchmarks/_common.py: there is no
peer here, so ``baseline`` and ``ratio`` are null and ``met`` compares ``ours_s`` with ``target``,
both in seconds). A "frame" is what the player does per tick:
``session.set_frame(t)`` (every panel updates its items) and one pass of the event loop, in which
every changed view repaints (offscreen into its backing store; a paint counter on the landscape
proves each frame painted). A whole-window ``grab()`` (what exports do per frame) is timed apart.
The knob benchmark times one slider move: validate, re-run, redraw, paint, until the new run is on
screen (any debounce of the slider counts: it is part of what the person waits for).
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

#: 400 trajectories: one GD from each point of a 20 x 20 grid of starts
MANY = """
format = 1
title = "benchmark: 400 trajectories on Rosenbrock"
steps = 400
[problem]
kind = "rosenbrock"
[start]
grid = { n = 20, box = [[-1.8, 1.8], [-0.8, 2.8]] }
[[optimizers]]
kind = "gd"
label = "GD"
lr = 0.0015
[view]
panels = ["landscape", "convergence"]
span = [[-2.0, 2.0], [-1.0, 3.0]]
resolution = 256
log_scale = true
"""

FRAME_TARGET_S = 0.016
KNOB_TARGET_S = 0.100
LAUNCH_TARGET_S = 4.0

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
    w.session.wait(timeout_ms=600_000)  # a larger run goes to a worker
    app.processEvents()
    return app, w


def frame_times(path: Path, frames: int, knob: bool = True, trajectories: int | None = None) -> dict[str, float]:
    app, w = open_window(path)
    surface = w.session.result.surface
    assert tuple(surface.values.shape) == (256, 256), surface.values.shape
    if trajectories is not None:
        assert w.session.view.size == trajectories, w.session.view.size
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
           "grab_ms": 1e3 * statistics.median(grab)}
    if knob:
        out["knob_bench_ms"] = knob_time(app, w, "optimizers[3].lr", (0.05, 0.06))
    w.session.dirty = False
    w.close()
    return out


def knob_time(app, w, path: str, values: tuple[float, float], repeats: int = 6) -> float:
    """One slider move: validate, re-run every trajectory, redraw (landscape reused), paint."""
    slider = w.controls.sliders[path]
    if slider.slider.value() == slider.to_slider(values[0]):
        values = (values[1], values[0])  # every move changes the value (a no-op move would time nothing)
    times = []
    for k in range(repeats):
        before = w.session.result
        t0 = time.perf_counter()
        slider.slider.setValue(slider.to_slider(values[k % 2]))
        # until the new run is on screen: the slider's coalescing timer fires, the session re-runs
        # (on a worker for larger runs), the panels redraw and the views repaint
        while (w.session.result is before or "run" in w.session.model.jobs) and time.perf_counter() - t0 < 60:
            app.processEvents()
            time.sleep(0.0005)
        app.processEvents()
        times.append(time.perf_counter() - t0)
        assert w.session.result is not before, f"{path}: the run did not change in 60 s"
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
    from _common import add_json_option, check_json_target, record, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--launches", type=int, default=3, help="launches to time (0: skip)")
    add_json_option(parser)
    args = parser.parse_args()
    check_json_target(args.json)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(SCENARIO)
        f = frame_times(path, args.frames)
        many_path = Path(tmp) / "many.toml"
        many_path.write_text(MANY)
        many = frame_times(many_path, args.frames, knob=False, trajectories=400)
        launches = [launch_time(ROOT / "scenarios" / "quartic_gd.toml") for _ in range(args.launches)]
    knob_default = knob_on(ROOT / "scenarios" / "quartic_gd.toml", "optimizers[0].lr", (0.5, 1.0))
    knob_zigzag = knob_on(ROOT / "scenarios" / "zigzag_momentum.toml", "optimizers[0].lr", (0.05, 0.07))

    def vs(ms: float, target_s: float) -> str:
        return f"target {1e3 * target_s:.0f} ms, {'met' if ms <= 1e3 * target_s else 'NOT met'}"

    print(f"frame (update every panel + paint), median over {args.frames} frames, offscreen:")
    print(f"  5 optimizers x 400 steps, 256x256 landscape: {f['frame_ms']:7.2f} ms   (p90 {f['frame_p90_ms']:.2f} ms; "
          f"{vs(f['frame_ms'], FRAME_TARGET_S)})")
    print(f"  400 trajectories x 400 steps (20x20 starts)  : {many['frame_ms']:7.2f} ms   (p90 {many['frame_p90_ms']:.2f} ms; "
          f"{vs(many['frame_ms'], FRAME_TARGET_S)})")
    print(f"  whole-window grab (exports), 5 optimizers    : {f['grab_ms']:7.2f} ms")
    print(f"knob change (slider -> validate, re-run, redraw, paint), median:")
    knobs = (("quartic_gd (1 x 40 steps)", "knob_quartic_gd", knob_default),
             ("zigzag_momentum (4 x 200 steps)", "knob_zigzag_momentum", knob_zigzag),
             ("5 optimizers (5 x 400 steps)", "knob_five_optimizers", f["knob_bench_ms"]))
    for label, _, ms in knobs:
        print(f"  {label:<44} : {ms:7.2f} ms   ({vs(ms, KNOB_TARGET_S)})")
    records = [record("frame_five_optimizers", f["frame_ms"] / 1e3, target=FRAME_TARGET_S, target_is="seconds"),
               record("frame_400_trajectories", many["frame_ms"] / 1e3, target=FRAME_TARGET_S, target_is="seconds"),
               record("grab_five_optimizers", f["grab_ms"] / 1e3)]
    records += [record(name, ms / 1e3, target=KNOB_TARGET_S, target_is="seconds") for _, name, ms in knobs]
    if launches:
        launch = statistics.median(launches)
        print(f"launch to first frame (python main.py, default scenario), median of {len(launches)}: "
              f"{launch:.2f} s   (target 4 s, {'met' if launch <= LAUNCH_TARGET_S else 'NOT met'}; "
              f"runs: {', '.join(f'{x:.2f}' for x in launches)})")
        records.append(record("launch_to_first_frame", launch, target=LAUNCH_TARGET_S, target_is="seconds"))
    write_json(args.json, records)


if __name__ == "__main__":
    main()
