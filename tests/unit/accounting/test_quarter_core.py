"""Pure core of the quarter: booking by day, settling closed periods, burn rates,
reconciliation statuses, close policies and report renderings, in the domain's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from accounting import report as rpt
from accounting.booking import book, settle_closed
from accounting.burn import Outlook, burn, burn_rate, projected_exhaustion
from accounting.charging import charge
from accounting.closing import close_plan, outcome
from accounting.reconcile import Decision, Ours, Status, Theirs, Tolerance, reconcile
from accounting.usage import UsageRecord
from allocator.ledger import ProjectBalance
from allocator.model import ClosePolicy, EntryKind, PoolKind
from tests.builders import H, local_pool, national_pool, usage_record

DAY = 86400
Q4 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())


def rec(start: int, elapsed: int, gpus: int = 1, **kw: object) -> UsageRecord:
    return usage_record(start, elapsed, gpus, **{"submit": start, "user": "u", **kw})


# --- booking --------------------------------------------------------------------------------


def test_a_job_over_three_days_is_booked_per_day_and_sums_to_the_whole_job() -> None:
    job = rec(Q4 + 20 * 3600, 2 * DAY, 2)  # from 20:00 on day 1 to 20:00 on day 3
    rows = book(job, [local_pool()])
    assert [r.day for r in rows] == [Q4 // DAY, Q4 // DAY + 1, Q4 // DAY + 2]
    assert [r.gpu_seconds for r in rows] == [2 * 4 * 3600, 2 * DAY, 2 * 20 * 3600]
    whole = charge(job, local_pool())
    assert sum(r.gpu_seconds for r in rows) == sum(c.gpu_seconds for c in whole)
    assert sum(r.units for r in rows) == sum(c.units for c in whole)


@given(
    start=st.integers(Q4 - 40 * DAY, Q4 + 40 * DAY),
    elapsed=st.integers(1, 90 * DAY),
    gpus=st.integers(1, 16),
)
def test_daily_booking_loses_and_duplicates_no_gpu_second_or_unit(
    start: int, elapsed: int, gpus: int
) -> None:
    pool = national_pool(valid_from=None, valid_until=None, routes=local_pool().routes)
    job = rec(start, elapsed, gpus)
    rows = book(job, [pool])
    whole = charge(job, pool)
    assert sum(r.gpu_seconds for r in rows) == gpus * elapsed
    assert sum(r.units for r in rows) == sum(c.units for c in whole)
    assert all(0 < r.gpu_seconds <= gpus * DAY for r in rows)  # each row within one day
    assert len({(r.day, r.period) for r in rows}) == len(rows)


def test_settling_a_closed_period_books_the_difference_in_the_next_open_one() -> None:
    job = rec(Q4 - 3600, 7200)
    rows = book(job, [local_pool()])
    booked = {("2026Q3", "loc", "acct", "a100"): (1800, 1800)}  # what the close froze
    settled = settle_closed(rows, frozenset({"2026Q3"}), booked, lambda _p: "2026Q4")
    late = [r for r in settled if r.late]
    assert [(r.period, r.origin_period, r.gpu_seconds) for r in late] == [
        ("2026Q4", "2026Q3", 1800)
    ]
    assert all(r.period == "2026Q4" for r in settled)
    assert sum(r.gpu_seconds for r in settled) == 7200 - 1800


def test_settling_what_was_already_booked_books_nothing() -> None:
    rows = book(rec(Q4 - 3600, 3600), [local_pool()])
    booked = {("2026Q3", "loc", "acct", "a100"): (3600, 3600)}
    assert settle_closed(rows, frozenset({"2026Q3"}), booked, lambda _p: "2026Q4") == []


# --- burn -----------------------------------------------------------------------------------


def test_two_gpus_busy_every_day_burn_two_units_per_second() -> None:
    now = 100 * DAY  # midnight
    daily = dict.fromkeys(range(60, 100), 2 * DAY)
    assert burn_rate(daily, now, 7) == 2.0
    assert burn_rate(daily, now + DAY // 2, 7) == (6 * 2 * DAY) / (6.5 * DAY)


def test_projected_exhaustion_is_when_remaining_runs_out_at_the_seven_day_rate() -> None:
    now = 100 * DAY
    end = now + 30 * DAY
    daily = dict.fromkeys(range(90, 100), DAY)  # one GPU busy
    b = burn(daily, now, remaining=10 * DAY, allocated=100 * DAY, period_end=end)
    assert b.rate_7d == 1.0
    assert b.exhaustion == now + 10 * DAY
    assert (b.outlook, b.exhausts_before_period_end) == (Outlook.BEFORE_PERIOD_END, True)
    assert projected_exhaustion(0, 1.0, now) is None
    assert burn({}, now, 10, 10, period_end=end).exhaustion is None
    nothing = burn(daily, now, 10, 0, period_end=end)  # nothing allocated: no projection
    assert (nothing.exhaustion, nothing.outlook) == (None, Outlook.NO_ALLOCATION)


def test_exhaustion_after_the_period_end_is_not_before_period_end_and_has_no_date() -> None:
    now = 100 * DAY
    daily = dict.fromkeys(range(90, 100), DAY)  # one GPU busy: 40 days of hours left
    b = burn(daily, now, remaining=40 * DAY, allocated=100 * DAY, period_end=now + 30 * DAY)
    assert (b.exhaustion, b.outlook) == (None, Outlook.NOT_BEFORE_PERIOD_END)
    assert b.exhausts_before_period_end is False
    # exactly at the end: the hours last the period out
    b = burn(daily, now, remaining=30 * DAY, allocated=100 * DAY, period_end=now + 30 * DAY)
    assert (b.exhaustion, b.outlook) == (None, Outlook.NOT_BEFORE_PERIOD_END)
    # nothing burnt: never runs out; an ended period: nothing left to run out in it
    idle = burn({}, now, 40 * DAY, 100 * DAY, period_end=now + 30 * DAY)
    assert (idle.exhaustion, idle.outlook) == (None, Outlook.NOT_BEFORE_PERIOD_END)
    ended = burn(daily, now, 5 * DAY, 100 * DAY, period_end=now - DAY)
    assert (ended.exhaustion, ended.outlook) == (None, Outlook.NOT_BEFORE_PERIOD_END)
    # overdrawn: already exhausted, before the end, no date to project
    spent = burn(daily, now, -DAY, 100 * DAY, period_end=now + 30 * DAY)
    assert (spent.exhaustion, spent.outlook) == (None, Outlook.EXHAUSTED)
    assert spent.exhausts_before_period_end is True


# --- reconciliation -------------------------------------------------------------------------


def test_reconciliation_statuses_in_the_domain_words() -> None:
    ours = {"a": Ours(0, 128), "b": Ours(0, 10_800), "c": Ours(0, 50), "d": Ours(0, 0)}
    theirs = {
        "a": Theirs(None, 128),
        "b": Theirs(None, 7200),
        "d": Theirs(None, 3600),
        "e": Theirs(None, 0),
    }
    lines = {ln.project_id: ln for ln in reconcile(ours, theirs)}
    assert lines["a"].status is Status.MATCH
    assert (lines["b"].difference, lines["b"].status) == (3600, Status.OVER)
    assert lines["b"].relative_milli == 333
    assert lines["c"].status is Status.MISSING_STATEMENT
    assert lines["d"].status is Status.MISSING_OURS
    assert lines["e"].status is Status.MATCH


def test_units_are_compared_when_the_statement_gives_them() -> None:
    lines = reconcile({"a": Ours(7200, 3600)}, {"a": Theirs(7200, 9999)})
    assert (lines[0].basis.value, lines[0].status) == ("units", Status.MATCH)


def test_within_tolerance_is_a_match_beyond_it_is_not() -> None:
    tol = Tolerance(absolute=60, relative_milli=10)
    assert (
        reconcile({"a": Ours(0, 10_000)}, {"a": Theirs(None, 10_100)}, (), tol)[0].status
        is Status.MATCH
    )
    assert (
        reconcile({"a": Ours(0, 10_000)}, {"a": Theirs(None, 10_102)}, (), tol)[0].status
        is Status.UNDER
    )


def test_an_adjustment_resolves_a_line_and_an_acceptance_holds_for_its_figures_only() -> None:
    ours, theirs = {"a": Ours(0, 10_800)}, {"a": Theirs(None, 7200)}
    adjusted = reconcile(ours, theirs, [Decision("a", "adjust", 3600, 10_800, 7200)])
    assert (adjusted[0].raw_status, adjusted[0].status) == (Status.OVER, Status.ADJUSTED)
    accepted = reconcile(ours, theirs, [Decision("a", "accept", 0, 10_800, 7200)])
    assert accepted[0].status is Status.ACCEPTED
    moved = reconcile({"a": Ours(0, 11_000)}, theirs, [Decision("a", "accept", 0, 10_800, 7200)])
    assert moved[0].status is Status.OVER  # new usage re-opens an accepted line


# --- close ----------------------------------------------------------------------------------

NOW = datetime(2026, 10, 2, tzinfo=UTC)


def bal(project: str, allocated: int, consumed: int) -> ProjectBalance:
    return ProjectBalance(project, "loc", "2026Q3", allocated, 0, consumed, 0)


def test_carryover_moves_up_to_the_cap_and_expires_the_rest() -> None:
    pool = local_pool(close_policy=ClosePolicy.CARRY_OVER, carryover_cap_milli=250)
    o = outcome(pool, bal("p", 400 * H, 250 * H))
    assert (o.unused, o.carried, o.expired) == (150 * H, 100 * H, 50 * H)
    entries = close_plan(pool, "2026Q3", "2026Q4", [("c", bal("p", 400 * H, 250 * H))], "a", NOW)
    kinds = [(e.kind, e.period, e.source, e.target, e.amount) for e in entries]
    assert kinds == [
        (EntryKind.EXPIRY, "2026Q3", "project:p", "ext:expired", 50 * H),
        (EntryKind.CARRYOVER, "2026Q3", "project:p", "ext:outside", 100 * H),
        (EntryKind.CARRYOVER, "2026Q4", "ext:outside", "project:p", 100 * H),
    ]


def test_return_gives_unused_hours_to_the_chair_next_period_and_overdrawn_posts_nothing() -> None:
    pool = local_pool(close_policy=ClosePolicy.RETURN_TO_CHAIR)
    entries = close_plan(
        pool,
        "2026Q3",
        "2026Q4",
        [("c", bal("p", 10 * H, 4 * H)), ("c", bal("q", 10 * H, 12 * H))],
        "a",
        NOW,
    )
    assert [(e.period, e.target, e.amount) for e in entries] == [
        ("2026Q3", "ext:outside", 6 * H),
        ("2026Q4", "chair:c", 6 * H),
    ]
    expire = local_pool(close_policy=ClosePolicy.EXPIRE)
    assert [
        e.kind for e in close_plan(expire, "2026Q3", "2026Q4", [("c", bal("p", 5, 1))], "a", NOW)
    ] == [EntryKind.EXPIRY]
    assert national_pool().kind is PoolKind.NATIONAL


# --- report ---------------------------------------------------------------------------------


def sample() -> rpt.Report:
    return rpt.assemble(
        "2026Q3",
        [rpt.Row("pool", "loc", unit="gpu-hour", capacity=1000 * H, allocated=400 * H)],
        [rpt.Row("chair", "loc", "c", unit="gpu-hour", allocated=400 * H)],
        [
            rpt.Row("project", "loc", "c", "p", unit="gpu-hour", allocated=300 * H, consumed=5400),
            rpt.Row(
                "project",
                "loc",
                "c",
                "q",
                unit="gpu-hour",
                allocated=100 * H,
                consumed=100 * H,
                statement=90 * H,
                difference=10 * H,
                status="over",
            ),
        ],
        "2026-10-02T00:00:00+00:00",
        "admin",
    )


def test_report_totals_come_from_the_projects_and_render_the_same_bytes_every_time() -> None:
    report = sample()
    pool = report.pools()[0]
    assert (pool.consumed, pool.remaining, pool.statement, pool.difference) == (
        5400 + 100 * H,
        1000 * H - 5400 - 100 * H,
        90 * H,
        10 * H,
    )
    chair = next(r for r in report.rows if r.level == "chair")
    assert chair.consumed == 5400 + 100 * H
    assert rpt.to_json(report) == rpt.to_json(rpt.from_json(rpt.to_json(report)))
    assert rpt.from_json(rpt.to_json(report)) == report
    csv_text = rpt.to_csv(report)
    assert csv_text.splitlines()[0].startswith("period,level,pool,chair,project")
    assert "2026Q3,project,loc,c,p,gpu-hour,,300.00,0.00,1.50," in csv_text
    html = rpt.to_html(report)
    assert "<svg" in html and "closed 2026-10-02" in html
    assert json.loads(rpt.to_json(report))["rows"][0]["level"] == "pool"


def test_hours_are_exact_to_the_hundredth() -> None:
    assert [rpt.hours(s) for s in (0, 5400, 18, 17, -5400, None)] == [
        "0.00",
        "1.50",
        "0.01",
        "0.00",
        "-1.50",
        "",
    ]
