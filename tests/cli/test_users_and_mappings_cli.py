"""``token create`` never invents a user by accident, and ``projects unmap-account`` undoes
``map-account``; on both backends, through the real command line."""

from __future__ import annotations

from typing import Any

from connectors.bootstrap import Services
from connectors.tokens import list_tokens
from tests.builders import ADMIN
from tests.cli.test_cli import one_error_line
from tests.cli.test_token_cli import Cli, cli, services
from tests.conftest import NOW

__all__ = ["cli", "services"]  # fixtures


def world(services: Services) -> dict[str, Any]:
    tokens = len(list_tokens(services.session_factory, ADMIN, NOW, None))
    with services.uow(read_only=True) as uow:
        return {
            "users": sorted(u.username for u in uow.users.list()),
            "tokens": tokens,
            "audit": len(list(uow.audit.list())),
            "projects": list(uow.projects.list()),
        }


def test_a_token_for_a_misspelt_user_is_refused_naming_the_user(
    cli: Cli, services: Services
) -> None:
    before = world(services)
    result = cli("token", "create", "--user", "alcie", "--role", "researcher")
    line = one_error_line(result)
    assert result.exit_code == 2
    assert line == ("gpuhours: error: user: unknown user 'alcie' (to create it, add --new-user)")
    assert world(services) == before  # no user, no token, no audit event


def test_new_user_creates_the_user_with_the_role_then_mints(cli: Cli, services: Services) -> None:
    token = cli.ok("token", "create", "--user", "zoe", "--role", "engineer", "--new-user").strip()
    assert token.startswith("gph_")
    with services.uow() as uow:
        zoe = uow.users.get("zoe")
        actions = [e.action for e in uow.audit.list("user:zoe")]
    assert zoe is not None and zoe.role.value == "engineer"
    assert actions[0] == "user.created" and "token.minted_for_user" in actions
    [row] = cli.json("token", "list", "--user", "zoe")
    assert row["state"] == "active"


def test_new_user_on_an_existing_user_only_mints(cli: Cli, services: Services) -> None:
    users_before = world(services)["users"]
    cli.ok("token", "create", "--user", "alice", "--role", "researcher", "--new-user")
    assert world(services)["users"] == users_before
    line = one_error_line(
        cli("token", "create", "--user", "alice", "--role", "admin", "--new-user")
    )
    assert "alice is researcher, not admin" in line


def test_unmap_account_removes_the_mapping_and_is_audited(cli: Cli, services: Services) -> None:
    project = cli.json(
        "projects", "unmap-account", "p1", "--cluster", "enact-dev", "--account", "acct-p1"
    )
    assert project["id"] == "p1" and project["slurm_accounts"] == []
    [listed] = [p for p in cli.json("projects", "list") if p["id"] == "p1"]
    assert listed["slurm_accounts"] == []
    with services.uow() as uow:
        events = [(e.action, e.detail) for e in uow.audit.list("project:p1")]
    assert ("project.slurm_account_unmapped", "acct-p1@enact-dev") in events
    # mapped again: the account is free for any project
    again = cli.json(
        "projects", "map-account", "p1b", "--cluster", "enact-dev", "--account", "acct-p1"
    )
    assert again["slurm_accounts"] == [{"cluster": "enact-dev", "account": "acct-p1"}]


def test_unmapping_an_account_the_project_lacks_is_one_line(cli: Cli, services: Services) -> None:
    before = world(services)
    line = one_error_line(
        cli("projects", "unmap-account", "p1", "--cluster", "enact-dev", "--account", "acct-p2")
    )
    assert line.startswith("gpuhours: error: ")
    assert "acct-p2@enact-dev" in line
    line = one_error_line(
        cli("projects", "unmap-account", "nope", "--cluster", "enact-dev", "--account", "acct-p1")
    )
    assert "nope" in line
    assert world(services) == before
