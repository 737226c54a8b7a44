"""The docs are generated from the scenario models (core/scenario/schema.py): the key tables of
docs/scenarios.md and docs/scenario.schema.json are what core.scenario.docs renders now, so a new
key, default, bound or description reaches both or this test fails (run
``scripts/scenario_docs.py --write``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.scenario import docs, schema

ROOT = Path(__file__).resolve().parents[1]


def test_the_key_tables_of_the_docs_are_generated_from_the_models():
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert docs.render_docs(text) == text, "docs/scenarios.md is out of date: scripts/scenario_docs.py --write"


def test_the_json_schema_is_generated_from_the_models():
    text = (ROOT / "docs" / "scenario.schema.json").read_text(encoding="utf-8")
    assert docs.render_json_schema() == text, "docs/scenario.schema.json is out of date: scripts/scenario_docs.py --write"


def test_a_drifted_table_or_a_missing_block_is_seen():
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    drifted = text.replace("| `steps` | integer >= 1 and <= 1,000,000 | 100 |", "| `steps` | integer >= 1 | 50 |")
    assert drifted != text and docs.render_docs(drifted) == text
    begin = docs.BEGIN.format(name="view")
    with pytest.raises(Exception, match="no generated block 'view'"):
        docs.render_docs(text.replace(begin, ""))


def test_every_key_of_every_model_is_in_its_table_with_its_default_and_bounds():
    blocks = docs.docs_blocks()
    for name, cls in docs.DOC_TABLES.items():
        for key in cls.keys():
            assert f"| `{key}` |" in blocks[name], (name, key)
    assert "| `resolution` | integer >= 2 and <= 4,001 | 101 |" in blocks["view"]
    for check, cls in schema.EXPECTATIONS.items():
        assert f"| `{check}` |" in blocks["expect"] and cls.doc() in blocks["expect"]


def test_the_json_schema_describes_the_toml_document():
    s = docs.json_schema()
    assert s["required"] == ["format", "problem", "start", "optimizers"]
    assert "source" not in s["properties"] and s["additionalProperties"] is False
    defs = s["$defs"]
    assert defs["ProblemSpec"]["additionalProperties"] is True and "params" not in defs["ProblemSpec"]["properties"]
    assert "hyper" not in defs["OptimizerSpec"]["properties"]
    steps = s["properties"]["steps"]
    assert (steps["minimum"], steps["maximum"], steps["default"]) == (1, 1_000_000, 100)
    # expectations: one schema per check, chosen by the value of `check`
    expect = s["properties"]["expect"]["items"]
    assert set(expect["discriminator"]["mapping"]) == set(schema.EXPECTATIONS)
    json.dumps(s)  # plain JSON


def test_the_generator_command_finds_nothing_to_write():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "scripts" / "scenario_docs.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_a_new_top_level_key_is_one_field_of_one_model():
    """What "adding a key" costs: the field below is the whole declaration; its check, default,
    docs row and JSON Schema entry follow from it."""
    from pydantic import Field, ValidationError

    from core.scenario.io import _error

    class Wider(schema.Scenario):
        speed: schema.Num(0.0, low_open=True) = Field(1.0, description="playback speed of the lecture")

    assert "| `speed` | number > 0 | 1 | playback speed of the lecture |" in docs.key_table(Wider)
    assert Wider.model_json_schema()["properties"]["speed"]["exclusiveMinimum"] == 0
    doc = {"format": 1, "problem": {"kind": "quartic"}, "start": {"points": [[1.0]]}, "optimizers": [{"kind": "gd"}]}
    assert Wider.model_validate({**doc, "speed": 2}).speed == 2.0 and Wider.model_validate(doc).speed == 1.0
    with pytest.raises(ValidationError) as info:
        Wider.model_validate({**doc, "speed": 0})
    assert str(_error(info.value)) == "speed: expected a finite number > 0, got 0"
    with pytest.raises(ValidationError) as info:
        Wider.model_validate({**doc, "sped": 2})
    assert str(_error(info.value)).startswith("sped: unknown key 'sped' (did you mean 'speed'?)")
