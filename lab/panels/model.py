"""The model view (nets on low-dimensional data): placeholder until core exposes predictions."""

from __future__ import annotations

from typing import Any

from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget


class ModelPanel(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("<b>Model</b>"))
        self.note = QLabel("")
        lay.addWidget(self.note, 1)
