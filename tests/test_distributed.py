"""The distributed surface job: two gloo ranks launched by torchrun equal one process; a killed job
resumes without recomputing finished chunks; a folder of another setup is refused, also after its
manifest is deleted; a second job into the same folder is refused by the lock; damaged chunks are
reported and computed again; a dead rank stops the others within seconds; bad options are one
line. Failures are injected by tests/surface_hooks.py, never by production code."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.distributed import SurfaceJob, chunk_path, chunk_rows, run_job
from core.errors import LabError
from tests.surface_hooks import HOOKS_ENV, PLANE_MARK, STOPPED_EXIT

ROOT = Path(__file__).resolve().parents[1]
HOOKED = str(ROOT / "tests" / "surface_hooks.py")
# the lecture's 13-parameter net on moons, filter-normalized random directions (Li et al. 2018)
JOB = ["--problem", "net13", "--directions", "random", "--resolution", "23", "19",
       "--span", "-1.5", "1", "-1", "1.2", "--seed", "4", "--dtype", "float64", "--device", "cpu"]
TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(hooks: dict | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                          "MASTER_PORT", HOOKS_ENV)}
    env.update(GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), **extra)
    if hooks is not None:
        env[HOOKS_ENV] = json.dumps(hooks)
    return env


def surface(out: Path, *extra: str, ranks: int = 1, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``main.py surface`` in one process, or under ``torchrun`` with ``ranks`` gloo ranks on 127.0.0.1
    (through tests/surface_hooks.py when ``env`` injects failures)."""
    script = HOOKED if env is not None and HOOKS_ENV in env else "main.py"
    for _attempt in range(3):  # the free port can be taken between probe and bind: try another
        cmd = [sys.executable]
        if ranks > 1:
            cmd += ["-m", "torch.distributed.run", f"--nproc_per_node={ranks}", "--nnodes=1",
                    "--master_addr=127.0.0.1", f"--master_port={_free_port()}"]
        cmd += [script, "surface", *JOB, "--out", str(out), "--timeout", "60", *extra]
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
    assert manifest["job"]["seed"] == 4 and manifest["chunks"]["count"] == 5 and manifest["format"] == 2


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
    first = surface(tmp_path, "--chunks", "5", ranks=2, env=_env({"stop_after": 1}))
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
    proc = surface(tmp_path, "--chunks", "4", env=_env({"stop_after": 3}))
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


# -- what the folder must prove before it is trusted --------------------------------------------------

# the same job as JOB, in-process (same spec: the folder of `single` is this job's)
IN_PROCESS = SurfaceJob(problem="net13", directions="random", span=[[-1.5, 1.0], [-1.0, 1.2]],
                        resolution=[23, 19], seed=4, dtype="float64")


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted((out / "chunks").glob("chunk_*.npz"))}


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_a_changed_setup_after_the_manifest_is_deleted_is_refused(single, tmp_path):
    """Refused, not recomputed: the chunks of another setup are that job's results, and are neither
    reused (today: reused, exit 0) nor overwritten. The chunks carry their setup, so the error names
    the difference even with no manifest and no directions file."""
    out = tmp_path / "copy"
    shutil.copytree(single, out)
    (out / "manifest.json").unlink()
    before = _stamps(out)
    proc = surface(out, "--param", "noise=0.3")
    assert proc.returncode == 2
    assert "another surface job" in _one_error_line(proc.stderr) and "params.noise is null there, 0.3 here" in proc.stderr
    (out / "directions.npz").unlink()
    proc = surface(out, "--param", "noise=0.3")
    line = _one_error_line(proc.stderr)
    assert proc.returncode == 2 and "chunk_00000.npz" in line and "params.noise is null there, 0.3 here" in line
    proc = surface(out, "--seed", "5")
    assert proc.returncode == 2 and "seed is 4 there, 5 here" in _one_error_line(proc.stderr)
    assert _stamps(out) == before and not (out / "manifest.json").exists()
    # the same setup, still without its manifest (and without --chunks: the chunks say 5): all reused
    again = surface(out)
    assert again.returncode == 0, again.stderr
    assert computed(again) == [] and "5 already done" in again.stdout and _stamps(out) == before
    np.testing.assert_array_equal(values(out), values(single))


