"""Property-based fuzz of the scenario loader.

1. ``valid_documents``: scenarios generated from the schema itself (the choices in
   core.scenario.schema, the hyperparameter ranges of core.optimizers, the toy problems'
   signatures, the checks of core.scenario.expectations, the limits of core.values). Every one
   must load, round-trip through ``dump``, and build.
2. One-key mutations of those valid documents (and of the shipped toy lessons): replace one value,
   delete one key, add one unknown key. Whatever comes out either loads (and round-trips) or is a
   LabError of one line; an unknown key is named in its error.
3. Random TOML-ish text and random documents: only LabError may escape.
4. ``tests/fuzz_corpus/``: inputs that once broke the loader, kept as regression files.

Deterministic in CI: the "ci" profile (tests/conftest.py) derandomizes with a fixed example count;
``LAB_FUZZ=deep`` runs a large random exploration, and ``LAB_FUZZ_SAVE=1`` writes every failing
document into tests/fuzz_corpus/ so it becomes a regression file.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import math
import os
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import given, note, settings
from hypothesis import strategies as st

from core.errors import LabError
from core.optimizers import OPTIMIZERS
from core.problems import make_problem
from core.problems.toys import TOYS
from core.scenario import Scenario, build, dump, from_dict, load, loads
from core.scenario.registry import panel_names
from core.scenario.schema import CONVERGENCE, EXPECTATIONS, FORMAT, METRICS
from core.values import MAX_SEED

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
# the shipped scenarios on toy problems (fast to build hundreds of times)
DOCS = {name: doc for name, doc in ((p.name, tomllib.loads(p.read_text())) for p in sorted((ROOT / "scenarios").glob("*.toml")))
        if doc.get("problem", {}).get("kind") in TOYS}

# --- valid scenarios, from the schema -------------------------------------------------------------
# Problem parameters the generator may set, with a valid value strategy each; every other
# parameter keeps its default. Keys must be parameters of the toy's factory (checked below).
_PROBLEM_PARAMS = {
    "quadratic": dict(eigenvalues=st.lists(st.floats(0.1, 20.0), min_size=2, max_size=2),
                      angle=st.floats(-3.0, 3.0), offset=st.floats(-5.0, 5.0)),
    "rosenbrock": dict(a=st.floats(-2.0, 2.0), b=st.floats(1.0, 100.0)),
    "rastrigin": dict(A=st.floats(0.5, 10.0)),
    "multimin": dict(dim=st.integers(1, 2)),
}
_TOY_KINDS = sorted(k for k in TOYS if "expr" not in inspect.signature(TOYS[k]).parameters)
_RULES = sorted(k for k in OPTIMIZERS if k != "sgd")  # sgd needs data or noise: covered by noise below


def _hyper_value(spec):
    lo = spec.low if not spec.low_open else spec.low + 1e-3
    hi = spec.high if math.isfinite(spec.high) else 2.0
    hi = hi - 1e-3 if spec.high_open else hi
    return st.floats(lo, min(hi, lo + 2.0), allow_nan=False)


@st.composite
def valid_documents(draw):
    """A scenario document that the schema allows, on a toy problem."""
    kind = draw(st.sampled_from(_TOY_KINDS))
    params = {k: draw(v) for k, v in _PROBLEM_PARAMS.get(kind, {}).items() if draw(st.booleans())}
    dim = make_problem(kind, params).dim
    coords = st.floats(-2.0, 2.0, allow_nan=False)
    n_opt = draw(st.integers(1, 3))
    optimizers = []
    for i in range(n_opt):
        rule = OPTIMIZERS[draw(st.sampled_from(_RULES))]
        entry = {"kind": rule.name, "label": f"opt {i}"}
        if rule.name == "nesterov":
            names = [h for h in rule.hypers if h.name != "dampening"]
        else:
            names = list(rule.hypers)
        for h in names:
            if draw(st.booleans()):
                entry[h.name] = draw(_hyper_value(h))
        if draw(st.booleans()):
            entry["color"] = draw(st.sampled_from(["#1f77b4", "#ff7f0e", "#2ca02c"]))
        if draw(st.integers(0, 4)) == 0:
            entry["noise"] = draw(st.floats(0.0, 1.0))
        optimizers.append(entry)
    doc = {
        "format": FORMAT, "title": draw(st.text(max_size=20)), "seed": draw(st.integers(0, MAX_SEED)),
        "steps": draw(st.integers(1, 30)), "dtype": draw(st.sampled_from(["float64", "float32"])),
        "device": "cpu", "problem": {"kind": kind, **params}, "optimizers": optimizers,
        "start": {"points": draw(st.lists(st.lists(coords, min_size=dim, max_size=dim), min_size=1, max_size=3))},
    }
    if draw(st.booleans()):
        panels = draw(st.lists(st.sampled_from([p for p in panel_names() if p != "model"]), min_size=1, max_size=3, unique=True))
        doc["view"] = {"panels": panels, "resolution": draw(st.integers(2, 30)),
                       "convergence": draw(st.sampled_from(CONVERGENCE)), "log_scale": draw(st.booleans())}
    labels = [o["label"] for o in optimizers]
    if draw(st.booleans()):
        doc["beats"] = [{"step": s, "caption": draw(st.text(max_size=30)), "pause": draw(st.booleans())}
                        for s in sorted(draw(st.lists(st.integers(0, doc["steps"]), max_size=3)))]
    expect = []
    for _ in range(draw(st.integers(0, 2))):
        check = draw(st.sampled_from(["final_loss", "diverged", "steps_to"]))
        e = {"check": check, "optimizer": draw(st.sampled_from(labels))}
        assert set(EXPECTATIONS[check].required_keys()) <= {"optimizer", "tol"}
        if check == "final_loss":
            e["below"] = draw(st.floats(-10.0, 10.0))
        elif check == "steps_to":
            e["tol"] = draw(st.floats(1e-6, 1.0))
            e["metric"] = draw(st.sampled_from([m for m in METRICS if m in ("loss", "grad_norm")]))
        else:
            e["diverged"] = draw(st.booleans())
        expect.append(e)
    if expect:
        doc["expect"] = expect
    return doc


def test_generator_knows_the_schema():
    """The generator's keys are real: problem parameters of the factories, rules' hyperparameters."""
    for kind, params in _PROBLEM_PARAMS.items():
        assert set(params) <= set(inspect.signature(TOYS[kind]).parameters), kind


# building a scenario costs ~0.3 s: fewer examples in CI for the tests that build
BUILDS = settings(max_examples=5000 if os.environ.get("LAB_FUZZ") == "deep" else 40)


def _save_failure(doc) -> None:
    if os.environ.get("LAB_FUZZ_SAVE") == "1":
        text = tomli_w.dumps(_tomlable(doc))
        CORPUS.mkdir(exist_ok=True)
        (CORPUS / f"found-{hashlib.sha1(text.encode()).hexdigest()[:10]}.toml").write_text(text)


@BUILDS
@given(valid_documents())
def test_valid_scenarios_load_round_trip_and_build(doc):
    note(tomli_w.dumps(_tomlable(doc)))
    try:
        s = from_dict(doc)
        assert isinstance(s, Scenario)
        assert loads(dump(s)) == s
        build(s)
    except BaseException:
        _save_failure(doc)
        raise


@given(valid_documents(), valid_documents())
def test_saving_one_scenario_like_the_text_of_another_gives_that_scenario(first, second):
    """``dumps(s, like=text)`` edits ``text`` into ``s`` whatever the two have in common (tables
    added, removed, emptied; other problems, optimizers, starts); it always loads back as ``s``."""
    from core.scenario.io import dumps

    text = tomli_w.dumps(_tomlable(first))
    target = from_dict(second)
    out = dumps(target, like=text)
    assert loads(out) == target
    assert dumps(from_dict(first), like=text) == text  # unchanged: the very same text


# --- one-key mutations ------------------------------------------------------------------------------
KEYS = ["format", "title", "steps", "seed", "device", "dtype", "problem", "kind", "start", "points", "grid", "random",
        "init", "n", "box", "optimizers", "label", "lr", "momentum", "b1", "noise", "batch_size", "view", "panels",
        "span", "resolution", "directions", "center", "beats", "step", "caption", "set", "expect", "check", "optimizer",
        "below", "tol", "at", "between", "within", "eigenvalues", "angle", "expr", "dim", "stepz", "x"]
WORDS = ["quartic", "bowl", "quadratic", "multimin", "formula", "gd", "adam", "momentum", "landscape", "axes", "pca",
         "final_loss", "steps_to", "order", "auto", "cpu", "x**2", "x**2 +", "optimizers[0].lr", "GD", "",
         "#zzz", "not a colour", "a\nb", "\u202etxt"]

scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.sampled_from(WORDS), st.text(max_size=8),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=12)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)


def checked(fn):
    """``fn`` (a loader) followed by :func:`build`: loading and every check that needs the problem."""
    def both(*args):
        s = fn(*args)
        build(s)
        return s
    return both


def only_lab_errors(fn, *args) -> Scenario | LabError:
    """``fn(*args)`` returns a Scenario that round-trips, or raises a one-line LabError."""
    try:
        result = fn(*args)
    except LabError as exc:
        text = str(exc)
        assert text and "\n" not in text and len(text) < 1000
        return exc
    assert isinstance(result, Scenario)
    assert loads(dump(result)) == result  # whatever loads also round-trips
    return result


def _paths(node, prefix=()):
    """Every path to a value inside a parsed document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def one_key_mutations(draw, base):
    """``(document, action, path)``: ``base`` with exactly one key replaced, deleted or added."""
    doc = copy.deepcopy(draw(base))
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
        key = draw(st.sampled_from(["zzz_unknown", "lrr", "stepz", "colour"]))
        if key in parent:
            action = "replace"
        parent[key] = draw(values)
        path = path[:-1] + (key,)
    else:
        parent.append(draw(values))
    return doc, action, path


