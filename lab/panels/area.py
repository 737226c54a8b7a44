"""The panel area: :class:`PanelArea` lays out the panels, the landscape on the left and
convergence / eigen / model stacked on the right (the design card's layout); the scenario's
``view.panels`` says which are shown. Without the landscape (a net's many parameters) the right
panels stand side by side on a wide area (lecture mode at 1280 x 720: three stacked plots would
each get a strip too short to read), stacked on a tall one. The main window and the offscreen snapshot share it."""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from lab.panels.names import PANEL_CLASSES, PANEL_NAMES, RIGHT


def panel_class(name: str) -> type[QWidget]:
    """The widget class of panel ``name`` (:data:`lab.panels.names.PANEL_CLASSES`)."""
    import importlib

    module, _, cls = PANEL_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


class PanelArea(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.panels: dict[str, QWidget] = {name: panel_class(name)(session) for name in PANEL_NAMES}
        self.right = QSplitter(Qt.Orientation.Vertical)
        for name in RIGHT:
            self.right.addWidget(self.panels[name])
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.panels["landscape"])
        self.split.addWidget(self.right)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.split)
        session.result_changed.connect(self.apply_view)

    def shown(self) -> tuple[str, ...]:
        scenario = self.session.scenario
        names = tuple(getattr(getattr(scenario, "view", None), "panels", ()) or ("landscape", "convergence"))
        view = self.session.view
        if view is not None and view.dim > 2 and self.session.result is not None and getattr(self.session.result, "surface", None) is None:
            names = tuple(n for n in names if n != "landscape")
        return names

    def show_panel(self, name: str, on: bool) -> None:
        """The View menu: shows or hides one panel for this session (the scenario keeps its list)."""
        self.panels[name].setVisible(on)
        self.right.setVisible(any(self.panels[n].isVisibleTo(self) for n in RIGHT))
        if on:
            self.panels[name].refresh()

    def apply_view(self) -> None:
        shown = self.shown()
        for name, panel in self.panels.items():
            panel.setVisible(name in shown)
        self.right.setVisible(any(n in shown for n in RIGHT))
        self._orient()

    def _orient(self) -> None:
        """Side by side when the landscape is hidden and the area is wider than tall (x 1.2)."""
        wide = self.width() > 1.2 * self.height() and not self.panels["landscape"].isVisibleTo(self)
        want = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.right.orientation() != want:
            self.right.setOrientation(want)
            self.right.setSizes([1_000_000] * self.right.count())  # equal shares (the splitter scales them)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._orient()

    def set_font_size(self, points: int | None) -> None:
        """Large fonts for lecture mode (``None`` restores the defaults)."""
        for panel in self.panels.values():
            if hasattr(panel, "set_font_size"):
                panel.set_font_size(points)

    def highlight(self, label: str | None) -> None:
        """Emphasises one trajectory (or every trajectory of an optimizer entry) on every panel."""
        for panel in self.panels.values():
            if hasattr(panel, "highlight"):
                panel.highlight(label)

    def flush(self) -> None:
        """Brings every throttled panel up to the current step."""
        for panel in self.panels.values():
            if hasattr(panel, "flush") and panel.isVisible():
                panel.flush()

    def shutdown(self) -> None:
        """Stops every timer before the window goes (pyqtgraph deletes its items on close)."""
        for panel in self.panels.values():
            if hasattr(panel, "shutdown"):
                panel.shutdown()

    def panel(self, name: str) -> QWidget:
        return self.panels[name]