def test_the_job_plane_is_the_landscape_plane():
    """One plane type: the job deals out the rows of core.landscape's Plane, with its axis labels and
    directions kind, and its digest names the float64 numbers whatever object holds them."""
    import dataclasses

    from core import distributed, landscape
    from core.problems import make_problem

    assert distributed.Plane is landscape.Plane
    problem = make_problem("net13", {})
    pl = distributed.build_plane(problem, IN_PROCESS)
    ref = landscape.plane(problem, directions="random", span=IN_PROCESS.span, resolution=IN_PROCESS.resolution, seed=4)
    assert isinstance(pl, landscape.Plane) and pl.kind == "random" and pl.axis_labels == ref.axis_labels
    assert pl.axis_labels[0].startswith("filter-normalized")
    import torch

    again = landscape.Plane(**{k: torch.from_numpy(v) for k, v in pl.arrays().items()})
    assert again.digest() == pl.digest() == ref.digest()  # the digest reads the numbers as float64
    assert dataclasses.replace(pl, d1=pl.d1 * (1 + 1e-15)).digest() != pl.digest()


def test_the_setup_hash_covers_the_data_content():
    """Two problems with the same parameters but other data (a data file changed in place) have
    other setup hashes, though their job specs are equal."""
    from core.distributed import data_digest, setup_text
    from core.problems import make_problem

    a, b = make_problem("net13", {}), make_problem("net13", {})
    assert data_digest(a) == data_digest(b)
    X = b.X.clone()
    X[3, 1] += 1e-12  # one sample moved by 1e-12
    b = b.replace(X=X)
    assert data_digest(a) != data_digest(b)
    assert setup_text(IN_PROCESS, data_digest(a)) != setup_text(IN_PROCESS, data_digest(b))
    assert data_digest(make_problem("net13", {"noise": 0.3})) != data_digest(a)


