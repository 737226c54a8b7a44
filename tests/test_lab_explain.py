"""The explanation pane (lab.explain) in the real window: title and Markdown description, a real
click on a beat moves the player, real key presses advance, a predict beat hides its caption
until the next key press, live caption fields follow the frame, and the pane's toggle and
lecture mode hide it.

The scenario is GD (lr 0.15) and heavy ball on a rotated quadratic; the losses the captions quote
are compared with the run's own float64 tensors formatted the same way (the same numbers, read
twice), so no tolerance is involved.
"""

from __future__ import annotations

import re

import pytest
from PyQt6.QtCore import Qt

from tests.toy_scenarios import two_optimizers

BEATS = '''
[[beats]]
step = 0
caption = "Start: loss {loss:.6g} at step {step}"

[[beats]]
step = 10
predict = "Which one is ahead at step 10?"
caption = "GD at step 10: {loss[GD]@10:.6g}"

[[beats]]
step = 20
caption = "heavy ball with lr {lr[HB]}"
'''
DESCRIPTION = 'description = """\nTwo methods, **one bowl**.\n\n- first point\n- second point\n"""\n'


@pytest.fixture
def lesson(tmp_path):
    text = two_optimizers(tail=BEATS).replace('title = "two optimizers on a rotated quadratic"\n',
                                              'title = "two optimizers on a rotated quadratic"\n' + DESCRIPTION)
    path = tmp_path / "explained.toml"
    path.write_text(text)
    return path


def opened(window, qtbot, path):
    assert window.open(path), window.banner.label.text()
    window.session.wait()
    window.activateWindow()
    window.raise_()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    window.setFocus()
    return window.explain


def loss(window, i, step):
    return f"{float(window.session.result.run.loss[step, i]):.6g}"


def test_the_pane_shows_the_title_and_the_description_as_markdown(window, qtbot, lesson):
    pane = opened(window, qtbot, lesson)
    assert pane.isVisible() and pane.width() >= 150
    assert pane.title.text() == "two optimizers on a rotated quadratic"
    plain = pane.description.toPlainText()
    assert "Two methods, one bowl." in plain and "**" not in plain  # Markdown, not its source
    assert "first point" in plain and "- first point" not in plain  # a list, not a dash
    assert re.search(r"font-weight:\s*[67]00;?\">one bowl", pane.description.toHtml())
    assert pane.beats.count() == 3 and pane.beats.item(2).text() == "step 20\nheavy ball with lr 0.05"
    # a question's answer is not in the list before it is revealed
    assert pane.beats.item(1).text() == "step 10\nPredict: Which one is ahead at step 10?\n(the answer shows once revealed)"


def test_a_click_on_a_beat_moves_the_player_to_its_step(window, qtbot, lesson):
    pane = opened(window, qtbot, lesson)
    item = pane.beats.item(2)
    qtbot.mouseClick(pane.beats.viewport(), Qt.MouseButton.LeftButton, pos=pane.beats.visualItemRect(item).center())
    assert window.session.frame == 20 and window.player.slider.value() == 20
    assert pane.beats.currentRow() == 2 and pane.beats.item(2).font().bold() and not pane.beats.item(0).font().bold()
    assert window.caption.text() == "heavy ball with lr 0.05" and pane.now.text() == "heavy ball with lr 0.05"
    qtbot.mouseClick(pane.beats.viewport(), Qt.MouseButton.LeftButton,
                     pos=pane.beats.visualItemRect(pane.beats.item(0)).center())
    assert window.session.frame == 0 and pane.beats.currentRow() == 0


def test_live_fields_change_when_the_frame_changes(window, qtbot, lesson):
    pane = opened(window, qtbot, lesson)
    assert window.caption.text() == f"Start: loss {loss(window, 0, 0)} at step 0"
    qtbot.keyClick(window, Qt.Key.Key_Right)  # a real key press advances one step
    assert window.session.frame == 1
    assert window.caption.text() == f"Start: loss {loss(window, 0, 1)} at step 1"
    assert pane.now.text() == window.caption.text() and loss(window, 0, 1) != loss(window, 0, 0)
    window.player.follow.setCurrentIndex(1)  # follow the heavy ball: the live loss is its own
    assert window.caption.text() == f"Start: loss {loss(window, 1, 1)} at step 1"


