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
    """w_{k+1} = w_k - lr g'(w_k), g'(w) = (4 w^3 + 2 w + 10) / 50, from w = 2.5 with lr = 1.

    Tolerance: each step of either side (torch here, Python floats there, each free to fuse or
    not) rounds ~5 times in g' and once in the subtraction, and the map damps earlier errors by
    |1 - g''(w_k)| (<= 0.96, at w = 0; 0.59 at the minimum). Summing both sides' worst local
    errors, damped along this very path, gives at most 1.7 x (1e-14 |w| + 1e-15) at some step,
    so the bound below is 2e-14 / 2e-15 (measured: 1 ulp, 6 % of it). The loss is a sum of three
    terms with a cancellation factor < 2 at the minimum and g' bounded on the path: rtol 1e-13."""
    r = _gd(make_problem("quartic"), 1.0, [2.5], 40)
    w, expected = 2.5, []
    for _ in range(41):
        expected.append(w)
        w = w - 1.0 * (4 * w**3 + 2 * w + 10) / 50
    np.testing.assert_allclose(r.thetas[:, 0, 0].numpy(), expected, rtol=2e-14, atol=2e-15)
    g = lambda w: (w**4 + w**2 + 10 * w) / 50  # noqa: E731
    np.testing.assert_allclose(r.loss[:, 0].numpy(), [g(w) for w in expected], rtol=1e-13, atol=1e-15)
    # it takes about two dozen steps, not "a few", to get within 1e-3 of w* ~ -1.2348
    w_star = float(r.problem.minima[0, 0])
    first = int(np.argmax(np.abs(np.array(expected) - w_star) < 1e-3))
    assert 20 <= first <= 30 and abs(w_star + 1.2348) < 1e-4


@pytest.mark.parametrize("lr", [0.1, 0.25, 0.5, 0.75, 1.0])
def test_bowl_gd_is_geometric(lr):
    """g = w1^2 + w2^2 + 2: w_k = (1 - 2 lr)^k w_0 (lr = 0.5 lands in one step, lr = 1 cycles).

    Tolerance: the gradient 2 w is exact and one step w - lr (2 w) rounds twice, a relative error
    <= (2 lr + |1 - 2 lr|) / |1 - 2 lr| eps <= 4 eps for these lrs (lr = 0.5 and 1 are exact);
    over 30 steps, plus 1 - 2 lr rounded once and raised to the 30th power on the other side, that
    is <= ~150 eps = 3.3e-14 relative, under rtol 1e-13."""
    w0 = torch.tensor([1.5, -0.5], dtype=torch.float64)
    r = _gd(make_problem("bowl"), lr, w0.tolist(), 30)
    k = torch.arange(31, dtype=torch.float64)[:, None]
    torch.testing.assert_close(r.thetas[:, 0], (1 - 2 * lr) ** k * w0, rtol=1e-13, atol=1e-15)


def test_gd_on_a_rotated_quadratic_equals_the_matrix_power_form():
    """Tolerance: |1 - lr lambda| <= 0.925, so GD is a contraction and the rounding of each step
    (~ eps (|w| + lr ||A|| |w - c|) ~ 8 eps) is damped: the total stays below 8 eps / 0.075 ~ 2.4e-14
    absolute; matrix_power adds ~log2(60) ||M|| eps. rtol 1e-12 / atol 1e-13 covers both 4x over."""
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
    """Every (optimizer x lr x start) trajectory, including noisy SGD, equals its run alone.

    Why bit for bit, on any CPU: batched and alone differ only in the number of rows, and every
    kernel on the path is either one IEEE operation per element (+, -, *, /, sqrt: correctly
    rounded, so the vectorised loop that handles 8 batched elements and the scalar loop that
    handles 2 give the same bits), or a fused kernel (addcmul, lerp: the vectorised code may
    contract into an FMA) whose coefficient is per row ([B, 1], broadcast), which keeps its inner
    loop at d = 2 elements, shorter than any vector, so both sides take the scalar loop. No
    reduction spans more than one element pair per row (Rosenbrock has no sum), and each row's
    noise is a counter-based function of its seed, step and index (core.randomness: exact integer
    hashing, Box-Muller from correctly rounded operations only). Checked under
    ATEN_CPU_CAPABILITY=default, avx2 and avx512 (the kernels an x86 CPU can get). At d > 2 this
    argument fails for the fused kernels: compare with a bound there, not bit for bit."""
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
    # the same calls in one process: same kernels on the same layout, hence the same bits
    a, b, c = run(p, g, 100, seed=1), run(p, g, 100, seed=1), run(p, g, 100, seed=2)
    assert torch.equal(a.thetas, b.thetas)
    assert not torch.equal(a.thetas, c.thetas)


def test_noise_model_is_unbiased_with_the_stated_variance():
    """SGD on a toy: g + sigma xi. From a fixed point with lr tiny, the increments are -lr (g + sigma xi).

    The bounds are statistical, not rounding ones: 800 seeded N(0, 1) draws have a mean within
    0.1 (2.8 standard errors) and a std within 0.1 of 1; recovering xi from the 1e-9 step costs
    ~1e-7 relative, far below both."""
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
    # CUDA fuses and orders differently: ~1 ulp per step per side. This 100-step Adam run does not
    # amplify rounding (a 1-ulp change of the start stays within 3 ulps at every step, measured on
    # CPU), so the sides stay within ~100 steps x a few eps ~ 1e-13 relative: rtol 1e-10 is safe.
    torch.testing.assert_close(gpu.thetas, cpu.thetas, rtol=1e-10, atol=1e-12)
