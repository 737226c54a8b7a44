"""Every input gets a one-line answer, never a traceback or a hang (issue 10, section 4).

The CLI is driven in a subprocess for a representative set (what a user's shell sees: exit status,
stderr, no hang) and in-process through ``main.main`` for the rest, to keep the suite fast. The app's
entries get real key clicks (pytest-qt)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import main
from core.errors import LabError
from core.scenario import build, load, loads

ROOT = Path(__file__).resolve().parents[1]
HEAD = 'format = 1\ntitle = "t"\nsteps = 20\n'
QUARTIC = HEAD + '[problem]\nkind = "quartic"\n[start]\npoints = [[2.5]]\n[[optimizers]]\nkind = "gd"\nlr = 0.1\n'


def one_line_error(err: str, *needles: str) -> str:
    """The CLI's stderr: exactly one line, no traceback, containing every needle."""
    lines = [ln for ln in err.splitlines() if ln.strip() and "propagateSizeHints" not in ln]
    assert len(lines) == 1, err[-3000:]
    assert "Traceback" not in err and len(lines[0]) < 1000, err[-3000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def cli(capsys, *argv: str, status: int = 2) -> str:
    code = main.main(list(argv))
    out, err = capsys.readouterr()
    assert code == status, (code, out, err[-2000:])
    return err


def subprocess_cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --- files the program reads: regular, bounded, shallow ------------------------------------------
def test_deep_toml_nesting_is_one_line_in_a_subprocess(tmp_path):
    # 2,000 '[' overflowed tomllib's recursion: a RecursionError and a 3,000-line traceback
    deep = write(tmp_path, HEAD + "x = " + "[" * 2000 + "]" * 2000 + "\n")
    proc = subprocess_cli("check", str(deep))
    assert proc.returncode == 1  # check: a scenario that does not load is a FAIL line
    assert "Traceback" not in proc.stderr and "nested too deeply" in proc.stdout
    proc = subprocess_cli("run", str(deep), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    one_line_error(proc.stderr, "nested too deeply", str(deep))


@pytest.mark.parametrize("text", [
    "x = " + "[" * 3000 + "]" * 3000,
    "x = " + "{a = " * 3000 + "1" + "}" * 3000,
    "[problem]\nkind = 'quadratic'\neigenvalues = " + "[" * 40 + "1.0" + "]" * 40,  # parses, but deeper than any scenario
    "[[beats]]\nstep = 1\nset = { \"view.span\" = " + "[" * 50 + "]" * 50 + " }",
])
def test_too_deep_documents_are_one_line(capsys, tmp_path, text):
    err = cli(capsys, "run", str(write(tmp_path, HEAD + text + "\n")), "--out", str(tmp_path / "o"))
    one_line_error(err, "nested")


def test_dev_zero_and_a_fifo_are_refused_at_once_in_a_subprocess(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    for argv in (["run", "/dev/zero", "--out", str(tmp_path / "o")], ["run", str(fifo), "--out", str(tmp_path / "o")]):
        proc = subprocess_cli(*argv, timeout=60)  # before: read /dev/zero until memory ran out; blocked on the FIFO
        assert proc.returncode == 2, proc.stderr
        one_line_error(proc.stderr, "not a regular file")
    # check DIR/: the walk finds the FIFO among the *.toml and refuses it as one FAIL line
    (tmp_path / "good.toml").write_text(QUARTIC)
    proc = subprocess_cli("check", str(tmp_path) + "/", timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "PASS" in proc.stdout and f"FAIL  {fifo}" in proc.stdout and "not a regular file" in proc.stdout


@pytest.mark.parametrize("command", ["run", "check", "open", "export"])
def test_devices_fifos_folders_and_long_names_in_every_command(capsys, tmp_path, command):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    too_long = str(tmp_path / ("x" * 300 + ".toml"))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"format = 1\n\xff\xfe\x00\x00")
    extra = {"run": ["--out", str(tmp_path / "o")], "check": [], "open": [], "export": ["--png", str(tmp_path / "x.png")]}[command]
    cases = [("/dev/zero", "not a regular file"), (str(fifo), "not a regular file"), (too_long, ""),
             (str(binary), "not UTF-8")]
    if command != "check":  # check walks a folder (a folder named *.toml has no scenarios in it)
        cases.append((str(folder), "folder"))
    for name, needle in cases:
        if command == "check":
            code = main.main(["check", name])
            out, err = capsys.readouterr()
            assert code in (1, 2) and "Traceback" not in err, err
            assert needle in out + err
        else:
            err = cli(capsys, command, name, *extra)
            one_line_error(err, needle)


def test_a_data_path_longer_than_the_system_allows(capsys, tmp_path):
    # Path.is_file() raised OSError(ENAMETOOLONG) from the data-file lookup
    s = write(tmp_path, HEAD + f'[problem]\nkind = "linear"\ndata = "{"d" * 5000}.csv"\n[start]\npoints = [[0.0, 0.0]]\n'
              '[[optimizers]]\nkind = "gd"\nlr = 0.1\n')
    one_line_error(cli(capsys, "run", str(s), "--out", str(tmp_path / "o")), "problem.data")


def test_data_files_are_read_through_the_bounded_reader(tmp_path):
    from core.datasets import read_heart
    from core.landscape import Surface

    fifo = tmp_path / "table.csv"
    os.mkfifo(fifo)
    with pytest.raises(LabError, match="not a regular file"):
        read_heart(fifo)
    with pytest.raises(LabError, match="not a regular file"):
        Surface.from_npz("/dev/zero")
    with pytest.raises(LabError, match="no such"):
        read_heart(tmp_path / "missing.csv")


# --- one validation for every number ------------------------------------------------------------
BAD_PROBLEMS = [
    ('kind = "quadratic"\neigenvalues = [1.0, nan]', "problem.eigenvalues[1]", [[0.0, 0.0]]),
    ('kind = "quadratic"\neigenvalues = [inf, 1.0]', "problem.eigenvalues[0]", [[0.0, 0.0]]),
    ('kind = "quadratic"\nangle = nan', "problem.angle", [[0.0, 0.0]]),
    ('kind = "quadratic"\nangle = -inf', "problem.angle", [[0.0, 0.0]]),
    ('kind = "quadratic"\ncenter = [0.0, nan]', "problem.center[1]", [[0.0, 0.0]]),
    ('kind = "quadratic"\noffset = inf', "problem.offset", [[0.0, 0.0]]),
    ('kind = "quadratic"\nrotation_seed = 99999999999999999999\neigenvalues = [1.0, 2.0, 3.0]', "problem.rotation_seed", [[0.0, 0.0, 0.0]]),
    ('kind = "rosenbrock"\na = nan', "problem.a", [[0.0, 0.0]]),
    ('kind = "rosenbrock"\nb = inf', "problem.b", [[0.0, 0.0]]),
    ('kind = "rastrigin"\nA = nan', "problem.A", [[0.0, 0.0]]),
    ('kind = "rastrigin"\ndim = 99999999999999999999', "problem.dim", [[0.0, 0.0]]),
    ('kind = "formula"\nexpr = "x**2 + y**2"\nloss_star = nan', "problem.loss_star", [[0.0, 0.0]]),
    ('kind = "formula"\nexpr = "x**2 + y**2"\nminima = [[0.0, inf]]', "problem.minima[0][1]", [[0.0, 0.0]]),
    ('kind = "formula"\nexpr = "x**2 + y**2"\nbox = [[-1.0, 1.0], [nan, 1.0]]', "problem.box[1][0]", [[0.0, 0.0]]),
    ('kind = "linear"\nnoise = nan', "problem.noise", [[0.0, 0.0]]),
    ('kind = "linear"\nangle = inf', "problem.angle", [[0.0, 0.0]]),
    ('kind = "linear"\nw_true = [1.0, nan]', "problem.w_true[1]", [[0.0, 0.0]]),
    ('kind = "linear"\nn = 99999999999999999999', "problem.n", [[0.0, 0.0]]),
    ('kind = "multimin"\ndim = 2.0', "problem.dim", [[0.0, 0.0]]),
]


@pytest.mark.parametrize("table,path,start", BAD_PROBLEMS, ids=[p for _, p, _ in BAD_PROBLEMS])
def test_non_finite_and_absurd_problem_parameters_are_refused_at_load(capsys, tmp_path, table, path, start):
    # before: accepted, and every trajectory "diverged at step 0" (or a torch traceback)
    text = HEAD + f"[problem]\n{table}\n[start]\npoints = {start}\n[[optimizers]]\nkind = \"gd\"\nlr = 0.1\n"
    with pytest.raises(LabError) as info:
        loads(text)
    assert info.value.path == path, str(info.value)
    one_line_error(cli(capsys, "run", str(write(tmp_path, text)), "--out", str(tmp_path / "o")), path)


def test_every_float_parameter_of_every_problem_refuses_nan():
    """Generic, not per problem: each factory parameter annotated float (or a list of floats) is
    refused with NaN, at its own key path, by the one check in core.problems."""
    import typing

    from core.problems import PROBLEMS, check_parameters, problem_parameters

    problem_parameters("quartic")  # loads the linear and neural problems too
    seen = 0
    for kind, factory in PROBLEMS.items():
        for name, tp in typing.get_type_hints(factory).items():
            if name == "return":
                continue
            text = str(tp)
            if "float" in text and "Sequence" not in text:
                bad, where = math.nan, f"problem.{name}"
            elif "Sequence[float]" in text and "Sequence[collections" not in text:
                bad, where = (1.0, math.nan), f"problem.{name}[1]"
            else:
                continue
            with pytest.raises(LabError) as info:
                check_parameters(kind, {name: bad})
            assert info.value.path == where and "finite" in info.value.message, (kind, name, str(info.value))
            seen += 1
    assert seen >= 20


@pytest.mark.parametrize("color", ["#12345", "#ggg", "blurple", "rgb(1,2,3)", "", "#1f77b4\n", "Red "])
def test_invalid_colours_are_refused_at_load(capsys, tmp_path, color):
    # before: accepted, then an empty panels.png and a traceback per redraw
    text = QUARTIC + f"color = {color!r}\n".replace("'", '"') if "\n" not in color else QUARTIC + 'color = "#1f77b4\\n"\n'
    with pytest.raises(LabError) as info:
        loads(text)
    assert info.value.path == "optimizers[0].color" and "not a colour" in info.value.message
    one_line_error(cli(capsys, "run", str(write(tmp_path, text)), "--out", str(tmp_path / "o")), "optimizers[0].color")


@pytest.mark.parametrize("color", ["#abc", "#1F77B4", "#1f77b480", "crimson", "steelblue", "black"])
def test_documented_colours_load(color):
    assert loads(QUARTIC + f'color = "{color}"\n').optimizers[0].color == color


def test_nesterov_with_dampening_is_refused(capsys, tmp_path):
    text = QUARTIC.replace('kind = "gd"', 'kind = "nesterov"') + "momentum = 0.9\ndampening = 0.5\n"
    with pytest.raises(LabError) as info:
        loads(text)
    assert info.value.path == "optimizers[0].dampening" and "Nesterov takes no dampening" in info.value.message
    loads(text.replace("dampening = 0.5", "dampening = 0.0"))  # 0 is torch.optim's Nesterov
    loads(text.replace('kind = "nesterov"', 'kind = "momentum"'))  # a damped heavy ball is fine
    one_line_error(cli(capsys, "run", str(write(tmp_path, text)), "--out", str(tmp_path / "o")), "optimizers[0].dampening")


def test_optimal_heavy_ball_rate_is_exact_at_the_double_root():
    """At the optimum both ends of [mu, L] are double roots; the discriminant is 0 only up to
    rounding, and its square root made 0.8181818287 of 9/11. In float64 the rate is now within a
    few ulps (the rounding of T = 1 + beta - lr h, ~6 ulps at most on any IEEE-754 machine)."""
    from core import theory

    for mu, L, rate in [(1.0, 100.0, 9 / 11), (1.0, 10.0, None), (0.5, 2e4, None), (3.0, 3e6, None)]:
        for kind in ("momentum", "momentum_lowpass"):
            hyper, expected = theory.optimal(kind, mu, L)
            if rate is not None:
                assert expected == pytest.approx(rate, rel=1e-15)
            got = float(theory.spectral_radius(kind, hyper, torch.tensor([mu, L], dtype=torch.float64)))
            assert abs(got - expected) <= 1e-15 * expected, (kind, mu, L, got, expected)
        hyper, expected = theory.optimal("nesterov", mu, L)
        got = float(theory.spectral_radius("nesterov", hyper, torch.tensor([mu, L], dtype=torch.float64)))
        assert abs(got - expected) <= 4e-15 * expected, (mu, L, got, expected)
    # distinct roots are left alone: an overdamped heavy ball keeps its two real roots
    z = theory.eigenvalues("momentum", {"lr": 0.01, "momentum": 0.5}, torch.tensor([1.0], dtype=torch.float64))
    assert abs(float(z[0, 0].real) - float(z[0, 1].real)) > 0.1


def test_sweep_labels_tell_the_values_apart():
    # before: "GD lr=3.3788 #6/#7/#8" for all three
    text = QUARTIC.replace("lr = 0.1", "lr = [0.1, 0.2, 3.378798, 3.378799, 3.3788]").replace('kind = "gd"', 'kind = "gd"\nlabel = "GD"')
    groups = build(loads(text)).groups
    assert groups[0].traj_labels == ["GD lr=0.1", "GD lr=0.2", "GD lr=3.378798", "GD lr=3.378799", "GD lr=3.3788"]
    close = QUARTIC.replace("lr = 0.1", "lr = [0.1, 0.10000000000000002]")
    labels = build(loads(close)).groups[0].traj_labels
    assert len(set(labels)) == 2 and all("#" not in lab for lab in labels)


# --- beats checked as the lecture plays them ----------------------------------------------------
TWO_OPTIMIZERS = HEAD + '''[problem]
kind = "quadratic"
eigenvalues = [1.0, 4.0]
[start]
points = [[1.0, 1.0]]
[[optimizers]]
kind = "gd"
label = "GD"
lr = 0.1
[[optimizers]]
kind = "gd"
label = "GD2"
lr = 0.2
'''


def test_beats_valid_alone_but_not_together_are_refused(capsys, tmp_path):
    # beat 0 leaves one optimizer; beat 1 then sets optimizers[1].lr: each alone is valid
    text = TWO_OPTIMIZERS + '''[[beats]]
step = 2
set = { "optimizers" = [{ kind = "gd", label = "solo", lr = 0.3 }] }
[[beats]]
step = 5
set = { "optimizers[1].lr" = 0.05 }
'''
    s = loads(text)  # each beat is well formed; played in order, they are not (build checks that)
    with pytest.raises(LabError) as info:
        build(s)
    assert info.value.path == "beats[1].set" and "optimizers[1].lr" in info.value.message
    assert "as beats[0..0] left it" in info.value.message
    code = main.main(["check", str(write(tmp_path, text))])
    out, err = capsys.readouterr()
    assert code == 1 and "beats[1].set" in out and "Traceback" not in err


def test_beat_keys_are_validated_together_and_highlights_follow_the_beats():
    # a beat changing the problem and its start at once is valid only together
    text = QUARTIC + '''[[beats]]
step = 3
set = { "problem" = { kind = "bowl" }, "start" = { points = [[1.0, 1.0]] } }
[[beats]]
step = 4
highlight = "gd"
'''
    assert len(build(loads(text)).scenario.beats) == 2
    renamed = TWO_OPTIMIZERS + '''[[beats]]
step = 1
set = { "optimizers[1].label" = "fast" }
[[beats]]
step = 2
highlight = "fast"
'''
    build(loads(renamed))  # the label the earlier beat gave
    with pytest.raises(LabError, match="no trajectory labelled 'GD2'"):
        build(loads(renamed.replace('highlight = "fast"', 'highlight = "GD2"')))
    shorter = QUARTIC + '[[beats]]\nstep = 2\nset = { "steps" = 5 }\n[[beats]]\nstep = 10\ncaption = "never reached"\n'
    with pytest.raises(LabError, match="past the end of the run .steps = 5, as the earlier beats set it"):
        build(loads(shorter))


# --- messages stay one bounded line -------------------------------------------------------------
@pytest.mark.parametrize("label", ["x" * 1_000_000, "two\nlines", "bidi \u202e evil", "bell \x07"])
def test_echoed_input_is_bounded_and_escaped(capsys, tmp_path, label):
    import json

    text = QUARTIC + f"label = {json.dumps(label)}\ncolor = 5\n"
    line = one_line_error(cli(capsys, "run", str(write(tmp_path, text)), "--out", str(tmp_path / "o")), "color")
    assert "\u202e" not in line and "\x07" not in line and len(line) < 1000


@pytest.mark.parametrize("options,needle", [(["--fps", "0"], "--fps"), (["--fps", "-5"], "--fps"),
                                            (["--size", "30000x30000"], "--size"), (["--size", "axb"], "--size"),
                                            (["--every", "0"], "--every"), (["--step", "-1"], "--step")])
def test_export_options_are_validated_before_anything_runs(capsys, tmp_path, options, needle):
    s = write(tmp_path, QUARTIC)
    one_line_error(cli(capsys, "export", str(s), "--gif", str(tmp_path / "a.gif"), *options), needle)
    assert not (tmp_path / "a.gif").exists()


# --- whatever is left: one line, a log, exit 3 ---------------------------------------------------
@pytest.mark.parametrize("exc", [ZeroDivisionError("boom"), RecursionError("maximum recursion depth exceeded"),
                                 MemoryError(), KeyError("k")])
def test_an_internal_error_is_one_line_with_a_log(capsys, monkeypatch, tmp_path, exc):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    import commands.run

    def broken(args):
        raise exc

    monkeypatch.setattr(commands.run, "run_command", broken)
    err = cli(capsys, "run", "whatever.toml", status=3)
    line = one_line_error(err, "internal error:", type(exc).__name__, "details in")
    logs = list((tmp_path / "state" / "loss-landscape-lab").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line
    assert "Traceback" in logs[0].read_text() and type(exc).__name__ in logs[0].read_text()


def test_the_log_falls_back_to_the_temporary_folder(monkeypatch, tmp_path):
    from core import crash

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # a file: the state folder cannot be made
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = crash.write_log(ValueError("x"))
    assert path is not None and path.parent == tmp_path / "tmp" / "loss-landscape-lab"


def test_a_labError_is_still_exit_2(capsys, tmp_path):
    one_line_error(cli(capsys, "run", str(tmp_path / "nope.toml")), "scenario file not found")


# --- a 1-parameter problem without the landscape panel ------------------------------------------
def test_one_parameter_problem_without_the_landscape_panel(capsys, tmp_path):
    # before: IndexError in the landscape panel's minima (printed, exit 0)
    from lab import app

    before = len(app.slot_errors)
    s = write(tmp_path, QUARTIC + '[view]\npanels = ["convergence", "eigen"]\n')
    code = main.main(["run", str(s), "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err and "IndexError" not in err, err
    assert len(app.slot_errors) == before
    assert (tmp_path / "o" / "panels.png").stat().st_size > 1000


def test_a_scenario_loads_only_from_text_it_can_bound():
    with pytest.raises(LabError, match="at most"):
        loads(QUARTIC + "# " + "x" * (5 * 1024 * 1024) + "\n")
    with pytest.raises(LabError, match="scenario file not found"):
        load("/nonexistent/x.toml")


# --- the app -------------------------------------------------------------------------------------
APP_SCENARIO = TWO_OPTIMIZERS.replace("steps = 20", "steps = 12") + '''[[beats]]
step = 0
caption = "two"
[[beats]]
step = 3
caption = "replaced"
set = { "optimizers" = [{ kind = "gd", label = "a", lr = 0.1 }, { kind = "momentum", label = "b", lr = 0.1, momentum = 0.5 }] }
[[beats]]
step = 6
caption = "b slower"
set = { "optimizers[1].lr" = 0.02 }
'''


# the `window` fixture (the real main window, 1200 x 800) is in tests/conftest.py


def opened(window, tmp_path, text=APP_SCENARIO):
    path = write(tmp_path, text, "app.toml")
    assert window.open(path), window.banner.label.text()
    window.session.wait()
    return window


@pytest.mark.parametrize("typed,needle", [("nan", "nan"), ("inf", "inf"), ("-inf", "inf"),
                                          ("99999999999999999999", "lr must be in"), ("1e400", "inf"),
                                          ("[[[[", ""), ("word", "expected a")])
def test_typing_bad_numbers_in_an_entry_shows_the_inline_error(window, qtbot, tmp_path, typed, needle):
    """Real key clicks into the learning-rate entry; before, nan/inf raised in the slot."""
    from PyQt6.QtCore import Qt

    opened(window, tmp_path)
    before = window.session.scenario
    entry = window.controls.sliders["optimizers[0].lr"].entry
    entry.setFocus()
    entry.selectAll()
    qtbot.keyClicks(entry, typed)
    qtbot.keyClick(entry, Qt.Key.Key_Return)
    err = window.controls.errors["optimizers[0].lr"]
    if typed == "99999999999999999999":  # a finite learning rate: taken (and it diverges), not a crash
        assert window.session.view.hyper[0]["lr"] == 1e20
        return
    assert err.isVisible() and needle in err.text(), err.text()
    assert window.session.scenario is before


@pytest.mark.parametrize("typed", ["nan", "inf", "99999999999999999999", "1e400"])
def test_typing_bad_numbers_in_a_problem_entry_shows_the_inline_error(window, qtbot, tmp_path, typed):
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QLineEdit

    opened(window, tmp_path)
    before = window.session.scenario
    entry = window.controls.findChild(QLineEdit, "problem.offset")
    entry.setFocus()
    entry.selectAll()
    qtbot.keyClicks(entry, typed)
    qtbot.keyClick(entry, Qt.Key.Key_Return)
    if typed == "99999999999999999999":  # 1e20 is a finite offset
        assert window.session.scenario.problem.params["offset"] == 99999999999999999999
        return
    err = window.controls.errors["problem.offset"]
    assert err.isVisible() and "finite" in err.text(), err.text()
    assert window.session.scenario is before
    # the start entry too
    start = window.controls.findChild(QLineEdit, "start")
    start.setFocus()
    start.selectAll()
    qtbot.keyClicks(start, f"{typed}, 1")
    qtbot.keyClick(start, Qt.Key.Key_Return)
    assert window.controls.errors["start"].isVisible() or window.controls.general_error.isVisible()


def test_the_lecture_plays_beats_that_only_work_together(window, tmp_path):
    opened(window, tmp_path)
    lecture = window.lecture
    lecture.enter()
    window.session.set_frame(3)  # the player passing beat 1's step (as playing does)
    window.session.wait()
    assert lecture.index == 1 and window.session.view.labels == ["a", "b"]
    window.session.set_frame(6)
    window.session.wait()
    assert lecture.index == 2 and window.banner.label.text() == "", window.banner.label.text()
    assert window.session.view.hyper[1]["lr"] == 0.02  # beat 2 on top of beat 1's optimizer list
    lecture.previous()
    window.session.wait()
    assert window.session.view.hyper[1]["lr"] == 0.1
    assert window.banner.label.text() == "" or not window.banner.isVisible()
    lecture.leave()
    window.session.wait()
    assert window.session.view.labels == ["GD", "GD2"]


def test_an_exception_in_a_qt_slot_is_a_banner_and_a_log(window, monkeypatch, tmp_path):
    """sys.excepthook during the GUI: one line in the banner and on stderr, the traceback in a log."""
    import sys

    from lab import app

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    try:
        raise ZeroDivisionError("slot went wrong")
    except ZeroDivisionError:
        app._slot_excepthook(*sys.exc_info())
    assert window.banner.isVisible() and "internal error: ZeroDivisionError: slot went wrong" in window.banner.label.text()
    logs = list((tmp_path / "state" / "loss-landscape-lab").glob("crash-*.log"))
    assert len(logs) == 1 and "slot went wrong" in logs[0].read_text()
    assert app.slot_errors[-1] == window.banner.label.text()


def test_every_accepted_colour_form_is_one_pyqtgraph_and_qt_draw():
    """The colour grammar of core.scenario (hex forms, the named list) is accepted by
    pyqtgraph.mkColor (pens, brushes) and, for names and alpha-free hex, by QColor (trails,
    style sheets) with the same colour."""
    import pyqtgraph as pg
    from PyQt6.QtGui import QColor

    from core.scenario.schema import color
    from core.scenario.schema import COLOR_NAMES

    forms = ["#abc", "#ABCDEF", "#1f77b4", "#1f77b480", "#00000000", *COLOR_NAMES]
    for form in forms:
        assert color(form, "c") == form
        c = pg.mkColor(form)
        assert c.isValid(), form
        if not (form.startswith("#") and len(form) == 9):
            q = QColor(form)
            assert q.isValid() and q.rgb() == c.rgb(), form
    assert pg.mkColor("#1f77b480").alpha() == 0x80 and pg.mkColor("#1f77b480").red() == 0x1f


def test_an_alpha_colour_keeps_its_hue_in_the_landscape_trail():
    from lab.panels.landscape import fading_brushes

    brush = fading_brushes("#ff000080")[0]
    assert (brush.color().red(), brush.color().green(), brush.color().blue()) == (255, 0, 0)
