"""The lesson library: every ``*.toml`` file in this folder is a scenario shipped with Loss
Landscape Lab (``python main.py check scenarios/`` runs them all; ``docs/scenarios.md`` describes
the format).

The folder is also a Python package, so that the wheel carries the lessons as package data and the
program finds them relative to itself, from any working directory, in the checkout and in an
installed copy alike. :data:`FOLDER` and :data:`DEFAULT` are the one place that says where they are.
"""

from __future__ import annotations

from pathlib import Path

#: the folder of the shipped lessons (this package's own folder)
FOLDER = Path(__file__).resolve().parent
#: the scenario ``main.py`` (``landscape-lab``) opens when given no file
DEFAULT = FOLDER / "quartic_gd.toml"


def lessons() -> list[Path]:
    """Every shipped lesson, sorted by name."""
    return sorted(FOLDER.glob("*.toml"))
