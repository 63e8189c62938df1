"""The port every data command talks to, and how a command gets it: local or remote.

A command parses its options, calls one method of ``Gateway`` and prints what it returns
(the JSON the API answers with). Two implementations:

- ``local.LocalGateway``: the use cases on this host's database, as the administrator
  ``cli:<login>`` (admin-local mode: the server host's operator);
- ``remote.RemoteGateway``: the API of a gpuhours server over HTTP(S), with the token of
  ``gpuhours login`` (or ``GPUHOURS_SERVER``/``GPUHOURS_TOKEN``), as that token's user.

``gateway()`` chooses once per command: remote when a server is configured (``config``),
unless ``gpuhours --local`` asks for the database; local otherwise. A new command adds one
method here and in both implementations. A command only this host can do (``ingest`` from a
cluster, ``enforce`` through sacctmgr, ``serve``, ``migrate``, ``token create``) calls
``services()`` directly, which refuses in one line when a server is configured and
``--local`` was not given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import click

from connectors.cli import config
from connectors.cli._common import LOCAL_KEY, services

JSON = Any
Lines = list[tuple[str, str]]  # (period, hours as typed)

__all__ = ["Gateway", "StatementUpload", "gateway"]


@dataclass(frozen=True, slots=True)
class StatementUpload:
    """A statement file to import, with what ``POST /statements`` takes beside it."""

    content: bytes
    pool_id: str
    period: str
    fmt: str
    file_name: str
    columns: dict[str, str | None]  # mapped-csv: field -> its column
    delimiter: str | None


class Gateway(Protocol):
    def me(self) -> JSON: ...
    def users(self) -> JSON: ...
    def set_active(self, username: str, active: bool) -> JSON: ...
    def pools(self) -> JSON: ...
    def pool_balance(self, pool_id: str, period: str | None) -> JSON: ...
    def chairs(self) -> JSON: ...
    def projects(self, chair_id: str | None) -> JSON: ...
    def map_account(self, project_id: str, cluster: str, account: str) -> JSON: ...
    def unmap_account(self, project_id: str, cluster: str, account: str) -> JSON: ...
    def balances(self, period: str | None, pool_id: str | None) -> JSON: ...
    def journal(self, pool_id: str | None, period: str | None, account: str | None) -> JSON: ...
    def requests(self, state: str | None) -> JSON: ...
    def request(self, request_id: int) -> JSON: ...
    def submit(
        self, project_id: str, pool_id: str, lines: Lines, justification: str, gpu_type: str | None
    ) -> JSON: ...
    def withdraw(self, request_id: int, reason: str) -> JSON: ...
    def comment(self, request_id: int, text: str) -> JSON: ...
    def approve(self, request_id: int, granted: Lines | None, reason: str) -> JSON: ...
    def reject(self, request_id: int, reason: str) -> JSON: ...
    def tokens(self, username: str | None, active: bool) -> JSON: ...
    def revoke_token(self, token_id: int, reason: str) -> JSON: ...
    def burn(self, period: str | None, pool_id: str | None) -> JSON: ...
    def jobs(
        self, period: str | None, project_id: str | None, pool_id: str | None, limit: int
    ) -> JSON: ...

    # pools and allocations (admins)
    def create_pool(self, definition: str) -> JSON: ...
    def grant(self, pool_id: str, hours: str, reason: str) -> JSON: ...
    def allocate_chair(
        self, pool_id: str, chair_id: str, period: str, hours: str, reason: str
    ) -> JSON: ...
    def allocate_project(
        self, pool_id: str, project_id: str, period: str, hours: str, reason: str, draw: bool
    ) -> JSON: ...

    # the quarter (admins; engineers read)
    def import_statement(self, upload: StatementUpload) -> JSON: ...
    def statements(self, pool_id: str | None, period: str | None) -> JSON: ...
    def reconcile(self, pool_id: str, period: str, seconds: int, percent: str) -> JSON: ...
    def jobs_behind(self, pool_id: str, period: str, project_id: str) -> JSON: ...
    def decide(
        self, action: str, pool_id: str, period: str, project_id: str, hours: str, reason: str
    ) -> JSON: ...
    def report(self, period: str, fmt: str) -> str: ...
    def close(self, period: str, reason: str, force: bool) -> str: ...

    # ingestion (engineers and admins)
    def clusters(self) -> JSON: ...
    def account_usage(self, cluster: str | None, unmapped: bool, period: str | None) -> JSON: ...
    def quarantine(self, cluster: str | None) -> JSON: ...


def gateway() -> Gateway:
    ctx = click.get_current_context()
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "gateway" not in obj:
        found = None if _local(ctx, obj) else config.remote()
        if found is None:
            from connectors.cli.gateway.local import LocalGateway

            obj["gateway"] = LocalGateway(services())
        else:
            from connectors.cli.gateway.remote import RemoteGateway

            obj["gateway"] = RemoteGateway(found)
    return obj["gateway"]  # type: ignore[no-any-return]


def _local(ctx: click.Context, obj: dict[str, Any]) -> bool:
    """The database was handed in (tests), or ``--local`` was given."""
    return "services" in obj or bool(ctx.meta.get(LOCAL_KEY))
