"""Reading and writing scenario files: ``load``/``loads`` (TOML -> validated :class:`Scenario`),
``dump``/``save`` (:class:`Scenario` -> TOML), and ``set_path``/``get_path`` for key-path edits.

Every mistake is a :class:`core.errors.LabError` that names the file, the dotted key path, the bad
value and what is allowed; unknown keys get a "did you mean". Reading is two passes: the shape and
types of every key (here), then what only the problem can tell (its parameters, its dimension,
hyperparameter ranges, labels: :func:`core.scenario.runner.build`), so a file that loads will run.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from core.device import DEVICES, DTYPES
from core.errors import LabError
from core.values import MAX_RESOLUTION, MAX_SEED, MAX_STEPS, boolean, choice, finite, integer, number, show
from core.errors import suggest
from core.scenario.schema import (
    BIAS, CENTERS, COLOR_NAMES, CONVERGENCE, DIRECTIONS, FORMAT, METRICS, PANELS, Beat, Expectation, GridSpec, OptimizerSpec,
    ProblemSpec, RandomSpec, Scenario, StartSpec, ViewSpec,
)

def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# --- typed readers (core.values): each takes (value, path) and returns the normalized value -------
_show, _int, _finite, _float, _str, _bool = show, integer, finite, number, choice, boolean


def _point(value: Any, path: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise LabError(f"expected a point (a non-empty list of numbers), got {_show(value)}", path)
    return tuple(_float()(v, _join(path, i)) for i, v in enumerate(value))


def _points(value: Any, path: str) -> tuple[tuple[float, ...], ...]:
    if not isinstance(value, list) or not value:
        raise LabError(f"expected a non-empty list of points such as [[2.5]] or [[1.0, -1.0], [0.5, 2.0]], got {_show(value)}", path)
    pts = tuple(_point(p, _join(path, i)) for i, p in enumerate(value))
    for i, p in enumerate(pts):
        if len(p) != len(pts[0]):
            raise LabError(f"every point needs {len(pts[0])} coordinates like the first, got {len(p)}", _join(path, i))
    return pts


def _box(value: Any, path: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or not value:
        raise LabError(f"expected a list of [low, high] ranges, one per axis, got {_show(value)}", path)
    out = []
    for i, pair in enumerate(value):
        p = _join(path, i)
        if not isinstance(pair, list) or len(pair) != 2:
            raise LabError(f"expected a [low, high] pair, got {_show(pair)}", p)
        lo, hi = _float()(pair[0], _join(p, 0)), _float()(pair[1], _join(p, 1))
        if not lo < hi:
            raise LabError(f"expected low < high, got [{lo:g}, {hi:g}]", p)
        out.append((lo, hi))
    return tuple(out)


def color(value: Any, path: str) -> str:
    """A colour as :data:`core.scenario.schema.COLOR_NAMES` documents it: ``#rgb``, ``#rrggbb``,
    ``#rrggbbaa`` (hex digits, alpha last) or a listed name; anything else is refused at load, so
    the app and ``panels.png`` never meet a colour they cannot draw."""
    import re

    if not isinstance(value, str):
        raise LabError(f"expected a colour such as \"#1f77b4\" or \"crimson\", got {_show(value)}", path)
    if re.fullmatch(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})", value) or value in COLOR_NAMES:
        return value
    hint = suggest(value.lower(), COLOR_NAMES) if not value.startswith("#") else ""
    raise LabError(f"{_show(value)} is not a colour{hint}; use #rgb, #rrggbb or #rrggbbaa hex (e.g. \"#1f77b4\") "
                   f"or a name such as {', '.join(COLOR_NAMES[:6])} (all in docs/scenarios.md)", path)


def _freeze(value: Any) -> Any:
    """Lists become tuples (deeply), so equal files give equal scenarios."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


