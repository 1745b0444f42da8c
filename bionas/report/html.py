"""HTML building blocks of the report: escaping, number formats, tables, the page shell.

The page is one file with its style sheet inline and every image a
``data:`` URI, so it reads the same offline, copied elsewhere or attached to
an e-mail; only the links to the run's files are relative paths.

The markup lives in Jinja2 templates (``bionas/report/templates/``, shipped
as package data), rendered with autoescaping on: every value is escaped
unless the code marks it as HTML with :class:`markupsafe.Markup`. Chosen over
the f-string building it replaced because the templates keep the page's HTML
in one place and escape by default; the page is the same document (only the
spelling of escaped quotes changed: ``&#34;``/``&#39;`` instead of
``&quot;``/``&#x27;``), and it is built as fast (the tiny run's report with
timed without drawing its figures: 90-140 ms either way, noise-dominated; importing
Jinja2 and compiling the templates adds 45 ms once, against about 1.7 s for
the figures).
"""

from __future__ import annotations

import functools
import html
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from markupsafe import Markup


@functools.cache
def environment():
    """The Jinja2 environment of the report's templates (autoescape on, loaded once)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("bionas.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        finalize=lambda value: "" if value is None else value,
    )
    env.filters.update(number=fmt_number, p=fmt_p, seconds=fmt_seconds, int_=fmt_int)
    return env


def render(template: str, **context: Any) -> Markup:
    """A template of ``bionas/report/templates/`` rendered with ``context`` (HTML)."""
    return Markup(environment().get_template(template).render(**context))


def esc(value: Any) -> str:
    """Text for HTML (``&``, ``<``, ``>`` and quotes escaped)."""
    return html.escape("" if value is None else str(value), quote=True)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number for a table: ``NA`` when missing, integers as such, tiny or huge floats in e-notation."""
    if _missing(value):
        return "NA"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    x = float(value)
    if x != 0 and (abs(x) < 10 ** -(digits - 1) or abs(x) >= 1e6):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def fmt_int(value: Any) -> str:
    """An integer stored as a float (a column with missing values): ``12.0`` -> ``12``."""
    return "NA" if _missing(value) else str(int(round(float(value))))


def fmt_p(value: Any) -> str:
    """A p- or q-value: two significant digits."""
    if _missing(value):
        return "NA"
    return f"{float(value):.2g}"


def fmt_seconds(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``12.3 s``."""
    if seconds is None or not math.isfinite(seconds):
        return "NA"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def _macro(name: str) -> Callable[..., Markup]:
    return getattr(environment().get_template("macros.html").module, name)


def table(
    df: pd.DataFrame,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    raw: Sequence[str] = (),
    row_class: Callable[[pd.Series], str] | None = None,
) -> Markup:
    """An HTML table of ``df``'s columns.

    ``formats``: column -> function returning text (escaped afterwards);
    columns in ``raw`` hold HTML already; numbers are right-aligned.
    """
    formats = dict(formats or {})
    headers = dict(headers or {})
    rows = []
    for _, row in df.iterrows():
        cells = []
        for col in df.columns:
            value = row[col]
            numeric = isinstance(value, numbers.Number) and not isinstance(value, bool)
            if col in raw:
                text: str = Markup("" if value is None else str(value))
            elif col in formats:
                text = formats[col](value)
            elif numeric:
                text = fmt_number(value)
            else:
                text = "" if _missing(value) else str(value)
            cells.append({"text": text, "num": numeric and col not in raw})
        rows.append({"cls": row_class(row) if row_class else "", "cells": cells})
    model = {"headers": [headers.get(c, c) for c in df.columns], "rows": rows}
    return _macro("table")(model)


def img(uri: str, alt: str, css: str = "plot") -> Markup:
    """An ``<img>`` with a data URI."""
    return _macro("img")(uri, alt, css)


def relative_href(target: str | PathLike, page_dir: str | PathLike) -> str:
    """A URL path from the page's directory to ``target`` (percent-encoded, ``/``-separated)."""
    rel = os.path.relpath(Path(target).resolve(), Path(page_dir).resolve())
    return "/".join(quote(part) for part in Path(rel).parts)


def link(target: str | PathLike, page_dir: str | PathLike, text: str | None = None) -> Markup:
    """``<a href>`` to a file of the run, relative to the page."""
    href = relative_href(target, page_dir)
    name = text if text is not None else Path(target).name
    return Markup('<a href="{}">{}</a>').format(href, name)


def cards(items: Sequence[tuple[str, str, str]]) -> Markup:
    """Key figures: ``(value, label, css class)`` boxes."""
    return _macro("cards")(items)


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    """The whole document; ``body`` is HTML."""
    shell = render("page.html", title=title, subtitle=subtitle, nav=nav, body=Markup(body))
    return str(shell) + "\n"
