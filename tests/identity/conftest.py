"""A real OpenID provider as a process on loopback (``oidc-provider-mock``), gpuhours'
services configured with it, and a fake provider whose tokens the tests craft themselves
(wrong audience, wrong issuer, expired, another key) behind ``httpx.MockTransport``.

What ``oidc-provider-mock`` 0.3.4 offers: discovery, JWKS (one RS256 key), the authorization
code flow (PKCE parameters accepted, not checked), ``nonce`` (required with
``--require-nonce``), userinfo, refresh tokens and ``end_session_endpoint`` (RP-initiated
logout, with a confirmation form); opaque access tokens; no introspection, no device
authorization.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import Engine, func, select

from connectors.bootstrap import Services, build
from connectors.db import tables as t
from connectors.db.identity_tables import IdentityRow
from connectors.db.session_tables import WebSessionRow
from connectors.identity.provider import Provider
from connectors.settings import OidcProviderConfig, Settings
from tests.api.test_docs_in_a_browser import _free_port
from tests.builders import seed_world
from tests.web.inprocess import LOOPBACK, client_of

CLIENT_ID = "gpuhours-portal"
ADMINS = {"claim": "groups", "value": "hpc-admins", "role": "admin"}
ENGINEERS = {
    "claim": "eduPersonEntitlement",
    "value": "urn:mace:unistra.fr:hpc",
    "role": "engineer",
}
#: Someone the provider knows: an administrator by her groups claim.
CAROL = {
    "sub": "carol-0001",
    "name": "Carol Durand",
    "email": "carol@unistra.fr",
    "email_verified": True,
    "eduPersonPrincipalName": "carol@unistra.fr",
    "groups": ["hpc-admins", "staff"],
}


def real_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class MockProvider:
    """``python -m oidc_provider_mock`` running on a port of 127.0.0.1."""

    url: str
    log: Path

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        answer = httpx.put(f"{self.url}/users/{sub}", json=claims, timeout=10)
        assert answer.status_code == 204, answer.text

    def tokens(self, sub: str) -> dict[str, Any]:
        """A script's own code flow with the provider (redirect to a local port, as a CLI
        does): its ID token (a JWT) and opaque access token."""
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": "http://127.0.0.1:8765/",
            "scope": "openid",
            "state": "s",
            "nonce": "n",
        }
        back = self.authorize(f"{self.url}/oauth2/authorize?{urlencode(query)}", sub)
        form = {"grant_type": "authorization_code", "redirect_uri": query["redirect_uri"]}
        form["code"] = parse_qs(urlsplit(back).query)["code"][0]
        answer = httpx.post(
            f"{self.url}/oauth2/token", data=form, auth=(CLIENT_ID, "secret"), timeout=10
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def authorize(self, authorization_url: str, sub: str) -> str:
        """What the provider's form does when ``sub`` is chosen: the callback URL it sends the
        browser back to (with ``code`` and ``state``)."""
        answer = httpx.post(authorization_url, data={"sub": sub}, timeout=10)
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=2):
                return True
        except OSError:
            time.sleep(0.1)
    return False


@contextlib.contextmanager
def provider_process(
    command: list[str], env: dict[str, str], port: int, log: Path, cwd: Path | None = None
) -> Iterator[str]:
    """A provider running as its own process on loopback, until the block ends: yields its
    URL once its discovery document answers (else fails with the process's log)."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        url = f"http://127.0.0.1:{port}"
        try:
            assert _wait(url, process), log.read_text()
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    """The mock provider, its own process (nonce required; Carol predefined)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--require-nonce", "--user-claims", json.dumps(CAROL)]
    env = os.environ | {"NO_COLOR": "1", "PYTHONWARNINGS": "ignore"}
    with provider_process(command, env, port, log) as url:
        yield MockProvider(url, log)


#: The client secret, as a file (a mounted secret in production).
SECRET_FILE = Path(tempfile.gettempdir()) / f"gpuhours-oidc-test-secret-{os.getpid()}"


def config_of(issuer: str, name: str = "unistra", **more: Any) -> OidcProviderConfig:
    SECRET_FILE.write_text("s3cret-of-the-test-client\n")
    return OidcProviderConfig.model_validate(
        {
            "name": name,
            "label": "Université de Strasbourg",
            "issuer": issuer,
            "client_id": CLIENT_ID,
            "client_secret_file": str(SECRET_FILE),
            "role_rules": [ADMINS, ENGINEERS],
        }
        | more
    )


def services_with(engine: Engine, *configs: OidcProviderConfig) -> Services:
    settings = Settings(
        database_url=engine.url.render_as_string(False),
        public_url=LOOPBACK,
        oidc_providers=list(configs),
    )
    sv = build(settings, engine=engine)
    sv.clock = real_now
    seed_world(sv.uow(), real_now())
    return sv


@pytest.fixture
def sso(engine: Engine, provider: MockProvider) -> Services:
    """gpuhours' services with the mock provider configured as ``unistra``."""
    return services_with(engine, config_of(provider.url))


@pytest.fixture
def portal(sso: Services) -> Iterator[TestClient]:
    with client_of(sso) as c:
        yield c


def start(client: TestClient, name: str = "unistra", next: str = "/projects") -> str:
    """Start a sign-in: the provider's authorization URL the portal redirects to."""
    answer = client.get(f"/portal/signin/oidc/{name}", params={"next": next})
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def local(url: str) -> str:
    """The path and query of a URL of the portal (as the browser would request it)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


@dataclass(frozen=True)
class World:
    """What a refused sign-in must leave as it was."""

    users: int
    identities: int
    sessions: int
    audit: int


def world(services: Services) -> World:
    with services.engine.connect() as conn:

        def count(table: Any) -> int:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

        return World(
            count(t.UserRow),
            count(IdentityRow),
            count(WebSessionRow),
            count(t.AuditEventRow),
        )


@functools.cache
def rsa_key(kid: str, n: int = 0) -> RSAKey:
    """An RSA key of the tests (generated once per run: 2048-bit generation is slow)."""
    return RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)


class FakeIdP:
    """A provider whose ID tokens the test crafts, served through ``httpx.MockTransport``:
    discovery, JWKS (the keys it *publishes*) and a token endpoint answering ``id_token``."""

    issuer = "https://idp.example.org"

    def __init__(self) -> None:
        self.key = rsa_key("k1")
        self.published: list[RSAKey] = [self.key]
        self.id_token = ""
        self.jwks_reads = 0
        self.down = False
        #: opaque access tokens it knows (introspection): token -> its subject
        self.opaque: dict[str, str] = {}
        self.introspections = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "end_session_endpoint": f"{self.issuer}/logout",
                    "introspection_endpoint": f"{self.issuer}/introspect",
                },
            )
        if path == "/jwks":
            self.jwks_reads += 1
            return httpx.Response(200, json=KeySet(self.published).as_dict(private=False))
        if path == "/introspect":
            self.introspections += 1
            token = parse_qs(request.content.decode())["token"][0]
            if token not in self.opaque:
                return httpx.Response(200, json={"active": False})
            sub, exp = self.opaque[token], int(time.time()) + 300
            return httpx.Response(200, json={"active": True, "sub": sub, "exp": exp})
        if path == "/token":
            return httpx.Response(200, json={"id_token": self.id_token, "token_type": "Bearer"})
        return httpx.Response(404)

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        key = key or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def claims(self, nonce: str = "", **more: Any) -> dict[str, Any]:
        now = int(time.time())
        found = {
            "iss": self.issuer,
            "sub": "dave-42",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "name": "Dave Martin",
            "email": "dave@inria.fr",
        }
        if nonce:
            found["nonce"] = nonce
        return found | more

    def provider(self, name: str = "inria") -> Provider:
        return Provider(config_of(self.issuer, name), transport=httpx.MockTransport(self.handler))
