"""Least squares in the eigen view: closed forms, GD in SVD coordinates, SGD, Adam vs AdamW (float64)."""

import math

import pytest
import torch

from core.engine import Group, run
from core.errors import LabError
from core.problems import make_problem
from core.problems.base import Problem
from core.problems.linear import LinearProblem, early_stopping_vs_ridge, gd_filter, ridge_filter, synthetic

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These problems are tiny: intra-op threads only add synchronization (20x slower on a busy
    2-core machine), so this module runs single-threaded and restores the setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tall(**kw):
    args = dict(n=40, d=4, singular_values=[1.0, 0.6, 0.3, 0.1], noise=0.1, seed=3)
    args.update(kw)
    return make_problem("linear", args)


def gd(problem, lr, start, steps, kind="gd", **extra):
    return run(problem, [Group("g", kind, [{"lr": lr, **extra}], torch.as_tensor(start, dtype=F64)[None])], steps)


# --- the problem itself ----------------------------------------------------------------------------
def test_closed_form_derivatives_equal_autograd():
    p = tall(ridge=0.05)
    theta = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    batch = torch.randint(0, 40, (3, 7), generator=torch.Generator().manual_seed(1))
    for b in (None, batch):
        loss, grad = p.loss_and_grad(theta, b)
        loss_ag, grad_ag = Problem.loss_and_grad(p, theta, b)
        torch.testing.assert_close(loss, loss_ag, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(grad, grad_ag, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(p.hessian(), Problem.hessian(p, theta[0]), rtol=1e-12, atol=1e-13)
    v = theta[1]
    torch.testing.assert_close(p.hvp(theta[0], v), Problem.hvp(p, theta[0], v), rtol=1e-12, atol=1e-13)
    # the spectrum the problem reports is that of its Hessian: 2 (sigma^2 + ridge)
    torch.testing.assert_close(torch.linalg.eigvalsh(p.hessian()).flip(0), p.hessian_eigenvalues(), rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(p.hessian_eigenvalues(), 2 * (torch.tensor([1.0, 0.36, 0.09, 0.01], dtype=F64) + 0.05))


def test_singular_values_are_those_of_X_over_sqrt_n():
    p = synthetic(n=30, d=5, condition=100.0, sigma_max=2.0, seed=1)
    s = torch.linalg.svdvals(p.X / math.sqrt(30))
    torch.testing.assert_close(s, p.sigma, rtol=1e-12, atol=1e-14)
    assert float(p.sigma[0] / p.sigma[-1]) == pytest.approx(100.0)
    torch.testing.assert_close(p.sigma[0], torch.tensor(2.0, dtype=F64))


def test_bad_parameters_are_lab_errors():
    with pytest.raises(LabError, match="singular_values needs min"):
        make_problem("linear", {"n": 10, "d": 3, "singular_values": [1.0, 2.0]})
    with pytest.raises(LabError, match="either singular_values or condition"):
        make_problem("linear", {"n": 10, "d": 2, "singular_values": [1.0, 2.0], "condition": 3.0})
    with pytest.raises(LabError, match="unknown data"):
        make_problem("linear", {"data": "heat"})
    with pytest.raises(LabError, match="noise must be"):
        make_problem("linear", {"noise": -1.0})
    with pytest.raises(LabError, match="only ridge applies") as err:
        make_problem("linear", {"data": "heart", "n": 50})
    assert err.value.path == "problem.n"


# --- GD in SVD coordinates ---------------------------------------------------------------------------
def test_gd_decays_per_direction_exactly_without_coupling():
    p = tall()
    h, V = p.eigenbasis()
    w_star = p.solution()
    lr, steps = 0.45, 60
    e0 = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64)
    r = gd(p, lr, w_star + V @ e0, steps)
    e = (r.thetas[:, 0] - w_star) @ V  # error in SVD coordinates, [T+1, d]
    t = torch.arange(steps + 1, dtype=F64)[:, None]
    torch.testing.assert_close(e, e0 * (1 - lr * h) ** t, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(r.thetas[:, 0], p.gd_iterates(lr, steps, w_star + V @ e0), rtol=1e-9, atol=1e-12)
    # an error along one singular direction stays on it: no cross-coupling
    r1 = gd(p, lr, w_star + 0.7 * V[:, 2], steps)
    e1 = (r1.thetas[:, 0] - w_star) @ V
    assert e1[:, [0, 1, 3]].abs().max() < 1e-13
    torch.testing.assert_close(e1[:, 2], 0.7 * (1 - lr * h[2]) ** t[:, 0], rtol=1e-10, atol=1e-14)


def test_learning_rate_limit_is_one_over_sigma_max_squared():
    p = tall(singular_values=[1.0, 0.8, 0.6, 0.5], ridge=0.02)
    limit = 1.0 / (1.0 + 0.02)  # = 2 / h_max
    assert limit == pytest.approx(2.0 / float(p.hessian_eigenvalues()[0]))
    start = p.solution() + 1.0
    below = gd(p, 0.99 * limit, start, 800)
    above = gd(p, 1.01 * limit, start, 800)
    d0 = float((start - p.solution()).norm())
    assert float(below.summary()["trajectories"][0]["distance_to_minimum"]) < 1e-4 * d0
    assert above.diverged(0) or float((above.final_theta[0] - p.solution()).norm()) > 100 * d0


def test_lr_one_over_lambda_i_zeroes_mode_i_in_one_step():
    p = tall()
    h, V = p.eigenbasis()
    w_star = p.solution()
    for i in range(4):
        r = gd(p, 1.0 / float(h[i]), w_star + V.sum(dim=1), 1)
        e1 = (r.thetas[1, 0] - w_star) @ V
        assert abs(float(e1[i])) < 1e-12
        expected = 1 - h / h[i]
        torch.testing.assert_close(e1, expected, rtol=1e-10, atol=1e-12)


# --- ridge ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(40, 6), (8, 20)])
def test_ridge_closed_forms_agree_and_gd_reaches_them(shape):
    n, d = shape
    p = synthetic(n=n, d=d, condition=20.0, noise=0.3, ridge=0.05, seed=7)
    w = p.solution()
    for other in (p.ridge_primal(), p.ridge_dual(), p.augmented_ols()):
        torch.testing.assert_close(other, w, rtol=1e-10, atol=1e-10)
    # the gradient vanishes there
    assert float(p.loss_and_grad(w[None])[1].norm()) < 1e-12
    lr = 1.0 / float(p.hessian_eigenvalues()[0])
    r = gd(p, lr, torch.zeros(d), 4000)
    torch.testing.assert_close(r.final_theta[0], w, rtol=1e-10, atol=1e-10)


def test_ridge_shrinks_each_direction_by_its_filter_factor():
    p = synthetic(n=50, d=4, singular_values=[2.0, 1.0, 0.5, 0.1], noise=0.2, seed=2)
    lam = 0.25
    ols = p.V.T @ p.solution(0.0)
    ridge = p.V.T @ p.solution(lam)
    torch.testing.assert_close(ridge, ridge_filter(p.sigma, lam) * ols, rtol=1e-12, atol=1e-14)
    assert torch.all(torch.diff(ridge_filter(p.sigma, lam)) < 0)  # small sigma is shrunk most


def test_early_stopping_tracks_the_ridge_path():
    p = synthetic(n=60, d=5, condition=30.0, noise=0.5, seed=4)
    lr, steps = 0.2, 400
    paths = early_stopping_vs_ridge(p, lr, steps)
    torch.testing.assert_close(paths.gd, p.gd_iterates(lr, steps))
    # the GD path passes close to the ridge path, far closer than the path's own length scale
    scale = float(p.solution().norm())
    assert float(paths.distance[1:].max()) < 0.25 * scale
    assert float(paths.distance[-1]) < 0.05 * scale
    # and the nearest lambda shrinks as t grows, roughly like 1 / (2 lr t)
    lam = paths.nearest_lambda[10:]
    assert torch.all(torch.diff(lam) <= 1e-12)
    ratio = lam[-300:] / paths.matched_lambda[-300:]
    assert float(ratio.min()) > 0.2 and float(ratio.max()) < 5.0
    # filter factors: early stopping's 1 - (1 - 2 lr s^2)^t against ridge's s^2 / (s^2 + lambda)
    t = 50
    f_gd, f_ridge = gd_filter(p.sigma, lr, t), ridge_filter(p.sigma, 1.0 / (2 * lr * t))
    assert float((f_gd - f_ridge).abs().max()) < 0.2


# --- the minimum-norm solution and the row space ---------------------------------------------------------
def test_gd_and_sgd_from_zero_stay_in_row_space_and_reach_min_norm():
    p = synthetic(n=10, d=30, condition=3.0, seed=5)
    pinv = p.min_norm()
    torch.testing.assert_close(p.solution(), pinv, rtol=1e-10, atol=1e-12)
    null = p.V[:, 10:]  # directions X cannot see
    lr = 0.9 / float(p.hessian_eigenvalues()[0])
    groups = [Group("GD", "gd", [{"lr": lr}], torch.zeros(1, 30)),
              Group("SGD", "sgd", [{"lr": 0.5 * lr}], torch.zeros(3, 30), batch_size=2)]
    r = run(p, groups, 1000, seed=1)
    assert float((r.thetas @ null).abs().max()) < 1e-12
    torch.testing.assert_close(r.final_theta[0], pinv, rtol=1e-9, atol=1e-10)
    for i in range(1, 4):  # a consistent system: SGD converges exactly too
        torch.testing.assert_close(r.final_theta[i], pinv, rtol=1e-7, atol=1e-8)
    # and GD from elsewhere keeps its null-space component, landing on another minimizer
    start = null[:, 0] * 2.0
    r2 = gd(p, lr, start, 1000)
    torch.testing.assert_close(r2.final_theta[0], pinv + start, rtol=1e-9, atol=1e-10)


def _sgd_epochs(problem, starts, lrs, batch, seed):
    """Runs SGD epoch by epoch with lr ``lrs[k]`` in epoch k (a piecewise-constant schedule)."""
    per_epoch = problem.n_samples // batch
    theta, dist = starts, []
    w_star = problem.solution()
    for k, lr in enumerate(lrs):
        r = run(problem, [Group("sgd", "sgd", [{"lr": lr}], theta, batch_size=batch)], per_epoch, seed=seed * 10_000 + k)
        theta = r.final_theta
        dist.append((theta - w_star).norm(dim=1))
    return torch.stack(dist)  # [epochs, B]


def test_constant_step_sgd_has_a_variance_floor_that_one_over_t_removes():
    p = synthetic(n=200, d=5, singular_values=[1.0, 0.9, 0.8, 0.7, 0.6], noise=1.0, seed=6)
    starts = torch.zeros(8, 5)
    epochs = 120
    const = _sgd_epochs(p, starts, [0.1] * epochs, 10, seed=1).mean(dim=1)
    decay = _sgd_epochs(p, starts, [0.1 / (1 + k) for k in range(epochs)], 10, seed=1).mean(dim=1)
    # constant step: the distance stops falling (the floor), at a level set by lr * noise
    assert float(const[60:90].mean()) < 2.0 * float(const[90:].mean())
    assert float(const[90:].mean()) > 0.05
    # 1/t: keeps falling, well below the floor
    assert float(decay[-10:].mean()) < 0.3 * float(const[90:].mean())
    assert float(decay[-10:].mean()) < 0.7 * float(decay[30:40].mean())


# --- Adam, Adam + L2, AdamW ------------------------------------------------------------------------------
def test_adam_adam_l2_and_adamw_differ():
    ols = synthetic(n=50, d=3, singular_values=[1.0, 0.5, 0.2], noise=0.1, seed=8, w_true=[2.0, -1.0, 0.5])
    wd = 0.4
    ridge = synthetic(n=50, d=3, singular_values=[1.0, 0.5, 0.2], noise=0.1, seed=8, w_true=[2.0, -1.0, 0.5], ridge=wd / 2)
    start = torch.zeros(1, 3)
    hyper = {"lr": 0.01}
    steps = 4000
    adam = run(ols, [Group("Adam", "adam", [hyper], start)], steps)
    adam_l2 = run(ols, [Group("Adam + L2", "adam", [{**hyper, "weight_decay": wd}], start)], steps)
    adamw = run(ols, [Group("AdamW", "adamw", [{**hyper, "weight_decay": wd}], start)], steps)
    adam_ridge_loss = run(ridge, [Group("Adam on ridge loss", "adam", [hyper], start)], steps)
    # L2 in the gradient is L2 in the loss: Adam + L2 is Adam on the ridge loss
    torch.testing.assert_close(adam_l2.thetas, adam_ridge_loss.thetas, rtol=1e-10, atol=1e-12)
    a, b, c = adam.final_theta[0], adam_l2.final_theta[0], adamw.final_theta[0]
    # Adam finds OLS, Adam + L2 finds ridge; AdamW (decoupled decay) finds neither
    torch.testing.assert_close(a, ols.solution(), rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(b, ridge.solution(), rtol=1e-8, atol=1e-8)
    assert float((a - b).norm()) > 0.1
    assert float((c - a).norm()) > 0.1 and float((c - b).norm()) > 0.1


def test_heart_data_standardized_least_squares():
    p = make_problem("linear", {"data": "heart", "ridge": 0.01})
    assert p.X.shape == (303, 13) and p.coord_names[0] == "age"
    torch.testing.assert_close(p.X.mean(dim=0), torch.zeros(13, dtype=F64), rtol=0, atol=1e-12)
    # standardized columns: trace(X^T X / n) = d, i.e. sum sigma_i^2 = 13
    assert float((p.sigma**2).sum()) == pytest.approx(13.0, rel=1e-12)
    torch.testing.assert_close(p.solution(), p.ridge_primal(), rtol=1e-10, atol=1e-12)
    r = gd(p, 0.9 / float(p.hessian_eigenvalues()[0]), torch.zeros(13), 400)
    torch.testing.assert_close(r.final_theta[0], p.solution(), rtol=1e-8, atol=1e-10)
