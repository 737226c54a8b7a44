"""What is derived from the scenario models for people and tools: the key tables of
``docs/scenarios.md`` (between ``<!-- generated from core/scenario/schema.py: NAME -->`` markers)
and ``docs/scenario.schema.json``. ``.venv/bin/python scripts/scenario_docs.py --write`` rewrites both;
``--check`` exits 1 when either is out of date (``tests/test_schema_docs.py`` does the same).
A new key needs nothing here: its field's type, default and description are the docs."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel

from core.errors import LabError
from core.scenario.schema import (
    EXPECTATION_KEYS, EXPECTATIONS, Beat, Expectation, GridSpec, OptimizerSpec, ProblemSpec, RandomSpec, Scenario,
    StartSpec, Table, ViewSpec,
)

#: the tables documented in docs/scenarios.md, by marker name
DOC_TABLES: dict[str, type[Table]] = {
    "top": Scenario, "problem": ProblemSpec, "start": StartSpec, "grid": GridSpec, "random": RandomSpec,
    "optimizers": OptimizerSpec, "view": ViewSpec, "beats": Beat,
}


def json_schema() -> dict[str, Any]:
    """``docs/scenario.schema.json``: the JSON Schema of a scenario document (the TOML file)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Loss Landscape Lab scenario"
    schema["required"] = ["format", "problem", "start", "optimizers"]
    return schema


def _type_text(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "table"
    if "anyOf" in prop:
        parts = [_type_text(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(parts)
    if "enum" in prop:
        return ", ".join(str(v) for v in prop["enum"])
    if "const" in prop:
        return str(prop["const"])
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items") or (prop.get("prefixItems") or [{}])[0]
        if "prefixItems" in prop:
            return f"[{', '.join(_type_text(p, defs) for p in prop['prefixItems'])}]"
        if items.get("$ref") or "oneOf" in items:
            return "tables"
        return f"list of {_type_text(items, defs)}"
    name = {"integer": "integer", "number": "number", "string": "string", "boolean": "true/false", "object": "table"}.get(kind, "value")
    bounds = [f"{op} {prop[k]:,}" if isinstance(prop[k], int) else f"{op} {prop[k]:g}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                                                 ("exclusiveMaximum", "<")) if k in prop]
    return name + (" " + " and ".join(bounds) if bounds else "")


def _default_text(cls: type[Table], name: str) -> str:
    f = cls.model_fields[name]
    if f.is_required() or (issubclass(cls, Scenario) and name in ("format", "problem", "start", "optimizers")):
        return "required"
    value = f.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "defaults"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def key_table(cls: type[Table]) -> str:
    """The markdown table of one table's keys: key, type, default, meaning."""
    schema = cls.model_json_schema()
    props, defs = schema.get("properties", {}), schema.get("$defs", {})
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name in cls.keys():
        f = cls.model_fields[name]
        rows.append(f"| `{name}` | {_type_text(props.get(name, {}), defs)} | {_default_text(cls, name)} | "
                    f"{(f.description or '').replace('|', '/')} |")
    extra = {ProblemSpec: "every other key", OptimizerSpec: "every other key"}.get(cls)
    if extra:
        hidden = cls.model_fields[cls.hidden[0]]
        rows.append(f"| {extra} | {'number or list of numbers' if cls is OptimizerSpec else 'per problem'} | | "
                    f"{hidden.description} |")
    return "\n".join(rows)


def checks_table() -> str:
    """The markdown table of the expectation checks: check, required keys, optional keys, meaning."""
    rows = ["| check | required keys | optional keys | passes when |", "|---|---|---|---|"]
    for name, cls in EXPECTATIONS.items():
        req = ", ".join(f"`{k}`" for k in cls.required_keys() if k != "note")
        opt = ", ".join(f"`{k}`" for k in cls.optional_keys())
        rows.append(f"| `{name}` | {req} | {opt or '-'} | {cls.doc()} |")
    keys = ["| key | type | meaning |", "|---|---|---|"]
    every = {k: (c, c.model_fields[k]) for c in EXPECTATIONS.values() for k in c.model_fields if k in EXPECTATION_KEYS}
    for k in EXPECTATION_KEYS:
        c, f = every[k]
        keys.append(f"| `{k}` | {_type_text(c.model_json_schema()['properties'][k], {})} | {f.description} |")
    keys.append(f"| `note` | string | {Expectation.model_fields['note'].description} |")
    return "\n".join(rows) + "\n\n" + "\n".join(keys)


def _interval(h: Any) -> str:
    lo = ("(" if h.low_open else "[") + f"{h.low:g}"
    hi = (f"{h.high:g}" if math.isfinite(h.high) else "inf") + (")" if h.high_open else "]")
    return f"{lo}, {hi}"


def rules_table() -> str:
    """The markdown table of the optimizer kinds and their hyperparameters, from the registry
    (:data:`core.optimizers.OPTIMIZERS`): a new rule documents itself."""
    from core.optimizers import OPTIMIZERS

    rows = ["| kind | rule | hyperparameters (default, allowed interval: meaning) |", "|---|---|---|"]
    for name, rule in OPTIMIZERS.items():
        hypers = "; ".join(f"`{h.name}` = {h.default:g} in {_interval(h)}" + (f": {h.doc}" if h.doc else "")
                           for h in rule.hypers)
        rows.append(f"| `{name}` | {rule.label.replace('|', '/')} | {hypers.replace('|', '/')} |")
    return "\n".join(rows)


def schedules_table() -> str:
    """The markdown table of the learning-rate schedule kinds and their keys, from
    :mod:`core.optimizers.schedules` (``KINDS``, ``KEYS``)."""
    from core.optimizers.schedules import KEYS, KINDS

    def key(name: str) -> str:
        default = KEYS[name][1]
        shown = "run's steps - warmup" if name == "steps" else "required" if default is None else f"{default:g}"
        return f"`{name}` ({shown}): {KEYS[name][2]}"

    rows = ["| kind | keys (default: meaning) |", "|---|---|"]
    for kind, keys in KINDS.items():
        rows.append(f"| `{kind}` | {'; '.join(key(k) for k in (*keys, 'warmup'))} |")
    return "\n".join(rows)


def docs_blocks() -> dict[str, str]:
    """Marker name -> generated markdown, for ``docs/scenarios.md``."""
    out = {name: key_table(cls) for name, cls in DOC_TABLES.items()}
    out["expect"] = checks_table()
    out["rules"] = rules_table()
    out["schedules"] = schedules_table()
    return out


BEGIN, END = "<!-- generated from core/scenario/schema.py: {name} -->", "<!-- end of generated {name} -->"


def render_docs(text: str) -> str:
    """``text`` (docs/scenarios.md) with every generated block replaced by its current content."""
    for name, block in docs_blocks().items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise LabError(f"docs/scenarios.md has no generated block {name!r} ({begin} ... {end})")
        text = pattern.sub(lambda _: f"{begin}\n{block}\n{end}", text)
    return text


def render_json_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"
