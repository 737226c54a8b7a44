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

import json
import math
import tomllib
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (QApplication, QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                             QPushButton, QScrollArea, QSlider, QSpinBox, QVBoxLayout, QWidget)

from core.errors import LabError
from core.scenario.io import get_path
from core.values import finite

SLIDER_STEPS = 1000
#: a log slider spans one decade per this many pixels of its width (between 1 and 4 decades),
#: centred on its value: a pixel is about 3 %, a 37-pixel drag a factor of about 3 whatever the
#: window's size (0.07 on a 160 px slider: 0.007 .. 0.7)
PIXELS_PER_DECADE = 80


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
    if isinstance(value, dict):  # an inline TOML table (init = { scheme = "he", bias = 0.0 }) that parse_value reads back
        return "{ " + ", ".join(f"{k} = {json.dumps(v) if isinstance(v, str) else show_value(v)}" for k, v in value.items()) + " }"
    return str(value)


def describe_start(start: Any) -> str:
    """A ``[start]`` (:class:`core.scenario.StartSpec`) that is not a list of points, in words."""
    if start.grid is not None:
        n = tuple(start.grid.n)
        return f"grid {show_value(n[0] if len(n) == 1 else list(n))} per axis"
    if start.random is not None:
        return f"{start.random.n} random points"
    if isinstance(start.init, tuple):
        return f"the net's seeded initialization, seeds {show_value(list(start.init))}"
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
    """Slider + exact entry for one number; the entry takes any value, the slider a range around it.

    The scale follows the hyperparameter's allowed interval (:class:`core.optimizers.HyperSpec`):

    - ``log``: a value in ``(0, inf)`` (learning rates, eps) or ``[0, inf)`` (weight decay): equal
      pixels are equal factors, one decade per :data:`PIXELS_PER_DECADE` pixels centred on the
      value (0.07 on 160 px: 0.007 .. 0.7); where 0 is allowed the leftmost position is exactly 0.
      A value typed or set outside the range, or a drag released at an end, re-centres the range.
    - ``beta``: a value in ``[0, 1)`` (momentum, Adam's betas): linear up to 0.9 on the first half,
      then one equal length per decade of ``1 - beta`` (0.99, 0.999, and 0.9999 when the value is
      that close to 1), so the values near 1 that matter are reachable.
    - ``linear`` for another finite interval (dampening in [0, 1]); ``fixed`` when the interval
      is one value (Nesterov's dampening): the slider is disabled.
    """

    def __init__(self, path: str, value: float, low: float, high: float, on_value, *,
                 low_open: bool = False, high_open: bool = True) -> None:
        super().__init__()
        self.path = path
        self.on_value = on_value
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        if math.isfinite(high) and high <= low:
            self.scale = "fixed"
        elif low == 0.0 and high == 1.0 and high_open:
            self.scale = "beta"
        elif not math.isfinite(high) and low >= 0.0:
            self.scale = "log"
        else:
            self.scale = "linear"
        self.log = self.scale == "log"
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setMinimumWidth(60)
        self.slider.setEnabled(self.scale != "fixed")
        self.entry = QLineEdit()
        put(self.entry, show_value(value))
        self.entry.setFixedWidth(64)
        self.entry.setAlignment(Qt.AlignmentFlag.AlignRight)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.entry)
        self._block = False
        self._sized = 0  # the slider width the log range was last fitted to
        self._centre(value)
        self.set_value(value)
        self.slider.valueChanged.connect(self._slid)
        self.slider.sliderReleased.connect(self._released)
        self.entry.editingFinished.connect(self._typed)
        # coalesce a burst of slider moves into one re-run per event-loop pass
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(lambda: self.on_value(self.path, self._pending))
        self._pending: float = value

    # -- the scale -----------------------------------------------------------------------------
    def _centre(self, v: float) -> None:
        """The slider's range for value ``v``: what the scale shows around it."""
        if self.scale == "log":
            decades = min(max(self.slider.width() if self.slider.isVisible() else 160, 80), 320) / PIXELS_PER_DECADE
            if finite(v) and v > 0:
                self.lo, self.hi = v * 10 ** (-decades / 2), v * 10 ** (decades / 2)
            else:  # 0 (weight decay off) or a value the entry shows but the slider cannot
                self.lo, self.hi = 1e-4, 1e-4 * 10 ** decades
            if self.low > 0:
                self.lo = max(self.lo, self.low)
        elif self.scale == "beta":
            self.lo, self.hi = 0.0, float(max(4, math.ceil(_beta_u(v) + 0.5) if finite(v) and 0 <= v < 1 else 4))
        else:
            self.lo, self.hi = self.low, (self.high if math.isfinite(self.high) else self.low + 1.0)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._fit()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Once shown, and when its width changes by more than a quarter, a log slider fits its
        range to its width (a pixel stays worth the same factor), centred on the value shown;
        nothing is edited."""
        width = self.slider.width()
        if self._sized and abs(width - self._sized) <= 0.25 * self._sized:
            return  # a few pixels (a scroll bar appearing): the scale stays as the user knows it
        if self.scale == "log" and self.slider.isVisible() and not self.slider.isSliderDown():
            self._sized = width
            v = parse_value(self.entry.text())
            if finite(v):
                self._block = True
                self._centre(float(v))
                self.slider.setValue(self.to_slider(float(v)))
                self._block = False

    def _zero_stop(self) -> bool:
        """The leftmost position is exactly 0 (a log scale over [0, inf))."""
        return self.scale == "log" and self.low == 0.0 and not self.low_open

    def _in_range(self, v: float) -> bool:
        if self.scale == "log":
            return (v == 0 and self._zero_stop()) or self.lo <= v <= self.hi
        return True

    def to_slider(self, v: float) -> int:
        if not finite(v):
            return self.slider.value()
        v = float(v)
        if self.scale == "fixed":
            return 0
        if self.scale == "log":
            first = 1 if self._zero_stop() else 0
            if v <= 0:
                return 0
            v = min(max(v, self.lo), self.hi)
            f = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
            return first + int(round(f * (SLIDER_STEPS - first)))
        if self.scale == "beta":
            u = _beta_u(min(max(v, 0.0), _beta_from_u(self.hi)))
            return int(round(min(u / self.hi, 1.0) * SLIDER_STEPS))
        f = (min(max(v, self.lo), self.hi) - self.lo) / max(self.hi - self.lo, 1e-12)
        return int(round(f * SLIDER_STEPS))

    def from_slider(self, k: int) -> float:
        if self.scale == "fixed":
            return float(self.low)
        if self.scale == "log":
            first = 1 if self._zero_stop() else 0
            if first and k <= 0:
                return 0.0
            f = (k - first) / (SLIDER_STEPS - first)
            return self._short(k, 10 ** (math.log10(self.lo) + f * (math.log10(self.hi) - math.log10(self.lo))))
        if self.scale == "beta":
            u = k / SLIDER_STEPS * self.hi
            return self._short(k, _beta_from_u(u))
        return self._short(k, self.lo + k / SLIDER_STEPS * (self.hi - self.lo))

    def _short(self, k: int, v: float) -> float:
        """``v`` with the fewest significant digits (3 to 6) that still sits at position ``k``, so
        the entry shows 0.0723 rather than 0.072341 and one key step is never lost to rounding."""
        for digits in range(3, 7):
            if self.scale == "beta" and v > 0.9:
                short = float(f"{1.0 - float(f'{1.0 - v:.{digits - 2}g}'):.12g}")
            else:
                short = float(f"{v:.{digits}g}")
            if self.to_slider(short) == k:
                return short
        return float(f"{v:.12g}")

    # -- values --------------------------------------------------------------------------------
    def set_value(self, v: Any) -> None:
        """Shows ``v`` (the value the session holds): in the entry, and on the slider, whose
        range is re-centred when ``v`` lies outside it."""
        self._block = True
        if finite(v) and not self._in_range(float(v)):
            self._centre(float(v))
        self.slider.setValue(self.to_slider(v))
        put(self.entry, show_value(v))
        self._block = False

    def _slid(self, k: int) -> None:
        if self._block:
            return
        v = self.from_slider(k)
        put(self.entry, show_value(v))
        self._pending = v
        self._timer.start()
        if not self.slider.isSliderDown() and k in (0, SLIDER_STEPS):  # keys or a click at an end
            QTimer.singleShot(0, self._released)

    def _released(self) -> None:
        """A drag released at an end of a log slider: the range re-centres on the value, so the
        next drag goes further."""
        if self.scale == "log" and self.slider.value() in (0, SLIDER_STEPS):
            v = self.from_slider(self.slider.value())
            if v > 0:
                self._block = True
                self._centre(v)
                self.slider.setValue(self.to_slider(v))
                self._block = False

    def _typed(self) -> None:
        # any text goes to the session, which validates it (nan, inf, 1e400, a 20-digit integer
        # or a word is refused there with the inline message); the controls then show what the
        # session holds (Controls.sync): the new value, or the old one after a refusal. Focus
        # leaving an entry that shows what it was given is no edit (it would write a default
        # the file leaves out, and mark the lesson modified)
        if not edited(self.entry):
            return
        self.on_value(self.path, parse_value(self.entry.text()))


def _beta_u(b: float) -> float:
    """The beta scale: ``u = 2 b / 0.9`` up to 0.9 (half of a 0 .. 0.999 slider), then one unit
    per decade of ``1 - b`` (u = 2 at 0.9, 3 at 0.99, 4 at 0.999)."""
    return 2.0 * b / 0.9 if b <= 0.9 else 1.0 - math.log10(1.0 - b)


def _beta_from_u(u: float) -> float:
    return 0.9 * u / 2.0 if u <= 2.0 else 1.0 - 10 ** -(u - 1.0)



class Controls(QScrollArea):
    """The controls column. Every editor shows what the session holds: it is re-read after each
    edit (accepted or refused), after each run and after each refusal the session reports
    (:meth:`sync`), so a refused value never stays on screen as if the run used it. After Enter
    in a field (or a choice in a list) the keyboard goes back to the window, so Space plays."""

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWidgetResizable(True)
        self.setMinimumWidth(350)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.errors: dict[str, ErrorLabel] = {}
        self.sliders: dict[str, ValueSlider] = {}
        #: path -> (the value the session holds, shows it in the editor)
        self.shown: dict[str, tuple[Callable[[], Any], Callable[[Any], None], QWidget]] = {}
        self.general_error = ErrorLabel()
        session.scenario_changed.connect(self.rebuild)
        session.error.connect(self.show_error)
        session.result_changed.connect(self.sync)
        self.rebuild()

    # -- building ------------------------------------------------------------------------------
    def rebuild(self) -> None:
        scenario = self.session.scenario
        self.errors, self.sliders, self.shown = {}, {}, {}
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
        scroll = self.verticalScrollBar().value()
        old = self.takeWidget()
        self.setWidget(body)
        if old is not None:
            # the editor whose signal asked for this rebuild may still be on the call stack
            # (a combo emitting currentTextChanged): deleted once control is back in the event loop
            old.hide()
            old.deleteLater()
        self.verticalScrollBar().setValue(scroll)

    def _row(self, form: QFormLayout, label: str, path: str, editor: QWidget, tip: str = "") -> None:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(editor)
        err = ErrorLabel()
        lay.addWidget(err)
        self.errors[path] = err
        name = QLabel(label)
        if tip:
            name.setToolTip(tip)
            if not editor.toolTip():
                editor.setToolTip(tip)
        form.addRow(name, box)

    def _show(self, path: str, held: Callable[[], Any], show: Callable[[Any], None], editor: QWidget) -> None:
        self.shown[path] = (held, show, editor)

    def _entry(self, path: str, value: Any, tip: str = "") -> QLineEdit:
        e = QLineEdit()
        put(e, show_value(value) if value is not None else "")
        e.setToolTip(tip or path)
        e.setObjectName(path)
        e.editingFinished.connect(lambda p=path, w=e: edited(w) and self._edit(p, parse_value(w.text())))
        self._hand_back(e)
        return e

    def _hand_back(self, editor: QWidget) -> None:
        """After a commit the keyboard goes back to the window (Space plays, N is the next beat,
        instead of typing into the field or opening the list)."""
        if isinstance(editor, QLineEdit):
            editor.returnPressed.connect(self._give_back_focus)
        elif isinstance(editor, QSpinBox):
            editor.lineEdit().returnPressed.connect(self._give_back_focus)
        elif isinstance(editor, QComboBox):
            editor.activated.connect(lambda _=0: self._give_back_focus())

    def _give_back_focus(self) -> None:
        # after the editor's own handlers (the commit) have run, and after a rebuild it caused
        QTimer.singleShot(0, self._focus_window)

    def _focus_window(self) -> None:
        window = self.window()
        focused = QApplication.focusWidget()
        if window is not self and (focused is None or self.isAncestorOf(focused)):
            window.setFocus(Qt.FocusReason.OtherFocusReason)

    def _combo(self, path: str, items: list[str], current: str, tip: str, edit: Callable[[str], None],
               small: bool = True) -> QComboBox:
        combo = small_combo() if small else QComboBox()
        combo.addItems(items)
        combo.setCurrentText(current)
        combo.setObjectName(path)
        combo.setToolTip(tip)
        combo.currentTextChanged.connect(edit)
        self._hand_back(combo)

        def show(value: Any, c: QComboBox = combo) -> None:
            c.blockSignals(True)
            c.setCurrentText(str(value))
            c.blockSignals(False)
        self._show(path, lambda p=path: self._held(p), show, combo)
        return combo

    def _problem_box(self, scenario: Any) -> QGroupBox:
        from core.problems import PROBLEMS, problem_parameters
        from core.scenario.schema import ProblemSpec, ViewSpec

        group = QGroupBox("Problem")
        form = QFormLayout(group)
        kind = scenario.problem.kind
        tip = field_doc(ProblemSpec, "kind")
        combo = self._combo("problem.kind", sorted(PROBLEMS), kind, tip, lambda k: self._edit("problem.kind", k))
        self._row(form, "kind", "problem.kind", combo, tip)
        try:
            params = problem_parameters(kind)
        except KeyError:
            params = {}
        for name, p in params.items():
            default = None if p.default is p.empty else p.default
            value = scenario.problem.params.get(name, default)
            tip = f"{name}: a parameter of the {kind} problem" + (f" (default {show_value(default)})" if default is not None else " (required)")
            entry = self._entry(f"problem.{name}", value, tip)
            self._show(f"problem.{name}", lambda n=name, d=default: self.session.scenario.problem.params.get(n, d),
                       lambda v, e=entry: put(e, show_value(v) if v is not None else ""), entry)
            self._row(form, name, f"problem.{name}", entry, tip)
        view = scenario.view
        log = QCheckBox("log colour scale")
        log.setChecked(bool(view.log_scale))
        log.setToolTip(field_doc(ViewSpec, "log_scale"))
        log.toggled.connect(lambda on: self._edit("view.log_scale", bool(on)))
        self._row(form, "", "view.log_scale", log)
        tip = field_doc(ViewSpec, "convergence")
        conv = self._combo("view.convergence", ["gap", "loss", "distance"], view.convergence, tip,
                           lambda k: self._edit("view.convergence", k), small=False)
        self._row(form, "convergence", "view.convergence", conv, tip)
        return group

    def _optimizers_box(self, scenario: Any) -> QGroupBox:
        from core.optimizers import OPTIMIZERS, get_rule
        from core.scenario.schema import OptimizerSpec

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
            label = self._entry(f"optimizers[{i}].label", opt.label, "label: " + field_doc(OptimizerSpec, "label"))
            label.setMinimumWidth(80)
            self._show(f"optimizers[{i}].label", lambda i=i: self.session.scenario.optimizers[i].label, lambda v, e=label: put(e, v), label)
            rule = get_rule(opt.kind)
            kind = self._combo(f"optimizers[{i}].kind", sorted(OPTIMIZERS), opt.kind,
                               f"{opt.kind}: {rule.label}", lambda k, i=i: self._edit_kind(i, k))
            for j in range(kind.count()):
                kind.setItemData(j, OPTIMIZERS[kind.itemText(j)].label, Qt.ItemDataRole.ToolTipRole)
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
            for h in rule.hypers:
                path = f"optimizers[{i}].{h.name}"
                value = opt.hyper.get(h.name, h.default)
                tip = hyper_doc(h)
                if isinstance(value, list | tuple):
                    editor: QWidget = self._entry(path, value, f"{tip}\na list is a sweep: one trajectory per value")
                    self._show(path, lambda i=i, h=h: self._hyper(i, h),
                               lambda v, e=editor: put(e, show_value(v)), editor)
                else:
                    slider = ValueSlider(path, float(value), h.low, h.high, self._edit,
                                         low_open=h.low_open, high_open=h.high_open)
                    for w in (slider, slider.slider, slider.entry):
                        w.setToolTip(tip)
                    self._hand_back(slider.entry)
                    self._show(path, lambda i=i, h=h: self._hyper(i, h), slider.set_value, slider)
                    self.sliders[path] = editor = slider
                self._row(form, h.name, path, editor, tip)
            col.addWidget(box)
        add = QHBoxLayout()
        kinds = small_combo()
        kinds.addItems(sorted(OPTIMIZERS))
        kinds.setCurrentText("momentum")
        kinds.setToolTip("the rule of the optimizer to add")
        for j in range(kinds.count()):
            kinds.setItemData(j, OPTIMIZERS[kinds.itemText(j)].label, Qt.ItemDataRole.ToolTipRole)
        button = QPushButton("+ add optimizer")
        button.setToolTip("adds an optimizer of the chosen rule with its default hyperparameters")
        button.clicked.connect(lambda: self.session.add_optimizer(kinds.currentText()))
        add.addWidget(kinds)
        add.addWidget(button)
        col.addLayout(add)
        return group

    def _run_box(self, scenario: Any) -> QGroupBox:
        from core.scenario.schema import Scenario, StartSpec

        group = QGroupBox("Run")
        form = QFormLayout(group)
        start = scenario.start
        if start.points is not None:
            entry = QLineEdit()
            put(entry, start_text(start))
            entry.setToolTip("start point(s): coordinates separated by commas, points by ';' (or click the landscape); "
                             + field_doc(StartSpec, "points"))
            entry.editingFinished.connect(lambda w=entry: edited(w) and self._edit_start(w.text()))
            self._hand_back(entry)
        else:
            entry = QLineEdit(describe_start(start))
            entry.setReadOnly(True)
            entry.setToolTip("set in the scenario file; a click on a 2-D landscape replaces it with one point")
        entry.setObjectName("start")
        self._show("start", lambda: self.session.scenario.start,
                   lambda s, e=entry: put(e, start_text(s) if s.points is not None else describe_start(s)), entry)
        self._row(form, "start", "start", entry)
        for key, low, high in (("steps", 1, 100_000), ("seed", 0, 2**31 - 1)):
            spin = QSpinBox()
            spin.setRange(low, high)
            spin.setValue(int(getattr(scenario, key)))
            spin.setKeyboardTracking(False)
            spin.setObjectName(key)
            spin.valueChanged.connect(lambda v, k=key: self._edit(k, int(v)))
            self._hand_back(spin)

            def show(value: Any, s: QSpinBox = spin) -> None:
                s.blockSignals(True)
                s.setValue(int(value))
                s.blockSignals(False)
            self._show(key, lambda k=key: getattr(self.session.scenario, k), show, spin)
            self._row(form, key, key, spin, field_doc(Scenario, key))
        tip = field_doc(Scenario, "device")
        device = self._combo("device", ["auto", "cpu", "cuda"], scenario.device, tip, lambda d: self._edit("device", d),
                             small=False)
        self._row(form, "device", "device", device, tip)
        return group

    @staticmethod
    def _color(i: int) -> str:
        from core.analysis import PALETTE

        return PALETTE[i % len(PALETTE)]

    # -- what the session holds ------------------------------------------------------------------
    def _held(self, path: str) -> Any:
        return get_path(self.session.scenario, path)

    def _hyper(self, i: int, h: Any) -> Any:
        """The value optimizer ``i`` runs with: the file's, or the rule's default."""
        return self.session.scenario.optimizers[i].hyper.get(h.name, h.default)

    def sync(self, force: str = "") -> None:
        """Every editor shows the value the session holds (after an edit, accepted or refused, a
        lecture beat's ``set``, a run). Left alone: a slider being dragged and a field being typed
        in (focused and edited), except the one at ``force`` (the edit that was just committed)."""
        if self.session.scenario is None:
            return
        for path, (held, show, editor) in list(self.shown.items()):
            if isinstance(editor, ValueSlider):
                if editor.slider.isSliderDown():
                    continue
                typing = editor.entry
            else:
                typing = editor if isinstance(editor, QLineEdit) else None
            if path != force and typing is not None and typing.hasFocus() and typing.isModified():
                continue
            try:
                value = held()
            except (LabError, IndexError):
                continue  # the structure changed under it: a rebuild follows
            if isinstance(value, list | tuple) and isinstance(editor, ValueSlider):
                continue  # became a sweep: a rebuild follows
            show(value)

    # -- editing -------------------------------------------------------------------------------
    def _edit(self, path: str, value: Any) -> None:
        try:
            if get_path(self.session.scenario, path) == value:
                self.sync(path)  # what the scenario already says: show it as the session does
                return
        except LabError:
            pass  # a key the file leaves at its default: setting it is an edit
        self.session.set(path, value)
        self.sync(path)  # the new value, or the held one after a refusal

    def _edit_kind(self, i: int, kind: str) -> None:
        """A new rule for optimizer ``i``: its own default hyperparameters; the label, colour,
        minibatch and noise stay."""
        opt = self.session.scenario.optimizers[i]
        if kind == opt.kind:
            return
        keep: dict[str, Any] = {"label": opt.label}
        if opt.color:
            keep["color"] = opt.color
        if opt.batch_size is not None:
            keep["batch_size"] = opt.batch_size
        if opt.noise:
            keep["noise"] = opt.noise
        self.session.set(f"optimizers[{i}]", {"kind": kind, **keep})
        self.sync(f"optimizers[{i}].kind")

    def _edit_start(self, text: str) -> None:
        try:
            points = [[float(v) for v in p.split(",")] for p in text.split(";") if p.strip()]
        except (ValueError, OverflowError):
            self.show_error("start", f"start: expected numbers like '2.5' or '1, -2', got {text!r}")
            self.sync("start")  # the field shows the start the run uses again
            return
        self._edit("start", {"points": points})

    def show_error(self, path: str, message: str) -> None:
        target = self._target(path)
        if not message:
            for e in self.errors.values():
                e.show_message("")
            self.general_error.show_message("")
        else:
            target.show_message(message)
        self.sync()

    def _target(self, path: str) -> ErrorLabel:
        while path:
            if path in self.errors:
                return self.errors[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.general_error


def put(entry: QLineEdit, text: str) -> None:
    """Shows ``text`` in a field and remembers it as what the field was given (:func:`edited`)."""
    entry.setText(text)
    entry.setCursorPosition(0)  # the start of a long label or formula, not its end
    entry.setProperty("shown", text)


def edited(entry: QLineEdit) -> bool:
    """The field holds something else than it was given: Enter or focus leaving it is an edit.
    (Qt emits ``editingFinished`` again when the focus leaves after Enter.)"""
    return entry.text() != entry.property("shown")


def start_text(start: Any) -> str:
    """A list of start points as the start field shows them: ``x, y; x, y``."""
    return "; ".join(", ".join(show_value(float(v)) for v in p) for p in start.points)


def field_doc(model: Any, name: str) -> str:
    """The schema's description of a key (``Field(description=...)``), for a tooltip."""
    field = model.model_fields.get(name)
    return f"{name}: {field.description}" if field is not None and field.description else name


def hyper_doc(h: Any) -> str:
    """A hyperparameter's tooltip from its :class:`core.optimizers.HyperSpec`: meaning, allowed
    interval, default."""
    lo = ("(" if h.low_open else "[") + f"{h.low:g}"
    hi = (f"{h.high:g}" if math.isfinite(h.high) else "inf") + (")" if h.high_open else "]")
    return f"{h.name}: {h.doc or 'hyperparameter'}\nallowed {lo}, {hi}; default {show_value(float(h.default))}"
