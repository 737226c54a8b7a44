"""Toy problems: known minima, autograd against the analytic gradient, the safe formula parser."""

from __future__ import annotations

import math

import pytest
import torch

from core.errors import LabError
from core.problems import PROBLEMS, make_problem
from core.problems.toys import local_minima_multimin

TOY_KINDS = ["quartic", "bowl", "quadratic", "multimin", "rosenbrock", "himmelblau", "rastrigin"]


@pytest.mark.parametrize("kind", TOY_KINDS)
def test_known_minima_are_stationary_points_with_the_stated_value(kind):
    p = make_problem(kind)
    loss, grad = p.loss_and_grad(p.minima)
    assert grad.abs().max() < 1e-9
    torch.testing.assert_close(loss, torch.full_like(loss, p.loss_star), rtol=0, atol=1e-12)
    for m in p.minima:
        assert torch.linalg.eigvalsh(p.hessian(m)).min() > 0


def test_quartic_numbers_from_the_design():
    p = make_problem("quartic")
    w = float(p.minima[0, 0])
    assert abs(w + 1.2348) < 1e-4 and abs(p.loss_star + 0.16997) < 1e-5
    assert abs(2 / float(p.hessian(p.minima[0])[0, 0]) - 4.93) < 0.01


def test_multimin_has_a_shallow_and_a_deep_well():
    deep, shallow = local_minima_multimin()
    p = make_problem("multimin", {"dim": 1})
    assert deep < 0 < shallow
    loss = p.loss(torch.tensor([[deep], [shallow]], dtype=torch.float64))
    assert loss[0] < loss[1] - 0.5


