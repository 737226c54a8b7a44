"""Dropout on the nets (issue 13 item 6): inverted dropout at training time only.

Known answers: the masks keep a unit where the uniform is >= p and scale it by 1/(1 - p), so each
activation keeps its expectation (checked over many draws within 4 standard errors; seeded, so
deterministic, and the statistic moves by ~1e-16 between CPUs); evaluation never drops.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.errors import LabError
from core.problems import make_problem

P = 0.3


def _net(dropout=P, activation="relu", hidden=(6, 4)):
    return make_problem("mlp", {"dataset": "moons", "hidden": list(hidden), "activation": activation, "n": 40,
                                "dropout": dropout})


def _uniforms(p, rows, samples, seed=0):
    return torch.rand(rows, p.dropout_units(samples), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_masks_keep_with_probability_1_minus_p_and_scale_by_its_inverse():
    p = _net()
    n = p.n_samples
    assert p.dropout_units(n) == (6 + 4) * n
    u = _uniforms(p, 3, n)
    keep = p.dropout_keep(u, n)
    assert [k.shape for k in keep] == [(3, 6, n), (3, 4, n)]
    values = torch.cat([k.reshape(-1) for k in keep])
    assert set(values.unique().tolist()) == {0.0, 1 / (1 - P)}
    torch.testing.assert_close(torch.cat([k.reshape(3, -1) for k in keep], dim=1), (u >= P).double() / (1 - P))


def test_dropout_preserves_the_expectation_of_a_linear_net():
    """With identity activations the output is linear in the masks: its mean over many dropout
    draws is the undropped output, within 4 standard errors per sample."""
    p = _net(activation="identity", hidden=(5,))
    theta = p.initial_point(0)[None].expand(4000, -1)
    n = p.n_samples
    out = p.forward(theta, p.X, p.dropout_keep(_uniforms(p, 4000, n), n))[..., 0]  # [4000, n]
    want = p.forward(theta[:1], p.X)[0, :, 0]
    se = out.std(dim=0) / math.sqrt(out.shape[0])
    assert bool(((out.mean(dim=0) - want).abs() < 4 * se + 1e-12).all())
    assert bool((out.std(dim=0) > 0).any())  # the draws really differ


def test_evaluation_never_drops_and_the_training_loss_is_the_masked_net_s():
    p, q = _net(), _net(dropout=0.0)
    theta = p.initial_point(1)[None]
    assert torch.equal(p.loss(theta), q.loss(theta)) and torch.equal(p.evaluate(theta)[0], q.evaluate(theta)[0])
    n = p.n_samples
    u = _uniforms(p, 1, n, seed=4)
    k1, k2 = p.dropout_keep(u, n)

    def hand(t):
        par = p.unflatten(t[None])
        W1, b1, W2, b2, W3, b3 = (par[name][0] for name, _ in p.shapes)
        h1 = torch.relu(p.X @ W1.T + b1) * k1[0].T
        h2 = torch.relu(h1 @ W2.T + b2) * k2[0].T
        return F.binary_cross_entropy_with_logits((h2 @ W3.T + b3)[:, 0], p.y)

    loss, grad = p.loss_and_grad(theta, dropout_u=u)
    torch.testing.assert_close(loss[0], hand(theta[0]), rtol=1e-12, atol=0)
    torch.testing.assert_close(grad[0], torch.func.grad(hand)(theta[0]), rtol=1e-10, atol=1e-14)
    assert not torch.equal(loss, p.loss(theta))  # dropping units changed the training loss


def test_a_minibatch_draws_masks_for_its_own_samples():
    p = _net()
    theta = p.initial_point(0)[None].expand(2, -1)
    batch = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    u = _uniforms(p, 2, 4)
    assert u.shape == (2, 10 * 4)
    assert p.loss(theta, batch, dropout_u=u).shape == (2,)


@pytest.mark.parametrize("value,match", [(1.0, r"dropout is a probability in \[0, 1\)"), (-0.1, r"in \[0, 1\)"),
                                         (float("nan"), "expected a finite number"), (True, "expected a finite number")])
def test_a_probability_outside_0_1_is_refused(value, match):
    with pytest.raises(LabError, match=match) as err:
        make_problem("mlp", {"dropout": value})
    assert "\n" not in str(err.value)


def test_the_engine_trains_with_dropout_reproducibly_and_records_the_whole_net_s_loss():
    from core.engine import Group, run

    p = make_problem("heart_net", {"hidden": 8, "dropout": 0.5})
    starts = torch.stack([p.initial_point(0), p.initial_point(1)])
    groups = [Group("gd", "gd", [{"lr": 0.5}], starts), Group("sgd", "sgd", [{"lr": 0.5}], starts[:1], batch_size=32)]
    a, b = run(p, groups, 30), run(p, groups, 30)
    assert torch.equal(a.thetas, b.thetas)  # seeded: the same masks every run
    for t in (0, 15, 30):  # the recorded loss is the whole net's, never a dropped-out one
        torch.testing.assert_close(a.loss[t], p.loss(a.thetas[t]), rtol=1e-12, atol=0)
    plain = run(make_problem("heart_net", {"hidden": 8}), groups, 30)
    assert torch.equal(plain.thetas[0], a.thetas[0]) and not torch.allclose(plain.thetas[-1], a.thetas[-1])
    # a row draws its masks from its own seed: alone it follows the same path as in the batch (to
    # rounding: a net evaluates one row with addmm and several with baddbmm, whose sums round
    # differently by ~1e-16; different masks would differ by ~1e-2 after one step)
    alone = run(p, [Group("gd", "gd", [{"lr": 0.5}], starts[1:])], 30, seeds=[a.seeds[1]])
    torch.testing.assert_close(alone.thetas[:, 0], a.thetas[:, 1], rtol=1e-10, atol=1e-12)
    # the first update is GD on the dropped-out loss with the engine's masks
    from core.randomness import RowStreams

    u = RowStreams(a.seeds).uniforms([0, 1], 0, p.dropout_units(p.n_samples))
    g = p.loss_and_grad(starts, dropout_u=u)[1]
    torch.testing.assert_close(a.thetas[1, :2], starts - 0.5 * g, rtol=1e-12, atol=1e-15)
