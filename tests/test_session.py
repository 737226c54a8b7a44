"""The session model (lab/session.py) without Qt: edits, refusals, dirty tracking, frames,
optimizers added and removed, open and save, and sync-or-job decided by the estimated cost.

The cases (``case_*``) run in ONE child process in which PyQt6, PySide6 and pyqtgraph cannot be
imported (a meta-path blocker installed before anything else, the pytest-qt plugin not loaded). Each
``test_without_qt[case]`` here reports that case's outcome from the child, so a failure names its
case and shows the child's output. The cases assert exact values (the closed form of GD on a
quadratic, in float64) or states and events, never timings beyond the cost estimate's own
coarse split (see ``case_the_cost_decides_between_here_and_a_job``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.toy_scenarios import two_optimizers

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve()
CHILD_ENV = "LAB_SESSION_TEST_WITHOUT_QT"
BLOCKED = ("PyQt6", "PySide6", "PyQt5", "PySide2", "pyqtgraph", "superqt")

CHILD = f"""
import sys

class BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('Qt is blocked in this process: ' + name)

sys.meta_path.insert(0, BlockQt())
import pytest
sys.exit(pytest.main([{str(HERE)!r}, '-p', 'no:pytest-qt', '-p', 'no:cacheprovider', '-o', 'python_functions=case_*',
                      '-o', 'addopts=', '-q', '-rA', '--no-header']))
