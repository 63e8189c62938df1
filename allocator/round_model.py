"""An allocation round as stored: its period, pools and deadline, the chairs' weights, the
requests' minimums, the administrators' edits, and (once approved) its lines.

Frozen values only; the fair division itself is :mod:`allocator.rounds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RoundState(StrEnum):
    OPEN = "open"  # requests of its period and pools join it until the deadline
    CLOSED = "closed"  # past its deadline: demand and proposal shown to staff, not approved
    APPROVED = "approved"  # every line allocated, in one transaction


@dataclass(frozen=True, slots=True)
class RoundMinimum:
    """At least ``amount`` unit-seconds guaranteed to a request, for ``reason`` (thesis)."""

    request_id: int
    amount: int
    reason: str


@dataclass(frozen=True, slots=True)
class RoundEdit:
    """An administrator's amount for one line, over the proposal's."""

    request_id: int
    amount: int
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RoundLine:
    """One request's line as approved: its amount, why, and whether an admin edited it."""

    request_id: int
    amount: int
    basis: str
    explanation: str
    edited: bool = False


@dataclass(frozen=True, slots=True)
class AllocationRound:
    id: int
    period: str
    pool_ids: tuple[str, ...]
    deadline: datetime
    opened_by: str
    opened_at: datetime
    approved: bool = False
    decided_by: str | None = None
    decided_at: datetime | None = None
    #: ``(chair_id, weight)``, positive integers; a chair absent weighs 1
    weights: tuple[tuple[str, int], ...] = ()
    minimums: tuple[RoundMinimum, ...] = ()
    edits: tuple[RoundEdit, ...] = ()
    #: the lines as approved (empty until then)
    lines: tuple[RoundLine, ...] = ()

    def state(self, now: datetime) -> RoundState:
        if self.approved:
            return RoundState.APPROVED
        return RoundState.OPEN if now < self.deadline else RoundState.CLOSED

    @property
    def reference(self) -> str:
        """What every ledger entry of its approval carries."""
        return f"round:{self.id}"