class _Table:
    """One TOML table being read: typed ``take`` per key, then ``finish`` rejects what is left."""

    def __init__(self, data: Any, path: str, what: str = "a table") -> None:
        if not isinstance(data, dict):
            raise LabError(f"expected {what}, got {_show(data)}", path)
        self.data, self.path, self.seen = data, path, set()

    def has(self, key: str) -> bool:
        return key in self.data

    def take(self, key: str, read: Callable[[Any, str], Any], default: Any = None) -> Any:
        self.seen.add(key)
        if key not in self.data:
            return default
        return read(self.data[key], _join(self.path, key))

    def require(self, key: str, read: Callable[[Any, str], Any], hint: str = "") -> Any:
        if key not in self.data:
            raise LabError(f"missing key {key!r}{hint}", _join(self.path, key))
        return self.take(key, read)

    def rest(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k not in self.seen}

    def finish(self, allowed: tuple[str, ...] | list[str] | None = None) -> None:
        allowed = list(allowed if allowed is not None else self.seen)
        for key in self.data:
            if key not in self.seen:
                raise LabError(f"unknown key {key!r}{suggest(key, allowed)}; allowed: {', '.join(allowed)}", _join(self.path, key))


# --- the tables --------------------------------------------------------------------------------
def _problem(data: Any) -> ProblemSpec:
    t = _Table(data, "problem", "a [problem] table with a kind")
    kind = t.require("kind", _str(), " (a problem name such as 'quartic', 'bowl', 'quadratic')")
    return ProblemSpec(kind=kind, params=_freeze(t.rest()))


def _start(data: Any, path: str) -> StartSpec:
    t = _Table(data, path, "a start table (points, grid, random or init)")
    chosen = [k for k in ("points", "grid", "random", "init") if t.has(k)]
    if len(chosen) != 1:
        got = ", ".join(chosen) if chosen else "none"
        raise LabError(f"give exactly one of points, grid, random, init; got {got}", path)
    spec = StartSpec(
        points=t.take("points", _points),
        grid=t.take("grid", _grid),
        random=t.take("random", _random),
        init=t.take("init", _bool, False),
    )
    t.finish(("points", "grid", "random", "init"))
    if t.has("init") and not spec.init:
        raise LabError("init = false starts nowhere; use init = true or give points", _join(path, "init"))
    return spec


def _grid(value: Any, path: str) -> GridSpec:
    t = _Table(value, path, "a grid table {n = 5, box = [[-2, 2], [-2, 2]]}")
    raw = t.require("n", lambda v, p: v)
    if isinstance(raw, list):
        n = tuple(_int(1)(v, _join(_join(path, "n"), i)) for i, v in enumerate(raw))
        if not n:
            raise LabError("expected at least one count", _join(path, "n"))
    else:
        n = (_int(1)(raw, _join(path, "n")),)
    spec = GridSpec(n=n, box=t.take("box", _box))
    t.finish(("n", "box"))
    return spec


def _random(value: Any, path: str) -> RandomSpec:
    t = _Table(value, path, "a random table {n = 8, seed = 1, box = [[-2, 2], [-2, 2]]}")
    spec = RandomSpec(n=t.require("n", _int(1)), seed=t.take("seed", _int(0, MAX_SEED), 0), box=t.take("box", _box))
    t.finish(("n", "seed", "box"))
    return spec


def _hyper_value(value: Any, path: str) -> float | tuple[float, ...]:
    if isinstance(value, list):
        if not value:
            raise LabError("a sweep needs at least one value", path)
        return tuple(_float()(v, _join(path, i)) for i, v in enumerate(value))
    return _float()(value, path)


def _optimizer(data: Any, i: int) -> OptimizerSpec:
    path = f"optimizers[{i}]"
    t = _Table(data, path, "an [[optimizers]] table with a kind")
    kind = t.require("kind", _str(), " (an optimizer such as 'gd', 'momentum', 'adam')")
    label = t.take("label", _str(), kind)
    if not label.strip():
        raise LabError("label is empty; give a short name such as 'GD, lr = 0.1'", _join(path, "label"))
    spec = OptimizerSpec(
        kind=kind, label=label, color=t.take("color", color),
        batch_size=t.take("batch_size", _int(1)), noise=t.take("noise", _float(0.0), 0.0),
        start=t.take("start", _start),
    )
    hyper = {k: _hyper_value(v, _join(path, k)) for k, v in t.rest().items()}
    return replace(spec, hyper=hyper)


