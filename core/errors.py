"""The one error type users see. Everything a person can get wrong (a scenario key, a formula, a
hyperparameter, a missing file) raises :class:`LabError` with a message that says what and where;
the CLI and the GUI print it as one line, never a traceback."""

from __future__ import annotations


class LabError(ValueError):
    """A user-facing error. ``path`` is where it happened (a dotted key path such as
    ``optimizers[1].lr``, or a file name), ``message`` what is wrong and what is allowed."""

    def __init__(self, message: str, path: str = "", file: str = "") -> None:
        self.message = message
        self.path = path
        self.file = file
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.path) if p)
        return f"{where}: {self.message}" if where else self.message

    def at(self, path: str = "", file: str = "") -> "LabError":
        """The same error, located deeper: ``path`` is prefixed to the existing key path."""
        inner = self.path
        joined = path + (("" if inner.startswith("[") else ".") + inner if inner and path else inner)
        return LabError(self.message, joined or path, file or self.file)
