"""Running the service: ``migrate``, ``demo``, ``serve`` (the API, and the scheduler) and
``worker`` (the scheduler only).

The CLI imports no other face: ``serve`` runs ``connectors.composition``, which finds the faces
the installed package declares (entry points of the ``gpuhours.faces`` group, pyproject.toml):
the API at the root, the portal under ``/portal/``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import click

from connectors.cli._common import one_line_errors, services

if TYPE_CHECKING:  # the database side loads only when a command needs it (a fast remote CLI)
    from connectors.bootstrap import Services

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@click.command()
@one_line_errors
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    services(check_remote=False).migrate()
    click.echo("database at head")


def _seed(sv: Services) -> None:
    from connectors.db.identities import SqlIdentities
    from connectors.demo import seed, seed_identities, seed_usage

    seed(sv.uow(), sv.clock(), sv.settings.calendar)
    jobs = seed_usage(sv.usage_store(), sv.clock(), sv.settings.calendar)
    seed_identities(SqlIdentities(sv.engine), sv.clock())
    click.echo(f"demo data seeded ({jobs} demo jobs)")


@click.command()
@one_line_errors
def demo() -> None:
    """Seed the demo organisation (on an empty database)."""
    sv = services(check_remote=False)
    sv.migrate()
    _seed(sv)


#: The demo's people who get a one-click sign-in link: (role shown, username).
DEMO_SIGN_INS = (("admin", "admin"), ("engineer", "eng-marie"), ("researcher", "alice"))


def _announce_demo(sv: Services, host: str, port: int) -> None:
    from connectors.tokens import mint_demo_token

    with sv.uow() as uow:
        empty = not uow.pools.list()
    if empty:
        _seed(sv)
    # Fresh demo tokens at each start; the previous demo tokens are revoked (audited).
    now, days = sv.clock(), sv.settings.token_days
    tokens = {
        user: mint_demo_token(sv.session_factory, user, now, days) for _, user in DEMO_SIGN_INS
    }
    base = f"http://{host}:{port}"
    click.echo(f"gpuhours demo: {base}/portal/  (API documentation: {base}/api/v1/docs)")
    # The token rides in the URL's fragment, which the browser never sends: a few lines of the
    # sign-in page post it, then erase it from the address bar and the history (README).
    click.echo("one-click sign-in (the token is in the #fragment: never sent, never logged):")
    for role, user in DEMO_SIGN_INS:
        click.echo(f"  {role:<10} {user:<9} {base}/portal/signin#token={tokens[user]}")
    token = tokens["admin"]
    click.echo(f"demo admin token: {token}")
    click.echo(f"try: curl -H 'Authorization: Bearer {token}' {base}/api/v1/pools")


def _run_api(sv: Services, host: str, port: int, workers: int) -> None:
    import uvicorn

    level = sv.settings.log_level
    if workers > 1:
        # Each worker builds its own services from the environment (one process, one pool).
        uvicorn.run(
            "connectors.composition:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=level,
            server_header=False,
        )
        return
    from connectors import composition

    app = composition.compose(sv)
    composition.settle()
    uvicorn.run(app, host=host, port=port, log_level=level, server_header=False)


@click.command()
@click.option("--host", default=None, help="Listen address (default GPUHOURS_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default GPUHOURS_PORT or 8000).")
@click.option("--demo", "with_demo", is_flag=True, help="Seed demo data if empty; print a token.")
@click.option("--no-scheduler", is_flag=True, help="Run the API only (see `gpuhours worker`).")
@click.option("--workers", default=1, type=click.IntRange(1, 64), help="API processes.")
@one_line_errors
def serve(
    host: str | None, port: int | None, with_demo: bool, no_scheduler: bool, workers: int
) -> None:
    """Run the API (and, unless --no-scheduler, the scheduler)."""
    sv = services(check_remote=False)
    sv.migrate()
    host = host or sv.settings.host
    port = port or sv.settings.port
    if with_demo:
        _announce_demo(sv, host, port)
    else:
        click.echo(
            f"gpuhours: http://{host}:{port}/portal/ (API: http://{host}:{port}/api/v1/docs)"
        )
    scheduler = None
    if not no_scheduler and sv.settings.scheduler:
        from connectors.scheduler import start_scheduler

        logging.basicConfig(level=sv.settings.log_level.upper(), format=LOG_FORMAT)
        scheduler = start_scheduler(sv)  # schedules only if this replica wins the leader lock
    try:
        _run_api(sv, host, port, workers)
    finally:
        if scheduler is not None:
            scheduler.stop()


@click.command()
@one_line_errors
def worker() -> None:
    """Run the scheduler only (no API), until SIGTERM or SIGINT.

    Any number of workers and ``serve`` replicas may share a database: only the one holding
    the leader lock schedules, and its state is logged (``leader`` or ``standby``).
    """
    from connectors.scheduler import run_worker

    sv = services(check_remote=False)
    logging.basicConfig(level=sv.settings.log_level.upper(), format=LOG_FORMAT)
    sv.migrate()
    run_worker(sv)


COMMANDS = (migrate, demo, serve, worker)
