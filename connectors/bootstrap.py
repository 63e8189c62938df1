"""Composition root: settings in, wired services out. Nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from allocator.ports import BalanceReads, ConsumptionLookup
from allocator.services import pool_units
from connectors.auth import Authenticator, TokenAuthenticator
from connectors.db.balance_reads import SqlBalanceReads
from connectors.db.consumption import SqlConsumption
from connectors.db.engine import make_engine, make_session_factory, read_only
from connectors.db.identities import SqlIdentities
from connectors.db.migrate import upgrade
from connectors.db.site import check_calendar
from connectors.db.uow import SqlUnitOfWork
from connectors.enforce_runs import EnforceRuns
from connectors.identity.bearer import FirstOf, OidcBearerAuthenticator
from connectors.identity.provider import Provider
from connectors.notify.worker import Notifier, NotifyStatus
from connectors.pool_units import PoolUnits
from connectors.settings import Settings
from connectors.throttle import AuthThrottle

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ConsumptionReader(Protocol):
    def consumed(self, project_id: str, pool_id: str, period: str) -> tuple[int, int]:
        """(final, provisional) unit-seconds charged to a project in a pool and period."""
        ...

    def within(self, uow: Any) -> ConsumptionLookup:
        """Consumption of many projects and pools in one read, inside ``uow``'s transaction."""
        ...


@dataclass
class SchedulerStatus:
    """What the scheduler of this process does, for ``/metrics``: whether it leads, and when
    each scheduled job (``ingest:<cluster>``, ...) last succeeded (epoch seconds)."""

    leader: bool = False
    last_success: dict[str, float] = field(default_factory=dict)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    authenticator: Authenticator
    consumption: ConsumptionReader
    clock: Callable[[], datetime] = field(default=utc_now)
    _sources: dict[str, Any] = field(default_factory=dict, repr=False)
    scheduler_status: SchedulerStatus = field(default_factory=SchedulerStatus, repr=False)
    #: Failed authentications per client address (HTTP edge; per process, in memory).
    auth_throttle: AuthThrottle = field(default_factory=AuthThrottle, repr=False)
    #: This process's notification deliveries (``/metrics``, ``/readyz``).
    notify_status: NotifyStatus = field(default_factory=NotifyStatus, repr=False)
    #: This process's scheduled enforcement runs (``/metrics``).
    enforce_runs: EnforceRuns = field(default_factory=EnforceRuns, repr=False)
    _notifier: Notifier | None = field(default=None, repr=False)
    #: The OpenID Connect providers, by name (``GPUHOURS_OIDC_PROVIDERS``).
    identity_providers: dict[str, Provider] = field(default_factory=dict, repr=False)
    #: the same pool, for transactions that only read (``connectors.db.engine.read_only``)
    reader: Engine = field(init=False, repr=False)
    read_session_factory: sessionmaker[Session] = field(init=False, repr=False)
    #: the inputs of many balances in one statement (``connectors.db.balance_reads``)
    balance_reads: BalanceReads = field(init=False, repr=False)
    #: each pool's unit, read once and again only for a pool not yet seen
    pool_units: PoolUnits = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.reader = read_only(self.engine)
        self.read_session_factory = make_session_factory(self.reader)
        self.balance_reads = SqlBalanceReads(self.engine)
        self.pool_units = PoolUnits(lambda: pool_units(self.uow(read_only=True)))

    def uow(self, read_only: bool = False) -> SqlUnitOfWork:
        """A unit of work; ``read_only`` ones (every GET) never take SQLite's write lock, and
        the database refuses them any write."""
        return SqlUnitOfWork(self.read_session_factory if read_only else self.session_factory)

    def migrate(self) -> None:
        """Bring the schema to head, then check (or, on first use, record) the site's calendar
        against the one the data was booked with (:mod:`connectors.db.site`)."""
        upgrade(self.engine)
        check_calendar(self.engine, self.settings.calendar, self.clock())

    def usage_store(self) -> Any:
        from connectors.db.usage_store import SqlUsageStore

        return SqlUsageStore(self.engine, self.settings.calendar)

    def notifier(self) -> Notifier:
        """The outbox's worker, built once (one HTTP client for the webhooks)."""
        if self._notifier is None:
            self._notifier = Notifier(
                self.settings, self.session_factory, lambda: self.clock(), self.notify_status
            )
        return self._notifier

    def usage_source(self, cluster: str) -> Any:
        """The cluster's usage source, built once and reused (one HTTP client, one discovery).

        Not shared between threads at once: the scheduler runs one ingestion per cluster at a
        time (``max_instances=1``).
        """
        if cluster not in self._sources:
            from connectors.ingest import build_source

            self._sources[cluster] = build_source(self.settings.cluster(cluster))
        return self._sources[cluster]


def build(settings: Settings, engine: Engine | None = None) -> Services:
    """The services of ``settings``. Refused (:class:`~connectors.db.site.CalendarMismatch`,
    a ``ValueError``) when the database's data was booked with another time zone or period
    scheme; a database not migrated yet is checked by :meth:`Services.migrate`."""
    engine = engine or make_engine(settings.database_url)
    try:
        check_calendar(engine, settings.calendar, utc_now())
    except OperationalError:
        # The database is down: the API still starts and answers 503 until it is back;
        # ``serve`` and ``migrate`` check the calendar again (Services.migrate) before use.
        log.warning("database unavailable at start: site calendar not checked yet")
    factory = make_session_factory(engine)
    # The token look-up only reads (never behind SQLite's writer); its last-use stamp is its
    # own short write transaction. It reads the services' clock when called: tests replace it.
    authenticator: Authenticator = TokenAuthenticator(factory, clock=lambda: services.clock())
    providers = [
        Provider(config, now=lambda: services.clock().timestamp())
        for config in settings.oidc_providers
    ]
    if providers:
        # gpuhours' own tokens first (one indexed read), then the providers' JWTs
        bearer = OidcBearerAuthenticator(providers, SqlIdentities(engine))
        authenticator = FirstOf(authenticator, bearer)
    services = Services(settings, engine, factory, authenticator, SqlConsumption(engine))
    services.identity_providers = {p.name: p for p in providers}
    services.auth_throttle = AuthThrottle(settings.auth_failures, settings.auth_window_seconds)
    return services
