"""The scenario schema, declared once: what a scenario file may say, as frozen pydantic models.

A scenario is one TOML file (see ``docs/scenarios.md``): a problem, optimizers with their
hyperparameters (a list of values is a sweep), start points, a number of steps, a view, a lecture
timeline of beats and the expectations ``main.py check`` verifies. Each model below is one TOML
table; each field one key with the same name, its default, its allowed values and its meaning
(``Field(description=...)``). ``OptimizerSpec.hyper`` and ``ProblemSpec.params`` hold the keys that
belong to the chosen rule or problem (checked against :func:`core.optimizers.get_rule` and
:func:`core.problems.check_parameters`).

Everything else derives from these models: loading (:mod:`core.scenario.io` validates a parsed
document with ``Scenario.model_validate`` and turns the first error into the one-line
:class:`~core.errors.LabError`: key path, bad value, what is allowed, did-you-mean), saving
(``to_dict``), the key tables of ``docs/scenarios.md`` and ``docs/scenario.schema.json``
(:mod:`core.scenario.docs`: ``scripts/scenario_docs.py --write`` writes both;
``tests/test_schema_docs.py`` fails when they drift). A new top-level key is one field of :class:`Scenario` plus its consumer.

What needs the problem itself (dimensions, labels of trajectories, the beats played in order) is
checked by :func:`core.scenario.build.build`. Sequences are tuples and mappings plain dicts; numbers
are normalized (integers where the key is a count, floats for hyperparameters and coordinates), so
``load(dump(s)) == s``. Edit a scenario with :func:`core.scenario.io.set_path` (validated) or
``model_copy(update=...)`` followed by :func:`core.scenario.io.validate`.
"""

import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from core.device import DEVICES, DTYPES
from core.errors import LabError, suggest
from core.metrics import METRICS  # the one list of what a series can be (core/metrics.py)
from core.scenario.registry import panel_names
from core.values import MAX_RESOLUTION, MAX_SEED, MAX_STEPS, boolean, choice, integer, number, show

FORMAT = 1
"""The format version this code reads and writes (the ``format`` key)."""

DIRECTIONS = ("auto", "axes", "random", "pca", "hessian", "segment")
CONVERGENCE = ("loss", "gap", "distance")
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


# --- readers: each takes a value and returns it normalized, or raises a LabError whose path is
# relative to the key (io prefixes the key path pydantic reports) -----------------------------------
def join(path: str, key: str | int) -> str:
    """``path`` extended by a key (``a.b``) or an index (``a[0]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _point(value: Any, path: str = "") -> tuple[float, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise LabError(f"expected a point (a non-empty list of numbers), got {show(value)}", path)
    return tuple(number()(v, join(path, i)) for i, v in enumerate(value))


def _points(value: Any, path: str = "") -> tuple[tuple[float, ...], ...]:
    if not isinstance(value, list | tuple) or not value:
        raise LabError(f"expected a non-empty list of points such as [[2.5]] or [[1.0, -1.0], [0.5, 2.0]], got {show(value)}", path)
    pts = tuple(_point(p, join(path, i)) for i, p in enumerate(value))
    for i, p in enumerate(pts):
        if len(p) != len(pts[0]):
            raise LabError(f"every point needs {len(pts[0])} coordinates like the first, got {len(p)}", join(path, i))
    return pts


def _init(value: Any, path: str = "") -> bool | tuple[int, ...]:
    """``init``: true (the scenario seed) or a non-empty list of distinct seeds, one start each."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, list | tuple) or not value:
        raise LabError(f"expected true or a non-empty list of seeds such as [0, 1, 4], got {show(value)}", path)
    seeds = tuple(integer(0, MAX_SEED)(v, join(path, i)) for i, v in enumerate(value))
    if len(set(seeds)) != len(seeds):
        raise LabError(f"seed {next(v for v in seeds if seeds.count(v) > 1)} is listed twice", path)
    return seeds


def _box(value: Any, path: str = "") -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list | tuple) or not value:
        raise LabError(f"expected a list of [low, high] ranges, one per axis, got {show(value)}", path)
    out = []
    for i, pair in enumerate(value):
        p = join(path, i)
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise LabError(f"expected a [low, high] pair, got {show(pair)}", p)
        lo, hi = number()(pair[0], join(p, 0)), number()(pair[1], join(p, 1))
        if not lo < hi:
            raise LabError(f"expected low < high, got [{lo:g}, {hi:g}]", p)
        out.append((lo, hi))
    return tuple(out)


