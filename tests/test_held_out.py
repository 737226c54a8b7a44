"""Held-out loss and accuracy, samples seen and per-layer gradient norms, recorded by the engine
(issue 13, items 1, 7 and 8).

Every figure is compared with an independent float64 computation at the recorded parameters:
``problem.evaluate(theta_t, "test")`` for the held-out split, autograd (``torch.func.grad``) split
by layer for the gradient norms. The engine computes the same functions in the same batched
kernels, so the comparisons hold to 1e-12 relative on any x86 CPU (vector width or FMA changes
rounding at ~1e-16).
"""

from __future__ import annotations

import json

import pytest
import torch

from core.engine import Group, extra_step_columns, run
from core.errors import LabError
from core.problems import make_problem
from core.scenario import build, execute, loads

STEPS = 60


def _adam_run(p, lrs=(0.01, 0.05), batch_size=None):
    starts = torch.stack([p.initial_point(0), p.initial_point(1)])
    return run(p, [Group("adam", "adam", [{"lr": lr} for lr in lrs], starts, batch_size=batch_size)], STEPS)


def test_the_held_out_loss_is_the_test_split_loss_at_each_recorded_point():
    p = make_problem("heart_net", {"hidden": 8})
    r = _adam_run(p)
    assert r.test_loss.shape == r.loss.shape == (STEPS + 1, 2)
    for t in (0, 1, 17, STEPS):
        loss, acc = p.evaluate(r.thetas[t], "test")
        torch.testing.assert_close(r.test_loss[t], loss, rtol=1e-12, atol=0)
        torch.testing.assert_close(r.test_accuracy[t], acc, rtol=0, atol=0)
        train, train_acc = p.evaluate(r.thetas[t], "train")
        torch.testing.assert_close(r.loss[t], train, rtol=1e-12, atol=0)
        torch.testing.assert_close(r.accuracy[t], train_acc, rtol=0, atol=0)  # 1 - the 0/1 error
    assert p.n_test == 61 and p.n_samples == 242  # the heart data's documented split
    # trained on the training split only: a problem that has no test split trains identically
    q = make_problem("heart_net", {"hidden": 8, "test_fraction": 0.0})
    assert q.n_test == 0 and "test_loss" not in extra_step_columns(q)


def test_the_held_out_split_changes_nothing_the_optimizer_sees():
    """The engine scores the test rows but never trains on them: the trajectories equal a run on a
    copy of the problem whose test split was removed (same training rows)."""
    p = make_problem("mlp", {"dataset": "moons", "hidden": [6], "n": 80})
    r = _adam_run(p)
    stripped = p.replace(X_test=p.X_test[:0], y_test=p.y_test[:0])
    s = _adam_run(stripped)
    assert s.test_loss is None and s.test_accuracy is None
    assert torch.equal(r.thetas, s.thetas) and torch.equal(r.loss, s.loss)


def test_regression_nets_record_loss_but_no_accuracy():
    p = make_problem("mlp", {"dataset": "regression1d", "hidden": [8], "activation": "tanh", "n": 50})
    r = _adam_run(p)
    assert r.test_loss is not None and r.test_accuracy is None
    assert extra_step_columns(p)[:2] == ["test_loss", "samples_seen"]


def test_per_layer_gradient_norms_equal_autograd():
    p = make_problem("mlp", {"dataset": "moons", "hidden": [5, 4], "activation": "sigmoid", "n": 60})
    r = _adam_run(p)
    assert r.layer_names == ["layer1", "layer2", "layer3"] and r.layer_grad_norm.shape == (STEPS + 1, 2, 3)
    grad = torch.func.grad(lambda t: p.loss(t[None])[0])
    for t in (0, 30, STEPS):
        for i in range(2):
            g = grad(r.thetas[t, i])
            want = torch.stack([g[s].norm() for _, s in p.layer_slices()])
            torch.testing.assert_close(r.layer_grad_norm[t, i], want, rtol=1e-12, atol=1e-15)
            torch.testing.assert_close(r.layer_grad_norm[t, i].norm(), r.grad_norm[t, i], rtol=1e-12, atol=1e-15)
    sizes = [s.stop - s.start for _, s in p.layer_slices()]
    assert sizes == [2 * 5 + 5, 5 * 4 + 4, 4 + 1] and sum(sizes) == p.dim


