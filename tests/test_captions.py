"""Caption fields (core.captions): the grammar, values filled from a real small run against closed
forms, one-line errors with their path, escapes, and ``main.py check`` failing a lesson whose
caption names a field that does not exist.

The run is GD on f(w) = 0.5 (w1^2 + 10 w2^2) from (2, 1): along each eigenvector the error is
multiplied by 1 - lr * lambda per step, so w_k = (2 (1 - lr)^k, (1 - 10 lr)^k) exactly. The
engine computes the same products in float64; after at most 200 multiplications the relative
rounding error is below 200 * 2^-53 ~ 2e-14 on any IEEE-754 CPU, far inside the 1e-12 used here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import captions
from core.errors import LabError
from core.scenario import build, execute, loads

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

TOML = """
format = 1
title = "caption fields"
steps = 200
[problem]
kind = "quadratic"
eigenvalues = [1.0, 10.0]
[start]
points = [[2.0, 1.0]]
[[optimizers]]
kind = "gd"
label = "GD"
lr = [0.15, 0.21]
[[optimizers]]
kind = "momentum"
label = "HB"
lr = 0.05
momentum = 0.5
[view]
panels = ["landscape", "convergence"]
"""


def _loss(lr: float, k: np.ndarray | int) -> np.ndarray:
    k = np.asarray(k, dtype=float)
    return 0.5 * ((2 * (1 - lr) ** k) ** 2 + 10 * ((1 - 10 * lr) ** k) ** 2)


@pytest.fixture(scope="module")
def run():
    result = execute(loads(TOML), landscape=False, sharpness=False)
    assert result.run.labels == ["GD lr=0.15", "GD lr=0.21", "HB"]
    return result.run


def test_grammar_parses_fields_labels_steps_and_formats():
    pieces = captions.parse("at {step}: {loss[GD, lr = 0.21]@137:.3e} and {{x}}")
    assert pieces[0] == "at "
    f = pieces[1]
    assert (f.name, f.label, f.at, f.fmt) == ("step", None, None, None)
    g = pieces[3]
    assert (g.name, g.label, g.at, g.fmt) == ("loss", "GD, lr = 0.21", 137, ".3e")
    assert g.source == "{loss[GD, lr = 0.21]@137:.3e}"
    assert pieces[-1] == " and {x}"
    assert not captions.has_fields("e_{{k+1}}") and captions.has_fields("{steps}")


def test_values_from_the_run_match_the_closed_form(run):
    """Losses at a named step and at the end, against (1 - lr lambda)^k products."""
    got = float(captions.render("{loss[GD lr=0.15]@3:.17g}", run))
    assert got == pytest.approx(float(_loss(0.15, 3)), rel=1e-12)
    got = float(captions.render("{final_loss[GD lr=0.15]:.17g}", run, frame=7))
    assert got == pytest.approx(float(_loss(0.15, 200)), rel=1e-12)
    first = int(np.argmax(_loss(0.21, np.arange(201)) > 1e12))  # the engine's divergence bound
    assert first == 137
    assert captions.render("{diverged_step[GD lr=0.21]} / {diverged_step[GD lr=0.15]} / {last_step[GD lr=0.15]}", run) \
        == "137 / never / 200"
    assert captions.render("{lr[GD lr=0.21]} {momentum[HB]:.2f} {kind[HB]} {optimizer[GD lr=0.21]} {steps}", run) \
        == "0.21 0.50 momentum GD 200"
    assert captions.render("{final_loss[HB]:.3g}", run) == f"{float(run.loss[200, 2]):.3g}"


def test_live_fields_follow_the_frame_and_the_selected_trajectory(run):
    """Without [label] a field reads the selected trajectory at the frame shown."""
    a = captions.render("{step}: {loss:.17g} ({label}, lr {lr})", run, frame=5, selected=0)
    b = captions.render("{step}: {loss:.17g} ({label}, lr {lr})", run, frame=6, selected=1)
    step, rest = a.split(": ")
    assert step == "5" and rest.endswith("(GD lr=0.15, lr 0.15)")
    assert float(rest.split()[0]) == pytest.approx(float(_loss(0.15, 5)), rel=1e-12)
    assert b.startswith("6: ") and b.endswith("(GD lr=0.21, lr 0.21)")
    assert float(b.split()[1]) == pytest.approx(float(_loss(0.21, 6)), rel=1e-12)
    assert captions.render("{distance:.6f}", run, 4, 0) == f"{float(np.hypot(2 * 0.85 ** 4, 0.5 ** 4)):.6f}"
    # past its divergence a trajectory reads as it was at its last recorded step
    assert captions.render("{loss}", run, 180, 1) == captions.render("{loss}", run, 137, 1)


def test_escapes_and_text_without_fields_render_unchanged(run):
    assert captions.render("e_{{k+1}} = {{step}} }}{{", run, 3) == "e_{k+1} = {step} }{"
    plain = "no fields here: 1 - lr * lambda"
    assert captions.render(plain, run, 3) == plain


def test_every_shipped_caption_still_parses_and_plain_ones_render_as_before():
    """Braces in the shipped lessons are either fields or escaped; captions without fields are
    shown byte for byte as written (the description is Markdown, never field-filled)."""
    from core.scenario import load

    for path in sorted(SCENARIOS.glob("*.toml")):
        s = load(path)
        for b in s.beats:
            for text in (b.caption, b.predict or ""):
                pieces = captions.parse(text)
                if not captions.has_fields(text):
                    assert "".join(pieces) == text.replace("{{", "{").replace("}}", "}"), path.name


@pytest.mark.parametrize("text, words", [
    ("{foo}", ["no caption field 'foo'", "fields: step"]),
    ("{los}", ["did you mean 'loss'?"]),
    ("{loss[GD]}", ["'GD' has 2 trajectories", "GD lr=0.15, GD lr=0.21"]),
    ("{loss[SGD]}", ["no trajectory or optimizer labelled 'SGD'", "labels: GD, HB, GD lr=0.15"]),
    ("{loss:d}", ["format 'd' does not apply", "a number"]),
    ("{label:.3f}", ["format '.3f' does not apply", "text"]),
    ("{step@3}", ["{step} is the run's"]),
    ("{lr@3}", ["not a per-step value"]),
    ("{loss@201}", ["step 201 is past the end of the run (steps = 200)"]),
    ("{momentum}", ["'GD lr=0.15', 'GD lr=0.21' has no 'momentum'", "{momentum[HB]}"]),
    ("{beta1[HB]}", ["no caption field 'beta1'"]),
    ("{lr[HB]} {momentum[GD lr=0.15]}", ["'GD lr=0.15' has no hyperparameter 'momentum'"]),
    ("{test_loss}", ["gives no 'test_loss'"]),
    ("e_{k+1}", ["'{k+1}' is not a field", "write {{ and }}"]),
    ("a } b", ["a lone '}'"]),
])
def test_errors_are_one_line_with_the_caption_path(run, text, words):
    with pytest.raises(LabError) as info:
        captions.check(text, run, "beats[2].caption")
    message = str(info.value)
    assert "\n" not in message and message.startswith("beats[2].caption: ")
    for w in words:
        assert w in message, message
    with pytest.raises(LabError):  # render refuses what check refuses ...
        captions.render(text, run, 3)
    shown = captions.render(text, run, 3, missing="?")  # ... or shows the placeholder (unparsed: as written)
    try:
        captions.parse(text)
    except LabError:
        assert shown == text
    else:
        assert "?" in shown and "{" not in shown


def test_check_works_before_the_run_from_the_built_scenario():
    built = build(loads(TOML))
    captions.check("{diverged_step[GD lr=0.21]} {final_loss[HB]:.2g} {lr}", built, "beats[0].caption")
    with pytest.raises(LabError, match=r"beats\[0\].caption: \{nope\}: no caption field"):
        captions.check("{nope}", built, "beats[0].caption")


def test_main_check_fails_a_lesson_whose_caption_names_no_field(tmp_path):
    """The lesson's own run fills every field, or ``main.py check`` fails it, at the beat's path."""
    from commands.run import check_file

    good = TOML + '[[beats]]\nstep = 2\ncaption = "GD lr=0.21 diverges at step {diverged_step[GD lr=0.21]}"\n' \
        'predict = "Which one diverges, at {lr[GD lr=0.21]}?"\n'
    (tmp_path / "good.toml").write_text(good)
    ok, line = check_file(tmp_path / "good.toml")
    assert ok, line
    for key, text in (("caption", "{diverged_stp[GD lr=0.21]}"), ("predict", "{loss[Adam]}")):
        bad = TOML + f'[[beats]]\nstep = 2\n{key} = "{text}"\n'
        (tmp_path / "bad.toml").write_text(bad)
        ok, line = check_file(tmp_path / "bad.toml")
        assert not ok and line.startswith("FAIL") and f"beats[0].{key}" in line, line
        assert "\n" not in line


def test_shipped_lessons_quote_their_run_through_fields():
    """stability_edge and linear_momentum_stable_lr take their divergence steps from the run; the
    rendered captions say what the run did."""
    from core.scenario import load

    for name, label in (("stability_edge", "GD lr=0.21"), ("linear_momentum_stable_lr", "Low-pass momentum, lr = 20")):
        s = load(SCENARIOS / f"{name}.toml")
        run = execute(s, landscape=False, sharpness=False).run
        field = f"{{diverged_step[{label}]}}"
        (beat,) = [b for b in s.beats if field in b.caption]
        shown = captions.render(beat.caption, run, beat.step, 0)
        assert f"step {run.last_step(run.index(label))}" in shown and "{" not in shown
