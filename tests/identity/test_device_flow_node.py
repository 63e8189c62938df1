"""The remote CLI's device authorization flow (RFC 8628) against a real provider that offers
it: the certified Node.js ``oidc-provider`` (pinned in ``install_node_provider.sh``, installed
into ``var/oidc-node`` by ``.ci/run``), run as its own process on loopback with our config
``device_provider.mjs``: public client, JWT access tokens for gpuhours' API audience.

``gpuhours login --provider inria`` (``device.sign_in``, then ``keep`` as the command does)
asks the provider for a code; Dave approves it in Chromium at the address the CLI printed
(the provider's confirm, login and consent pages); the CLI's next poll gets the access token,
and the API takes it as Dave. Without node, npm or the package, the test is skipped with the
reason (and fails in CI, which installs them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.auth import TokenAuthenticator
from connectors.cli import config, device
from connectors.cli.session import keep
from connectors.db.identities import Claimed, SqlIdentities
from connectors.identity.bearer import FirstOf, OidcBearerAuthenticator
from connectors.identity.provider import Provider
from tests.api.test_docs_in_a_browser import _free_port, _missing
from tests.identity.conftest import (
    CLIENT_ID,
    config_of,
    provider_process,
    real_now,
    services_with,
)
from tests.web.inprocess import client_of

ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / "var" / "oidc-node"
INSTALL = Path(__file__).with_name("install_node_provider.sh")
SCRIPT = Path(__file__).with_name("device_provider.mjs")
SERVER = "http://gpuhours.test"
API_AUDIENCE = "https://gpuhours.test/api"
DAVE: dict[str, Any] = {"name": "Dave Martin", "email": "dave@inria.fr", "email_verified": True}
SQLITE = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


def pinned_version() -> str:
    found = re.search(r"^OIDC_PROVIDER_VERSION=(\S+)$", INSTALL.read_text(), re.MULTILINE)
    assert found is not None
    return found.group(1)


@dataclass
class NodeProvider:
    url: str
    log: Path


@pytest.fixture(scope="module")
def node_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProvider]:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        _missing("no node/npm on PATH (apt-get install nodejs npm)")
    package = PREFIX / "node_modules" / "oidc-provider" / "package.json"
    if not package.exists():
        _missing(f"oidc-provider is not in {PREFIX} (bash {INSTALL.relative_to(ROOT)})")
    installed = json.loads(package.read_text())["version"]
    if installed != pinned_version():
        _missing(f"oidc-provider {installed} in {PREFIX}, not {pinned_version()} (run {INSTALL})")
    port = _free_port()
    log = tmp_path_factory.mktemp("node-oidc") / "provider.log"
    env = os.environ | {
        "OIDC_NODE_PREFIX": str(PREFIX),
        "PORT": str(port),
        "CLIENT_ID": CLIENT_ID,
        "API_AUDIENCE": API_AUDIENCE,
        "USERS": json.dumps({"dave-42": DAVE}),
        "NODE_ENV": "test",
    }
    assert node is not None
    with provider_process([node, str(SCRIPT)], env, port, log, cwd=ROOT) as url:
        yield NodeProvider(url, log)


def edge(
    server: TestClient, provider_url: str, network: httpx.HTTPTransport
) -> httpx.BaseTransport:
    """The network as the CLI sees it: the real provider over loopback (``network``), and the
    gpuhours server (in process)."""
    provider_host = urlsplit(provider_url).netloc

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.netloc.decode() == provider_host:
            answer = network.handle_request(request)
            answer.read()
            return answer
        served = server.request(
            request.method,
            request.url.path,
            params=request.url.params,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            content=request.content,
        )
        return httpx.Response(served.status_code, headers=served.headers, content=served.content)

    return httpx.MockTransport(route)


def approve_in_the_browser(browser: Any, shown: str, provider_url: str) -> None:
    """What Dave does with what the CLI printed: opens the address, checks the code, signs in
    at the provider and consents. Nothing but the provider is reached."""
    found = re.search(r"open (\S+) and enter the code (\S+)", shown)
    assert found is not None, shown
    address, code = found.groups()
    assert address.startswith(f"{provider_url}/device")
    context = browser.new_context()
    local = urlsplit(provider_url).netloc
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if urlsplit(route.request.url).netloc == local else route.abort()
        ),
    )
    page = context.new_page()
    try:
        page.goto(address)
        typed = page.locator("input[type=text][name=user_code]")
        if typed.count():  # the address without the code: Dave types it
            typed.fill(code)
            page.click("button[type=submit]")
        assert code in page.content()
        page.get_by_role("button", name="Continue").first.click()
        page.fill("input[name=login]", "dave-42")
        page.fill("input[name=password]", "any")
        page.get_by_role("button", name="Sign-in").click()
        page.get_by_role("button", name="Continue").first.click()
        page.wait_for_selector("text=Sign-in Success")
    finally:
        context.close()


@pytest.fixture
def server(engine: Engine, node_provider: NodeProvider) -> Iterator[TestClient]:
    """gpuhours trusting the Node provider as ``inria`` (its JWTs for the API's audience);
    Dave's identity there is linked (he signed in to the portal once)."""
    sv = services_with(engine)
    provider = Provider(config_of(node_provider.url, "inria", api_audience=API_AUDIENCE))
    sv.identity_providers = {"inria": provider}
    identities = SqlIdentities(sv.engine)
    sv.authenticator = FirstOf(
        TokenAuthenticator(sv.session_factory), OidcBearerAuthenticator([provider], identities)
    )
    dave = Claimed("inria", node_provider.url, "dave-42", DAVE["name"], DAVE["email"])
    assert identities.sign_in(dave, real_now()).how == "created"
    with client_of(sv) as client:
        yield client


@SQLITE
def test_the_cli_signs_in_by_the_device_flow_of_a_real_provider_and_the_api_takes_its_token(
    server: TestClient,
    node_provider: NodeProvider,
    browser: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    waits: list[float] = []

    def meanwhile_dave_approves(seconds: float) -> None:
        if not waits:
            approve_in_the_browser(browser, capsys.readouterr().out, node_provider.url)
        waits.append(seconds)

    with httpx.HTTPTransport() as network:
        transport = edge(server, node_provider.url, network)
        token = device.sign_in(SERVER, "inria", transport, sleep=meanwhile_dave_approves)
        assert len(waits) == 1  # approved before the first poll: one poll, one token
        assert token.count(".") == 2  # a JWT for the API's audience, checked by the JWKS
        keep(SERVER, token, transport)
    assert "logged in to http://gpuhours.test as dave@inria.fr" in capsys.readouterr().out
    kept = config.remote()
    assert kept is not None and kept.token == token
    me = server.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "dave@inria.fr"
    refused = server.get("/api/v1/me", headers={"authorization": f"Bearer {token[:-4]}AAAA"})
    assert refused.status_code == 401