def test_samples_seen_counts_full_batches_and_minibatches():
    p = make_problem("heart_net", {"hidden": 4})
    full = _adam_run(p)
    mini = _adam_run(p, batch_size=32)
    steps = torch.arange(STEPS + 1, dtype=torch.float64)[:, None]
    assert torch.equal(full.samples_seen, steps.expand(-1, 2) * 242)
    assert torch.equal(mini.samples_seen, steps.expand(-1, 2) * 32)
    assert make_problem("quartic").n_samples is None
    toy = run(make_problem("quartic"), [Group("gd", "gd", [{"lr": 0.1}], torch.tensor([[1.0]], dtype=torch.float64))], 3)
    assert toy.samples_seen is None and toy.test_loss is None and toy.layer_grad_norm is None
    assert list(toy.table().columns) == ["optimizer", "step", "loss", "grad_norm", "x0"]


def test_summary_and_table_carry_the_best_step():
    p = make_problem("heart_net", {"hidden": 16})
    r = _adam_run(p, lrs=(0.01, 0.01))
    entry = r.summary()["trajectories"][0]
    best = int(torch.argmin(r.test_loss[:, 0]))
    assert entry["best_test_step"] == best and entry["best_test_loss"] == r.test_loss[best, 0].item()
    assert entry["final_test_loss"] == r.test_loss[-1, 0].item()
    assert entry["test_accuracy_at_best"] == r.test_accuracy[best, 0].item()
    json.dumps(entry)  # plain JSON values
    table = r.table()
    assert list(table.columns) == ["optimizer", "step", "loss", "grad_norm", "accuracy", "test_loss", "test_accuracy",
                                   "samples_seen", "grad_norm_layer1", "grad_norm_layer2"]
    row = table[(table.optimizer == r.labels[0]) & (table.step == best)].iloc[0]
    assert row.test_loss == r.test_loss[best, 0].item() and row.samples_seen == best * 242


LESSON = """format = 1
title = "held out"
steps = 60
[problem]
kind = "heart_net"
hidden = 16
{extra}
[start]
init = true
[[optimizers]]
kind = "adam"
label = "Adam"
lr = 0.01
[[expect]]
check = "best_step"
optimizer = "Adam"
between = [{lo}, {hi}]
[[expect]]
check = "final_test_loss"
optimizer = "Adam"
above = 0.44
"""


def test_expectations_name_the_held_out_loss_and_need_a_split():
    s = loads(LESSON.format(extra="", lo=10, hi=30))
    result = execute(s, landscape=False, sharpness=False)
    from core.scenario.expectations import check
    outcomes = check(result)
    assert [o.passed for o in outcomes] == [True, True], [o.measured for o in outcomes]
    assert "best test_loss" in outcomes[0].measured and "at step" in outcomes[0].measured
    wrong = check(execute(loads(LESSON.format(extra="", lo=40, hi=60)), landscape=False, sharpness=False))
    assert not wrong[0].passed  # the claim fails when the best step is elsewhere
    with pytest.raises(LabError, match="needs a held-out split") as err:
        build(loads(LESSON.format(extra="test_fraction = 0.0", lo=10, hi=30)))
    assert "expect[0].metric" in str(err.value) and "\n" not in str(err.value)


def test_held_out_scores_are_the_same_whether_parameters_are_recorded_or_not():
    """Recorded runs score the held-out split after the run in one batched call, unrecorded ones
    every step: the same numbers either way (the same batched evaluation of the same points; the
    chunking only changes which rows share a matrix product, so float64 rounding stays ~1e-16)."""
    p = make_problem("heart_net", {"hidden": 8})
    starts = torch.stack([p.initial_point(0), p.initial_point(1)])
    groups = [Group("adam", "adam", [{"lr": 0.01}, {"lr": 0.05}], starts)]
    a = run(p, groups, STEPS)
    b = run(p, groups, STEPS, record_params=False)
    assert b.thetas is None
    torch.testing.assert_close(a.test_loss, b.test_loss, rtol=1e-12, atol=0)
    torch.testing.assert_close(a.test_accuracy, b.test_accuracy, rtol=0, atol=0)
    diverging = run(p, [Group("gd", "gd", [{"lr": 1e4}], starts[:1])], 30)
    k = int(diverging.diverged_step[0])
    assert 0 < k < 30 and torch.isnan(diverging.test_loss[k + 1:, 0]).all() and torch.isnan(diverging.test_accuracy[k + 1:, 0]).all()
