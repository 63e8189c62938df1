"""The report says open or closed in every format, leaves the close's figures out of an open
report in every format, writes no negative zero and gives JSON amounts in hours too."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace

from accounting import report as rpt
from allocator.hours import in_hours

H = 3600


def quarter(closed: bool) -> rpt.Report:
    """A pool, a chair and two projects; p has 4 h unused (which the close expires), q's
    statement is 1 s away from ours (a difference that rounds to zero hours)."""
    report = rpt.assemble(
        "2026Q4",
        [rpt.Row("pool", "loc", unit="gpu-hour", capacity=100 * H, allocated=10 * H)],
        [rpt.Row("chair", "loc", "c", unit="gpu-hour", allocated=10 * H)],
        [
            rpt.Row(
                "project", "loc", "c", "p", unit="gpu-hour", allocated=6 * H, consumed=2 * H,
                expired=4 * H,
            ),
            rpt.Row(
                "project", "loc", "c", "q", unit="gpu-hour", allocated=4 * H, consumed=5400,
                statement=5401, difference=-1, status="match", carried=H,
            ),
        ],
    )  # fmt: skip
    if closed:
        return replace(report, closed_at="2027-01-05T10:00:00+00:00", closed_by="admin")
    return report


def csv_rows(report: rpt.Report) -> dict[str, dict[str, str]]:
    return {
        f"{row['level']}:{row['project']}": row
        for row in csv.DictReader(io.StringIO(rpt.to_csv(report)))
    }


def test_an_open_report_says_open_and_leaves_the_close_figures_out_in_every_format() -> None:
    report = quarter(closed=False)
    doc = json.loads(rpt.to_json(report))
    assert (doc["state"], doc["closed_at"]) == ("open", None)
    for row in doc["rows"]:
        for name in ("expired", "carried", "returned"):
            assert row[name] is None and row[f"{name}_hours"] is None, row
    rows = csv_rows(report)
    assert {row["state"] for row in rows.values()} == {"open"}
    for row in rows.values():
        assert row["expired_hours"] == row["carried_hours"] == row["returned_hours"] == ""
    html = rpt.to_html(report)
    assert 'data-state="open"' in html and "Open period" in html
    assert "<th>expired</th>" not in html and "at close" not in html


def test_a_closed_report_says_closed_and_shows_the_close_figures_in_every_format() -> None:
    report = quarter(closed=True)
    doc = json.loads(rpt.to_json(report))
    assert (doc["state"], doc["closed_by"]) == ("closed", "admin")
    p = next(row for row in doc["rows"] if row["project"] == "p")
    assert (p["expired"], p["expired_hours"], p["carried"], p["carried_hours"]) == (
        4 * H,
        4.0,
        0,
        0.0,
    )
    rows = csv_rows(report)
    assert {row["state"] for row in rows.values()} == {"closed"}
    assert (rows["project:p"]["expired_hours"], rows["project:q"]["carried_hours"]) == (
        "4.00",
        "1.00",
    )
    assert rows["pool:"]["expired_hours"] == "4.00"
    html = rpt.to_html(report)
    assert 'data-state="closed"' in html and "Closed period" in html
    assert "<th>expired</th><th>carried</th><th>returned</th>" in html
    assert "at close: expired 4.00 h, carried 1.00 h, returned 0.00 h" in html
    assert rpt.from_json(rpt.to_json(report)) == report


def test_no_format_writes_a_negative_zero() -> None:
    for closed in (False, True):
        report = quarter(closed)
        assert csv_rows(report)["project:q"]["difference_hours"] == "0.00"
        for text in (rpt.to_csv(report), rpt.to_html(report), rpt.to_json(report)):
            assert "-0.00" not in text and "-0.0," not in text and "-0.0\n" not in text
        q = next(r for r in json.loads(rpt.to_json(report))["rows"] if r["project"] == "q")
        assert (q["difference"], q["difference_hours"]) == (-1, 0.0)
    assert math.copysign(1.0, in_hours(-1)) == 1.0  # 0.0, not -0.0 (every API answer)
    assert (rpt.hours(-1), rpt.hours(-17), rpt.hours(-18), rpt.hours(1)) == (
        "0.00",
        "0.00",
        "-0.01",
        "0.00",
    )


def test_json_gives_every_amount_in_unit_seconds_and_in_hours() -> None:
    doc = json.loads(rpt.to_json(quarter(closed=True)))
    q = next(row for row in doc["rows"] if row["project"] == "q")
    assert (q["consumed"], q["consumed_hours"]) == (5400, 1.5)
    assert (q["allocated"], q["allocated_hours"]) == (4 * H, 4.0)
    assert (q["remaining"], q["remaining_hours"]) == (4 * H - 5400, 2.5)
    assert (q["statement"], q["statement_hours"]) == (5401, 1.5)
    pool = next(row for row in doc["rows"] if row["level"] == "pool")
    assert (pool["capacity"], pool["capacity_hours"]) == (100 * H, 100.0)
    for row in doc["rows"]:
        for seconds, hours_key in rpt.JSON_HOURS.items():
            if row[seconds] is not None:
                assert row[hours_key] == round(row[seconds] / H, 3), (row, seconds)
