"""The distributed surface job: two gloo ranks launched by torchrun equal one process; a killed job
resumes without recomputing finished chunks; a folder of another setup is refused."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.distributed import STOP_AFTER_ENV, STOPPED_EXIT, SurfaceJob, chunk_path, chunk_rows, run_job
from core.errors import LabError

ROOT = Path(__file__).resolve().parents[1]
# the lecture's 13-parameter net on moons, filter-normalized random directions (Li et al. 2018)
JOB = ["--problem", "net13", "--directions", "random", "--resolution", "23", "19",
       "--span", "-1.5", "1", "-1", "1.2", "--seed", "4", "--dtype", "float64", "--device", "cpu"]
TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", STOP_AFTER_ENV)}
    env.update(GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), **extra)
    return env


def surface(out: Path, *extra: str, ranks: int = 1, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``main.py surface`` in one process, or under ``torchrun`` with ``ranks`` gloo ranks on 127.0.0.1."""
    for _attempt in range(3):  # the free port can be taken between probe and bind: try another
        cmd = [sys.executable]
        if ranks > 1:
            cmd += ["-m", "torch.distributed.run", f"--nproc_per_node={ranks}", "--nnodes=1",
                    "--master_addr=127.0.0.1", f"--master_port={_free_port()}"]
        cmd += ["main.py", "surface", *JOB, "--out", str(out), "--timeout", "60", *extra]
        proc = subprocess.run(cmd, cwd=ROOT, env=env or _env(), capture_output=True, text=True, timeout=TIMEOUT)
        if "address already in use" not in proc.stderr.lower():
            break
    return proc


def computed(proc: subprocess.CompletedProcess) -> list[int]:
    return sorted(int(m) for m in re.findall(r"computed chunk (\d+)", proc.stdout))


def values(out: Path) -> np.ndarray:
    with np.load(out / "surface.npz") as z:
        return z["values"]


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single")
    proc = surface(out, "--chunks", "5")
    assert proc.returncode == 0, proc.stderr
    assert computed(proc) == [0, 1, 2, 3, 4]
    return out


def test_chunk_rows_cover_the_grid_once():
    rows = chunk_rows(19, 5)
    assert rows[0][0] == 0 and rows[-1][1] == 19
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    assert {b - a for a, b in rows} == {3, 4}
    with pytest.raises(LabError, match="chunks"):
        chunk_rows(19, 20)


def test_single_process_equals_compute_surface(single):
    """The job's merged grid is the one core.landscape.compute_surface computes in one call."""
    import torch

    from core.landscape import Surface, compute_surface
    from core.problems import make_problem

    problem = make_problem("net13").to("cpu", torch.float64)
    ref = compute_surface(problem, directions="random", span=[[-1.5, 1.0], [-1.0, 1.2]], resolution=[23, 19], seed=4)
    got = Surface.from_npz(single / "surface.npz")
    assert got.values.shape == (19, 23) and got.kind == "random" and got.axis_labels == ref.axis_labels
    for key in ("alphas", "betas", "theta0", "d1", "d2"):
        torch.testing.assert_close(getattr(got, key), getattr(ref, key), rtol=0, atol=0)
    torch.testing.assert_close(got.values, ref.values, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got.accuracy, ref.accuracy, rtol=0, atol=0)
    manifest = json.loads((single / "manifest.json").read_text())
    assert manifest["job"]["seed"] == 4 and manifest["chunks"]["count"] == 5 and manifest["format"] == 1


