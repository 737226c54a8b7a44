"""The nets' losses (issue 13 item 5): hinge beside BCE, MSE and cross-entropy, the ``reduction``
(mean or sum), and the 0/1 error recorded beside the surrogate (as the training accuracy).

Known answers in float64 against hand-written losses and autograd Hessians (rtol 1e-10: the
closed-form R-operator and autograd round differently, ~1e-15 relative on any x86 CPU).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.engine import Group, run
from core.errors import LabError
from core.problems import make_problem


def _net(loss="hinge", reduction="mean", n=60):
    return make_problem("mlp", {"dataset": "moons", "hidden": [5], "activation": "tanh", "loss": loss, "n": n,
                                "reduction": reduction})


def _point(p, seed=2):
    g = torch.Generator().manual_seed(seed)
    return p.initial_point(1) + 0.5 * torch.randn(p.dim, generator=g, dtype=torch.float64)


def _hand(p, per_sample):
    """The mean of ``per_sample(f, y)`` over the 2 -> 5 tanh -> 1 net's raw outputs f, written out."""
    def loss(t):
        W1, b1, W2, b2 = t[:10].view(5, 2), t[10:15], t[15:20].view(1, 5), t[20:]
        f = (torch.tanh(p.X @ W1.T + b1) @ W2.T + b2)[:, 0]
        return per_sample(f, p.y).mean()
    return loss


def test_hinge_is_the_svm_margin_loss_and_its_hvp_is_autograd_s():
    p = _net("hinge")
    theta = _point(p)
    hand = _hand(p, lambda f, y: torch.clamp(1 - (2 * y - 1) * f, min=0))

    torch.testing.assert_close(p.loss(theta[None])[0], hand(theta), rtol=1e-12, atol=0)
    H = torch.autograd.functional.hessian(hand, theta)
    v = torch.randn(p.dim, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.testing.assert_close(p.hvp(theta, v), H @ v, rtol=1e-10, atol=1e-12)
    out = p.forward(theta[None], p.X)[0, :, 0]
    torch.testing.assert_close(p.predict(theta, p.X), (1 + out.clamp(-1, 1)) / 2)
    _, acc = p.evaluate(theta[None])
    assert acc.item() == ((out > 0) == (p.y > 0.5)).double().mean().item()


@pytest.mark.parametrize("loss", ["bce", "mse", "hinge"])
def test_sum_reduction_is_n_times_the_mean_for_loss_gradient_and_hessian(loss):
    mean, total = _net(loss, "mean"), _net(loss, "sum")
    theta = _point(mean)[None]
    n = mean.n_samples
    lm, gm = mean.loss_and_grad(theta)
    ls, gs = total.loss_and_grad(theta)
    torch.testing.assert_close(ls, n * lm, rtol=1e-12, atol=0)
    torch.testing.assert_close(gs, n * gm, rtol=1e-12, atol=1e-15)
    v = torch.randn(mean.dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(total.hvp(theta[0], v), n * mean.hvp(theta[0], v), rtol=1e-10, atol=1e-12)
    batch = torch.arange(8).reshape(1, 8)  # a minibatch sums its 8 samples: the step grows with m
    torch.testing.assert_close(total.loss(theta, batch), 8 * mean.loss(theta, batch), rtol=1e-12, atol=0)


def test_cross_entropy_sum_reduction_matches_torch():
    p = make_problem("mlp", {"dataset": "blobs", "hidden": [6], "n": 90, "reduction": "sum"})
    theta = p.initial_point(0)
    out = p.forward(theta[None], p.X)[0]
    torch.testing.assert_close(p.loss(theta[None])[0], F.cross_entropy(out, p.y, reduction="sum"), rtol=1e-12, atol=0)
    H = torch.func.hessian(lambda t: p.loss(t[None])[0])(theta)
    v = torch.randn(p.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(p.hvp(theta, v), H @ v, rtol=1e-10, atol=1e-12)


def test_the_0_1_error_is_recorded_beside_the_surrogate():
    p = _net("hinge")
    r = run(p, [Group("gd", "gd", [{"lr": 0.5}], p.initial_point(0)[None])], 40)
    assert r.accuracy.shape == r.loss.shape
    for t in (0, 40):
        out = p.forward(r.thetas[t], p.X)[0, :, 0]
        assert r.accuracy[t, 0].item() == ((out > 0) == (p.y > 0.5)).double().mean().item()
    assert "accuracy" in r.table().columns
    unrecorded = run(p, [Group("gd", "gd", [{"lr": 0.5}], p.initial_point(0)[None])], 40, record_params=False)
    assert unrecorded.accuracy is None and unrecorded.test_loss is not None  # held-out is scored either way


@pytest.mark.parametrize("params,match", [
    ({"loss": "hinge", "dataset": "blobs"}, "loss 'hinge' needs a binary data set"),
    ({"reduction": "total"}, "unknown reduction 'total'"),
    ({"reduction": "summ"}, "did you mean 'sum'"),
])
def test_bad_losses_and_reductions_are_one_line_errors(params, match):
    with pytest.raises(LabError, match=match) as err:
        make_problem("mlp", params)
    assert "\n" not in str(err.value)


def test_sigmoid_mse_and_its_hvp_and_the_vanishing_gradient_of_a_confident_mistake():
    p = _net("sigmoid_mse")
    theta = _point(p)
    hand = _hand(p, lambda f, y: (1 / (1 + torch.exp(-f)) - y) ** 2)

    torch.testing.assert_close(p.loss(theta[None])[0], hand(theta), rtol=1e-12, atol=0)
    H = torch.autograd.functional.hessian(hand, theta)
    v = torch.randn(p.dim, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.testing.assert_close(p.hvp(theta, v), H @ v, rtol=1e-10, atol=1e-12)
    # one confidently wrong answer (logit -8, label 1): d loss / d logit is p - y for BCE, tiny for MSE
    z = torch.tensor(-8.0, dtype=torch.float64, requires_grad=True)
    (g_bce,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(z, torch.tensor(1.0, dtype=torch.float64)), z)
    (g_mse,) = torch.autograd.grad((torch.sigmoid(z) - 1) ** 2, z)
    p8 = torch.sigmoid(torch.tensor(-8.0, dtype=torch.float64))
    torch.testing.assert_close(g_bce, p8 - 1)
    torch.testing.assert_close(g_mse, 2 * (p8 - 1) * p8 * (1 - p8))
    assert abs(g_mse) < 1e-3 * abs(g_bce)
