"""The controls column: problem and its parameters, optimizers (added, removed, relabelled, each
hyperparameter with a slider and an exact entry), start point, steps, seed, device, view options.

Every editor shows a value of the session's typed scenario, knows the scenario key path it edits
and calls ``session.set(path, value)`` (:func:`core.scenario.io.set_path` underneath); when
the session refuses a value it emits ``error(path, message)`` and the editor with that path shows
the message inline (the LabError's reason, unchanged). Editors are rebuilt when the scenario's
structure changes (a new file, problem or optimizer kind) and otherwise left alone, so a slider
being dragged keeps its focus.
"""

from __future__ import annotations

import math
import tomllib
from typing import Any

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                             QPushButton, QScrollArea, QSlider, QSpinBox, QVBoxLayout, QWidget)

from core.errors import LabError
from core.scenario.io import get_path
from core.values import finite

SLIDER_STEPS = 1000


def parse_value(text: str) -> Any:
    """An entry's text as a TOML value (``0.1``, ``[1, 10]``, ``"x**2"``); bare words are strings.
    Nothing typed raises here: what the value means is the session's validation to judge."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return text


def show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"  # nan and inf print as such
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


def describe_start(start: Any) -> str:
    """A ``[start]`` (:class:`core.scenario.StartSpec`) that is not a list of points, in words."""
    if start.grid is not None:
        n = tuple(start.grid.n)
        return f"grid {show_value(n[0] if len(n) == 1 else list(n))} per axis"
    if start.random is not None:
        return f"{start.random.n} random points"
    if start.init:
        return "the net's seeded initialization"
    return show_value(start.points)


def small_combo() -> QComboBox:
    """A combo box as wide as ten characters, so long names do not widen the controls column."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)
    return combo


class ErrorLabel(QLabel):
    def __init__(self) -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.setStyleSheet("color: #c0392b; font-size: 11px;")
        self.hide()

    def show_message(self, message: str) -> None:
        self.setText(message)
        self.setVisible(bool(message))


class ValueSlider(QWidget):
    """Slider + exact entry for one number. Log scale for positive unbounded values (learning
    rates), linear for values in [0, 1) (betas). The entry takes any value, the slider its range."""

    def __init__(self, path: str, value: float, low: float, high: float, on_value) -> None:
        super().__init__()
        self.path = path
        self.on_value = on_value
        self.log = not (math.isfinite(high) and high <= 1.0)
        if self.log:
            v = max(abs(value), 1e-12)
            self.lo, self.hi = min(1e-4, v / 10), max(10.0, v * 10)
        else:
            self.lo, self.hi = max(low, 0.0), min(high, 1.0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setMinimumWidth(60)
        self.entry = QLineEdit(show_value(value))
        self.entry.setFixedWidth(64)
        self.entry.setAlignment(Qt.AlignmentFlag.AlignRight)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.entry)
        self._block = False
        self.set_value(value)
        self.slider.valueChanged.connect(self._slid)
        self.entry.editingFinished.connect(self._typed)
        # coalesce a burst of slider moves into one re-run per event-loop pass
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(lambda: self.on_value(self.path, self._pending))
        self._pending: float = value

    def to_slider(self, v: float) -> int:
        if not finite(v):
            return self.slider.value()
        if self.log:
            v = min(max(v, self.lo), self.hi)
            f = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            f = (min(max(v, self.lo), self.hi) - self.lo) / max(self.hi - self.lo, 1e-12)
        return int(round(f * SLIDER_STEPS))

    def from_slider(self, k: int) -> float:
        f = k / SLIDER_STEPS
        if self.log:
            v = 10 ** (math.log10(self.lo) + f * (math.log10(self.hi) - math.log10(self.lo)))
            return float(f"{v:.3g}")
        return float(f"{self.lo + f * (self.hi - self.lo):.4g}")

    def set_value(self, v: float) -> None:
        self._block = True
        self.slider.setValue(self.to_slider(v))
        self.entry.setText(show_value(v))
        self._block = False

    def _slid(self, k: int) -> None:
        if self._block:
            return
        v = self.from_slider(k)
        self.entry.setText(show_value(v))
        self._pending = v
        self._timer.start()

    def _typed(self) -> None:
        # any text goes to the session, which validates it (nan, inf, 1e400, a 20-digit integer
        # or a word is refused there with the inline message); the slider follows only a value
        # it can show
        v = parse_value(self.entry.text())
        if finite(v):
            self._block = True
            self.slider.setValue(self.to_slider(float(v)))
            self._block = False
        self.on_value(self.path, v)


