"""The quarterly report per pool, chair and project, and its renderings (JSON, CSV, HTML).

Pure: rows in, text out; no clock (a closed report carries its close time, an open one none),
so the same figures always render to the same bytes. Amounts in rows are unit-seconds of the
pool's unit; renderings for people (CSV, HTML) show hours with two decimals, JSON keeps the
exact integers.

Rows, one level each:

``pool``     capacity (deposits - withdrawals), allocated (to chairs), consumption of every
             account routed to the pool (unmapped accounts included), remaining = capacity -
             consumed - provisional, the statement's total and the difference;
``chair``    allocated = net received from the pool; consumption of its projects;
``project``  allocated, adjustments (every non-allocation ledger entry: reconciliation
             adjustments, carry-overs in), consumed (final, late included), provisional,
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

HOUR = 3600


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


def hours(seconds: int | None) -> str:
    """Exact to the hundredth, rounded half away from zero: 5400 -> '1.50'."""
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    hundredths = (abs(seconds) * 100 + HOUR // 2) // HOUR
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


def to_json(report: Report) -> str:
    """Deterministic JSON: exact integers, derived figures included, keys sorted."""
    rows = []
    for r in report.rows:
        item: dict[str, object] = asdict(r)
        item["available"] = r.available
        item["remaining"] = r.remaining
        item["utilisation_permille"] = r.utilisation_permille
        rows.append(item)
    doc = {
        "period": report.period,
        "closed_at": report.closed_at,
        "closed_by": report.closed_by,
        "amounts": "unit-seconds of each pool's unit (3600 = one hour)",
        "rows": rows,
    }
    return json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def from_json(text: str) -> Report:
    doc = json.loads(text)
    names = {f.name for f in fields(Row)}
    rows = tuple(Row(**{k: v for k, v in item.items() if k in names}) for item in doc["rows"])
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
    "expired_hours",
    "carried_hours",
    "returned_hours",
)


def _pct(permille: int | None) -> str:
    return "" if permille is None else f"{permille // 10}.{permille % 10}"


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
    """The report as CSV; every cell through :func:`spreadsheet_safe`."""
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
            hours(r.expired),
            hours(r.carried),
            hours(r.returned),
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


def to_html(report: Report) -> str:
    """A self-contained page (inline SVG chart, no script) an administrator can send."""
    state = (
        f"closed {escape(report.closed_at)} by {escape(report.closed_by or '')}"
        if report.closed_at
        else "open: figures may still change"
    )
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>GPU hours report {escape(report.period)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}td.n{text-align:right}"
        ".chair td{font-weight:bold}.pool td{background:#eef}</style></head><body>",
        f"<h1>GPU hours, {escape(report.period)}</h1>",
        f"<p>{state}. Hours of each pool's unit.</p>",
    ]
    for pool in report.pools():
        chairs = [r for r in report.rows if r.level == "chair" and r.pool == pool.pool]
        out.append(f"<h2>Pool {escape(pool.pool)} ({escape(pool.unit)})</h2>")
        out.append(
            f"<p>capacity {hours(pool.capacity)} h, allocated {hours(pool.allocated)} h, "
            f"consumed {hours(pool.consumed)} h (+{hours(pool.provisional)} h running), "
            f"remaining {hours(pool.remaining)} h"
            + (
                f", statement {hours(pool.statement)} h, difference {hours(pool.difference)} h"
                if pool.statement is not None
                else ""
            )
            + "</p>"
        )
        if chairs:
            out.append(_chart(chairs))
        out.append(
            "<table><tr><th>chair</th><th>project</th><th>allocated</th><th>consumed</th>"
            "<th>running</th><th>remaining</th><th>used %</th><th>statement</th>"
            "<th>difference</th><th>status</th></tr>"
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
                        hours(r.consumed),
                        hours(r.provisional),
                        hours(r.remaining),
                        _pct(r.utilisation_permille),
                        hours(r.statement),
                        hours(r.difference),
                    )
                ),
                escape(r.status),
            ]
            row_html = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells)
            out.append(f'<tr class="{r.level}">{row_html}</tr>')
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