def test_saddle_has_no_minimum_and_an_indefinite_hessian():
    p = make_problem("quadratic", {"eigenvalues": [1.0, -2.0], "angle": 30})
    assert p.minima is None
    ev = torch.linalg.eigvalsh(p.hessian(torch.zeros(2, dtype=torch.float64)))
    torch.testing.assert_close(ev, torch.tensor([-2.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("kind", TOY_KINDS)
def test_autograd_gradient_passes_gradcheck(kind):
    p = make_problem(kind)
    theta = (torch.randn(3, p.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.7).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: p.loss(t), (theta,))


def test_formula_matches_the_builtin_rosenbrock():
    f = make_problem("formula", {"expr": "(1 - x)**2 + 100*(y - x**2)**2"})
    r = make_problem("rosenbrock")
    t = torch.randn(16, 2, dtype=torch.float64)
    torch.testing.assert_close(f.loss(t), r.loss(t))
    torch.testing.assert_close(f.loss_and_grad(t)[1], r.loss_and_grad(t)[1])
    assert f.coord_names == ["x", "y"]


def test_formula_functions_constants_and_variable_order():
    f = make_problem("formula", {"expr": "sin(pi*y) + exp(w) - max(x, 0)"})
    assert f.coord_names == ["w", "x", "y"]
    t = torch.tensor([[0.0, 2.0, 0.5]], dtype=torch.float64)
    assert abs(float(f.loss(t)[0]) - (1.0 + 1.0 - 2.0)) < 1e-12


@pytest.mark.parametrize("expr,message", [
    ("x**2 +", "does not parse at column"),
    ("__import__('os').system('true')", "is not allowed"),
    ("__import__('os')", "unknown function '__import__'"),
    ("x.real", "is not allowed"),
    ("foo(x)", "unknown function 'foo'"),
    ("x + q", None),  # q is just a second variable: fine
    ("[x, y]", "is not allowed"),
    ("lambda: 1", "is not allowed"),
    ("sin(x, y)", "sin() takes 1 argument(s), got 2"),
    ("", "formula is empty"),
    ("3 + 4", "uses no variable"),
])
def test_bad_formulas_are_clear_errors(expr, message):
    if message is None:
        assert make_problem("formula", {"expr": expr}).dim == 2
        return
    with pytest.raises(LabError) as err:
        make_problem("formula", {"expr": expr})
    assert message in str(err.value)
    assert str(err.value).startswith("problem.expr: ")


def test_unknown_problem_and_key_suggest_the_nearest():
    with pytest.raises(LabError, match=r"did you mean 'rosenbrock'"):
        make_problem("rosenbrok")
    with pytest.raises(LabError, match=r"problem.eigenvalue: .*did you mean 'eigenvalues'"):
        make_problem("quadratic", {"eigenvalue": [1, 2]})


def test_every_registered_toy_builds_with_defaults():
    for kind in TOY_KINDS:
        assert PROBLEMS[kind]().dim >= 1


def test_default_start_is_80_percent_up_the_box_or_the_nets_own_init():
    from core.problems import default_start

    # quartic's box is (-3, 3): 80 % up is 1.8; rosenbrock's is (-2, 2) x (-1, 3): (1.2, 2.2)
    assert default_start("quartic", {}) == {"points": [[1.8]]}
    assert default_start("rosenbrock", {}) == {"points": [[1.2, 2.2]]}
    # a 5-D quadratic shows two axes: the other three start at 1.0
    assert default_start("quadratic", {"eigenvalues": [1.0] * 5}) == {"points": [[1.8, 1.8, 1.0, 1.0, 1.0]]}
    # a net starts from its own seeded initialization
    assert default_start("net13", {"n": 20}) == {"init": True}
    # a problem that cannot be built: a harmless placeholder, the scenario's check names the error
    assert default_start("quadratic", {"eigenvalues": "x"}) == {"points": [[1.0]]}
    assert default_start("no_such_kind", {}) == {"points": [[1.0]]}


# -- every problem: the registry, the protocols, immutable values -----------------------------------

ALL_KINDS = {"quartic": {}, "bowl": {}, "quadratic": {}, "multimin": {}, "rosenbrock": {}, "himmelblau": {},
             "rastrigin": {}, "formula": {"expr": "x**2 + y**2"}, "linear": {}, "mlp": {"n": 20},
             "net13": {"n": 20}, "heart_net": {"hidden": 4}}


def test_the_registry_is_complete_at_import():
    """``import core.problems`` alone lists every kind (it used to hold only the toys until a
    first make_problem ran ``_load_extra``): a fresh interpreter, nothing else imported."""
    import pathlib
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "from core.problems import PROBLEMS; print(' '.join(sorted(PROBLEMS)))"],
                         capture_output=True, text=True, check=True, timeout=120,
                         cwd=pathlib.Path(__file__).resolve().parents[1]).stdout.split()
    # "module" runs a user's Python file and needs trust and files: tests/test_module_problem.py builds it
    assert out == sorted([*ALL_KINDS, "module"]) and set(PROBLEMS) == set(ALL_KINDS) | {"module"}


def test_each_problem_offers_exactly_its_protocols():
    from core.problems.protocols import BatchLoss, ConstantHessian, DataProblem, ModelView, PlaneEvaluator

    # the bowl is a quadratic (2 I): core.theory predicts its curves (issue 12)
    offers = {"linear": {DataProblem, ConstantHessian}, "quadratic": {ConstantHessian}, "bowl": {ConstantHessian},
              **{k: {DataProblem, ModelView, PlaneEvaluator} for k in ("mlp", "net13", "heart_net")}}
    for kind, params in ALL_KINDS.items():
        p = make_problem(kind, params)
        assert isinstance(p, BatchLoss), kind
        got = {proto for proto in (DataProblem, ConstantHessian, ModelView, PlaneEvaluator) if isinstance(p, proto)}
        assert got == offers.get(kind, set()), kind
    import torch
    from torch import nn

    from core.problems.module import from_module

    X = torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m = from_module(nn.Linear(2, 1), "mse", X, X[:, 0])  # your own module: data, no model view or plane evaluator
    assert {proto for proto in (DataProblem, ConstantHessian, ModelView, PlaneEvaluator) if isinstance(m, proto)} == {DataProblem}


def test_constant_hessian_eigenbasis_rebuilds_the_hessian_and_the_stationary_point_is_stationary():
    for kind, params in (("quadratic", {"eigenvalues": [1.0, -2.0, 5.0], "center": [0.5, 1.0, -1.0]}),
                         ("linear", {"n": 30, "d": 3, "noise": 0.1, "seed": 2}), ("bowl", {})):
        p = make_problem(kind, params)
        h, Q = p.eigenbasis()
        w = p.stationary_point()
        torch.testing.assert_close(Q @ torch.diag(h) @ Q.T, p.hessian(w), rtol=1e-12, atol=1e-12)  # float64 round-off
        assert p.loss_and_grad(w[None])[1].abs().max() < 1e-12


def test_problems_are_immutable_values():
    import dataclasses

    from core.engine import Group, run

    p = make_problem("linear", {"n": 20, "d": 2})
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.ridge = 1.0
    q = p.to("cpu", torch.float32)
    assert q is not p and q.dtype == torch.float32 and q.X.dtype == torch.float32
    assert p.dtype == torch.float64 and p.X.dtype == torch.float64  # the original did not move
    assert p.to("cpu", torch.float64) is p  # already there: the same value
    # the engine runs on its own float32 copy and leaves the caller's problem as it was
    r = run(p, [Group("gd", "gd", [{"lr": 0.1}], torch.tensor([[1.0, 1.0]]))], 5, dtype=torch.float32)
    assert r.problem.dtype == torch.float32 and r.loss.dtype == torch.float32
    assert p.dtype == torch.float64 and p.X.dtype == torch.float64
