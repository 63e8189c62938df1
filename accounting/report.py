"""The quarterly report per pool, chair and project, and its renderings (JSON, CSV, HTML).

Pure: rows in, text out; no clock (a closed report carries its close time, an open one none),
so the same figures always render to the same bytes. Amounts in rows are unit-seconds of the
pool's unit; renderings for people (CSV, HTML) show hours with two decimals, JSON keeps the
exact integers and gives hours beside them (``<name>_hours``, to the millihour).

Every format says whether the period is **open** (figures may still change) or **closed**
(signed off: JSON ``state``, CSV column ``state``, the HTML's first line). What the close does
with unused hours (``expired``, ``carried``, ``returned``) is known only once it happened: in
an open report those figures are left out in every format (JSON ``null``, CSV empty cells,
HTML no such columns), never shown as if they were final. No format writes a negative zero
(``-0.00``): an amount that rounds to zero is ``0.00``.

Rows, one level each:

``pool``     capacity (deposits - withdrawals), allocated (to chairs), consumption of every
             account routed to the pool (unmapped accounts included), remaining = capacity -
             consumed - provisional, the statement's total and the difference;
``chair``    allocated = net received from the pool; consumption of its projects;
``project``  allocated, adjustments (every non-allocation ledger entry: reconciliation
             adjustments, carry-overs in), clawed (hours regulation reclaimed in the period:
             already out of allocated, shown apart), consumed (final, late included), provisional,
             remaining, the statement, difference and reconciliation status, and at close what
             the pool's policy did with the unused hours (expired / carried / returned).
Project ``""`` under a pool is usage of Slurm accounts that no project is mapped to.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from html import escape

from allocator.hours import in_hours

HOUR = 3600

#: What the close's policy did with a project's unused hours: figures of closed reports only.
CLOSE_FIGURES = ("expired", "carried", "returned")


@dataclass(frozen=True, slots=True)
class Row:
    level: str  # "pool" | "chair" | "project"
    pool: str
    chair: str = ""
    project: str = ""
    unit: str = ""
    capacity: int = 0
    allocated: int = 0
    adjustments: int = 0
    #: hours reclaimed by regulation (GENCI/TGCC) in the period, already out of ``allocated``
    clawed: int = 0
    consumed: int = 0
    provisional: int = 0
    late: int = 0
    gpu_seconds: int = 0
    unpriced_gpu_seconds: int = 0
    statement: int | None = None
    basis: str = ""
    difference: int | None = None
    status: str = ""
    expired: int = 0
    carried: int = 0
    returned: int = 0

    @property
    def available(self) -> int:
        if self.level == "pool":
            return self.capacity
        return self.allocated + self.adjustments

    @property
    def remaining(self) -> int:
        return self.available - self.consumed - self.provisional

    @property
    def utilisation_permille(self) -> int | None:
        if self.available <= 0:
            return None
        return (self.consumed + self.provisional) * 1000 // self.available


@dataclass(frozen=True, slots=True)
class Report:
    period: str
    rows: tuple[Row, ...]
    closed_at: str | None = None
    closed_by: str | None = None

    def pools(self) -> list[Row]:
        return [r for r in self.rows if r.level == "pool"]

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def state(self) -> str:
        """``closed`` (signed off, final) or ``open`` (figures may still change)."""
        return "closed" if self.closed else "open"

    def close_figure(self, row: Row, name: str) -> int | None:
        """``expired``, ``carried`` or ``returned`` of ``row``; ``None`` while the period is
        open (the close has not happened: there is nothing final to show)."""
        return getattr(row, name) if self.closed else None


def hours(seconds: int | None) -> str:
    """Exact to the hundredth, rounded half away from zero: 5400 -> '1.50'; never a negative
    zero (-1 -> '0.00')."""
    if seconds is None:
        return ""
    hundredths = (abs(seconds) * 100 + HOUR // 2) // HOUR
    sign = "-" if seconds < 0 and hundredths else ""
    return f"{sign}{hundredths // 100}.{hundredths % 100:02d}"


def _order(r: Row) -> tuple[str, int, str, str]:
    return (r.pool, {"pool": 0, "chair": 1, "project": 2}[r.level], r.chair, r.project)


def assemble(
    period: str,
    pools: Sequence[Row],
    chairs: Sequence[Row],
    projects: Sequence[Row],
    closed_at: str | None = None,
    closed_by: str | None = None,
) -> Report:
    """Fill the pool and chair totals from the project rows and sort everything."""
    by_chair: dict[tuple[str, str], list[Row]] = {}
    by_pool: dict[str, list[Row]] = {}
    for p in projects:
        by_chair.setdefault((p.pool, p.chair), []).append(p)
        by_pool.setdefault(p.pool, []).append(p)

    def totals(rows: Sequence[Row]) -> dict[str, int]:
        return {
            "consumed": sum(r.consumed for r in rows),
            "provisional": sum(r.provisional for r in rows),
            "late": sum(r.late for r in rows),
            "gpu_seconds": sum(r.gpu_seconds for r in rows),
            "unpriced_gpu_seconds": sum(r.unpriced_gpu_seconds for r in rows),
            "adjustments": sum(r.adjustments for r in rows),
            "clawed": sum(r.clawed for r in rows),
            "expired": sum(r.expired for r in rows),
            "carried": sum(r.carried for r in rows),
            "returned": sum(r.returned for r in rows),
        }

    def stated(rows: Sequence[Row]) -> dict[str, object]:
        known = [r for r in rows if r.statement is not None]
        if not known:
            return {}
        return {
            "statement": sum(r.statement or 0 for r in known),
            "difference": sum(r.difference or 0 for r in rows if r.difference is not None),
        }

    out = [Row(**{**asdict(c), **totals(by_chair.get((c.pool, c.chair), []))}) for c in chairs]
    for pool in pools:
        rows = by_pool.get(pool.pool, [])
        merged = {**asdict(pool), **totals(rows), **stated(rows)}
        merged["adjustments"] = 0
        out.append(Row(**merged))
    out.extend(projects)
    return Report(period, tuple(sorted(out, key=_order)), closed_at, closed_by)


# --- JSON ---------------------------------------------------------------------------------


#: Amounts of a row (unit-seconds), each given in hours too in JSON: ``name -> name_hours``.
JSON_HOURS = {
    "capacity": "capacity_hours",
    "allocated": "allocated_hours",
    "adjustments": "adjustments_hours",
    "clawed": "clawed_hours",
    "available": "available_hours",
    "consumed": "consumed_hours",
    "provisional": "provisional_hours",
    "late": "late_hours",
    "remaining": "remaining_hours",
    "gpu_seconds": "gpu_hours",
    "unpriced_gpu_seconds": "unpriced_gpu_hours",
    "statement": "statement_hours",
    "difference": "difference_hours",
    "expired": "expired_hours",
    "carried": "carried_hours",
    "returned": "returned_hours",
}


def _json_row(report: Report, r: Row) -> dict[str, object]:
    item: dict[str, object] = asdict(r)
    item["available"] = r.available
    item["remaining"] = r.remaining
    item["utilisation_permille"] = r.utilisation_permille
    for name in CLOSE_FIGURES:
        item[name] = report.close_figure(r, name)
    for name, in_h in JSON_HOURS.items():
        seconds = item[name]
        item[in_h] = in_hours(seconds) if isinstance(seconds, int) else None
    return item


def to_json(report: Report) -> str:
    """Deterministic JSON: exact integers and their hours, derived figures included, the
    state (``open`` / ``closed``), keys sorted."""
    doc = {
        "period": report.period,
        "state": report.state,
        "closed_at": report.closed_at,
        "closed_by": report.closed_by,
        "amounts": "integers: unit-seconds of each pool's unit (3600 = one hour); *_hours: the "
        "same in hours, to the millihour",
        "close_figures": "expired, carried, returned: what the close did with unused hours; "
        "null while the period is open",
        "rows": [_json_row(report, r) for r in report.rows],
    }
    return json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def from_json(text: str) -> Report:
    doc = json.loads(text)
    names = {f.name for f in fields(Row)}
    rows = tuple(
        Row(**{k: v for k, v in item.items() if k in names and v is not None})
        for item in doc["rows"]
    )
    return Report(doc["period"], rows, doc.get("closed_at"), doc.get("closed_by"))


# --- CSV ----------------------------------------------------------------------------------

CSV_COLUMNS = (
    "period",
    "level",
    "pool",
    "chair",
    "project",
    "unit",
    "capacity_hours",
    "allocated_hours",
    "adjustments_hours",
    "consumed_hours",
    "provisional_hours",
    "late_hours",
    "remaining_hours",
    "utilisation_pct",
    "gpu_hours",
    "unpriced_gpu_hours",
    "statement_hours",
    "statement_basis",
    "difference_hours",
    "status",
    "clawed_hours",
    "expired_hours",
    "carried_hours",
    "returned_hours",
    "state",
)


def _pct(permille: int | None) -> str:
    """Per mille as a percentage to the tenth: 825 -> '82.5', -5 -> '-0.5'."""
    if permille is None:
        return ""
    sign = "-" if permille < 0 else ""
    return f"{sign}{abs(permille) // 10}.{abs(permille) % 10}"


_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> str:
    """A CSV cell a spreadsheet will not run (OWASP CSV injection): a text cell beginning with
    ``= + - @``, a tab or a carriage return gets a leading ``'``; plain numbers (``-1.5``)
    stay numbers."""
    text = "" if cell is None else str(cell)
    if text.startswith(_FORMULA_START) and _PLAIN_NUMBER.fullmatch(text) is None:
        return "'" + text
    return text


def to_csv(report: Report) -> str:
    """The report as CSV; every cell through :func:`spreadsheet_safe`. Each row says the
    period's ``state``; an open report leaves the close figures' cells empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in report.rows:
        cells = [
            report.period,
            r.level,
            r.pool,
            r.chair,
            r.project,
            r.unit,
            hours(r.capacity) if r.level == "pool" else "",
            hours(r.allocated),
            hours(r.adjustments),
            hours(r.consumed),
            hours(r.provisional),
            hours(r.late),
            hours(r.remaining),
            _pct(r.utilisation_permille),
            hours(r.gpu_seconds),
            hours(r.unpriced_gpu_seconds),
            hours(r.statement),
            r.basis,
            hours(r.difference),
            r.status,
            hours(r.clawed),
            *(hours(report.close_figure(r, name)) for name in CLOSE_FIGURES),
            report.state,
        ]
        w.writerow([spreadsheet_safe(cell) for cell in cells])
    return buf.getvalue()


