"""``core.metrics``: the convergence series and rates the expectations, the runner and the app share."""

import math

import numpy as np
import pytest
import torch

from core import metrics, theory
from core.engine import Group, run
from core.errors import LabError
from core.problems import make_problem

F64 = torch.float64


def quadratic_run(eigenvalues=(1.0, 10.0), steps=40, record=True):
    q = make_problem("quadratic", {"eigenvalues": list(eigenvalues)})
    starts = torch.tensor([[1.0, 1.0]], dtype=F64)
    groups = [Group("GD", "gd", [{"lr": 0.15}], starts), Group("far", "gd", [{"lr": 0.25}], starts)]
    return run(q, groups, steps, record_params=record)


def test_the_default_is_distance_then_gap_then_loss():
    assert metrics.default_metric(make_problem("quadratic", {"eigenvalues": [1.0, 10.0]})) == "distance"
    flat = make_problem("quadratic", {"eigenvalues": [0.0, 1.0]})  # a valley: no unique minimizer, loss* known
    assert flat.minima is None and flat.loss_star is not None
    assert metrics.default_metric(flat) == "gap"
    net = make_problem("heart_net")
    assert metrics.default_metric(net) == "loss"
    # without recorded parameters there is no distance
    assert metrics.default_metric(make_problem("quadratic"), recorded=False) == "gap"
    # a requested metric the problem cannot give falls back to the default, one rule for all callers
    assert metrics.resolve(net, "gap") == "loss"
    assert metrics.resolve(flat, "distance") == "gap"
    assert metrics.resolve(flat, "loss") == "loss"
    assert metrics.resolve(flat, None) == "gap"
    with pytest.raises(LabError, match="unknown metric 'los'"):
        metrics.resolve(flat, "los")


