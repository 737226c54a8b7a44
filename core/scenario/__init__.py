"""Scenario files: one TOML format for exploring, lecturing and testing (see docs/scenarios.md).

Layers, each importing only the ones before it: ``schema`` (the typed models, declared once) <-
``io`` (``load``/``loads`` parse and validate, ``dump``/``dumps``/``save`` write, ``set_path`` /
``get_path`` edit; ``load(dump(s)) == s``) <- ``build`` (``build(s)``: the problem and engine groups,
once, with every check that needs the problem) <- ``runner`` (``execute`` runs a scenario) <-
``expectations`` (``check`` judges its claims).
"""

from core.errors import Cancelled
from core.scenario.build import Built, build, start_points
from core.scenario.expectations import CHECKS, ExpectationOutcome, check
from core.scenario.io import dump, dumps, from_dict, get_path, load, loads, save, set_path, to_dict, validate
from core.scenario.runner import Result, execute
from core.scenario.schema import (
    FORMAT, Beat, Expectation, GridSpec, OptimizerSpec, ProblemSpec, RandomSpec, Scenario, StartSpec, ViewSpec,
)

__all__ = [
    "CHECKS", "FORMAT", "Beat", "Built", "Cancelled", "Expectation", "ExpectationOutcome", "GridSpec", "OptimizerSpec",
    "ProblemSpec", "RandomSpec", "Result", "Scenario", "StartSpec", "ViewSpec", "build", "check", "dump", "dumps",
    "execute", "from_dict", "get_path", "load", "loads", "save", "set_path", "start_points", "to_dict", "validate",
]
