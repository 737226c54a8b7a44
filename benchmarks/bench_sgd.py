"""Stochastic-gradient steps against exact-gradient steps, and against the old random draws, same run.

    .venv/bin/python benchmarks/bench_sgd.py [--trajectories 10000] [--steps 64] [--repeats 3] [--json PATH]

Per-step time of ``core.engine.run`` at B trajectories on least squares (n = 200 samples, d = 2,
the ``linear_sgd_minibatch`` lesson's problem): GD (exact gradients), SGD with the noise model
``g + sigma xi`` and minibatch SGD (m = 10), interleaved and best of ``--repeats``. Issue 15's
target: both SGD steps within 1.5x of the exact step (ratio = GD time / SGD time >= 1/1.5). A
second figure per kind is the speed-up over the implementation it replaced: per-trajectory
``torch.Generator`` s drawn in Python loops over rows, and the full-batch loss of minibatch rows
recomputed by a second forward pass. That implementation is kept here, verbatim, as the baseline
(``_OldRandomness``, ``_old_evaluate``), patched into the engine for its timings. The noise model
on a toy (Rosenbrock), where an exact step is cheapest, is reported too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core.engine as engine  # noqa: E402
from core.engine import Group, run  # noqa: E402
from core.problems import make_problem  # noqa: E402
from core.problems.linear import synthetic  # noqa: E402


class _OldRandomness:
    """The engine's draws before issue 15 (baseline only): per-trajectory generators, drawn in blocks."""

    BLOCK = 64

    def __init__(self, seeds: Sequence[int]) -> None:
        self.seeds = list(seeds)
        self._gens: dict[int, torch.Generator] = {}
        self._noise: dict[int, Tensor] = {}
        self._perm: dict[int, tuple[Tensor, int]] = {}

    def gen(self, row: int) -> torch.Generator:
        if row not in self._gens:
            self._gens[row] = torch.Generator().manual_seed(int(self.seeds[row]))
        return self._gens[row]

    def noise(self, rows: Sequence[int], step: int, dim: int) -> Tensor:
        k = step % self.BLOCK
        if k == 0 or rows[0] not in self._noise:
            for r in rows:
                self._noise[r] = torch.randn(self.BLOCK, dim, generator=self.gen(r), dtype=torch.float64)
        return torch.stack([self._noise[r][k] for r in rows])

    def minibatch(self, rows: Sequence[int], n: int, m: int) -> Tensor:
        out = []
        for r in rows:
            perm, pos = self._perm.get(r, (None, n))
            if pos + m > n:
                perm, pos = torch.randperm(n, generator=self.gen(r)), 0
            out.append(perm[pos:pos + m])
            self._perm[r] = (perm, pos + m)
        return torch.stack(out)


def _old_evaluate(problem, theta, t, rng, noisy, minibatch, full_idx, all_full):
    """The engine's ``_evaluate`` before issue 15 (baseline only)."""
    if all_full:
        loss, grad = problem.loss_and_grad(theta)
    else:
        loss = torch.empty(theta.shape[0], dtype=theta.dtype, device=theta.device)
        grad = torch.empty_like(theta)
        if full_idx.numel():
            loss[full_idx], grad[full_idx] = problem.loss_and_grad(theta[full_idx])
        for m, rows in minibatch.items():
            idx = rng.minibatch(rows, problem.n_samples, m).to(theta.device)
            _, grad[rows] = problem.loss_and_grad(theta[rows], idx)
            with torch.no_grad():
                loss[rows] = problem.loss(theta[rows])
    for s, sigma in noisy:
        xi = rng.noise(list(range(s.start, s.stop)), t, theta.shape[1]).to(theta)
        grad[s] = grad[s] + sigma * xi
    return loss, grad


@contextmanager
def old_engine():
    saved = engine._Randomness, engine._evaluate
    engine._Randomness, engine._evaluate = _OldRandomness, _old_evaluate
    try:
        yield
    finally:
        engine._Randomness, engine._evaluate = saved


def per_step(problem, kw: dict, B: int, steps: int, lr: float) -> float:
    group = Group("x", "sgd", [{"lr": lr}], torch.zeros(B, problem.dim, dtype=torch.float64), **kw)
    t0 = time.perf_counter()
    run(problem, [group], steps, record_params=False, progress_every=0)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajectories", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=64, help="steps per timed run (64: one block of the old noise draws)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--old-repeats", type=int, default=1, help="repeats of the (slow) old implementation")
    from _common import add_json_option, check_json_target, record, write_json

    add_json_option(ap)
    a = ap.parse_args()
    check_json_target(a.json)
    B, S = a.trajectories, a.steps
    ls = synthetic(n=200, d=2, singular_values=[1.0, 0.5], angle=30.0, w_true=[1.0, -1.0], noise=1.0, seed=2)
    toy = make_problem("rosenbrock")
    cases = {"gd": (ls, {}, 0.1), "noise": (ls, {"noise": 0.5}, 0.1), "minibatch": (ls, {"batch_size": 10}, 0.1),
             "toy_gd": (toy, {}, 1e-4), "toy_noise": (toy, {"noise": 0.5}, 1e-4)}
    for p, kw, lr in cases.values():  # warm-up
        per_step(p, kw, 64, 3, lr)
    best = {k: float("inf") for k in cases}
    for _ in range(a.repeats):  # interleaved: a busy machine slows every case alike
        for k, (p, kw, lr) in cases.items():
            best[k] = min(best[k], per_step(p, kw, B, S, lr))
    old = {"noise": float("inf"), "minibatch": float("inf"), "toy_noise": float("inf")}
    with old_engine():
        for _ in range(a.old_repeats):
            for k in old:
                p, kw, lr = cases[k]
                old[k] = min(old[k], per_step(p, kw, B, S, lr))
    print(f"SGD steps at B = {B} trajectories ({S} steps per run, best of {a.repeats}; old: best of {a.old_repeats}), "
          f"{torch.get_num_threads()} threads")
    print(f"  least squares n = 200, d = 2:   GD {best['gd'] * 1e3:8.2f} ms/step")
    records = []
    for k, exact in (("noise", "gd"), ("minibatch", "gd"), ("toy_noise", "toy_gd")):
        ours, ex, was = best[k], best[exact], old[k]
        print(f"  {k:10s}: {ours * 1e3:8.2f} ms/step = {ours / ex:5.2f}x the exact step ({best[exact] * 1e3:.2f} ms; target <= 1.5x);"
              f" old {was * 1e3:8.2f} ms/step = {was / ex:5.1f}x exact; speed-up {was / ours:5.1f}x")
        records.append(record(f"sgd_{k}_{B}_step", ours, baseline=f"{exact} exact-gradient step, same run",
                              baseline_s=ex, target=1 / 1.5))
        records.append(record(f"sgd_{k}_{B}_step_vs_old", ours, baseline="per-trajectory torch.Generator (before issue 15)",
                              baseline_s=was))
    write_json(a.json, records)


if __name__ == "__main__":
    main()
