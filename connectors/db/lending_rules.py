"""Each chair's lending policy, each project's limits, each regulated pool's rule."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from allocator.lending import Limits, ReturnPolicy
from allocator.regulation import Destination, LinearPlanRule, Regulation, Rule, UnderuseRule
from connectors.db import round_tables as r


class SqlLending:
    def __init__(self, session: Session) -> None:
        self.session = session

    def policy(self, chair_id: str) -> ReturnPolicy:
        row = self.session.get(r.LendingPolicyRow, chair_id)
        return ReturnPolicy.PERIOD_END if row is None else ReturnPolicy(row.policy)

    def limits(self, project_ids: Sequence[str]) -> Sequence[Limits]:
        if not project_ids:
            return []
        L = r.LendingLimitRow
        rows = {
            row.project_id: row
            for row in self.session.scalars(select(L).where(L.project_id.in_(list(project_ids))))
        }
        return [
            Limits(p)
            if p not in rows
            else Limits(p, rows[p].lending_limit, rows[p].borrowing_limit)
            for p in project_ids
        ]

    def set_policy(self, chair_id: str, policy: ReturnPolicy) -> None:
        row = self.session.get(r.LendingPolicyRow, chair_id)
        if row is None:
            self.session.add(r.LendingPolicyRow(chair_id=chair_id, policy=policy.value))
        else:
            row.policy = policy.value
        self.session.flush()

    def set_limits(self, limits: Limits) -> None:
        row = self.session.get(r.LendingLimitRow, limits.project_id)
        if row is None:
            row = r.LendingLimitRow(project_id=limits.project_id)
            self.session.add(row)
        row.lending_limit, row.borrowing_limit = limits.lending_limit, limits.borrowing_limit
        self.session.flush()


class SqlRegulations:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, pool_id: str) -> Regulation | None:
        row = self.session.get(r.RegulationRow, pool_id)
        return None if row is None else _regulation(row)

    def list(self) -> Sequence[Regulation]:
        rows = self.session.scalars(select(r.RegulationRow).order_by(r.RegulationRow.pool_id))
        return [_regulation(row) for row in rows]

    def put(self, regulation: Regulation) -> None:
        self.remove(regulation.pool_id)
        rule = regulation.rule
        row = r.RegulationRow(
            pool_id=regulation.pool_id, rule=rule.name, destination=regulation.destination.value
        )
        if isinstance(rule, UnderuseRule):
            row.after_months = rule.after_months
            row.threshold_milli, row.reclaim_milli = rule.threshold_milli, rule.reclaim_milli
        else:
            row.check_day, row.late_days, row.deduct_days = (
                rule.check_day,
                rule.late_days,
                rule.deduct_days,
            )
        self.session.add(row)
        self.session.flush()

    def remove(self, pool_id: str) -> None:
        self.session.execute(delete(r.RegulationRow).where(r.RegulationRow.pool_id == pool_id))
        self.session.flush()


def _regulation(row: r.RegulationRow) -> Regulation:
    rule: Rule
    if row.rule == "genci":
        rule = UnderuseRule(
            _int(row.after_months), _int(row.threshold_milli), _int(row.reclaim_milli)
        )
    else:
        rule = LinearPlanRule(_int(row.check_day), _int(row.late_days), _int(row.deduct_days))
    return Regulation(row.pool_id, rule, Destination(row.destination))


def _int(value: int | None) -> int:
    assert value is not None, "a rule's parameter is stored with the rule"
    return value
