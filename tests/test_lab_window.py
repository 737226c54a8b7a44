"""The main window driven as a user drives it (pytest-qt, real key presses and clicks, offscreen):
shortcuts in every mode and focused editors keeping their keys, saving a shipped lesson, fitting the
screen, lecture fonts, a layout that never jumps during playback, a switched problem marking the
lesson's texts stale (issue 12, defects 1, 2, 7, 11 and 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import QRect, Qt
from PyQt6.QtWidgets import QComboBox, QFileDialog, QLineEdit, QSlider

import lab.window as window_module
from lab.session import Session
from lab.window import MainWindow
from scenarios import FOLDER as SHIPPED

from tests.toy_scenarios import PANELS_3, two_optimizers

BEATS = """\
[[beats]]
step = 0
caption = "first caption"
pause = true
[[beats]]
step = 6
caption = "second caption"
pause = true
[[beats]]
step = 10
caption = "third caption"
pause = true
"""
TWO_D = two_optimizers(colors=False, panels=PANELS_3, resolution=60, tail=BEATS)  # tests/toy_scenarios.py

LONG = ("a caption that goes on and on about what the audience should look at, the spiral of the "
        "heavy ball, the zigzag of plain gradient descent, the rate each one converges at and why "
        "the largest eigenvalue of the Hessian decides the stable learning rates, ") * 3

JUMPY = """
format = 1
title = "captions of very different lengths, one optimizer diverging"
steps = 12
[problem]
kind = "quadratic"
eigenvalues = [1.0, 10.0]
[start]
points = [[2.0, 1.5]]
[[optimizers]]
kind = "gd"
label = "GD"
lr = 0.05
[[optimizers]]
kind = "gd"
label = "too fast"
lr = 0.5
[view]
panels = ["landscape", "convergence"]
resolution = 40
[[beats]]
step = 0
caption = "short"
[[beats]]
step = 3
caption = "%s"
[[beats]]
step = 6
caption = ""
""" % LONG


@pytest.fixture
def two_d(tmp_path):
    path = tmp_path / "two_d.toml"
    path.write_text(TWO_D)
    return path


def opened(window, path) -> MainWindow:
    assert window.open(path), window.banner.label.text()
    window.session.wait()
    return window


def lr_entry(window) -> QLineEdit:
    """The exact entry of the first optimizer's learning rate (beside its slider)."""
    from lab.controls import ValueSlider

    return next(s.entry for s in window.controls.findChildren(ValueSlider) if s.path == "optimizers[0].lr")


def active(window, qtbot) -> None:
    """Shortcuts fire only in the active window (as on a desktop)."""
    window.activateWindow()
    window.raise_()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    window.setFocus()


# -- defect 1: every shortcut in every mode; a focused editor keeps its keys ---------------------------
def test_page_down_page_up_and_f5_work_with_the_menu_bar_hidden(window, qtbot, two_d):
    # a presenter clicker sends PageDown / PageUp; before, they were menu actions only and did
    # nothing once lecture mode hid the menu bar (only N, P and Esc worked)
    opened(window, two_d)
    active(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.lecture.active and not window.menuBar().isVisible()
    assert window.caption.text() == "first caption"
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: window.caption.text() == "second caption", timeout=5000)
    assert window.session.frame == 6
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert window.caption.text() == "first caption" and window.session.frame == 0
    qtbot.keyClick(window, Qt.Key.Key_F5)  # F5 leaves again, with the menu bar still hidden until then
    assert not window.lecture.active and window.menuBar().isVisible()


def test_a_focused_slider_keeps_its_arrows_home_and_end(window, qtbot, two_d):
    # before, the window's Left/Right/Home/End shortcuts stole the keys: the player stepped and
    # the focused hyperparameter slider never moved
    opened(window, two_d)
    active(window, qtbot)
    slider = window.controls.findChildren(QSlider)[0]
    slider.setFocus()
    qtbot.waitUntil(slider.hasFocus, timeout=2000)
    before = slider.value()
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert slider.value() == before + slider.singleStep() and window.session.frame == 0
    qtbot.keyClick(slider, Qt.Key.Key_End)
    assert window.session.frame == 0
    qtbot.keyClick(slider, Qt.Key.Key_Home)
    assert slider.value() == slider.minimum() and window.session.frame == 0
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.session.frame == 1


