"""Who the claims of an ID token say someone is, and the role the provider's rules give."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from allocator.model import Role
from connectors.db.identities import Claimed
from connectors.settings import ClaimRule, OidcProviderConfig, ProjectRule

#: Where providers put ``eduPersonPrincipalName`` (SATOSA and Keycloak mappers differ).
EPPN_CLAIMS = ("eduPersonPrincipalName", "eppn", "edu_person_principal_name")


def values(claims: Mapping[str, Any], name: str) -> list[str]:
    """A claim's values: a list of strings, or one string (``"a b"`` is one value)."""
    found = claims.get(name)
    if isinstance(found, str):
        return [found]
    if isinstance(found, list):
        return [v for v in found if isinstance(v, str)]
    return []


def role_of(claims: Mapping[str, Any], rules: Sequence[ClaimRule]) -> Role | None:
    """The highest role the rules give (admin above engineer); with rules but none matching,
    a researcher; without rules, ``None`` (roles are then gpuhours data)."""
    if not rules:
        return None
    given = {Role(rule.role) for rule in rules if rule.value in values(claims, rule.claim)}
    for role in (Role.ADMIN, Role.ENGINEER):
        if role in given:
            return role
    return Role.RESEARCHER


def projects_of(claims: Mapping[str, Any], rules: Sequence[ProjectRule]) -> list[str]:
    """The projects the rules make someone a member of, by their claims (sorted, once each)."""
    return sorted({rule.project for rule in rules if rule.value in values(claims, rule.claim)})


def _first(claims: Mapping[str, Any], *names: str) -> str:
    for name in names:
        found = values(claims, name)
        if found and found[0].strip():
            return found[0].strip()
    return ""


def claimed(config: OidcProviderConfig, claims: Mapping[str, Any]) -> Claimed:
    """The person of a checked ID token's claims, by ``(iss, sub)``."""
    name = _first(claims, "name")
    if not name:
        name = " ".join(
            p for p in (_first(claims, "given_name"), _first(claims, "family_name")) if p
        )
    return Claimed(
        provider=config.name,
        issuer=str(claims["iss"]).rstrip("/"),
        subject=str(claims["sub"]),
        full_name=name,
        email=_first(claims, "email"),
        email_verified=claims.get("email_verified") is not False,
        eppn=_first(claims, *EPPN_CLAIMS),
        preferred_username=_first(claims, "preferred_username"),
        role=role_of(claims, config.role_rules),
    )
