"""Who may use hours: users, chairs, projects, their members and their Slurm accounts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from allocator import rules
from allocator.errors import AlreadyExists, InvalidInput, NotFound
from allocator.model import Chair, Project, SlurmAccount, User
from allocator.ports import UnitOfWork
from allocator.services._common import ADMIN, STAFF, get_chair, get_project, record

# --- users ----------------------------------------------------------------------------------


def create_user(uow: UnitOfWork, actor: User, now: datetime, user: User) -> User:
    rules.require_role(actor, *ADMIN)
    if not user.username or len(user.username) > 64:
        raise InvalidInput("username", "must be 1..64 characters")
    with uow:
        if uow.users.get(user.username) is not None:
            raise AlreadyExists("user", user.username, field="username")
        uow.users.add(user)
        record(uow, actor, now, "user.created", f"user:{user.username}", user.role.value)
        uow.commit()
    return user


def list_users(uow: UnitOfWork, actor: User) -> list[User]:
    """Every user, by username (engineers and admins)."""
    rules.require_role(actor, *STAFF)
    with uow:
        return list(uow.users.list())


def get_user(uow: UnitOfWork, actor: User, username: str) -> User:
    """One user: staff see every one, anybody else only themselves; any other reads as
    unknown (no existence leak)."""
    with uow:
        found = uow.users.get(username)
    if found is None or not (rules.can_read_everything(actor) or username == actor.username):
        raise NotFound("user", username, field="username")
    return found


# --- chairs and projects -----------------------------------------------------------------------


def create_chair(uow: UnitOfWork, actor: User, now: datetime, chair: Chair) -> Chair:
    rules.require_role(actor, *ADMIN)
    if not chair.id:
        raise InvalidInput("id", "must not be empty")
    with uow:
        if uow.chairs.get(chair.id) is not None:
            raise AlreadyExists("chair", chair.id, field="id")
        uow.chairs.add(chair)
        record(uow, actor, now, "chair.created", f"chair:{chair.id}", chair.name)
        uow.commit()
    return chair


def create_project(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    project: Project,
    *,
    clusters: Collection[str] = (),
) -> Project:
    """A new project; its Slurm accounts name clusters gpuhours knows (``clusters``, the
    configured ones, or a pool's route)."""
    rules.require_role(actor, *ADMIN)
    if not project.id:
        raise InvalidInput("id", "must not be empty")
    if project.start and project.end and project.end <= project.start:
        raise InvalidInput("end", "must be after start")
    rules.check_project_lists(project)
    with uow:
        get_chair(uow, project.chair_id)
        if uow.projects.get(project.id) is not None:
            raise AlreadyExists("project", project.id, field="id")
        _require_users(uow, [project.pi], "pi")
        _require_users(uow, project.members, "members")
        for mapping in project.slurm_accounts:
            _check_cluster_known(uow, mapping.cluster, clusters, "slurm_accounts")
            _check_mapping_free(uow, mapping, project.id)
        uow.projects.add(project)
        record(uow, actor, now, "project.created", f"project:{project.id}", project.chair_id)
        uow.commit()
    return project


def _require_users(uow: UnitOfWork, usernames: Sequence[str], field: str) -> None:
    """Each of ``usernames`` is a known user (else a 404 naming the first unknown one)."""
    for username in usernames:
        if uow.users.get(username) is None:
            raise NotFound("user", username, field=field)


def add_member(
    uow: UnitOfWork, actor: User, now: datetime, project_id: str, username: str
) -> Project:
    rules.require_role(actor, *ADMIN)
    with uow:
        project = get_project(uow, project_id)
        _require_users(uow, [username], "username")
        if project.has_member(username):
            return project
        updated = replace(project, members=(*project.members, username))
        uow.projects.update(updated)
        record(uow, actor, now, "project.member_added", f"project:{project_id}", username)
        uow.commit()
    return updated


# --- Slurm accounts ------------------------------------------------------------------------------


def known_clusters(uow: UnitOfWork, configured: Collection[str]) -> list[str]:
    """The clusters gpuhours knows: the configured ones and those a pool's route names."""
    routed = {route.cluster for pool in uow.pools.list() for route in pool.routes}
    return sorted(routed | set(configured))


def _check_cluster_known(
    uow: UnitOfWork, cluster: str, configured: Collection[str], field: str
) -> None:
    """A mapping's cluster is one gpuhours knows, else a 422 listing the known ones."""
    if cluster in configured:
        return
    known = known_clusters(uow, configured)
    if cluster not in known:
        listed = ", ".join(known) if known else "none (configure one, or route a pool to it)"
        raise InvalidInput(
            field,
            f"{cluster!r} is not a cluster gpuhours knows (configured, or routed by a pool);"
            f" known clusters: {listed}",
        )


def _check_mapping_free(uow: UnitOfWork, mapping: SlurmAccount, project_id: str) -> None:
    """A Slurm account on a cluster belongs to one project at most."""
    owner = uow.projects.by_slurm_account(mapping.cluster, mapping.account)
    if owner is not None and owner.id != project_id:
        raise AlreadyExists(
            "slurm account",
            f"{mapping.account}@{mapping.cluster} (mapped to {owner.id})",
            field="account",
        )


def map_slurm_account(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    project_id: str,
    mapping: SlurmAccount,
    *,
    clusters: Collection[str] = (),
) -> Project:
    """Map a Slurm account on a cluster to a project (engineers and admins). The cluster is one
    gpuhours knows: configured (``clusters``) or named by a pool's route; else a 422 on
    ``cluster`` listing the known ones."""
    rules.require_role(actor, *STAFF)
    if not mapping.cluster or not mapping.account:
        raise InvalidInput("account", "cluster and account must not be empty")
    with uow:
        project = get_project(uow, project_id)
        if mapping in project.slurm_accounts:
            return project
        _check_cluster_known(uow, mapping.cluster, clusters, "cluster")
        _check_mapping_free(uow, mapping, project_id)
        updated = replace(project, slurm_accounts=(*project.slurm_accounts, mapping))
        uow.projects.update(updated)
        record(
            uow,
            actor,
            now,
            "project.slurm_account_mapped",
            f"project:{project_id}",
            f"{mapping.account}@{mapping.cluster}",
        )
        uow.commit()
    return updated


def unmap_slurm_account(
    uow: UnitOfWork, actor: User, now: datetime, project_id: str, mapping: SlurmAccount
) -> Project:
    rules.require_role(actor, *STAFF)
    with uow:
        project = get_project(uow, project_id)
        if mapping not in project.slurm_accounts:
            raise NotFound("slurm account", f"{mapping.account}@{mapping.cluster}", field="account")
        updated = replace(
            project, slurm_accounts=tuple(m for m in project.slurm_accounts if m != mapping)
        )
        uow.projects.update(updated)
        record(
            uow,
            actor,
            now,
            "project.slurm_account_unmapped",
            f"project:{project_id}",
            f"{mapping.account}@{mapping.cluster}",
        )
        uow.commit()
    return updated
