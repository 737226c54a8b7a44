"""Batched Adam trajectories vs a loop of torch.optim.Adam, same problem, same run.

    .venv/bin/python benchmarks/bench_optimizers.py [--trajectories 10000] [--steps 1000] [--loop-sample 100] [--json PATH]

The batched side advances all trajectories of Rosenbrock together through core.engine (one
gradient call and one Adam update per step for the whole batch). The peer is what one writes with
torch.optim: one parameter tensor and one torch.optim.Adam per trajectory, stepped in a Python
loop. Looping over all 10,000 would take many minutes, so the loop runs the full step count on
``--loop-sample`` of the same trajectories and its rate (trajectory-steps per second) is compared
with the batched rate; the sampled trajectories' final points are checked equal to the batched ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine import Group, run  # noqa: E402
from core.problems import make_problem  # noqa: E402


def starts(n: int, dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([4.0, 4.0]) - torch.tensor([2.0, 1.0])).to(dtype)


def batched(n: int, steps: int, dtype: torch.dtype, lr: float) -> tuple[float, torch.Tensor]:
    p = make_problem("rosenbrock")
    group = Group("Adam", "adam", [{"lr": lr}], starts(n, torch.float64))
    t0 = time.perf_counter()
    r = run(p, [group], steps, dtype=dtype, record_params=False, diverge_bound=1e12, loss_bound=1e30)
    return time.perf_counter() - t0, r.final_theta


def looped(n: int, steps: int, dtype: torch.dtype, lr: float) -> tuple[float, torch.Tensor]:
    s = starts(n, dtype)
    finals = []
    t0 = time.perf_counter()
    for i in range(n):
        w = s[i].clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr, foreach=False)
        for _ in range(steps):
            opt.zero_grad()
            loss = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
            loss.backward()
            opt.step()
        finals.append(w.detach().clone())
    return time.perf_counter() - t0, torch.stack(finals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajectories", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=1_000)
    ap.add_argument("--loop-sample", type=int, default=100)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    ap.add_argument("--lr", type=float, default=0.01)
    from _common import add_json_option, check_json_target, record, write_json

    add_json_option(ap)
    a = ap.parse_args()
    check_json_target(a.json)
    dtype = getattr(torch, a.dtype)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    batched(64, 20, dtype, a.lr)  # warm-up
    tb, final_b = batched(a.trajectories, a.steps, dtype, a.lr)
    sample = min(a.loop_sample, a.trajectories)
    tl, final_l = looped(sample, a.steps, dtype, a.lr)
    same = torch.allclose(final_b[:sample], final_l, rtol=1e-9 if dtype == torch.float64 else 1e-4, atol=1e-9 if dtype == torch.float64 else 1e-5)
    rate_b = a.trajectories * a.steps / tb
    rate_l = sample * a.steps / tl
    print(f"Adam on Rosenbrock, {a.trajectories} trajectories x {a.steps} steps, {a.dtype}, {torch.get_num_threads()} threads")
    print(f"  batched (core.engine)        : {tb:8.2f} s   {rate_b:14,.0f} trajectory-steps/s")
    print(f"  loop of torch.optim.Adam     : {tl:8.2f} s   {rate_l:14,.0f} trajectory-steps/s  ({sample} trajectories timed)")
    print(f"  loop time for all, estimated : {a.trajectories / sample * tl:8.1f} s")
    print(f"  speed-up (batched / loop)    : {rate_b / rate_l:8.0f}x   (target >= 100x)")
    print(f"  sampled final points equal   : {same}")
    # the loop's time for all trajectories, estimated from the sample (its ratio is the rates' ratio)
    write_json(a.json, [record(f"adam_{a.trajectories}x{a.steps}_batched", tb, baseline="torch.optim.Adam loop",
                               baseline_s=a.trajectories / sample * tl, target=100)])
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