def color(value: Any, path: str = "") -> str:
    """A colour as :data:`COLOR_NAMES` documents it: ``#rgb``, ``#rrggbb``, ``#rrggbbaa`` (hex
    digits, alpha last) or a listed name; anything else is refused at load, so the app and
    ``panels.png`` never meet a colour they cannot draw."""
    if not isinstance(value, str):
        raise LabError(f"expected a colour such as \"#1f77b4\" or \"crimson\", got {show(value)}", path)
    if re.fullmatch(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})", value) or value in COLOR_NAMES:
        return value
    hint = suggest(value.lower(), COLOR_NAMES) if not value.startswith("#") else ""
    raise LabError(f"{show(value)} is not a colour{hint}; use #rgb, #rrggbb or #rrggbbaa hex (e.g. \"#1f77b4\") "
                   f"or a name such as {', '.join(COLOR_NAMES[:6])} (all in docs/scenarios.md)", path)


def panel(value: Any, path: str = "") -> str:
    """A registered panel name (:func:`core.scenario.registry.panel_names`; any identifier when
    none is registered)."""
    names = panel_names()
    if not names:  # core without the lab: no list to check against (core/scenario/registry.py)
        value = choice()(value, path)
        if not value.isidentifier():
            raise LabError(f"expected a panel name (an identifier such as 'landscape'), got {show(value)}", path)
        return value
    return choice(names)(value, path)


def _panels(value: Any, path: str = "") -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise LabError(f"expected a list of panels from {', '.join(panel_names())}, got {show(value)}", path)
    return tuple(panel(v, join(path, i)) for i, v in enumerate(value))


def _counts(value: Any, path: str = "") -> tuple[int, ...]:
    if isinstance(value, list | tuple):
        n = tuple(integer(1)(v, join(path, i)) for i, v in enumerate(value))
        if not n:
            raise LabError("expected at least one count", path)
        return n
    return (integer(1)(value, path),)


def _center(value: Any, path: str = "") -> str | tuple[float, ...]:
    return choice(CENTERS)(value, path) if isinstance(value, str) else _point(value, path)


def _between(value: Any, path: str = "") -> tuple[int, int]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise LabError(f"expected a [first, last] step range, got {show(value)}", path)
    a, b = integer(0)(value[0], join(path, 0)), integer(0)(value[1], join(path, 1))
    if a > b:
        raise LabError(f"expected first <= last, got [{a}, {b}]", path)
    return (a, b)


