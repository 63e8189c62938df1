"""Bearer tokens of the API from the configured providers, beside gpuhours' own.

A JWT is given to the provider whose issuer it claims, checked there (signature by the JWKS,
issuer, audience: the provider's ``api_audience`` or its client id, expiry with the leeway),
then its ``(iss, sub)`` must be linked to an active gpuhours user: someone who signed in to
the portal once (or whom an administrator linked). Opaque (non-JWT) provider tokens are not
introspected yet: they are refused like any unknown token.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from allocator.model import User
from connectors.auth import Authenticator
from connectors.db.identities import SqlIdentities
from connectors.identity.errors import OidcError
from connectors.identity.provider import Provider, unverified_issuer

log = logging.getLogger(__name__)


class OidcBearerAuthenticator:
    def __init__(self, providers: Sequence[Provider], identities: SqlIdentities) -> None:
        self.providers = {p.issuer: p for p in providers}
        self.identities = identities

    def authenticate(self, credentials: str) -> User | None:
        provider = self.providers.get(unverified_issuer(credentials))
        if provider is None:
            return None
        audience = provider.config.api_audience or provider.config.client_id
        try:
            claims = provider.verify(credentials, audience)
        except OidcError as exc:
            log.info("bearer JWT of %s refused: %s", provider.name, exc.reason)
            return None
        return self.identities.find(provider.issuer, str(claims["sub"]))


class FirstOf:
    """The first authenticator that knows the credentials (gpuhours' tokens first)."""

    def __init__(self, *authenticators: Authenticator) -> None:
        self.authenticators = authenticators

    def authenticate(self, credentials: str) -> User | None:
        for authenticator in self.authenticators:
            user = authenticator.authenticate(credentials)
            if user is not None:
                return user
        return None
