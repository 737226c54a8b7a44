"""Learning-rate schedules (core.optimizers.schedules): the closed forms, the scheduled rules
against torch.optim with the matching torch.optim.lr_scheduler, the scenario key's errors, and the
lesson's lr curve in the real window."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import LabError
from core.optimizers import get_rule, make_hyper
from core.optimizers.schedules import ScheduleSpec, lr_at, lr_curve, read_schedule, resolve, scheduled
from core.optimizers.transforms import apply_updates

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "scenarios" / "sgd_schedule_noise_floor.toml"


# --- closed forms ----------------------------------------------------------------------------
def _want(spec: ScheduleSpec, lr: float, t: int) -> float:
    """The documented formula, written independently with Python floats."""
    if t < spec.warmup:
        return lr * (t + 1) / spec.warmup
    s = t - spec.warmup
    if spec.kind == "constant":
        return lr
    if spec.kind == "step":
        return lr * spec.gamma ** (s // spec.every)
    if spec.kind == "exponential":
        return lr * spec.gamma ** s
    if spec.kind == "inverse_time":
        return lr / (1 + spec.k * s) ** spec.power
    return spec.min_lr + (lr - spec.min_lr) * (1 + math.cos(math.pi * min(s, spec.steps) / spec.steps)) / 2


SPECS = [
    {"kind": "constant"},
    {"kind": "step", "every": 7, "gamma": 0.5},
    {"kind": "exponential", "gamma": 0.93},
    {"kind": "inverse_time", "k": 0.1},
    {"kind": "inverse_time", "k": 1.0, "power": 0.5},
    {"kind": "cosine", "steps": 30, "min_lr": 0.01},
    {"kind": "cosine", "warmup": 5},
    {"kind": "exponential", "gamma": 0.9, "warmup": 4},
    {"kind": "inverse_time", "k": 1.0, "warmup": 3},
]


@pytest.mark.parametrize("table", SPECS, ids=lambda t: "-".join(f"{k}={v}" for k, v in t.items()))
def test_lr_at_is_the_documented_closed_form_for_every_kind(table):
    """lr_t for t = 0..49 equals the formula of the module docstring. Tolerance 1e-14 relative:
    the same float64 operations up to pow/cos rounding (a few ulps on any IEEE-754 x86 CPU)."""
    spec = resolve(read_schedule(table), 50)
    got = lr_curve(spec, 0.3, 50)
    assert got.dtype == torch.float64 and got.shape == (50,)
    want = torch.tensor([_want(spec, 0.3, t) for t in range(50)], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-14, atol=0)
    assert lr_at(spec, 0.3, torch.tensor(0)).item() == pytest.approx(_want(spec, 0.3, 0), rel=1e-15)


def test_known_values_and_batched_rows():
    """Hand-computed values (exact in binary or to 1e-15), and [B, 1] rows broadcast per row."""
    inv = read_schedule({"kind": "inverse_time", "k": 1.0})
    assert lr_curve(inv, 1.0, 4).tolist() == [1.0, 0.5, 1 / 3, 0.25]  # lr0 / t counted from t = 1
    step = read_schedule({"kind": "step", "every": 2, "gamma": 0.5})
    assert lr_curve(step, 1.0, 6).tolist() == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    warm = read_schedule({"kind": "constant", "warmup": 4})
    assert lr_curve(warm, 1.0, 6).tolist() == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    cos = resolve(read_schedule({"kind": "cosine", "min_lr": 0.1}), 4)
    assert lr_curve(cos, 1.0, 4)[2].item() == pytest.approx(0.55, rel=1e-15)  # halfway: the mean
    rows = lr_at(inv, torch.tensor([[1.0], [2.0]], dtype=torch.float64), torch.tensor(3))
    assert rows.shape == (2, 1) and rows.flatten().tolist() == [0.25, 0.5]


# --- against torch.optim + lr_scheduler ------------------------------------------------------
A = torch.tensor([[3.0, 0.4], [0.4, 0.6]], dtype=torch.float64)
b = torch.tensor([1.0, -2.0], dtype=torch.float64)
X0 = [1.5, 2.0]


def _loss(x):
    return 0.5 * (x @ A * x).sum(-1).sum() + (x * b).sum()


def _ours(kind, hyper, table, steps):
    rule = get_rule(kind)
    spec = None if table is None else read_schedule(table)
    tx = scheduled(rule, make_hyper(rule, [hyper]), spec, steps)
    x = torch.tensor([X0], dtype=torch.float64)
    state, out = tx.init(x), []
    for _ in range(steps):
        xg = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(_loss(xg), xg)
        u, state = tx.update(g, state, x)
        x = apply_updates(x, u)
        out.append(x[0].clone())
    return torch.stack(out)


def _torch(opt_cls, kw, sched, steps):
    p = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    opt = opt_cls([p], **kw)
    sch = sched(opt)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(p[None]).backward()
        opt.step()
        sch.step()
        out.append(p.detach().clone())
    return torch.stack(out)


S = torch.optim.lr_scheduler
W, K, P = 5, 0.2, 1.0


def _warm_inverse(t):
    return (t + 1) / W if t < W else 1 / (1 + K * (t - W)) ** P


CASES = [
    ("gd", {"lr": 0.3}, torch.optim.SGD, {"lr": 0.3}, {"kind": "step", "every": 10, "gamma": 0.5},
     lambda o: S.StepLR(o, step_size=10, gamma=0.5)),
    ("sgd", {"lr": 0.3}, torch.optim.SGD, {"lr": 0.3}, {"kind": "exponential", "gamma": 0.97},
     lambda o: S.ExponentialLR(o, gamma=0.97)),
    ("gd", {"lr": 0.3}, torch.optim.SGD, {"lr": 0.3}, {"kind": "cosine", "steps": 60, "min_lr": 0.01},
     lambda o: S.CosineAnnealingLR(o, T_max=60, eta_min=0.01)),
    ("sgd", {"lr": 0.3}, torch.optim.SGD, {"lr": 0.3}, {"kind": "inverse_time", "k": K, "warmup": W},
     lambda o: S.LambdaLR(o, _warm_inverse)),
    ("momentum", {"lr": 0.05, "momentum": 0.9}, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9},
     {"kind": "exponential", "gamma": 0.98}, lambda o: S.ExponentialLR(o, gamma=0.98)),
    ("adam", {"lr": 0.1}, torch.optim.Adam, {"lr": 0.1}, {"kind": "cosine", "steps": 60, "min_lr": 0.001},
     lambda o: S.CosineAnnealingLR(o, T_max=60, eta_min=0.001)),
    ("adam", {"lr": 0.1}, torch.optim.Adam, {"lr": 0.1}, {"kind": "step", "every": 15, "gamma": 0.3},
     lambda o: S.StepLR(o, step_size=15, gamma=0.3)),
    ("adamw", {"lr": 0.1, "weight_decay": 0.1}, torch.optim.AdamW, {"lr": 0.1, "weight_decay": 0.1},
     {"kind": "inverse_time", "k": 0.1, "warmup": W}, lambda o: S.LambdaLR(o, lambda t: (t + 1) / W if t < W else 1 / (1 + 0.1 * (t - W)))),
    ("adagrad", {"lr": 0.5, "lr_decay": 0.01}, torch.optim.Adagrad, {"lr": 0.5, "lr_decay": 0.01},
     {"kind": "exponential", "gamma": 0.97}, lambda o: S.ExponentialLR(o, gamma=0.97)),
]


@pytest.mark.parametrize("kind,hyper,opt_cls,kw,table,sched", CASES, ids=[f"{c[0]}-{c[4]['kind']}" for c in CASES])
def test_a_scheduled_rule_equals_torch_optim_with_its_lr_scheduler(kind, hyper, opt_cls, kw, table, sched):
    """60 steps on a float64 quadratic, every iterate, to 1e-12 relative. Why that holds on any
    x86 CPU: both sides do the same IEEE-754 float64 rule arithmetic (tests/test_optimizers.py
    shows it bit for bit without a schedule); the only differences are lr_t itself (torch's
    schedulers update it recursively, lr * gamma * gamma ..., ours is the closed form, a few ulps
    apart after 60 steps, ~1e-14) and the gradient's rounding, and the iteration contracts on this
    quadratic (eigenvalues 0.53 and 3.07, lr below 2/3.07), so those ulps are not amplified."""
    ours = _ours(kind, hyper, table, 60)
    ref = _torch(opt_cls, kw, sched, 60)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-15)
    unscheduled = _ours(kind, hyper, None, 60)
    assert (unscheduled - ref).abs().max() > 1e-4  # the schedule is what makes them agree


def test_without_a_schedule_the_rule_is_unchanged_bit_for_bit():
    """scheduled(rule, hyper, None) is rule(hyper): exact equality of every iterate."""
    for kind, hyper in [("gd", {"lr": 0.3}), ("adam", {"lr": 0.1}), ("adagrad", {"lr": 0.5, "lr_decay": 0.01})]:
        rule = get_rule(kind)
        h = make_hyper(rule, [hyper])
        direct = rule(h)
        x = torch.tensor([X0], dtype=torch.float64)
        s1, s2 = direct.init(x), scheduled(rule, h, None, 20).init(x)
        tx2 = scheduled(rule, h, None, 20)
        y1 = y2 = x
        for _ in range(20):
            g1 = A @ y1[0] + b
            u1, s1 = direct.update(g1[None], s1, y1)
            u2, s2 = tx2.update((A @ y2[0] + b)[None], s2, y2)
            y1, y2 = apply_updates(y1, u1), apply_updates(y2, u2)
            assert torch.equal(y1, y2)


# --- the scenario key ------------------------------------------------------------------------
BASE = """format = 1
steps = 10
[problem]
kind = "bowl"
[start]
points = [[1.0, 1.0]]
[[optimizers]]
kind = "gd"
lr = 0.1
"""


@pytest.mark.parametrize("line,path,words", [
    ('schedule = { kind = "cosin" }', "optimizers[0].schedule.kind", ["did you mean 'cosine'"]),
    ('schedule = { kind = "step", gama = 0.5, every = 3 }', "optimizers[0].schedule.gama", ["did you mean 'gamma'"]),
    ('schedule = { kind = "step", every = 3 }', "optimizers[0].schedule.gamma", ["needs 'gamma'"]),
    ('schedule = { kind = "exponential", gamma = 1.5 }', "optimizers[0].schedule.gamma", ["<= 1", "1.5"]),
    ('schedule = { kind = "cosine", k = 0.1 }', "optimizers[0].schedule.k", ["belongs to inverse_time"]),
    ('schedule = { kind = "inverse_time", k = -1 }', "optimizers[0].schedule.k", [">= 0"]),
    ('schedule = { kind = "constant", warmup = 2.5 }', "optimizers[0].schedule.warmup", ["integer"]),
    ('schedule = { every = 3 }', "optimizers[0].schedule.kind", ["missing key 'kind'"]),
    ('schedule = "cosine"', "optimizers[0].schedule", ["expected a table"]),
])
def test_a_bad_schedule_table_is_one_line_at_its_key(line, path, words):
    """Each mistake is one LabError line located at optimizers[i].schedule.<key>."""
    from core.scenario import loads

    with pytest.raises(LabError) as err:
        loads(BASE + line + "\n")
    assert err.value.path == path, (err.value.path, err.value.message)
    assert "\n" not in str(err.value)
    for w in words:
        assert w in err.value.message, err.value.message


def test_the_lesson_loads_runs_and_exposes_its_lr_curve():
    """The lesson's schedule reaches the engine (the scheduled run differs from the constant one
    on the same minibatches) and build exposes lr_t = 0.4 / (1 + 0.1 t) (1e-15 relative: one
    float64 division on any IEEE-754 CPU); the document round-trips with its schedule."""
    from core.scenario import dumps, load, loads
    from core.scenario.build import build
    from core.scenario.io import to_dict

    s = load(LESSON)
    assert s.optimizers[1].schedule == {"kind": "inverse_time", "k": 0.1}
    assert loads(dumps(s)) == s and to_dict(s)["optimizers"][1]["schedule"] == {"kind": "inverse_time", "k": 0.1}
    built = build(s)
    curves = built.lr_curves()
    assert list(curves) == ["SGD, lr = 0.4 / (1 + 0.1 t)"]
    curve = curves["SGD, lr = 0.4 / (1 + 0.1 t)"]
    assert curve.shape == (1, s.steps)
    t = torch.arange(s.steps, dtype=torch.float64)
    torch.testing.assert_close(curve[0], 0.4 / (1 + 0.1 * t), rtol=1e-15, atol=0)
    import dataclasses

    from core.engine import run

    g = built.groups[1]  # run alone, scheduled and not: the same rows, so the same minibatches
    kw = {**built.run_kwargs, "device": "cpu"}
    on = run(built.problem, [g], 20, **kw)
    off = run(built.problem, [dataclasses.replace(g, schedule=None)], 20, **kw)
    assert torch.equal(on.loss[:2], off.loss[:2])  # lr_0 = lr: the first update is the same
    assert (on.loss[2:] != off.loss[2:]).all()  # from the second update on, lr_t < lr


def test_the_convergence_panel_draws_the_lessons_lr_curve(window):
    """The real window opens the lesson; the convergence panel's right axis shows one dashed curve
    whose values are exactly core's lr_curves (the lab draws core's array, no maths of its own),
    and the axis is hidden for a lesson without schedules."""
    from core.scenario import load
    from core.scenario.build import lr_curves

    assert window.open(LESSON), window.banner.label.text()
    window.session.wait()
    window.panels.show_panel("convergence", True)
    panel = window.panels.panel("convergence")
    want = lr_curves(load(LESSON))["SGD, lr = 0.4 / (1 + 0.1 t)"].numpy()[0]
    assert len(panel.lr_items) == 1 and panel.lr_items[0].lr_label == "SGD, lr = 0.4 / (1 + 0.1 t)"
    x, y = panel.lr_items[0].getData()
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(x, np.arange(want.size))
    assert panel.item.getAxis("right").isVisible()
    assert window.open(ROOT / "scenarios" / "linear_sgd_minibatch.toml"), window.banner.label.text()
    window.session.wait()
    assert panel.lr_items == [] and not panel.item.getAxis("right").isVisible()
