"""The remote CLI signs in through a provider's device authorization flow (RFC 8628):
``gpuhours login --server URL --provider NAME`` learns the provider from the server
(``/api/v1/identity/providers``), shows where to go and the code, polls the token endpoint
as told (``interval``, ``slow_down``) and keeps the provider's access token, which the API
then accepts; a refusal or an expired code is one line and nothing is kept.

At the process edge: the provider is ``FakeIdP`` with a device endpoint and a scripted token
endpoint, behind ``httpx.MockTransport``; the gpuhours server is the real app in process
(its requests forwarded to a ``TestClient``). The same flow against a real provider
process (Node's ``oidc-provider``) is ``test_device_flow_node.py``; here are the answers a real
provider gives only on timing (``slow_down``, refusals, expiry).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.auth import TokenAuthenticator
from connectors.bootstrap import Services
from connectors.cli import config, device, main
from connectors.cli._common import CliError
from connectors.cli.session import keep
from connectors.db.identities import SqlIdentities
from connectors.identity.bearer import FirstOf, OidcBearerAuthenticator
from tests.api.test_docs_in_a_browser import _free_port as free_port
from tests.identity.conftest import CLIENT_ID, FakeIdP, services_with
from tests.identity.test_refusals import callback_with
from tests.web.inprocess import client_of

#: What is shown here is the CLI's and the provider's; one database is enough.
SQLITE = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
SERVER = "http://gpuhours.test"


class DeviceIdP(FakeIdP):
    """``FakeIdP`` offering the device flow; its token endpoint answers ``script`` in turn
    (an RFC 8628 error, or ``"ok"``: a signed access token for dave)."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[str] = []
        self.polls: list[dict[str, str]] = []
        self.device_requests: list[dict[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if path == "/.well-known/openid-configuration":
            doc = super().handler(request).json()
            doc["device_authorization_endpoint"] = f"{self.issuer}/device"
            return httpx.Response(200, json=doc)
        if path == "/device":
            self.device_requests.append(form)
            body = {
                "device_code": "dc-7f3a",
                "user_code": "WDJB-MJHT",
                "verification_uri": f"{self.issuer}/device/verify",
                "expires_in": 60,
                "interval": 3,
            }
            return httpx.Response(200, json=body)
        if path == "/token" and form.get("grant_type") == device.GRANT:
            self.polls.append(form)
            step = self.script.pop(0)
            if step == "ok":
                token = self.sign(self.claims())
                return httpx.Response(200, json={"access_token": token, "token_type": "Bearer"})
            return httpx.Response(400, json={"error": step})
        return super().handler(request)


@pytest.fixture
def idp() -> DeviceIdP:
    return DeviceIdP()


@pytest.fixture
def server(engine: Engine, idp: DeviceIdP) -> Iterator[TestClient]:
    """gpuhours with the device-capable provider as ``inria``; dave signed in once (his
    identity is linked, so his provider tokens read as him on the API)."""
    sv: Services = services_with(engine)
    provider = idp.provider()
    sv.identity_providers = {"inria": provider}
    sv.authenticator = FirstOf(
        TokenAuthenticator(sv.session_factory),
        OidcBearerAuthenticator([provider], SqlIdentities(sv.engine)),
    )
    with client_of(sv) as client:
        assert callback_with(client, idp).status_code == 303
        client.cookies.clear()
        yield client


def edge(server: TestClient, idp: DeviceIdP) -> httpx.MockTransport:
    """The network as the CLI sees it: the provider, and the gpuhours server."""

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "idp.example.org":
            return idp.handler(request)
        answer = server.request(
            request.method,
            request.url.path,
            params=request.url.params,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            content=request.content,
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return httpx.MockTransport(route)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sign_in(server: TestClient, idp: DeviceIdP, sleeps: Sleeps) -> str:
    return device.sign_in(SERVER, "inria", edge(server, idp), sleep=sleeps)


@SQLITE
def test_the_server_lists_its_providers_public_data_without_a_token(
    server: TestClient,
) -> None:
    answer = server.get("/api/v1/identity/providers")
    assert answer.status_code == 200
    [inria] = answer.json()["items"]
    assert inria == {
        "name": "inria",
        "label": "Université de Strasbourg",
        "issuer": "https://idp.example.org",
        "client_id": CLIENT_ID,
        "audience": CLIENT_ID,
        "scopes": ["openid", "profile", "email"],
        "device_flow": True,
    }
    assert "secret" not in answer.text


@SQLITE
def test_the_cli_signs_in_by_the_device_flow_and_keeps_a_token_the_api_accepts(
    server: TestClient, idp: DeviceIdP, capsys: pytest.CaptureFixture[str]
) -> None:
    idp.script = ["authorization_pending", "slow_down", "authorization_pending", "ok"]
    sleeps = Sleeps()
    token = sign_in(server, idp, sleeps)
    shown = capsys.readouterr().out
    assert "open https://idp.example.org/device/verify and enter the code WDJB-MJHT" in shown
    assert sleeps == [3, 3, 8, 8]  # the interval, five more after slow_down
    assert idp.device_requests == [{"client_id": CLIENT_ID, "scope": "openid profile email"}]
    assert {p["device_code"] for p in idp.polls} == {"dc-7f3a"}
    keep(SERVER, token, edge(server, idp))
    kept = config.remote()
    assert kept is not None and kept.token == token
    assert "logged in to http://gpuhours.test as dave@inria.fr" in capsys.readouterr().out


@SQLITE
@pytest.mark.parametrize(
    ("answer", "line"),
    [
        ("access_denied", "provider: the sign-in was refused at the provider (access_denied)"),
        ("expired_token", "provider: the code expired before it was approved"),
        ("invalid_client", "provider: the token endpoint refused: invalid_client"),
    ],
)
def test_a_refused_or_expired_device_code_is_one_line_and_nothing_is_kept(
    server: TestClient, idp: DeviceIdP, answer: str, line: str
) -> None:
    idp.script = ["authorization_pending", answer]
    with pytest.raises(CliError) as refused:
        sign_in(server, idp, Sleeps())
    assert line in refused.value.format_message()
    assert "\n" not in refused.value.format_message()
    assert config.remote() is None


@SQLITE
def test_the_code_expires_when_the_user_never_comes(server: TestClient, idp: DeviceIdP) -> None:
    idp.script = ["authorization_pending"] * 100
    clock = iter(range(0, 1000, 7))
    with pytest.raises(CliError, match="code expired"):
        device.device_token(
            httpx.Client(transport=edge(server, idp)),
            device.ProviderInfo("inria", idp.issuer, CLIENT_ID, ("openid",)),
            echo=lambda _: None,
            sleep=lambda _: None,
            clock=lambda: float(next(clock)),
        )
    assert len(idp.polls) < 12  # 60 seconds of 7-second ticks


@SQLITE
def test_an_unknown_provider_or_one_without_device_flow_is_one_line(
    server: TestClient, idp: DeviceIdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CliError, match=r"has no provider 'unistra' \(it has: inria\)"):
        device.sign_in(SERVER, "unistra", edge(server, idp), sleep=Sleeps())

    def plain(request: httpx.Request) -> httpx.Response:
        return FakeIdP.handler(idp, request)

    monkeypatch.setattr(idp, "handler", plain)
    with pytest.raises(CliError, match="does not offer the device flow; paste a token"):
        device.sign_in(SERVER, "inria", edge(server, idp), sleep=Sleeps())


def test_login_with_a_provider_at_an_unreachable_server_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["login", "--server", url, "--provider", "inria"])
    assert result.exit_code != 0
    [line] = result.output.strip().splitlines()
    assert f"server: cannot reach {url}/api/v1/identity/providers" in line
    assert config.remote() is None
