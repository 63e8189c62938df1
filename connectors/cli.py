"""The ``gpuhours`` command line. Every failure: exit code != 0 and one line saying why."""

from __future__ import annotations

import functools
import getpass
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import click
import pydantic

from accounting.errors import AccountingError
from accounting.ingestion import StoreResult, Window
from allocator import services as svc
from allocator.errors import AllocatorError, InvalidInput
from allocator.model import Role, SlurmAccount, User
from connectors.bootstrap import Services, build
from connectors.http import schemas as s
from connectors.http.token_schemas import TokenInfoOut
from connectors.settings import Settings
from connectors.tokens import MAX_DAYS, check_expiry, list_tokens, mint, revoke

F = TypeVar("F", bound=Callable[..., Any])
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class CliError(click.ClickException):
    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"gpuhours: error: {self.format_message()}", err=True)


def one_line_errors(func: F) -> F:
    """Translate every known error into one line on stderr and a non-zero exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except (AllocatorError, AccountingError) as exc:
            raise CliError(exc.message) from exc
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "input"
            raise CliError(f"{field}: {first['msg']}") from exc
        except (OSError, ValueError, RuntimeError) as exc:
            raise CliError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc

    return wrapper  # type: ignore[return-value]


def cli_actor() -> User:
    """CLI commands act as an administrator named after the operating-system user."""
    return User(f"cli:{getpass.getuser()}", Role.ADMIN)


def services() -> Services:
    ctx = click.get_current_context()
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "services" not in obj:
        obj["services"] = build(Settings())
    return obj["services"]  # type: ignore[no-any-return]


def emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _reason(exc: pydantic.ValidationError) -> str:
    message = str(exc.errors()[0].get("msg", ""))
    return message.removeprefix("Value error, ")


def hours_arg(value: str, field: str = "hours") -> int:
    """Positive hours as the API takes them (``allocator.hours``: the same rule)."""
    try:
        return s.to_seconds(s.TypeAdapterHours.validate_python(value))
    except pydantic.ValidationError as exc:
        raise InvalidInput(
            field, f"{value!r} is not a positive number of hours ({_reason(exc)})"
        ) from exc


class OneLineGroup(click.Group):
    """Usage errors too end in one line on stderr (``gpuhours: error: ...``) and exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            where = f"{exc.ctx.command_path}: " if exc.ctx is not None else ""
            click.echo(f"gpuhours: error: {where}{exc.format_message()}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("gpuhours: error: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """gpuhours: GPU-hours allocation and job accounting for ENACT."""


@main.command()
@one_line_errors
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    services().migrate()
    click.echo("database at head")


@main.command()
@one_line_errors
def demo() -> None:
    """Seed the demo organisation (on an empty database)."""
    from connectors.demo import seed, seed_usage

    sv = services()
    sv.migrate()
    seed(sv.uow(), sv.clock(), sv.settings.calendar)
    jobs = seed_usage(sv.usage_store(), sv.clock(), sv.settings.calendar)
    click.echo(f"demo data seeded ({jobs} demo jobs)")


@main.command()
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
    import uvicorn

    from connectors.http.app import create_app

    sv = services()
    sv.migrate()
    host = host or sv.settings.host
    port = port or sv.settings.port
    if with_demo:
        from connectors.demo import seed, seed_usage
        from connectors.tokens import mint_demo_admin_token

        with sv.uow() as uow:
            empty = not uow.pools.list()
        if empty:
            seed(sv.uow(), sv.clock(), sv.settings.calendar)
            jobs = seed_usage(sv.usage_store(), sv.clock(), sv.settings.calendar)
            click.echo(f"demo data seeded ({jobs} demo jobs)")
        # A fresh admin token at each start; the previous demo token is revoked (audited).
        token = mint_demo_admin_token(sv.session_factory, sv.clock(), sv.settings.token_days)
        click.echo(f"gpuhours demo: http://{host}:{port}/api/v1/docs")
        click.echo(f"demo admin token: {token}")
        click.echo(
            f"try: curl -H 'Authorization: Bearer {token}' http://{host}:{port}/api/v1/pools"
        )
    else:
        click.echo(f"gpuhours: http://{host}:{port}/api/v1/docs")
    scheduler = None
    if not no_scheduler and sv.settings.scheduler:
        from connectors.scheduler import start_scheduler

        logging.basicConfig(level=sv.settings.log_level.upper(), format=LOG_FORMAT)
        scheduler = start_scheduler(sv)  # schedules only if this replica wins the leader lock
    try:
        if workers > 1:
            # Each worker builds its own services from the environment (one process, one pool).
            uvicorn.run(
                "connectors.http.app:app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level=sv.settings.log_level,
                server_header=False,
            )
            return
        app = create_app(services=sv)
        uvicorn.run(app, host=host, port=port, log_level=sv.settings.log_level, server_header=False)
    finally:
        if scheduler is not None:
            scheduler.stop()


@main.command()
@one_line_errors
def worker() -> None:
    """Run the scheduler only (no API), until SIGTERM or SIGINT.

    Any number of workers and ``serve`` replicas may share a database: only the one holding
    the leader lock schedules, and its state is logged (``leader`` or ``standby``).
    """
    from connectors.scheduler import run_worker

    sv = services()
    logging.basicConfig(level=sv.settings.log_level.upper(), format=LOG_FORMAT)
    sv.migrate()
    run_worker(sv)


# --- tokens and users ---------------------------------------------------------------------


@main.group()
def token() -> None:
    """API tokens."""


def expiry_arg(value: str | None, now: datetime, default_days: int) -> datetime:
    """``--expires``: a number of days (``30``, ``30d``) or a UTC date or time (``2027-01-31``)."""
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
@one_line_errors
def token_create(username: str, role: str, note: str, expires: str | None) -> None:
    """Mint a token for USER (created with ROLE if new). Prints the token once."""
    sv = services()
    now = sv.clock()
    expires_at = expiry_arg(expires, now, sv.settings.token_days)
    with sv.uow() as uow:
        existing = uow.users.get(username)
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
    sv = services()
    now = sv.clock()
    infos = list_tokens(sv.session_factory, cli_actor(), now, username, active_only=active)
    emit([TokenInfoOut.of(i, now).model_dump(mode="json") for i in infos])


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--reason", default="")
@one_line_errors
def token_revoke(token_id: int, reason: str) -> None:
    """Revoke token TOKEN_ID (see `token list`): refused from the next request on."""
    sv = services()
    now = sv.clock()
    info = revoke(sv.session_factory, cli_actor(), token_id, now, reason)
    emit(TokenInfoOut.of(info, now).model_dump(mode="json"))


@main.group()
def users() -> None:
    """Users."""


@users.command("list")
@one_line_errors
def users_list() -> None:
    with services().uow() as uow:
        emit(
            [
                {"username": u.username, "role": u.role.value, "name": u.full_name}
                for u in uow.users.list()
            ]
        )


# --- pools, chairs, projects -----------------------------------------------------------------


@main.group()
def pools() -> None:
    """Pools of GPU hours."""


@pools.command("list")
@one_line_errors
def pools_list() -> None:
    with services().uow() as uow:
        emit([s.PoolOut.of(p).model_dump(mode="json") for p in uow.pools.list()])


@pools.command("create")
@click.argument("definition", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@one_line_errors
def pools_create(definition: Path) -> None:
    """Create a pool from a JSON file shaped like the API's POST /pools body."""
    from connectors.http.routes import pool_of

    body = s.PoolIn.model_validate_json(definition.read_text())
    sv = services()
    uow = sv.uow()
    with uow:  # one transaction: no pool is left behind without its grant
        pool = svc.create_pool(uow, cli_actor(), sv.clock(), pool_of(body))
        if body.grant_hours is not None:
            svc.add_grant(
                uow,
                cli_actor(),
                sv.clock(),
                pool.id,
                s.to_seconds(body.grant_hours),
                "initial grant",
                calendar=sv.settings.calendar,
            )
        uow.commit()
    emit(s.PoolOut.of(pool).model_dump(mode="json"))


@pools.command("grant")
@click.argument("pool_id")
@click.option("--hours", required=True)
@click.option("--reason", required=True)
@one_line_errors
def pools_grant(pool_id: str, hours: str, reason: str) -> None:
    """Deposit a grant over the pool's validity window, split by quarter."""
    sv = services()
    entries = svc.add_grant(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        hours_arg(hours),
        reason,
        calendar=sv.settings.calendar,
    )
    emit([s.EntryOut.of(e).model_dump(mode="json") for e in entries])


@pools.command("balance")
@click.argument("pool_id")
@click.option("--period", required=True)
@one_line_errors
def pools_balance(pool_id: str, period: str) -> None:
    sv = services()
    balance = svc.pool_balances(
        sv.uow(), cli_actor(), pool_id, period, now=sv.clock(), calendar=sv.settings.calendar
    )
    emit(s.PoolBalanceOut.of(balance).model_dump(mode="json"))


@main.group()
def chairs() -> None:
    """Research chairs."""


@chairs.command("list")
@one_line_errors
def chairs_list() -> None:
    sv = services()
    emit([s.ChairOut.of(c).model_dump(mode="json") for c in svc.list_chairs(sv.uow(), cli_actor())])


@main.group()
def projects() -> None:
    """Projects and their Slurm accounts."""


@projects.command("list")
@click.option("--chair", default=None)
@one_line_errors
def projects_list(chair: str | None) -> None:
    sv = services()
    emit(
        [
            s.ProjectOut.of(p).model_dump(mode="json")
            for p in svc.list_projects(sv.uow(), cli_actor(), chair)
        ]
    )


@projects.command("map-account")
@click.argument("project_id")
@click.option("--cluster", required=True)
@click.option("--account", required=True)
@one_line_errors
def projects_map(project_id: str, cluster: str, account: str) -> None:
    """Map a Slurm account on a cluster to a project (past jobs are attributed too)."""
    sv = services()
    project = svc.map_slurm_account(
        sv.uow(), cli_actor(), sv.clock(), project_id, SlurmAccount(cluster, account)
    )
    emit(s.ProjectOut.of(project).model_dump(mode="json"))


# --- hours ----------------------------------------------------------------------------------


@main.command()
@click.option("--period", required=True)
@click.option("--pool", "pool_id", default=None)
@one_line_errors
def balances(period: str, pool_id: str | None) -> None:
    """Project balances for a period."""
    sv = services()
    uow = sv.uow(read_only=True)  # beside a running server's writer, never waiting for it
    rows = svc.visible_balances(  # the period is refused even when there is nothing to show
        uow,
        cli_actor(),
        period,
        [pool_id] if pool_id else None,
        sv.consumption.within(uow),
        now=sv.clock(),
        calendar=sv.settings.calendar,
    )
    emit([s.ProjectBalanceOut.of(b).model_dump(mode="json") for b in rows])


@main.group()
def allocate() -> None:
    """Allocate hours: pool -> chair, chair -> project."""


@allocate.command("chair")
@click.option("--pool", "pool_id", required=True)
@click.option("--chair", "chair_id", required=True)
@click.option("--period", required=True)
@click.option("--hours", required=True)
@click.option("--reason", required=True)
@one_line_errors
def allocate_chair(pool_id: str, chair_id: str, period: str, hours: str, reason: str) -> None:
    sv = services()
    entry = svc.allocate_to_chair(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        chair_id,
        period,
        hours_arg(hours),
        reason,
        calendar=sv.settings.calendar,
    )
    emit(s.EntryOut.of(entry).model_dump(mode="json"))


@allocate.command("project")
@click.option("--pool", "pool_id", required=True)
@click.option("--project", "project_id", required=True)
@click.option("--period", required=True)
@click.option("--hours", required=True)
@click.option("--reason", required=True)
@click.option("--draw-from-pool", is_flag=True)
@one_line_errors
def allocate_project(
    pool_id: str, project_id: str, period: str, hours: str, reason: str, draw_from_pool: bool
) -> None:
    sv = services()
    entries = svc.allocate_to_project(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        project_id,
        period,
        hours_arg(hours),
        reason,
        draw_from_pool,
        calendar=sv.settings.calendar,
    )
    emit([s.EntryOut.of(e).model_dump(mode="json") for e in entries])


@main.group()
def requests() -> None:
    """Allocation requests."""


@requests.command("list")
@click.option("--state", default=None)
@one_line_errors
def requests_list(state: str | None) -> None:
    from allocator.model import RequestState

    sv = services()
    try:
        wanted = RequestState(state) if state else None
    except ValueError:
        states = ", ".join(s.value for s in RequestState)
        raise InvalidInput("state", f"{state!r} is not one of {states}") from None
    emit(
        [
            s.RequestOut.of(r).model_dump(mode="json")
            for r in svc.list_requests(sv.uow(), cli_actor(), wanted)
        ]
    )


@requests.command("approve")
@click.argument("request_id", type=int)
@click.option(
    "--grant",
    "grants",
    multiple=True,
    metavar="PERIOD=HOURS",
    help="Partial approval, per period; omit to approve in full.",
)
@click.option("--reason", default="")
@one_line_errors
def requests_approve(request_id: int, grants: tuple[str, ...], reason: str) -> None:
    sv = services()
    granted = None
    if grants:
        granted = []
        for g in grants:
            period, sep, value = g.partition("=")
            if not sep:
                raise InvalidInput("grant", f"{g!r} is not PERIOD=HOURS")
            try:
                seconds = s.to_seconds(pydantic.TypeAdapter(s.HoursOrZero).validate_python(value))
            except pydantic.ValidationError as exc:
                raise InvalidInput(
                    "grant", f"{value!r} is not a positive number of hours ({_reason(exc)})"
                ) from exc
            granted.append((period, seconds))
    try:
        r = svc.approve_request(
            sv.uow(),
            cli_actor(),
            sv.clock(),
            request_id,
            granted,
            reason,
            calendar=sv.settings.calendar,
        )
    except InvalidInput as exc:  # the API's "granted" is the CLI's --grant
        raise (InvalidInput("grant", exc.reason) if exc.field == "granted" else exc) from None
    emit(s.RequestOut.of(r).model_dump(mode="json"))


@requests.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True)
@one_line_errors
def requests_reject(request_id: int, reason: str) -> None:
    sv = services()
    r = svc.reject_request(sv.uow(), cli_actor(), sv.clock(), request_id, reason)
    emit(s.RequestOut.of(r).model_dump(mode="json"))


@main.command()
@click.option("--pool", "pool_id", default=None)
@click.option("--period", default=None)
@click.option("--account", default=None)
@one_line_errors
def journal(pool_id: str | None, period: str | None, account: str | None) -> None:
    """The append-only journal."""
    sv = services()
    entries = svc.journal(
        sv.uow(),
        cli_actor(),
        pool_id,
        period,
        account,
        now=sv.clock(),
        calendar=sv.settings.calendar,
    )
    emit([s.EntryOut.of(e).model_dump(mode="json") for e in entries])


# --- usage ingestion ------------------------------------------------------------------------


def parse_time(value: str | None, field: str) -> datetime | None:
    """ISO 8601 (a value without an offset is UTC) or epoch seconds."""
    if value is None:
        return None
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(field, f"{value!r} is not an ISO 8601 time or epoch seconds") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@main.command()
@click.option("--cluster", required=True, help="A cluster of the settings (GPUHOURS_CLUSTERS).")
@click.option("--since", default=None, help="Backfill from (ISO 8601 UTC, or epoch).")
@click.option("--until", default=None, help="Backfill to (default: now).")
@click.option(
    "--from-file",
    "from_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Import a sacct --json or --parsable2 export instead of asking Slurm.",
)
@one_line_errors
def ingest(cluster: str, since: str | None, until: str | None, from_file: Path | None) -> None:
    """Ingest GPU usage of a cluster: incremental from the watermark, or a backfill."""
    from connectors.ingest import import_file, run_ingest

    sv = services()
    sv.migrate()
    store = sv.usage_store()
    if from_file is not None:
        result, warnings = import_file(store, cluster, from_file, sv.clock())
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        emit(
            {
                "cluster": cluster,
                "file": str(from_file),
                "inserted": result.inserted,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "quarantined": result.quarantined,
            }
        )
        return
    config = sv.settings.cluster(cluster)
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start and end and end <= start:
        raise InvalidInput("until", "must be after since")
    bar = None
    if sys.stdout.isatty():
        now_epoch = int(sv.clock().timestamp())
        first = int(start.timestamp()) if start else store.state(cluster).watermark or now_epoch
        last = int(end.timestamp()) if end else now_epoch
        bar = click.progressbar(
            length=max(last - first, 1),
            label=f"ingesting {cluster}",
            show_eta=True,
            file=sys.stderr,
        )
        bar.__enter__()

    def progress(window: Window, _result: StoreResult) -> None:
        if bar is not None:
            bar.update(window.end - window.start)

    try:
        report = run_ingest(store, config, sv.clock(), since=start, until=end, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    emit(
        {
            "cluster": report.cluster,
            "windows": report.windows,
            "inserted": report.inserted,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "quarantined": report.quarantined,
            "watermark": report.watermark,
            "error": report.error,
        }
    )
    if not report.ok:
        raise CliError(f"cluster {cluster}: {report.error} (watermark held; the next run retries)")


@main.group()
def clusters() -> None:
    """Slurm clusters and their ingestion health."""


@clusters.command("status")
@one_line_errors
def clusters_status() -> None:
    """Last success, lag, errors by kind and quarantined records, per cluster."""
    from connectors.http.usage_routes import cluster_statuses

    sv = services()
    rows = cluster_statuses(sv, sv.uow(), cli_actor(), sv.clock())
    emit([c.model_dump(mode="json") for c in rows])


@main.group()
def usage() -> None:
    """Ingested usage: per account, unmapped accounts, quarantine."""


@usage.command("accounts")
@click.option("--cluster", default=None)
@click.option("--unmapped", is_flag=True, help="Only accounts no project claims yet.")
@one_line_errors
def usage_accounts(cluster: str | None, unmapped: bool) -> None:
    from accounting.services import account_usage

    sv = services()
    emit(
        [
            {
                "cluster": u.cluster,
                "account": u.account,
                "project_id": u.project_id,
                "jobs": u.jobs,
                "gpu_seconds": u.gpu_seconds,
                "provisional_gpu_seconds": u.provisional_gpu_seconds,
                "gpu_seconds_by_type": u.by_type,
            }
            for u in account_usage(sv.uow(), cli_actor(), cluster, unmapped)
        ]
    )


@usage.command("quarantine")
@click.option("--cluster", default=None)
@one_line_errors
def usage_quarantine(cluster: str | None) -> None:
    from accounting.services import quarantine

    sv = services()
    emit(
        [
            {
                "id": q.id,
                "cluster": q.cluster,
                "job_id": q.job_id,
                "reason": q.reason,
                "raw": q.raw[:500],
            }
            for q in quarantine(sv.uow(), cli_actor(), cluster)
        ]
    )


# --- the quarter's accounting ---------------------------------------------------------------


def _signed_hours(value: str) -> Decimal:
    try:
        return pydantic.TypeAdapter(s.SignedHours).validate_python(value)
    except pydantic.ValidationError as exc:
        raise InvalidInput(
            "hours", f"{value!r} is not a signed number of hours ({_reason(exc)})"
        ) from exc


def _tolerance(seconds: int, percent: str) -> Any:
    from accounting.reconcile import Tolerance

    try:
        value = Decimal(percent)
        ok = value.is_finite() and 0 <= value <= 100 and value * 10 == int(value * 10)
    except InvalidOperation:
        ok = False
    if not ok:
        raise InvalidInput("tolerance_percent", f"{percent!r} is not a percentage 0..100 (0.1)")
    if seconds < 0:
        raise InvalidInput("tolerance_seconds", "must not be negative")
    return Tolerance(seconds, int(Decimal(percent) * 10))


@main.group()
def statements() -> None:
    """External statements (national centre CSV, sreport, any CSV) to reconcile against."""


@statements.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pool", "pool_id", required=True)
@click.option("--period", required=True)
@click.option(
    "--format", "fmt", required=True, type=click.Choice(["national-csv", "sreport", "mapped-csv"])
)
@click.option("--file-name", default=None, help="Name recorded with it (default: FILE's name).")
@click.option("--map-account", default=None, help="mapped-csv: the account column.")
@click.option("--map-gpu-seconds", default=None, help="mapped-csv: GPU-seconds column.")
@click.option("--map-hours", default=None, help="mapped-csv: GPU hours column.")
@click.option("--map-units-hours", default=None, help="mapped-csv: hours of the pool's unit.")
@click.option("--map-gpu-type", default=None, help="mapped-csv: GPU type column.")
@click.option("--map-period", default=None, help="mapped-csv: period column.")
@click.option("--delimiter", default=None, help="mapped-csv: the separator (default: found).")
@one_line_errors
def statements_import(
    file: Path,
    pool_id: str,
    period: str,
    fmt: str,
    file_name: str | None,
    map_account: str | None,
    map_gpu_seconds: str | None,
    map_hours: str | None,
    map_units_hours: str | None,
    map_gpu_type: str | None,
    map_period: str | None,
    delimiter: str | None,
) -> None:
    """Import FILE as the statement of a pool and period, all or nothing (again: a no-op)."""
    from accounting import services as acc
    from connectors.http.statement_routes import StatementFormat, StatementOut, column_mapping

    columns = {
        "account": map_account,
        "gpu_seconds": map_gpu_seconds,
        "hours": map_hours,
        "units_hours": map_units_hours,
        "gpu_type": map_gpu_type,
        "period": map_period,
    }
    mapping = column_mapping(StatementFormat(fmt), columns, delimiter)
    sv = services()
    info = acc.import_statement(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        period,
        fmt,
        file.read_bytes(),
        file_name or file.name,
        mapping,
        calendar=sv.settings.calendar,
    )
    emit(StatementOut.of(info).model_dump(mode="json"))


@statements.command("list")
@click.option("--pool", "pool_id", default=None)
@click.option("--period", default=None)
@one_line_errors
def statements_list(pool_id: str | None, period: str | None) -> None:
    from accounting import services as acc
    from connectors.http.statement_routes import StatementOut

    sv = services()
    infos = acc.list_statements(
        sv.uow(), cli_actor(), pool_id, period, now=sv.clock(), calendar=sv.settings.calendar
    )
    emit([StatementOut.of(i).model_dump(mode="json") for i in infos])


@main.command()
@click.option("--pool", "pool_id", required=True)
@click.option("--period", required=True)
@click.option("--jobs", "jobs_of", default=None, metavar="PROJECT", help="The jobs behind a line.")
@click.option("--tolerance-seconds", default=60, type=int, show_default=True)
@click.option("--tolerance-percent", default="1", show_default=True)
@one_line_errors
def reconcile(
    pool_id: str, period: str, jobs_of: str | None, tolerance_seconds: int, tolerance_percent: str
) -> None:
    """Our consumption against the latest statement, per project (--jobs PROJECT: its jobs;
    --jobs '': jobs of unmapped accounts)."""
    from accounting import services as acc
    from connectors.http.reconciliation_routes import JobOut, ReconciliationOut

    tolerance = _tolerance(tolerance_seconds, tolerance_percent)
    sv = services()
    now, calendar = sv.clock(), sv.settings.calendar
    if jobs_of is not None:
        jobs = acc.jobs_behind(
            sv.uow(), cli_actor(), pool_id, period, jobs_of, now=now, calendar=calendar
        )
        emit([JobOut.of(j).model_dump(mode="json") for j in jobs])
        return
    rec = acc.reconcile(
        sv.uow(), cli_actor(), pool_id, period, tolerance, now=now, calendar=calendar
    )
    emit(ReconciliationOut.of(rec).model_dump(mode="json"))


@main.command()
@click.argument("action", type=click.Choice(["accept", "adjust"]))
@click.option("--pool", "pool_id", required=True)
@click.option("--period", required=True)
@click.option("--project", "project_id", required=True, help="The line's project.")
@click.option("--hours", default="0", help="adjust: signed hours (negative debits the project).")
@click.option("--reason", required=True)
@one_line_errors
def decide(
    action: str, pool_id: str, period: str, project_id: str, hours: str, reason: str
) -> None:
    """Accept a reconciliation line's difference, or adjust the project by signed hours."""
    from accounting import services as acc
    from connectors.http.reconciliation_routes import ReconciliationOut, decision_amount

    amount = decision_amount(action, _signed_hours(hours))
    sv = services()
    rec = acc.decide(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        period,
        project_id,
        action,
        amount,
        reason,
        calendar=sv.settings.calendar,
    )
    emit(ReconciliationOut.of(rec).model_dump(mode="json"))


@main.command()
@click.option("--period", required=True)
@click.option(
    "--format", "fmt", default="json", show_default=True, type=click.Choice(["json", "csv", "html"])
)
@click.option(
    "--output", default=None, type=click.Path(dir_okay=False, path_type=Path), help="A file."
)
@one_line_errors
def report(period: str, fmt: str, output: Path | None) -> None:
    """The period's report (a closed period's: the one signed off at close), on stdout."""
    from accounting import report as rpt
    from accounting import services as acc

    sv = services()
    rendered = acc.report(
        sv.uow(), cli_actor(), period, now=sv.clock(), calendar=sv.settings.calendar
    )
    text = {"json": rpt.to_json, "csv": rpt.to_csv, "html": rpt.to_html}[fmt](rendered)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    emit({"period": period, "format": fmt, "output": str(output), "bytes": len(text.encode())})


@main.command()
@click.option("--period", required=True)
@click.option("--reason", required=True)
@click.option("--force", is_flag=True, help="Close despite unresolved reconciliation lines.")
@one_line_errors
def close(period: str, reason: str, force: bool) -> None:
    """Close an ended period: close policies applied, report signed off (printed), frozen."""
    from accounting import report as rpt
    from accounting import services as acc

    sv = services()
    signed = acc.close_period(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        period,
        reason,
        force,
        calendar=sv.settings.calendar,
        clock=sv.clock,
    )
    click.echo(rpt.to_json(signed), nl=False)


@main.command()
@click.option("--period", required=True)
@click.option("--pool", "pool_id", default=None)
@one_line_errors
def burn(period: str, pool_id: str | None) -> None:
    """Burn rates (hours per day over 7 and 30 days) and projected exhaustion per project."""
    from accounting import services as acc
    from connectors.http.burn_routes import BurnOut

    sv = services()
    calendar = sv.settings.calendar
    rows = acc.burn_rates(sv.uow(), cli_actor(), sv.clock(), period, pool_id, calendar=calendar)
    emit([BurnOut.of(r).model_dump(mode="json") for r in rows])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
