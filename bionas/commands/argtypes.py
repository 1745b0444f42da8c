"""Argument types shared by every subcommand: checked numbers with one message style.

Each factory returns an ``argparse`` type whose error reads
``expected <what>, got '<text>'``; argparse then names the flag.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An integer, at least ``minimum`` and at most ``maximum`` when given."""
    if maximum is None:
        what = "an integer" if minimum is None else f"an integer >= {minimum}"
    else:
        what = f"an integer in [{minimum}, {maximum}]" if minimum is not None else f"an integer <= {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def number(
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Callable[[str], float]:
    """A finite number within ``[low, high]`` (``(`` or ``)`` where ``*_open``)."""
    if low is None and high is None:
        what = "a finite number"
    elif high is None:
        what = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif low is None:
        what = f"a finite number {'<' if high_open else '<='} {high:g}"
    else:
        what = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        ok = math.isfinite(value)
        if low is not None:
            ok = ok and (value > low if low_open else value >= low)
        if high is not None:
            ok = ok and (value < high if high_open else value <= high)
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def boolean(text: str) -> bool:
    """``true``/``false`` (also ``yes``/``no``, ``1``/``0``), any case."""
    value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
        text.strip().lower()
    )
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


positive_int = integer(1)
non_negative_int = integer(0)
#: A random seed: numpy takes 0 .. 2**32 - 1.
seed = integer(0, 2**32 - 1)
finite_float = number()
non_negative_float = number(0)
positive_float = number(0, low_open=True)


def required(parser: argparse.ArgumentParser, flag: str, metavar: str, help: str, **kw) -> None:
    """A required flag naming a file or value."""
    parser.add_argument(flag, required=True, metavar=metavar, help=help, **kw)


def option(parser: argparse.ArgumentParser, flag: str, kind, default, help: str, **kw) -> None:
    """An optional checked flag with a default, shown in ``--help``."""
    parser.add_argument(flag, type=kind, default=default, help=f"{help} (default: %(default)s)", **kw)
