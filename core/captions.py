"""Caption fields: numbers a lesson's captions quote, filled in from its run, so the text cannot
drift from what the run shows (issue 13: "a caption may embed ``{...}`` fields filled from the run").

Grammar (a caption or a beat's ``predict`` question; the description is plain Markdown, its
braces are literal)::

    text   := ( literal | "{{" | "}}" | field )*
    field  := "{" name [ "[" label "]" ] [ "@" step ] [ ":" format ] "}"
    name   := [A-Za-z_][A-Za-z0-9_]*
    label  := a trajectory label, or an optimizer entry's label that has one trajectory
              (the addressing of ``[[expect]] optimizer``, ``core.scenario.expectations._rows``);
              any characters but "]"; spaces around it are ignored
    step   := a step number (0 .. steps)
    format := a Python format spec (``.3g``, ``.1%``, ``d``, ``>6.2f``); default ``.4g`` for reals

``{{`` and ``}}`` are literal braces. Without ``[label]`` a field is *live*: it reads the selected
trajectory (the one the player follows) and, without ``@step``, the current frame, so the app
refills it as the player moves. Names (:data:`FIELDS`):

- ``step`` (the frame shown), ``steps`` (the run's length): of the run, take no label or step;
- per step: ``loss``, ``gap``, ``distance``, ``grad_norm``, ``test_loss``, ``test_accuracy``
  (:data:`core.metrics.METRICS`; at a step past a trajectory's divergence, its last recorded value);
- per trajectory: ``final_<metric>`` (at its last step), ``diverged_step`` ("never" when it did
  not diverge), ``last_step``, ``label``, ``optimizer`` (its entry's label), ``kind``, and any of
  its hyperparameters by name (``lr``, ``momentum``, ``beta1`` ...: the values it was given).

:func:`check` refuses, as one :class:`LabError` line, an unknown name, a label that names no
trajectory (or several), a step past the run, a format that does not apply to the field's value,
a live hyperparameter that not every trajectory has, or a brace that opens no field.
``main.py check`` (``commands.run.check_file``) checks every beat's caption and question against
the lesson's own run (:func:`check_scenario`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import LabError, suggest
from core.metrics import METRICS, available
from core.scenario.expectations import _rows  # the expectations' addressing of trajectories, not a second one

#: what one field looks like (after ``{{`` / ``}}`` are taken out)
_FIELD = re.compile(r"\{(?P<name>[A-Za-z_]\w*)(?:\[(?P<label>[^\]\n]*)\])?(?:@(?P<at>\d+))?(?::(?P<fmt>[^{}\n]*))?\}")
_TOKEN = re.compile(r"\{\{|\}\}|\{|\}")

RUN_FIELDS = ("step", "steps")
STEP_FIELDS = tuple(METRICS)
TRAJECTORY_FIELDS = ("diverged_step", "last_step", "label", "optimizer", "kind") + tuple(f"final_{m}" for m in METRICS)
#: every name a field may have, besides the trajectories' hyperparameters
FIELDS = RUN_FIELDS + STEP_FIELDS + TRAJECTORY_FIELDS
_INTEGER = ("step", "steps", "diverged_step", "last_step")
_TEXT = ("label", "optimizer", "kind")
DEFAULT_FORMAT = ".4g"


@dataclass(frozen=True)
class Field:
    """One parsed ``{...}``: its span in the text and its parts."""

    start: int
    end: int
    name: str
    label: str | None
    at: int | None
    fmt: str | None

    @property
    def source(self) -> str:
        lab = f"[{self.label}]" if self.label is not None else ""
        at = f"@{self.at}" if self.at is not None else ""
        return "{" + self.name + lab + at + (f":{self.fmt}" if self.fmt is not None else "") + "}"


def parse(text: str, path: str = "") -> list[str | Field]:
    """``text`` as literal pieces and :class:`Field` s; a ``{`` or ``}`` that is neither doubled
    nor part of a field is a LabError (say ``{{`` for a literal brace)."""
    out: list[str | Field] = []
    pos, literal = 0, []
    for m in _TOKEN.finditer(text):
        if m.start() < pos:
            continue
        literal.append(text[pos:m.start()])
        tok = m.group()
        if tok in ("{{", "}}"):
            literal.append(tok[0])
            pos = m.end()
            continue
        f = _FIELD.match(text, m.start()) if tok == "{" else None
        if f is None:
            near = text[m.start():m.start() + 30]
            what = "a lone '}'" if tok == "}" else f"{near!r} is not a field {{name[label]@step:format}}"
            raise LabError(f"{what}; write {{{{ and }}}} for literal braces", path)
        if literal:
            out.append("".join(literal))
            literal = []
        out.append(Field(f.start(), f.end(), f.group("name"), None if f.group("label") is None else f.group("label").strip(),
                         None if f.group("at") is None else int(f.group("at")), f.group("fmt")))
        pos = f.end()
    literal.append(text[pos:])
    if "".join(literal):
        out.append("".join(literal))
    return out


def has_fields(text: str) -> bool:
    """Whether ``text`` has any ``{...}`` field (escaped braces are not fields)."""
    return any(isinstance(p, Field) for p in parse(text))


class _Facts:
    """What a check needs of a run, from a :class:`core.engine.Run`, a ``Result`` or a
    :class:`core.scenario.build.Built` (labels, entries, hyperparameters, problem, steps)."""

    def __init__(self, source: Any) -> None:
        source = getattr(source, "run", source)
        if hasattr(source, "groups"):  # a Built
            self.labels = list(source.labels)
            self.entry = list(source.entries)
            self.hyper = [r for g in source.groups for r in g.hyper_rows]
            self.recorded = bool(source.run_kwargs.get("record_params", True))
        elif hasattr(source, "loss"):  # a Run
            self.labels, self.entry, self.hyper = list(source.labels), list(source.entry), list(source.hyper)
            self.recorded = source.thetas is not None
        else:  # a Scenario: built here
            from core.scenario.build import build

            self.__init__(build(source))
            return
        self.problem, self.steps = source.problem, int(source.steps)


def _row(facts: Any, label: str, path: str) -> int:
    """The one trajectory ``label`` names, by the expectations' addressing."""
    try:
        found = _rows(facts, label)
    except LabError as exc:
        raise LabError(exc.message, path) from None
    if len(found) > 1:
        names = ", ".join(facts.labels[j] for j in found)
        raise LabError(f"{label!r} has {len(found)} trajectories ({names}); a field names one of them", path)
    return found[0]


def _kind(name: str) -> str:
    return "int" if name in _INTEGER else "text" if name in _TEXT else "real"


def _check_field(f: Field, facts: _Facts, path: str) -> None:
    name = f.name
    hyper_names = sorted({k for h in facts.hyper for k in h})
    if name not in FIELDS and name not in hyper_names:
        known = list(FIELDS) + hyper_names
        raise LabError(f"no caption field {name!r}{suggest(name, known)}; fields: {', '.join(known)}", path)
    if name in RUN_FIELDS and (f.label is not None or f.at is not None):
        raise LabError(f"{{{name}}} is the run's, it takes no [label] or @step", path)
    if f.at is not None and name not in STEP_FIELDS:
        raise LabError(f"{{{name}}} is not a per-step value; @step goes with {', '.join(STEP_FIELDS)}", path)
    if f.at is not None and f.at > facts.steps:
        raise LabError(f"step {f.at} is past the end of the run (steps = {facts.steps})", path)
    metric = name[len("final_"):] if name.startswith("final_") else name
    if metric in METRICS and not available(facts.problem, metric, facts.recorded):
        raise LabError(f"{{{name}}}: problem {facts.problem.kind!r} gives no {metric!r}", path)
    if f.label is not None:
        i = _row(facts, f.label, path)
        if name in hyper_names and name not in facts.hyper[i]:
            raise LabError(f"{f.label!r} has no hyperparameter {name!r}; it has {', '.join(facts.hyper[i]) or 'none'}", path)
    elif name in hyper_names:
        lacking = [facts.labels[j] for j, h in enumerate(facts.hyper) if name not in h]
        if lacking:
            raise LabError(f"{{{name}}} follows the selected trajectory, but {', '.join(map(repr, lacking))} "
                           f"has no {name!r}: name one, e.g. {{{name}[{facts.labels[facts.hyper.index(next(h for h in facts.hyper if name in h))]}]}}", path)
    if f.fmt is not None:
        kind = "real" if name in hyper_names else _kind(name)
        sample: Any = {"int": 1, "real": 1.5, "text": "GD"}[kind]
        try:
            format(sample, f.fmt)
        except (ValueError, TypeError):
            what = {"int": "an integer", "real": "a number", "text": "text"}[kind]
            raise LabError(f"format {f.fmt!r} does not apply to its value ({what})", path) from None


def check(text: str, source: Any, path: str = "") -> None:
    """Raises a one-line :class:`LabError` at ``path`` for anything in ``text`` that :func:`render`
    could not fill from ``source`` (a Run, a Result, a Built, or a Scenario, then built here)."""
    pieces = parse(text, path)
    if not any(isinstance(p, Field) for p in pieces):
        return
    facts = _Facts(source)
    for p in pieces:
        if isinstance(p, Field):
            try:
                _check_field(p, facts, path)
            except LabError as exc:
                raise LabError(f"{p.source}: {exc.message}", path) from None


def check_scenario(scenario: Any, source: Any) -> None:
    """Every beat's ``caption`` and ``predict`` checked against ``source`` (the lesson's own run,
    or its Built): the first problem found, at ``beats[i].caption`` / ``beats[i].predict``."""
    for b, beat in enumerate(getattr(scenario, "beats", ()) or ()):
        for key in ("caption", "predict"):
            text = getattr(beat, key, None)
            if text:
                check(text, source, f"beats[{b}].{key}")


def _value(run: Any, name: str, i: int, step: int) -> Any:
    from core.metrics import series

    last = run.last_step(i)
    if name.startswith("final_"):
        name, step = name[len("final_"):], last
    if name in STEP_FIELDS:
        k = min(step, last)
        if name == "distance":
            theta = run.thetas[k:k + 1, i].double()
            return float(run.problem.distance_to_minimum(theta)[0])
        return float(series(run, name, i)[k])
    if name == "diverged_step":
        return last if run.diverged(i) else "never"
    if name == "last_step":
        return last
    if name == "label":
        return run.labels[i]
    if name == "optimizer":
        return run.entry[i]
    if name == "kind":
        return run.kinds[i]
    if name in run.hyper[i]:
        return float(run.hyper[i][name])
    raise LabError(f"{run.labels[i]!r} has no {name!r}")


def _show(value: Any, fmt: str | None) -> str:
    if isinstance(value, str):
        return value
    if fmt is None:
        return str(value) if isinstance(value, int) else format(value, DEFAULT_FORMAT)
    return format(value, fmt)


def render(text: str, run: Any, frame: int = 0, selected: int = 0, *, missing: str | None = None, path: str = "") -> str:
    """``text`` with every field filled from ``run`` (a Run or a Result) at ``frame``, live fields
    read from trajectory ``selected``; ``{{``/``}}`` become braces. A field that cannot be filled
    is a LabError, or ``missing`` when one is given (the app shows a caption whose labels a knob
    change renamed that way; a text that does not parse is then shown as written)."""
    try:
        pieces = parse(text, path)
    except LabError:
        if missing is None:
            raise
        return text
    if not any(isinstance(p, Field) for p in pieces):
        return "".join(pieces)  # type: ignore[arg-type]
    run = getattr(run, "run", run)
    facts, out = _Facts(run), []
    for p in pieces:
        if isinstance(p, str):
            out.append(p)
            continue
        try:
            _check_field(p, facts, path)
            if p.name == "step":
                value: Any = int(frame)
            elif p.name == "steps":
                value = int(run.steps)
            else:
                i = selected if p.label is None else _row(run, p.label, path)
                value = _value(run, p.name, i, int(frame) if p.at is None else p.at)
            out.append(_show(value, p.fmt))
        except LabError as exc:
            if missing is None:
                raise LabError(f"{p.source}: {exc.message}", path) from None
            out.append(missing)
    return "".join(out)
