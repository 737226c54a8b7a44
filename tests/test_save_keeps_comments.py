"""Saving from the app keeps the lecturer's file: open an annotated lesson in the real window, move
one slider with a real key press, save with the real shortcut (Ctrl+S), and every comment and every
other line of the file is byte-identical; only the edited value changed (issue 11, item 2)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from PyQt6.QtCore import Qt

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "scenarios" / "quartic_gd.toml"

#: a lecturer's notes added to the shipped lesson: (a line of the lesson, what it becomes)
NOTES = (
    ('format = 1\n', '# Lecture 3, slide 12: gradient descent on the quartic.\n'
                     '# Keep this file next to the slides; the class edits only lr.\n\nformat = 1\n'),
    ('seed = 0\n', 'seed   = 0      # the handout uses the same seed\n'),
    ('[problem]\n', '# --- the problem of slide 12 ---\n[problem]   # g(w) = (w^4 + w^2 + 10 w) / 50\n'),
    ('lr = 1.0\n', 'lr = 1.0  # slide 14: try 0.5 in class, then 2.5\n'),
    ('[view]\n', '[view]\n# two panels are what fits the projector\n'),
    ('resolution = 301\n', 'resolution = 301    # fine enough for the curve\n'),
)
LR_LINE = re.compile(r"lr = (\S+)  # slide 14: try 0\.5 in class, then 2\.5")


def annotate(text: str) -> str:
    for old, new in NOTES:
        assert text.count(old) == 1, old  # the lesson still has the line this note goes with
        text = text.replace(old, new)
    return text + "\n# end of lecture 3\n"


# the `window` fixture (the real main window, 1200 x 800) is in tests/conftest.py


def test_a_slider_change_saved_from_the_app_changes_only_its_value(window, qtbot, tmp_path):
    path = tmp_path / "lecture3.toml"
    shutil.copyfile(LESSON, path)
    original = annotate(path.read_text())
    path.write_text(original)
    assert window.open(path), window.banner.label.text()
    window.session.wait()
    assert window.session.text == original

    # one step of the learning-rate slider with the keyboard, as a lecturer would
    old = window.session.result
    slider = window.controls.sliders["optimizers[0].lr"]
    window.activateWindow()
    slider.slider.setFocus()
    start = slider.slider.value()
    qtbot.keyClick(slider.slider, Qt.Key.Key_Up)  # one step up (Left/Right belong to the player)
    assert slider.slider.value() == start + 1
    qtbot.waitUntil(lambda: window.session.result is not old, timeout=5000)
    window.session.wait()
    lr = slider.from_slider(start + 1)
    assert lr != 1.0 and window.session.scenario.optimizers[0].hyper["lr"] == lr and window.session.dirty

    # Ctrl+S: the real shortcut of File > Save (the file is the lecturer's copy, not a shipped lesson)
    qtbot.keyClick(slider.slider, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.session.dirty, timeout=5000)
    assert not window.banner.isVisible(), window.banner.label.text()
    saved = path.read_text()

    before, after = original.splitlines(keepends=True), saved.splitlines(keepends=True)
    assert len(after) == len(before), saved
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    (i,) = changed  # exactly one line differs: the learning rate's
    assert LR_LINE.fullmatch(before[i].rstrip("\n")).group(1) == "1.0"
    m = LR_LINE.fullmatch(after[i].rstrip("\n"))
    assert m is not None, after[i]  # the same key, spacing and comment; only the value is new
    assert float(m.group(1)) == lr
    # and the file still says what the window shows
    from core.scenario import load

    assert load(path) == window.session.scenario
    assert not window.windowTitle().startswith("* ")

