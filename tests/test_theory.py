"""Iteration-matrix theory against the engine's real runs (float64)."""

import math

import pytest
import torch

from core import metrics, stability, theory
from core.engine import Group, run
from core.errors import LabError
from core.problems import make_problem

F64 = torch.float64
H = torch.tensor([0.05, 0.7, 3.0, 10.0], dtype=F64)
CASES = [
    ("gd", {"lr": 0.15}),
    ("gd", {"lr": 0.1, "weight_decay": 0.3}),
    ("momentum", {"lr": 0.1, "momentum": 0.8}),
    ("momentum", {"lr": 0.1, "momentum": 0.7, "dampening": 0.4, "weight_decay": 0.05}),
    ("nesterov", {"lr": 0.1, "momentum": 0.8}),
    ("nesterov", {"lr": 0.08, "momentum": 0.6, "weight_decay": 0.05}),
    ("momentum_lowpass", {"lr": 0.5, "beta": 0.8}),
]
# Nesterov with dampening: the optimizer refuses it (torch.optim has no such method to match), the
# closed-form theory still covers it, so its eigenvalues are still checked against the matrix
THEORY_ONLY = [("nesterov", {"lr": 0.08, "momentum": 0.6, "dampening": 0.3})]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny problems: intra-op threads only add synchronization; restored after the module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("kind,hyper", CASES + THEORY_ONLY)
def test_eigenvalues_are_those_of_the_iteration_matrix(kind, hyper):
    z = theory.eigenvalues(kind, hyper, H)
    M = theory.iteration_matrix(kind, hyper, H)
    if M.shape[-1] == 1:
        torch.testing.assert_close(z[..., 0], M[..., 0, 0].to(z.dtype), rtol=1e-14, atol=1e-15)
        return
    # the roots are the matrix's: their sum is its trace, their product its determinant
    torch.testing.assert_close(z.sum(-1), torch.diagonal(M, dim1=-2, dim2=-1).sum(-1).to(z.dtype), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z.prod(-1), torch.linalg.det(M).to(z.dtype), rtol=1e-12, atol=1e-12)
    # and LAPACK agrees (to sqrt(eps) where a root is double and the matrix defective)
    zm = torch.linalg.eigvals(M)
    assert float((z.abs().sort(-1).values - zm.abs().sort(-1).values).abs().max()) < 1e-7


def test_gd_and_heavy_ball_eigenvalues_in_closed_form():
    lr, beta = 0.1, 0.8
    torch.testing.assert_close(theory.eigenvalues("gd", {"lr": lr}, H)[..., 0].real, 1 - lr * H)
    z = theory.eigenvalues("momentum", {"lr": lr, "momentum": beta}, H)
    # roots of the companion matrix [[1 + beta - lr h, -beta], [1, 0]]
    resid = z * z - (1 + beta - lr * H)[:, None] * z + beta
    assert float(resid.abs().max()) < 1e-12
    spiral = z.imag.abs().amax(dim=-1) > 0
    assert spiral.any() and (~spiral).any()  # small h: real (overdamped); large h: a complex pair
    torch.testing.assert_close(z[spiral].abs(), torch.full_like(z[spiral].abs(), math.sqrt(beta)))