# --- HTML ---------------------------------------------------------------------------------


def _chart(rows: Sequence[Row]) -> str:
    """Horizontal bars, allocated (light) vs consumed (dark), one pair per chair."""
    bar_h, gap, label_w, width = 12, 10, 220, 460
    top = max([max(r.available, r.consumed + r.provisional) for r in rows] + [1])
    height = len(rows) * (2 * bar_h + gap) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 90}" '
        f'height="{height}" role="img" aria-label="allocated vs consumed">'
    ]
    y = 10
    for r in rows:
        alloc_w = r.available * width // top if r.available > 0 else 0
        used = r.consumed + r.provisional
        used_w = used * width // top if used > 0 else 0
        parts.append(
            f'<text x="0" y="{y + bar_h + 4}" font-size="11">{escape(r.chair or r.pool)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{alloc_w}" height="{bar_h}" fill="#9ecae1">'
            f"<title>allocated {hours(r.available)} h</title></rect>"
            f'<rect x="{label_w}" y="{y + bar_h}" width="{used_w}" height="{bar_h}" '
            f'fill="#08519c"><title>consumed {hours(used)} h</title></rect>'
            f'<text x="{label_w + max(alloc_w, used_w) + 4}" y="{y + bar_h + 4}" '
            f'font-size="10">{hours(used)} / {hours(r.available)} h</text>'
        )
        y += 2 * bar_h + gap
    parts.append(
        f'<rect x="{label_w}" y="{y}" width="10" height="8" fill="#9ecae1"/>'
        f'<text x="{label_w + 14}" y="{y + 8}" font-size="10">allocated</text>'
        f'<rect x="{label_w + 90}" y="{y}" width="10" height="8" fill="#08519c"/>'
        f'<text x="{label_w + 104}" y="{y + 8}" font-size="10">consumed</text></svg>'
    )
    return "".join(parts)


