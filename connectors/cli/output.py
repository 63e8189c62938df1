"""How a command prints its data: a table by default, ``-o json`` or ``-o csv`` for scripts.

The convention of gh and kubectl: people read tables, scripts ask for a format. Every command
that prints data takes ``-o/--output table|json|csv`` (added by ``connectors.cli.main`` to each
such command; ``gpuhours -o json ...`` before the command works too). The data is the same in
every format — the JSON the API answers with:

- ``json``: that JSON, indented;
- ``csv``: one row per item, a header of every field, nested objects flattened to dotted
  columns (``allocated.hours``), lists of values joined with ``,``, other lists as compact
  JSON; each cell through ``accounting.report.spreadsheet_safe`` (no formula runs);
- ``table``: the columns the command names (every field otherwise), aligned, long cells cut
  with ``…``, a list of objects as ``a/b, c/d``; a single object as ``FIELD  VALUE`` lines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from accounting.report import spreadsheet_safe

FORMATS = ("table", "json", "csv")
_KEY = "gpuhours.output"
_WIDTH = 48


def _remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta[_KEY] = value


def output_option() -> click.Option:
    """The ``-o/--output`` option, as a parameter to add to a command or a group."""
    return click.Option(
        ["-o", "--output", "output_format"],
        type=click.Choice(FORMATS),
        default=None,
        expose_value=False,
        callback=_remember,
        help="Output format: table (default), json or csv.",
    )


def chosen() -> str:
    ctx = click.get_current_context(silent=True)
    return str(ctx.meta.get(_KEY, "table")) if ctx is not None else "table"


Column = str | tuple[str, Callable[[Any], str]]


def emit(data: Any, columns: Sequence[Column] = ()) -> None:
    """Print ``data`` (a JSON value: a list of objects, or one object) in the chosen format;
    ``columns``: the table's columns, each a dotted path into an object or a header and a
    function of the object."""
    fmt = chosen()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    elif fmt == "csv":
        click.echo(to_csv(data), nl=False)
    else:
        click.echo(to_table(data, columns), nl=False)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """An object's fields, nested objects as dotted keys (``{"a": {"b": 1}}`` -> ``a.b``)."""
    if not isinstance(value, Mapping):
        return {prefix or "value": value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping) and item:
            out.update(flatten(item, name))
        else:
            out[name] = item
    return out


def cell(value: Any, table: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        if all(not isinstance(v, Mapping | list | tuple) for v in value):
            return ",".join(cell(v) for v in value)
        if table and all(isinstance(v, Mapping) for v in value):  # accounts: cluster/account
            return ", ".join("/".join(cell(x) for x in v.values()) for v in value)
        return json.dumps(value, separators=(",", ":"), default=str)
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _rows(data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else [data]
    return [flatten(item) for item in items]


def _header(rows: list[dict[str, Any]]) -> list[str]:
    header: dict[str, None] = {}
    for row in rows:
        header.update(dict.fromkeys(row))
    return list(header)


def to_csv(data: Any) -> str:
    rows = _rows(data)
    header = _header(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([spreadsheet_safe(cell(row.get(k))) for k in header])
    return buf.getvalue()


def _cut(text: str) -> str:
    text = " ".join(text.split())  # a newline would break the row
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def _aligned(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    return "\n".join(out) + "\n"


def to_table(data: Any, columns: Sequence[Column] = ()) -> str:
    if isinstance(data, Mapping):
        pairs = [[k.upper(), " ".join(cell(v).split())] for k, v in flatten(data).items()]
        return _aligned([["FIELD", "VALUE"], *pairs]) if pairs else ""
    rows = _rows(data)
    if rows and "value" in rows[0] and len(rows[0]) == 1:  # a list of plain values
        return "".join(f"{cell(r['value'])}\n" for r in rows)
    header = list(columns) or _header(rows)
    lines = [[(h if isinstance(h, str) else h[0]).upper() for h in header]]
    for item, row in zip(data, rows, strict=True):
        lines.append([_cut(_value(item, row, h)) for h in header])
    return _aligned(lines)


def _value(item: Any, row: dict[str, Any], column: Column) -> str:
    if isinstance(column, str):
        return cell(row.get(column), table=True)
    return column[1](item)
