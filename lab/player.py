"""The player: a timeline over the run's steps (ImageView's timing, napari's loop modes).

It owns a ``QTimer`` and advances by *elapsed time* (``rate`` steps per second times the seconds
since the last tick), so playback keeps its real speed when drawing lags. It only ever calls
``session.set_frame``; panels follow the session. The bar shows the step, each trajectory's loss
and "diverged at step N" for those that blew up.
"""

from __future__ import annotations

import html
import time
from typing import Any

import numpy as np
from PyQt6.QtCore import QTimer, Qt
from PyQt6.QtGui import QFontMetrics
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QVBoxLayout,
                             QWidget)

#: the loss line always has room for this many lines (a fixed height: playback never moves the layout)
LOSS_LINES = 2
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
PLAY_SECONDS = 6.0  # at 1x a run plays in about this long (never slower than 2 steps a second)


def base_rate(steps: int) -> float:
    return max(2.0, steps / PLAY_SECONDS)


class Player(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.timer = QTimer(self)
        self.timer.setInterval(15)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self._last = 0.0
        self._carry = 0.0
        self.stop_at: int | None = None  # lecture mode: pause when the player reaches a beat
        self.buttons = {}
        row = QHBoxLayout()
        for name, text, tip, fn in (
            ("first", "|◀", "first step (Home)", lambda: session.set_frame(0)),
            ("back", "◀", "one step back (Left)", lambda: self.step(-1)),
            ("play", "▶ Play", "play / pause (Space)", self.toggle),
            ("forward", "▶", "one step forward (Right)", lambda: self.step(1)),
            ("last", "▶|", "last step (End)", lambda: session.set_frame(session.steps)),
        ):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setFixedWidth(80 if name == "play" else 40)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(fn)
            self.buttons[name] = b
            row.addWidget(b)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setMinimumWidth(60)  # the row's other widgets keep their width in lecture fonts
        self.slider.valueChanged.connect(self._scrubbed)
        row.addWidget(self.slider, 1)
        self.step_label = QLabel("step 0 / 0")
        row.addWidget(self.step_label)
        self.speed = QComboBox()
        self.speed.addItems([f"{s:g}x" for s in SPEEDS])
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("playback speed")
        self.speed.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row.addWidget(self.speed)
        self.loop = QCheckBox("loop")
        self.loop.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row.addWidget(self.loop)
        self.follow = QComboBox()
        self.follow.setToolTip("the trajectory the eigen and model views follow")
        self.follow.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.follow.setMinimumContentsLength(8)
        self.follow.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.follow.currentIndexChanged.connect(lambda i: i >= 0 and session.select(i))
        row.addWidget(QLabel("follow"))
        row.addWidget(self.follow)
        self.losses = QLabel("")
        self.losses.setTextFormat(Qt.TextFormat.RichText)
        self.losses.setWordWrap(True)
        self.losses.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.losses.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._default_font = self.font()
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 2, 4, 2)
        col.addLayout(row)
        col.addWidget(self.losses)
        session.result_changed.connect(self._new_run)
        session.frame_changed.connect(self._show)
        self._fix_sizes()

    def set_font_size(self, points: int | None) -> None:
        """Lecture mode's larger text (``None``: the application's font again)."""
        font = self._default_font if points is None else self.font()
        if points is not None:
            font.setPointSize(points)
        self.setFont(font)
        for w in self.findChildren(QWidget):
            w.setFont(font)
        self._fix_sizes()

    def _fix_sizes(self) -> None:
        """Fixed sizes from the font: the loss line's height and the step label's width (for the
        longest ``step N / N`` of this run), so nothing moves while the player plays."""
        fm = QFontMetrics(self.losses.font())
        self.losses.setFixedHeight(fm.lineSpacing() * LOSS_LINES + 2)
        n = max(self.session.steps, 10)
        self.step_label.setFixedWidth(QFontMetrics(self.step_label.font()).horizontalAdvance(f"step {n} / {n}") + 12)
        self.buttons["play"].setFixedWidth(max(80, QFontMetrics(self.buttons["play"].font()).horizontalAdvance("▶ Play") + 24))
        for name in ("first", "back", "forward", "last"):
            b = self.buttons[name]
            b.setFixedWidth(max(40, QFontMetrics(b.font()).horizontalAdvance(b.text()) + 20))

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    @property
    def rate(self) -> float:
        return base_rate(self.session.steps) * SPEEDS[self.speed.currentIndex()]

    def play(self) -> None:
        if self.session.steps == 0:
            return
        if self.session.frame >= self.session.steps:
            self.session.set_frame(0)
        self._last, self._carry = time.perf_counter(), 0.0
        self.timer.start()
        self.buttons["play"].setText("Pause")

    def pause(self) -> None:
        self.timer.stop()
        self.buttons["play"].setText("▶ Play")

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def step(self, delta: int) -> None:
        self.pause()
        self.session.set_frame(self.session.frame + delta)

    def _tick(self) -> None:
        now = time.perf_counter()
        self._carry += (now - self._last) * self.rate
        self._last = now
        n = int(self._carry)
        if n < 1:
            return
        self._carry -= n
        target = self.session.frame + n
        if self.stop_at is not None and self.session.frame < self.stop_at <= target:
            self.session.set_frame(self.stop_at)
            self.stop_at = None
            self.pause()
            return
        if target >= self.session.steps:
            if self.loop.isChecked():
                target = 0
            else:
                self.session.set_frame(self.session.steps)
                self.pause()
                return
        self.session.set_frame(target)

    def _new_run(self) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, self.session.steps)
        self.slider.blockSignals(False)
        self._fix_sizes()
        labels = list(self.session.view.labels) if self.session.view is not None else []
        if labels != [self.follow.itemText(k) for k in range(self.follow.count())]:
            self.follow.blockSignals(True)
            self.follow.clear()
            self.follow.addItems(labels)
            self.follow.setCurrentIndex(self.session.selected)
            self.follow.blockSignals(False)

    def _scrubbed(self, value: int) -> None:
        self.session.set_frame(value)

    def _show(self, step: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(step)
        self.slider.blockSignals(False)
        self.step_label.setText(f"step {step} / {self.session.steps}")
        line = loss_line(self.session.view, step)
        self.losses.setText(line)
        self.losses.setToolTip(line)


def loss_line(view: Any, step: int) -> str:
    """``label: loss`` per trajectory in its colour; 'diverged at step N' once it has. A family the
    legend shows as one line (eight SGD seeds: :func:`lab.panels.legend.one_line`) is one entry
    here too, its size and the range of its losses, so the line fits its fixed two lines."""
    if view is None:
        return ""
    from lab.panels.legend import families, one_line

    parts = []
    skip: set[int] = set()
    for entry, members in families(view).items():
        if len(members) < 2 or not one_line(view, members):
            continue
        skip.update(members)
        first = members[0]
        values = [float(view.loss[min(step, view.last[i]), i]) for i in members]
        live = [v for i, v in zip(members, values) if np.isfinite(v) and not (view.diverged[i] and step >= view.last[i])]
        gone = sum(1 for i in members if view.diverged[i] and step >= view.last[i])
        text = (f"{min(live):.4g} to {max(live):.4g}" if len(live) > 1 else f"{live[0]:.4g}") if live else "nan"
        if gone:
            text += f", <b>{gone} diverged</b>"
        parts.append((first, f"<span style='color:{view.colors[first]}'>●</span> {html.escape(entry)} "
                             f"(x{len(members)}): {text}"))
    for i in range(view.size):
        if i in skip:
            continue
        name = html.escape(view.labels[i])
        if view.diverged[i] and step >= view.last[i]:
            text = f"<b>diverged at step {view.last[i]}</b>"
        else:
            v = view.loss[min(step, view.last[i]), i]
            text = f"{v:.4g}" if np.isfinite(v) else "nan"
        parts.append((i, f"<span style='color:{view.colors[i]}'>●</span> {name}: {text}"))
    return " &nbsp; ".join(p for _, p in sorted(parts))