@given(one_key_mutations(valid_documents()))
def test_one_key_mutations_of_valid_scenarios(case):
    doc, action, path = case
    note(f"{action} {path}")
    outcome = only_lab_errors(checked(from_dict), doc)
    if action == "add" and isinstance(path[-1], str) and path[-1] in ("zzz_unknown", "lrr", "stepz", "colour"):
        assert isinstance(outcome, LabError) and path[-1] in str(outcome), (path, outcome)


@given(one_key_mutations(st.sampled_from(sorted(DOCS)).map(lambda name: DOCS[name])))
def test_one_key_mutations_of_shipped_lessons(case):
    doc, action, path = case
    note(f"{action} {path}")
    only_lab_errors(checked(from_dict), doc)


@given(st.text(alphabet=st.sampled_from(list('[]{}="\'.,#\n 0123456789abcdefgklmnoprstuxz_-+eE')), max_size=120))
def test_random_toml_ish_text(text):
    only_lab_errors(checked(loads), text)


@given(documents)
def test_random_documents(doc):
    only_lab_errors(checked(from_dict), doc)
    only_lab_errors(checked(loads), tomli_w.dumps(_tomlable(doc)))


def _tomlable(x):
    """What TOML can hold: integers beyond 64 bits become text."""
    if isinstance(x, dict):
        return {k: _tomlable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_tomlable(v) for v in x]
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) >= 2**63:
        return str(x)
    return x


# --- the corpus of past failures ------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.toml")), ids=lambda p: p.name)
def test_corpus_regression_files(path):
    """Each file once made the loader raise something other than a one-line LabError, or accept
    what it must refuse. A first line ``# expect: WORD`` says it must be refused with WORD in the
    message (``error``: any one-line LabError)."""
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    outcome = only_lab_errors(checked(load), path)
    if first.startswith("# expect:"):
        word = first.split(":", 1)[1].strip()
        assert isinstance(outcome, LabError), f"{path.name} loaded but must be refused"
        assert word == "error" or word in str(outcome), str(outcome)
