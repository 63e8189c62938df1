"""Borrowing and lending inside a chair, after Kueue's vocabulary.

A project *lends* unused hours of a pool and period to another project of its chair, up to its
**lending limit** (the most it may have lent out at once); a project *borrows* up to its
**borrowing limit** (the most it may owe at once). ``None`` is no limit, as an unset limit in
Kueue. A project that has hours lent out does not borrow, and one that owes does not lend: a
loan never passes borrowed hours on.

Every move is a ledger ``TRANSFER`` between two projects of the chair, so a chair's total never
changes through lending. A loan is known by its references in the journal: ``loan:7`` lends,
``loan:7:return`` gives back (once or in parts). :func:`loans_of` reads the loans from the
entries; nothing else has to be stored.

Loans come back:

* at the **period's end**, always (:func:`period_end`);
* when the lender **recalls** them, if the chair's policy is :attr:`ReturnPolicy.RECALL`
  (:func:`recall`): its newest loans first.

A return gives back what the borrower still has unused, at most what is owed: hours the borrower
has already consumed cannot come back, and the loan stays open for them (a second return finds
nothing more to give, so returning twice posts nothing).

Pure: each function takes the chair's terms, the loans and each project's unused hours now, and
returns the entries to journal (or raises :class:`~allocator.errors.Conflict`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from allocator.errors import Conflict, InvalidInput, OverCommit
from allocator.ledger import Flows, balance
from allocator.model import EntryKind, LedgerEntry, project_account
from allocator.rules import check_amount

LOAN = "loan:"
RETURN = ":return"


class ReturnPolicy(StrEnum):
    """When a chair's loans come back."""

    PERIOD_END = "period_end"  # at the period's end only
    RECALL = "recall"  # also whenever the lender recalls them


@dataclass(frozen=True, slots=True)
class Limits:
    """A project's limits, in unit-seconds; ``None``: no limit."""

    project_id: str
    lending_limit: int | None = None
    borrowing_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Terms:
    """A chair's lending terms in one pool and period: its policy, and the limits of every one
    of its projects (a project not listed is not of the chair)."""

    chair_id: str
    pool_id: str
    period: str
    policy: ReturnPolicy
    limits: tuple[Limits, ...]

    def of(self, project_id: str, field: str) -> Limits:
        for limits in self.limits:
            if limits.project_id == project_id:
                return limits
        raise InvalidInput(field, f"{project_id} is not a project of {self.chair_id}")


@dataclass(frozen=True, slots=True)
class Loan:
    number: int
    lender: str
    borrower: str
    lent: int
    returned: int = 0

    @property
    def outstanding(self) -> int:
        return self.lent - self.returned


def loans_of(entries: Iterable[LedgerEntry]) -> tuple[Loan, ...]:
    """The loans the journal holds (its ``loan:`` entries), by number."""
    lent: dict[int, tuple[str, str, int]] = {}
    returned: dict[int, int] = {}
    for e in entries:
        if e.kind is not EntryKind.TRANSFER or not e.reference.startswith(LOAN):
            continue
        number = int(e.reference.removeprefix(LOAN).removesuffix(RETURN))
        if e.reference.endswith(RETURN):
            returned[number] = returned.get(number, 0) + e.amount
        else:
            lender, borrower = _project(e.source), _project(e.target)
            lent[number] = (lender, borrower, e.amount)
    return tuple(
        Loan(n, lender, borrower, amount, returned.get(n, 0))
        for n, (lender, borrower, amount) in sorted(lent.items())
    )


def unused_of(flows: Flows, used: Mapping[str, int], projects: Iterable[str]) -> dict[str, int]:
    """Each project's unused hours: its balance in ``flows`` less what it consumed (``used``:
    final and provisional seconds by project). What can be lent, and what a loan returns."""
    return {p: balance(flows, project_account(p)) - used.get(p, 0) for p in projects}


def _project(account: str) -> str:
    return account.removeprefix(project_account(""))


def lent_out(loans: Iterable[Loan], project_id: str) -> int:
    return sum(loan.outstanding for loan in loans if loan.lender == project_id)


def owed(loans: Iterable[Loan], project_id: str) -> int:
    return sum(loan.outstanding for loan in loans if loan.borrower == project_id)


@dataclass(frozen=True, slots=True)
class Move:
    """Who does it, when, and why: what every entry of one call carries."""

    actor: str
    at: datetime
    reason: str


def lend(
    terms: Terms,
    loans: Sequence[Loan],
    unused: Mapping[str, int],
    lender: str,
    borrower: str,
    amount: int,
    move: Move,
) -> list[LedgerEntry]:
    """``lender`` lends ``amount`` of its unused hours to ``borrower``: one entry."""
    check_amount(amount)
    if lender == borrower:
        raise InvalidInput("borrower", "must differ from the lender")
    terms.of(lender, "lender")
    terms.of(borrower, "borrower")
    if owed(loans, lender):
        raise Conflict(f"lender: {lender} owes hours; it does not lend", field="lender")
    if lendable(terms, loans, unused, lender) < amount:
        raise OverCommit(
            f"project {lender}'s unused hours within its lending limit",
            wanted=amount,
            available=lendable(terms, loans, unused, lender),
            unit="h",
        )
    _check_borrowing(terms, loans, borrower, amount)
    return [_lend_entry(terms, _next_number(loans), lender, borrower, amount, move)]


