"""``gpuhours login``, ``logout`` and ``whoami``: using a gpuhours server from another
machine, with a token (see ``config`` for where it is kept, ``gateway`` for how commands use
it)."""

from __future__ import annotations

import sys

import click
import httpx

from connectors.cli import config, device
from connectors.cli._common import CliError, emit, one_line_errors
from connectors.cli.gateway import gateway
from connectors.cli.gateway.remote import RemoteGateway


def _read_token() -> str:
    """From a hidden prompt on a terminal, else the first line of stdin (a pipe, a file)."""
    if sys.stdin.isatty():
        text = click.prompt("token", hide_input=True, err=True)
    else:
        text = sys.stdin.readline()
    token = str(text).strip()
    if not token:
        raise CliError("token: no token given (paste it at the prompt, or pipe it on stdin)")
    return token


@click.command()
@click.option("--server", required=True, help="The gpuhours server, e.g. https://gpuhours.example")
@click.option(
    "--provider",
    default=None,
    help="Sign in at this identity provider (device flow) instead of pasting a token.",
)
@one_line_errors
def login(server: str, provider: str | None) -> None:
    """Keep a token for SERVER, after checking it there. The token is read from a hidden
    prompt, or from stdin (`gpuhours login --server URL < token-file`); with --provider NAME,
    it comes from that provider's device flow (open the address shown, type the code)."""
    url = config.server_url(server)
    token = device.sign_in(url, provider) if provider else _read_token()
    keep(url, token)


def keep(url: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
    """Check ``token`` on the server ``url``, then keep it in the login file."""
    try:
        me = RemoteGateway(config.Remote(url, token, "login"), transport).me()
    except CliError as exc:
        if "log in again" in exc.format_message():
            raise CliError(
                f"token: {url} refuses this token (revoked, expired or mistyped)"
            ) from exc
        raise
    path = config.save(url, token, str(me["username"]))
    click.echo(f"logged in to {url} as {me['username']} ({me['role']}); token kept in {path}")
    if config.remote() is not None and config.remote() != config.Remote(url, token, str(path)):
        click.echo(
            f"note: {config.SERVER_ENV}/{config.TOKEN_ENV} are set and take precedence", err=True
        )


@click.command()
@click.option("--revoke", is_flag=True, help="Also revoke the token on the server.")
@one_line_errors
def logout(revoke: bool) -> None:
    """Forget the token `gpuhours login` kept (--revoke: and revoke it on the server)."""
    path = config.config_file()
    if not path.exists():
        click.echo("not logged in")
        return
    if revoke:
        found = config.remote()
        if found is not None and found.source == str(path):
            remote = RemoteGateway(found)
            mine = [t for t in remote.tokens(None, True) if t["prefix"] == found.token[:12]]
            for token in mine:
                remote.revoke_token(int(token["id"]), "gpuhours logout --revoke")
    config.forget()
    click.echo(f"logged out (removed {path})")


@click.command()
@one_line_errors
def whoami() -> None:
    """Who the commands act as, and where: the server's user, or the local administrator."""
    emit(gateway().me())


COMMANDS = (login, logout, whoami)
