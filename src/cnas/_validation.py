"""Argument checks shared by the public constructors."""

from __future__ import annotations

import math

__all__ = ["check_finite", "check_int"]


def check_finite(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number (not a bool).

    Raises:
        ValueError: naming the argument and the bad value (NaN and infinities included).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``.

    Raises:
        ValueError: naming the argument and the bad value.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value
