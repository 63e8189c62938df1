"""``gpuhours token``: mint, list and revoke API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from allocator import services as svc
from allocator.errors import InvalidInput
from allocator.model import Role, User
from connectors.cli import columns
from connectors.cli._common import CliError, cli_actor, emit, one_line_errors, services
from connectors.cli.gateway import gateway


@click.group()
def token() -> None:
    """API tokens."""


def expiry_arg(value: str | None, now: datetime, default_days: int) -> datetime:
    """``--expires``: a number of days (``30``, ``30d``) or a UTC date or time (``2027-01-31``)."""
    from connectors.tokens import MAX_DAYS, check_expiry  # the database side, only when needed

    text = (value or f"{default_days}").strip()
    days = text[:-1] if text.endswith("d") else text
    if days.isascii() and days.lstrip("-").isdigit():
        if not 1 <= int(days) <= MAX_DAYS:
            raise InvalidInput("expires", f"{text!r}: between 1 and {MAX_DAYS} days")
        return now + timedelta(days=int(days))
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            "expires", f"{text!r} is neither days (30, 30d) nor a date (2027-01-31)"
        ) from exc
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return check_expiry(when, now, field="expires")


@token.command("create")
@click.option("--user", "username", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--note", default="")
@click.option(
    "--expires",
    default=None,
    help="Days (30, 30d) or a UTC date/time (2027-01-31); default GPUHOURS_TOKEN_DAYS (90).",
)
@click.option("--new-user", is_flag=True, help="Create USER with ROLE if it does not exist.")
@one_line_errors
def token_create(username: str, role: str, note: str, expires: str | None, new_user: bool) -> None:
    """Mint a token for USER, who must exist (--new-user: create it with ROLE). Prints the
    token once."""
    from connectors.tokens import mint

    sv = services()
    now = sv.clock()
    expires_at = expiry_arg(expires, now, sv.settings.token_days)
    with sv.uow() as uow:
        existing = uow.users.get(username)
    if existing is None and not new_user:  # a typo must not mint a token for a new nobody
        raise CliError(f"user: unknown user {username!r} (to create it, add --new-user)")
    if existing is None:
        svc.create_user(sv.uow(), cli_actor(), now, User(username, Role(role)))
    elif existing.role.value != role:
        raise CliError(f"role: user {username} is {existing.role.value}, not {role}")
    minted = mint(
        sv.session_factory,
        cli_actor(),
        username,
        now,
        expires_at=expires_at,
        note=note,
        for_another_admin=True,  # the operator has the database: nothing to guard against
    )
    click.echo(minted.token)


@token.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@click.option("--active", is_flag=True, help="Only tokens neither revoked nor expired.")
@one_line_errors
def token_list(username: str | None, active: bool) -> None:
    """Tokens (id, prefix, owner, state, expiry, last use): never a secret nor its hash."""
    emit(gateway().tokens(username, active), columns.TOKEN)


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--reason", default="")
@one_line_errors
def token_revoke(token_id: int, reason: str) -> None:
    """Revoke token TOKEN_ID (see `token list`): refused from the next request on."""
    emit(gateway().revoke_token(token_id, reason))


COMMANDS = (token,)
