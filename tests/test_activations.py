"""The activation table (core/problems/activations.py) and its use in the nets.

Every check is float64 and compares against an independent computation (autograd on a hand-written
``phi``, or ``torch.autograd.functional.hessian`` of a hand-written loss), with rtol 1e-10: the
closed forms and autograd round differently (different operation order, FMA or not, vector width
on any x86 CPU), but in float64 those differences are ~1e-15 relative, far inside the tolerance.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.errors import LabError
from core.problems import make_problem
from core.problems.activations import ACTIVATIONS, LEAKY_SLOPE, derivatives

SLOPE = 0.25  # not the default, so a test fails if the slope is dropped anywhere

#: written out independently of the lab, for autograd to differentiate
REFERENCE = {
    "identity": lambda z: z,
    "step": lambda z: (z > 0).to(z) + 0.5 * (z == 0).to(z),  # comparisons carry no gradient: phi' = 0
    "sigmoid": lambda z: 1 / (1 + torch.exp(-z)),
    "tanh": torch.tanh,
    "relu": lambda z: torch.clamp(z, min=0),
    "leaky_relu": lambda z: torch.where(z > 0, z, SLOPE * z),
    "elu": lambda z: torch.where(z > 0, z, torch.exp(z) - 1),
    "softplus": lambda z: torch.log1p(torch.exp(z)),
    "silu": lambda z: z / (1 + torch.exp(-z)),
    "swish": lambda z: z / (1 + torch.exp(-z)),
    "gelu": lambda z: 0.5 * z * (1 + torch.erf(z / math.sqrt(2.0))),
}


def test_reference_covers_the_whole_table():
    assert set(REFERENCE) == set(ACTIVATIONS)
    assert LEAKY_SLOPE == 0.1  # the lecture slide's slope


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_phi_and_its_closed_form_derivatives_equal_autograd(name):
    g = torch.Generator().manual_seed(0)
    z = 4 * torch.randn(400, generator=g, dtype=torch.float64)
    z = z[z.abs() > 1e-3]  # away from the kinks; conventions at 0 are checked below
    ref = REFERENCE[name]
    t = z.clone().requires_grad_(True)
    out = ref(t)
    if out.requires_grad:
        (d1,) = torch.autograd.grad(out.sum(), t, create_graph=True)
    else:  # the step: no path from z to phi at all, so phi' is 0
        d1 = torch.zeros_like(z)
    d2 = torch.autograd.grad(d1.sum(), t, allow_unused=True)[0] if d1.requires_grad else None
    phi, got1, got2 = derivatives(name, z, SLOPE)
    torch.testing.assert_close(phi, ref(z), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got1, d1.detach(), rtol=1e-10, atol=1e-12)
    if got2 is None:  # "identically 0" must be true
        assert d2 is None or torch.count_nonzero(d2) == 0, name
    else:
        torch.testing.assert_close(got2, d2, rtol=1e-10, atol=1e-12)


def test_values_and_conventions_at_zero():
    zero = torch.zeros(1, dtype=torch.float64)
    at0 = {name: derivatives(name, zero, SLOPE) for name in ACTIVATIONS}
    assert at0["step"][0].item() == 0.5 and at0["step"][1].item() == 0.0
    assert at0["relu"][1].item() == 0.0  # PyTorch's ReLU'(0)
    assert at0["leaky_relu"][1].item() == SLOPE
    assert at0["elu"][1].item() == 1.0 and at0["elu"][2].item() == 1.0  # the z <= 0 branch
    assert at0["sigmoid"][1].item() == 0.25 and at0["tanh"][1].item() == 1.0
    assert at0["gelu"][1].item() == 0.5 and at0["silu"][1].item() == 0.5
    assert at0["softplus"][0].item() == pytest.approx(math.log(2.0), rel=1e-15)
    # softplus is linear above 20, as PyTorch's (no overflow at large z)
    big = torch.tensor([50.0, 800.0], dtype=torch.float64)
    phi, d1, d2 = derivatives("softplus", big)
    assert torch.equal(phi, big) and torch.equal(d1, torch.ones(2, dtype=torch.float64)) and torch.count_nonzero(d2) == 0


def _hand_written_loss(p, name, slope):
    """BCE of a 2-hidden-layer net written out with REFERENCE[name], from theta's layout."""
    act = REFERENCE[name] if name != "leaky_relu" else (lambda z: torch.where(z > 0, z, slope * z))
    shapes = [s for _, s in p.shapes]

    def loss(t):
        parts, i = [], 0
        for s in shapes:
            n = math.prod(s)
            parts.append(t[i:i + n].view(s))
            i += n
        W1, b1, W2, b2, W3, b3 = parts
        h = act(act(p.X @ W1.T + b1) @ W2.T + b2)
        return F.binary_cross_entropy_with_logits((h @ W3.T + b3)[:, 0], p.y)

    return loss


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_net_loss_and_closed_form_hvp_equal_autograd_hessian_for_every_activation(name):
    p = make_problem("mlp", {"dataset": "moons", "hidden": [4, 3], "activation": name, "n": 40,
                             "leaky_slope": SLOPE})
    g = torch.Generator().manual_seed(3)
    theta = p.initial_point(1) + 0.5 * torch.randn(p.dim, generator=g, dtype=torch.float64)
    loss = _hand_written_loss(p, name, SLOPE)
    torch.testing.assert_close(p.loss(theta[None])[0], loss(theta), rtol=1e-10, atol=1e-12)
    H = torch.autograd.functional.hessian(loss, theta)
    for v in torch.randn(2, p.dim, generator=g, dtype=torch.float64):
        torch.testing.assert_close(p.hvp(theta, v), H @ v, rtol=1e-10, atol=1e-12)
    if name == "step":  # nothing passes a step layer: only the output layer gets a gradient
        grad = torch.func.grad(lambda t: p.loss(t[None])[0])(theta)
        assert torch.count_nonzero(grad[: p.dim - 4]) == 0 and torch.count_nonzero(grad[p.dim - 4:]) > 0


def test_leaky_slope_defaults_to_the_slide_and_is_checked():
    p = make_problem("mlp", {"dataset": "moons", "hidden": [3], "activation": "leaky_relu", "n": 20})
    assert p.net.leaky_slope == 0.1
    assert make_problem("heart_net", {"activation": "leaky_relu", "leaky_slope": 0.3}).net.leaky_slope == 0.3
    with pytest.raises(LabError, match=r"problem\.leaky_slope.*finite number"):
        make_problem("mlp", {"activation": "leaky_relu", "leaky_slope": float("nan")})


def test_unknown_activation_names_the_table():
    with pytest.raises(LabError, match="did you mean 'swish'.*allowed: .*step.*silu"):
        make_problem("mlp", {"activation": "swishh"})
