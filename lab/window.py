"""The main window: controls on the left, the panels in the middle, the explanation pane
(:mod:`lab.explain`) on the right, the player and the caption below; File / View / Scenario
menus; keyboard shortcuts; lecture mode; save and export.

Shortcuts: Space play/pause, Left/Right one step, Home/End first/last step, PageDown/N next beat,
PageUp/P previous beat (the first N, PageDown or Space at a predict beat reveals its caption), F2 the
explanation pane, F5 lecture mode, Esc leave it, Ctrl+O open, Ctrl+S save, Ctrl+E export PNG, Ctrl+Shift+E export GIF.
They are the window's own (every menu action is also added to the window), so they work in lecture
mode with the menu bar hidden; a focused editor keeps the keys it uses (a slider its arrows and
Home/End, a text field those and Space), and Enter in a field hands the keys back to the window.

The window opens at a size that fits the screen's available geometry and stays resizable; the
caption bar (sized for the lesson's longest caption, which wraps in full) and the player's loss
line have fixed heights, so the layout never jumps during playback. Shipped lessons (:data:`scenarios.FOLDER`)
are never overwritten: saving one asks for a new file in :func:`user_folder`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import QEvent, QRect, QStandardPaths, Qt, QTimer
from PyQt6.QtGui import QAction, QFontMetrics, QGuiApplication, QKeySequence, QShortcut
from PyQt6.QtWidgets import (QAbstractSlider, QAbstractSpinBox, QApplication, QFileDialog, QHBoxLayout, QLabel,
                             QLineEdit, QMainWindow, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton,
                             QSizePolicy, QSplitter, QTextEdit, QVBoxLayout, QWidget)

from core.errors import LabError
from lab.controls import Controls
from lab.panels.area import PanelArea
from lab.player import Player
from lab.qt_session import QtSession
from lab.style import CAPTION_PT
from scenarios import FOLDER as SHIPPED  # the lessons shipped with the program

APP_NAME = "Loss Landscape Lab"
#: the size the window asks for on a screen that has room; smaller screens get their available area
PREFERRED_SIZE = (1500, 900)
#: the lines the caption bar always has room for, and the most it grows to for a lesson's longest caption
CAPTION_LINES = 2
MAX_CAPTION_LINES = 4

#: keys the window's player shortcuts use that a focused editor keeps (no modifiers)
_ARROWS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Home, Qt.Key.Key_End)


def user_folder() -> Path:
    """Where Save offers to put a lesson the user changed: the platform's documents folder
    (``QStandardPaths.DocumentsLocation``) + ``Loss Landscape Lab``; the home folder where there is
    none. Created when a dialog is about to open in it."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs or Path.home()) / APP_NAME


