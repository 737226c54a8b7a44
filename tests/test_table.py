"""Run.table and the predicted momentum / Nesterov curves without Python loops (issue 15 item 3).

Each is compared with the implementation it replaced (tests/reference.py keeps those, for these
tests and for benchmarks/bench_tables.py's baselines)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from core import theory
from core.engine import Group, Run, run
from core.problems import make_problem
from tests.reference import error_curves_stepped, table_one_frame_per_trajectory


# --- Run.table ------------------------------------------------------------------------------------
def _diverging_run() -> Run:
    """GD on a quadratic at lrs on both sides of 2 / L: some trajectories stop early (diverged)."""
    p = make_problem("quadratic", {"eigenvalues": [1.0, 10.0]})
    lrs = [{"lr": v} for v in (0.05, 0.19, 0.21, 0.3)]
    starts = torch.tensor([[1.0, 1.0], [-2.0, 0.5], [0.3, -1.0], [2.0, 2.0]], dtype=torch.float64)
    return run(p, [Group("GD", "gd", lrs, starts), Group("HB", "momentum", [{"lr": 0.1, "momentum": 0.95}], starts[:2])], 300)


def test_table_equals_one_frame_per_trajectory_with_diverged_rows_left_out():
    r = _diverging_run()
    assert any(r.diverged(i) for i in range(r.size)) and not all(r.diverged(i) for i in range(r.size))
    table = r.table()
    pd.testing.assert_frame_equal(table, table_one_frame_per_trajectory(r), check_exact=True)
    assert len(table) == sum(r.last_step(i) + 1 for i in range(r.size))
    assert list(table.columns) == ["optimizer", "step", "loss", "grad_norm", "x0", "x1"]


def test_table_without_coordinates_equals_the_old_one():
    big = make_problem("rastrigin", {"dim": 11})
    r = run(big, [Group("GD", "gd", [{"lr": 1e-3}, {"lr": 0.5}], torch.ones(2, 11))], 7)
    pd.testing.assert_frame_equal(r.table(), table_one_frame_per_trajectory(r), check_exact=True)


def test_optional_per_step_tensors_become_columns_after_grad_norm():
    r = _diverging_run()
    extra = torch.arange(r.loss.numel(), dtype=torch.float64).reshape(r.loss.shape)
    object.__setattr__(r, "test_loss", extra)  # whichever optional column: the table adds it generically
    table = r.table()
    assert list(table.columns)[:5] == ["optimizer", "step", "loss", "grad_norm", "test_loss"]
    pd.testing.assert_frame_equal(table, table_one_frame_per_trajectory(r), check_exact=True)
    i = 2
    rows = table[table.optimizer == r.labels[i]]
    np.testing.assert_array_equal(rows.test_loss.to_numpy(), extra[: r.last_step(i) + 1, i].numpy())


# --- momentum / Nesterov curves ----------------------------------------------------------------
def _roots(kind, hyper, h):
    T, D = theory.char_poly(kind, hyper, h)
    return T * T - 4 * D


# the optimal heavy ball and Nesterov on [1, 100] put a double root at both ends; at lr 0.05,
# momentum 0.9 every h in (0.06, 75) has complex roots; weight decay and dampening change T and D
CASES = [
    ("momentum", {"lr": 0.01, "momentum": 0.5}, [1.0, 5.0, 100.0]),  # real distinct roots
    ("momentum", {"lr": 0.05, "momentum": 0.9}, [0.5, 30.0, 60.0]),  # complex roots (spirals)
    ("momentum", theory.optimal("momentum", 1.0, 100.0)[0], [1.0, 10.0, 100.0]),  # double roots at 1 and 100
    ("momentum", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}, [0.5, 3.0, 40.0]),
    ("momentum_lowpass", {"lr": 0.2, "beta": 0.8}, [0.1, 2.0, 9.0]),
    ("nesterov", {"lr": 0.01, "momentum": 0.9}, [1.0, 20.0, 99.0]),
    ("nesterov", theory.optimal("nesterov", 1.0, 100.0)[0], [1.0, 10.0, 100.0]),
    ("gd", {"lr": 0.015}, [1.0, 50.0, 120.0]),
]


@pytest.mark.parametrize("kind,hyper,h", CASES)
@pytest.mark.parametrize("steps", [0, 1, 2, 3, 64, 1000])
def test_error_curves_equal_the_stepped_recursion(kind, hyper, h, steps):
    """Tolerance: the stepped reference and the log-depth powers make different roundings (one
    2x2 product per step against ~log2(steps) squarings); each rounding is ~1 ulp of the entries
    it touches and is carried along by later steps with factor at most ~||M^k|| (<= ~k rho^k near
    a double root). Measured worst on these cases: 3.5e-15 of the curve's largest value (the
    double root; up to 5000 steps), so rtol 1e-10 with atol 1e-10 times the curve's scale (what
    "not tiny" means: an oscillating curve passes near 0, where only the absolute error is
    meaningful) leaves >1e4 of margin for a different summation order or FMA use on another x86 CPU."""
    h = torch.tensor(h, dtype=torch.float64)
    e0 = torch.tensor([1.0, -0.7, 0.3], dtype=torch.float64)
    ours = theory.error_curves(kind, hyper, h, e0, steps)
    ref = error_curves_stepped(kind, hyper, h, e0, steps) if kind != "gd" else None
    if ref is None:
        t = torch.arange(steps + 1, dtype=torch.float64)[:, None]
        ref = (1 - hyper["lr"] * h)[None] ** t * e0[None]
    assert ours.shape == (steps + 1, 3) and ours.dtype == torch.float64
    scale = float(ref.abs().max())
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10 * scale)


def test_cases_cover_real_complex_and_double_roots():
    seen = set()
    for kind, hyper, h in CASES:
        if kind == "gd":
            continue
        T, D = theory.char_poly(kind, hyper, torch.tensor(h, dtype=torch.float64))
        disc = T * T - 4 * D
        tiny = disc.abs() <= theory.DOUBLE_ROOT_ULPS * torch.finfo(torch.float64).eps * (T * T + 4 * D.abs())
        seen |= {"double" if bool(s) else ("complex" if float(d) < 0 else "real") for s, d in zip(tiny, disc)}
    assert seen == {"real", "complex", "double"}


def test_long_curve_decays_at_the_predicted_rate():
    """100k steps (the benchmark's size) in one call: finite, and the tail shrinks by rho per step."""
    hyper = {"lr": 0.05, "momentum": 0.999}
    h = torch.tensor([0.01, 1.0], dtype=torch.float64)
    curve = theory.error_curves("momentum", hyper, h, torch.tensor([1.0, 1.0], dtype=torch.float64), 100_000)
    assert curve.shape == (100_001, 2) and bool(curve.isfinite().all())
    rho = math.sqrt(0.999)  # complex roots at both curvatures: |z| = sqrt(beta)
    env = curve[-2000:, 1].abs().max() / curve[-4000:-2000, 1].abs().max()
    assert float(env) == pytest.approx(rho**2000, rel=0.05)
