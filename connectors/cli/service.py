"""Running the service: ``migrate``, ``demo``, ``serve`` (the API, and the scheduler) and
``worker`` (the scheduler only).

The CLI does not import the API: ``serve`` runs the application factory the installed package
declares (entry point ``api`` of the ``gpuhours.faces`` group, in pyproject.toml).
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

import click

from connectors.bootstrap import Services
from connectors.cli._common import one_line_errors, services

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FACES = "gpuhours.faces"


@click.command()
@one_line_errors
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    services(check_remote=False).migrate()
    click.echo("database at head")


def _seed(sv: Services) -> None:
    from connectors.demo import seed, seed_usage

    seed(sv.uow(), sv.clock(), sv.settings.calendar)
    jobs = seed_usage(sv.usage_store(), sv.clock(), sv.settings.calendar)
    click.echo(f"demo data seeded ({jobs} demo jobs)")


@click.command()
@one_line_errors
def demo() -> None:
    """Seed the demo organisation (on an empty database)."""
    sv = services(check_remote=False)
    sv.migrate()
    _seed(sv)


def _api() -> EntryPoint:
    found = entry_points(group=FACES, name="api")
    if not found:
        raise RuntimeError(f"no API installed (entry point 'api' of {FACES}): pip install -e .")
    return next(iter(found))


def _announce_demo(sv: Services, host: str, port: int) -> None:
    from connectors.tokens import mint_demo_admin_token

    with sv.uow() as uow:
        empty = not uow.pools.list()
    if empty:
        _seed(sv)
    # A fresh admin token at each start; the previous demo token is revoked (audited).
    token = mint_demo_admin_token(sv.session_factory, sv.clock(), sv.settings.token_days)
    click.echo(f"gpuhours demo: http://{host}:{port}/api/v1/docs")
    click.echo(f"demo admin token: {token}")
    click.echo(f"try: curl -H 'Authorization: Bearer {token}' http://{host}:{port}/api/v1/pools")


def _run_api(api: EntryPoint, sv: Services, host: str, port: int, workers: int) -> None:
    import uvicorn

    level = sv.settings.log_level
    if workers > 1:
        # Each worker builds its own services from the environment (one process, one pool).
        uvicorn.run(
            api.value,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=level,
            server_header=False,
        )
        return
    app = api.load()(services=sv)
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
    api = _api()
    sv = services(check_remote=False)
    sv.migrate()
    host = host or sv.settings.host
    port = port or sv.settings.port
    if with_demo:
        _announce_demo(sv, host, port)
    else:
        click.echo(f"gpuhours: http://{host}:{port}/api/v1/docs")
    scheduler = None
    if not no_scheduler and sv.settings.scheduler:
        from connectors.scheduler import start_scheduler

        logging.basicConfig(level=sv.settings.log_level.upper(), format=LOG_FORMAT)
        scheduler = start_scheduler(sv)  # schedules only if this replica wins the leader lock
    try:
        _run_api(api, sv, host, port, workers)
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