def test_a_predict_beat_pauses_and_hides_its_caption_until_the_next_key(window, qtbot, lesson):
    pane = opened(window, qtbot, lesson)
    answer = f"GD at step 10: {loss(window, 0, 10)}"
    window.session.set_frame(8)
    qtbot.keyClick(window, Qt.Key.Key_Space)  # play on into the predict beat
    qtbot.waitUntil(lambda: pane.asking == 1 and not window.player.playing, timeout=10000)
    qtbot.waitUntil(lambda: window.session.frame == 10, timeout=3000)  # it stops at the beat's step
    assert window.caption.text() == "Predict: Which one is ahead at step 10?"
    assert "Which one is ahead" in pane.now.text() and "GD at step 10" not in pane.now.text()
    assert "GD at step 10" not in pane.beats.item(1).text()
    assert answer not in window.caption.text()
    qtbot.keyClick(window, Qt.Key.Key_Space)  # the next key reveals instead of playing
    assert pane.asking is None and not window.player.playing and window.session.frame == 10
    assert window.caption.text() == answer and pane.now.text() == answer
    assert pane.beats.item(1).text() == f"step 10\nPredict: Which one is ahead at step 10?\n{answer}"
    qtbot.keyClick(window, Qt.Key.Key_Space)  # and only then plays on
    assert window.player.playing
    window.player.pause()


def test_n_at_a_predict_beat_reveals_and_a_click_on_it_asks_again(window, qtbot, lesson):
    pane = opened(window, qtbot, lesson)
    qtbot.mouseClick(pane.beats.viewport(), Qt.MouseButton.LeftButton, pos=pane.beats.visualItemRect(pane.beats.item(1)).center())
    assert window.session.frame == 10 and pane.asking == 1
    assert window.caption.text().startswith("Predict:")
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert pane.asking is None and window.session.frame == 10 and not window.player.playing
    assert window.caption.text() == f"GD at step 10: {loss(window, 0, 10)}"


def test_the_lecture_asks_at_a_predict_beat_and_page_down_reveals(window, qtbot, lesson):
    pane = opened(window, qtbot, lesson)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.lecture.active and not pane.isVisible()  # the caption bar carries the beat
    qtbot.keyClick(window, Qt.Key.Key_PageDown)  # plays on to the predict beat and stops there
    qtbot.waitUntil(lambda: pane.asking == 1 and window.session.frame == 10 and not window.player.playing, timeout=10000)
    assert window.caption.text() == "Predict: Which one is ahead at step 10?"
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.caption.text() == f"GD at step 10: {loss(window, 0, 10)}" and window.session.frame == 10
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.lecture.active and pane.isVisible()


def test_f2_toggles_the_pane(window, qtbot, lesson):
    pane = opened(window, qtbot, lesson)
    qtbot.keyClick(window, Qt.Key.Key_F2)
    assert not pane.isVisible() and not window.explain_action.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_F2)
    assert pane.isVisible()


def test_the_pane_and_the_plots_fit_at_1280_x_720(qtbot, lesson):
    from tests.windows import main_window

    with main_window(1280, 720) as w:
        assert w.open(lesson)
        w.session.wait()
        w.fit_screen()
        w.resize(1280, 720)
        qtbot.waitUntil(lambda: w.explain.width() > 0, timeout=3000)
        sizes = w.split.sizes()
        assert w.explain.isVisible() and sizes[2] >= 200 and sizes[1] >= 600, sizes
        assert w.explain.geometry().right() <= w.width() and w.explain.now.isVisible()


def test_the_lecture_catching_up_past_a_predict_beat_neither_asks_nor_goes_back(window, qtbot, lesson):
    """A jump over several beats (the screenshots' last beat) shows the last one; the question of
    the predict beat it jumped over is not asked, and the frame stays where it was sent."""
    pane = opened(window, qtbot, lesson)
    window.lecture.enter()
    window.session.set_frame(20)
    qtbot.wait(200)  # a deferred snap back to the beat's step would land here
    assert window.session.frame == 20 and pane.asking is None and window.lecture.index == 2
    assert window.caption.text() == "heavy ball with lr 0.05"
    window.lecture.leave()
