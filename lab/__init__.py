"""The desktop lab (PyQt6 + pyqtgraph): a thin view over core/, see docs/lab.md."""