class Controls(QScrollArea):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWidgetResizable(True)
        self.setMinimumWidth(350)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.errors: dict[str, ErrorLabel] = {}
        self.sliders: dict[str, ValueSlider] = {}
        self.general_error = ErrorLabel()
        session.scenario_changed.connect(self.rebuild)
        session.error.connect(self.show_error)
        self.rebuild()

    # -- building ------------------------------------------------------------------------------
    def rebuild(self) -> None:
        scenario = self.session.scenario
        self.errors, self.sliders = {}, {}
        body = QWidget()
        col = QVBoxLayout(body)
        col.setContentsMargins(4, 4, 4, 4)
        self.general_error = ErrorLabel()
        col.addWidget(self.general_error)
        if scenario is not None:
            col.addWidget(self._problem_box(scenario))
            col.addWidget(self._optimizers_box(scenario))
            col.addWidget(self._run_box(scenario))
        col.addStretch(1)
        self.setWidget(body)

    def _row(self, form: QFormLayout, label: str, path: str, editor: QWidget) -> None:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(editor)
        err = ErrorLabel()
        lay.addWidget(err)
        self.errors[path] = err
        form.addRow(label, box)

    def _entry(self, path: str, value: Any, tip: str = "") -> QLineEdit:
        e = QLineEdit(show_value(value) if value is not None else "")
        e.setToolTip(tip or path)
        e.setObjectName(path)
        e.editingFinished.connect(lambda p=path, w=e: self._edit(p, parse_value(w.text())))
        return e

    def _problem_box(self, scenario: Any) -> QGroupBox:
        from core.problems import PROBLEMS, problem_parameters

        group = QGroupBox("Problem")
        form = QFormLayout(group)
        kind = scenario.problem.kind
        combo = small_combo()
        combo.addItems(sorted(PROBLEMS))
        combo.setCurrentText(kind)
        combo.setObjectName("problem.kind")
        combo.currentTextChanged.connect(lambda k: self._edit("problem.kind", k))
        self._row(form, "kind", "problem.kind", combo)
        try:
            params = problem_parameters(kind)
        except KeyError:
            params = {}
        for name, p in params.items():
            value = scenario.problem.params.get(name, None if p.default is p.empty else p.default)
            self._row(form, name, f"problem.{name}", self._entry(f"problem.{name}", value))
        view = scenario.view
        log = QCheckBox("log colour scale")
        log.setChecked(bool(view.log_scale))
        log.toggled.connect(lambda on: self._edit("view.log_scale", bool(on)))
        self._row(form, "", "view.log_scale", log)
        conv = QComboBox()
        conv.addItems(["gap", "loss", "distance"])
        conv.setCurrentText(view.convergence)
        conv.currentTextChanged.connect(lambda k: self._edit("view.convergence", k))
        self._row(form, "convergence", "view.convergence", conv)
        return group

    def _optimizers_box(self, scenario: Any) -> QGroupBox:
        from core.optimizers import OPTIMIZERS, get_rule

        group = QGroupBox("Optimizers")
        col = QVBoxLayout(group)
        for i, opt in enumerate(scenario.optimizers):
            box = QGroupBox()
            border = opt.color or self._color(i)
            if border.startswith("#") and len(border) == 9:  # #rrggbbaa: style sheets read 8 digits as #aarrggbb
                border = border[:7]
            box.setStyleSheet(f"QGroupBox {{ border: 2px solid {border}; border-radius: 4px; margin-top: 2px; }}")
            outer = QVBoxLayout(box)
            outer.setContentsMargins(6, 6, 6, 6)
            head = QHBoxLayout()
            label = self._entry(f"optimizers[{i}].label", opt.label, "label: legends, captions and expectations use it")
            label.setMinimumWidth(80)
            kind = small_combo()
            kind.addItems(sorted(OPTIMIZERS))
            kind.setCurrentText(opt.kind)
            kind.currentTextChanged.connect(lambda k, i=i: self._edit_kind(i, k))
            remove = QPushButton("✕")
            remove.setToolTip("remove this optimizer")
            remove.setFixedWidth(28)
            remove.clicked.connect(lambda _=False, i=i: self.session.remove_optimizer(i))
            head.addWidget(label, 1)
            head.addWidget(kind)
            head.addWidget(remove)
            outer.addLayout(head)
            err = ErrorLabel()
            outer.addWidget(err)
            for key in ("", ".label", ".kind"):
                self.errors[f"optimizers[{i}]{key}"] = err
            form = QFormLayout()
            outer.addLayout(form)
            rule = get_rule(opt.kind)
            for h in rule.hypers:
                path = f"optimizers[{i}].{h.name}"
                value = opt.hyper.get(h.name, h.default)
                if isinstance(value, list | tuple):
                    editor: QWidget = self._entry(path, value, "a list is a sweep: one trajectory per value")
                else:
                    editor = ValueSlider(path, float(value), h.low, h.high, self._edit)
                    editor.setToolTip(h.doc)
                    self.sliders[path] = editor
                self._row(form, h.name, path, editor)
            col.addWidget(box)
        add = QHBoxLayout()
        kinds = small_combo()
        kinds.addItems(sorted(OPTIMIZERS))
        kinds.setCurrentText("momentum")
        button = QPushButton("+ add optimizer")
        button.clicked.connect(lambda: self.session.add_optimizer(kinds.currentText()))
        add.addWidget(kinds)
        add.addWidget(button)
        col.addLayout(add)
        return group

    def _run_box(self, scenario: Any) -> QGroupBox:
        group = QGroupBox("Run")
        form = QFormLayout(group)
        start = scenario.start
        if start.points is not None:
            text = "; ".join(", ".join(show_value(float(v)) for v in p) for p in start.points)
            entry = QLineEdit(text)
            entry.setToolTip("start point(s): coordinates separated by commas, points by ';' (or click the landscape)")
            entry.editingFinished.connect(lambda w=entry: self._edit_start(w.text()))
        else:
            entry = QLineEdit(describe_start(start))
            entry.setReadOnly(True)
            entry.setToolTip("set in the scenario file; a click on a 2-D landscape replaces it with one point")
        entry.setObjectName("start")
        self._row(form, "start", "start", entry)
        for key, low, high in (("steps", 1, 100_000), ("seed", 0, 2**31 - 1)):
            spin = QSpinBox()
            spin.setRange(low, high)
            spin.setValue(int(getattr(scenario, key)))
            spin.setKeyboardTracking(False)
            spin.setObjectName(key)
            spin.valueChanged.connect(lambda v, k=key: self._edit(k, int(v)))
            self._row(form, key, key, spin)
        device = QComboBox()
        device.addItems(["auto", "cpu", "cuda"])
        device.setCurrentText(scenario.device)
        device.currentTextChanged.connect(lambda d: self._edit("device", d))
        self._row(form, "device", "device", device)
        return group

    @staticmethod
    def _color(i: int) -> str:
        from core.analysis import PALETTE

        return PALETTE[i % len(PALETTE)]

    # -- editing -------------------------------------------------------------------------------
    def _edit(self, path: str, value: Any) -> None:
        try:
            if get_path(self.session.scenario, path) == value:
                return  # what the scenario already says (an editor rebuilt with its value)
        except LabError:
            pass  # a key the file leaves at its default: setting it is an edit
        self.session.set(path, value)

    def _edit_kind(self, i: int, kind: str) -> None:
        """A new rule for optimizer ``i``: its own default hyperparameters; the label, colour,
        minibatch and noise stay."""
        opt = self.session.scenario.optimizers[i]
        keep: dict[str, Any] = {"label": opt.label}
        if opt.color:
            keep["color"] = opt.color
        if opt.batch_size is not None:
            keep["batch_size"] = opt.batch_size
        if opt.noise:
            keep["noise"] = opt.noise
        self.session.set(f"optimizers[{i}]", {"kind": kind, **keep})

    def _edit_start(self, text: str) -> None:
        try:
            points = [[float(v) for v in p.split(",")] for p in text.split(";") if p.strip()]
        except (ValueError, OverflowError):
            self.show_error("start", f"start: expected numbers like '2.5' or '1, -2', got {text!r}")
            return
        self._edit("start", {"points": points})

    def show_error(self, path: str, message: str) -> None:
        target = self._target(path)
        if not message:
            for e in self.errors.values():
                e.show_message("")
            self.general_error.show_message("")
            return
        target.show_message(message)

    def _target(self, path: str) -> ErrorLabel:
        while path:
            if path in self.errors:
                return self.errors[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.general_error
