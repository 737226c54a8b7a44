"""The explanation beside the picture (issue 12): a side pane with the scenario's title, its
description rendered as Markdown, and its beats as a clickable list.

The current beat (the last one at or before the frame; in lecture mode the lecture's) is
highlighted as the player moves; clicking a beat jumps the player to its step. Captions are shown
with their ``{...}`` fields filled from the run (:mod:`core.captions`): live fields follow the
frame and the trajectory the player follows. A beat with ``predict`` asks first: when the player
reaches it (playing, stepping onto it, a click on it, or the lecture arriving there) the player
pauses and the pane and the caption bar show the question; the next N / PageDown / Space
(:meth:`ExplainPane.reveal`, called by the window's keys and :meth:`lab.lecture.Lecture.next`)
reveals the caption instead of moving on. The pane is hidden in lecture mode (the caption bar
carries the beat there) and its toggle is the window's View > Explanation (F2).
"""

from __future__ import annotations

import html
from typing import Any

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QSizePolicy, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from core import captions
from core.errors import LabError

#: shown for a field the current run cannot fill (a knob change renamed the label it names)
MISSING = "…"
#: the pane's width range (pixels): narrow enough for the plots at 1280 x 720, wide enough to read
MIN_WIDTH, PREFERRED_WIDTH = 200, 320
REVEAL_HINT = "press N, PageDown or Space to reveal"


