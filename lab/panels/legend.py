"""Legend entries shared by the panels: a trajectory family (every trajectory of one optimizer entry,
from its sweeps and start points) is listed one trajectory per line while it has at most
:data:`FAMILY_LEGEND` members (the palette's ten colours still tell them apart, and a lecture's
five-rate sweep names each rate), and as ONE line past that: ``GD: 1,000 trajectories, lr 0.001
to 2.5, 312 diverged``. pyqtgraph lays its legend out again for every item added, so thousands of
lines cost minutes (a 10,000-rate sweep spent more than 100 s there) and could not be read anyway."""

from __future__ import annotations

from typing import Any

FAMILY_LEGEND = 10


def families(view: Any) -> dict[str, list[int]]:
    """Optimizer entry label -> the indices of its trajectories, in run order."""
    out: dict[str, list[int]] = {}
    for i, entry in enumerate(view.entry):
        out.setdefault(entry, []).append(i)
    return out


def family_name(view: Any, entry: str, members: list[int]) -> str:
    """One line for a whole family: its size, the range of each swept hyperparameter, divergences."""
    first = view.hyper[members[0]]
    parts = []
    for key in first:
        values = [float(view.hyper[i][key]) for i in members if key in view.hyper[i]]
        if len(set(values)) > 1:
            parts.append(f"{key} {min(values):.4g} to {max(values):.4g}")
    diverged = int(sum(bool(view.diverged[i]) for i in members))
    text = f"{entry}: {len(members):,} trajectories"
    if parts:
        text += ", " + ", ".join(parts)
    if diverged:
        text += f", {diverged:,} diverged"
    return text


def legend_names(view: Any, names: list[str]) -> dict[int, str]:
    """Trajectory index -> its legend line, for the trajectories that get one: every member of a
    small family (with ``names[i]``), the first member of a large one (with :func:`family_name`)."""
    out: dict[int, str] = {}
    for entry, members in families(view).items():
        if len(members) <= FAMILY_LEGEND:
            out.update((i, names[i]) for i in members)
        else:
            out[members[0]] = family_name(view, entry, members)
    return out


def collapsed(view: Any) -> set[int]:
    """Indices of the trajectories that belong to a family shown as one legend line."""
    return {i for members in families(view).values() if len(members) > FAMILY_LEGEND for i in members}
