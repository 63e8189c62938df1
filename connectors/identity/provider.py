"""One OpenID Connect provider, as a relying party sees it.

* **Discovery**: ``<issuer>/.well-known/openid-configuration``, read at first use and kept
  (a failure is not kept: the next sign-in tries again). Its ``issuer`` must be the one
  configured.
* **Keys**: the JWKS at ``jwks_uri``, kept; a token naming a key id the set lacks makes one
  fresh read (such reads at most once per :data:`REFRESH_SECONDS`, so that tokens naming
  made-up key ids cannot make gpuhours hammer the provider): a provider that rotated its keys
  is followed, a key it no longer lists is refused.
* **Tokens**: the signature (JWKS; asymmetric algorithms only), ``iss``, ``aud``, ``exp``,
  ``iat``/``nbf`` with the configured leeway, ``sub``, and ``nonce`` when one was sent: all by
  joserfc (Authlib's JOSE). Nothing here is cryptography of our own.
* **The code flow**: the authorization URL with ``state``, ``nonce`` and PKCE (S256,
  Authlib's helper), and the code exchanged for tokens at ``token_endpoint``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import errors as jose_errors
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from connectors.identity.errors import ProviderUnreachable, TokenRefused
from connectors.settings import OidcProviderConfig

log = logging.getLogger(__name__)
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
REFRESH_SECONDS = 30.0
MAX_TOKEN_LENGTH = 16_000


@dataclass(frozen=True, slots=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str = ""
    introspection_endpoint: str = ""
    #: RFC 8628 (the remote CLI's ``gpuhours login --provider``); empty: not offered.
    device_authorization_endpoint: str = ""


class Provider:
    def __init__(
        self,
        config: OidcProviderConfig,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.name = config.name
        self.label = config.label or config.name
        self._http = httpx.Client(transport=transport, timeout=config.timeout_seconds)
        self._now = now
        self._lock = threading.Lock()
        self._discovery: Discovery | None = None
        self._keys: KeySet | None = None
        self._refreshed_at = float("-inf")

    @property
    def issuer(self) -> str:
        return self.config.issuer.rstrip("/")

    def _get(self, url: str) -> dict[str, Any]:
        try:
            answer = self._http.get(url, headers={"accept": "application/json"})
            answer.raise_for_status()
            found = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnreachable(self.name, f"{url}: {type(exc).__name__}") from None
        if not isinstance(found, dict):
            raise ProviderUnreachable(self.name, f"{url}: not a JSON object")
        return found

    def discovery(self) -> Discovery:
        with self._lock:
            if self._discovery is None:
                self._discovery = self._discover()
            return self._discovery

    def _discover(self) -> Discovery:
        doc = self._get(f"{self.issuer}/.well-known/openid-configuration")
        if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
            raise ProviderUnreachable(self.name, "discovery names another issuer")
        try:
            return Discovery(
                issuer=str(doc["issuer"]),
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                end_session_endpoint=str(doc.get("end_session_endpoint") or ""),
                introspection_endpoint=str(doc.get("introspection_endpoint") or ""),
                device_authorization_endpoint=str(doc.get("device_authorization_endpoint") or ""),
            )
        except KeyError as exc:
            raise ProviderUnreachable(self.name, f"discovery lacks {exc.args[0]}") from None

    def _key_set(self, kid: str | None) -> KeySet:
        """The provider's keys, read again when ``kid`` is not among them (rate-limited)."""
        jwks_uri = self.discovery().jwks_uri
        with self._lock:
            known = self._keys
            unknown_kid = known is not None and kid is not None and not _has(known, kid)
            may_refresh = self._now() - self._refreshed_at >= REFRESH_SECONDS
            if known is None or (unknown_kid and may_refresh):
                if known is not None:
                    self._refreshed_at = self._now()
                try:
                    self._keys = KeySet.import_key_set(self._get(jwks_uri))  # type: ignore[arg-type]
                except (jose_errors.JoseError, ValueError, TypeError):
                    raise ProviderUnreachable(self.name, "unreadable JWKS") from None
            assert self._keys is not None
            return self._keys

    def authorization_url(self, redirect_uri: str, state: str, nonce: str, verifier: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        endpoint = self.discovery().authorization_endpoint
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        """The tokens for an authorization code (client_secret_basic when a secret is set)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": self.config.client_id,
        }
        secret = self.config.client_secret()
        endpoint = self.discovery().token_endpoint
        try:
            if secret:
                auth = httpx.BasicAuth(self.config.client_id, secret)
                answer = self._http.post(endpoint, data=form, auth=auth)
            else:
                answer = self._http.post(endpoint, data=form)
            found = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnreachable(self.name, f"token endpoint: {type(exc).__name__}") from None
        if answer.status_code >= 500:
            raise ProviderUnreachable(self.name, f"token endpoint: {answer.status_code}")
        if answer.status_code != 200 or not isinstance(found, dict):
            error = found.get("error", "") if isinstance(found, dict) else ""
            raise TokenRefused(self.name, "code", str(error)[:100])
        return found

    def verify(self, token: str, audience: str, nonce: str | None = None) -> dict[str, Any]:
        """The claims of ``token`` (a JWT) once its signature, issuer, audience, times and
        nonce are checked; :class:`TokenRefused` (with its reason) otherwise."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenRefused(self.name, "malformed")
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (jose_errors.JoseError, ValueError):
            raise TokenRefused(self.name, "malformed") from None
        kid = header.get("kid")
        keys = self._key_set(str(kid) if kid is not None else None)
        if kid is not None and not _has(keys, str(kid)):
            raise TokenRefused(self.name, "key", "its key is not in the provider's JWKS")
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        except jose_errors.BadSignatureError:
            raise TokenRefused(self.name, "signature") from None
        except (jose_errors.JoseError, ValueError) as exc:
            raise TokenRefused(self.name, "malformed", type(exc).__name__) from None
        self._check_claims(decoded.claims, audience, nonce)
        return decoded.claims

    def _check_claims(self, claims: dict[str, Any], audience: str, nonce: str | None) -> None:
        if str(claims.get("iss", "")).rstrip("/") != self.issuer:
            raise TokenRefused(self.name, "issuer")
        options: dict[str, Any] = {
            "aud": {"essential": True, "value": audience},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._now()), leeway=self.config.leeway_seconds, **options
        )
        try:
            registry.validate(claims)
        except jose_errors.ExpiredTokenError:
            raise TokenRefused(self.name, "expired") from None
        except jose_errors.ClaimError as exc:
            claim = str(getattr(exc, "claim", ""))
            reason = {"aud": "audience", "nonce": "nonce", "iat": "expired", "nbf": "expired"}
            raise TokenRefused(self.name, reason.get(claim, "claims"), claim) from None

    def introspect(self, token: str) -> dict[str, Any] | None:
        """The claims of an opaque access token, by the provider's introspection endpoint
        (RFC 7662, with this client's credentials): ``None`` when the provider has no such
        endpoint or says the token is not active (or expired, or another issuer's)."""
        endpoint = self.discovery().introspection_endpoint
        if not endpoint or not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        secret = self.config.client_secret()
        form = {"token": token, "token_type_hint": "access_token"}
        try:
            if secret:
                auth = httpx.BasicAuth(self.config.client_id, secret)
                answer = self._http.post(endpoint, data=form, auth=auth)
            else:
                answer = self._http.post(endpoint, data=form | {"client_id": self.config.client_id})
            answer.raise_for_status()
            found = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnreachable(self.name, f"introspection: {type(exc).__name__}") from None
        if not isinstance(found, dict) or found.get("active") is not True or "sub" not in found:
            return None
        if str(found.get("iss", self.issuer)).rstrip("/") != self.issuer:
            return None
        exp = found.get("exp")
        if isinstance(exp, int | float) and exp <= self._now() - self.config.leeway_seconds:
            return None
        return found

    def end_session_url(self, post_logout_redirect_uri: str, id_token_hint: str = "") -> str:
        """Where to send the browser to end the provider's session too ("" if it has no
        ``end_session_endpoint``, or cannot be reached now); with the session's ID token as
        ``id_token_hint`` when kept (providers such as Keycloak then skip their
        confirmation)."""
        try:
            endpoint = self.discovery().end_session_endpoint
        except ProviderUnreachable:
            return ""
        if not endpoint:
            return ""
        query = {
            "client_id": self.config.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        }
        if id_token_hint:
            query["id_token_hint"] = id_token_hint
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)


def unverified_issuer(token: str) -> str:
    """The ``iss`` a JWT claims, before anything is checked (to pick its provider); "" if
    ``token`` is no JWT."""
    if token.count(".") != 2 or len(token) > MAX_TOKEN_LENGTH:
        return ""
    try:
        payload = json.loads(jws.extract_compact(token.encode()).payload)
    except (jose_errors.JoseError, ValueError):
        return ""
    return str(payload.get("iss", "")).rstrip("/") if isinstance(payload, dict) else ""


def _has(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)