def test_series_are_the_run_s_numbers_in_float64():
    r = quadratic_run()
    q = r.problem
    torch.testing.assert_close(metrics.series(r, "loss"), r.loss.double(), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(metrics.series(r, "gap"), r.loss.double() - q.loss_star, rtol=0, atol=0, equal_nan=True)
    dist = (r.thetas.double() - q.center).norm(dim=-1)  # the quadratic's one minimum is its centre
    torch.testing.assert_close(metrics.series(r, "distance"), dist, rtol=1e-15, atol=1e-15, equal_nan=True)
    torch.testing.assert_close(metrics.series(r, "grad_norm"), r.grad_norm.double(), rtol=0, atol=0, equal_nan=True)
    for name in metrics.METRICS:
        if not metrics.available(q, name):  # the held-out metrics need a net with a test split
            assert name in ("test_loss", "test_accuracy")
            with pytest.raises(LabError, match="needs a held-out split"):
                metrics.series(r, name)
            continue
        all_rows = metrics.series(r, name)
        assert all_rows.shape == r.loss.shape and all_rows.dtype == F64 and all_rows.device.type == "cpu"
        torch.testing.assert_close(metrics.series(r, name, 1), all_rows[: r.last_step(1) + 1, 1], rtol=0, atol=0, equal_nan=True)
    with pytest.raises(LabError, match="recorded parameters"):
        metrics.series(quadratic_run(record=False), "distance")
    with pytest.raises(LabError, match="known minimum value"):
        metrics.series(run(make_problem("heart_net"), [Group("g", "gd", [{"lr": 0.1}], make_problem("heart_net").initial_point(0)[None])], 2), "gap")


def test_a_diverged_trajectory_s_series_stops_at_its_divergence():
    r = run(make_problem("quadratic", {"eigenvalues": [1.0, 10.0]}),
            [Group("boom", "gd", [{"lr": 0.3}], torch.tensor([[1.0, 1.0]], dtype=F64))], 400)
    assert r.diverged(0)
    assert metrics.series(r, "loss", 0).numel() == r.last_step(0) + 1 < 401


def test_the_run_view_plots_the_metrics_series_with_the_same_fallback():
    """The convergence panel's series (core.analysis) is metrics.series of metrics.resolve: the
    numbers the expectations judge (this was computed twice with different fallbacks)."""
    from types import SimpleNamespace

    from core.analysis import RunView

    for eigen, wanted, plotted in (((1.0, 10.0), "distance", "distance"), ((1.0, 10.0), "gap", "gap"),
                                   ((0.0, 1.0), "distance", "gap"), ((1.0, 10.0), None, "distance")):
        r = quadratic_run(eigen, steps=30)
        view = RunView.from_result(SimpleNamespace(run=r, surface=None, theory={}), {"view": {"convergence": wanted}})
        assert view.series_kind == plotted == metrics.resolve(r.problem, wanted)
        np.testing.assert_array_equal(view.series, metrics.series(r, plotted).numpy())
    r = run(make_problem("heart_net"), [Group("g", "gd", [{"lr": 0.1}], make_problem("heart_net").initial_point(0)[None])], 3)
    view = RunView.from_result(SimpleNamespace(run=r, surface=None, theory={}), {"view": {"convergence": "gap"}})
    assert view.series_kind == "loss"  # a net has no known minimum value: the default
    np.testing.assert_array_equal(view.series, r.loss.double().numpy())


def test_first_below_and_the_round_off_floor():
    v = torch.tensor([1.0, 0.5, math.nan, 0.01, 1e-13, 0.0], dtype=F64)
    assert metrics.first_below(v, 0.1) == 3  # NaN never counts
    assert metrics.first_below(v, -1.0) is None
    torch.testing.assert_close(metrics.above_floor(v), v[:2])  # NaN is not above the floor
    w = torch.tensor([1.0, 1e-6, 1e-13], dtype=F64)
    torch.testing.assert_close(metrics.above_floor(w), w[:2])


def test_measured_rate_of_a_geometric_series_is_its_ratio():
    # moved from tests/test_theory.py (measured_rate was core.theory's)
    s = 3.0 * 0.9 ** torch.arange(100, dtype=F64)
    assert metrics.measured_rate(s) == pytest.approx(0.9, rel=1e-12)
    # a rounding floor and a non-finite tail are cut off
    s2 = torch.cat([s, torch.full((50,), 1e-300), torch.tensor([math.nan])])
    assert metrics.measured_rate(s2) == pytest.approx(0.9, rel=1e-12)
    assert math.isnan(metrics.measured_rate([1.0]))
    # a spiral: the phase at the ends would bias the endpoint ratio; the envelope fit does not
    t = torch.arange(300, dtype=F64)
    spiral = 0.95**t * (torch.cos(0.7 * t + 0.3).abs() + 1e-3)
    assert metrics.measured_rate(spiral) == pytest.approx(0.95, rel=2e-3)


def test_trajectory_rate_is_the_predicted_rate_on_a_quadratic():
    r = quadratic_run(steps=200)
    q = r.problem
    rho = theory.predicted_rate(q, "gd", {"lr": 0.15})  # max |1 - 0.15 h| = 0.85 (h = 1)
    assert rho == pytest.approx(0.85)
    # the distance's rate is rho (exactly geometric once the fast direction has died out)
    assert metrics.trajectory_rate(r, 0) == pytest.approx(rho, rel=1e-9)
    assert metrics.trajectory_rate(r, 0, target=q.center) == pytest.approx(rho, rel=1e-9)
    # the gap's is rho^2
    assert metrics.trajectory_rate(r, 0, "gap") == pytest.approx(metrics.predicted_rate_of("gap", rho), rel=1e-6)
    assert metrics.predicted_rate_of("distance", 0.5) == 0.5 and metrics.predicted_rate_of("gap", 0.5) == 0.25
    # too few points above round-off: no rate
    start_at_minimum = run(q, [Group("0", "gd", [{"lr": 0.1}], q.center[None].clone())], 10)
    assert metrics.trajectory_rate(start_at_minimum, 0) is None
