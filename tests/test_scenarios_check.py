"""Every scenario of the library holds its expectations (picked up automatically from scenarios/),
and the headless commands do what docs/scenarios.md says: ``main.py run`` writes the files with the
documented columns (the rows reproduce GD's recurrence step by step), ``main.py check`` prints one
line per scenario and exits 1 on a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from commands.run import check_file
from core.scenario import load

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = sorted((ROOT / "scenarios").rglob("*.toml"))


def main(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_library_has_the_lessons_the_issue_asks_for():
    names = {p.stem for p in LIBRARY}
    assert {"quartic_gd", "quartic_lr_sweep", "bowl_learning_rates", "zigzag_momentum", "stability_edge",
            "momentum_spirals", "adam_rotation", "saddle", "sgd_escapes_local_min"} <= names


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_every_library_scenario_passes_check(path):
    ok, line = check_file(path, device="cpu")
    assert ok, line
    s = load(path)
    assert s.title and len(s.description) > 200, "a student needs a description"
    assert s.expect, "every library scenario checks itself"
    assert any(b.caption for b in s.beats), "every library scenario can be replayed as a lecture"


def test_run_writes_the_documented_files_and_gd_recurrence(tmp_path):
    out = tmp_path / "quartic"
    proc = main("run", "scenarios/quartic_gd.toml", "--out", str(out), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    table = pd.read_csv(out / "metrics.csv")
    assert list(table.columns) == ["optimizer", "step", "loss", "grad_norm", "x0"]
    s = load(ROOT / "scenarios" / "quartic_gd.toml")
    lr = s.optimizers[0].hyper["lr"]
    w = table["x0"].to_numpy()
    assert list(table["step"]) == list(range(s.steps + 1)) and w[0] == 2.5
    # each row is one GD step of the lecture's recurrence: w_{k+1} = w_k - lr g'(w_k)
    g_prime = (4 * w**3 + 2 * w + 10) / 50
    np.testing.assert_allclose(w[1:], w[:-1] - lr * g_prime[:-1], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(table["loss"], (w**4 + w**2 + 10 * w) / 50, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(table["grad_norm"], np.abs(g_prime), rtol=1e-13, atol=1e-15)
    summary = json.loads((out / "summary.json").read_text())
    (traj,) = summary["trajectories"]
    assert traj["label"] == "GD, lr = 1" and traj["diverged"] is False and summary["title"] == s.title
    assert all(e["passed"] for e in summary["expectations"]) and len(summary["expectations"]) == len(s.expect)
    assert load(out / "scenario.toml") == s.__class__(**{**s.__dict__, "device": "cpu"})
    with np.load(out / "landscape.npz") as f:
        assert f["values"].shape == (s.view.resolution,)


def test_check_prints_one_line_per_scenario_and_exits_1_on_failure(tmp_path):
    good = (ROOT / "scenarios" / "quartic_gd.toml").read_text()
    (tmp_path / "good.toml").write_text(good)
    (tmp_path / "wrong.toml").write_text(good.replace("at = 23", "at = 5"))
    (tmp_path / "broken.toml").write_text(good.replace("steps = 40", "steps = 0"))
    proc = main("check", str(tmp_path))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) == 4 and lines[-1].startswith("3 scenarios: 1 passed, 2 failed")
    broken, good_line, wrong = lines[:3]
    assert broken.startswith("FAIL  ") and "steps: expected an integer >= 1" in broken
    assert good_line.startswith("PASS  ") and "Gradient descent on the lecture's quartic" in good_line
    assert wrong.startswith("FAIL  ") and ("measured distance < 0.001 first at step 23, "
                                           "required distance < 0.001 at step 5") in wrong
    assert main("check", str(tmp_path / "good.toml")).returncode == 0


def test_command_errors_are_one_line(tmp_path):
    proc = main("run", str(tmp_path / "nope.toml"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "nope.toml: scenario file not found" in proc.stderr
