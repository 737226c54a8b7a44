"""``core.stability``: each linear optimizer's limit against its own iteration matrix (float64).

The matrices here are written from the update rules (state ``(e, v)``, one Hessian eigenvalue
``lam``), independently of ``core.theory``; their spectral radius must cross 1 exactly at the limit.
The factors 1 -/+ 1e-6 move the radius by ~1e-7 off 1 (its slope at the crossing is O(1) for these
hyperparameters), a million times float64 rounding, so the verdicts hold on any CPU.
"""

import math

import numpy as np
import pytest
import torch

from core import stability, theory
from core.engine import Group, run
from core.errors import LabError
from core.problems import make_problem

CASES = [
    ("gd", {"lr": 0.15}),
    ("sgd", {"lr": 0.3, "weight_decay": 0.2}),
    ("momentum", {"lr": 0.1, "momentum": 0.9}),
    ("momentum", {"lr": 0.1, "momentum": 0.7, "dampening": 0.4, "weight_decay": 0.05}),
    ("momentum", {"lr": 0.2, "momentum": 0.0, "dampening": 0.5}),  # momentum 0 ignores dampening (torch.optim)
    ("nesterov", {"lr": 0.1, "momentum": 0.8}),
    ("nesterov", {"lr": 0.08, "momentum": 0.6, "weight_decay": 0.05}),
    ("nesterov", {"lr": 0.08, "momentum": 0.6, "dampening": 0.3}),  # theory only: the optimizer refuses it
    ("momentum_lowpass", {"lr": 0.5, "beta": 0.8}),
    ("momentum_lowpass", {"lr": 0.5, "beta": 0.0, "weight_decay": 0.1}),
]


def rule_matrix(kind: str, hyper: dict, lam: float) -> np.ndarray:
    """The update rule on ``0.5 lam e^2`` as a matrix on ``(e, v)`` (GD: on ``(e, 0)``)."""
    lr, wd = hyper["lr"], hyper.get("weight_decay", 0.0)
    h = lam + wd
    if kind in ("gd", "sgd"):
        return np.array([[1 - lr * h, 0.0], [0.0, 0.0]])
    if kind == "momentum_lowpass":
        beta = hyper["beta"]
        c = 1 - beta
    else:
        beta = hyper["momentum"]
        c = 1 - hyper.get("dampening", 0.0) if beta != 0 else 1.0
    # v' = beta v + c h e;  heavy ball: e' = e - lr v';  Nesterov: e' = e - lr (h e + beta v')
    if kind == "nesterov":
        return np.array([[1 - lr * h * (1 + beta * c), -lr * beta * beta], [c * h, beta]])
    return np.array([[1 - lr * c * h, -lr * beta], [c * h, beta]])


def radius(kind: str, hyper: dict, lam: float) -> float:
    return float(np.abs(np.linalg.eigvals(rule_matrix(kind, hyper, lam))).max())


@pytest.mark.parametrize("kind,hyper", CASES)
def test_curvature_limit_is_where_the_iteration_matrix_leaves_the_unit_circle(kind, hyper):
    lam = stability.curvature_limit(kind, hyper)
    assert 0 < lam < math.inf
    assert radius(kind, hyper, lam * (1 - 1e-6)) < 1.0 < radius(kind, hyper, lam * (1 + 1e-6))
    # and every smaller eigenvalue is stable too (the limit is the whole stable range's end)
    for f in (1e-3, 0.1, 0.5, 0.9, 0.999):
        assert radius(kind, hyper, f * lam) < 1.0
    # core.theory's batched eigenvalues say the same
    h = torch.tensor([lam * (1 - 1e-6), lam * (1 + 1e-6)], dtype=torch.float64)
    rho = theory.eigenvalues(kind, hyper, h).abs().amax(dim=-1)
    assert float(rho[0]) < 1.0 < float(rho[1])


@pytest.mark.parametrize("kind,hyper", CASES)
def test_lr_limit_is_the_inverse_of_curvature_limit(kind, hyper):
    L = 7.0
    lr = stability.lr_limit(kind, hyper, L)
    assert radius(kind, {**hyper, "lr": lr * (1 - 1e-6)}, L) < 1.0 < radius(kind, {**hyper, "lr": lr * (1 + 1e-6)}, L)
    assert stability.curvature_limit(kind, {**hyper, "lr": lr}) == pytest.approx(L, rel=1e-12)


def test_formulas():
    assert stability.curvature_limit("gd", {"lr": 0.1}) == pytest.approx(20.0)
    assert stability.curvature_limit("momentum", {"lr": 0.1, "momentum": 0.5}) == pytest.approx(2 * 1.5 / 0.1)
    assert stability.curvature_limit("momentum_lowpass", {"lr": 0.1, "beta": 0.9}) == pytest.approx(2 * 1.9 / 0.01)
    assert stability.curvature_limit("nesterov", {"lr": 0.1, "momentum": 0.9}) == pytest.approx(2 * 1.9 / 2.8 / 0.1)
    assert stability.curvature_limit("gd", {"lr": 0.1, "weight_decay": 0.5}) == pytest.approx(19.5)
    # the lr limit (tests/test_theory.py checks its formulas) is the same line read the other way
    assert stability.lr_limit("momentum", {"momentum": 0.5}, 30.0) == pytest.approx(0.1)


