"""Thesis-aware projects: a project's end date (a thesis's defence), set by an admin. No
allocation is made to it for a period that begins after the end (``rules.
check_period_in_project``, applied by requests, approvals, allocations and rounds); once the
end has passed, its unused hours return to its chair, journaled.

The return covers each pool and period the project holds hours in that ends after the end
date (the period the defence falls in, and any later one): what the project has unused there
(its balance less its consumption) goes back to the chair as one ``RELEASE`` per pool and
period, referenced ``project-end:<project>``. A period already closed was dealt with by its
close. Run again (by the scheduler or an admin), it finds the references and posts nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from allocator import rules
from allocator.errors import InvalidInput
from allocator.ledger import balance
from allocator.model import (
    EntryKind,
    LedgerEntry,
    Project,
    User,
    chair_account,
    project_account,
)
from allocator.periods import Calendar
from allocator.ports import ConsumptionLookup, UnitOfWork
from allocator.rounds import hours
from allocator.services._common import ADMIN, entry, get_pool, get_project, record
from allocator.services._guards import prepare_period

END = "project-end:"


def set_project_end(
    uow: UnitOfWork, actor: User, now: datetime, project_id: str, end: datetime | None
) -> Project:
    """The project's end date (``None``: none). After it, no allocation; its unused hours
    return to the chair once it has passed (:func:`return_after_end`)."""
    rules.require_role(actor, *ADMIN)
    with uow:
        project = get_project(uow, project_id)
        if end is not None and project.start is not None and end <= project.start:
            raise InvalidInput("end", "must be after the project's start")
        updated = replace(project, end=end)
        uow.projects.update(updated)
        text = "no end" if end is None else f"ends {end.isoformat()}"
        record(uow, actor, now, "project.end", f"project:{project.id}", text)
        uow.commit()
    return updated


def return_after_end(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    consumption: ConsumptionLookup,
    *,
    calendar: Calendar,
    project_id: str | None = None,
) -> list[LedgerEntry]:
    """Every ended project's (or ``project_id``'s) unused hours back to its chair, once."""
    rules.require_role(actor, *ADMIN)
    with uow:
        ended = [
            p
            for p in uow.projects.list()
            if p.end is not None and p.end <= now and project_id in (None, p.id)
        ]
        if project_id is not None and not ended:
            get_project(uow, project_id)
            raise InvalidInput("project_id", f"{project_id} has no end date passed")
        written: list[LedgerEntry] = []
        for project in ended:
            written += _return(uow, actor, now, project, consumption, calendar)
        uow.commit()
    return written


def _return(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    project: Project,
    consumption: ConsumptionLookup,
    calendar: Calendar,
) -> list[LedgerEntry]:
    assert project.end is not None
    account, reference = project_account(project.id), f"{END}{project.id}"
    places = sorted({(e.pool_id, e.period) for e in uow.ledger.entries(account=account)})
    out: list[LedgerEntry] = []
    for pool_id, label in places:
        period = calendar.period(label)
        if period.end <= project.end or uow.ledger.is_closed(label):
            continue
        if uow.ledger.has_reference(pool_id, label, reference):
            continue
        pool = get_pool(uow, pool_id)
        prepare_period(uow, actor, now, pool, period)
        held = balance(uow.ledger.flows_in([pool_id], label, [account])[pool_id], account)
        used = sum(consumption(label, [pool_id], [project.id]).get((project.id, pool_id), (0, 0)))
        unused = held - used
        if unused <= 0:
            continue
        why = (
            f"project {project.id} ended {project.end.date().isoformat()}: its {hours(unused)}"
            f" unused in {pool_id}/{label} return to {project.chair_id}"
        )
        back = entry(
            EntryKind.RELEASE, pool_id, label, account, chair_account(project.chair_id),
            unused, actor, now, why, reference=reference,
        )  # fmt: skip
        out.append(uow.ledger.append(back))
        record(uow, actor, now, "project.ended", f"project:{project.id}", why)
    return out
