"""One validation for every number or word a user can give: scenario keys, command-line options
(``surface``, ``export``), the app's entry fields. Each reader takes ``(value, path)`` and returns
the normalized value or raises a :class:`LabError` naming the key path, the value (shortened) and
what is allowed. Numbers are finite unless a reader says otherwise: NaN and infinity are never a
meaningful hyperparameter, coordinate or problem parameter here."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from core.errors import LabError
from core.errors import suggest

MAX_SEED = 2**31 - 1
MAX_STEPS = 1_000_000
MAX_RESOLUTION = 4001


def show(value: Any) -> str:
    """``repr(value)`` cut to 60 characters, for echoing input in an error."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(low: int | None = None, high: int | None = None) -> Callable[[Any, str], int]:
    """An integer (not a bool) in ``[low, high]``."""
    def read(value: Any, path: str) -> int:
        ok = not isinstance(value, bool) and isinstance(value, int)
        if not ok or (low is not None and value < low) or (high is not None and value > high):
            want = "an integer" + (f" >= {low}" if low is not None else "") + (f" and <= {high}" if high is not None else "")
            raise LabError(f"expected {want}, got {show(value)}", path)
        return value
    return read


def finite(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool) with a finite float value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond float range
        return False


def number(low: float | None = None, low_open: bool = False, high: float | None = None,
           high_open: bool = False) -> Callable[[Any, str], float]:
    """A finite number, optionally bounded below and/or above (open or closed)."""
    def read(value: Any, path: str) -> float:
        ok = finite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            bound = "" if low is None else f" {'>' if low_open else '>='} {low:g}"
            bound += "" if high is None else f"{' and' if bound else ''} {'<' if high_open else '<='} {high:g}"
            raise LabError(f"expected a finite number{bound}, got {show(value)}", path)
        return float(value)
    return read


def choice(choices: tuple[str, ...] | None = None) -> Callable[[Any, str], str]:
    """A string, one of ``choices`` when given (with a did-you-mean)."""
    def read(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise LabError(f"expected a string, got {show(value)}", path)
        if choices is not None and value not in choices:
            raise LabError(f"{value!r} is not allowed{suggest(value, choices)}; allowed: {', '.join(choices)}", path)
        return value
    return read


def boolean(value: Any, path: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise LabError(f"expected true or false, got {show(value)}", path)
    return value