def test_a_text_field_keeps_its_keys_and_space_plays_after_enter(window, qtbot, two_d):
    opened(window, two_d)
    active(window, qtbot)
    entry = lr_entry(window)
    qtbot.mouseClick(entry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(entry.hasFocus, timeout=2000)
    entry.selectAll()
    qtbot.keyClicks(entry, "0.12")
    qtbot.keyClick(entry, Qt.Key.Key_Home)
    qtbot.keyClick(entry, Qt.Key.Key_Right)
    qtbot.keyClick(entry, Qt.Key.Key_End)
    assert window.session.frame == 0 and entry.cursorPosition() == 4  # the field had the keys
    qtbot.keyClick(entry, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.session.scenario.optimizers[0].hyper["lr"] == 0.12, timeout=5000)
    window.session.wait()
    qtbot.wait(20)
    assert not any(e.hasFocus() for e in window.controls.findChildren(QLineEdit))
    focus = window.focusWidget() or window
    qtbot.keyClick(focus, Qt.Key.Key_Space)
    assert window.player.playing  # before, Space typed a blank into the field
    window.player.pause()


# -- defect 2: a shipped lesson is never overwritten -----------------------------------------------------
@pytest.fixture
def guarded(monkeypatch, tmp_path):
    """The user's folder and the save dialog point into tmp_path; a save into the shipped folder is
    recorded and NOT written (so even the old code cannot damage scenarios/ in this test)."""
    user = tmp_path / "documents" / "Loss Landscape Lab"
    monkeypatch.setattr(window_module, "user_folder", lambda: user, raising=False)
    written: list[Path] = []
    real = Session.save

    def save(self, path):
        written.append(Path(path).resolve())
        if Path(path).resolve().is_relative_to(SHIPPED):
            return None  # refused here; the test fails on the record
        return real(self, path)

    monkeypatch.setattr(Session, "save", save)
    asked: list[str] = []
    answer: list[str] = [str(tmp_path / "mine.toml")]
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, caption, directory, *a, **k: asked.append(directory) or (answer[0], "")))
    return user, written, asked, answer


def type_lr(window, qtbot, text: str) -> None:
    entry = lr_entry(window)
    qtbot.mouseClick(entry, Qt.MouseButton.LeftButton)
    entry.selectAll()
    qtbot.keyClicks(entry, text)
    qtbot.keyClick(entry, Qt.Key.Key_Return)
    window.session.wait()


def test_ctrl_s_on_a_shipped_lesson_asks_for_a_new_file_in_the_user_folder(window, qtbot, guarded, tmp_path):
    user, written, asked, _ = guarded
    lesson = SHIPPED / "quartic_gd.toml"
    original = lesson.read_bytes()
    opened(window, lesson)
    active(window, qtbot)
    assert not window.isWindowModified()
    type_lr(window, qtbot, "0.15")
    assert window.session.dirty and window.isWindowModified()
    assert "*" in window.windowHandle().title()  # the title bar says it is modified
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert asked, "Ctrl+S on a shipped lesson must ask for a new file"
    assert Path(asked[-1]).parent == user and Path(asked[-1]).name == "quartic_gd.toml"  # not scenarios/
    assert user.is_dir()
    assert written == [(tmp_path / "mine.toml").resolve()]
    assert lesson.read_bytes() == original
    assert "lr = 0.15" in (tmp_path / "mine.toml").read_text()
    assert not window.isWindowModified() and window.session.path == tmp_path / "mine.toml"
    # the saved copy is the user's file: Ctrl+S now saves there without asking
    type_lr(window, qtbot, "0.1")
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert len(asked) == 1 and "lr = 0.1" in (tmp_path / "mine.toml").read_text()


def test_choosing_the_shipped_file_in_the_dialog_does_not_overwrite_it(window, qtbot, guarded):
    user, written, asked, answer = guarded
    lesson = SHIPPED / "quartic_gd.toml"
    original = lesson.read_bytes()
    answer[0] = str(lesson)  # the user accepts a shipped file's name
    opened(window, lesson)
    active(window, qtbot)
    type_lr(window, qtbot, "0.15")
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert asked and written == []  # Save As offered the user folder, and nothing was written
    assert Path(asked[-1]).parent == user
    assert "never overwritten" in window.banner.label.text() and window.banner.isVisible()
    assert window.session.dirty and lesson.read_bytes() == original