def _html_state(report: Report) -> str:
    if report.closed_at:
        return (
            f"Closed period: closed {escape(report.closed_at)} by "
            f"{escape(report.closed_by or '')}; these figures are final"
        )
    return (
        "Open period: figures may still change; what the close will do with unused hours "
        "(expired, carried, returned) is shown once it is closed"
    )


def _html_head(report: Report) -> list[str]:
    return [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>GPU hours report {escape(report.period)} ({report.state})</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}td.n{text-align:right}"
        ".chair td{font-weight:bold}.pool td{background:#eef}</style></head><body>",
        f"<h1>GPU hours, {escape(report.period)} ({report.state})</h1>",
        f'<p class="state" data-state="{report.state}">{_html_state(report)}. '
        "Hours of each pool's unit.</p>",
    ]


def _html_pool(report: Report, pool: Row) -> str:
    text = (
        f"<p>capacity {hours(pool.capacity)} h, allocated {hours(pool.allocated)} h, "
        f"consumed {hours(pool.consumed)} h (+{hours(pool.provisional)} h running), "
        f"remaining {hours(pool.remaining)} h"
    )
    if pool.clawed:
        text += f", clawed back by regulation {hours(pool.clawed)} h"
    if pool.statement is not None:
        text += f", statement {hours(pool.statement)} h, difference {hours(pool.difference)} h"
    if report.closed:
        text += ", at close: " + ", ".join(
            f"{name} {hours(report.close_figure(pool, name))} h" for name in CLOSE_FIGURES
        )
    return text + "</p>"


