"""The scenario schema: what a scenario file may say, as frozen dataclasses.

A scenario is one TOML file (see ``docs/scenarios.md``): a problem, optimizers with their
hyperparameters (a list of values is a sweep), start points, a number of steps, a view, a lecture
timeline of beats and the expectations ``main.py check`` verifies. Each dataclass below is one TOML
table; each field one key, with the same name (``OptimizerSpec.hyper`` and ``ProblemSpec.params``
hold the keys that belong to the chosen rule or problem). Key paths in errors and in beats
(``optimizers[1].lr``, ``view.resolution``) follow the TOML layout, so the GUI can edit a scenario
with :func:`dataclasses.replace` or :func:`core.scenario.io.set_path` and save it back unchanged.

Sequences are tuples and mappings are plain dicts; the loader normalizes numbers (integers where the
key is a count, floats for hyperparameters and coordinates), so ``load(dump(s)) == s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMAT = 1
"""The format version this code reads and writes (the ``format`` key)."""

PANELS = ("landscape", "convergence", "eigen", "model")
DIRECTIONS = ("auto", "axes", "random", "pca", "hessian", "segment")
CONVERGENCE = ("loss", "gap", "distance")
METRICS = ("loss", "gap", "distance", "grad_norm")
BIAS = ("zero", "weights")
CENTERS = ("start", "final")

#: the colour names an optimizer's ``color`` may use (SVG names every Qt consumer of the lab reads
#: the same way); any other colour is hex: ``#rgb``, ``#rrggbb`` or ``#rrggbbaa`` (alpha last)
COLOR_NAMES = (
    "black", "white", "gray", "grey", "silver", "red", "darkred", "crimson", "firebrick", "tomato", "salmon",
    "coral", "orange", "darkorange", "gold", "yellow", "khaki", "olive", "lime", "limegreen", "green",
    "forestgreen", "seagreen", "darkgreen", "teal", "turquoise", "cyan", "skyblue", "steelblue", "dodgerblue",
    "royalblue", "blue", "navy", "darkblue", "indigo", "purple", "violet", "orchid", "magenta", "deeppink",
    "pink", "maroon", "brown", "chocolate", "tan", "slategray",
)

Box = tuple[tuple[float, float], ...]
Point = tuple[float, ...]


@dataclass(frozen=True)
class ProblemSpec:
    """``[problem]``: ``kind`` names a factory of :data:`core.problems.PROBLEMS`; every other key of
    the table is that factory's keyword argument (``params``), validated against its signature."""

    kind: str = "quartic"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GridSpec:
    """``start.grid = {n = 5, box = [[-2, 2], [-1, 1]]}``: a regular grid of start points, ``n`` per
    axis (one number for all axes, or one per axis), ends included; ``box`` defaults to the
    problem's view box."""

    n: tuple[int, ...] = (5,)
    box: Box | None = None


@dataclass(frozen=True)
class RandomSpec:
    """``start.random = {n = 8, seed = 1, box = [[-2, 2], [-2, 2]]}``: ``n`` points uniform in
    ``box`` (default: the problem's view box), drawn from a CPU ``torch.Generator`` seeded with
    ``seed``, so every machine draws the same points."""

    n: int = 8
    seed: int = 0
    box: Box | None = None


@dataclass(frozen=True)
class StartSpec:
    """``[start]``: exactly one of ``points`` (a list of points), ``grid``, ``random``, or
    ``init = true`` (the problem's own seeded initialization, ``problem.initial_point(seed)``:
    neural nets)."""

    points: tuple[Point, ...] | None = None
    grid: GridSpec | None = None
    random: RandomSpec | None = None
    init: bool = False


@dataclass(frozen=True)
class OptimizerSpec:
    """One ``[[optimizers]]`` entry.

    ``kind`` names a rule of :data:`core.optimizers.OPTIMIZERS`; ``label`` (unique, default the
    kind) is what captions, expectations and the legend call it; ``color`` a colour: ``#rgb``,
    ``#rrggbb`` or ``#rrggbbaa`` hex (``"#1f77b4"``) or one of :data:`COLOR_NAMES` (``"crimson"``). ``hyper`` holds the rule's hyperparameters: a number, or a list of numbers for a
    sweep (several lists sweep their Cartesian product, in the order written). Every value of
    ``hyper`` x every start point is one trajectory. ``batch_size`` asks for minibatch gradients
    (data problems), ``noise`` for the toy gradient-noise model ``g + noise * xi``. ``start``
    overrides the scenario's ``[start]`` for this entry."""

    kind: str = "gd"
    label: str = ""
    color: str | None = None
    hyper: dict[str, float | tuple[float, ...]] = field(default_factory=dict)
    batch_size: int | None = None
    noise: float = 0.0
    start: StartSpec | None = None


