"""``gpuhours notify``: notification preferences (a user's or the site's defaults) and the
outbox (what waits, what was parked; send parked ones again)."""

from __future__ import annotations

import click

from allocator import services as svc
from allocator.notices import SITE
from connectors.cli._common import cli_actor, emit, one_line_errors, services

SETTING = ("kind", "mode", "source", "mandatory", "audience")
PARKED = ("id", "channel", "recipient", "attempts", "last_error")


@click.group()
def notify() -> None:
    """Notifications: preferences and the outbox."""


def _whose(username: str | None, site: bool) -> str:
    if site == (username is not None):
        raise click.UsageError("give either --user USERNAME or --site")
    return SITE if site else str(username)


@notify.command("prefs")
@click.option("--user", "username", default=None, help="This user's preferences.")
@click.option("--site", is_flag=True, help="The site's defaults.")
@one_line_errors
def notify_prefs(username: str | None, site: bool) -> None:
    """Each event kind's mode (immediate, digest, off), where it comes from, who receives it."""
    sv = services()
    found = svc.preferences(
        sv.uow(), cli_actor(), _whose(username, site), sv.settings.notify_language
    )
    emit(
        [
            {
                "kind": s.kind.value,
                "mode": s.mode.value,
                "source": s.source,
                "mandatory": s.mandatory,
                "audience": ", ".join(w.value for w in s.audience),
                "language": found.language,
            }
            for s in found.settings
        ],
        SETTING,
    )


@notify.command("set")
@click.argument("kind")
@click.argument("mode")
@click.option("--user", "username", default=None, help="This user's preference.")
@click.option("--site", is_flag=True, help="The site's default.")
@one_line_errors
def notify_set(kind: str, mode: str, username: str | None, site: bool) -> None:
    """Set KIND (``usage.80``...) to MODE (immediate, digest, off) for a user or the site."""
    sv = services()
    p = svc.set_preference(
        sv.uow(), cli_actor(), sv.clock(), kind, mode, "email", _whose(username, site)
    )
    emit({"username": p.username, "kind": p.kind.value, "mode": p.mode.value})


@notify.command("outbox")
@one_line_errors
def notify_outbox() -> None:
    """The parked deliveries (kept failing), newest first."""
    from connectors.db import delivery_queue as queue  # the database side, only when needed

    sv = services()
    with sv.read_session_factory() as session:
        rows = queue.parked(session)
    emit(rows, PARKED)


@notify.command("retry")
@click.argument("ids", nargs=-1, type=click.IntRange(1, 2**31 - 1), required=True)
@one_line_errors
def notify_retry(ids: tuple[int, ...]) -> None:
    """Send parked deliveries IDS again (once the relay or the webhook is fixed)."""
    from connectors.db import delivery_queue as queue

    sv = services()
    with sv.session_factory.begin() as session:
        released = queue.release_parked(session, list(ids), sv.clock())
    emit({"released": released})


COMMANDS = (notify,)
