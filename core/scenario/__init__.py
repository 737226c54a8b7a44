"""Scenario files: one TOML format for exploring, lecturing and testing (see docs/scenarios.md).

Layers, each importing only the ones before it: ``schema`` (the typed models, declared once) <-
``io`` (``load``/``loads`` parse and validate, ``dump``/``dumps``/``save`` write, ``set_path`` /
``get_path`` edit; ``load(dump(s)) == s``) <- ``build`` (``build(s)``: the problem and engine groups,
once, with every check that needs the problem) <- ``runner`` (``execute`` runs a scenario) <-
``expectations`` (``check`` judges its claims).
"""

from typing import Any

#: where each public name lives; imported on first use (PEP 562), so that importing a light module
#: of this package (``core.scenario.registry``, which ``lab.panels.names`` fills at start-up) does
#: not import the whole layer and torch with it
_HOME = {
    "Cancelled": "core.errors",
    **dict.fromkeys(("Built", "build", "start_points"), "core.scenario.build"),
    **dict.fromkeys(("CHECKS", "ExpectationOutcome", "check"), "core.scenario.expectations"),
    **dict.fromkeys(("dump", "dumps", "from_dict", "get_path", "load", "loads", "save", "set_path", "to_dict",
                     "validate"), "core.scenario.io"),
    **dict.fromkeys(("Result", "execute"), "core.scenario.runner"),
    **dict.fromkeys(("FORMAT", "Beat", "Expectation", "GridSpec", "OptimizerSpec", "ProblemSpec", "RandomSpec",
                     "Scenario", "StartSpec", "ViewSpec"), "core.scenario.schema"),
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'core.scenario' has no attribute {name!r}")


__all__ = [
    "CHECKS", "FORMAT", "Beat", "Built", "Cancelled", "Expectation", "ExpectationOutcome", "GridSpec", "OptimizerSpec",
    "ProblemSpec", "RandomSpec", "Result", "Scenario", "StartSpec", "ViewSpec", "build", "check", "dump", "dumps",
    "execute", "from_dict", "get_path", "load", "loads", "save", "set_path", "start_points", "to_dict", "validate",
]