@dataclass(frozen=True)
class ViewSpec:
    """``[view]``: what the app shows and ``main.py run`` renders.

    ``panels`` (any of landscape, convergence, eigen, model); ``span`` the plotted range per axis
    (default: the problem's box for axes, the landscape routine's default otherwise);
    ``resolution`` grid points per axis of the landscape; ``log_scale`` for the surface colours;
    ``directions`` of the slice (axes, random, pca, hessian, segment; ``auto``: the parameter plane
    when the problem has at most two parameters, else filter-normalized random directions);
    ``center`` of the slice: a point, or ``"start"`` / ``"final"`` of the trajectory named by
    ``trajectory`` (default the first; without a center the slice is around that trajectory's end); ``seed`` of random directions (default the scenario seed); ``filter_normalize`` and
    ``bias`` as in Li et al. 2018 (nets); ``convergence`` is what the convergence panel plots
    (loss, gap = loss - loss*, distance to the nearest known minimum)."""

    panels: tuple[str, ...] = ("landscape", "convergence")
    span: Box | None = None
    resolution: int = 101
    log_scale: bool = False
    directions: str = "auto"
    center: str | Point | None = None
    trajectory: str | None = None
    seed: int | None = None
    filter_normalize: bool = True
    bias: str = "zero"
    convergence: str = "gap"


@dataclass(frozen=True)
class Beat:
    """One ``[[beats]]`` entry of the lecture timeline: when the player reaches ``step`` it shows
    ``caption``, pauses if ``pause``, emphasises the trajectory or optimizer ``highlight``, brings
    ``panel`` to the front and applies ``set`` (key path -> new value, e.g.
    ``{"optimizers[0].lr" = 0.5}``; the GUI re-runs from there)."""

    step: int = 0
    caption: str = ""
    pause: bool = False
    highlight: str | None = None
    panel: str | None = None
    set: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Expectation:
    """One ``[[expect]]`` entry: a claim ``main.py check`` verifies on the run. Which keys a check
    takes is listed in :data:`core.scenario.expectations.CHECKS` (and in docs/scenarios.md).

    ``optimizer`` names a trajectory label, or an optimizer label (then every trajectory of that
    entry must satisfy the claim). ``below``/``above`` bound a final value; ``tol`` and ``metric``
    define "reached" (first step with ``metric < tol``); ``at`` (a step) or ``between`` (an
    inclusive step range) pin when something happens; ``diverged`` says whether it should;
    ``before`` names the trajectory that must reach ``tol`` later; ``within`` is a relative
    tolerance in percent (rate, sharpness) or a distance (landscape minimum); ``expected`` replaces
    the theoretical rate by a given number; ``at_least`` lets a claim about several (noisy)
    trajectories hold for that many of them instead of all; ``note`` is shown when the check fails."""

    check: str = "final_loss"
    optimizer: str | None = None
    below: float | None = None
    above: float | None = None
    tol: float | None = None
    metric: str | None = None
    at: int | None = None
    between: tuple[int, int] | None = None
    diverged: bool | None = None
    before: str | None = None
    within: float | None = None
    expected: float | None = None
    at_least: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file. ``source`` is the file it was loaded from (relative data paths are
    resolved next to it); it is not part of the scenario's value and is never written."""

    problem: ProblemSpec = field(default_factory=ProblemSpec)
    optimizers: tuple[OptimizerSpec, ...] = ()
    start: StartSpec = field(default_factory=StartSpec)
    format: int = FORMAT
    title: str = ""
    description: str = ""
    seed: int = 0
    device: str = "auto"
    dtype: str = "float64"
    steps: int = 100
    diverge_bound: float = 1e6
    loss_bound: float = 1e12
    view: ViewSpec = field(default_factory=ViewSpec)
    beats: tuple[Beat, ...] = ()
    expect: tuple[Expectation, ...] = ()
    source: str = field(default="", compare=False)
