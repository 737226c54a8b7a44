"""core.analysis: the arrays the panels draw equal direct computations in float64, without Qt.

Each test computes the same numbers a second way, one point at a time (``problem.hessian`` and
``np.linalg.eigvalsh`` at the recorded iterate, ``np.linalg.eigvals`` of the iteration matrix,
``problem.predict`` per step, ``-b / w`` from the parameter layout), and compares. Tolerances:
the batched Hessian and the per-point ``torch.func.hessian`` are the same second derivatives
summed in another order, so they agree to a few ulps of the largest entry; eigenvalues of a
symmetric matrix move by at most the perturbation's norm (Weyl), hence ``1e-10`` relative to the
spectrum's scale holds on any x86 CPU (the differences seen are ~1e-15).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core import analysis, theory
from core.engine import Group, run
from core.errors import Cancelled
from core.problems import make_problem
from core.stability import curvature_limit

F64 = dict(dtype=torch.float64)


def _last(r) -> np.ndarray:
    return np.array([r.last_step(i) for i in range(r.size)], dtype=int)


def _rtol(values: np.ndarray) -> float:
    return 1e-10 * max(1.0, float(np.nanmax(np.abs(values))))


@pytest.fixture(scope="module")
def rosenbrock_run():
    p = make_problem("rosenbrock")
    start = torch.tensor([[-1.2, 1.0]], **F64)
    groups = [Group("gd", "gd", [{"lr": 1e-3}], start), Group("hb", "momentum", [{"lr": 1e-3, "momentum": 0.9}], start),
              Group("adam", "adam", [{"lr": 0.05}], start),
              Group("far", "gd", [{"lr": 0.05}], start)]  # diverges: its spectrum stays at its last step
    return run(p, groups, 60)


def test_local_spectra_are_the_hessian_eigenvalues_at_the_recorded_iterates(rosenbrock_run):
    r = rosenbrock_run
    last = _last(r)
    assert last[3] < 60 and bool(r.diverged_step[3] >= 0)  # the case of a trajectory that stops
    sp = analysis.spectra(r, last)
    assert sp.mode == "local" and list(sp.steps) == list(range(61))  # everything fits: every step
    assert sp.hessian.shape == (61, 4, 2) and sp.iteration.shape == (61, 4, 4)
    p = r.problem
    for s in (0, 7, 30, 60):
        for i in range(4):
            theta = r.thetas[min(s, last[i]), i].to(**F64)
            want = np.linalg.eigvalsh(p.hessian(theta).numpy())[::-1]
            np.testing.assert_allclose(sp.hessian[s, i], want, rtol=0, atol=_rtol(want))
            kind, hyper = r.kinds[i], r.hyper[i]
            if kind not in theory.LINEAR_KINDS:
                assert np.isnan(sp.iteration[s, i]).all() and np.isnan(sp.radius[s, i])
                continue
            # the iteration matrix per Hessian eigenvalue, its eigenvalues by LAPACK (not the quadratic formula)
            M = theory.iteration_matrix(kind, hyper, torch.as_tensor(want.copy())).numpy()
            z = np.concatenate([np.linalg.eigvals(m) for m in M])
            got = sp.iteration[s, i][np.isfinite(sp.iteration[s, i])]
            np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(z), rtol=0, atol=1e-9)
            assert sp.radius[s, i] == pytest.approx(np.abs(z).max(), abs=1e-9)
    np.testing.assert_array_equal(sp.limits[[0, 1, 3]], [curvature_limit("gd", {"lr": 1e-3}),
                                                         curvature_limit("momentum", {"lr": 1e-3, "momentum": 0.9}),
                                                         curvature_limit("gd", {"lr": 0.05})])
    assert np.isnan(sp.limits[2])  # Adam: no linear limit
    assert sp.limits[1] == pytest.approx(2 * 1.9 / 1e-3)  # heavy ball: 2 (1 + beta) / lr, not 2 / lr


def test_exact_spectra_of_a_quadratic_are_its_eigenvalues_and_the_characteristic_roots():
    p = make_problem("quadratic", {"eigenvalues": [1.0, 10.0]})
    start = torch.tensor([[2.5, 1.5]], **F64)
    hyper = [{"lr": 0.05, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.5}]
    r = run(p, [Group("hb", "momentum", hyper, torch.cat([start, start])), Group("gd", "gd", [{"lr": 0.05}], start)], 20)
    sp = analysis.spectra(r, _last(r))
    assert sp.mode == "exact" and list(sp.steps) == [0] and sp.row(17) == 0
    np.testing.assert_array_equal(sp.hessian[0], [[10.0, 1.0]] * 3)
    for i, (lr, beta) in enumerate([(0.05, 0.9), (0.05, 0.5)]):
        z = np.concatenate([np.roots([1.0, -(1 + beta - lr * h), beta]) for h in (10.0, 1.0)])
        np.testing.assert_allclose(np.sort_complex(sp.iteration[0, i]), np.sort_complex(z), rtol=0, atol=1e-12)
    # the spirals' rate: complex roots have modulus sqrt(beta)
    assert sp.radius[0, 0] == pytest.approx(math.sqrt(0.9), abs=1e-12)
    gd = sp.iteration[0, 2][np.isfinite(sp.iteration[0, 2])]
    np.testing.assert_allclose(np.sort(gd.real), [1 - 0.05 * 10, 1 - 0.05 * 1], rtol=0, atol=1e-15)
    assert np.all(gd.imag == 0)


def test_big_problems_get_the_sharpness_mode_and_limits_only():
    p = make_problem("heart_net")
    assert p.dim > analysis.LOCAL_MAX_DIM
    r = run(p, [Group("gd", "gd", [{"lr": 0.1}], p.initial_point(0)[None].to(p.dtype))], 3)
    sp = analysis.spectra(r, _last(r))
    assert sp.mode == "sharpness" and sp.hessian.size == 0 and sp.limits[0] == pytest.approx(20.0)


def test_the_stride_bounds_the_work_and_keeps_both_ends():
    for steps, b, cap in ((60, 4, 4096), (1000, 3, 400), (5, 10_000, 4096), (0, 1, 1)):
        s = analysis.sample_steps(steps, b, cap)
        assert s[0] == 0 and s[-1] == steps and np.all(np.diff(s) > 0)
        assert len(s) * b <= max(cap, 2 * b)  # at most the cap, or the two ends when the cap is below them
    assert list(analysis.sample_steps(10, 1, 4)) == [0, 4, 8, 10] and list(analysis.sample_steps(10, 1, 11)) == list(range(11))
    steps = np.array([0, 3, 6, 9, 10])
    assert [analysis.row_of(steps, k) for k in (0, 2, 3, 8, 10, 99)] == [0, 0, 1, 2, 4, 4]


def test_a_long_run_is_strided(rosenbrock_run, monkeypatch):
    monkeypatch.setattr(analysis, "MAX_SPECTRA", 40)
    r = rosenbrock_run
    sp = analysis.spectra(r, _last(r))
    assert len(sp.steps) * r.size <= 40 and sp.steps[-1] == 60
    monkeypatch.setattr(analysis, "MAX_SPECTRA", 4096)  # the strided rows are rows of the full spectra
    full = analysis.spectra(r, _last(r))
    np.testing.assert_array_equal(sp.hessian, full.hessian[sp.steps])


def test_a_sweep_too_big_for_the_cap_keeps_its_first_trajectories(rosenbrock_run, monkeypatch):
    r = rosenbrock_run
    full = analysis.spectra(r, _last(r))
    monkeypatch.setattr(analysis, "MAX_SPECTRA", 6)  # room for 3 trajectories at two steps each
    sp = analysis.spectra(r, _last(r))
    assert analysis.kept(4, 6) == 3 and sp.steps[0] == 0 and sp.steps[-1] == 60 and len(sp.steps) == 2
    np.testing.assert_array_equal(sp.hessian[:, :3], full.hessian[sp.steps, :3])
    assert np.isnan(sp.hessian[:, 3]).all() and np.isnan(sp.iteration[:, 3]).all()


@pytest.fixture(scope="module")
def relu1d_run():
    p = make_problem("mlp", {"dataset": "regression1d", "hidden": [5], "activation": "relu"})
    start = p.initial_point(0)[None].to(p.dtype)
    return run(p, [Group("gd", "gd", [{"lr": 0.05}], start), Group("adam", "adam", [{"lr": 0.01}], start)], 25)


def test_relu_elbows_are_minus_b_over_w_at_every_step(relu1d_run):
    r = relu1d_run
    m = analysis.model_view(r, _last(r))
    assert m is not None and m.inputs == 1 and m.elbows.shape == (26, 2, 5)
    for t in (0, 11, 25):
        for i in range(2):
            theta = r.thetas[t, i].double()
            w, b = theta[:5].numpy(), theta[5:10].numpy()  # layers.0.weight [5, 1], then layers.0.bias [5]
            np.testing.assert_allclose(m.elbows[t, i], -b / w, rtol=1e-15, atol=0)


def test_predictions_are_the_nets_outputs_at_each_step(relu1d_run):
    r = relu1d_run
    m = analysis.model_view(r, _last(r))
    p = r.problem
    X = p.X.double().numpy()
    np.testing.assert_array_equal(m.X, X)
    assert m.grid.shape == (analysis.MODEL_CURVE, 1) and m.grid[0, 0] < X.min() and m.grid[-1, 0] > X.max()
    grid = torch.as_tensor(m.grid, dtype=p.dtype)
    for t in (0, 9, 25):
        for i in range(2):
            want = p.predict(r.thetas[t, i].to(p.dtype), grid).double().numpy()
            # stored as float32 (the model view's memory bound): equal to float32 rounding
            np.testing.assert_allclose(m.predictions[m.row(t), i], want, rtol=1e-6, atol=1e-6)


def test_the_model_view_is_bounded(relu1d_run, monkeypatch):
    r = relu1d_run
    full = analysis.model_view(r, _last(r))
    monkeypatch.setattr(analysis, "MAX_PREDICTIONS", 2 * analysis.MODEL_CURVE)  # two rows of the grid
    m = analysis.model_view(r, _last(r))
    assert m.predictions.shape == (2, 1, analysis.MODEL_CURVE) and list(m.steps) == [0, 25]
    np.testing.assert_array_equal(m.predictions[:, 0], full.predictions[[0, 25], 0])
    assert m.row(24) == 0 and m.row(25) == 1
    np.testing.assert_array_equal(m.elbows, full.elbows)  # the elbows are small: every step, every trajectory


def test_a_classifier_on_2d_inputs_predicts_class_one_on_the_input_plane():
    p = make_problem("net13")
    start = p.initial_point(0)[None].to(p.dtype)
    r = run(p, [Group("gd", "gd", [{"lr": 1.0}], start)], 5)
    m = analysis.model_view(r, _last(r))
    assert m.inputs == 2 and m.elbows is None and m.predictions.shape == (6, 1, analysis.MODEL_GRID ** 2)
    gx, gy = np.meshgrid(*m.axes)
    np.testing.assert_array_equal(m.grid, np.column_stack([gx.ravel(), gy.ravel()]))
    want = p.predict(r.thetas[5, 0].to(p.dtype), torch.as_tensor(m.grid, dtype=p.dtype)).double().numpy()
    np.testing.assert_allclose(m.predictions[5, 0], want, rtol=1e-6, atol=1e-6)
    assert np.all((m.predictions >= 0) & (m.predictions <= 1))


def test_toys_have_no_model_view_and_their_minima_are_drawn_where_they_are():
    q = make_problem("quartic")
    r = run(q, [Group("gd", "gd", [{"lr": 0.1}], torch.tensor([[2.0]], **F64))], 3)
    assert analysis.model_view(r, _last(r)) is None
    m = analysis.minima(q)
    w = q.minima.double()
    np.testing.assert_array_equal(m, np.column_stack([w[:, 0].numpy(), q.loss(w).double().numpy()]))
    himmelblau = make_problem("himmelblau")  # four minima, each drawn at its (x, y)
    assert analysis.minima(himmelblau).shape == (4, 2)
    np.testing.assert_array_equal(analysis.minima(himmelblau), himmelblau.minima.double().numpy())
    assert analysis.minima(make_problem("heart_net")) is None


SCENARIO = """
format = 1
title = "analysis"
steps = 40
dtype = "float64"
[problem]
kind = "rosenbrock"
[start]
points = [[-1.2, 1.0]]
[[optimizers]]
kind = "gd"
lr = 0.001
[[optimizers]]
kind = "momentum"
lr = 0.001
momentum = 0.9
[view]
panels = ["landscape", "convergence", "eigen"]
"""


def test_run_view_reports_progress_and_stops_when_cancelled(monkeypatch):
    import core.scenario as sc

    scenario = sc.loads(SCENARIO, "analysis.toml")
    result = sc.execute(scenario, sharpness=False, landscape=False)
    monkeypatch.setattr(analysis, "SPECTRA_CHUNK", 16)  # 41 steps x 2 trajectories: 6 chunks
    seen = []
    view = analysis.run_view(result, scenario, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(k, 6) for k in range(1, 7)]
    assert view.spectra.mode == "local" and view.spectra.hessian.shape == (41, 2, 2) and view.model is None
    assert view.model_note and view.minima.shape == (1, 2)
    calls = []
    with pytest.raises(Cancelled):
        analysis.run_view(result, scenario, progress=lambda d, t: calls.append(d), cancel=lambda: len(calls) >= 2)
    assert calls == [1, 2]  # stopped between chunks, at the first check after cancel() said so


def test_tangents_of_a_one_parameter_problem_are_its_derivative():
    import core.scenario as sc

    text = SCENARIO.replace('kind = "rosenbrock"', 'kind = "quartic"').replace("[[-1.2, 1.0]]", "[[2.0]]")
    text = text.replace("lr = 0.001", "lr = 0.5")
    scenario = sc.loads(text, "quartic.toml")
    result = sc.execute(scenario, sharpness=False)
    view = analysis.run_view(result, scenario)
    # g(w) = (w^4 + w^2 + 10 w) / 50, g'(w) = (4 w^3 + 2 w + 10) / 50
    w = result.run.thetas[..., 0].double().numpy()
    np.testing.assert_allclose(view.grad[..., 0], (4 * w**3 + 2 * w + 10) / 50, rtol=1e-12, atol=1e-15)
    a = np.asarray(result.surface.alphas, dtype=float)
    np.testing.assert_allclose(view.curve_grad, (4 * a**3 + 2 * a + 10) / 50, rtol=1e-12, atol=1e-15)


# -- theory you can see (issue 12): each predicted curve's own rate, the bowl, per-mode errors, circles --
def _lesson(name: str):
    import core.scenario as sc
    from pathlib import Path

    scenario = sc.load(Path(__file__).resolve().parents[1] / "scenarios" / f"{name}.toml")
    result = sc.execute(scenario, sharpness=False, landscape=False)
    return result, analysis.run_view(result, scenario)


def test_each_predicted_curve_carries_the_rate_of_the_modes_its_start_excites():
    # linear_order_changes: sigma = 1 and 0.6 (Hessian 2 sigma^2 = 2 and 0.72), each start on one
    # singular direction, so each curve is one factor |1 - lr h|: 0.6, 0.856 (lr 0.2), 0.8, 0.352 (lr 0.9).
    # The worst case over both directions (what the legend used to show) is 0.856 and 0.8.
    # Closed forms in float64; the eigenbasis comes from an SVD, so 1e-12 (a few ulps of ~1) holds anywhere.
    _, view = _lesson("linear_order_changes")
    assert view.series_kind == "distance"
    assert [view.rates[i] for i in range(4)] == pytest.approx([0.6, 1 - 0.2 * 0.72, 0.8, 1 - 0.9 * 0.72], abs=1e-12)
    assert [view.worst_rates[i] for i in range(4)] == pytest.approx([0.856, 0.856, 0.8, 0.8], abs=1e-12)
    # each curve's rate is the slope it is drawn with: the ratio of its successive values
    for i in range(4):
        d = view.theory[i][:20]
        np.testing.assert_allclose(np.abs(d[1:] / d[:-1]), view.rates[i], rtol=1e-10)


def test_the_bowl_is_a_quadratic_with_predicted_curves():
    # g = w1^2 + w2^2 + 2: Hessian 2 I, so w_k = (1 - 2 lr)^k w_0 and the distance is 2.5 |1 - 2 lr|^k
    p = make_problem("bowl")
    h, Q, w_star = theory.hessian_basis(p)
    np.testing.assert_array_equal(h.numpy(), [2.0, 2.0])
    _, view = _lesson("bowl_learning_rates")
    assert sorted(view.theory) == [0, 1, 2, 3, 4]
    for i, lr in enumerate([0.1, 0.3, 0.5, 0.75, 1.0]):
        factor = abs(1 - 2 * lr)
        assert view.rates[i] == pytest.approx(factor, abs=1e-15)
        np.testing.assert_allclose(view.theory[i][:12], 2.5 * factor ** np.arange(12), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(view.theory[0], view.series[:, 0], rtol=1e-12)  # theory = what GD did


def test_a_gap_curve_shrinks_by_the_square_of_the_distance_rate():
    p = make_problem("quadratic", {"eigenvalues": [1.0, 10.0]})
    e0 = torch.tensor([3.0, 0.0], **F64)  # only the h = 1 direction (the eigenvectors are the axes at angle 0)
    rate = theory.excited_rate("gd", {"lr": 0.15}, torch.tensor([1.0, 10.0], **F64), e0)
    assert rate == pytest.approx(0.85, abs=1e-15)  # |1 - 0.15 * 1|; the h = 10 factor |1 - 1.5| = 0.5 is not excited
    both = theory.excited_rate("gd", {"lr": 0.15}, torch.tensor([1.0, 10.0], **F64), torch.tensor([0.0, 1.0], **F64))
    assert both == pytest.approx(0.5, abs=1e-15)
    assert theory.excited_rate("gd", {"lr": 0.15}, torch.tensor([1.0, 10.0], **F64), torch.zeros(2, **F64)) == 0.0
    pred = theory.predict(p, "gd", {"lr": 0.15}, e0, 10)
    assert pred["rate"] == pytest.approx(0.85, abs=1e-15)
    g = pred["gap"].numpy()
    np.testing.assert_allclose(g[1:] / g[:-1], 0.85**2, rtol=1e-12)


def test_per_mode_errors_are_the_eigen_coordinates_of_the_run_and_their_prediction():
    # zigzag-like quadratic: per direction j, e_j(t) = q_j . (w_t - w*) measured, equal to the
    # iteration-matrix recurrence (exact on a quadratic: float64 round-off only, 1e-10 of the start)
    p = make_problem("quadratic", {"eigenvalues": [1.0, 10.0], "angle": 30.0})
    start = torch.tensor([[2.5, 1.5]], **F64)
    r = run(p, [Group("hb", "momentum", [{"lr": 0.05, "momentum": 0.8}], start)], 30)

    class Result:
        run = r
        theory = {"hb": {"predicted_rate": theory.predicted_rate(p, "momentum", {"lr": 0.05, "momentum": 0.8})}}
        surface = None

    view = analysis.RunView.from_result(Result(), {"view": {"convergence": "distance"}})
    m = view.modes[0]
    np.testing.assert_array_equal(m.h, [10.0, 1.0])  # largest first
    h, Q, w_star = theory.hessian_basis(p)
    direct = (r.thetas[:, 0].double() - w_star).numpy() @ Q.numpy()[:, [1, 0]]
    np.testing.assert_allclose(m.measured, direct, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.predicted, m.measured, rtol=0, atol=1e-10)
    # each direction's rate: max |z| of z^2 - (1 + beta - lr h) z + beta
    for hj, rate in zip((10.0, 1.0), m.rates):
        assert rate == pytest.approx(max(abs(np.roots([1.0, -(1.8 - 0.05 * hj), 0.8]))), abs=1e-12)


def test_mode_indices_keep_the_excited_directions_spread_over_the_spectrum():
    h = np.arange(20.0, 0.0, -1.0)  # 20 .. 1
    e0 = np.ones(20)
    e0[3] = 1e-13  # round-off along an eigenvector: not excited
    pick = analysis.mode_indices(h, e0, cap=5)
    assert len(pick) == 5 and pick[0] == 0 and pick[-1] == 19 and 3 not in pick
    assert list(analysis.mode_indices(np.array([1.0, 2.0]), np.array([1.0, 1.0]))) == [1, 0]
    assert analysis.mode_indices(np.array([1.0]), np.zeros(1)).size == 0


def test_heavy_ball_spectra_carry_the_sqrt_beta_circle():
    p = make_problem("quadratic", {"eigenvalues": [1.0, 10.0]})
    start = torch.tensor([[2.5, 1.5]], **F64)
    r = run(p, [Group("hb", "momentum", [{"lr": 0.05, "momentum": 0.81}], start),
                Group("lp", "momentum_lowpass", [{"lr": 0.5, "beta": 0.64}], start),
                Group("nag", "nesterov", [{"lr": 0.05, "momentum": 0.5}], start), Group("gd", "gd", [{"lr": 0.05}], start)], 5)
    sp = analysis.spectra(r, _last(r))
    assert sp.circles[0] == pytest.approx(0.9, abs=1e-15) and sp.circles[1] == pytest.approx(0.8, abs=1e-15)
    assert np.isnan(sp.circles[2]) and np.isnan(sp.circles[3])  # Nesterov's |z| depends on h; GD's roots are real
    # complex roots lie on it
    z = sp.iteration[0, 0]
    z = z[np.isfinite(z) & (np.abs(z.imag) > 0)]
    assert z.size and np.allclose(np.abs(z), 0.9, atol=1e-12)