class ExplainPane(QWidget):
    """Title, Markdown description, the beats list and the current beat's text, for ``window``
    (a :class:`lab.window.MainWindow`: its session, player, lecture and stale state)."""

    def __init__(self, window: Any) -> None:
        super().__init__()
        self.window = window
        self.session = window.session
        #: the beat whose question is shown and whose caption is hidden until :meth:`reveal`
        self.asking: int | None = None
        #: predict beats whose caption was revealed since the scenario opened (the list shows the
        #: others' questions only: the answer is no spoiler in the list beside the question)
        self.revealed: set[int] = set()
        self.current: int | None = None  # the highlighted beat
        self._frame = 0  # the frame last seen (a predict beat asks when the player moves onto it)
        self._lecture_hid = False
        self._scenario: Any = None
        self.setMinimumWidth(MIN_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        self.title = QLabel("")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        font.setPointSize(font.pointSize() + 2)
        self.title.setFont(font)
        self.description = QTextBrowser()
        self.description.setOpenExternalLinks(True)
        self.description.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and the arrows stay the player's
        self.beats = QListWidget()
        self.beats.setWordWrap(True)
        self.beats.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.beats.setToolTip("click a beat to jump to its step")
        self.beats.itemClicked.connect(self._clicked)
        self.now = QLabel("")  # the current beat: its caption with live fields, or its question
        self.now.setWordWrap(True)
        self.now.setTextFormat(Qt.TextFormat.RichText)
        self.now.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.now.setStyleSheet("background: #fffbe6; padding: 6px;")
        self.now.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(self.description)
        self.split.addWidget(self.beats)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 2, 2, 2)
        col.addWidget(self.title)
        col.addWidget(self.split, 1)
        col.addWidget(self.now)

        self.session.scenario_changed.connect(self._rebuild)
        self.session.result_changed.connect(self._rebuild)
        self.session.frame_changed.connect(self._moved)

    def sizeHint(self):  # noqa: N802 - Qt's name
        hint = super().sizeHint()
        hint.setWidth(PREFERRED_WIDTH)
        return hint

    # -- what is shown ---------------------------------------------------------------------------
    @property
    def beat_list(self) -> tuple:
        if self.window.stale():
            return ()
        return tuple(getattr(self.session.scenario, "beats", ()) or ())

    def beat_at(self, step: int) -> int | None:
        """The beat current at ``step``: the last one at or before it (None before the first)."""
        k = None
        for n, b in enumerate(self.beat_list):
            if b.step <= step:
                k = n
        return k

    def render(self, text: str, step: int) -> str:
        """``text`` with its fields filled from the run at ``step`` (live ones from the followed
        trajectory); a field the run cannot fill shows :data:`MISSING`."""
        result = self.session.result
        if result is None:
            try:
                return "".join(p if isinstance(p, str) else MISSING for p in captions.parse(text))
            except LabError:
                return text
        selected = max(0, min(self.session.selected, result.run.size - 1))
        return captions.render(text, result.run, step, selected, missing=MISSING)

    def text_for(self, k: int) -> str:
        """What the caption bar shows for beat ``k`` now: its question while it asks, else its
        caption with live fields at the current frame."""
        beats = self.beat_list
        if not 0 <= k < len(beats):
            return ""
        beat = beats[k]
        if self.asking == k:
            return "Predict: " + self.render(beat.predict, self.session.frame)
        return self.render(beat.caption, self.session.frame)

    def _rebuild(self) -> None:
        """Title, description and the beats list for the scenario now open."""
        scenario = self.session.scenario
        if self.session.scenario is not self._scenario:  # a new file or edit: ask again
            self.revealed = set()
            self._scenario = self.session.scenario
        self.asking = None
        self.current = None
        self.title.setText(getattr(scenario, "title", "") or "")
        if self.window.stale():
            self.description.setMarkdown(self.window.stale_note())
        else:
            self.description.setMarkdown(getattr(scenario, "description", "") or "")
        self.beats.clear()
        for n, b in enumerate(self.beat_list):
            item = QListWidgetItem(self._item_text(n))
            item.setToolTip(f"step {b.step}: click to jump there")
            self.beats.addItem(item)
        self._frame = self.session.frame
        self._show(self.session.frame)

    def _item_text(self, k: int) -> str:
        """Beat ``k`` in the list: its step, its question, and its caption (fields at its step)
        unless it is a question not yet answered."""
        b = self.beat_list[k]
        if b.predict and k not in self.revealed:
            return f"step {b.step}\nPredict: {self.render(b.predict, b.step)}\n(the answer shows once revealed)"
        ask = "Predict: " + self.render(b.predict, b.step) + "\n" if b.predict else ""
        return f"step {b.step}\n{ask}{self.render(b.caption, b.step)}"

    def _show(self, step: int) -> None:
        """Highlights the current beat and shows its text (question or caption)."""
        lecture = self.window.lecture if hasattr(self.window, "lecture") else None
        k = lecture.index if lecture is not None and lecture.active and lecture.index >= 0 else self.beat_at(step)
        if k != self.current:
            self.current = k
            self.beats.blockSignals(True)
            self.beats.setCurrentRow(-1 if k is None else k)
            self.beats.blockSignals(False)
            for n in range(self.beats.count()):
                f = self.beats.item(n).font()
                f.setBold(n == k)
                self.beats.item(n).setFont(f)
            if k is not None:
                self.beats.scrollToItem(self.beats.item(k))
        if k is None:
            self.now.setText("")
        elif self.asking == k:
            question = html.escape(self.render(self.beat_list[k].predict, step))
            self.now.setText(f"<b>Predict:</b> {question}<br><i>{REVEAL_HINT}</i>")
        else:
            self.now.setText(html.escape(self.render(self.beat_list[k].caption, step)))

    # -- the player -----------------------------------------------------------------------------
    def _moved(self, step: int) -> None:
        """A new frame: a predict beat the player moved onto asks (playing, the player stops at
        its step); leaving the asking beat forgets the question."""
        before, self._frame = self._frame, step
        lecture = getattr(self.window, "lecture", None)
        beats = self.beat_list
        if self.asking is not None and self.beat_at(step) != self.asking:
            self.asking = None
        if not (lecture is not None and lecture.active) and step > before:
            crossed = [n for n, b in enumerate(beats) if b.predict and before < b.step <= step]
            playing = self.window.player.playing
            if crossed and (playing or self.beat_at(step) == crossed[-1]):
                k = crossed[0] if playing else crossed[-1]
                self.ask(k)
        self._show(step)

    def ask(self, k: int) -> None:
        """Beat ``k`` asks its question: the player pauses (at the beat's step) and the caption
        waits for :meth:`reveal`."""
        beat = self.beat_list[k]
        self.asking = k
        playing = self.window.player.playing
        self.window.player.pause()
        self.window.player.stop_at = None
        if playing and self.session.frame != beat.step:  # played past it within one tick: back to the beat
            QTimer.singleShot(0, lambda s=beat.step: self.session.set_frame(s))
        self._show(self.session.frame)

    def beat_shown(self, k: int) -> None:
        """The lecture shows beat ``k`` (:meth:`lab.lecture.Lecture.activate`): it asks first."""
        beats = self.beat_list
        later = any(b.step <= self.session.frame for b in beats[k + 1:])  # the lecture is catching up past it
        if 0 <= k < len(beats) and beats[k].predict and not later:
            self.ask(k)

    def reveal(self) -> bool:
        """Reveals the asked beat's caption; True when there was a question (the key that called
        this is used up: it does not also play or move on)."""
        if self.asking is None:
            return False
        k, self.asking = self.asking, None
        self.revealed.add(k)
        if k < self.beats.count():
            self.beats.item(k).setText(self._item_text(k))
        self._show(self.session.frame)
        self.window._caption_for(self.session.frame)
        return True

    def _clicked(self, item: QListWidgetItem) -> None:
        """A click on a beat: the player jumps to its step (a predict beat asks its question)."""
        k = self.beats.row(item)
        beats = self.beat_list
        if not 0 <= k < len(beats):
            return
        self.window.player.pause()
        self._frame = beats[k].step  # a jump, not a move onto it: asked below, not in _moved
        self.asking = None
        if beats[k].predict:
            self.asking = k
        self.session.set_frame(beats[k].step)
        self._show(self.session.frame)
        self.window._caption_for(self.session.frame)

    # -- lecture mode ------------------------------------------------------------------------------
    def set_lecture(self, on: bool) -> None:
        """Lecture mode hides the pane (the caption bar carries the beat); leaving shows it again
        if it was shown before."""
        if on:
            self._lecture_hid = self.isVisible()
            self.hide()
        elif self._lecture_hid:
            self._lecture_hid = False
            self.show()