def _sets(value: Any, path: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LabError(f"expected a table of key path = value, e.g. {{\"optimizers[0].lr\" = 0.5}}, got {show(value)}", path)
    return freeze(value)


def freeze(value: Any) -> Any:
    """Lists become tuples (deeply), so equal files give equal scenarios."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: freeze(v) for k, v in value.items()}
    return value


def _reads(read: Callable[[Any, str], Any], optional: bool = False) -> BeforeValidator:
    if optional:
        return BeforeValidator(lambda v: None if v is None else read(v, ""))
    return BeforeValidator(lambda v: read(v, ""))


# --- the types of keys: the bound is written once and gives both the check and the JSON Schema -----
def Int(low: int | None = None, high: int | None = None, optional: bool = False) -> Any:
    base = Annotated[int, Field(ge=low, le=high)]
    return Annotated[Optional[base] if optional else base, _reads(integer(low, high), optional)]


def Num(low: float | None = None, low_open: bool = False, high: float | None = None, high_open: bool = False,
        optional: bool = False) -> Any:
    bounds = dict(gt=low) if low_open else dict(ge=low)
    bounds.update(dict(lt=high) if high_open else dict(le=high))
    base = Annotated[float, Field(**{k: v for k, v in bounds.items() if v is not None})]
    return Annotated[Optional[base] if optional else base, _reads(number(low, low_open, high, high_open), optional)]


def Choice(values: tuple[str, ...], optional: bool = False) -> Any:
    base = Literal[tuple(values)]  # type: ignore[valid-type]
    return Annotated[Optional[base] if optional else base, _reads(choice(tuple(values)), optional)]


def _panel_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = list(panel_names())


Text = Annotated[str, _reads(choice())]
OptText = Annotated[Optional[str], _reads(choice(), optional=True)]
Bool = Annotated[bool, _reads(boolean)]
OptBool = Annotated[Optional[bool], _reads(boolean, optional=True)]
Point = tuple[float, ...]
Box = tuple[tuple[float, float], ...]
OptBox = Annotated[Optional[Box], _reads(_box, optional=True)]
Colour = Annotated[Optional[str], _reads(color, optional=True)]
Panel = Annotated[str, Field(json_schema_extra=_panel_enum), _reads(panel)]
OptPanel = Annotated[Optional[Annotated[str, Field(json_schema_extra=_panel_enum)]], _reads(panel, optional=True)]


# --- the tables ----------------------------------------------------------------------------------
class Table(BaseModel):
    """One TOML table. Before its keys are validated, :meth:`_read` checks that it is a table,
    that every key is known (did-you-mean) and every required key is there; then ``_prepare``
    (per model) gathers what the model reads itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    what: ClassVar[str] = "a table"
    #: what a missing required key's message adds, per key
    hints: ClassVar[dict[str, str]] = {}
    #: fields that are not keys of the file (filled by ``_prepare`` from the rest of the table)
    hidden: ClassVar[tuple[str, ...]] = ()
    #: keys written by ``to_dict`` only when they differ from their default
    sparse: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def keys(cls) -> list[str]:
        """The keys this table may hold, in the documented order."""
        return [name for name in cls.model_fields if name not in cls.hidden]

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        return data

    @classmethod
    def _missing(cls, key: str) -> str:
        return f"missing key {key!r}{cls.hints.get(key, '')}"

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            return data
        if not isinstance(data, dict):
            raise LabError(f"expected {cls.what}, got {show(data)}")
        data = cls._prepare(dict(data))
        allowed = cls.keys()
        for key in data:
            if key not in allowed and key not in cls.hidden:
                raise LabError(cls._unknown(key, allowed), key)
        for name, f in cls.model_fields.items():
            if f.is_required() and name not in data:
                raise LabError(cls._missing(name), name)
        return data

    @classmethod
    def _unknown(cls, key: str, allowed: list[str]) -> str:
        return f"unknown key {key!r}{suggest(key, allowed)}; allowed: {', '.join(allowed)}"


def _hide(*names: str) -> Callable[[dict[str, Any]], None]:
    def edit(schema: dict[str, Any]) -> None:
        for name in names:
            schema.get("properties", {}).pop(name, None)
            if name in schema.get("required", ()):
                schema["required"].remove(name)
    return edit


class ProblemSpec(Table):
    """``[problem]``: ``kind`` names a factory of :data:`core.problems.PROBLEMS`; every other key of
    the table is that factory's keyword argument (``params``), checked against its signature and
    annotations (:func:`core.problems.check_parameters`) before anything is built."""

    model_config = ConfigDict(json_schema_extra=lambda s: (_hide("params")(s), s.update(additionalProperties=True)))
    what: ClassVar[str] = "a [problem] table with a kind"
    hints: ClassVar[dict[str, str]] = {"kind": " (a problem name such as 'quartic', 'bowl', 'quadratic')"}
    hidden: ClassVar[tuple[str, ...]] = ("params",)

    kind: Text = Field("quartic", description="the problem: quartic, bowl, quadratic, multimin, rosenbrock, himmelblau, "
                                              "rastrigin, formula, linear, mlp, net13, heart_net, ...")
    params: dict[str, Any] = Field(default_factory=dict, description="every other key: a parameter of that problem")

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        if "kind" not in data:
            raise LabError(cls._missing("kind"), "kind")
        kind = choice()(data.pop("kind"), "kind")
        given = data.pop("params") if isinstance(data.get("params"), dict) else {}  # ProblemSpec(params=...) in code
        params = freeze({**given, **data})
        _check_problem(kind, params)
        return {"kind": kind, "params": params}


def _check_problem(kind: str, params: dict[str, Any]) -> None:
    """The problem registry's checks (:func:`core.problems.check_problem`), located in the table."""
    from core.problems import check_problem

    try:
        check_problem(kind, params)
    except LabError as exc:
        raise LabError(exc.message, exc.path.removeprefix("problem").removeprefix(".")) from None


class GridSpec(Table):
    """``start.grid = {n = 5, box = [[-2, 2], [-1, 1]]}``: a regular grid of start points, ``n`` per
    axis (one number for all axes, or one per axis), ends included; ``box`` defaults to the
    problem's view box."""

    what: ClassVar[str] = "a grid table {n = 5, box = [[-2, 2], [-2, 2]]}"

    n: Annotated[tuple[Annotated[int, Field(ge=1)], ...], _reads(_counts)] = Field(
        description="points per axis: one count for every axis, or a list of one per axis")
    box: OptBox = Field(None, description="[low, high] per axis (default: the problem's view box)")


class RandomSpec(Table):
    """``start.random = {n = 8, seed = 1, box = [[-2, 2], [-2, 2]]}``: ``n`` points uniform in
    ``box`` (default: the problem's view box), drawn from a CPU ``torch.Generator`` seeded with
    ``seed``, so every machine draws the same points."""

    what: ClassVar[str] = "a random table {n = 8, seed = 1, box = [[-2, 2], [-2, 2]]}"

    n: Int(1) = Field(description="how many points")
    seed: Int(0, MAX_SEED) = Field(0, description="seed of the CPU generator that draws them")
    box: OptBox = Field(None, description="[low, high] per axis (default: the problem's view box)")


START_FORMS = ("points", "grid", "random", "init")


class StartSpec(Table):
    """``[start]``: exactly one of ``points`` (a list of points), ``grid``, ``random``, or
    ``init = true`` (the problem's own seeded initialization, ``problem.initial_point(seed)``:
    neural nets) or ``init = [0, 1, 4]`` (one such start per seed, labelled ``init 0`` ...)."""

    what: ClassVar[str] = "a start table (points, grid, random or init)"
    sparse: ClassVar[tuple[str, ...]] = ("init",)

    points: Annotated[Optional[tuple[Point, ...]], _reads(_points, optional=True)] = Field(
        None, description="a list of points, one coordinate per parameter")
    grid: Optional[GridSpec] = Field(None, description="a grid of points")
    random: Optional[RandomSpec] = Field(None, description="uniform random points")
    init: Annotated[Union[bool, tuple[int, ...]], _reads(_init)] = Field(
        False, description="true: the problem's own seeded initialization at the scenario seed (nets); "
                           "a list of seeds such as [0, 1, 4]: one start per seed")

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        chosen = [k for k in START_FORMS if k in data]
        if len(chosen) != 1:
            raise LabError(f"give exactly one of points, grid, random, init; got {', '.join(chosen) if chosen else 'none'}")
        if data.get("init") is False:
            raise LabError("init = false starts nowhere; use init = true or give points", "init")
        return data


def _schedule(value: Any, path: str = "") -> dict[str, Any]:
    """``schedule = { kind = ..., ... }``, checked and normalized by :mod:`core.optimizers.schedules`."""
    from core.optimizers.schedules import read_schedule

    return read_schedule(value, path).table()


def _hyper_value(value: Any, path: str) -> float | tuple[float, ...]:
    if isinstance(value, list | tuple):
        if not value:
            raise LabError("a sweep needs at least one value", path)
        return tuple(number()(v, join(path, i)) for i, v in enumerate(value))
    return number()(value, path)


class OptimizerSpec(Table):
    """One ``[[optimizers]]`` entry. Every trajectory is one value of ``hyper`` (the Cartesian
    product of its sweeps, in the order written) times one start point."""

    model_config = ConfigDict(json_schema_extra=lambda s: (_hide("hyper")(s), s.update(additionalProperties={
        "anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}, "minItems": 1}]})))
    what: ClassVar[str] = "an [[optimizers]] table with a kind"
    hints: ClassVar[dict[str, str]] = {"kind": " (an optimizer such as 'gd', 'momentum', 'adam')"}
    hidden: ClassVar[tuple[str, ...]] = ("hyper",)
    sparse: ClassVar[tuple[str, ...]] = ("noise",)

    kind: Text = Field("gd", description="the rule, one of the optimizer kinds below (core.optimizers.OPTIMIZERS)")
    label: Text = Field("", description="unique name used by captions, expectations and the legend (default: the kind)")
    color: Colour = Field(
        None, description="#rgb, #rrggbb or #rrggbbaa hex, or a colour name listed below")
    hyper: dict[str, Union[float, tuple[float, ...]]] = Field(
        default_factory=dict, description="every other key: a hyperparameter of the rule; a list is a sweep")
    batch_size: Int(1, optional=True) = Field(None, description="minibatch gradients of this size (data problems)")
    noise: Num(0.0) = Field(0.0, description="toys: gradient noise model g + noise * xi, xi ~ N(0, I)")
    start: Optional[StartSpec] = Field(None, description="this entry's own start, instead of [start]")
    schedule: Annotated[Optional[dict[str, Union[str, float, int]]], _reads(_schedule, optional=True)] = Field(
        None, description="a learning-rate schedule multiplying lr, e.g. { kind = \"cosine\" } (the schedule table below)")

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        from core.optimizers import get_rule

        if "kind" not in data:
            raise LabError(cls._missing("kind"), "kind")
        kind = choice()(data["kind"], "kind")
        label = choice()(data.get("label", kind), "label")
        if not label.strip():
            raise LabError("label is empty; give a short name such as 'GD, lr = 0.1'", "label")
        own = set(cls.keys())
        given = data.get("hyper") if isinstance(data.get("hyper"), dict) else {}  # OptimizerSpec(hyper=...) in code
        rest = {**given, **{k: v for k, v in data.items() if k not in own and k not in cls.hidden}}
        hyper = {k: _hyper_value(v, k) for k, v in rest.items()}
        rule = get_rule(kind, "kind")
        names = [h.name for h in rule.hypers]
        for key, value in hyper.items():
            if key not in names:
                raise LabError(f"{kind} has no hyperparameter {key!r}{suggest(key, names)}; "
                               f"allowed: {', '.join(names)}, and label, color, batch_size, noise, start, schedule", key)
            spec = next(h for h in rule.hypers if h.name == key)
            sweep = isinstance(value, tuple)
            for j, v in enumerate(value if sweep else (value,)):
                spec.check(v, f"{key}[{j}]" if sweep else key)
        out = {k: v for k, v in data.items() if k in own}
        out.update(kind=kind, label=label, hyper=hyper)
        return out


class ViewSpec(Table):
    """``[view]``: what the app shows and ``main.py run`` renders. The slice is centred on ``center``
    (a point, or ``"start"`` / ``"final"`` of the trajectory named by ``trajectory``; without a
    center, around that trajectory's end); ``filter_normalize`` and ``bias`` as in Li et al. 2018."""

    panels: Annotated[tuple[Panel, ...], _reads(_panels)] = Field(
        ("landscape", "convergence"), description="the panels shown (names registered by the lab: lab/panels/names.py)")
    span: OptBox = Field(None, description="plotted range per axis (default: the problem's box)")
    resolution: Int(2, MAX_RESOLUTION) = Field(101, description="landscape grid points per axis")
    log_scale: Bool = Field(False, description="colour the surface by log(loss - min)")
    directions: Choice(DIRECTIONS) = Field("auto", description="the slice: auto (the parameter plane for at most two "
                                                                "parameters, else filter-normalized random directions), "
                                                                "axes, random, pca, hessian, segment")
    center: Annotated[Union[Literal[CENTERS], Point, None], _reads(_center, optional=True)] = Field(
        None, description="a point, or \"start\" / \"final\" of `trajectory`")
    trajectory: OptText = Field(None, description="which trajectory pca / segment / center use (default: the first)")
    seed: Int(0, MAX_SEED, optional=True) = Field(None, description="seed of random directions (default: the scenario seed)")
    filter_normalize: Bool = Field(True, description="random directions scaled per filter (Li et al. 2018)")
    bias: Choice(BIAS) = Field("zero", description="the direction on biases: zero or weights")
    convergence: Choice(CONVERGENCE) = Field("gap", description="what the convergence panel plots: loss, gap (loss - loss*), "
                                                                 "distance (to the nearest known minimum)")


#: keys a beat's ``set`` may not change: they describe the file, not the run being lectured
FIXED_BY_BEATS = ("beats", "expect", "format", "title", "description")


class Beat(Table):
    """One ``[[beats]]`` entry of the lecture timeline: when the player reaches ``step`` it shows
    ``caption`` (after asking ``predict`` first, when given), pauses if ``pause``, emphasises ``highlight``, brings ``panel`` to the front and
    applies ``set`` (key path -> new value; the GUI re-runs from there)."""

    sparse: ClassVar[tuple[str, ...]] = ("set",)

    step: Int(0) = Field(description="the step the beat happens at")
    caption: Text = Field("", description="shown while the beat is current; {...} fields are filled from the run "
                                           "(docs/scenarios.md, Caption fields)")
    predict: OptText = Field(None, description="a question for the audience: at this beat the player pauses and shows it, "
                                               "the caption is revealed by the next key press (N, PageDown, Space)")
    pause: Bool = Field(False, description="the player stops here until the presenter continues")
    highlight: OptText = Field(None, description="a trajectory or optimizer label to emphasise")
    panel: OptPanel = Field(None, description="the panel brought to the front")
    set: Annotated[dict[str, Any], _reads(_sets)] = Field(
        default_factory=dict, description="key path = new value, e.g. {\"optimizers[0].lr\" = 0.5}")

    @model_validator(mode="after")
    def _fixed(self) -> "Beat":
        for key in self.set:
            if key.split(".")[0].split("[")[0] in FIXED_BY_BEATS:
                raise LabError(f"a beat may change the problem, optimizers, start, steps or view, not {key!r}", "set")
        return self


# --- expectations: one model per check (a union discriminated by ``check``) ------------------------
Label = Annotated[str, _reads(choice())]
Bound = Num(optional=True)
Positive = Num(0.0, low_open=True)
Step = Int(0, optional=True)
Between = Annotated[Optional[tuple[int, int]], _reads(_between, optional=True)]
Metric = Choice(METRICS, optional=True)
AtLeast = Int(1, optional=True)

#: every key an expectation may have (of some check); a key another check takes reads as None
EXPECTATION_KEYS = ("optimizer", "below", "above", "tol", "metric", "at", "between", "diverged", "before", "within",
                    "expected", "at_least")

_D = dict(
    optimizer="a trajectory label, or an optimizer label (then every trajectory of it)",
    below="the final value is below this", above="the final value is above this",
    tol="\"reached\": the first step with metric < tol", metric="loss, gap, distance, grad_norm, test_loss or "
                                                                  "test_accuracy (default: distance when the minima are "
                                                                  "known, else gap, else loss)",
    at="the step it happens at", between="an inclusive [first, last] step range",
    diverged="whether it should diverge", before="the trajectory that must reach tol later",
    within="a relative tolerance in percent (rate, sharpness) or a distance (landscape minimum)",
    expected="replaces the theoretical rate", at_least="the claim holds for at least this many of the trajectories",
)


class Expectation(Table):
    """One ``[[expect]]`` entry: a claim ``main.py check`` verifies on the run. Each check is a
    subclass (its docstring says what it verifies; :data:`EXPECTATIONS`), with the keys it takes:
    the required ones first. A key of another check reads as None on this one."""

    per_trajectory: ClassVar[bool] = True
    sparse: ClassVar[tuple[str, ...]] = ("note",)

    check: str = Field(description="what is verified (the table below)")
    note: Text = Field("", description="shown when the check fails")

    def __getattr__(self, name: str) -> Any:
        if name in EXPECTATION_KEYS:
            return None
        return super().__getattr__(name)  # type: ignore[misc]

    @classmethod
    def doc(cls) -> str:
        return " ".join((cls.__doc__ or "").split())

    @classmethod
    def required_keys(cls) -> tuple[str, ...]:
        return tuple(k for k, f in cls.model_fields.items() if f.is_required() and k != "check")

    @classmethod
    def optional_keys(cls) -> tuple[str, ...]:
        return tuple(k for k, f in cls.model_fields.items() if not f.is_required() and k not in ("check", "note"))

    @classmethod
    def _missing(cls, key: str) -> str:
        return f"check {cls.model_fields['check'].default!r} needs {key!r} ({cls.doc()})"

    @classmethod
    def _unknown(cls, key: str, allowed: list[str]) -> str:
        check = cls.model_fields["check"].default
        if key in EXPECTATION_KEYS:
            what = f"key {key!r} does not apply to check {check!r}"
        else:
            what = f"unknown key {key!r}{suggest(key, allowed)}"
        return f"{what}; allowed for {check!r}: {', '.join(allowed)}"

    @model_validator(mode="after")
    def _shape(self) -> "Expectation":
        if "below" in type(self).model_fields and self.below is None and self.above is None:
            raise LabError("give below, above or both")
        if self.at is not None and self.between is not None:
            raise LabError("give at or between, not both", "between")
        if self.diverged is False and (self.at is not None or self.between is not None):
            raise LabError("diverged = false takes no at/between", "diverged")
        return self


class FinalLoss(Expectation):
    """loss at the last step below/above a bound"""

    check: Literal["final_loss"] = "final_loss"
    optimizer: Label = Field(description=_D["optimizer"])
    below: Bound = Field(None, description=_D["below"])
    above: Bound = Field(None, description=_D["above"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class Gap(Expectation):
    """loss - loss* at the last step below/above a bound"""

    check: Literal["gap"] = "gap"
    optimizer: Label = Field(description=_D["optimizer"])
    below: Bound = Field(None, description=_D["below"])
    above: Bound = Field(None, description=_D["above"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class Distance(Expectation):
    """distance to the nearest known minimum at the last step"""

    check: Literal["distance"] = "distance"
    optimizer: Label = Field(description=_D["optimizer"])
    below: Bound = Field(None, description=_D["below"])
    above: Bound = Field(None, description=_D["above"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class FinalTestLoss(Expectation):
    """held-out (test split) loss at the last step below/above a bound"""

    check: Literal["final_test_loss"] = "final_test_loss"
    optimizer: Label = Field(description=_D["optimizer"])
    below: Bound = Field(None, description=_D["below"])
    above: Bound = Field(None, description=_D["above"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class BestStep(Expectation):
    """the step where metric (default test_loss) is best (lowest; highest for test_accuracy), at a step or in a range: early stopping's step"""

    check: Literal["best_step"] = "best_step"
    optimizer: Label = Field(description=_D["optimizer"])
    metric: Metric = Field(None, description=_D["metric"])
    at: Step = Field(None, description=_D["at"])
    between: Between = Field(None, description=_D["between"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class LayerGradRatio(Expectation):
    """the first layer's gradient norm over the last layer's (nets; at step `at`, default 0) below/above a bound: vanishing (far below 1) or exploding (far above 1) gradients"""

    check: Literal["layer_grad_ratio"] = "layer_grad_ratio"
    optimizer: Label = Field(description=_D["optimizer"])
    below: Bound = Field(None, description=_D["below"])
    above: Bound = Field(None, description=_D["above"])
    at: Step = Field(None, description=_D["at"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class Diverged(Expectation):
    """diverged (default true) or not, optionally at a step or in a step range"""

    check: Literal["diverged"] = "diverged"
    optimizer: Label = Field(description=_D["optimizer"])
    diverged: OptBool = Field(None, description=_D["diverged"])
    at: Step = Field(None, description=_D["at"])
    between: Between = Field(None, description=_D["between"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class StepsTo(Expectation):
    """first step with metric < tol, optionally at a step or in a range"""

    check: Literal["steps_to"] = "steps_to"
    optimizer: Label = Field(description=_D["optimizer"])
    tol: Positive = Field(description=_D["tol"])
    metric: Metric = Field(None, description=_D["metric"])
    at: Step = Field(None, description=_D["at"])
    between: Between = Field(None, description=_D["between"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class Rate(Expectation):
    """measured linear rate within `within` percent of the predicted (or `expected`) rate"""

    check: Literal["rate"] = "rate"
    optimizer: Label = Field(description=_D["optimizer"])
    within: Positive = Field(description=_D["within"])
    metric: Metric = Field(None, description=_D["metric"])
    expected: Bound = Field(None, description=_D["expected"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class Order(Expectation):
    """optimizer reaches metric < tol strictly before `before` does"""

    check: Literal["order"] = "order"
    optimizer: Label = Field(description=_D["optimizer"])
    before: Label = Field(description=_D["before"])
    tol: Positive = Field(description=_D["tol"])
    metric: Metric = Field(None, description=_D["metric"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class Sharpness(Expectation):
    """top Hessian eigenvalue (at step `at`, default the last) within `within` percent of the optimizer's
    stability limit (2/lr for GD, 2(1+beta)/lr for heavy ball)"""

    check: Literal["sharpness"] = "sharpness"
    optimizer: Label = Field(description=_D["optimizer"])
    within: Positive = Field(description=_D["within"])
    at: Step = Field(None, description=_D["at"])
    at_least: AtLeast = Field(None, description=_D["at_least"])


class LandscapeMinNearCenter(Expectation):
    """the minimum of the computed slice lies within `within` of its centre"""

    per_trajectory: ClassVar[bool] = False
    check: Literal["landscape_min_near_center"] = "landscape_min_near_center"
    within: Positive = Field(description=_D["within"])


#: check name -> its model; adding a check is one model here plus its judge in expectations.py
EXPECTATIONS: dict[str, type[Expectation]] = {
    cls.model_fields["check"].default: cls
    for cls in (FinalLoss, Gap, Distance, FinalTestLoss, BestStep, LayerGradRatio, Diverged, StepsTo, Rate, Order,
                Sharpness, LandscapeMinNearCenter)
}
AnyExpectation = Annotated[Union[tuple(EXPECTATIONS.values())], Field(discriminator="check")]  # type: ignore[valid-type]


def _entries(data: dict[str, Any], key: str, what: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list | tuple):
        raise LabError(f"expected a list of {what} ([[{key}]] tables), got {show(value)}", key)
    return list(value)


class Scenario(Table):
    """A whole scenario file. ``source`` is the file it was loaded from (relative data paths are
    resolved next to it); it is not part of the scenario's value and is never written."""

    model_config = ConfigDict(json_schema_extra=_hide("source"))
    hints: ClassVar[dict[str, str]] = {"format": f" (write format = {FORMAT} at the top of the file)"}
    hidden: ClassVar[tuple[str, ...]] = ("source",)

    format: Int() = Field(FORMAT, description=f"the format version; required, must be {FORMAT}")
    title: Text = Field("", description="shown in the window title and by `check`")
    description: Text = Field("", description="what a student reads: what to watch and why")
    seed: Int(0, MAX_SEED) = Field(0, description="seeds everything random: trajectory i draws its noise and "
                                                  "minibatches from seed * 1000003 + i; random starts")
    device: Choice(DEVICES) = Field("auto", description="where the run happens (auto: CUDA when present; --device overrides)")
    dtype: Choice(tuple(DTYPES)) = Field("float64", description="the run's precision")
    steps: Int(1, MAX_STEPS) = Field(100, description="optimizer steps; the run records steps 0..steps")
    diverge_bound: Num(0.0, True) = Field(1e6, description="a trajectory with a parameter beyond this is diverged")
    loss_bound: Num(0.0, True) = Field(1e12, description="... or a loss beyond this, or a non-finite loss")
    problem: ProblemSpec = Field(default_factory=ProblemSpec.model_construct, description="the loss (required)")
    start: StartSpec = Field(default_factory=StartSpec.model_construct, description="where every optimizer starts (required)")
    optimizers: tuple[OptimizerSpec, ...] = Field((), description="one table per optimizer entry (at least one)")
    view: ViewSpec = Field(default_factory=ViewSpec, description="what the app shows and `run` renders")
    beats: tuple[Beat, ...] = Field((), description="the lecture timeline")
    expect: tuple[AnyExpectation, ...] = Field((), description="claims `check` verifies on the run")
    source: str = Field("", exclude=True, description="the file it was loaded from (not part of its value)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        return ({k: v for k, v in self.__dict__.items() if k != "source"}
                == {k: v for k, v in other.__dict__.items() if k != "source"})

    __hash__ = None  # type: ignore[assignment]  (dict-valued keys: not hashable)

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        if "format" not in data:
            raise LabError(cls._missing("format"), "format")
        version = integer()(data["format"], "format")
        if version != FORMAT:
            raise LabError(f"format {version} is not supported; this version of the lab reads format = {FORMAT}", "format")
        if "problem" not in data:
            raise LabError("missing [problem] table (e.g. [problem] kind = \"quartic\")", "problem")
        if "optimizers" not in data:
            raise LabError("missing [[optimizers]] (at least one, e.g. [[optimizers]] kind = \"gd\" lr = 0.1)", "optimizers")
        if "start" not in data:
            raise LabError("missing [start] table (e.g. [start] points = [[2.5]])", "start")
        if not _entries(data, "optimizers", "optimizer tables"):
            raise LabError("the optimizer list is empty; add at least one [[optimizers]] table", "optimizers")
        _entries(data, "beats", "beat tables")
        for i, e in enumerate(_entries(data, "expect", "expectation tables")):
            if isinstance(e, Expectation):
                continue
            if not isinstance(e, dict):
                raise LabError(f"expected a table, got {show(e)}", f"expect[{i}]")
            if "check" not in e:
                raise LabError(f"missing key 'check' (one of {', '.join(EXPECTATIONS)})", f"expect[{i}].check")
            choice(tuple(EXPECTATIONS))(e["check"], f"expect[{i}].check")
        return data
