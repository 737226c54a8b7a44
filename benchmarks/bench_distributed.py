"""Wall time of one surface job on 1 rank vs 2 gloo ranks (torchrun, this machine), as a speed-up and
a parallel efficiency; the grids of all runs must agree.

    .venv/bin/python benchmarks/bench_distributed.py            # MLP [64] on 4000 moons, 101 x 101
    .venv/bin/python benchmarks/bench_distributed.py --ranks 4 --problem heart_net

Runs, each into a fresh folder, as a user would launch them:
  A. ``torchrun --nproc_per_node=1`` with OMP_NUM_THREADS=1 (one rank, one core)
  B. ``torchrun --nproc_per_node=R`` with OMP_NUM_THREADS=1 (R ranks, one core each)
  C. ``main.py surface`` without torchrun, torch's default threads (one process, every core)
speed-up = A / B, efficiency = speed-up / R; C / B says whether ranks beat intra-op threads.
"wall" is the whole command (interpreter, torch import, rendezvous); "job" is the time inside
the job (plane, chunks, merge) as the job reports it; "cpu" the user + system seconds of all the
processes, so cpu / wall says how many cores the run actually got; each is the best of ``--repeat`` runs (other
work on a shared machine only ever slows a run down). Not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(job: list[str], out: Path, ranks: int | None, threads: int | None) -> tuple[float, float, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(GLOO_SOCKET_IFNAME="lo")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    else:
        env.pop("OMP_NUM_THREADS", None)
    cmd = [sys.executable]
    if ranks:
        cmd += ["-m", "torch.distributed.run", f"--nproc_per_node={ranks}", "--nnodes=1",
                "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
    cmd += ["main.py", "surface", *job, "--out", str(out)]
    t, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    wall, cpu = time.perf_counter() - t, _children_cpu() - cpu
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    inner = float(re.search(r"wrote .* in ([\d.]+) s", proc.stdout).group(1))
    return wall, inner, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problem", default="mlp")
    ap.add_argument("--param", action="append", default=None, help="KEY=VALUE (default: moons, n=4000, hidden=[64])")
    ap.add_argument("--resolution", type=int, default=101)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--points-per-call", type=int, help="passed on to main.py surface (default: automatic)")
    args = ap.parse_args()
    params = args.param if args.param is not None else (
        ["dataset=moons", "n=4000", "hidden=[64]"] if args.problem == "mlp" else [])
    job = ["--problem", args.problem, *[x for p in params for x in ("--param", p)], "--directions", "random",
           "--resolution", str(args.resolution), "--chunks", str(args.chunks), "--device", "cpu", "--dtype", "float32"]
    if args.points_per_call:
        job += ["--points-per-call", str(args.points_per_call)]
    print(f"job: main.py surface {' '.join(job)}")
    print(f"machine: {os.cpu_count()} CPU cores, load average before: {os.getloadavg()[0]:.2f}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    try:
        configs = [("A  1 rank  x 1 thread (torchrun)", 1, 1),
                   (f"B  {args.ranks} ranks x 1 thread (torchrun, gloo)", args.ranks, 1),
                   ("C  1 process, default threads (no torchrun)", None, None)]
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in configs}
        grids = {}
        for k in range(args.repeat):  # interleaved, so that a burst of other load hits every config alike
            for i, (name, ranks, threads) in enumerate(configs):
                out = tmp / f"run{i}_{k}"
                runs[name].append(run(job, out, ranks, threads))
                with np.load(out / "surface.npz") as z:
                    grids[name] = z["values"]
        times = {}
        for name, _, _ in configs:
            best = min(runs[name])  # the run with the least wall time
            times[name] = (best[0], min(r[1] for r in runs[name]), best[2])
            w, j, c = times[name]
            print(f"{name:48s} wall {w:7.2f} s   job {j:7.2f} s   cpu {c:7.2f} s ({c / w:.2f} cores busy)", flush=True)
        ref = grids[configs[0][0]]
        diff = max(float(np.nanmax(np.abs(g - ref))) for g in grids.values())
        (a_wall, a_job, _), (b_wall, b_job, _), (c_wall, c_job, _) = (times[c[0]] for c in configs)
        print(f"max |difference| between the grids: {diff:.3g}")
        print(f"speed-up {args.ranks} ranks vs 1 rank: wall {a_wall / b_wall:.2f}x (efficiency {a_wall / b_wall / args.ranks:.0%}), "
              f"job {a_job / b_job:.2f}x (efficiency {a_job / b_job / args.ranks:.0%})")
        print(f"{args.ranks} ranks vs 1 process with default threads: wall {c_wall / b_wall:.2f}x, job {c_job / b_job:.2f}x")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