@pytest.mark.parametrize("kind", ["adam", "adamw", "rmsprop", "adagrad", "lion"])
def test_adaptive_methods_have_no_linear_limit(kind):
    assert stability.curvature_limit(kind, {"lr": 0.1}) is None
    assert stability.lr_limit(kind, {"lr": 0.1}, 1.0) is None


def test_edge_cases():
    # dampening 1 keeps the gradient out of the velocity: eigenvalues 1 and beta, never divergent
    assert stability.curvature_limit("momentum", {"lr": 0.1, "momentum": 0.5, "dampening": 1.0}) == math.inf
    assert radius("momentum", {"lr": 0.1, "momentum": 0.5, "dampening": 1.0}, 1e6) == pytest.approx(1.0)
    assert stability.curvature_limit("gd", {}) is None  # no lr: no line to draw
    assert stability.LINEAR_KINDS == theory.LINEAR_KINDS
    with pytest.raises(LabError, match="no hyperparameter 'beta'"):
        stability.curvature_limit("momentum", {"lr": 0.1, "beta": 0.9})
    with pytest.raises(LabError, match="lr must be > 0"):
        stability.curvature_limit("gd", {"lr": 0.0})


@pytest.mark.parametrize("kind,hyper", [c for c in CASES if not (c[0] == "nesterov" and c[1].get("dampening"))])
def test_the_engine_converges_just_below_the_limit_and_diverges_just_above(kind, hyper):
    """The real optimizer (core.engine), not a matrix: 1 % inside the limit the distance shrinks,
    1 % outside it grows (radius ~1 -/+ 1e-2 per step: 3000 steps move it by e^30)."""
    lam = stability.curvature_limit(kind, hyper)
    for factor, converges in ((0.99, True), (1.01, False)):
        q = make_problem("quadratic", {"eigenvalues": [factor * lam]})
        r = run(q, [Group("x", kind, [hyper], torch.ones(1, 1, dtype=torch.float64))], 3000)
        error = float((r.thetas[r.last_step(0), 0] - q.center).abs().max())
        if converges:
            assert not r.diverged(0) and error < 1e-6
        else:
            assert r.diverged(0) or error > 1e6


HEAVY_BALL = """
format = 1
steps = 10
[problem]
kind = "quadratic"
eigenvalues = [1.0, {top}]
[start]
points = [[1.0, 1.0]]
[[optimizers]]
kind = "momentum"
label = "HB"
lr = 0.1
momentum = 0.5
[view]
panels = ["convergence", "eigen"]
[[expect]]
check = "sharpness"
optimizer = "HB"
within = 2.0
"""


def _heavy_ball(top: float):
    import lab.panels.names  # noqa: F401 - the panel names a scenario's view is checked against (the app registers them)
    from core.scenario import check, execute, loads

    result = execute(loads(HEAVY_BALL.format(top=top)))
    return result, check(result)[0]


def test_the_sharpness_expectation_uses_the_heavy_ball_limit():
    """Heavy ball lr = 0.1, beta = 0.5 is stable up to 2 (1 + beta) / lr = 30, not 2 / lr = 20:
    a top eigenvalue of 29.7 is at its edge (the old 2/lr check said 48 % off), 20 is far from it."""
    limit = stability.curvature_limit("momentum", {"lr": 0.1, "momentum": 0.5})
    assert limit == pytest.approx(30.0)
    result, at_edge = _heavy_ball(0.99 * limit)
    assert at_edge.passed, at_edge.describe()
    assert "30" in at_edge.required
    _, at_gd_line = _heavy_ball(20.0)
    assert not at_gd_line.passed
    # the tracker's line is the same number
    from core.sharpness import track_sharpness

    assert track_sharpness(result.run, every=5)["HB"].limit == limit


def test_the_eigen_panel_draws_the_same_heavy_ball_limit(qtbot):
    """The panel's stability line (spectrum mode) and per-trajectory lines (sharpness mode) are
    ``curvature_limit``: the number the expectation compares with."""
    pytest.importorskip("PyQt6")
    from core.analysis import run_view
    from lab.panels.eigen import EigenPanel

    class Signal:
        def connect(self, slot):
            pass

    class Session:
        result_changed = extras_changed = frame_changed = progress = Signal()
        frame, selected = 3, 0

    result, _ = _heavy_ball(29.7)
    session = Session()
    session.result = result
    session.view = run_view(result, result.scenario)
    panel = EigenPanel(session)
    qtbot.addWidget(panel)
    panel.refresh()
    panel.flush()  # draws the frame now (the panel is not shown, so set_frame waits)
    # every optimizer has its own line now; the followed trajectory's is the one it owns
    followed = next(line for line in panel.limits if session.selected in line.owners)
    assert followed.isVisible() and followed.value() == pytest.approx(30.0, rel=1e-12)
    panel._mode = "sharpness"
    panel._draw_sharpness(session.view, {"HB": {0: 29.7}})
    lines = [it for it in panel.sharp_items if hasattr(it, "value")]
    assert [line.value() for line in lines] == pytest.approx([30.0], rel=1e-12)


def test_a_sharpness_check_on_an_optimizer_without_a_limit_is_refused_when_built():
    import lab.panels.names  # noqa: F401 - the panel names a scenario's view is checked against
    from core.scenario import build, loads

    text = HEAVY_BALL.format(top=10.0).replace('kind = "momentum"', 'kind = "adam"').replace("momentum = 0.5\n", "")
    with pytest.raises(LabError, match="stability limit") as err:
        build(loads(text))
    assert err.value.path == "expect[0].optimizer"
