"""Initialization schemes (core/problems/init.py) and the nets' ``init`` key.

Variances are checked within 4 standard errors of the sample variance (normal draws:
``var * sqrt(2 / (N - 1))``; uniform: ``var * sqrt(0.8 / N)``, from the fourth moment). The draws are
seeded, so each check is deterministic; a CPU whose vectorized ``randn`` rounds differently in the
last bit moves a sample variance by ~1e-16, nowhere near 4 standard errors.
"""

from __future__ import annotations

import math

import pytest
import torch

from core.errors import LabError
from core.problems import make_problem
from core.problems.init import InitSpec, init_point, parse_init, weight_std
from core.scenario import loads

WIDE = {"hidden": 300}  # heart_net: layer 1 is 30 -> 300 (9,000 weights), layer 2 300 -> 1


def _weights(p, theta):
    parts = p.unflatten(theta)
    return [(parts[f"layers.{k}.weight"], parts[f"layers.{k}.bias"]) for k in range(len(p.net.layers))]


def _old_default_init(p, seed):
    """The nets' initialization before init.py existed (kept here as the reference)."""
    g = torch.Generator().manual_seed(seed)
    parts = []
    for layer in p.net.layers:
        k = 1.0 / math.sqrt(layer.in_features)
        for shape in ((layer.out_features, layer.in_features), (layer.out_features,)):
            parts.append((2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1).mul(k).reshape(-1))
    return torch.cat(parts)


@pytest.mark.parametrize("kind", ["net13", "heart_net"])
def test_without_init_a_net_starts_where_it_always_did(kind):
    p = make_problem(kind)
    for seed in (0, 7):
        assert torch.equal(p.initial_point(seed), _old_default_init(p, seed))
    assert torch.equal(make_problem(kind, {"init": "default"}).initial_point(3), _old_default_init(p, 3))


@pytest.mark.parametrize("scheme,uniform", [
    ("default", True), ("normal", False), ("lecun", False), ("xavier_uniform", True),
    ("xavier_normal", False), ("he", False), ("kaiming", False),
])
def test_weight_variance_of_every_scheme(scheme, uniform):
    p = make_problem("heart_net", {**WIDE, "init": scheme})
    theta = p.initial_point(5)
    for (W, b), layer in zip(_weights(p, theta), p.net.layers):
        fan_in, fan_out = layer.in_features, layer.out_features
        want = {"default": 1 / (3 * fan_in), "normal": 0.01, "lecun": 1 / fan_in,
                "xavier_uniform": 2 / (fan_in + fan_out), "xavier_normal": 2 / (fan_in + fan_out),
                "he": 2 / fan_in, "kaiming": 2 / fan_in}[scheme]
        assert weight_std(parse_init(scheme), fan_in, fan_out) ** 2 == pytest.approx(want, rel=1e-12)
        n = W.numel()
        se = want * (math.sqrt(0.8 / n) if uniform else math.sqrt(2 / (n - 1)))
        assert abs(W.var().item() - want) < 4 * se, (scheme, fan_in, W.var().item(), want)
        assert abs(W.mean().item()) < 4 * math.sqrt(want / n)
        if uniform:  # U(-a, a) with a = sqrt(3 var): nothing outside
            assert W.abs().max().item() <= math.sqrt(3 * want) * (1 + 1e-12)
        if scheme == "default":  # PyTorch draws the biases too
            assert b.abs().max().item() <= 1 / math.sqrt(fan_in) and torch.count_nonzero(b) == b.numel()
        else:
            assert torch.count_nonzero(b) == 0


def test_sigma_bias_and_scale():
    base = make_problem("heart_net", {"init": {"scheme": "normal", "sigma": 0.5}}).initial_point(2)
    W = _weights(make_problem("heart_net"), base)[0][0]
    assert abs(W.std().item() / 0.5 - 1) < 4 * math.sqrt(0.5 / (W.numel() - 1))
    p = make_problem("heart_net", {"init": {"scheme": "normal", "sigma": 0.5, "bias": 0.1, "scale": 2.0}})
    theta = p.initial_point(2)
    for (W, b), (W0, _) in zip(_weights(p, theta), _weights(p, base)):
        assert torch.equal(W, 2.0 * W0)  # the same draws, scaled
        assert torch.equal(b, torch.full_like(b, 0.1))
    zero = make_problem("heart_net", {"init": {"bias": "zero"}}).initial_point(2)  # default scheme, zero bias
    for (W, b), (W0, _) in zip(_weights(p, zero), _weights(p, _old_default_init(p, 2))):
        assert torch.equal(W, W0) and torch.count_nonzero(b) == 0


def test_seeded_and_per_layer_fans():
    spec = InitSpec(scheme="he")
    a, b, c = (init_point([(4, 3), (3, 1)], spec, s) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.dtype == torch.float64 and a.numel() == 4 * 3 + 3 + 3 + 1


@pytest.mark.parametrize("value,where,match", [
    ("glorot", "problem.init.scheme", "unknown init scheme 'glorot'"),
    ({"scheme": "hee"}, "problem.init.scheme", "did you mean 'he'"),
    ({"scheme": "he", "sigma": 0.1}, "problem.init.sigma", "belongs to the 'normal' scheme"),
    ({"scheme": "normal", "sigma": -1.0}, "problem.init.sigma", "positive"),
    ({"bias": "one"}, "problem.init.bias", "\"zero\", \"draw\" or a number"),
    ({"scale": float("inf")}, "problem.init.scale", "finite"),
    ({"schema": "he"}, "problem.init.schema", "did you mean 'scheme'"),
])
def test_bad_init_is_a_one_line_error_at_its_key(value, where, match):
    with pytest.raises(LabError, match=match) as err:
        make_problem("net13", {"init": value})
    assert err.value.path == where and "\n" not in str(err.value)


SCENARIO = """
format = 1
title = "init"
steps = 3
[problem]
kind = "net13"
n = 40
init = {init}
[[optimizers]]
kind = "gd"
lr = 0.5
[start]
init = true
"""


def test_a_scenario_names_a_scheme_and_a_bad_one_is_refused_at_load():
    s = loads(SCENARIO.replace("{init}", '{ scheme = "xavier_normal", bias = 0.0 }'))
    assert s.problem.params["init"] == {"scheme": "xavier_normal", "bias": 0.0}
    with pytest.raises(LabError, match="unknown init scheme") as err:
        loads(SCENARIO.replace("{init}", '"xavierr"'))
    assert "problem.init.scheme" in str(err.value) or err.value.path.endswith("problem.init.scheme")


def test_start_init_takes_a_list_of_seeds_one_start_each():
    from core.scenario import build

    text = SCENARIO.replace("{init}", '"he"').replace("init = true", "init = [0, 3]")
    built = build(loads(text))
    starts = built.groups[0].starts
    p = built.problem
    assert torch.equal(starts, torch.stack([p.initial_point(0), p.initial_point(3)]))
    assert built.groups[0].traj_labels == ["gd init 0", "gd init 3"] == list(built.labels)
    for bad, match in (("[]", "non-empty list of seeds"), ("[1, 1]", "seed 1 is listed twice"),
                       ("[0, -2]", r"start\.init\[1\]"), ("[0.5]", r"start\.init\[0\]")):
        with pytest.raises(LabError, match=match) as err:
            loads(SCENARIO.replace("{init}", '"he"').replace("init = true", f"init = {bad}"))
        assert "\n" not in str(err.value)
