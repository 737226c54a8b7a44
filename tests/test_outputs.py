"""What the program writes is never half-written, never mixed and never over something the user did
not ask to replace (docs/outputs.md): ``run --out`` as one set under a lock, exports through a
temporary sibling, Ctrl-C/SIGTERM/SIGKILL at the worst moment, bad export options and unwritable
targets refused before any work, the app's save and exports reporting failures in the banner.

Interruptions are placed exactly, not by timing: a hook (``HOOK`` below, run as the program's entry
point in a subprocess) pauses inside the write being tested and says so on stdout; the test then
sends the signal."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main as lab_main

from tests.toy_scenarios import two_optimizers

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = two_optimizers(panels="PANELS", resolution=40)  # tests/toy_scenarios.py

# the program's entry point with one pause or signal placed inside the write under test
HOOK = r'''
import os, signal, sys, time
sys.path.insert(0, os.environ["LAB_ROOT"])
mode = os.environ["HOOK"]
if mode == "csv":  # metrics.csv half written, then a pause
    import pandas as pd
    original = pd.DataFrame.to_csv
    def to_csv(self, path=None, *args, **kwargs):
        if path is None or not str(path).endswith("metrics.csv"):
            return original(self, path, *args, **kwargs)
        with open(path, "w") as f:
            f.write(original(self.head(max(1, len(self) // 2)), None, index=False))
        print("PAUSED", flush=True)
        time.sleep(600)
    pd.DataFrame.to_csv = to_csv
elif mode == "gif-encoding":  # the GIF encoder at its third frame, then a pause
    from PIL import GifImagePlugin
    original = GifImagePlugin._write_frame_data
    calls = []
    def write_frame(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            print("PAUSED", flush=True)
            time.sleep(600)
        return original(*args, **kwargs)
    GifImagePlugin._write_frame_data = write_frame
elif mode == "ctrl-c-in-qt":  # Ctrl-C arriving while Qt processes events (where a KeyboardInterrupt is swallowed)
    import lab.export as export
    from PyQt6.QtCore import QTimer
    original = export._flush
    calls = []
    def flush(widget):
        calls.append(1)
        if len(calls) == int(os.environ.get("HOOK_AT", "3")):
            QTimer.singleShot(0, lambda: os.kill(os.getpid(), signal.SIGINT))
        return original(widget)
    export._flush = flush
import main
sys.exit(main.main(sys.argv[1:]))
'''


def scenario(tmp_path: Path, panels: str = '["landscape", "convergence"]', name: str = "two_d.toml",
             steps: int = 30) -> Path:
    path = tmp_path / name
    path.write_text(SCENARIO.replace("PANELS", panels).replace("steps = 30", f"steps = {steps}"))
    return path


def start(tmp_path: Path, hook: str, *args: str, at: int = 3) -> subprocess.Popen:
    entry = tmp_path / "hooked_main.py"
    entry.write_text(HOOK)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LAB_ROOT": str(ROOT), "HOOK": hook, "HOOK_AT": str(at)}
    return subprocess.Popen([sys.executable, str(entry), *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def paused(proc: subprocess.Popen) -> None:
    """Waits until the hooked process is inside the write (it says PAUSED)."""
    line = proc.stdout.readline()
    if line.strip() != "PAUSED":
        proc.kill()
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"the hooked process never reached the write: {line}{out}\n{err}")


def finish(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def run(*args: str) -> int:
    return lab_main.main(["run", *[str(a) for a in args], "--device", "cpu"])


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# -- run --out ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["kill", "int", "term"])
def test_a_run_interrupted_while_writing_leaves_the_previous_results(tmp_path, sig):
    source, out = scenario(tmp_path), tmp_path / "results"
    assert run(source, "--out", out) == 0
    before = contents(out)
    assert set(before) == {"metrics.csv", "summary.json", "scenario.toml", "landscape.npz", "panels.png"}
    proc = start(tmp_path, "csv", "run", str(source), "--out", str(out), "--device", "cpu")
    paused(proc)  # metrics.csv half written
    code, err = finish(proc, sig)
    assert contents(out) == before  # every file of the previous run, byte for byte; no half metrics.csv
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:  # Ctrl-C and SIGTERM: a clean stop, one line, nothing left behind
        assert code == 130 and err.strip().splitlines()[-1] == "interrupted", err
        assert leftovers(tmp_path) == []
    # the next run replaces the folder and clears what the killed one left beside it
    assert run(source, "--out", out) == 0
    assert leftovers(tmp_path) == [] and set(contents(out)) == set(before)


def test_a_run_killed_before_any_result_leaves_nothing(tmp_path):
    source, out = scenario(tmp_path), tmp_path / "fresh"
    proc = start(tmp_path, "csv", "run", str(source), "--out", str(out), "--device", "cpu")
    paused(proc)
    finish(proc, signal.SIGKILL)
    assert not out.exists()  # nothing, rather than a truncated metrics.csv


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(tmp_path, capsys):
    source, out = scenario(tmp_path), tmp_path / "results"
    proc = start(tmp_path, "csv", "run", str(source), "--out", str(out), "--device", "cpu")
    try:
        paused(proc)
        capsys.readouterr()
        assert run(source, "--out", out) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "another run is writing here" in err and f"pid {proc.pid}" in err, err
        assert not out.exists()  # the refused run wrote nothing either
    finally:
        finish(proc, signal.SIGKILL)
    assert run(source, "--out", out) == 0  # the lock dies with its holder


def test_files_of_an_earlier_run_do_not_survive_beside_new_ones(tmp_path):
    out = tmp_path / "results"
    assert run(scenario(tmp_path), "--out", out) == 0
    assert (out / "landscape.npz").exists()
    assert run(scenario(tmp_path, '["convergence"]', "no_landscape.toml"), "--out", out) == 0
    assert sorted(contents(out)) == ["metrics.csv", "panels.png", "scenario.toml", "summary.json"]
    assert 'panels = ["convergence"]' in (out / "scenario.toml").read_text()


def test_the_saved_scenario_keeps_the_files_comments_and_says_the_device_it_ran_on(tmp_path):
    # before: scenario.toml was written afresh (every comment of the lecturer's file lost)
    source = tmp_path / "annotated.toml"
    text = "# my own notes, kept\n" + scenario(tmp_path).read_text().replace("lr = 0.15", "lr = 0.15  # slow on purpose")
    source.write_text(text)
    out = tmp_path / "results"
    assert run(source, "--out", out) == 0  # with --device cpu
    saved = (out / "scenario.toml").read_text()
    assert saved.startswith("# my own notes, kept\n") and "lr = 0.15  # slow on purpose" in saved
    # the file leaves device at its default (auto): one line is added, nothing else changes
    assert 'device = "cpu"' in saved.splitlines()
    assert [line for line in saved.splitlines() if line != 'device = "cpu"'] == text.splitlines()


def test_a_folder_holding_other_files_is_refused_not_replaced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    assert run(scenario(tmp_path), "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not a run's results (notes.txt)" in err, err
    assert contents(out) == {"notes.txt": b"my notes"}


def test_the_input_file_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "results"
    assert run(scenario(tmp_path), "--out", out) == 0
    mine = out / "scenario.toml"
    annotated = b"# my own notes, kept\n" + (tmp_path / "two_d.toml").read_bytes().replace(b"lr = 0.15", b"lr = 0.1")
    mine.write_bytes(annotated)
    before = contents(out)
    capsys.readouterr()
    assert run(mine, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "holds the scenario being run" in err, err
    assert contents(out) == before and mine.read_bytes() == annotated
    # the same file named through its own folder (a relative path from inside it)
    cwd = os.getcwd()
    os.chdir(out)
    try:
        assert run("scenario.toml", "--out", ".") == 2
    finally:
        os.chdir(cwd)
    assert mine.read_bytes() == annotated


@pytest.mark.parametrize("case", ["a file", "under a file", "read-only"])
def test_an_unwritable_out_is_refused_before_the_run(tmp_path, capsys, monkeypatch, case):
    import core.scenario

    monkeypatch.setattr(core.scenario, "execute", lambda *a, **k: pytest.fail("computed before checking --out"))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    out = {"a file": blocker, "under a file": blocker / "results"}.get(case, tmp_path / "locked" / "results")
    if case == "read-only":
        if os.geteuid() == 0:  # root writes into a mode-555 folder: /proc is read-only for root too
            out = Path("/proc") / "lab-results"
        else:
            (tmp_path / "locked").mkdir(mode=0o555)
    assert run(scenario(tmp_path), "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and str(out) in err, err
    assert blocker.read_text() == "a file"


def test_a_metrics_csv_over_the_budget_needs_allow_large(tmp_path, capsys, monkeypatch):
    import commands.run
    import core.scenario

    big = tmp_path / "big.toml"
    big.write_text(SCENARIO.replace("PANELS", '["convergence"]').replace("steps = 30", "steps = 100000")
                   .replace("points = [[2.0, 1.5]]", "random = { n = 1000, seed = 1, box = [[-2.0, 2.0], [-2.0, 2.0]] }"))
    real_execute = core.scenario.execute
    monkeypatch.setattr(core.scenario, "execute", lambda *a, **k: pytest.fail("ran a scenario over the budget"))
    assert run(big, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    # 2 optimizers x 1,000 starts x 100,001 steps: about 16 GB (the issue measured 7.5 GB for half of it)
    assert "\n" not in err and "metrics.csv would be about" in err and "--allow-large" in err, err
    gb = float(err.split("about ")[1].split(" GB")[0])
    assert 10 < gb < 24 and "200,002,000 rows" in err, err
    assert not (tmp_path / "o").exists()
    # the flag proceeds (shown on a small run with a tiny budget)
    monkeypatch.setattr(core.scenario, "execute", real_execute)
    monkeypatch.setattr(commands.run, "MAX_CSV_BYTES", 1000)
    small = scenario(tmp_path, '["convergence"]')
    assert run(small, "--out", tmp_path / "s") == 2
    assert run(small, "--out", tmp_path / "s", "--allow-large") == 0
    assert (tmp_path / "s" / "metrics.csv").stat().st_size > 1000


@pytest.mark.parametrize("name", ["quartic_lr_sweep", "linear_heart", "momentum_spirals"])
def test_the_csv_estimate_is_close_to_what_is_written(name):
    """The estimate is a documented approximation (20 bytes a float column): within 35 % of the
    real file for runs that do not diverge (a diverged trajectory writes fewer rows)."""
    from commands.run import csv_estimate
    from core.scenario import execute, load
    from core.scenario.runner import build

    s = load(ROOT / "scenarios" / f"{name}.toml")
    rows, cols, size = csv_estimate(s, build(s))
    table = execute(s, landscape=False, sharpness=False).run.table()
    written = len(table.to_csv(index=False).encode())
    assert cols == table.shape[1] and rows >= len(table)
    assert abs(size - written) / written < 0.35, (size, written)


# -- export (CLI) ---------------------------------------------------------------------------------------
OLD = b"GIF89a the user's earlier file"


@pytest.fixture
def old_gif(tmp_path) -> Path:
    path = tmp_path / "talk.gif"
    path.write_bytes(OLD)
    return path


def test_export_onto_an_existing_file_replaces_it_when_complete(tmp_path, old_gif):
    import imageio.v3 as iio

    assert lab_main.main(["export", str(scenario(tmp_path)), "--gif", str(old_gif), "--every", "5",
                          "--size", "600x400"]) == 0
    frames = iio.imread(old_gif, index=None)
    assert frames.shape[0] == 7 and frames.ndim == 4  # steps 0, 5, ..., 30
    assert not np.array_equal(frames[0], frames[-1])
    assert leftovers(tmp_path) == []


def test_a_sigkill_while_encoding_leaves_the_earlier_file(tmp_path, old_gif):
    proc = start(tmp_path, "gif-encoding", "export", str(scenario(tmp_path)), "--gif", str(old_gif),
                 "--size", "600x400")
    paused(proc)
    finish(proc, signal.SIGKILL)
    assert old_gif.read_bytes() == OLD


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_ctrl_c_while_encoding_leaves_the_earlier_file(tmp_path, old_gif, sig):
    proc = start(tmp_path, "gif-encoding", "export", str(scenario(tmp_path)), "--gif", str(old_gif),
                 "--size", "600x400")
    paused(proc)
    code, err = finish(proc, sig)
    assert code == 130 and err.strip().splitlines()[-1] == "interrupted", err
    assert old_gif.read_bytes() == OLD and leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["gif", "png"])
def test_ctrl_c_inside_qt_event_processing_is_honoured(tmp_path, old_gif, kind):
    """The SIGINT arrives inside a Qt timer callback, where a KeyboardInterrupt is swallowed: the
    export must still stop (exit 130) and leave the earlier file."""
    target = old_gif if kind == "gif" else tmp_path / "shot.png"
    target.write_bytes(OLD)
    proc = start(tmp_path, "ctrl-c-in-qt", "export", str(scenario(tmp_path, steps=300)), f"--{kind}", str(target),
                 "--size", "600x400", at=3 if kind == "gif" else 1)  # a PNG draws once
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", (out, err)
    assert target.read_bytes() == OLD and leftovers(tmp_path) == []


@pytest.mark.parametrize("flag, name", [("--gif", "talk.txt"), ("--png", "shot.txt"), ("--mp4", "film.gif"),
                                        ("--png", "noext")])
def test_a_wrong_suffix_is_refused_before_anything_is_touched(tmp_path, capsys, monkeypatch, flag, name):
    import lab.app

    monkeypatch.setattr(lab.app, "application", lambda *a, **k: pytest.fail("started rendering"))
    target = tmp_path / name
    target.write_bytes(OLD)
    assert lab_main.main(["export", str(scenario(tmp_path)), flag, str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and flag in err, err
    assert target.read_bytes() == OLD


@pytest.mark.parametrize("option", [["--fps", "0"], ["--fps", "-5"], ["--fps", "1000"], ["--size", "30000x30000"],
                                    ["--size", "10x10"], ["--size", "0x900"], ["--size", "big"],
                                    ["--size", "1500x900x3"], ["--every", "0"]])
def test_bad_export_options_are_one_line_errors_before_any_work(tmp_path, capsys, monkeypatch, old_gif, option):
    import lab.app

    monkeypatch.setattr(lab.app, "application", lambda *a, **k: pytest.fail("started rendering"))
    assert lab_main.main(["export", str(scenario(tmp_path)), "--gif", str(old_gif), *option]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and option[0] in err, err
    assert old_gif.read_bytes() == OLD


def test_a_non_number_fps_is_argparse_one_line_usage_error(tmp_path, capsys, old_gif):
    with pytest.raises(SystemExit) as exited:
        lab_main.main(["export", str(scenario(tmp_path)), "--gif", str(old_gif), "--fps", "nan"])
    assert exited.value.code == 2 and "--fps" in capsys.readouterr().err.strip().splitlines()[-1]
    assert old_gif.read_bytes() == OLD


@pytest.mark.parametrize("case", ["under a file", "a folder"])
def test_an_unwritable_export_target_is_refused_before_any_work(tmp_path, capsys, monkeypatch, case):
    import lab.app

    monkeypatch.setattr(lab.app, "application", lambda *a, **k: pytest.fail("started rendering"))
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.gif").mkdir()
    target = tmp_path / "afile" / "more" / "x.gif" if case == "under a file" else tmp_path / "adir.gif"
    assert lab_main.main(["export", str(scenario(tmp_path)), "--gif", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert (tmp_path / "afile").read_text() == "x" and (tmp_path / "adir.gif").is_dir()


# -- exports streamed, atomic in the library ----------------------------------------------------------------
def test_gif_frames_are_streamed_to_the_file_as_they_are_drawn(qtbot, tmp_path, monkeypatch):
    """Each frame is encoded and written as soon as it is grabbed (no frame list held until the
    end): the temporary file grows frame by frame, and the target appears only when complete."""
    from lab import export
    from lab.window import MainWindow

    w = MainWindow()
    w.resize(700, 450)
    w.show()
    try:
        assert w.open(scenario(tmp_path)), w.banner.label.text()
        w.session.wait()
        target = tmp_path / "anim.gif"
        sizes: list[int] = []
        real = export.to_array

        def grab(image):
            temporaries = list(tmp_path.glob(".anim.tmp-*.gif"))
            assert len(temporaries) == 1 and not target.exists()
            sizes.append(temporaries[0].stat().st_size)
            return real(image)

        monkeypatch.setattr(export, "to_array", grab)
        assert export.animation(w.session, w.panels, target, every=3) == 11
        assert len(sizes) == 11 and all(b > a for a, b in zip(sizes[1:], sizes[2:]))  # grows with every frame
        assert sizes[1] > 0 and target.stat().st_size > sizes[-1] and leftovers(tmp_path) == []
    finally:
        w.session.dirty = False
        w.close()


# -- the app -------------------------------------------------------------------------------------------------
@pytest.fixture
def window(qtbot, tmp_path):
    from lab.window import MainWindow

    w = MainWindow()
    w.resize(900, 600)
    w.show()
    assert w.open(scenario(tmp_path)), w.banner.label.text()
    w.session.wait()
    yield w
    w.player.pause()
    w.session.dirty = False
    w.close()
    w.deleteLater()


def choose(monkeypatch, path: Path) -> None:
    """The file dialog answers ``path``."""
    from PyQt6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


@pytest.mark.parametrize("kind", ["csv", "gif", "png"])
@pytest.mark.parametrize("case", ["missing folder", "a folder"])
def test_an_app_export_that_cannot_write_is_a_banner(window, tmp_path, monkeypatch, kind, case):
    target = tmp_path / "missing" / f"run.{kind}" if case == "missing folder" else tmp_path / f"dir.{kind}"
    if case == "a folder":
        target.mkdir()
    choose(monkeypatch, target)
    window.export_dialog(kind)  # must not raise into the event loop
    assert window.banner.isVisible() and str(target.name) in window.banner.label.text()
    assert "OSError" not in window.banner.label.text()  # the reason in words, not an exception's name
    if case == "missing folder":
        assert "does not exist" in window.banner.label.text()
    assert leftovers(tmp_path) == []


def test_an_app_csv_export_that_fails_midway_keeps_the_earlier_file(window, tmp_path, monkeypatch):
    import pandas as pd

    target = tmp_path / "run.csv"
    target.write_text("optimizer,step\nmine,0\n")

    def disk_full(self, path=None, *a, **k):
        with open(path, "w") as f:
            f.write("optimizer,st")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    choose(monkeypatch, target)
    window.export_dialog("csv")
    assert window.banner.isVisible() and "No space left on device" in window.banner.label.text()
    assert target.read_text() == "optimizer,step\nmine,0\n" and leftovers(tmp_path) == []


def test_an_app_export_replaces_the_earlier_file_when_complete(window, tmp_path, monkeypatch):
    import pandas as pd

    target = tmp_path / "run.csv"
    target.write_text("optimizer,step\nmine,0\n")
    choose(monkeypatch, target)
    window.export_dialog("csv")
    assert not window.banner.isVisible()
    assert len(pd.read_csv(target)) == 2 * 31 and leftovers(tmp_path) == []


def test_an_app_save_that_fails_midway_keeps_the_earlier_file(window, tmp_path, monkeypatch):
    target = tmp_path / "mine.toml"
    target.write_text("# my scenario\n")

    def disk_full(self, data, *a, **k):
        with open(self, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    monkeypatch.setattr(Path, "write_bytes", disk_full)
    choose(monkeypatch, target)
    window.save_as()
    assert window.banner.isVisible() and "No space left on device" in window.banner.label.text()
    monkeypatch.undo()
    assert target.read_text() == "# my scenario\n" and leftovers(tmp_path) == []


def test_save_never_overwrites_a_shipped_lesson_even_when_edited(window, monkeypatch):
    from PyQt6.QtWidgets import QFileDialog

    lesson = ROOT / "scenarios" / "quartic_gd.toml"
    assert window.open(lesson)
    window.session.wait()
    assert window.session.set("optimizers[0].lr", 0.5) and window.session.dirty
    written, asked = [], []
    monkeypatch.setattr(window.session, "save", lambda path: written.append(path))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: asked.append(a) or ("", ""))
    window.save()  # Ctrl+S
    assert asked and written == []  # a new name was asked for; the lesson was not written


def test_stale_temporaries_are_only_core_files_own_names(tmp_path):
    """A killed writer's leftovers go; a file of yours that merely looks similar stays."""
    from core.files import _temporary_sibling, remove_stale_temporaries

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)  # a process that has exited
    made = _temporary_sibling(tmp_path / "talk.gif").name.replace(f"-{os.getpid()}-", f"-{dead}-")
    leftovers_of_dead = [made, f".results.old-{dead}-0a1b2c3d", f".results.tmp-{dead}-deadbeef"]
    yours = [f".zshrc.old-{dead}", f".notes.tmp-{dead}-draft.txt", f".backup.old-{dead}-v2"]
    live = f".results.tmp-{os.getpid()}-0a1b2c3d"
    for name in leftovers_of_dead + yours + [live]:
        (tmp_path / name).write_text("x")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted(leftovers_of_dead)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(yours + [live])
