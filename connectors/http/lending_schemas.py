"""Lending inside a chair: its terms, a loan, a borrowing, a recall, the period end's return;
the chair's lending as answered."""

from __future__ import annotations

from pydantic import BaseModel, Field

from allocator.lending import ReturnPolicy
from connectors.http.schemas import NOT_BLANK, Hours, PeriodLabel, Slug, Strict
from connectors.http.schemas.values import UtcDatetime

REASON = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


class LimitsIn(Strict):
    project_id: Slug
    lending_limit_hours: Hours | None = Field(default=None, description="null: no limit")
    borrowing_limit_hours: Hours | None = Field(default=None, description="null: no limit")


class TermsIn(Strict):
    policy: ReturnPolicy = Field(
        description="period_end: loans return at the period's end; recall: also when the"
        " lender recalls them"
    )
    limits: list[LimitsIn] = Field(
        default_factory=list, max_length=1000, description="each project once; others unchanged"
    )


class LoanIn(Strict):
    pool_id: Slug
    period: PeriodLabel
    lender: Slug
    borrower: Slug
    hours: Hours
    reason: str = REASON


class BorrowIn(Strict):
    pool_id: Slug
    period: PeriodLabel
    borrower: Slug
    hours: Hours
    reason: str = REASON


class RecallIn(Strict):
    pool_id: Slug
    period: PeriodLabel
    lender: Slug
    hours: Hours
    reason: str = REASON


class ReturnIn(Strict):
    pool_id: Slug
    period: PeriodLabel


class ProjectLendingOut(BaseModel):
    project_id: str
    lending_limit_hours: float | None
    borrowing_limit_hours: float | None
    unused_hours: float
    lendable_hours: float


class LoanOut(BaseModel):
    reference: str
    lender: str
    borrower: str
    lent_hours: float
    returned_hours: float
    outstanding_hours: float


class LendingOut(BaseModel):
    chair_id: str
    pool_id: str
    period: str
    policy: str
    projects: list[ProjectLendingOut]
    loans: list[LoanOut]


class ProjectEndIn(Strict):
    end: UtcDatetime | None = Field(description="the project's end (a defence); null: none")


class EndedReturnIn(Strict):
    project_id: Slug | None = Field(default=None, description="default: every ended project")
