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