@pytest.mark.parametrize("kind,hyper", CASES)
def test_predicted_error_curves_equal_engine_runs(kind, hyper):
    p = make_problem("quadratic", {"eigenvalues": H.tolist(), "rotation_seed": 3, "center": [1.0, -2.0, 0.5, 0.0]})
    start = torch.tensor([2.0, 1.0, -1.0, 3.0], dtype=F64)
    steps = 200
    r = run(p, [Group("x", kind, [hyper], start[None])], steps)
    pred = theory.predict(p, kind, hyper, start, steps)
    e = (r.thetas[:, 0] - p.center) @ p.eigenvectors
    torch.testing.assert_close(e, pred["per_direction"], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close((r.thetas[:, 0] - p.center).norm(dim=1), pred["distance"], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(r.loss[:, 0] - p.loss_star, pred["gap"], rtol=1e-8, atol=1e-12)
    shift = float(hyper.get("weight_decay", 0.0))
    if shift:  # coupled weight decay: the fixed point is (A + wd I)^{-1} A c, and the theory knows it
        w_fix = torch.linalg.solve(p.A + shift * torch.eye(4, dtype=F64), p.A @ p.center)
        far = theory.predict(p, kind, hyper, start, 20000)["distance"][-1]
        assert float(far) == pytest.approx(float((w_fix - p.center).norm()), rel=1e-9)
        torch.testing.assert_close(theory.fixed_point(p, kind, hyper), w_fix, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind,hyper", [("momentum", {"lr": 0.15, "momentum": 0.9}),
                                        ("nesterov", {"lr": 0.15, "momentum": 0.9}),
                                        ("momentum_lowpass", {"lr": 1.0, "beta": 0.85})])
def test_measured_rate_matches_spectral_radius_within_one_percent(kind, hyper):
    p = make_problem("quadratic", {"eigenvalues": [0.2, 1.0, 5.0], "rotation_seed": 1, "center": [0.5, -1.0, 2.0]})
    r = run(p, [Group("m", kind, [hyper], torch.tensor([[3.0, 3.0, -1.0]]))], 800)
    dist = (r.thetas[:, 0] - p.center).norm(dim=1)
    measured = metrics.measured_rate(dist)
    predicted = theory.predicted_rate(p, kind, hyper)
    assert measured == pytest.approx(predicted, rel=0.01)
    assert predicted == pytest.approx(float(theory.spectral_radius(kind, hyper, p.eigenvalues)))


@pytest.mark.parametrize("kind,hyper", CASES)
def test_stability_limit_separates_convergence_from_divergence(kind, hyper):
    L = 10.0
    h = torch.tensor([0.01, L], dtype=F64)
    limit = stability.lr_limit(kind, hyper, L)
    below = float(theory.spectral_radius(kind, {**hyper, "lr": 0.999 * limit}, h))
    above = float(theory.spectral_radius(kind, {**hyper, "lr": 1.001 * limit}, h))
    assert below < 1.0 < above


def test_stability_limit_formulas():
    assert stability.lr_limit("gd", {}, 4.0) == pytest.approx(0.5)
    assert stability.lr_limit("momentum", {"momentum": 0.9}, 1.0) == pytest.approx(3.8)
    assert stability.lr_limit("momentum_lowpass", {"beta": 0.9}, 1.0) == pytest.approx(38.0)
    assert stability.lr_limit("nesterov", {"momentum": 0.9}, 1.0) == pytest.approx(3.8 / 2.8)


@pytest.mark.parametrize("kind", ["gd", "momentum", "nesterov", "momentum_lowpass"])
def test_optimal_parameters_give_the_known_rate_and_beat_a_grid(kind):
    mu, L = 0.1, 10.0
    k = L / mu
    hyper, rate = theory.optimal(kind, mu, L)
    known = {"gd": (k - 1) / (k + 1), "momentum": (math.sqrt(k) - 1) / (math.sqrt(k) + 1),
             "nesterov": 1 - 2 / math.sqrt(3 * k + 1)}
    assert rate == pytest.approx(known.get(kind, known["momentum"]), rel=1e-12)
    h = torch.linspace(mu, L, 101, dtype=F64)
    assert float(theory.spectral_radius(kind, hyper, h)) == pytest.approx(rate, rel=1e-6)
    if kind != "gd":
        lrs = torch.linspace(0.02, 1.5 * hyper["lr"], 150, dtype=F64)
        betas = torch.linspace(0.0, 0.98, 150, dtype=F64)
        grid = theory.phase_diagram(kind, lrs, betas, [mu, L])
        assert float(grid.min()) >= rate - 1e-7
        assert float(grid.min()) < rate + 0.01  # the grid gets close to the optimum


def test_phase_diagram_is_batched_and_interval_extremes_suffice():
    lrs = torch.linspace(0.01, 1.0, 40, dtype=F64)
    betas = torch.linspace(0.0, 0.95, 30, dtype=F64)
    for kind in ("momentum", "nesterov"):
        ends = theory.phase_diagram(kind, lrs, betas, [0.1, 4.0])
        full = theory.phase_diagram(kind, lrs, betas, torch.linspace(0.1, 4.0, 300, dtype=F64))
        assert ends.shape == (30, 40)
        torch.testing.assert_close(ends, full, rtol=1e-6, atol=1e-6)
        # one cell equals the scalar computation
        assert float(ends[7, 11]) == pytest.approx(
            float(theory.spectral_radius(kind, {"lr": float(lrs[11]), "momentum": float(betas[7])}, torch.tensor([0.1, 4.0], dtype=F64))))


def test_momentum_conventions_lecture_lowpass_and_pytorch_are_the_same_iterates():
    p = make_problem("quadratic", {"eigenvalues": [0.5, 4.0], "angle": 25.0, "center": [1.0, 1.0]})
    eta, b = 0.3, 0.2  # the lecture's a = (1 - b) a + b g; w -= eta a
    w, a = torch.tensor([-2.0, 2.5], dtype=F64), torch.zeros(2, dtype=F64)
    path = [w.clone()]
    for _ in range(60):
        g = p.A @ (w - p.center)
        a = (1 - b) * a + b * g
        w = w - eta * a
        path.append(w.clone())
    path = torch.stack(path)
    start = torch.tensor([[-2.0, 2.5]])
    low = run(p, [Group("low", "momentum_lowpass", [theory.lecture_to_lowpass(eta, b)], start)], 60)
    pt = run(p, [Group("pt", "momentum", [theory.lowpass_to_pytorch(**theory.lecture_to_lowpass(eta, b))], start)], 60)
    torch.testing.assert_close(low.thetas[:, 0], path, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(pt.thetas[:, 0], path, rtol=1e-12, atol=1e-12)
    back = theory.pytorch_to_lowpass(**theory.lowpass_to_pytorch(0.3, 0.8))
    assert back == pytest.approx({"lr": 0.3, "beta": 0.8})
    # same lr, different convention: PyTorch's step is 1 / (1 - beta) times larger, so its limit is smaller
    assert stability.lr_limit("momentum", {"momentum": 0.8}, 4.0) == pytest.approx(
        (1 - 0.8) * stability.lr_limit("momentum_lowpass", {"beta": 0.8}, 4.0))


def test_predicted_rate_on_linear_problems_and_none_elsewhere():
    wide = make_problem("linear", {"n": 5, "d": 12, "condition": 4.0, "seed": 1})
    h = wide.hessian_eigenvalues()
    rate = theory.predicted_rate(wide, "gd", {"lr": 0.3})
    # the null space (h = 0) is excluded: the rate is set by the smallest nonzero eigenvalue
    assert rate == pytest.approx(max(abs(1 - 0.3 * float(h[0])), abs(1 - 0.3 * float(h[4]))))
    r = run(wide, [Group("gd", "gd", [{"lr": 0.3}], torch.zeros(1, 12))], 300)
    assert metrics.measured_rate((r.thetas[:, 0] - wide.solution()).norm(dim=1)) == pytest.approx(rate, rel=1e-6)
    assert theory.predicted_rate(make_problem("rosenbrock"), "gd", {"lr": 0.001}) is None
    assert theory.predicted_rate(wide, "adam", {"lr": 0.1}) is None
    assert theory.predict(make_problem("quartic"), "gd", {"lr": 0.1}, torch.zeros(1), 10) is None
    with pytest.raises(LabError, match="no hyperparameter"):
        theory.predicted_rate(wide, "momentum", {"beta": 0.9})


def test_fixed_point_with_weight_decay_is_the_ridge_solution():
    p = make_problem("linear", {"n": 30, "d": 3, "condition": 5.0, "noise": 0.2, "seed": 2})
    lam = 0.3
    torch.testing.assert_close(theory.fixed_point(p, "gd", {"lr": 0.1, "weight_decay": 2 * lam}), p.solution(lam),
                               rtol=1e-12, atol=1e-12)
    assert theory.fixed_point(p, "adam", {}) is None
    hyper = {"lr": 0.4, "weight_decay": 2 * lam}
    w_fix = theory.fixed_point(p, "gd", {"weight_decay": 2 * lam})
    # GD from 0 lands on it: a contraction (rate 0.728) holds its rounding error to a few
    # eps * (|w| + lr |g|) / (1 - rate) ~ 1e-14, far below 1e-13 (measured: 4.5e-16)
    r = run(p, [Group("gd", "gd", [hyper], torch.zeros(1, 3))], 400)
    assert float((r.final_theta[0] - w_fix).norm()) < 1e-13
    # The rate, measured from a start on the slowest mode: the error is then exactly geometric, so
    # the only error of the fit is rounding. Cut at 1e-9 of the start, each distance carries a
    # relative error <= ~10 eps |w| / 1e-9 ~ 3e-6 and the rate (s_end / s_start)^(1/n), n ~ 30,
    # about 1e-7: the 1e-6 below holds on any CPU. (From 0 and cut at the default 1e-12 it did not:
    # the tail then sat within 1e-4 relative of the rounding floor and a 1-ulp change of the
    # iterates moved the measured rate by 8e-6; the 0.6 mode's transient added another 1e-6.)
    r = run(p, [Group("gd", "gd", [hyper], (w_fix + p.V[:, -1])[None])], 400)
    dist = (r.thetas[:, 0] - w_fix).norm(dim=1)
    assert metrics.measured_rate(dist, floor=1e-9) == pytest.approx(theory.predicted_rate(p, "gd", hyper), rel=1e-6)