"""


def cases() -> list[str]:
    return re.findall(r"^def (case_\w+)\(", HERE.read_text(), flags=re.M)


@pytest.fixture(scope="module")
def child_run() -> str:
    env = {**os.environ, CHILD_ENV: "1"}
    env.pop("QT_QPA_PLATFORM", None)
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return out.stdout + out.stderr


@pytest.mark.parametrize("case", cases())
def test_without_qt(child_run, case):
    passed = re.search(rf"^PASSED \S*::{case}\b", child_run, flags=re.M)
    failed = re.search(rf"^(FAILED|ERROR) \S*::{case}\b", child_run, flags=re.M)
    assert passed and not failed, f"{case} did not pass in the process without Qt:\n{child_run[-6000:]}"


# ---------------------------------------------------------------------------------------------
# the cases, run in the child (collected there through python_functions=case_*)

TOY = two_optimizers(steps=20, colors=False, resolution=30)  # tests/toy_scenarios.py


class Events:
    """Every event of a session, in order, as (name, args)."""

    NAMES = ("scenario_changed", "result_changed", "extras_changed", "frame_changed", "error", "busy", "progress",
             "dirty_changed", "job_requested", "job_cancelled")

    def __init__(self, session) -> None:
        self.seen: list[tuple] = []
        for name in self.NAMES:
            getattr(session, name).connect(lambda *args, n=name: self.seen.append((n, args)))

    def named(self, name: str) -> list[tuple]:
        return [args for n, args in self.seen if n == name]

    def errors(self) -> list[tuple[str, str]]:
        return [args for args in self.named("error") if args[1]]

    def clear(self) -> None:
        self.seen.clear()


def opened(tmp_path, text: str = TOY, **kw):
    from lab.session import Session

    path = tmp_path / "toy.toml"
    path.write_text(text)
    s = Session(**kw)
    assert s.open(path), "the toy scenario opens"
    return s, path


def gd_closed_form(A, w0, lr, steps):
    import numpy as np

    w = np.array(w0, dtype=float)
    for _ in range(steps):
        w = w - lr * A @ w
    return w


def case_qt_cannot_be_imported_and_the_session_needs_none(tmp_path):
    with pytest.raises(ImportError):
        import PyQt6  # noqa: F401
    s, _ = opened(tmp_path)
    assert s.result is not None and s.view.size == 2
    assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED]


def case_open_reads_the_file_and_emits(tmp_path):
    from lab.session import Session

    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    s = Session()
    ev = Events(s)
    assert s.open(path)
    assert s.path == path and s.text == TOY and not s.dirty
    assert s.scenario.title == "two optimizers on a rotated quadratic" and s.steps == 20 and s.frame == 0
    names = [n for n, _ in ev.seen]
    assert names.index("scenario_changed") < names.index("result_changed") < names.index("frame_changed")
    assert ev.named("frame_changed") == [(0,)] and not ev.errors()


def case_an_edit_goes_through_core_set_path(tmp_path, monkeypatch):
    import numpy as np

    import core.scenario.io as io

    s, _ = opened(tmp_path)
    before = s.scenario
    calls = []
    real = io.set_path
    monkeypatch.setattr(io, "set_path", lambda sc, p, v: calls.append((p, v)) or real(sc, p, v))
    ev = Events(s)
    assert s.set("optimizers[0].lr", 0.05)
    assert calls == [("optimizers[0].lr", 0.05)]  # the one key-path implementation, not a copy
    assert s.scenario == real(before, "optimizers[0].lr", 0.05)
    assert s.view.hyper[0]["lr"] == 0.05 and s.view.hyper[1]["lr"] == 0.05  # HB's own lr is 0.05 too
    # the run on show is the engine's answer for the new rate: GD on a quadratic, closed form
    A = s.result.run.problem.A.numpy()
    np.testing.assert_allclose(s.result.run.thetas[7, 0].numpy(), gd_closed_form(A, [2.0, 1.5], 0.05, 7), rtol=1e-12)
    assert ev.named("dirty_changed") == [(True,)] and s.dirty
    assert ("error", ("optimizers[0].lr", "")) in ev.seen  # clears an inline note left before
    assert ev.named("scenario_changed") == []  # a value, not a structure: editors keep their focus
    s.set("optimizers[1].momentum", 0.5)
    assert ev.named("dirty_changed") == [(True,)]  # once dirty, no second event


@pytest.mark.parametrize("path, value, where, needle", [
    ("optimizers[0].lr", -0.5, "optimizers[0].lr", "lr must be in (0, inf)"),
    ("optimizers[0].lr", float("nan"), "optimizers[0].lr", "nan"),
    ("steps", 0, "steps", "got 0"),
    ("optimizers[5].lr", 0.1, "optimizers[5].lr", "does not name a key"),
    ("problem.kind", "no_such_problem", "problem.kind", "no_such_problem"),
])
def case_a_bad_value_keeps_the_state_and_emits_an_error(tmp_path, path, value, where, needle):
    s, _ = opened(tmp_path)
    scenario, result, view = s.scenario, s.result, s.view
    ev = Events(s)
    assert not s.set(path, value)
    assert s.scenario is scenario and s.result is result and s.view is view and not s.dirty
    errors = ev.errors()
    assert len(errors) == 1 and errors[0][0].startswith(where.split("[")[0]) and needle in errors[0][1], errors
    assert not ev.named("result_changed") and not ev.named("dirty_changed")


def case_frames_are_clamped_and_follow_reruns(tmp_path):
    s, _ = opened(tmp_path)
    ev = Events(s)
    s.set_frame(7)
    s.set_frame(7)  # no change, no event
    s.set_frame(10_000)
    s.set_frame(-3)
    assert ev.named("frame_changed") == [(7,), (20,), (0,)]
    s.set_frame(15)
    assert s.set("steps", 10)  # a shorter run: the frame stays on its last step
    assert s.frame == 10 and s.steps == 10
    ev.clear()
    s.select(1)
    s.select(5)  # no such trajectory: ignored
    assert s.selected == 1 and ev.named("frame_changed") == [(10,)]


def case_optimizers_are_added_relabelled_and_removed(tmp_path):
    s, _ = opened(tmp_path)
    ev = Events(s)
    assert s.add_optimizer("adam") and s.add_optimizer("adam")
    assert s.view.labels == ["GD", "HB", "adam 1", "adam 2"] and s.view.kinds[-1] == "adam"
    assert len(ev.named("scenario_changed")) == 2  # the controls get editors for the new entries
    assert s.set("optimizers[2].label", "Adam, fast") and s.view.labels[2] == "Adam, fast"
    assert s.remove_optimizer(0) and s.remove_optimizer(0) and s.remove_optimizer(0)
    assert s.view.labels == ["adam 2"]
    ev.clear()
    assert not s.remove_optimizer(0)  # the last one stays
    assert ev.errors() == [("optimizers[0]", "a scenario needs at least one optimizer")]
    assert [o.label for o in s.scenario.optimizers] == ["adam 2"]


def case_a_new_problem_kind_takes_its_own_start_and_view(tmp_path):
    from core.problems import default_start

    s, _ = opened(tmp_path, TOY.replace("resolution = 30", "resolution = 30\nspan = [[-3.0, 3.0], [-2.0, 2.0]]"))
    ev = Events(s)
    assert s.set("problem.kind", "rosenbrock")
    assert s.scenario.problem.kind == "rosenbrock" and s.scenario.problem.params == {}
    want = default_start("rosenbrock", {})["points"]
    assert [list(p) for p in s.scenario.start.points] == want
    assert s.scenario.view.span is None and s.scenario.view.resolution == 30  # the problem's range, the rest kept
    assert ev.named("scenario_changed") and s.result.run.problem.kind == "rosenbrock"


def case_save_writes_what_open_reads_and_keeps_the_loaded_text(tmp_path, monkeypatch):
    import core.scenario.io as io
    from core.scenario import load

    text = "# the lecturer's notes\n" + TOY
    s, path = opened(tmp_path, text)
    assert s.text == text
    assert s.set("optimizers[1].momentum", 0.5) and s.set_start([-1.5, 1.0]) and s.dirty
    seen = []
    real = io.save
    monkeypatch.setattr(io, "save", lambda sc, p, *, like=None: seen.append(like) or real(sc, p, like=like))
    out = tmp_path / "saved.toml"
    ev = Events(s)
    s.save(out)
    assert seen == [text]  # the file's own text, for its comments and layout
    assert not s.dirty and ev.named("dirty_changed") == [(False,)] and s.path == out
    assert load(out) == s.scenario and s.text == out.read_text()
    saved = s.text
    s.set("steps", 12)
    s.save(out)
    assert seen[-1] == saved  # the next save keeps the layout of the file as it was saved
    assert load(out).steps == 12


def case_a_bad_file_keeps_the_session(tmp_path):
    s, path = opened(tmp_path)
    scenario, result = s.scenario, s.result
    ev = Events(s)
    bad = tmp_path / "bad.toml"
    bad.write_text(TOY.replace("lr = 0.15", "lr = -1.0"))
    assert not s.open(bad)
    assert s.scenario is scenario and s.result is result and s.path == path
    (where, message), = ev.errors()
    assert where == "" and "bad.toml" in message and "optimizers[0].lr" in message
    assert not s.open(tmp_path / "missing.toml") and "missing.toml" in ev.errors()[-1][1]


def case_the_cost_decides_between_here_and_a_job(tmp_path, monkeypatch):
    import lab.session
    from lab.session import SYNC_SECONDS

    s, _ = opened(tmp_path, background=True)
    ev = Events(s)
    assert s.set("steps", 30)  # two trajectories, 30 steps: estimated far under SYNC_SECONDS, done here
    assert not s.jobs and s.steps == 30 and s.last_estimate.total_seconds <= SYNC_SECONDS
    assert not ev.named("job_requested")
    before = s.result
    # 150,000 steps of the same toy is estimated at seconds (the probe's time, off by far less than
    # the factor of 4 between 0.25 s and the 1 s asserted here): a job, whatever the problem kind
    assert s.set("steps", 150_000)
    (job,), = ev.named("job_requested")
    assert s.jobs == {"run": job} and s.last_estimate.total_seconds > 1
    assert s.result is before and s.scenario.steps == 150_000  # the state is accepted, the old run stays
    assert ev.named("busy")[-1][0].startswith("computing")
    assert s.cancel() and job.cancelled and ev.named("job_cancelled") == [(job,)] and ev.named("busy")[-1] == ("",)
    # a 300 x 300 start grid of a toy is a job too (it ran on the GUI thread because of the kind)
    assert s.set("steps", 30) and s.remove_optimizer(1) and not s.jobs  # as in test_budget: one GD
    assert s.set("start", {"grid": {"n": [300], "box": [[-1.0, 1.0], [-1.0, 1.0]]}})
    assert "run" in s.jobs
    s.cancel()
    # with every run a job: a newer request cancels the stale one, whose answer is dropped
    monkeypatch.setattr(lab.session, "SYNC_SECONDS", 0.0)
    before = s.result
    assert s.set("start", {"points": [[2.0, 1.5]]}) and s.set("steps", 25)
    first = s.jobs["run"]
    assert s.set("steps", 26)
    second = s.jobs["run"]
    assert first.cancelled and second is not first and not second.cancelled
    # the stale job finished before it saw its cancel flag: its answer arrives and is dropped
    s.job_done(first, first.fn(*first.args, lambda done, total: None, lambda: False))
    assert s.result is before
    s.job_progress(second, 3, 26)
    assert ev.named("progress")[-1] == (3, 26)
    ev.clear()
    s.job_done(second, second.run())
    assert s.steps == 26 and s.result is not before and not s.jobs
    assert [n for n, _ in ev.seen][:2] == ["busy", "result_changed"]
    # a job that fails shows its message and keeps the run on screen
    assert s.set("steps", 27)
    job, result = s.jobs["run"], s.result
    s.job_failed(job, "out of memory")
    assert s.result is result and ev.errors()[-1] == ("", "out of memory") and not s.jobs


def case_a_session_without_workers_runs_its_jobs_here(tmp_path, monkeypatch):
    import lab.session

    monkeypatch.setattr(lab.session, "SYNC_SECONDS", 0.0)
    s, _ = opened(tmp_path)
    ev = Events(s)
    assert s.set("steps", 12)
    assert s.steps == 12 and not s.jobs and not ev.named("job_requested")
    busy = [m for (m,) in ev.named("busy")]
    assert busy[0].startswith("computing") and busy[-1] == ""


def case_over_budget_work_runs_only_when_confirmed(tmp_path, monkeypatch):
    from core import budget

    s, _ = opened(tmp_path)
    monkeypatch.setenv(budget.MEMORY_ENV, "0.5M")  # a 20 x 20 start grid needs about 1 MB, two starts 10 kB
    ev = Events(s)
    grid = {"grid": {"n": [20], "box": [[-1.0, 1.0], [-1.0, 1.0]]}}
    scenario = s.scenario
    assert not s.set("start", grid)  # no one to ask: refused
    assert s.scenario is scenario and ev.errors()[-1][1].startswith("not run:")
    asked = []
    s.confirm_large = lambda question: asked.append(question) or False
    assert not s.set("start", grid) and s.scenario is scenario
    # 400 starts for each of the two optimizers
    assert "800 trajectories" in asked[0] and "over the 500 kB budget" in asked[0]
    s.confirm_large = lambda question: True
    assert s.set("start", grid) and s.view.size == 800


def case_beats_apply_in_order_to_a_base_without_dirtying(tmp_path):
    s, _ = opened(tmp_path)
    base = s.scenario
    beats = [{"optimizers": [{"kind": "gd", "label": "a", "lr": 0.1},
                             {"kind": "momentum", "label": "b", "lr": 0.1, "momentum": 0.5}]},
             {"optimizers[1].lr": 0.02}]
    assert s.set_many(beats, base=base, edit=False)  # the second only works on top of the first
    assert s.view.labels == ["a", "b"] and s.view.hyper[1]["lr"] == 0.02 and not s.dirty
    assert s.set_many(beats[:1], base=base, edit=False) and s.view.hyper[1]["lr"] == 0.1
    assert not s.set_many([{"optimizers[1].lr": -1.0}], base=base)
    assert s.view.hyper[1]["lr"] == 0.1
