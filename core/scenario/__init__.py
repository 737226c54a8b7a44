"""Scenario files: one TOML format for exploring, lecturing and testing (see docs/scenarios.md).

``load``/``loads`` read and validate, ``dump``/``save`` write (``load(dump(s)) == s``), ``build``
gives the problem and engine groups, ``execute`` runs a scenario, ``check`` judges its expectations.
"""

from core.scenario.expectations import CHECKS, ExpectationOutcome, check
from core.scenario.io import dump, from_dict, get_path, load, loads, save, set_path, to_dict, validate
from core.scenario.runner import Cancelled, Result, build, execute, start_points
from core.scenario.schema import (
    FORMAT, Beat, Expectation, GridSpec, OptimizerSpec, ProblemSpec, RandomSpec, Scenario, StartSpec, ViewSpec,
)

__all__ = [
    "CHECKS", "FORMAT", "Beat", "Cancelled", "Expectation", "ExpectationOutcome", "GridSpec", "OptimizerSpec",
    "ProblemSpec", "RandomSpec", "Result", "Scenario", "StartSpec", "ViewSpec", "build", "check", "dump", "execute",
    "from_dict", "get_path", "load", "loads", "save", "set_path", "start_points", "to_dict", "validate",
]
