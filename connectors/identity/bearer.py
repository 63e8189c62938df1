"""Bearer tokens of the API from the configured providers, beside gpuhours' own.

A JWT is given to the provider whose issuer it claims, checked there (signature by the JWKS,
issuer, audience: the provider's ``api_audience`` or its client id, expiry with the leeway),
then its ``(iss, sub)`` must be linked to an active gpuhours user: someone who signed in to
the portal once. An opaque token (not a JWT, not gpuhours') is asked of each provider that
offers introspection (RFC 7662), and the answer kept :data:`INTROSPECTION_SECONDS` (by the
token's SHA-256), so that a script's requests do not each cost a round trip.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from allocator.model import User
from connectors.auth import TOKEN_PREFIX, Authenticator
from connectors.db.identities import SqlIdentities
from connectors.identity.errors import OidcError
from connectors.identity.provider import Provider, unverified_issuer

log = logging.getLogger(__name__)
INTROSPECTION_SECONDS = 60.0
MAX_KEPT = 10_000


class OidcBearerAuthenticator:
    def __init__(
        self,
        providers: Sequence[Provider],
        identities: SqlIdentities,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers = {p.issuer: p for p in providers}
        self.identities = identities
        self._monotonic = monotonic
        self._kept: dict[str, tuple[float, tuple[str, str] | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, credentials: str) -> User | None:
        if credentials.count(".") != 2:
            return self._opaque(credentials)
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

    def _opaque(self, token: str) -> User | None:
        if token.startswith(TOKEN_PREFIX) or not token:
            return None  # one of gpuhours' own, unknown: no provider is asked
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._monotonic()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] > now:
            who = kept[1]
        else:
            who = self._introspect(token)
            with self._lock:
                if len(self._kept) >= MAX_KEPT:
                    self._kept.clear()
                self._kept[key] = (now + INTROSPECTION_SECONDS, who)
        return None if who is None else self.identities.find(*who)

    def _introspect(self, token: str) -> tuple[str, str] | None:
        for provider in self.providers.values():
            try:
                found: dict[str, Any] | None = provider.introspect(token)
            except OidcError as exc:
                log.info("introspection at %s failed: %s", provider.name, exc.reason)
                continue
            if found is not None:
                return provider.issuer, str(found["sub"])
        return None


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
