"""``gpuhours login --server URL --provider NAME``: a provider token for the remote CLI by
the device authorization flow (RFC 8628), for a provider whose discovery offers it.

The server says which providers it trusts (``GET /api/v1/identity/providers``: issuer,
client id), so the user needs nothing but the server's URL. The CLI then asks the provider
for a device code, prints where to go and the code to type, and polls the token endpoint:
every ``interval`` seconds, five more after ``slow_down``, until the user approves
(the access token is returned), refuses (``access_denied``) or the code expires
(``expired_token``, or ``expires_in`` gone by). Each failure is one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
import httpx

from connectors.cli._common import CliError

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: RFC 8628 3.5: the default interval, and what each ``slow_down`` adds.
DEFAULT_INTERVAL = 5
SLOW_DOWN = 5


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    issuer: str
    client_id: str
    scopes: tuple[str, ...]


def _json(client: httpx.Client, method: str, url: str, what: str, **kw: Any) -> Any:
    try:
        answer = client.request(method, url, headers={"accept": "application/json"}, **kw)
    except httpx.HTTPError as exc:
        raise CliError(f"{what}: cannot reach {url}: {type(exc).__name__}") from None
    try:
        return answer.status_code, answer.json()
    except ValueError:
        raise CliError(f"{what}: {url} answered {answer.status_code}, not JSON") from None


def provider_info(client: httpx.Client, server: str, name: str) -> ProviderInfo:
    """The provider ``name`` as the server configures it."""
    url = f"{server}/api/v1/identity/providers?limit=200"
    status, page = _json(client, "GET", url, "server")
    body = page.get("items") if isinstance(page, dict) else None
    if status != 200 or not isinstance(body, list):
        raise CliError(f"server: {server} lists no identity providers (answered {status})")
    names = [str(p.get("name")) for p in body if isinstance(p, dict)]
    for item in body:
        if isinstance(item, dict) and item.get("name") == name:
            scopes = tuple(str(s) for s in item.get("scopes") or ("openid",))
            return ProviderInfo(name, str(item["issuer"]), str(item["client_id"]), scopes)
    known = ", ".join(names) or "none"
    raise CliError(f"provider: {server} has no provider {name!r} (it has: {known})")


def device_endpoints(client: httpx.Client, info: ProviderInfo) -> tuple[str, str]:
    """The device authorization and token endpoints, from the provider's discovery."""
    url = f"{info.issuer.rstrip('/')}/.well-known/openid-configuration"
    status, doc = _json(client, "GET", url, "provider")
    if status != 200 or not isinstance(doc, dict):
        raise CliError(f"provider: {url} answered {status}")
    device = doc.get("device_authorization_endpoint")
    if not device:
        raise CliError(
            f"provider: {info.name} does not offer the device flow; "
            "paste a token instead (gpuhours login --server URL)"
        )
    return str(device), str(doc["token_endpoint"])


def device_token(
    client: httpx.Client,
    info: ProviderInfo,
    echo: Callable[[str], None] = click.echo,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """The access token the provider grants once the user approves the device code."""
    device_url, token_url = device_endpoints(client, info)
    form = {"client_id": info.client_id, "scope": " ".join(info.scopes)}
    status, grant = _json(client, "POST", device_url, "provider", data=form)
    if status != 200 or "device_code" not in grant:
        raise CliError(f"provider: device authorization refused: {_error(grant, status)}")
    where = grant.get("verification_uri_complete") or grant["verification_uri"]
    echo(f"To sign in, open {where} and enter the code {grant['user_code']}")
    interval = int(grant.get("interval") or DEFAULT_INTERVAL)
    deadline = clock() + int(grant.get("expires_in") or 600)
    poll = {"grant_type": GRANT, "device_code": grant["device_code"], "client_id": info.client_id}
    while clock() < deadline:
        sleep(interval)
        status, body = _json(client, "POST", token_url, "provider", data=poll)
        if status == 200 and body.get("access_token"):
            return str(body["access_token"])
        error = body.get("error") if isinstance(body, dict) else None
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN
            continue
        if error == "access_denied":
            raise CliError("provider: the sign-in was refused at the provider (access_denied)")
        if error == "expired_token":
            break
        raise CliError(f"provider: the token endpoint refused: {_error(body, status)}")
    raise CliError("provider: the code expired before it was approved; run gpuhours login again")


def _error(body: Any, status: int) -> str:
    if isinstance(body, dict) and body.get("error"):
        more = body.get("error_description")
        return f"{body['error']}" + (f" ({more})" if more else "")
    return f"HTTP {status}"


def sign_in(
    server: str,
    provider: str,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """A provider access token for ``server`` through ``provider``'s device flow."""
    with httpx.Client(timeout=TIMEOUT, transport=transport) as client:
        info = provider_info(client, server, provider)
        return device_token(client, info, sleep=sleep)
