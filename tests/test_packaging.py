"""The wheel works outside the checkout: a clean, non-editable ``pip install .`` into a new venv
runs ``landscape-lab --help``, ``landscape-lab run <a shipped lesson>`` and ``check`` from a
temporary folder, on the installed code and data (not the checkout's).

Offline by construction, here and in CI: the new venv is created without pip (Python 3.11's
``ensurepip`` would also bring its own old setuptools) and sees this venv's packages (pip,
setuptools, torch, PyQt6 ...) through a ``.pth`` line, so its ``python -m pip install --no-deps
--no-build-isolation --no-index`` builds and installs only this project, downloading nothing. A ``.pth`` path line adds the folder without running that folder's own
``.pth`` files, so this venv's editable install of the checkout is *not* visible in the new one
(the test checks where ``core`` is imported from). The source is copied first, so the build's
``build/`` and ``*.egg-info`` never land in the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = (".git", ".venv", "build", "dist", "runs", "out", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis",
        ".venv-peers", "*.pyc")

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """``(venv, env, work)``: the project installed from a copy of the checkout into a new venv, an
    environment with the checkout nowhere on the path, and an empty folder to run in."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*SKIP))
    venv = base / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", QT_QPA_PLATFORM="offscreen",
               PYTHONDONTWRITEBYTECODE="1")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base, env, timeout=300)
    py = venv / "bin" / "python"
    new_site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True, env=env).stdout.strip())
    # this venv's packages, after the new venv's own (so the installed project shadows nothing and
    # nothing shadows it: the project itself is not among them, see the module docstring)
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))  # lib and lib64 where they differ
    (new_site / "zz_test_packaging_deps.pth").write_text("".join(f"{p}\n" for p in ours))
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", str(src)], base, env, timeout=600)
    work = base / "work"
    work.mkdir()
    return venv, env, work


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    venv, env, work = installed
    out = _run([str(venv / "bin" / "python"), "-c",
                "import json, core, commands, lab, scenarios, main; from core.datasets import read_heart; "
                "print(json.dumps({'core': core.__file__, 'commands': commands.__file__, 'scenarios': str(scenarios.FOLDER),"
                " 'default': str(scenarios.DEFAULT), 'lessons': len(scenarios.lessons()), 'heart_rows': len(read_heart()['age']),"
                " 'open_default': main.build_parser().parse_args(['open']).file}))"], work, env).stdout
    where = json.loads(out)
    for key in ("core", "commands", "scenarios", "default"):
        assert Path(where[key]).is_relative_to(venv), (key, where[key])  # installed, not the checkout
    assert not Path(where["core"]).is_relative_to(ROOT)
    assert where["lessons"] == len(list((ROOT / "scenarios").glob("*.toml"))) > 20  # the whole lesson library
    assert where["heart_rows"] == 303  # core/data/heart_cleveland.csv, read with importlib.resources
    assert where["open_default"] == where["default"] and Path(where["default"]).is_file()


def test_landscape_lab_help_and_run_a_shipped_lesson_from_a_temporary_folder(installed):
    venv, env, work = installed
    exe = venv / "bin" / "landscape-lab"
    helped = _run([str(exe), "--help"], work, env).stdout
    assert "usage: landscape-lab" in helped and all(c in helped for c in ("open", "run", "check", "export", "surface"))
    lesson = _run([str(venv / "bin" / "python"), "-c", "import scenarios; print(scenarios.FOLDER / 'quartic_gd.toml')"],
                  work, env).stdout.strip()
    out = work / "quartic"
    ran = _run([str(exe), "run", lesson, "--out", str(out), "--device", "cpu"], work, env)
    assert f"wrote {out}" in ran.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["title"].startswith("Gradient descent on the lecture's quartic")
    assert summary["expectations"] and all(e["passed"] for e in summary["expectations"])
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0] == "optimizer,step,loss,grad_norm,x0" and len(lines) == 1 + 41  # steps 0..40 of one optimizer
    # a data lesson: the heart table comes from the installed package data
    checked = _run([str(exe), "check", str(Path(lesson).with_name("linear_heart.toml")), "--device", "cpu"], work, env)
    assert "linear_heart" in checked.stdout
    # nothing but the output (and its lock, core.files.FolderLock) was written where it ran
    assert {p.name for p in work.iterdir()} - {".quartic.lock"} == {"quartic"}


def test_main_py_run_from_another_folder_finds_the_default_scenario(tmp_path):
    """``python /path/to/main.py`` from elsewhere: the default scenario is the checkout's lesson."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONPATH", None)
    proc = _run([sys.executable, str(ROOT / "main.py"), "open", "--help"], tmp_path, env)
    assert "quartic_gd.toml" in proc.stdout
    probe = _run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import main; "
                  "print(main.build_parser().parse_args(['open']).file)", str(ROOT)], tmp_path, env).stdout.strip()
    assert Path(probe) == ROOT / "scenarios" / "quartic_gd.toml" and Path(probe).is_file()
