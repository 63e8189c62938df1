"""Users, chairs and projects (with their Slurm accounts); a chair's balance."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, Field

from allocator.ledger import ChairBalance
from allocator.model import Chair, Project, ProjectKind, Role, User
from connectors.http.schemas.values import UNIT_DOC, Slug, Strict, UtcDatetime
from connectors.presenters import allocation as present


class ChairIn(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    institution: str = Field(default="", max_length=200)
    holder: str = Field(default="", max_length=200)
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None


class SlurmAccountIn(Strict):
    cluster: Slug
    # No '/' and no white space: ``\s`` and the characters on which Python's ``\s`` and
    # ECMAScript's (the document's regular expressions) disagree, so that both read it alike.
    account: str = Field(min_length=1, max_length=128, pattern=r"^[^\s/\x1c-\x1f\x85\ufeff]+$")


class ProjectIn(Strict):
    id: Slug
    chair_id: Slug
    name: str = Field(min_length=1, max_length=200)
    kind: ProjectKind = ProjectKind.OTHER
    pi: Slug
    members: list[Slug] = Field(default_factory=list, max_length=500)
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None
    slurm_accounts: list[SlurmAccountIn] = Field(default_factory=list, max_length=50)


class MemberIn(Strict):
    username: Slug


class UserIn(Strict):
    username: Slug
    role: Role
    full_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=200)


class UserOut(BaseModel):
    username: str
    role: Role
    full_name: str
    email: str

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls.model_validate(present.user(u))


class ChairOut(BaseModel):
    id: str
    name: str
    institution: str
    holder: str
    start: datetime | None
    end: datetime | None

    @classmethod
    def of(cls, c: Chair) -> ChairOut:
        return cls.model_validate(present.chair(c))


class ProjectOut(BaseModel):
    id: str
    chair_id: str
    name: str
    kind: ProjectKind
    pi: str
    members: list[str]
    start: datetime | None
    end: datetime | None
    slurm_accounts: list[dict[str, str]]

    @classmethod
    def of(cls, p: Project) -> ProjectOut:
        return cls.model_validate(present.project(p))


class ChairBalanceOut(BaseModel):
    chair_id: str
    pool_id: str
    unit: str = Field(description=UNIT_DOC)
    period: str
    received_seconds: int
    allocated_to_projects_seconds: int
    unallocated_seconds: int
    received_hours: float
    allocated_to_projects_hours: float
    unallocated_hours: float

    @classmethod
    def of(cls, b: ChairBalance, units: Mapping[str, str]) -> ChairBalanceOut:
        return cls.model_validate(present.chair_balance(b, units.get(b.pool_id, "")))
