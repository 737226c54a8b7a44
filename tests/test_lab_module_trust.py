"""The app asks before a lesson runs Python code (issue 14: "a confirmation dialog naming the file").

Driven as a person would: the real window opens examples/own_model/own_model.toml, a warning
dialog names model.py, and a real mouse click on its No (then Yes) button decides.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "examples" / "own_model" / "own_model.toml"


@pytest.fixture(autouse=True)
def forget_trust(monkeypatch):
    import core.problems.module as module

    monkeypatch.setattr(module, "_ALLOWED", set())


def click_when_asked(qtbot, button: QMessageBox.StandardButton, seen: list[str]) -> None:
    """Clicks ``button`` of the dialog once it is up (a real mouse click on the real button)."""
    def press() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, press)
            return
        seen.append(box.text())
        qtbot.mouseClick(box.button(button), Qt.MouseButton.LeftButton)
    QTimer.singleShot(50, press)


def test_a_lesson_with_code_opens_only_after_the_user_allows_its_file(window, qtbot):
    before = window.session.scenario
    seen: list[str] = []
    click_when_asked(qtbot, QMessageBox.StandardButton.No, seen)
    assert not window.open(LESSON)
    assert seen and "model.py" in seen[0] and "Run it only if you trust that file" in seen[0]
    assert window.session.scenario is before  # nothing was run
    assert "not opened" in window.banner.label.text() and "model.py" in window.banner.label.text()
    click_when_asked(qtbot, QMessageBox.StandardButton.Yes, seen)
    assert window.open(LESSON), window.banner.label.text()
    window.session.wait()
    assert window.session.result.run.problem.kind == "module" and len(seen) == 2
    assert window.open(LESSON)  # allowed for the rest of the session: no second question
    window.session.wait()
    assert len(seen) == 2