def _view(data: Any) -> ViewSpec:
    t = _Table(data, "view")

    def panels(value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise LabError(f"expected a list of panels from {', '.join(PANELS)}, got {_show(value)}", path)
        return tuple(_str(PANELS)(v, _join(path, i)) for i, v in enumerate(value))

    def center(value: Any, path: str) -> str | tuple[float, ...]:
        return _str(CENTERS)(value, path) if isinstance(value, str) else _point(value, path)

    d = ViewSpec()
    spec = ViewSpec(
        panels=t.take("panels", panels, d.panels), span=t.take("span", _box),
        resolution=t.take("resolution", _int(2, MAX_RESOLUTION), d.resolution), log_scale=t.take("log_scale", _bool, d.log_scale),
        directions=t.take("directions", _str(DIRECTIONS), d.directions), center=t.take("center", center),
        trajectory=t.take("trajectory", _str()), seed=t.take("seed", _int(0, MAX_SEED)),
        filter_normalize=t.take("filter_normalize", _bool, d.filter_normalize), bias=t.take("bias", _str(BIAS), d.bias),
        convergence=t.take("convergence", _str(CONVERGENCE), d.convergence),
    )
    t.finish([f.name for f in fields(ViewSpec)])
    return spec


def _beat(data: Any, i: int) -> Beat:
    path = f"beats[{i}]"
    t = _Table(data, path)

    def sets(value: Any, p: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise LabError(f"expected a table of key path = value, e.g. {{\"optimizers[0].lr\" = 0.5}}, got {_show(value)}", p)
        return _freeze(value)

    spec = Beat(step=t.require("step", _int(0)), caption=t.take("caption", _str(), ""), pause=t.take("pause", _bool, False),
                highlight=t.take("highlight", _str()), panel=t.take("panel", _str(PANELS)), set=t.take("set", sets, {}))
    t.finish([f.name for f in fields(Beat)])
    return spec


def _expectation(data: Any, i: int) -> Expectation:
    from core.scenario.expectations import CHECKS

    path = f"expect[{i}]"
    t = _Table(data, path)
    check = t.require("check", _str(tuple(CHECKS)), f" (one of {', '.join(CHECKS)})")

    def between(value: Any, p: str) -> tuple[int, int]:
        if not isinstance(value, list) or len(value) != 2:
            raise LabError(f"expected a [first, last] step range, got {_show(value)}", p)
        a, b = _int(0)(value[0], _join(p, 0)), _int(0)(value[1], _join(p, 1))
        if a > b:
            raise LabError(f"expected first <= last, got [{a}, {b}]", p)
        return (a, b)

    spec = Expectation(
        check=check, optimizer=t.take("optimizer", _str()), below=t.take("below", _float()), above=t.take("above", _float()),
        tol=t.take("tol", _float(0.0, low_open=True)), metric=t.take("metric", _str(METRICS)), at=t.take("at", _int(0)),
        between=t.take("between", between), diverged=t.take("diverged", _bool), before=t.take("before", _str()),
        within=t.take("within", _float(0.0, low_open=True)), expected=t.take("expected", _float()),
        at_least=t.take("at_least", _int(1)), note=t.take("note", _str(), ""),
    )
    required, optional = CHECKS[check].required, CHECKS[check].optional + (("at_least",) if CHECKS[check].per_trajectory else ())
    allowed = ("check", "note", *required, *optional)
    for key in t.data:
        if key in allowed:
            continue
        if key in {f.name for f in fields(Expectation)}:
            what = f"key {key!r} does not apply to check {check!r}"
        else:
            what = f"unknown key {key!r}{suggest(key, list(allowed))}"
        raise LabError(f"{what}; allowed for {check!r}: {', '.join(allowed)}", _join(path, key))
    for key in required:
        if key not in t.data:
            raise LabError(f"check {check!r} needs {key!r} ({CHECKS[check].doc})", _join(path, key))
    CHECKS[check].validate(spec, path)
    return spec


def _array(data: Any, key: str, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise LabError(f"expected a list of {what} ([[{key}]] tables), got {_show(data)}", key)
    return data


_TOP = ("format", "title", "description", "seed", "device", "dtype", "steps", "diverge_bound", "loss_bound",
        "problem", "start", "optimizers", "view", "beats", "expect")


def from_dict(data: Mapping[str, Any], file: str = "", *, semantic: bool = True) -> Scenario:
    """Builds and validates a :class:`Scenario` from a parsed TOML document (see :func:`loads`);
    ``semantic=False`` checks only the shape and types of the keys, not what needs the problem
    (:func:`core.scenario.runner.build`: the caller builds it)."""
    from core.scenario.runner import build

    try:
        _check_depth(data)
        scenario = _parse(dict(data))
        if file:
            scenario = replace(scenario, source=file)
        if semantic:
            build(scenario)
    except LabError as exc:
        raise LabError(exc.message, exc.path, exc.file or file) from None
    return scenario


def _parse(data: dict[str, Any]) -> Scenario:
    t = _Table(data, "")
    version = t.require("format", _int(), f" (write format = {FORMAT} at the top of the file)")
    if version != FORMAT:
        raise LabError(f"format {version} is not supported; this version of the lab reads format = {FORMAT}", "format")
    if "problem" not in data:
        raise LabError("missing [problem] table (e.g. [problem] kind = \"quartic\")", "problem")
    if "optimizers" not in data:
        raise LabError("missing [[optimizers]] (at least one, e.g. [[optimizers]] kind = \"gd\" lr = 0.1)", "optimizers")
    if "start" not in data:
        raise LabError("missing [start] table (e.g. [start] points = [[2.5]])", "start")
    opts = _array(data["optimizers"], "optimizers", "optimizer tables")
    if not opts:
        raise LabError("the optimizer list is empty; add at least one [[optimizers]] table", "optimizers")
    t.seen.update(("problem", "optimizers", "start", "view", "beats", "expect"))
    scenario = Scenario(
        format=version, title=t.take("title", _str(), ""), description=t.take("description", _str(), ""),
        seed=t.take("seed", _int(0, MAX_SEED), 0), device=t.take("device", _str(DEVICES), "auto"),
        dtype=t.take("dtype", _str(tuple(DTYPES)), "float64"), steps=t.take("steps", _int(1, MAX_STEPS), 100),
        diverge_bound=t.take("diverge_bound", _float(0.0, True), 1e6), loss_bound=t.take("loss_bound", _float(0.0, True), 1e12),
        problem=_problem(data["problem"]), start=_start(data["start"], "start"),
        optimizers=tuple(_optimizer(o, i) for i, o in enumerate(opts)),
        view=_view(data.get("view", {})),
        beats=tuple(_beat(b, i) for i, b in enumerate(_array(data.get("beats", []), "beats", "beat tables"))),
        expect=tuple(_expectation(e, i) for i, e in enumerate(_array(data.get("expect", []), "expect", "expectation tables"))),
    )
    t.finish(_TOP)
    return scenario


#: the deepest nesting of arrays and tables a scenario may have (the schema itself needs about 8:
#: a beat replacing the optimizer list with a start grid box); deeper documents are refused as one
#: line before anything recurses into them
MAX_DEPTH = 32
#: the largest scenario file read (scenario files are a few KB; data files have their own limit)
MAX_SCENARIO_BYTES = 4 * 1024 * 1024


def _check_depth(data: Any, limit: int = MAX_DEPTH) -> None:
    """Refuses a document nested deeper than ``limit`` (iteratively: a deep document must not be
    what overflows the stack)."""
    stack = [(data, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list | tuple):
            if depth > limit:
                raise LabError(f"nested more than {limit} levels deep; a scenario needs far fewer", path)
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((v, depth + 1, _join(path, k)) for k, v in items)


def loads(text: str, file: str = "<string>") -> Scenario:
    """Parses and validates scenario TOML text; ``file`` names it in errors. Syntax errors, too deep
    nesting and oversized text are one-line :class:`LabError` s like every other mistake."""
    where = file if file != "<string>" else ""
    if not isinstance(text, str):
        raise LabError(f"expected scenario text, got {_show(text)}", "", where)
    if len(text) > MAX_SCENARIO_BYTES:
        raise LabError(f"is {len(text):,} characters; a scenario may be at most {MAX_SCENARIO_BYTES:,}", "", where)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"TOML syntax error: {exc}", "", where) from None
    except RecursionError:
        raise LabError(f"TOML nested too deeply to read (more than {MAX_DEPTH} levels of arrays or tables "
                       "are never needed)", "", where) from None
    try:
        _check_depth(data)
    except LabError as exc:
        raise LabError(exc.message, exc.path, where) from None
    return from_dict(data, where)


def load(path: str | Path) -> Scenario:
    """Reads a scenario file through :func:`core.files.read_text_bounded` (a regular file of at
    most :data:`MAX_SCENARIO_BYTES`: a FIFO, a device such as ``/dev/zero``, a folder or a name too
    long is refused at once); every problem with it is a :class:`LabError` naming the file."""
    from core.files import read_text_bounded

    try:
        text = read_text_bounded(path, MAX_SCENARIO_BYTES, "scenario file")
    except LabError as exc:
        if exc.message == "no such scenario file":  # the wording the CLI has always used
            raise LabError("scenario file not found", "", str(path)) from None
        raise
    return loads(text, str(path))


# --- writing -------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """Tuples back to lists, ``None`` dropped: what TOML can hold (and what a document edited
    key by key, such as the lecture's, must hold)."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None}
    return value


_plain = plain


def _start_dict(s: StartSpec) -> dict[str, Any]:
    if s.points is not None:
        return {"points": _plain(s.points)}
    if s.grid is not None:
        return {"grid": _plain({"n": s.grid.n[0] if len(s.grid.n) == 1 else s.grid.n, "box": s.grid.box})}
    if s.random is not None:
        return {"random": _plain({"n": s.random.n, "seed": s.random.seed, "box": s.random.box})}
    return {"init": True}


def to_dict(s: Scenario) -> dict[str, Any]:
    """The TOML document of a scenario (key order as in the docs); inverse of :func:`from_dict`."""
    out: dict[str, Any] = {"format": s.format, "title": s.title, "description": s.description, "seed": s.seed,
                           "device": s.device, "dtype": s.dtype, "steps": s.steps,
                           "diverge_bound": s.diverge_bound, "loss_bound": s.loss_bound}
    out["problem"] = {"kind": s.problem.kind, **_plain(s.problem.params)}
    out["start"] = _start_dict(s.start)
    opts = []
    for o in s.optimizers:
        d: dict[str, Any] = {"kind": o.kind, "label": o.label, "color": o.color, **_plain(o.hyper)}
        if o.batch_size is not None:
            d["batch_size"] = o.batch_size
        if o.noise:
            d["noise"] = o.noise
        if o.start is not None:
            d["start"] = _start_dict(o.start)
        opts.append(_plain(d))
    out["optimizers"] = opts
    out["view"] = _plain({f.name: getattr(s.view, f.name) for f in fields(ViewSpec)})
    if s.beats:
        out["beats"] = [_plain({"step": b.step, "caption": b.caption, "pause": b.pause, "highlight": b.highlight,
                                "panel": b.panel, "set": b.set or None}) for b in s.beats]
    if s.expect:
        out["expect"] = [_plain({f.name: getattr(e, f.name) for f in fields(Expectation) if f.name != "note" or e.note})
                         for e in s.expect]
    return out


def _key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _value(key)


def _value(v: Any) -> str:
    """One TOML value, inline (arrays on one line, tables as ``{ k = v }``); strings through tomli_w."""
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    text = tomli_w.dumps({"v": v}, multiline_strings=True)
    return text[len("v = "):].rstrip("\n")


def _lines(table: dict[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in table.items()]


def dump(s: Scenario) -> str:
    """TOML text of a scenario, laid out as a person would write it (tables in the documented order,
    values inline, the description as a multi-line string); ``loads(dump(s)) == s``."""
    doc = to_dict(s)
    out = _lines({k: v for k, v in doc.items() if not isinstance(v, dict | list)})
    for name in ("problem", "start", "view"):
        out += ["", f"[{name}]", *_lines(doc[name])]
        if name == "start":
            for o in doc["optimizers"]:
                out += ["", "[[optimizers]]", *_lines(o)]
    for name in ("beats", "expect"):
        for entry in doc.get(name, []):
            out += ["", f"[[{name}]]", *_lines(entry)]
    return "\n".join(out) + "\n"


def save(s: Scenario, path: str | Path, *, like: str | None = None) -> None:
    """Writes :func:`dump` of ``s`` to ``path`` atomically (:func:`core.files.atomic_write`): the
    earlier file stays whole if anything fails; a failure (no permission, missing folder) is a
    one-line :class:`LabError` naming the file. ``like``: the text ``s`` was loaded from, whose
    comments and layout the saved file keeps (not yet honoured: issue 11)."""
    from core.files import atomic_write

    atomic_write(path, dump(s))


# --- key paths -----------------------------------------------------------------------------------
def _walk(doc: Any, path: str) -> tuple[Any, str | int]:
    """The container holding ``path``'s last key, and that key."""
    import re

    parts: list[str | int] = []
    for piece in path.split("."):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)", piece)
        if not m:
            raise LabError(f"{path!r} is not a key path like 'optimizers[0].lr' or 'view.resolution'", path)
        parts.append(m.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    node = doc
    for k in parts[:-1]:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            raise LabError(f"{path!r} does not name a key of this scenario", path) from None
    return node, parts[-1]


def validate(s: Scenario) -> Scenario:
    """A scenario edited in code (``dataclasses.replace``), checked like a file and normalized
    (lists to tuples, integers to floats where a float is meant): what ``load(save(s))`` gives."""
    return replace(from_dict(to_dict(s), s.source), source=s.source)


def get_path(s: Scenario, path: str) -> Any:
    node, key = _walk(to_dict(s), path)
    try:
        return node[key]
    except (KeyError, IndexError, TypeError):
        raise LabError(f"{path!r} does not name a key of this scenario", path) from None


def assign(doc: dict[str, Any], path: str, value: Any) -> None:
    """Sets the key at ``path`` of a scenario document (:func:`to_dict`'s shape) to ``value`` (as
    TOML holds it: tuples become lists); a path naming no key of it is a :class:`LabError`."""
    node, key = _walk(doc, path)
    if isinstance(key, int):
        if not isinstance(node, list) or not 0 <= key < len(node):
            raise LabError(f"{path!r} does not name a key of this scenario", path)
    elif not isinstance(node, dict):
        raise LabError(f"{path!r} does not name a key of this scenario", path)
    node[key] = _plain(value)


def set_paths(s: Scenario, values: Mapping[str, Any]) -> Scenario:
    """A copy of ``s`` with every key path of ``values`` set at once (what a beat's ``set`` does:
    its keys are validated together, as the lecture applies them), validated like a loaded file."""
    doc = to_dict(s)
    for path, value in values.items():
        assign(doc, path, value)
    if any(path.startswith(("beats", "expect")) for path in values):
        return replace(from_dict(doc, s.source), source=s.source)
    # the beats are unchanged: validate the rest (a beat's own ``set`` is checked through here)
    doc.pop("beats", None)
    return replace(from_dict(doc, s.source), beats=s.beats, source=s.source)


def set_path(s: Scenario, path: str, value: Any) -> Scenario:
    """A copy of ``s`` with the key at ``path`` (as written in the file, e.g. ``optimizers[0].lr``)
    set to ``value``, validated like a loaded file."""
    return set_paths(s, {path: value})
