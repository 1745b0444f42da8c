"""Checks of single JSON values, shared by every record reader.

JSON has no integer/boolean distinction that Python keeps (``True`` is an
``int``), and an integer may be too large for a float; these helpers say
what each reader means by "an integer" and "a finite number".
"""

from __future__ import annotations

import math
from typing import Any


def is_int(v: Any) -> bool:
    """A JSON integer, not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def as_float(v: Any) -> float | None:
    """A JSON number as a float; None for anything else (a bool, or an int beyond float's range)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return None
    try:
        return float(v)
    except OverflowError:
        return None


def finite_number(v: Any) -> bool:
    """A finite JSON number, not a bool (an int beyond float's range is not one)."""
    x = as_float(v)
    return x is not None and math.isfinite(x)
