"""The engine against closed forms, divergence detection, and batched == one by one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.engine import Group, run
from core.errors import LabError
from core.problems import make_problem


def _gd(problem, lr, start, steps, **kw):
    return run(problem, [Group("GD", "gd", [{"lr": lr}], torch.tensor([start], dtype=torch.float64), **kw)], steps)


def test_quartic_gd_follows_the_lecture_recurrence_step_by_step():
    """w_{k+1} = w_k - lr g'(w_k), g'(w) = (4 w^3 + 2 w + 10) / 50, from w = 2.5 with lr = 1."""
    r = _gd(make_problem("quartic"), 1.0, [2.5], 40)
    w, expected = 2.5, []
    for _ in range(41):
        expected.append(w)
        w = w - 1.0 * (4 * w**3 + 2 * w + 10) / 50
    np.testing.assert_allclose(r.thetas[:, 0, 0].numpy(), expected, rtol=1e-14, atol=1e-15)
    g = lambda w: (w**4 + w**2 + 10 * w) / 50  # noqa: E731
    np.testing.assert_allclose(r.loss[:, 0].numpy(), [g(w) for w in expected], rtol=1e-13, atol=1e-15)
    # it takes about two dozen steps, not "a few", to get within 1e-3 of w* ~ -1.2348
    w_star = float(r.problem.minima[0, 0])
    first = int(np.argmax(np.abs(np.array(expected) - w_star) < 1e-3))
    assert 20 <= first <= 30 and abs(w_star + 1.2348) < 1e-4


@pytest.mark.parametrize("lr", [0.1, 0.25, 0.5, 0.75, 1.0])
def test_bowl_gd_is_geometric(lr):
    """g = w1^2 + w2^2 + 2: w_k = (1 - 2 lr)^k w_0 (lr = 0.5 lands in one step, lr = 1 cycles)."""
    w0 = torch.tensor([1.5, -0.5], dtype=torch.float64)
    r = _gd(make_problem("bowl"), lr, w0.tolist(), 30)
    k = torch.arange(31, dtype=torch.float64)[:, None]
    torch.testing.assert_close(r.thetas[:, 0], (1 - 2 * lr) ** k * w0, rtol=1e-13, atol=1e-15)


def test_gd_on_a_rotated_quadratic_equals_the_matrix_power_form():
    p = make_problem("quadratic", {"eigenvalues": [0.5, 4.0, 9.0], "rotation_seed": 3, "center": [1.0, -2.0, 0.5]})
    lr, w0, steps = 0.15, torch.tensor([3.0, 1.0, -1.0], dtype=torch.float64), 60
    r = _gd(p, lr, w0.tolist(), steps)
    M = torch.eye(3, dtype=torch.float64) - lr * p.A
    expected = torch.stack([p.center + torch.linalg.matrix_power(M, k) @ (w0 - p.center) for k in range(steps + 1)])
    torch.testing.assert_close(r.thetas[:, 0], expected, rtol=1e-12, atol=1e-13)


def test_learning_rate_above_two_over_lambda_max_is_reported_diverged():
    p = make_problem("quadratic", {"eigenvalues": [1.0, 10.0]})
    limit = 2 / 10.0
    r = run(p, [Group("GD", "gd", [{"lr": limit * 0.95}, {"lr": limit * 1.05}], torch.tensor([[1.0, 1.0]]))], 2000)
    assert not r.diverged(0) and r.loss[-1, 0] < 1e-20
    assert r.diverged(1)
    step = int(r.diverged_step[1])
    # |1 - lr*10| = 1.1 per step: |w| passes the 1e6 bound after about log(1e6)/log(1.1) ~ 145 steps
    assert 130 <= step <= 160
    assert torch.isnan(r.loss[step + 1:, 1]).all(), "a diverged trajectory stops"
    table = r.table()
    assert table[table.optimizer == r.labels[1]].step.max() == step
    assert table[table.optimizer == r.labels[0]].step.max() == 2000


def test_batched_run_equals_one_by_one_bit_for_bit():
    """Every (optimizer x lr x start) trajectory, including noisy SGD, equals its run alone."""
    p = make_problem("rosenbrock")
    starts = torch.tensor([[-1.5, 2.0], [0.5, -0.5]], dtype=torch.float64)
    groups = [
        Group("GD", "gd", [{"lr": 1e-3}, {"lr": 2e-3}], starts),
        Group("Adam", "adam", [{"lr": 0.05}], starts),
        Group("Nesterov", "nesterov", [{"lr": 5e-4, "momentum": 0.9}], starts[:1]),
        Group("SGD", "sgd", [{"lr": 1e-3}], starts, noise=0.5),
    ]
    batched = run(p, groups, 200, seed=7)
    i = 0
    for g in groups:
        for j in range(g.size):
            single = Group(g.label, g.kind, [g.hyper_rows[j]], g.starts[j:j + 1], noise=g.noise)
            alone = run(make_problem("rosenbrock"), [single], 200, seeds=[batched.seeds[i]])
            assert torch.equal(alone.thetas[:, 0], batched.thetas[:, i]), batched.labels[i]
            assert torch.equal(alone.loss[:, 0], batched.loss[:, i])
            i += 1


def test_runs_are_reproducible_and_seeds_matter():
    p = make_problem("multimin", {"dim": 2})
    g = [Group("SGD", "sgd", [{"lr": 0.05}], torch.tensor([[1.3, 0.5]]), noise=1.0)]
    a, b, c = run(p, g, 100, seed=1), run(p, g, 100, seed=1), run(p, g, 100, seed=2)
    assert torch.equal(a.thetas, b.thetas)
    assert not torch.equal(a.thetas, c.thetas)


def test_noise_model_is_unbiased_with_the_stated_variance():
    """SGD on a toy: g + sigma xi. From a fixed point with lr tiny, the increments are -lr (g + sigma xi)."""
    p = make_problem("bowl")
    n, sigma, lr = 400, 0.7, 1e-9
    r = run(p, [Group("SGD", "sgd", [{"lr": lr}], torch.zeros(n, 2, dtype=torch.float64), noise=sigma)], 1, seed=3)
    xi = (r.thetas[1] - r.thetas[0]) / (-lr * sigma)  # true gradient at 0 is 0
    assert abs(float(xi.mean())) < 0.1
    assert abs(float(xi.std()) - 1.0) < 0.1
    assert r.grad_norm[0].mean() > 0.5  # the recorded gradient is the one the optimizer used


def test_table_has_exactly_the_contract_columns():
    r = _gd(make_problem("bowl"), 0.1, [1.0, 1.0], 5)
    assert list(r.table().columns) == ["optimizer", "step", "loss", "grad_norm", "x0", "x1"]
    big = make_problem("rastrigin", {"dim": 11})
    r = run(big, [Group("GD", "gd", [{"lr": 1e-3}], torch.ones(1, 11))], 3)
    assert list(r.table().columns) == ["optimizer", "step", "loss", "grad_norm"]


def test_start_dimension_mismatch_is_a_clear_error():
    with pytest.raises(LabError, match="start points have 1 coordinates but problem 'bowl' has 2 parameters"):
        _gd(make_problem("bowl"), 0.1, [1.0], 5)


def test_batch_size_on_a_toy_is_refused():
    with pytest.raises(LabError, match="batch_size needs a data problem"):
        run(make_problem("bowl"), [Group("SGD", "sgd", [{"lr": 0.1}], torch.ones(1, 2), batch_size=8)], 5)


def test_steps_must_be_positive():
    with pytest.raises(LabError, match="steps must be a positive integer"):
        _gd(make_problem("bowl"), 0.1, [1.0, 1.0], 0)


def test_auto_device_is_cpu_without_a_gpu_and_cuda_without_one_is_refused():
    from core.device import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(LabError, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_run_matches_cpu():
    p = make_problem("rosenbrock")
    g = [Group("Adam", "adam", [{"lr": 0.01}], torch.tensor([[-1.0, 2.0]]))]
    cpu = run(p, g, 100)
    gpu = run(make_problem("rosenbrock"), g, 100, device="cuda")
    torch.testing.assert_close(gpu.thetas, cpu.thetas, rtol=1e-10, atol=1e-12)
