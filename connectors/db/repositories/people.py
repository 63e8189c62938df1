"""Users, chairs and projects (with their members and Slurm accounts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from allocator.model import Chair, Project, ProjectKind, Role, SlurmAccount, User
from connectors.db import tables as t


class SqlUsers:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, username: str) -> User | None:
        row = self.session.get(t.UserRow, username)
        return None if row is None else _user(row)

    def add(self, user: User) -> None:
        self.session.add(
            t.UserRow(
                username=user.username,
                role=user.role.value,
                full_name=user.full_name,
                email=user.email,
            )
        )
        self.session.flush()

    def list(self) -> Sequence[User]:
        rows = self.session.scalars(select(t.UserRow).order_by(t.UserRow.username))
        return [_user(r) for r in rows]


def _user(row: t.UserRow) -> User:
    return User(row.username, Role(row.role), row.full_name, row.email)


class SqlChairs:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, chair_id: str) -> Chair | None:
        row = self.session.get(t.ChairRow, chair_id)
        return None if row is None else _chair(row)

    def add(self, chair: Chair) -> None:
        self.session.add(
            t.ChairRow(
                id=chair.id,
                name=chair.name,
                institution=chair.institution,
                holder=chair.holder,
                start=chair.start,
                end=chair.end,
            )
        )
        self.session.flush()

    def list(self) -> Sequence[Chair]:
        return [_chair(r) for r in self.session.scalars(select(t.ChairRow).order_by(t.ChairRow.id))]


def _chair(row: t.ChairRow) -> Chair:
    return Chair(row.id, row.name, row.institution, row.holder, row.start, row.end)


class SqlProjects:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, project_id: str) -> Project | None:
        row = self.session.get(t.ProjectRow, project_id)
        return None if row is None else self._load([row])[0]

    def _load(self, rows: Sequence[t.ProjectRow]) -> list[Project]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        members: dict[str, list[str]] = defaultdict(list)
        for m in self.session.scalars(
            select(t.ProjectMemberRow)
            .where(t.ProjectMemberRow.project_id.in_(ids))
            .order_by(t.ProjectMemberRow.project_id, t.ProjectMemberRow.position)
        ):
            members[m.project_id].append(m.username)
        accounts: dict[str, list[SlurmAccount]] = defaultdict(list)
        for a in self.session.scalars(
            select(t.SlurmAccountRow)
            .where(t.SlurmAccountRow.project_id.in_(ids))
            .order_by(t.SlurmAccountRow.cluster, t.SlurmAccountRow.account)
        ):
            accounts[a.project_id].append(SlurmAccount(a.cluster, a.account))
        return [
            Project(
                id=r.id,
                chair_id=r.chair_id,
                name=r.name,
                kind=ProjectKind(r.kind),
                pi=r.pi,
                members=tuple(members[r.id]),
                start=r.start,
                end=r.end,
                slurm_accounts=tuple(accounts[r.id]),
            )
            for r in rows
        ]

    def add(self, project: Project) -> None:
        row = t.ProjectRow(id=project.id)
        self._sync(row, project)
        self.session.add(row)
        self._sync_children(project)

    def update(self, project: Project) -> None:
        row = self.session.get(t.ProjectRow, project.id)
        assert row is not None
        self._sync(row, project)
        self._sync_children(project)

    @staticmethod
    def _sync(row: t.ProjectRow, project: Project) -> None:
        row.chair_id, row.name, row.kind = project.chair_id, project.name, project.kind.value
        row.pi, row.start, row.end = project.pi, project.start, project.end

    def _sync_children(self, project: Project) -> None:
        s = self.session
        s.execute(delete(t.ProjectMemberRow).where(t.ProjectMemberRow.project_id == project.id))
        s.execute(delete(t.SlurmAccountRow).where(t.SlurmAccountRow.project_id == project.id))
        s.flush()
        s.add_all(
            t.ProjectMemberRow(project_id=project.id, username=u, position=i)
            for i, u in enumerate(project.members)
        )
        s.add_all(
            t.SlurmAccountRow(cluster=a.cluster, account=a.account, project_id=project.id)
            for a in project.slurm_accounts
        )
        s.flush()

    def list(self, chair_id: str | None = None, member: str | None = None) -> Sequence[Project]:
        query = _of_member(select(t.ProjectRow).order_by(t.ProjectRow.id), member)
        if chair_id is not None:
            query = query.where(t.ProjectRow.chair_id == chair_id)
        return self._load(list(self.session.scalars(query)))

    def ids(self, member: str | None = None) -> Sequence[str]:
        query = _of_member(select(t.ProjectRow.id).order_by(t.ProjectRow.id), member)
        return list(self.session.scalars(query))

    def visible(self, project_id: str, username: str, everything: bool) -> bool:
        P, M = t.ProjectRow, t.ProjectMemberRow
        query = select(P.id).where(P.id == project_id)
        if not everything:
            member = select(M.username).where(M.project_id == P.id, M.username == username)
            query = query.where((P.pi == username) | member.exists())
        return self.session.scalar(query) is not None

    def by_slurm_account(self, cluster: str, account: str) -> Project | None:
        row = self.session.get(t.SlurmAccountRow, (cluster, account))
        return None if row is None else self.get(row.project_id)


def _of_member(query: Select[Any], member: str | None) -> Select[Any]:
    """Only the projects whose PI or member is ``member`` (all when ``None``)."""
    if member is None:
        return query
    P, M = t.ProjectRow, t.ProjectMemberRow
    return query.where(
        (P.pi == member) | P.id.in_(select(M.project_id).where(M.username == member))
    )
