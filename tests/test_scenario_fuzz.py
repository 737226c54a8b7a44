"""Property-based fuzz of the scenario loader: random TOML-ish text, random documents, and random
mutations of the shipped scenarios. Whatever comes in, the loader either returns a Scenario or
raises LabError with a one-line message; no other exception escapes."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import LabError
from core.problems.toys import TOYS
from core.scenario import Scenario, dump, from_dict, loads

ROOT = Path(__file__).resolve().parent.parent
# the shipped scenarios on toy problems (fast to build hundreds of times)
DOCS = {name: doc for name, doc in ((p.name, tomllib.loads(p.read_text())) for p in sorted((ROOT / "scenarios").glob("*.toml")))
        if doc.get("problem", {}).get("kind") in TOYS}

KEYS = ["format", "title", "steps", "seed", "device", "dtype", "problem", "kind", "start", "points", "grid", "random",
        "init", "n", "box", "optimizers", "label", "lr", "momentum", "b1", "noise", "batch_size", "view", "panels",
        "span", "resolution", "directions", "center", "beats", "step", "caption", "set", "expect", "check", "optimizer",
        "below", "tol", "at", "between", "within", "eigenvalues", "angle", "expr", "dim", "stepz", "x"]
WORDS = ["quartic", "bowl", "quadratic", "multimin", "formula", "gd", "adam", "momentum", "landscape", "axes", "pca",
         "final_loss", "steps_to", "order", "auto", "cpu", "x**2", "x**2 +", "optimizers[0].lr", "GD", ""]

scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.sampled_from(WORDS), st.text(max_size=8),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=12)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_lab_errors(fn, *args) -> None:
    try:
        result = fn(*args)
    except LabError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(result, Scenario)
    assert loads(dump(result)) == result  # whatever loads also round-trips


@FUZZ
@given(st.text(alphabet=st.sampled_from(list('[]{}="\'.,#\n 0123456789abcdefgklmnoprstuxz_-+eE')), max_size=120))
def test_random_toml_ish_text(text):
    only_lab_errors(loads, text)


@FUZZ
@given(documents)
def test_random_documents(doc):
    only_lab_errors(from_dict, doc)
    only_lab_errors(loads, tomli_w.dumps(_tomlable(doc)))


def _tomlable(x):
    """What TOML can hold: integers beyond 64 bits become text."""
    if isinstance(x, dict):
        return {k: _tomlable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_tomlable(v) for v in x]
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) >= 2**63:
        return str(x)
    return x


def _paths(node, prefix=()):
    """Every (path) to a value inside a parsed document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutations(draw):
    name = draw(st.sampled_from(sorted(DOCS)))
    doc = copy.deepcopy(DOCS[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = draw(values)
        else:
            parent.append(draw(values))
    return doc


@FUZZ
@given(mutations())
def test_mutations_of_real_scenarios(doc):
    only_lab_errors(from_dict, doc)