def test_two_gloo_ranks_equal_one_process(single, tmp_path):
    proc = surface(tmp_path, "--chunks", "5", ranks=2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    by_rank = {r: sorted(int(c) for c in re.findall(rf"\[rank {r}/2\] computed chunk (\d+)", proc.stdout)) for r in (0, 1)}
    assert by_rank == {0: [0, 2, 4], 1: [1, 3]}  # both ranks worked, each chunk once
    with np.load(single / "directions.npz") as a, np.load(tmp_path / "directions.npz") as b:
        for key in ("theta0", "d1", "d2"):
            np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_allclose(values(tmp_path), values(single), rtol=1e-12, atol=1e-12)


def test_killed_job_resumes_without_recomputing(single, tmp_path):
    # two ranks, each "killed" (os._exit, no clean-up) right after writing its first chunk
    first = surface(tmp_path, "--chunks", "5", ranks=2, env=_env(**{STOP_AFTER_ENV: "1"}))
    assert first.returncode != 0
    assert not (tmp_path / "surface.npz").exists()
    done = [i for i in range(5) if chunk_path(tmp_path, i).exists()]
    assert 1 <= len(done) < 5
    stamps = {i: (chunk_path(tmp_path, i).stat().st_ino, chunk_path(tmp_path, i).stat().st_mtime_ns) for i in done}
    # restarted in one process (another world size is fine): only the missing chunks are computed
    second = surface(tmp_path)
    assert second.returncode == 0, second.stderr
    assert computed(second) == [i for i in range(5) if i not in done]
    assert f"{len(done)} already done" in second.stdout
    for i, stamp in stamps.items():
        st = chunk_path(tmp_path, i).stat()
        assert (st.st_ino, st.st_mtime_ns) == stamp
    np.testing.assert_allclose(values(tmp_path), values(single), rtol=1e-12, atol=1e-12)


def test_stop_hook_in_one_process_leaves_exactly_k_chunks(tmp_path):
    proc = surface(tmp_path, "--chunks", "4", env=_env(**{STOP_AFTER_ENV: "3"}))
    assert proc.returncode == STOPPED_EXIT
    assert [chunk_path(tmp_path, i).exists() for i in range(4)] == [True, True, True, False]


def test_a_different_setup_is_refused(single, tmp_path):
    job = SurfaceJob(problem="net13", directions="random", span=[[-1.5, 1.0], [-1.0, 1.2]],
                     resolution=[23, 19], seed=4, dtype="float64")
    report = run_job(job, tmp_path, chunks=5, device="cpu", log=None)  # same job in-process: same folder layout
    assert report.total == 5 and report.computed == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(values(tmp_path), values(single), rtol=1e-12, atol=1e-12)
    again = run_job(job, tmp_path, device="cpu", log=None)
    assert again.computed == [] and again.reused == 5
    with pytest.raises(LabError, match=r"manifest\.json: .*another surface job \(seed is 4 there, 5 here\)"):
        run_job(SurfaceJob(**{**vars(job), "seed": 5}), tmp_path, device="cpu", log=None)
    with pytest.raises(LabError, match=r"params\.data_seed is null there, 1 here"):
        run_job(SurfaceJob(**{**vars(job), "params": {"data_seed": 1}}), tmp_path, device="cpu", log=None)
    with pytest.raises(LabError, match=r"chunks is 5 there, 7 here"):
        run_job(job, tmp_path, chunks=7, device="cpu", log=None)


def test_refusal_is_one_line_on_every_rank(single, tmp_path):
    """Under torchrun rank 0 checks the folder; every rank stops with its one-line message."""
    proc = surface(single, "--seed", "9", ranks=2)
    assert proc.returncode != 0
    # one message per rank (the two ranks share stderr, so their lines may interleave)
    assert proc.stderr.count("another surface job (seed is 4 there, 9 here)") == 2
    assert not re.search(r'File ".*(core|commands)/', proc.stderr)  # torchrun's own summary aside, no traceback


def test_stored_directions_are_checked(single, tmp_path):
    import shutil

    shutil.copytree(single, tmp_path / "copy")
    out = tmp_path / "copy"
    with np.load(out / "directions.npz") as z:
        arrays = dict(z)
    arrays["d1"] = arrays["d1"] * 2
    np.savez(out / "directions.npz", **arrays)
    proc = surface(out)
    assert proc.returncode == 2 and "do not match the manifest's sha256" in proc.stderr


SCENARIO = """
format = 1
title = "surface job from a scenario"
seed = 7
dtype = "float64"
steps = 5

[problem]
kind = "quadratic"
eigenvalues = [1.0, 25.0]
angle = 30.0

[start]
points = [[1.0, 1.0]]

[[optimizers]]
kind = "gd"
lr = 0.01

[view]
directions = "axes"
span = [[-2.0, 2.0], [-1.0, 1.0]]
resolution = 9
"""


def _args(*argv: str):
    import main

    return main.build_parser().parse_args(["surface", *argv])


def test_scenario_sets_the_job_and_options_override(tmp_path):
    from commands.surface import job_from_args

    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    job, device, scenario = job_from_args(_args(str(path), "--out", str(tmp_path / "o"), "--resolution", "9", "5"))
    assert (job.problem, job.params, job.directions, job.seed, job.resolution) == (
        "quadratic", {"eigenvalues": [1.0, 25.0], "angle": 30.0}, "axes", 7, [9, 5])
    assert job.span == [[-2.0, 2.0], [-1.0, 1.0]] and device == "auto" and scenario["file"] == str(path)
    report = run_job(job, tmp_path / "o", device="cpu", log=None)
    with np.load(report.surface) as z:
        v, a, b = z["values"], z["alphas"], z["betas"]
    assert v.shape == (5, 9)
    # axes: the parameter plane itself, f = 0.5 w^T A w with A = R diag(1, 25) R^T
    import math

    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    R = np.array([[c, -s], [s, c]])
    A = R @ np.diag([1.0, 25.0]) @ R.T
    w = np.array([a[2], b[4]])
    np.testing.assert_allclose(v[4, 2], 0.5 * w @ A @ w, rtol=1e-12)

    path.write_text(SCENARIO.replace('directions = "axes"', 'directions = "pca"'))
    with pytest.raises(LabError, match=r"view\.directions: directions 'pca' need a trajectory"):
        job_from_args(_args(str(path), "--out", str(tmp_path / "p")))
    with pytest.raises(LabError, match=r"--param: expected KEY=VALUE"):
        job_from_args(_args("--problem", "bowl", "--param", "x", "--out", str(tmp_path / "q")))


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU (NCCL backend)")
def test_nccl_ranks_on_gpus_equal_the_cpu_result(single, tmp_path):
    import torch

    ranks = min(2, torch.cuda.device_count())
    env = _env()
    env.pop("GLOO_SOCKET_IFNAME")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={ranks}", "--nnodes=1",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           "main.py", "surface", *JOB[:-1], "cuda", "--out", str(tmp_path), "--chunks", "5", "--timeout", "60"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "manifest.json").read_text())["created"]["device"].startswith("cuda")
    np.testing.assert_allclose(values(tmp_path), values(single), rtol=1e-10, atol=1e-10)
