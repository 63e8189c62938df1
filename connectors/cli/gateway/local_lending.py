"""The local gateway's lending inside a chair: the use cases on this host's database."""

from __future__ import annotations

from allocator import services as svc
from allocator.errors import InvalidInput
from allocator.lending import Limits, ReturnPolicy
from allocator.model import User
from connectors.bootstrap import Services
from connectors.cli import render
from connectors.cli._common import seconds_arg
from connectors.cli.gateway import JSON, LoanMove
from connectors.presenters import lending as present_lending


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
