"""The problem registry: the TOML ``kind`` of a ``[problem]`` table names a factory here; the other
keys are the factory's keyword arguments. Adding a problem means adding one function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from core.errors import LabError, suggest  # noqa: F401  (suggest: re-exported for old imports)
from core.problems.base import Problem
from core.problems.toys import TOYS

PROBLEMS: dict[str, Callable[..., Problem]] = dict(TOYS)


def register(name: str, factory: Callable[..., Problem]) -> None:
    PROBLEMS[name] = factory


def _load_extra() -> None:
    """Linear and neural problems live in their own modules (they import torch.func machinery and
    data sets, so they load on first use) and register themselves."""
    import core.problems.linear  # noqa: F401
    import core.problems.neural  # noqa: F401


def problem_parameters(kind: str) -> dict[str, inspect.Parameter]:
    _load_extra()
    return dict(inspect.signature(PROBLEMS[kind]).parameters)


def make_problem(kind: str, params: dict[str, Any] | None = None) -> Problem:
    """Builds a problem from its registry name and parameters; every mistake is a :class:`LabError`
    located at ``problem.<key>``."""
    _load_extra()
    params = dict(params or {})
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
    try:
        problem = PROBLEMS[kind](**params)
    except LabError as exc:
        raise exc.at("problem") from None
    except (TypeError, ValueError) as exc:
        raise LabError(f"bad parameters for problem {kind!r}: {exc}", "problem") from None
    problem.kind, problem.params = kind, params
    return problem


__all__ = ["PROBLEMS", "Problem", "make_problem", "register", "problem_parameters", "suggest"]
