"""The group-claim -> project rule: a provider's ``project_rules`` make someone a member of a
project when a claim carries the rule's value, at each portal sign-in, through the use case
an administrator's "add member" calls (audited as the provider). Memberships are only added;
an unknown project in a rule is skipped and the sign-in goes on.

The provider is the crafted one (``FakeIdP`` behind ``httpx.MockTransport``): the claims are
the test's. The writes run on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from connectors.bootstrap import Services
from connectors.db import tables as t
from connectors.identity.claims import projects_of
from connectors.identity.provider import Provider
from connectors.settings import ProjectRule
from tests.identity.conftest import FakeIdP, config_of, services_with
from tests.identity.test_refusals import callback_with
from tests.web.inprocess import client_of

RULES = [
    {"claim": "groups", "value": "hpc-p1", "project": "p1"},
    {"claim": "eduPersonEntitlement", "value": "urn:mace:inria.fr:p2", "project": "p2"},
    {"claim": "groups", "value": "hpc-gone", "project": "no-such-project"},
]


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
def sso(engine: Engine, idp: FakeIdP) -> Services:
    sv = services_with(engine)
    config = config_of(idp.issuer, "inria", project_rules=RULES)
    sv.identity_providers = {"inria": Provider(config, transport=httpx.MockTransport(idp.handler))}
    return sv


@pytest.fixture
def portal(sso: Services) -> Iterator[TestClient]:
    with client_of(sso) as c:
        yield c


def members(sv: Services) -> dict[str, list[str]]:
    M = t.ProjectMemberRow
    with sv.engine.connect() as conn:
        rows = conn.execute(select(M.project_id, M.username).order_by(M.project_id, M.username))
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.project_id, []).append(row.username)
    return found


def added_by_rules(sv: Services) -> list[tuple[str, str, str]]:
    A = t.AuditEventRow
    with sv.engine.connect() as conn:
        rows = conn.execute(
            select(A.actor, A.subject, A.detail)
            .where(A.action == "project.member_added")
            .order_by(A.id)
        )
        return [(r.actor, r.subject, r.detail) for r in rows]


def sign_in(portal: TestClient, idp: FakeIdP, **claims: Any) -> None:
    answer = callback_with(portal, idp, **claims)
    assert answer.status_code == 303, answer.text
    portal.cookies.clear()


def test_the_rules_pick_the_projects_a_claim_value_names() -> None:
    rules = [ProjectRule.model_validate(r) for r in RULES]
    assert projects_of({"groups": ["staff", "hpc-p1", "hpc-gone"]}, rules) == [
        "no-such-project",
        "p1",
    ]
    assert projects_of({"eduPersonEntitlement": "urn:mace:inria.fr:p2"}, rules) == ["p2"]
    assert projects_of({"groups": "hpc-p1x", "other": ["hpc-p1"]}, rules) == []


def test_a_group_claim_makes_a_member_at_sign_in_once_and_audited(
    portal: TestClient, idp: FakeIdP, sso: Services
) -> None:
    before = members(sso)
    groups = ["hpc-p1", "hpc-gone"]
    entitlement = "urn:mace:inria.fr:p2"
    sign_in(portal, idp, groups=groups, eduPersonEntitlement=[entitlement])
    after = members(sso)
    assert after["p1"] == sorted([*before.get("p1", []), "dave@inria.fr"])
    assert after["p2"] == sorted([*before.get("p2", []), "dave@inria.fr"])
    assert "dave@inria.fr" not in after.get("p1b", [])
    assert added_by_rules(sso) == [
        ("oidc:inria", "project:p1", "dave@inria.fr"),
        ("oidc:inria", "project:p2", "dave@inria.fr"),
    ]
    # signing in again adds nothing; leaving a group removes nothing (the PI's decision)
    sign_in(portal, idp, groups=["hpc-p1"])
    sign_in(portal, idp, groups=[])
    assert members(sso) == after
    assert len(added_by_rules(sso)) == 2


def test_without_a_matching_claim_the_new_user_has_no_project(
    portal: TestClient, idp: FakeIdP, sso: Services
) -> None:
    before = members(sso)
    sign_in(portal, idp, groups=["staff"])
    assert members(sso) == before
    assert added_by_rules(sso) == []