def to_html(report: Report) -> str:
    """A self-contained page (inline SVG chart, no script) an administrator can send."""
    out = _html_head(report)
    closing = CLOSE_FIGURES if report.closed else ()
    for pool in report.pools():
        chairs = [r for r in report.rows if r.level == "chair" and r.pool == pool.pool]
        out.append(f"<h2>Pool {escape(pool.pool)} ({escape(pool.unit)})</h2>")
        out.append(_html_pool(report, pool))
        if chairs:
            out.append(_chart(chairs))
        out.append(
            "<table><tr><th>chair</th><th>project</th><th>allocated</th><th>clawed back</th>"
            "<th>consumed</th>"
            "<th>running</th><th>remaining</th><th>used %</th><th>statement</th>"
            "<th>difference</th><th>status</th>"
            + "".join(f"<th>{name}</th>" for name in closing)
            + "</tr>"
        )
        for r in report.rows:
            if r.pool != pool.pool or r.level == "pool":
                continue
            name = r.project if r.level == "project" else ""
            if r.level == "project" and not r.project:
                name = "(unmapped accounts)"
            cells = [
                escape(r.chair),
                escape(name),
                *(
                    f'<td class="n">{v}</td>'
                    for v in (
                        hours(r.available),
                        hours(r.clawed),
                        hours(r.consumed),
                        hours(r.provisional),
                        hours(r.remaining),
                        _pct(r.utilisation_permille),
                        hours(r.statement),
                        hours(r.difference),
                    )
                ),
                escape(r.status),
                *(f'<td class="n">{hours(report.close_figure(r, n))}</td>' for n in closing),
            ]
            row_html = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells)
            out.append(f'<tr class="{r.level}">{row_html}</tr>')
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
