"""The local gateway's lending inside a chair and regulation of pools: the use cases on this
host's database."""

from __future__ import annotations

from typing import Any

from allocator import services as svc
from allocator.errors import InvalidInput
from allocator.lending import Limits, ReturnPolicy
from allocator.model import User
from allocator.regulation import Destination, LinearPlanRule, Regulation, Rule, UnderuseRule
from connectors.bootstrap import Services
from connectors.cli import render
from connectors.cli._common import seconds_arg, time_arg
from connectors.cli.gateway import JSON, LoanMove
from connectors.presenters import lending as present_lending
from connectors.presenters import regulation as present_regulation


def _limit(hours: str, field: str) -> int | None:
    return None if not hours else seconds_arg(hours, field)


def _policy(text: str) -> ReturnPolicy:
    try:
        return ReturnPolicy(text)
    except ValueError:
        choices = ", ".join(p.value for p in ReturnPolicy)
        raise InvalidInput("policy", f"{text!r} is not one of {choices}") from None


class LocalLending:
    sv: Services
    actor: User

    def lending(self, chair_id: str, pool_id: str, period: str) -> JSON:
        uow = self.sv.uow(read_only=True)
        view = svc.lending_view(
            uow, self.actor, self.sv.clock(), chair_id, pool_id, period,
            self.sv.consumption.within(uow), calendar=self.sv.settings.calendar,
        )  # fmt: skip
        return render.jsonable(present_lending.lending(view))

    def set_lending(self, chair_id: str, policy: str, limits: list[tuple[str, str, str]]) -> JSON:
        parsed = [
            Limits(p, _limit(lend, "lending_limit"), _limit(borrow, "borrowing_limit"))
            for p, lend, borrow in limits
        ]
        svc.set_lending_terms(
            self.sv.uow(), self.actor, self.sv.clock(), chair_id, _policy(policy), parsed
        )
        return {"chair_id": chair_id, "policy": policy, "limits": len(parsed)}

    def loan(self, move: LoanMove) -> JSON:
        uow, now, calendar = self.sv.uow(), self.sv.clock(), self.sv.settings.calendar
        amount, used = seconds_arg(move.hours), self.sv.consumption.within(uow)
        where = (move.pool_id, move.period)
        if move.action == "lend":
            entries = svc.lend(
                uow, self.actor, now, *where, move.project, move.other, amount, move.reason,
                used, calendar=calendar,
            )  # fmt: skip
        elif move.action == "borrow":
            entries = svc.borrow(
                uow, self.actor, now, *where, move.project, amount, move.reason, used,
                calendar=calendar,
            )  # fmt: skip
        else:
            entries = svc.recall(
                uow, self.actor, now, *where, move.project, amount, move.reason, used,
                calendar=calendar,
            )  # fmt: skip
        unit = self.sv.pool_units.get(move.pool_id)
        return [render.entry(e, unit) for e in entries]

    def return_loans(self, pool_id: str, period: str) -> JSON:
        uow = self.sv.uow()
        entries = svc.return_loans(
            uow, self.actor, self.sv.clock(), pool_id, period, self.sv.consumption.within(uow),
            calendar=self.sv.settings.calendar,
        )  # fmt: skip
        unit = self.sv.pool_units.get(pool_id)
        return [render.entry(e, unit) for e in entries]


def _rule(rule: str, o: dict[str, Any]) -> Rule:
    if rule == "genci":
        return UnderuseRule(
            o.get("after_months", 5),
            o.get("threshold_percent", 30) * 10,
            o.get("reclaim_percent", 40) * 10,
        )
    if rule == "tgcc":
        return LinearPlanRule(
            o.get("check_day", 15), o.get("late_days", 60), o.get("deduct_days", 30)
        )
    raise InvalidInput("rule", f"{rule!r} is not one of genci, tgcc")


class LocalRegulation:
    sv: Services
    actor: User

    def regulations(self) -> JSON:
        found = svc.list_regulations(self.sv.uow(read_only=True), self.actor)
        return [present_regulation.rule(r) for r in found]

    def set_regulation(self, pool_id: str, rule: str, options: dict[str, Any]) -> JSON:
        try:
            where = Destination(options.get("destination", "chair"))
        except ValueError:
            raise InvalidInput("destination", "one of chair, pool") from None
        regulated = Regulation(pool_id, _rule(rule, options), where)
        svc.set_regulation(self.sv.uow(), self.actor, self.sv.clock(), regulated)
        return present_regulation.rule(regulated)

    def simulate_regulation(self, pool_id: str) -> JSON:
        uow = self.sv.uow(read_only=True)
        found = svc.simulate_regulation(
            uow, self.actor, self.sv.clock(), pool_id, self.sv.consumption.within(uow),
            calendar=self.sv.settings.calendar,
        )  # fmt: skip
        return [render.jsonable(present_regulation.outlook(o)) for o in found]

    def apply_regulation(self, pool_id: str) -> JSON:
        uow = self.sv.uow()
        entries = svc.apply_regulation(
            uow, self.actor, self.sv.clock(), pool_id, self.sv.consumption.within(uow),
            calendar=self.sv.settings.calendar,
        )  # fmt: skip
        unit = self.sv.pool_units.get(pool_id)
        return [render.entry(e, unit) for e in entries]

    def set_project_end(self, project_id: str, end: str | None) -> JSON:
        when = None if end is None else time_arg(end, "end")
        project = svc.set_project_end(self.sv.uow(), self.actor, self.sv.clock(), project_id, when)
        return render.jsonable({"id": project.id, "end": project.end})

    def return_after_end(self, project_id: str | None) -> JSON:
        uow = self.sv.uow()
        entries = svc.return_after_end(
            uow, self.actor, self.sv.clock(), self.sv.consumption.within(uow),
            calendar=self.sv.settings.calendar, project_id=project_id,
        )  # fmt: skip
        return [render.entry(e, self.sv.pool_units.get(e.pool_id)) for e in entries]
