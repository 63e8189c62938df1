"""Regulation of under-used grants: what the GENCI and TGCC rules reclaim, when, and once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.model import SECONDS_PER_HOUR as H
from allocator.model import EntryKind
from allocator.regulation import (
    Clawback,
    Destination,
    Grant,
    LinearPlanRule,
    Regulation,
    Standing,
    UnderuseRule,
    add_months,
    check_dates,
    clawbacks_due,
    clawed_of,
    due,
    simulate,
)

START, END = datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
GRANT = Grant("thesis-ana", "chair-nlp", 12_000 * H, START, END)
GENCI = Regulation("jz", UnderuseRule())
TGCC = Regulation("irene", LinearPlanRule(), Destination.POOL)


def day(month: int, d: int) -> datetime:
    return datetime(2027, month, d, tzinfo=UTC)


class TestGenciRule:
    def test_simulate_shows_the_clawback_and_its_date(self) -> None:
        """1 800 h used in the first 90 days burn on at 20 h a day: 3 020 h (25.1 %) at month
        5, under 30 %, so 40 % of the 12 000 h grant, 4 800 h, go on 1 June."""
        assert simulate(GENCI.rule, Standing(GRANT, 1_800 * H), day(4, 1)) == [
            Clawback(
                "thesis-ana",
                day(6, 1),
                4_800 * H,
                "clawback:genci:thesis-ana:2027-06-01",
                "GENCI rule: 25.1 % of 12 000 h used 5 months into the grant, under 30 %:"
                " 4 800 h reclaimed on 2027-06-01 (up to 40 % of the grant)",
            )
        ]

    def test_a_grant_used_on_plan_loses_nothing(self) -> None:
        assert simulate(GENCI.rule, Standing(GRANT, 4_000 * H), day(4, 1)) == []

    def test_apply_posts_the_clawback_once(self) -> None:
        """25 % used at month 5: 4 800 h go back to the chair on 1 June; asked again, with
        the journal holding them, nothing more is due."""
        at = day(6, 1)
        entries = clawbacks_due(GENCI, [Standing(GRANT, 3_000 * H)], at, "2027Q2", "scheduler")
        assert [(e.kind, e.source, e.target, e.amount, e.period) for e in entries] == [
            (EntryKind.RELEASE, "project:thesis-ana", "chair:chair-nlp", 4_800 * H, "2027Q2")
        ]
        again = Standing(GRANT, 3_000 * H, clawed_of(entries, "thesis-ana"))
        assert clawbacks_due(GENCI, [again], at, "2027Q2", "scheduler") == []
        assert clawbacks_due(GENCI, [again], day(9, 1), "2027Q3", "scheduler") == []

    def test_nothing_is_due_before_the_check(self) -> None:
        assert clawbacks_due(GENCI, [Standing(GRANT, 0)], day(5, 31), "2027Q2", "s") == []

    def test_only_the_unused_hours_can_be_reclaimed(self) -> None:
        """A grant of which 1 000 h were moved away already has less than 40 % left."""
        standing = Standing(GRANT, 3_000 * H, (("clawback:other", 6_000 * H),))
        entries = clawbacks_due(GENCI, [standing], day(6, 1), "2027Q2", "s")
        assert [e.amount for e in entries] == [3_000 * H]


class TestTgccRule:
    def test_more_than_60_days_behind_the_plan_deducts_30_days_worth_to_the_pool(self) -> None:
        """On 15 May (134 days in), the plan is at 4 405.479 h; 2 000 h used is 73 days
        behind: 30 days' worth, 986.301 h, goes back through the chair to the pool."""
        entries = clawbacks_due(TGCC, [Standing(GRANT, 2_000 * H)], day(5, 15), "2027Q2", "s")
        assert [(e.source, e.target, e.amount) for e in entries] == [
            ("project:thesis-ana", "chair:chair-nlp", 3_550_684),
            ("chair:chair-nlp", "pool:irene", 3_550_684),
        ]
        assert entries[0].reason == (
            "TGCC rule: 73 days behind the linear plan on 2027-05-15, more than 60:"
            " 30 days' worth, 986.301 h, deducted"
        )
        clawed = clawed_of(entries, "thesis-ana")
        assert (
            clawbacks_due(TGCC, [Standing(GRANT, 2_000 * H, clawed)], day(5, 20), "2027Q2", "s")
            == []
        )
        # A month on, the deduction counts against the plan: 55 days behind, nothing more.
        assert (
            clawbacks_due(TGCC, [Standing(GRANT, 2_600 * H, clawed)], day(6, 15), "2027Q2", "s")
            == []
        )

    def test_simulate_shows_each_monthly_deduction_ahead(self) -> None:
        """A project burning 5 h a day where the plan burns 32.877 h falls about 26 days further
        behind each month: 61 days late on 15 March (a deduction), 58 on 15 April (none), 83
        on 15 May, then a deduction each month while it stays over 60 days late."""
        ahead = simulate(TGCC.rule, Standing(GRANT, 0, burn_per_day=5 * H), day(1, 1))
        assert [c.on.date().isoformat()[5:] for c in ahead] == [
            "03-15", "05-15", "06-15", "07-15", "08-15", "09-15", "10-15", "12-15"
        ]  # fmt: skip
        assert {c.amount for c in ahead} == {3_550_684}
        assert ahead[0].explanation.startswith("TGCC rule: 61 days behind the linear plan")


def test_months_are_calendar_months() -> None:
    assert add_months(datetime(2027, 1, 31, tzinfo=UTC), 5) == datetime(2027, 6, 30, tzinfo=UTC)
    assert add_months(datetime(2027, 11, 15, tzinfo=UTC), 3) == datetime(2028, 2, 15, tzinfo=UTC)


class TestRegulationProperties:
    @settings(max_examples=80, deadline=None)
    @given(
        st.sampled_from([GENCI, TGCC]),
        st.integers(0, 12_000 * H),
        st.integers(0, 364),
    )
    def test_applying_twice_posts_once_and_never_more_than_is_unused(
        self, regulation: Regulation, consumed: int, days: int
    ) -> None:
        at = START + timedelta(days=days)
        standing = Standing(GRANT, consumed)
        entries = clawbacks_due(regulation, [standing], at, "p", "s")
        clawed = clawed_of(entries, GRANT.project_id)
        assert sum(amount for _r, amount in clawed) <= GRANT.amount - consumed
        again = Standing(GRANT, consumed, clawed)
        assert clawbacks_due(regulation, [again], at, "p", "s") == []

    @settings(max_examples=60, deadline=None)
    @given(st.sampled_from([GENCI, TGCC]), st.integers(0, 40 * H), st.integers(1, 200))
    def test_a_grant_burning_at_its_rate_loses_on_each_date_what_simulate_showed(
        self, regulation: Regulation, per_day: int, days: int
    ) -> None:
        """Simulated from day ``days``, then applied check by check with the consumption the
        rate gives: the same clawbacks, on the same dates."""
        today = START + timedelta(days=days)
        now = Standing(GRANT, per_day * days, burn_per_day=per_day)
        shown = simulate(regulation.rule, now, today)
        clawed: tuple[tuple[str, int], ...] = ()
        posted = []
        for on in check_dates(regulation.rule, GRANT):
            if on < today:
                continue
            elapsed = int((on - START).total_seconds()) // 86_400
            consumed = min(per_day * elapsed, GRANT.amount - sum(a for _r, a in clawed))
            found = due(regulation.rule, Standing(GRANT, consumed, clawed), on)
            if found is not None:
                posted.append(found)
                clawed += ((found.reference, found.amount),)
        assert shown == posted
