"""The one error type users see. Everything a person can get wrong (a scenario key, a formula, a
hyperparameter, a missing file) raises :class:`LabError` with a message that says what and where;
the CLI and the GUI print it as one line, never a traceback."""

from __future__ import annotations

import difflib
import unicodedata

#: the longest one-line error a user is shown; longer input echoed in it is cut in the middle
MAX_MESSAGE = 400


def printable(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` made safe for one terminal line: newlines, control and bidi/format characters
    (which could reorder or hide what is printed) escaped as ``\\n`` / ``\\u202e``, and
    anything past ``limit`` characters cut in the middle with a count of what was left out."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\n")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    s = "".join(out)
    if len(s) > limit:
        keep = (limit - 30) // 2
        s = f"{s[:keep]} ...({len(s) - 2 * keep:,} characters)... {s[-keep:]}"
    return s


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
        return printable(f"{where}: {self.message}" if where else self.message)

    def at(self, path: str = "", file: str = "") -> "LabError":
        """The same error, located deeper: ``path`` is prefixed to the existing key path."""
        inner = self.path
        joined = path + (("" if inner.startswith("[") else ".") + inner if inner and path else inner)
        return LabError(self.message, joined or path, file or self.file)


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """A " (did you mean 'x'?)" for the closest of ``choices``, or ""."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Cancelled(LabError):
    """Long work (a run, a landscape grid, a spectrum, an export) stopped because its ``cancel()``
    callback said so: the one cancellation type of the whole tree, so every caller catches one
    class (the CLI reports it as one line, the app drops the stale answer)."""

    def __init__(self, message: str = "cancelled", path: str = "") -> None:
        super().__init__(message, path)