def available_geometry(widget: QWidget) -> QRect:
    """The screen area the window may use (without task bars), of the screen the window is on."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else QRect(0, 0, *PREFERRED_SIZE)


def editor_keeps(widget: QWidget | None, key: int, modifiers: Qt.KeyboardModifier) -> bool:
    """True when ``widget`` (the focus widget) uses ``key`` itself: a text field its arrows,
    Home/End and Space, a slider or spin box its arrows and Home/End; the window's shortcut for the
    key then waits (Qt's ShortcutOverride). PageUp/PageDown and F5 stay the window's everywhere."""
    if widget is None or modifiers & ~Qt.KeyboardModifier.KeypadModifier:
        return False
    if isinstance(widget, QLineEdit | QTextEdit | QPlainTextEdit):
        return key in _ARROWS or key == Qt.Key.Key_Space
    if isinstance(widget, QAbstractSpinBox | QAbstractSlider):
        return key in _ARROWS
    return False


def _lines_height(fm: QFontMetrics, lines: int) -> int:
    """The height ``lines`` wrapped lines take at this font (a little more than lines x spacing)."""
    return fm.boundingRect(QRect(0, 0, 10000, 100000), int(Qt.TextFlag.TextWordWrap.value), "\n".join(["Xg"] * lines)).height()


class Caption(QLabel):
    """The caption bar, word wrapped, of a fixed height: room for the longest text the lesson will
    show (:meth:`reserve`: its title, captions and questions, at the bar's font and width), at least
    :data:`CAPTION_LINES` and at most :data:`MAX_CAPTION_LINES` lines. So every shipped caption is
    shown in full, and the panels above never move as the captions change during playback; only a
    text longer than the maximum is elided with "…" (the whole text is the tooltip)."""

    def __init__(self) -> None:
        super().__init__("")
        self.full = ""
        self._reserved: list[str] = []
        self._lines = CAPTION_LINES
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.set_point_size(CAPTION_PT)

    def set_point_size(self, points: int, background: str = "") -> None:
        pad = 10 if background else 4
        self.setStyleSheet(f"padding: {pad}px;" + (f" background: {background};" if background else ""))
        font = self.font()
        font.setPointSize(points)
        self.setFont(font)
        self._pad = pad
        self._size()

    def reserve(self, texts: Any) -> None:
        """The texts this bar will show: its height is fixed for the longest of them."""
        self._reserved = [t for t in texts if t]
        self._size()

    def _size(self) -> None:
        fm = QFontMetrics(self.font())
        width = max(self.width() - 2 * self._pad - 4, 40)
        flags = int(Qt.TextFlag.TextWordWrap.value)
        lines = CAPTION_LINES
        for t in self._reserved:
            need = fm.boundingRect(QRect(0, 0, width, 100000), flags, t).height()
            while lines < MAX_CAPTION_LINES and need > _lines_height(fm, lines):
                lines += 1
        self._lines = lines
        self.setFixedHeight(_lines_height(fm, lines) + 2 * self._pad + 4)
        self._fit()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self.full = text or ""
        self.setToolTip(self.full if self.full else "")
        self._fit()

    def text(self) -> str:
        return self.full

    def shown(self) -> str:
        """What the bar shows (the text, or its elided start)."""
        return super().text()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._size()  # the lines the reserved texts need at the new width
        else:
            self._fit()

    def _fit(self) -> None:
        text = self.full
        fm = QFontMetrics(self.font())
        width = max(self.width() - 2 * self._pad - 4, 40)
        room = _lines_height(fm, self._lines)

        def fits(t: str) -> bool:
            flags = int(Qt.TextFlag.TextWordWrap.value)
            return fm.boundingRect(QRect(0, 0, width, 100000), flags, t).height() <= room

        if not fits(text):
            lo, hi = 0, len(text)
            while lo < hi:  # the longest start that fits with the ellipsis
                mid = (lo + hi + 1) // 2
                if fits(text[:mid].rstrip() + "…"):
                    lo = mid
                else:
                    hi = mid - 1
            text = text[:lo].rstrip() + "…"
        QLabel.setText(self, text)


class Banner(QWidget):
    """A visible, dismissable message (a file that failed to load, an export that cannot run)."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("✕")
        close.setFixedWidth(26)
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.setStyleSheet("background: #fdecea; color: #8a1f11;")
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.setVisible(bool(text))


class MainWindow(QMainWindow):
    def __init__(self, session: QtSession | None = None) -> None:
        super().__init__()
        #: the session as the widgets see it (lab.qt_session): the Qt-free model
        #: (``session.model``, lab.session) with its workers and its events as Qt signals
        self.session = session or QtSession(parent=self)
        self.setWindowTitle(f"{APP_NAME}[*]")
        self.controls = Controls(self.session)
        self.panels = PanelArea(self.session)
        self.player = Player(self.session)
        self.caption = Caption()
        #: the scenario as its file says it (set on open): a different problem kind makes the
        #: file's title and captions stale (:meth:`stale`)
        self.origin: Any = None
        from lab.explain import ExplainPane

        self.explain = ExplainPane(self)  # title, description, beats beside the plots (lab.explain)
        self.banner = Banner()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.progress.hide()
        self.cancel_button = QPushButton("cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.session.cancel)
        self.busy_label = QLabel("")
        self.statusBar().addWidget(self.busy_label, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.controls)
        self.split.addWidget(self.panels)
        self.split.addWidget(self.explain)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([370, 810, 320])
        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(2, 2, 2, 2)
        col.addWidget(self.banner)
        col.addWidget(self.split, 1)
        col.addWidget(self.player)
        col.addWidget(self.caption)
        self.setCentralWidget(central)

        from lab.lecture import Lecture

        self.lecture = Lecture(self)
        self._menus()
        self._shortcuts()
        self.session.error.connect(self._error)
        self.session.confirm_large = self._confirm_large  # the dialog before over-budget work
        self.session.busy.connect(self._busy)
        self.session.progress.connect(self._progress)
        self.session.dirty_changed.connect(lambda _: self._title())
        self.session.result_changed.connect(self._title)
        self.session.frame_changed.connect(self._caption_for)
        self.session.scenario_changed.connect(self._title)
        self.session.scenario_changed.connect(lambda: self._caption_for(self.session.frame))
        self.session.scenario_changed.connect(self._reserve_captions)
        self.fit_screen()

    def fit_screen(self) -> None:
        """Sizes the window to :data:`PREFERRED_SIZE` or the screen's available area, whichever is
        smaller, and places it inside that area (a 1280 x 720 projector shows all of it)."""
        area = available_geometry(self)
        w, h = min(PREFERRED_SIZE[0], area.width()), min(PREFERRED_SIZE[1], area.height())
        self.resize(w, h)
        self.move(area.x() + (area.width() - w) // 2, area.y() + (area.height() - h) // 2)
        side, pane = min(370, w // 4), min(320, w // 5)
        self.split.setSizes([side, w - side - pane, pane])

    # -- menus and keys ----------------------------------------------------------------------------
    def _menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        for text, key, fn in (("&Open scenario...", "Ctrl+O", self.open_dialog), ("&Save", "Ctrl+S", self.save),
                              ("Save &as...", "Ctrl+Shift+S", self.save_as), (None, None, None),
                              ("Export window &PNG...", "Ctrl+E", lambda: self.export_dialog("png")),
                              ("Export landscape panel PNG...", None, lambda: self.export_dialog("panel")),
                              ("Export animation &GIF...", "Ctrl+Shift+E", lambda: self.export_dialog("gif")),
                              ("Export animation &MP4...", None, lambda: self.export_dialog("mp4")),
                              ("Export run &CSV...", None, lambda: self.export_dialog("csv")), (None, None, None),
                              ("&Quit", "Ctrl+Q", self.close)):
            if text is None:
                file.addSeparator()
                continue
            act = QAction(text, self)
            if key:
                act.setShortcut(QKeySequence(key))
            act.triggered.connect(fn)
            file.addAction(act)
            self.addAction(act)  # its shortcut works with the menu bar hidden (lecture mode)
        view = bar.addMenu("&View")
        act3d = QAction("&3-D surface", self, checkable=True)
        act3d.toggled.connect(self.panels.panel("landscape").toggle3d.setChecked)
        view.addAction(act3d)
        actc = QAction("&Controls", self, checkable=True, checked=True)
        actc.toggled.connect(self.controls.setVisible)
        view.addAction(actc)
        self.explain_action = QAction("&Explanation", self, checkable=True, checked=True)
        self.explain_action.setShortcut(QKeySequence("F2"))
        self.explain_action.toggled.connect(self.explain.setVisible)
        view.addAction(self.explain_action)
        self.addAction(self.explain_action)  # F2 works with the menu bar hidden
        view.addSeparator()
        self.panel_actions = {}
        for name in self.panels.panels:  # lab.panels.names.PANEL_NAMES, in order
            act = QAction(name.capitalize(), self, checkable=True)
            act.toggled.connect(lambda on, n=name: self.panels.show_panel(n, on))
            view.addAction(act)
            self.panel_actions[name] = act
        self.session.result_changed.connect(self._sync_panel_actions)
        scen = bar.addMenu("&Scenario")
        for text, key, fn in (("&Lecture mode", "F5", self.lecture.toggle), ("&Next beat", "PgDown", self.lecture.next),
                              ("&Previous beat", "PgUp", self.lecture.previous)):
            act = QAction(text, self)
            act.setShortcut(QKeySequence(key))
            act.triggered.connect(fn)
            scen.addAction(act)
            self.addAction(act)  # PageDown/PageUp/F5 work with the menu bar hidden (lecture mode)

    def _shortcuts(self) -> None:
        keys = {"Space": lambda: self.explain.reveal() or self.player.toggle(),  # a predict beat's answer first
                "Right": lambda: self.player.step(1), "Left": lambda: self.player.step(-1),
                "Home": lambda: self.session.set_frame(0), "End": lambda: self.session.set_frame(self.session.steps),
                "N": self.lecture.next, "P": self.lecture.previous, "Escape": self.lecture.leave}
        self._keys = []
        for key, fn in keys.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.activated.connect(fn)
            self._keys.append(sc)

    def event(self, event: Any) -> bool:
        """A focused editor keeps the keys it uses (:func:`editor_keeps`): accepting the
        ShortcutOverride delivers the key to the editor instead of firing the window's shortcut."""
        if event.type() == QEvent.Type.ShortcutOverride and editor_keeps(QApplication.focusWidget(), event.key(),
                                                                         event.modifiers()):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        """Enter in a field commits it (the field ignores the key, so it arrives here): the focus
        then goes back to the window, so Space plays and the arrows step again."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            focus = QApplication.focusWidget()
            if isinstance(focus, QLineEdit | QAbstractSpinBox):
                self.setFocus(Qt.FocusReason.OtherFocusReason)
                event.accept()
                return
        super().keyPressEvent(event)

    # -- files ---------------------------------------------------------------------------------------
    def open(self, path: str | Path) -> bool:
        """Opens a scenario; a file that fails shows its LabError and keeps the current session."""
        if self.player.playing:
            self.player.pause()
        if not self._code_allowed(path):
            return False
        ok = self.session.open(path)
        if ok:
            self.banner.show_message("")
            self.origin = self.session.scenario
            self._title()
            self.lecture.reset()
            self._caption_for(self.session.frame)
        return ok

    def _code_allowed(self, path: str | Path) -> bool:
        """A scenario that runs Python code (``kind = "module"``) opens only after the user allowed
        that file in a dialog naming it (core.problems.module.allow: for the rest of the session)."""
        from core.problems.module import allow, code_file, is_trusted
        from core.scenario.io import load

        try:
            code = code_file(load(path))
        except (LabError, OSError):
            return True  # session.open reports the problem with the file itself
        if code is None or is_trusted(code):
            return True
        answer = QMessageBox.warning(
            self, "This lesson runs Python code",
            f"{Path(path).name} loads and runs the Python file\n\n{code}\n\nwith your permissions. "
            "Run it only if you trust that file. Run it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            self.banner.show_message(f"{Path(path).name}: not opened: it runs Python code from {code} and was not allowed")
            return False
        allow(code)
        return True

    def open_dialog(self) -> None:
        if not self._may_discard():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open scenario", str(SHIPPED), "Scenarios (*.toml)")
        if path:
            self.open(path)

    def save(self) -> None:
        """Saves over the open file, except a shipped lesson (``scenarios/`` of the program): that
        one is never overwritten from the app, Save asks for a new name instead."""
        if self.session.path is None or _shipped(self.session.path):
            self.save_as()
        else:
            self._save_to(self.session.path)

    def save_as(self) -> None:
        """Asks for a file name; the dialog starts beside the open file, or, for a shipped lesson
        or a new scenario, in :func:`user_folder` (a shipped file is never offered)."""
        current = self.session.path
        if current is None or _shipped(current):
            folder = user_folder()
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError:
                folder = Path.home()
            suggested = folder / (current.name if current is not None else "scenario.toml")
        else:
            suggested = current
        path, _ = QFileDialog.getSaveFileName(self, "Save scenario", str(suggested), "Scenarios (*.toml)")
        if path:
            self._save_to(Path(path))

    def _save_to(self, path: Path) -> None:
        if _shipped(path):
            self.banner.show_message(f"not saved: {path.name} is a lesson shipped with {APP_NAME} "
                                     f"({SHIPPED}), which is never overwritten; save it under another "
                                     f"name, e.g. in {user_folder()}")
            return
        try:
            self.session.save(path)
        except (LabError, OSError) as exc:
            self.banner.show_message(f"could not save: {exc}")

    def export_dialog(self, kind: str) -> None:
        filters = {"png": "PNG (*.png)", "panel": "PNG (*.png)", "gif": "GIF (*.gif)", "mp4": "MP4 (*.mp4)", "csv": "CSV (*.csv)"}
        suffix = {"panel": "png"}.get(kind, kind)
        stem = self.session.path.stem if self.session.path else "scenario"
        path, _ = QFileDialog.getSaveFileName(self, "Export", f"{stem}.{suffix}", filters[kind])
        if not path:
            return
        if not Path(path).suffix:  # the suffix added here: the dialog never asked about that file
            path = f"{path}.{suffix}"
            if Path(path).exists() and QMessageBox.question(
                    self, APP_NAME, f"{Path(path).name} already exists. Replace it?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:
                return
        self.export_to(kind, path)

    def export_to(self, kind: str, path: str | Path) -> bool:
        """Writes one export (``png``, ``panel``, ``gif``, ``mp4``, ``csv``) to ``path`` through
        :mod:`lab.export` (a temporary sibling renamed on success: a failure leaves the earlier file
        as it was); every failure (a bad suffix, no permission, a missing folder, Ctrl-C) is shown
        in the banner, never raised into the event loop. True when written. An animation
        (``gif``, ``mp4``) runs in the background (:func:`lab.export.run_in_app`: an offscreen copy
        of the panels drawn in QTimer slices, encoded in a worker, a progress dialog with Cancel):
        True when it started; its end comes to :meth:`_export_done`."""
        from lab import export

        try:
            if kind == "png":
                export.png(self, path)
            elif kind == "panel":
                export.png(self.panels.panel("landscape"), path)
            elif kind == "csv":
                export.csv(self.session, path)
            else:
                export.run_in_app(self, self.session, self.panels, path, done=self._export_done)
        except (LabError, OSError) as exc:
            self.banner.show_message(f"could not export: {exc}")
            return False
        except KeyboardInterrupt:
            self.banner.show_message(f"export interrupted; {path} was not written")
            return False
        finally:
            self._busy("")
        return True

    def _export_done(self, ok: bool, message: str) -> None:
        """An animation export ended: a failure or a cancel in the banner (nothing was written)."""
        self._export = None
        if not ok:
            self.banner.show_message(message)

    def _sync_panel_actions(self) -> None:
        for name, act in self.panel_actions.items():
            act.blockSignals(True)
            act.setChecked(self.panels.panel(name).isVisibleTo(self.panels))
            act.blockSignals(False)

    # -- session signals ---------------------------------------------------------------------------
    def _error(self, path: str, message: str) -> None:
        if message and not path:
            self.banner.show_message(message)

    def _busy(self, message: str) -> None:
        self.busy_label.setText(message)
        self.panels.panel("landscape").note.setText(message)  # the loading state, where the eye is
        self.progress.setVisible(bool(message))
        self.cancel_button.setVisible(bool(message))
        if message:
            self.progress.setRange(0, 0)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def stale(self) -> bool:
        """True when the problem kind is no longer the file's: its title, captions and
        expectations describe the original problem, so the window marks them (the title says
        "(edited: problem changed)", the caption bar says whose captions they are)."""
        scenario, origin = self.session.scenario, self.origin
        return scenario is not None and origin is not None and scenario.problem.kind != origin.problem.kind

    def stale_note(self) -> str:
        return (f"This lesson's captions are for its original problem ({self.origin.problem.kind}); "
                f"the problem is now {self.session.scenario.problem.kind}.")

    def _title(self, *_: Any) -> None:
        """``title - app`` with Qt's ``[*]`` modified mark (shown while there are unsaved edits)."""
        scenario = self.session.scenario
        name = self.session.path.name if self.session.path else "untitled"
        title = getattr(scenario, "title", "") or name
        if self.stale():
            title += " (edited: problem changed)"
        self.setWindowTitle(f"{title}[*] - {APP_NAME}")
        self.setWindowModified(bool(self.session.dirty))

    def _reserve_captions(self) -> None:
        """The caption bar's height for this lesson's texts (:meth:`Caption.reserve`)."""
        sc = self.session.scenario
        beats = getattr(sc, "beats", ()) or ()
        texts = [getattr(sc, "title", "") or ""] + [t for b in beats for t in (b.caption, getattr(b, "predict", None)) if isinstance(t, str)]
        self.caption.reserve(texts)

    def _caption_for(self, step: int) -> None:
        """Outside lecture mode the caption follows the timeline: the last beat at or before the
        step; once the problem kind changed (:meth:`stale`) it says the captions are not for it."""
        if self.lecture.active:
            if self.lecture.index >= 0 and not self.stale():  # the beat's live fields follow the frame
                self.caption.setText(self.explain.text_for(self.lecture.index))
            return
        if self.stale():
            self.caption.setText(self.stale_note())
            return
        beats = getattr(self.session.scenario, "beats", ()) or ()
        k = self.explain.beat_at(step)  # its question while it asks, else its caption, fields filled
        text = "" if k is None else self.explain.text_for(k)
        if not beats and self.session.scenario is not None and step == 0:
            text = self.session.scenario.title
        self.caption.setText(text)

    # -- closing -------------------------------------------------------------------------------------
    def _confirm_large(self, question: str) -> bool:
        """Asks before a run over the budget (core.budget): Yes runs it, No keeps what is shown."""
        answer = QMessageBox.question(self, APP_NAME, question, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _may_discard(self) -> bool:
        if not self.session.dirty:
            return True
        answer = QMessageBox.question(self, APP_NAME, "The scenario has unsaved changes. Save them first?",
                                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                                      | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            self.save_as() if self.session.path is None else self.save()
            return not self.session.dirty
        return answer == QMessageBox.StandardButton.Discard

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        if self._may_discard():
            self.player.pause()
            self.session.cancel()
            self.panels.shutdown()
            event.accept()
        else:
            event.ignore()


def _shipped(path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(SHIPPED)
    except OSError:
        return False


def first_frame(window: MainWindow, path: str | Path, lecture: bool = False) -> None:
    """Loads the scenario after the window is on screen, so the window appears before torch loads."""
    def load() -> None:
        window.open(path)
        if lecture:
            window.lecture.enter()
    QTimer.singleShot(0, load)
