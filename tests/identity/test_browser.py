"""The university sign-in in Chromium, once per database: ``gpuhours serve --demo`` with the
mock provider (its own process) configured; Carol signs in through the provider's form, is an
administrator by her ``groups`` claim, and signs out through the provider's logout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner

from connectors.cli import main
from tests.api.test_docs_in_a_browser import _free_port
from tests.conftest import backends
from tests.identity.conftest import ADMINS, CAROL, CLIENT_ID, SECRET_FILE, MockProvider
from tests.web.conftest import Server, _database, _ready


@dataclass
class SsoServer(Server):
    log: Path = Path()


@pytest.fixture(scope="module", params=backends())
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, provider: MockProvider
) -> Iterator[SsoServer]:
    tmp = tmp_path_factory.mktemp(f"sso-{request.param}")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    SECRET_FILE.write_text("s3cret-of-the-test-client\n")
    unistra = {
        "name": "unistra",
        "label": "Université de Strasbourg",
        "issuer": provider.url,
        "client_id": CLIENT_ID,
        "client_secret_file": str(SECRET_FILE),
        "role_rules": [ADMINS],
    }
    with _database(request.param, tmp) as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GPUHOURS_")}
        env |= {
            "GPUHOURS_DATA_DIR": str(tmp),
            "GPUHOURS_DATABASE_URL": database_url,
            "GPUHOURS_TIME_ZONE": "Europe/Paris",
            "GPUHOURS_LOG_LEVEL": "info",  # the access log too: read for secrets below
            "GPUHOURS_PUBLIC_URL": url,
            "GPUHOURS_OIDC_PROVIDERS": json.dumps([unistra]),
        }
        gpuhours = Path(sys.executable).parent / "gpuhours"
        log_path = tmp / "serve.log"
        command = [str(gpuhours), "serve", "--demo", "--no-scheduler", "--host", "127.0.0.1"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*command, "--port", str(port)], env=env, cwd=tmp, stdout=log, stderr=log
            )
            try:
                assert _ready(url, process), log_path.read_text()
                admin = re.search(r"demo admin token: (\S+)", log_path.read_text())
                assert admin is not None
                yield SsoServer(url, database_url, {}, admin.group(1), log=log_path)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def context_of(browser: Any, server: Server, provider: MockProvider) -> Any:
    """The portal's and the provider's origins only; anything else recorded and aborted."""
    allowed = {urlsplit(server.url).netloc, urlsplit(provider.url).netloc}
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def only_these(route: Any) -> None:
        if urlsplit(route.request.url).netloc in allowed:
            route.continue_()
        else:
            server.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_these)
    return context


def test_carol_signs_in_with_her_university_account_as_an_administrator_then_out(
    browser: Any, server: SsoServer, provider: MockProvider
) -> None:
    with pytest.raises(urllib.error.HTTPError):
        server.api("/users/carol@unistra.fr")  # unknown before her first sign-in
    context = context_of(browser, server, provider)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{server.url}/portal/signin")
        page.get_by_role("link", name="Sign in with Université de Strasbourg").click()
        page.wait_for_url(f"{provider.url}/oauth2/authorize?**")
        page.get_by_role("button", name=CAROL["sub"]).click()
        page.wait_for_url(f"{server.url}/portal/projects")
        (callback,) = [url for url in requested if "/callback?" in url]
        query = parse_qs(urlsplit(callback).query)
        secrets = [query["code"][0], query["state"][0]]
        who = page.locator("form.signout .who").inner_text()
        assert who == "Carol Durand (administrator)", who
        cookie = next(c for c in context.cookies() if c["name"] == "gpuhours_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        carol = server.api("/users/carol@unistra.fr")
        assert (carol["role"], carol["email"]) == ("admin", "carol@unistra.fr")

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{provider.url}/oauth2/end_session?**")
        secrets += parse_qs(urlsplit(page.url).query)["id_token_hint"]  # the ID token
        page.get_by_role("button", name="End session").click()
        page.wait_for_url(f"{server.url}/portal/signin")
        page.goto(f"{server.url}/portal/projects")
        page.wait_for_url(f"{server.url}/portal/signin?**")
        context.add_cookies([cookie])  # the old session's cookie opens nothing any more
        page.goto(f"{server.url}/portal/projects")
        page.wait_for_url(f"{server.url}/portal/signin?**")
    finally:
        context.close()
    # only the mock provider's own pages ask for a stylesheet elsewhere
    assert all(url.startswith("https://cdn.jsdelivr.net/") for url in server.blocked)
    # no secret of the run in gpuhours' log (access log included)
    log = server.log.read_text()
    assert "/portal/signin/oidc/unistra/callback" in log  # the access log was written
    secrets += [cookie["value"], SECRET_FILE.read_text().strip()]  # (the demo prints its tokens)
    for secret in secrets:
        assert secret not in log


def test_the_remote_cli_logs_in_with_a_pasted_provider_token(
    server: SsoServer, provider: MockProvider
) -> None:
    """The mock provider has no device authorization: the CLI takes a pasted ID token (of
    someone who signed in to the portal once) as it takes a gpuhours token."""
    with httpx.Client(base_url=server.url, timeout=10) as browserless:
        start = browserless.get("/portal/signin/oidc/unistra")
        callback = provider.authorize(start.headers["location"], CAROL["sub"])
        assert browserless.get(callback).status_code == 303  # Carol is known
    id_token = provider.tokens(CAROL["sub"])["id_token"]
    runner = CliRunner()
    login = runner.invoke(main, ["login", "--server", server.url], input=id_token + "\n")
    assert login.exit_code == 0, login.output
    assert "as carol@unistra.fr (admin)" in login.stdout
    whoami = runner.invoke(main, ["-o", "json", "whoami"])
    assert json.loads(whoami.stdout)["username"] == "carol@unistra.fr"
