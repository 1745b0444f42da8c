"""HTML building blocks of the report: escaping, tables, images, links, the page shell.

The page is one file with its style sheet inline and every image a
``data:`` URI, so it reads the same offline, copied elsewhere or attached to
an e-mail; only the links to the run's files are relative paths.
"""

from __future__ import annotations

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

STYLE = """
:root { --fg: #1d2733; --muted: #5b6876; --line: #d8dee6; --bg-alt: #f5f7fa;
        --ok: #1f7a3a; --bad: #b3261e; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--fg); margin: 0; background: #fff; }
header { background: #16324f; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 24px; font-weight: 600; }
header p { margin: 4px 0 0; color: #c9d6e3; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line);
      padding: 8px 32px; z-index: 1; }
nav a { margin-right: 18px; color: var(--accent); text-decoration: none; font-weight: 500; }
main { padding: 8px 32px 48px; max-width: 1280px; }
section { margin-top: 28px; }
h2 { font-size: 20px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 22px 0 6px; }
p.note { color: var(--muted); margin: 4px 0 10px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
         vertical-align: middle; }
th { background: var(--bg-alt); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.sig td { background: #eef7f0; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
                   font-size: 12.5px; }
pre { background: var(--bg-alt); padding: 10px 12px; overflow-x: auto; border-radius: 4px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; min-width: 170px; }
.card .value { font-size: 24px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 13px; }
.card.good .value { color: var(--ok); }
.card.bad .value { color: var(--bad); }
.yes { color: var(--ok); font-weight: 600; }
.no { color: var(--bad); font-weight: 600; }
img.plot { max-width: 100%; height: auto; display: block; margin: 6px 0 12px; }
img.logo { display: block; max-width: 400px; height: auto; }
.scroll { overflow-x: auto; }
details { margin: 8px 0 14px; }
summary { cursor: pointer; color: var(--accent); }
ul.files li { margin: 2px 0; }
"""


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


def table(
    df: pd.DataFrame,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    raw: Sequence[str] = (),
    row_class: Callable[[pd.Series], str] | None = None,
) -> str:
    """An HTML table of ``df``'s columns.

    ``formats``: column -> function returning text (escaped afterwards);
    columns in ``raw`` hold HTML already; numbers are right-aligned.
    """
    formats = dict(formats or {})
    headers = dict(headers or {})
    head = "".join(f"<th>{esc(headers.get(c, c))}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = []
        for col in df.columns:
            value = row[col]
            numeric = isinstance(value, numbers.Number) and not isinstance(value, bool)
            if col in raw:
                text = "" if value is None else str(value)
            elif col in formats:
                text = esc(formats[col](value))
            elif numeric:
                text = esc(fmt_number(value))
            else:
                text = "" if _missing(value) else esc(value)
            cls = ' class="num"' if numeric and col not in raw else ""
            cells.append(f"<td{cls}>{text}</td>")
        klass = row_class(row) if row_class else ""
        attr = f' class="{esc(klass)}"' if klass else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def img(uri: str, alt: str, css: str = "plot") -> str:
    """An ``<img>`` with a data URI."""
    return f'<img class="{esc(css)}" alt="{esc(alt)}" src="{uri}">'


def relative_href(target: str | PathLike, page_dir: str | PathLike) -> str:
    """A URL path from the page's directory to ``target`` (percent-encoded, ``/``-separated)."""
    rel = os.path.relpath(Path(target).resolve(), Path(page_dir).resolve())
    return "/".join(quote(part) for part in Path(rel).parts)


def link(target: str | PathLike, page_dir: str | PathLike, text: str | None = None) -> str:
    """``<a href>`` to a file of the run, relative to the page."""
    href = relative_href(target, page_dir)
    return f'<a href="{esc(href)}">{esc(text if text is not None else Path(target).name)}</a>'


def cards(items: Sequence[tuple[str, str, str]]) -> str:
    """Key figures: ``(value, label, css class)`` boxes."""
    boxes = "".join(
        f'<div class="card {esc(cls)}"><div class="value">{esc(value)}</div>'
        f'<div class="label">{esc(label)}</div></div>'
        for value, label, cls in items
    )
    return f'<div class="cards">{boxes}</div>'


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    """The whole document."""
    links = "".join(f'<a href="#{esc(anchor)}">{esc(text)}</a>' for anchor, text in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>\n"
        f"<nav>{links}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