# -- defect 7: fits the screen, resizable; lecture fonts scale everything and reset ----------------------
@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_the_window_fits_the_available_screen(qtbot, monkeypatch, two_d, size):
    # before: a fixed 1500 x 900, so on a 1280 x 720 projector the player, the caption and the
    # right-hand panels were off screen
    w, h = size
    monkeypatch.setattr(window_module, "available_geometry", lambda widget: QRect(0, 0, w, h), raising=False)
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    try:
        opened(win, two_d)
        qtbot.wait(50)
        assert win.width() <= w and win.height() <= h
        hint = win.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 720  # resizable down to a projector
        assert win.minimumWidth() < win.maximumWidth() and win.minimumHeight() < win.maximumHeight()
        frame = win.rect()
        for part in (win.player, win.caption, win.panels.right, win.panels.panel("landscape"), win.controls):
            assert part.isVisible()
            box = QRect(part.mapTo(win, part.rect().topLeft()), part.size())
            assert frame.contains(box), (part, box, frame)
        assert win.player.buttons["play"].isVisible() and win.player.slider.width() >= 100
    finally:
        win.player.pause()
        win.session.dirty = False
        win.close()


def test_lecture_mode_scales_every_text_and_restores_it(window, qtbot, two_d):
    from lab.style import LECTURE_MIN_PT

    opened(window, two_d)
    active(window, qtbot)
    land = window.panels.panel("landscape")
    conv = window.panels.panel("convergence")

    def sizes():
        legend = [label.opts.get("size") for p in (land, conv) for _, label in p.legend.items]
        ticks = [land.item.getAxis("bottom").style["tickFont"], land.bar.axis.style["tickFont"],
                 conv.item.getAxis("left").style["tickFont"]]
        return legend, [None if f is None else f.pointSize() for f in ticks], window.caption.font().pointSize()

    legend0, ticks0, caption0 = sizes()
    assert legend0 and ticks0 == [None, None, None]
    qtbot.keyClick(window, Qt.Key.Key_F5)
    LECTURE_FONT_PT = window.lecture.points  # noqa: N806 - the size for this screen (lab.style.lecture_points)
    assert LECTURE_FONT_PT >= LECTURE_MIN_PT
    legend, ticks, caption = sizes()
    assert set(legend) == {f"{LECTURE_FONT_PT}pt"}  # legends were left at 9 pt before
    assert ticks == [LECTURE_FONT_PT] * 3  # tick labels, the colour bar's too
    assert caption > caption0
    # a beat that re-runs keeps the lecture's size for the new legend entries
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: window.caption.text() == "second caption", timeout=5000)
    assert set(sizes()[0]) == {f"{LECTURE_FONT_PT}pt"}
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert sizes() == (legend0, ticks0, caption0)  # nothing carries into the window or an export


# -- defect 11: the layout never jumps during playback ---------------------------------------------------
def test_the_layout_does_not_jump_while_captions_and_losses_change(window, qtbot, tmp_path):
    path = tmp_path / "jumpy.toml"
    path.write_text(JUMPY)
    opened(window, path)
    active(window, qtbot)
    qtbot.wait(50)

    def layout():
        return (window.panels.geometry(), window.player.geometry(), window.caption.geometry(),
                window.player.slider.geometry())

    first = layout()
    texts = set()
    for _ in range(window.session.steps):
        qtbot.keyClick(window, Qt.Key.Key_Right)
        qtbot.wait(5)
        texts.add(getattr(window.caption, "shown", window.caption.text)())
        assert layout() == first, window.session.frame
    assert window.session.frame == 12
    assert "short" in texts and "" in texts and any(t.endswith("…") for t in texts)  # the long one elided
    assert window.caption.toolTip() == "" or window.caption.text() == ""
    assert "diverged at step" in window.player.losses.text()


# -- defect 14: a switched problem marks the lesson's texts stale ----------------------------------------
def test_switching_the_problem_marks_title_and_captions_stale(window, qtbot, two_d):
    opened(window, two_d)
    active(window, qtbot)
    assert window.caption.text() == "first caption"
    combo = next(c for c in window.controls.findChildren(QComboBox) if c.findText("rosenbrock") >= 0
                 and c.currentText() == "quadratic")
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)  # the next problem kind
    window.session.wait()
    qtbot.wait(20)
    assert window.session.scenario.problem.kind != "quadratic"
    assert "(edited: problem changed)" in window.windowTitle()
    assert window.caption.text().startswith("This lesson's captions are for its original problem (quadratic)")
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert "original problem" in window.caption.text()  # not the beat of that step
    qtbot.keyClick(window, Qt.Key.Key_F5)  # a lecture of the stale texts plays none of the beats
    assert window.lecture.active and window.lecture.beats == () and "original problem" in window.caption.text()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.lecture.active
