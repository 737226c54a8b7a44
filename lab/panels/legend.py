"""Legend entries shared by the panels: a trajectory family (every trajectory of one optimizer entry,
from its sweeps and start points) is listed one trajectory per line while it has at most
:data:`FAMILY_LEGEND` members (the palette's ten colours still tell them apart, and a lecture's
five-rate sweep names each rate), and as ONE line past that: ``GD: 1,000 trajectories, lr 0.001
to 2.5, 312 diverged``. pyqtgraph lays its legend out again for every item added, so thousands of
lines cost minutes (a 10,000-rate sweep spent more than 100 s there) and could not be read anyway.
A family whose members share every hyperparameter (eight SGD seeds, a grid of start points) is one
line whatever its size: its lines would only repeat one name. A family shown as one line is drawn
as a colour ramp of its colour (:func:`family_colors`), light to dark in run order."""

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
        if one_line(view, members):
            out[members[0]] = family_name(view, entry, members)
        else:
            out.update((i, names[i]) for i in members)
    return out


def one_line(view: Any, members: list[int]) -> bool:
    """Whether a family is listed as one legend line: more than :data:`FAMILY_LEGEND` members, or
    several that differ only in their seed or start (the same hyperparameters)."""
    if len(members) > FAMILY_LEGEND:
        return True
    return len(members) > 1 and all(view.hyper[i] == view.hyper[members[0]] for i in members)


def collapsed(view: Any) -> set[int]:
    """Indices of the trajectories that belong to a family shown as one legend line."""
    return {i for members in families(view).values() if one_line(view, members) for i in members}


def family_colors(view: Any) -> list[str]:
    """The colour each trajectory is drawn in: its own, or for a family shown as one legend line a
    ramp of the family's first colour (:func:`lab.panels.display.ramp`), so its members stay apart."""
    from lab.panels.display import ramp

    colors = list(view.colors)
    for members in families(view).values():
        if one_line(view, members):
            for i, c in zip(members, ramp(view.colors[members[0]], len(members))):
                colors[i] = c
    return colors