def borrow(
    terms: Terms,
    loans: Sequence[Loan],
    unused: Mapping[str, int],
    borrower: str,
    amount: int,
    move: Move,
) -> list[LedgerEntry]:
    """``borrower`` borrows ``amount`` from the chair's other projects, those with the most to
    lend first (ties by project id): one loan per lender."""
    check_amount(amount)
    terms.of(borrower, "borrower")
    _check_borrowing(terms, loans, borrower, amount)
    offers = sorted(
        (
            (-lendable(terms, loans, unused, limits.project_id), limits.project_id)
            for limits in terms.limits
            if limits.project_id != borrower
        ),
    )
    available = -sum(offer for offer, _ in offers)
    if available < amount:
        raise OverCommit(
            f"the lendable hours of {terms.chair_id}", wanted=amount, available=available, unit="h"
        )
    entries: list[LedgerEntry] = []
    number, left = _next_number(loans), amount
    for offer, lender in offers:
        part = min(-offer, left)
        if part <= 0:
            break
        entries.append(_lend_entry(terms, number, lender, borrower, part, move))
        number, left = number + 1, left - part
    return entries


def lendable(terms: Terms, loans: Sequence[Loan], unused: Mapping[str, int], project: str) -> int:
    """What ``project`` may lend now: its unused hours, within its lending limit; nothing while
    it owes hours."""
    if owed(loans, project):
        return 0
    limit = terms.of(project, "lender").lending_limit
    room = unused.get(project, 0)
    if limit is not None:
        room = min(room, limit - lent_out(loans, project))
    return max(room, 0)


def _check_borrowing(terms: Terms, loans: Sequence[Loan], borrower: str, amount: int) -> None:
    if lent_out(loans, borrower):
        raise Conflict(
            f"borrower: {borrower} has hours lent out; it does not borrow", field="borrower"
        )
    limit = terms.of(borrower, "borrower").borrowing_limit
    if limit is not None and owed(loans, borrower) + amount > limit:
        raise OverCommit(
            f"project {borrower}'s borrowing limit",
            wanted=amount,
            available=max(limit - owed(loans, borrower), 0),
            unit="h",
        )


def recall(
    terms: Terms,
    loans: Sequence[Loan],
    unused: Mapping[str, int],
    lender: str,
    amount: int,
    move: Move,
) -> list[LedgerEntry]:
    """The lender needs ``amount`` back: its newest loans return first, each what its borrower
    still has unused. Refused when the chair's loans return at the period's end only."""
    check_amount(amount)
    terms.of(lender, "lender")
    if terms.policy is not ReturnPolicy.RECALL:
        raise Conflict(
            f"policy: {terms.chair_id}'s loans return at the period's end only", field="policy"
        )
    mine = [loan for loan in loans if loan.lender == lender]
    return _returns(terms, sorted(mine, key=lambda loan: -loan.number), unused, amount, move)


def period_end(
    terms: Terms, loans: Sequence[Loan], unused: Mapping[str, int], move: Move
) -> list[LedgerEntry]:
    """Every open loan returns at the period's end, by number, as far as its borrower has
    unused hours."""
    return _returns(terms, sorted(loans, key=lambda loan: loan.number), unused, None, move)


def _returns(
    terms: Terms,
    loans: Sequence[Loan],
    unused: Mapping[str, int],
    wanted: int | None,
    move: Move,
) -> list[LedgerEntry]:
    left = dict(unused)
    entries: list[LedgerEntry] = []
    for loan in loans:
        part = min(loan.outstanding, max(left.get(loan.borrower, 0), 0))
        if wanted is not None:
            part = min(part, wanted - sum(e.amount for e in entries))
        if part <= 0:
            continue
        left[loan.borrower] = left.get(loan.borrower, 0) - part
        entries.append(
            _entry(terms, f"{LOAN}{loan.number}{RETURN}", loan.borrower, loan.lender, part, move)
        )
    return entries


def _next_number(loans: Sequence[Loan]) -> int:
    return max((loan.number for loan in loans), default=0) + 1


def _lend_entry(
    terms: Terms, number: int, lender: str, borrower: str, amount: int, move: Move
) -> LedgerEntry:
    return _entry(terms, f"{LOAN}{number}", lender, borrower, amount, move)


def _entry(
    terms: Terms, reference: str, source: str, target: str, amount: int, move: Move
) -> LedgerEntry:
    return LedgerEntry(
        EntryKind.TRANSFER,
        terms.pool_id,
        terms.period,
        project_account(source),
        project_account(target),
        amount,
        move.actor,
        move.at,
        move.reason,
        None,
        reference,
    )
