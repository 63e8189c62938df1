"""The ledger: append-only entries, their flows per pool and period, and the close lock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import BigInteger, func, select
from sqlalchemy.orm import Session

from allocator.errors import PeriodIsClosed
from allocator.ledger import Flows
from allocator.model import EntryKind, LedgerEntry
from allocator.ports import Newest
from connectors.db import tables as t
from connectors.db.locks import hold_close_lock
from connectors.db.windows import newest


class SqlLedger:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.forget_locks()

    def forget_locks(self) -> None:
        """The transaction ended (commit or rollback): its locks are gone."""
        self._close_lock = ""
        self._open: set[str] = set()  # periods read as open under the close lock

    def lock_closing(self, exclusive: bool = False) -> None:
        if self._close_lock == "exclusive" or (self._close_lock and not exclusive):
            return
        hold_close_lock(self.session.connection(), exclusive=exclusive)
        self._close_lock = "exclusive" if exclusive else "shared"

    def append(self, entry: LedgerEntry) -> LedgerEntry:
        # Safety net under every use case: no entry lands in a period not read as open under
        # the close lock in this transaction (the use cases check it first, naming the field).
        if entry.period not in self._open:
            self.lock_closing()
            if self.is_closed(entry.period):
                raise PeriodIsClosed(entry.period)
        row = t.LedgerEntryRow(
            kind=entry.kind.value,
            pool_id=entry.pool_id,
            period=entry.period,
            source=entry.source,
            target=entry.target,
            amount=entry.amount,
            actor=entry.actor,
            at=entry.at,
            reason=entry.reason,
            request_id=entry.request_id,
            reference=entry.reference,
        )
        self.session.add(row)
        self.session.flush()
        return _entry(row)

    def flows(self, pool_id: str, period: str) -> Flows:
        E = t.LedgerEntryRow
        rows = self.session.execute(
            select(E.source, E.target, E.kind, func.sum(E.amount))
            .where(E.pool_id == pool_id, E.period == period)
            .group_by(E.source, E.target, E.kind)
        )
        return {(s, tg, EntryKind(k)): int(a) for s, tg, k, a in rows}

    def flows_in(
        self, pool_ids: Sequence[str], period: str, accounts: Sequence[str] | None = None
    ) -> Mapping[str, Flows]:
        E = t.LedgerEntryRow
        out: dict[str, dict[tuple[str, str, EntryKind], int]] = {p: {} for p in pool_ids}
        if not pool_ids or (accounts is not None and not accounts):
            return out
        query = (
            # bigint, not numeric: the driver then makes ints, not Decimals
            select(E.pool_id, E.source, E.target, E.kind, func.sum(E.amount).cast(BigInteger))
            .where(E.pool_id.in_(list(pool_ids)), E.period == period)
            .group_by(E.pool_id, E.source, E.target, E.kind)
        )
        if accounts is not None:
            query = query.where(E.source.in_(list(accounts)) | E.target.in_(list(accounts)))
        kinds = {k.value: k for k in EntryKind}
        for pool_id, source, target, kind, amount in self.session.execute(query):
            out[pool_id][(source, target, kinds[kind])] = amount
        return out

    def entries(
        self,
        pool_id: str | None = None,
        period: str | None = None,
        account: str | None = None,
        request_id: int | None = None,
        window: Newest | None = None,
    ) -> Sequence[LedgerEntry]:
        E = t.LedgerEntryRow
        query = select(E).order_by(E.id) if window is None else newest(select(E), E.id, window)
        if pool_id is not None:
            query = query.where(E.pool_id == pool_id)
        if period is not None:
            query = query.where(E.period == period)
        if account is not None:
            query = query.where((E.source == account) | (E.target == account))
        if request_id is not None:
            query = query.where(E.request_id == request_id)
        return [_entry(r) for r in self.session.scalars(query)]

    def entry(self, entry_id: int) -> LedgerEntry | None:
        row = self.session.get(t.LedgerEntryRow, entry_id)
        return None if row is None else _entry(row)

    def has_reference(self, pool_id: str, period: str, reference: str) -> bool:
        E = t.LedgerEntryRow
        found = self.session.scalar(
            select(E.id)
            .where(E.pool_id == pool_id, E.period == period, E.reference == reference)
            .limit(1)
        )
        return found is not None

    def clawed_back(self, period: str) -> Mapping[tuple[str, str], int]:
        E = t.LedgerEntryRow
        query = (
            select(E.pool_id, E.source, func.sum(E.amount).cast(BigInteger))
            .where(
                E.period == period,
                E.kind == EntryKind.RELEASE.value,
                E.source.startswith("project:", autoescape=True),
                E.reference.startswith("clawback:", autoescape=True),
            )
            .group_by(E.pool_id, E.source)
        )
        return {
            (pool_id, source.removeprefix("project:")): int(amount)
            for pool_id, source, amount in self.session.execute(query)
        }

    def is_closed(self, period: str) -> bool:
        closed = self.session.get(t.PeriodCloseRow, period) is not None
        if self._close_lock and not closed:
            self._open.add(period)  # and it stays open until this transaction ends
        return closed


def _entry(row: t.LedgerEntryRow) -> LedgerEntry:
    return LedgerEntry(
        EntryKind(row.kind),
        row.pool_id,
        row.period,
        row.source,
        row.target,
        row.amount,
        row.actor,
        row.at,
        row.reason,
        row.request_id,
        row.reference,
        row.id,
    )
