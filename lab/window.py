"""The main window: controls on the left, the panels in the middle, the player and the caption
below; File / View / Scenario menus; keyboard shortcuts; lecture mode; save and export.

Shortcuts: Space play/pause, Left/Right one step, Home/End first/last step, PageDown/N next beat,
PageUp/P previous beat, F5 lecture mode, Esc leave it, Ctrl+O open, Ctrl+S save, Ctrl+E export PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton,
                             QSplitter, QVBoxLayout, QWidget)

from core.errors import LabError
from lab.controls import Controls
from lab.panels.area import PanelArea
from lab.player import Player
from lab.qt_session import QtSession
from scenarios import FOLDER as SHIPPED  # the lessons shipped with the program

APP_NAME = "Loss Landscape Lab"


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
        self.setWindowTitle(APP_NAME)
        self.resize(1500, 900)
        self.controls = Controls(self.session)
        self.panels = PanelArea(self.session)
        self.player = Player(self.session)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setStyleSheet("font-size: 15px; padding: 4px;")
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
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([370, 1130])
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

    # -- menus and keys ----------------------------------------------------------------------------
    def _menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        for text, key, fn in (("&Open scenario...", "Ctrl+O", self.open_dialog), ("&Save", "Ctrl+S", self.save),
                              ("Save &as...", "Ctrl+Shift+S", self.save_as), (None, None, None),
                              ("Export window &PNG...", "Ctrl+E", lambda: self.export_dialog("png")),
                              ("Export landscape panel PNG...", None, lambda: self.export_dialog("panel")),
                              ("Export animation &GIF...", None, lambda: self.export_dialog("gif")),
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
        view = bar.addMenu("&View")
        act3d = QAction("&3-D surface", self, checkable=True)
        act3d.toggled.connect(self.panels.panel("landscape").toggle3d.setChecked)
        view.addAction(act3d)
        actc = QAction("&Controls", self, checkable=True, checked=True)
        actc.toggled.connect(self.controls.setVisible)
        view.addAction(actc)
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

    def _shortcuts(self) -> None:
        keys = {"Space": self.player.toggle, "Right": lambda: self.player.step(1), "Left": lambda: self.player.step(-1),
                "Home": lambda: self.session.set_frame(0), "End": lambda: self.session.set_frame(self.session.steps),
                "N": self.lecture.next, "P": self.lecture.previous, "Escape": self.lecture.leave}
        self._keys = []
        for key, fn in keys.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.activated.connect(fn)
            self._keys.append(sc)

    # -- files ---------------------------------------------------------------------------------------
    def open(self, path: str | Path) -> bool:
        """Opens a scenario; a file that fails shows its LabError and keeps the current session."""
        if self.player.playing:
            self.player.pause()
        ok = self.session.open(path)
        if ok:
            self.banner.show_message("")
            self.lecture.reset()
            self._caption_for(self.session.frame)
        return ok

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
        path, _ = QFileDialog.getSaveFileName(self, "Save scenario", str(self.session.path or "scenario.toml"), "Scenarios (*.toml)")
        if path:
            self._save_to(Path(path))

    def _save_to(self, path: Path) -> None:
        try:
            self.session.save(path)
        except (LabError, OSError) as exc:
            self.banner.show_message(f"could not save: {exc}")

    def export_dialog(self, kind: str) -> None:
        filters = {"png": "PNG (*.png)", "panel": "PNG (*.png)", "gif": "GIF (*.gif)", "mp4": "MP4 (*.mp4)", "csv": "CSV (*.csv)"}
        suffix = {"panel": "png"}.get(kind, kind)
        stem = self.session.path.stem if self.session.path else "scenario"
        path, _ = QFileDialog.getSaveFileName(self, "Export", f"{stem}.{suffix}", filters[kind])
        if path:
            self.export_to(kind, path if Path(path).suffix else f"{path}.{suffix}")

    def export_to(self, kind: str, path: str | Path) -> bool:
        """Writes one export (``png``, ``panel``, ``gif``, ``mp4``, ``csv``) to ``path`` through
        :mod:`lab.export` (a temporary sibling renamed on success: a failure leaves the earlier file
        as it was); every failure (a bad suffix, no permission, a missing folder, Ctrl-C) is shown
        in the banner, never raised into the event loop. True when written."""
        from lab import export

        try:
            if kind == "png":
                export.png(self, path)
            elif kind == "panel":
                export.png(self.panels.panel("landscape"), path)
            elif kind == "csv":
                export.csv(self.session, path)
            else:
                export.animation(self.session, self.panels, path, progress=self._progress)
        except (LabError, OSError) as exc:
            self.banner.show_message(f"could not export: {exc}")
            return False
        except KeyboardInterrupt:
            self.banner.show_message(f"export interrupted; {path} was not written")
            return False
        finally:
            self._busy("")
        return True

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

    def _title(self, *_: Any) -> None:
        scenario = self.session.scenario
        name = self.session.path.name if self.session.path else "untitled"
        title = getattr(scenario, "title", "") or name
        self.setWindowTitle(f"{'* ' if self.session.dirty else ''}{title} - {APP_NAME}")

    def _caption_for(self, step: int) -> None:
        """Outside lecture mode the caption follows the timeline: the last beat at or before the step."""
        if self.lecture.active:
            return
        beats = getattr(self.session.scenario, "beats", ()) or ()
        text = ""
        for b in beats:
            if b.step <= step:
                text = b.caption
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
