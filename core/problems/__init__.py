"""The problem registry: the TOML ``kind`` of a ``[problem]`` table names a factory in
:data:`PROBLEMS`; the other keys are the factory's keyword arguments. Adding a problem means one
factory function and its line in :data:`PROBLEMS`; what the problem can do beyond a batch loss is
declared by the protocols it satisfies (:mod:`core.problems.protocols`), not by a list anywhere.

Every parameter a user gives is checked here, once, against the factory's annotation before the
factory runs (:func:`check_parameters`): ``float`` is a finite number (NaN and infinity are never a
meaningful eigenvalue, angle, centre, offset or minimum value; no problem parameter takes infinity
today), ``int`` an integer (not a bool; seeds in ``[0, MAX_SEED]``, other counts within
``+-MAX_COUNT``), ``str`` a string, ``Sequence[X]`` a list of X (at most ``MAX_ITEMS``), unions any of
their members, ``None`` leaves the default. Errors name the key path (``problem.eigenvalues[1]``).
What only the problem can judge (``b > 0``, ``dim`` in 1 or 2) stays in its factory.
"""

from __future__ import annotations

import inspect
import types
from pathlib import Path
import typing
from collections.abc import Callable, Sequence
from typing import Any

from core.errors import LabError, suggest
from core.problems import linear, module, neural, toys
from core.problems.base import Problem

#: every problem kind and its factory: the whole registry, complete at import. Adding a problem is
#: its factory plus one line: in ``toys.TOYS`` for an analytic toy, here for any other.
PROBLEMS: dict[str, Callable[..., Problem]] = {
    **toys.TOYS,  # quartic, bowl, quadratic, multimin, rosenbrock, himmelblau, rastrigin, formula
    "linear": linear.linear,
    "mlp": neural.mlp, "net13": neural.net13, "heart_net": neural.heart_net,
    "module": module.module,  # your own torch.nn.Module and data (runs your code: needs trust)
}


#: the largest magnitude of an integer problem parameter other than a seed (a dimension, a sample
#: count, a width); what a run can afford is judged by the scenario's budget, this only keeps
#: absurd values (a 20-digit integer) out of the factories
MAX_COUNT = 10_000_000
#: the longest list a problem parameter may hold (eigenvalues, singular values, a start ...)
MAX_ITEMS = 100_000


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin is not None and isinstance(origin, type) and issubclass(origin, Sequence):
        inner = _describe(args[0]) if args else "values"
        return "a list of " + {"a finite number": "numbers", "an integer": "integers", "a string": "strings"}.get(
            inner, inner.replace("a list of", "lists of", 1))
    return {float: "a finite number", int: "an integer", str: "a string", bool: "true or false",
            Path: "a file path"}.get(tp, getattr(tp, "__name__", str(tp)))


def _kind_of(tp: Any) -> str:
    """Which TOML kind of value a (non-union) annotation takes: number, string, bool, list."""
    origin = typing.get_origin(tp)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Sequence):
        return "list"
    return {float: "number", int: "number", str: "string", bool: "bool", Path: "string"}.get(tp, "other")


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list | tuple) else "other"


def check_value(tp: Any, value: Any, path: str, name: str = "") -> None:
    """Checks ``value`` against annotation ``tp`` (see the module doc); a :class:`LabError` at ``path``."""
    from core.values import MAX_SEED, finite, integer, show

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if value is None and len(members) < len(args):
            return
        # the member of the value's own kind (a list for a list, a number for a number) judges it,
        # so a NaN deep in a list is reported at its index, not as "expected a string or a list"
        for member in sorted(members, key=lambda a: a is not int):  # int before float: 2 stays an integer
            if _kind_of(member) == _value_kind(value) and (member is not int or not isinstance(value, float)):
                return check_value(member, value, path, name)
        raise LabError(f"expected {_describe(tp)}, got {show(value)}", path)
    if tp is Any or tp is inspect.Parameter.empty:
        return
    if tp is float:
        if not finite(value):
            raise LabError(f"expected a finite number, got {show(value)}", path)
    elif tp is int:
        seed = name.endswith("seed")
        integer(0 if seed else -MAX_COUNT, MAX_SEED if seed else MAX_COUNT)(value, path)
    elif tp is str or tp is Path:
        if not isinstance(value, str):
            raise LabError(f"expected a {'file path' if tp is Path else 'string'}, got {show(value)}", path)
    elif tp is bool:
        if not isinstance(value, bool):
            raise LabError(f"expected true or false, got {show(value)}", path)
    elif _kind_of(tp) == "list":
        if not isinstance(value, list | tuple):
            raise LabError(f"expected {_describe(tp)}, got {show(value)}", path)
        if len(value) > MAX_ITEMS:
            raise LabError(f"has {len(value):,} entries; at most {MAX_ITEMS:,} are allowed", path)
        for i, v in enumerate(value):
            check_value(args[0] if args else Any, v, f"{path}[{i}]", name)