def test_two_jobs_into_one_folder_the_second_is_refused(single, tmp_path):
    """The first job holds the folder's lock while its plane takes seconds to build; the second is
    refused at once, naming the first's process (today both pass the manifest check). The plane
    takes 12 s: the second process must start (import torch: about 4 s on a loaded 2-core machine)
    while the first still holds the lock."""
    first = subprocess.Popen([sys.executable, HOOKED, "surface", *JOB, "--out", str(tmp_path), "--chunks", "5"],
                             cwd=ROOT, env=_env({"slow_plane_s": 12}), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert first.stdout.readline().strip() == PLANE_MARK
        second = surface(tmp_path, "--chunks", "5")
        out, err = first.communicate(timeout=TIMEOUT)
    finally:
        first.kill()
    line = _one_error_line(second.stderr)
    assert second.returncode == 2 and "another surface job is writing here" in line and f"pid {first.pid}" in line
    assert computed(second) == []
    assert first.returncode == 0, err
    np.testing.assert_array_equal(values(tmp_path), values(single))
    # the lock went with the first job: a third run reuses everything
    third = surface(tmp_path)
    assert third.returncode == 0 and computed(third) == []


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x5A
    path.write_bytes(bytes(data))


def test_damaged_chunks_are_reported_and_computed_again(single, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(single, out)
    c1, c2, c3 = (chunk_path(out, i) for i in (1, 2, 3))
    c1.write_bytes(c1.read_bytes()[: c1.stat().st_size // 2])  # truncated
    c2.write_bytes(b"")  # empty
    _flip(c3, c3.stat().st_size // 2)  # one flipped byte amid the values (today: BadZipFile on every resume)
    kept = {k: v for k, v in _stamps(out).items() if k in ("chunk_00000.npz", "chunk_00004.npz")}
    proc = surface(out)
    assert proc.returncode == 0, proc.stderr
    assert computed(proc) == [1, 2, 3] and "2 already done" in proc.stdout
    reports = proc.stderr.strip().splitlines()
    assert len(reports) == 3 and all("damaged" in r and "computed again" in r for r in reports), proc.stderr
    assert [re.search(r"chunk_(\d+)", r).group(1) for r in reports] == ["00001", "00002", "00003"]
    assert {k: v for k, v in _stamps(out).items() if k in kept} == kept
    np.testing.assert_array_equal(values(out), values(single))  # same process, same rows: bit for bit


@pytest.mark.parametrize("where", [0.0, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97, 0.995])
def test_a_flipped_byte_anywhere_never_gives_a_wrong_surface(single, tmp_path, where):
    """Whatever byte of a chunk is flipped (zip headers, npy header, values, the central
    directory), the resume either finds it damaged and computes it again, or the byte carried no
    content (a time stamp) and the chunk verifies: the surface is the right one either way."""
    out = tmp_path / "copy"
    shutil.copytree(single, out)
    path = chunk_path(out, 2)
    _flip(path, int(where * path.stat().st_size))
    warnings: list[str] = []
    report = run_job(IN_PROCESS, out, device="cpu", log=None, warn=warnings.append)
    assert report.computed in ([], [2]) and len(warnings) == len(report.computed)
    assert all("chunk_00002.npz: damaged" in w for w in warnings)
    np.testing.assert_array_equal(values(out), values(single))


def test_the_merge_verifies_every_chunk(single, tmp_path, monkeypatch):
    """A chunk damaged after it was written (a disk, another writer) is caught by the merge,
    reported and computed again, never merged (today: BadZipFile in the merge)."""
    import core.distributed as d

    write = d._write_chunk

    def write_then_damage(out, index, *args, **kwargs):
        write(out, index, *args, **kwargs)
        if index == 2 and not getattr(write_then_damage, "done", False):
            write_then_damage.done = True
            _flip(chunk_path(out, index), chunk_path(out, index).stat().st_size // 2)

    monkeypatch.setattr(d, "_write_chunk", write_then_damage)
    warnings: list[str] = []
    logs: list[str] = []
    report = run_job(IN_PROCESS, tmp_path, chunks=5, device="cpu", log=logs.append, warn=warnings.append)
    assert report.computed == [0, 1, 2, 3, 4]
    assert len(warnings) == 1 and "chunk_00002.npz: damaged" in warnings[0]
    assert sum("computed chunk 2 " in line for line in logs) == 2  # once by the loop, once by the merge
    np.testing.assert_array_equal(values(tmp_path), values(single))


def _launch_two_ranks(out: Path, hooks: dict) -> list[subprocess.Popen]:
    """Two ranks started by hand (as a batch system does, no torchrun to stop the survivor): rank 0
    hosts the rendezvous store on a free port of 127.0.0.1."""
    port = str(_free_port())
    return [subprocess.Popen([sys.executable, HOOKED, "surface", *JOB, "--out", str(out), "--chunks", "5",
                              "--timeout", "600"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=_env(hooks, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                                      MASTER_PORT=port))
            for r in (0, 1)]


@pytest.mark.parametrize("how, dead", [("stop_after", 1), ("stop_after", 0), ("freeze_after", 1)])
def test_a_dead_rank_stops_the_others_within_seconds(single, tmp_path, how, dead):
    """A rank that exits (rank 1; rank 0, which hosts the store) or hangs (SIGSTOP: its heartbeat
    stops, as when its node drops off) stops the survivor with one line saying to rerun the same
    command, within seconds, not after --timeout (600 s here; 3600 s by default)."""
    procs = _launch_two_ranks(tmp_path, {how: 1, "ranks": [dead]})
    survivor, victim = procs[1 - dead], procs[dead]
    start = time.monotonic()
    try:
        out, err = survivor.communicate(timeout=60)
        waited = time.monotonic() - start
    finally:
        for p in procs:
            p.kill()
            p.communicate()
    assert waited < 30, f"survivor took {waited:.1f} s"
    if how == "stop_after":
        assert victim.returncode == STOPPED_EXIT
    line = _one_error_line(err)
    assert survivor.returncode == 2
    assert f"rank {dead} of 2" in line and "run the same command again to resume" in line and str(tmp_path) in line
    if how == "freeze_after":
        assert "no heartbeat" in line
    assert not (tmp_path / "surface.npz").exists()
    done = [i for i in range(5) if chunk_path(tmp_path, i).exists()]
    again = surface(tmp_path)  # the same command, in one process: only the missing chunks
    assert again.returncode == 0, again.stderr
    assert computed(again) == [i for i in range(5) if i not in done]
    np.testing.assert_allclose(values(tmp_path), values(single), rtol=1e-12, atol=1e-12)


# -- the options: validated like scenario keys, one line, exit 2, before any work --------------------


def _main(capsys, *argv: str) -> tuple[int, str]:
    import main

    code = main.main(["surface", *argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("extra, where, what", [
    (["--resolution", "100000"], "--resolution", "<= 4001"),
    (["--resolution", "1"], "--resolution", ">= 2"),
    (["--seed", "99999999999999999999"], "--seed", "<= 2147483647"),
    (["--seed", "-1"], "--seed", ">= 0"),
    (["--chunks", "0"], "--chunks", ">= 1"),
    (["--chunks", "20"], "chunks", "1..19"),
    (["--points-per-call", "0"], "--points-per-call", ">= 1"),
    (["--timeout", "0"], "--timeout", "> 0"),
    (["--timeout", "nan"], "--timeout", "finite"),
    (["--span", "-1", "nan", "-1", "1"], "--span", "finite"),
    (["--span", "1", "-1", "-1", "1"], "--span", "A0 < A1"),
    (["--center", "inf"], "--center", "finite"),
    (["--directions", "pca"], "--directions", "allowed: axes, random, hessian"),
    (["--split", "validation"], "--split", "allowed: train, test"),
    (["--param", "noise=NaN"], "--param.noise", "finite"),
])
def test_a_bad_option_is_one_line_before_any_work(capsys, tmp_path, extra, where, what):
    out = tmp_path / "out"
    code, err = _main(capsys, *JOB, "--out", str(out), *extra)
    line = _one_error_line(err)
    assert code == 2 and f"{where}: " in line and what in line, line
    assert not (out / "chunks").exists() or not any((out / "chunks").iterdir())


@pytest.mark.parametrize("extra, what", [(["--resolution", "100000"], "--resolution: expected an integer >= 2 and <= 4001"),
                                         (["--seed", "99999999999999999999"], "--seed: expected an integer >= 0")])
def test_a_bad_option_from_the_command_line(tmp_path, extra, what):
    proc = subprocess.run([sys.executable, "main.py", "surface", *JOB, "--out", str(tmp_path / "o"), *extra],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2 and what in _one_error_line(proc.stderr) and proc.stdout == ""
    assert not (tmp_path / "o").exists()


def test_a_one_parameter_problem_is_refused_as_the_scenario_path_refuses_it(capsys, tmp_path):
    """`--problem quartic` made a degenerate grid (two random directions in one dimension are the
    same line) and exited 0; the scenario path refused it. Now both say the same line."""
    code, err = _main(capsys, "--problem", "quartic", "--out", str(tmp_path / "a"))
    by_option = _one_error_line(err)
    scenario = tmp_path / "quartic.toml"
    scenario.write_text('format = 1\n[problem]\nkind = "quartic"\n[start]\npoints = [[1.0]]\n'
                        '[[optimizers]]\nkind = "gd"\nlr = 0.1\n')
    code2, err2 = _main(capsys, str(scenario), "--out", str(tmp_path / "b"))
    assert code == code2 == 2 and by_option == _one_error_line(err2)
    assert "2-D grids; 'quartic' has 1 parameter(s), so its slice is a line" in by_option
    code3, err3 = _main(capsys, "--problem", "quartic", "--directions", "hessian", "--out", str(tmp_path / "c"))
    assert code3 == 2 and _one_error_line(err3) == by_option  # today an IndexError
    assert not any((tmp_path / d).exists() for d in "abc")


def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = _main(capsys, *JOB, "--out", str(blocker / "sub"))
    assert code == 2 and "cannot be created" in _one_error_line(err)
    out = tmp_path / "out"
    out.mkdir()
    (out / "chunks").write_text("not a folder")
    code, err = _main(capsys, *JOB, "--out", str(out))
    assert code == 2 and "chunks: is a file, not a folder" in _one_error_line(err)
    (out / "chunks").unlink()
    (out / "chunks").mkdir()
    chunk_path(out, 0).mkdir()  # a folder where a chunk goes: refused before computing, not after
    code, err = _main(capsys, *JOB, "--out", str(out), "--chunks", "5")
    assert code == 2 and "chunk_00000.npz" in _one_error_line(err) and "not a regular file" in err
    assert not (out / "manifest.json").exists()


def test_a_read_only_chunks_folder_is_one_line_before_any_work(capsys, tmp_path, monkeypatch):
    """chmod 555 does not stop root (CI runs as root), so the OS's refusal is also simulated: every
    file creation under chunks/ fails with EROFS, as on a read-only mount."""
    import errno

    import core.files

    out = tmp_path / "out"
    (out / "chunks").mkdir(parents=True)
    (out / "chunks").chmod(0o555)
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & os.O_CREAT and Path(path).parent == out / "chunks":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(core.files.os, "open", read_only)
    try:
        code, err = _main(capsys, *JOB, "--out", str(out))
    finally:
        (out / "chunks").chmod(0o755)
    assert code == 2 and "cannot write here" in _one_error_line(err)
    assert not any((out / "chunks").iterdir())


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