def check_parameters(kind: str, params: dict[str, Any]) -> None:
    """Every given parameter of problem ``kind`` checked against its factory's annotation (the
    default's type where there is no annotation); a :class:`LabError` at ``problem.<key>[...]``."""
    factory = PROBLEMS[kind]
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # an annotation that does not resolve: fall back to the defaults' types
        hints = {}
    for name, p in inspect.signature(factory).parameters.items():
        if name not in params:
            continue
        tp = hints.get(name)
        if tp is None and p.default is not inspect.Parameter.empty and p.default is not None:
            tp = float if type(p.default) is float else type(p.default)
        check_value(tp if tp is not None else Any, params[name], f"problem.{name}", name)


def problem_parameters(kind: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(PROBLEMS[kind]).parameters)


def check_problem(kind: str, params: dict[str, Any]) -> None:
    """What the registry says about a ``[problem]`` table without building it: the kind exists,
    every key is a parameter of its factory, the required ones are given, each value has its
    annotated type (:func:`check_parameters`). The scenario schema checks this at load; a
    :class:`LabError` located at ``problem.<key>``."""
    if kind not in PROBLEMS:
        raise LabError(f"unknown problem kind {kind!r}{suggest(kind, list(PROBLEMS))}; allowed: {', '.join(sorted(PROBLEMS))}", "problem.kind")
    sig = inspect.signature(PROBLEMS[kind])
    allowed = list(sig.parameters)
    for key in params:
        if key not in sig.parameters:
            raise LabError(f"unknown key {key!r} for problem {kind!r}{suggest(key, allowed)}; allowed: {', '.join(allowed) or '(none)'}", f"problem.{key}")
    for name, p in sig.parameters.items():
        if p.default is inspect.Parameter.empty and name not in params:
            raise LabError(f"problem {kind!r} needs {name!r}", f"problem.{name}")
    check_parameters(kind, params)
    if "init" in params:  # a table with its own keys: checked by its parser, located at problem.init.<key>
        from core.problems.init import parse_init
        parse_init(params["init"], "problem.init")


def path_parameters(kind: str) -> list[str]:
    """The parameters of problem ``kind`` that name files (annotated ``Path``): a scenario's are
    resolved next to the scenario file (:func:`core.scenario.build.build_problem`)."""
    try:
        hints = typing.get_type_hints(PROBLEMS[kind])
    except Exception:  # noqa: BLE001
        return []
    return [name for name, tp in hints.items() if tp is Path]


def make_problem(kind: str, params: dict[str, Any] | None = None) -> Problem:
    """Builds a problem from its registry name and parameters (:func:`check_problem` first); every
    mistake is a :class:`LabError` located at ``problem.<key>``."""
    params = dict(params or {})
    check_problem(kind, params)
    try:
        problem = PROBLEMS[kind](**params)
    except LabError as exc:
        raise exc.at("problem") from None
    except (TypeError, ValueError, OverflowError, RuntimeError, IndexError) as exc:
        raise LabError(f"bad parameters for problem {kind!r}: {exc}", "problem") from None
    return problem.replace(kind=kind, params=params)


#: how far up its box (per axis, from the lower edge) a new problem kind's default start lies
START_FRACTION = 0.8


def default_start(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The scenario's ``[start]`` table (TOML-shaped) for a newly chosen problem ``kind``: a net's
    own seeded initialization (``{"init": True}``), else one point 80 % of the way up the problem's
    box (1.0 on the axes past the box); ``{"points": [[1.0]]}`` when the problem cannot be built
    (the scenario's own validation then names the bad parameter)."""
    try:
        problem = make_problem(kind, params)
    except LabError:
        return {"points": [[1.0]]}
    if problem.initial_point(0) is not None:
        return {"init": True}
    box = problem.box or [(-3.0, 3.0)] * problem.dim
    point = [round(lo + START_FRACTION * (hi - lo), 3) for lo, hi in box[: problem.dim]]
    return {"points": [point + [1.0] * max(0, problem.dim - len(point))]}


__all__ = ["MAX_COUNT", "MAX_ITEMS", "PROBLEMS", "Problem", "check_parameters", "check_problem", "check_value", "default_start", "make_problem",
           "path_parameters", "problem_parameters"]
