"""Database faults as HTTP answers: never a plain-text 500.

:class:`DatabaseFaults` (ASGI middleware, inside Starlette's error middleware, around every
route and dependency) turns what the database raises into the JSON error body:

* an integrity violation the core rules did not catch first (they name duplicates themselves):
  409 for a duplicate key, 422 for a reference to nothing or a missing value, naming the field
  (the list the table stores) and, on PostgreSQL, the duplicate key;
* an unavailable database (refused or lost connection, pool exhausted, SQLite locked): 503 with
  ``Retry-After``;
* a **lost connection** (PostgreSQL backend terminated, server restarted) is retried once, with
  the same request body, when that is safe: no transaction of the request had started
  committing (a read, or a write whose transaction never reached ``COMMIT``: the server rolled
  it back). Otherwise, and when the retry fails too, 503: the client decides.

:func:`track_commits` registers an engine ``commit`` listener that counts, per request, the
commits begun (a ``contextvars`` cell set by the middleware; the thread pool running sync
routes copies the context, so it sees the same cell).
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import Engine, event
from sqlalchemy import exc as sa

from connectors.http.errors import error_body

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Seconds a client should wait before trying again after a 503.
RETRY_AFTER = 5

#: The request being served: how many commits it began (absent outside a request).
_COMMITS: contextvars.ContextVar[list[int]] = contextvars.ContextVar("gpuhours_commits")

#: Table -> the API field whose list it stores.
FIELD_OF_TABLE = {
    "pools": "id",
    "pool_inventory": "inventory",
    "pool_rates": "rates",
    "pool_routes": "routes",
    "pool_node_shapes": "node_shapes",
    "chairs": "id",
    "projects": "id",
    "project_members": "members",
    "slurm_accounts": "slurm_accounts",
    "users": "username",
    "allocation_request_lines": "periods",
}


def _on_commit(_connection: Any) -> None:
    cell = _COMMITS.get(None)
    if cell is not None:
        cell[0] += 1


def track_commits(engine: Engine) -> None:
    """Count the commits each request begins (once per engine)."""
    if not event.contains(engine, "commit", _on_commit):
        event.listen(engine, "commit", _on_commit)


# --- classification -----------------------------------------------------------------------


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot serve now (a later try may succeed)."""
    if isinstance(exc, sa.TimeoutError):  # the pool had no connection to give in time
        return True
    if isinstance(exc, sa.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa.OperationalError | sa.InterfaceError
        )
    return False


def is_connection_lost(exc: BaseException) -> bool:
    """A connection that worked was lost (not one that was never made)."""
    return isinstance(exc, sa.DBAPIError) and exc.connection_invalidated


def why_unavailable(exc: BaseException) -> str:
    """A short reason, for ``/readyz`` and the 503 body (no address, user or password)."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if isinstance(exc, sa.TimeoutError):
        return "no database connection is free (pool exhausted)"
    if "refused" in text or "could not connect" in text or "unable to open" in text:
        return "the database refuses connections"
    if is_connection_lost(exc) or "terminat" in text or "closed" in text:
        return "the connection to the database was lost"
    if "locked" in text or "busy" in text:
        return "the database is locked"
    if "timeout" in text or "timed out" in text:
        return "the database did not answer in time"
    return f"the database is unavailable ({type(getattr(exc, 'orig', None) or exc).__name__})"


_SQLITE_TABLE = re.compile(r"constraint failed: (\w+)\.")
_PG_DETAIL = re.compile(r"Key \((.*)\)=\((.*)\) already exists")


def integrity_answer(exc: sa.IntegrityError) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of an integrity violation."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    sqlstate = getattr(orig, "sqlstate", None) or ""
    text = str(orig)
    table = getattr(diag, "table_name", None)
    if table is None and (m := _SQLITE_TABLE.search(text)) is not None:
        table = m.group(1)
    field = FIELD_OF_TABLE.get(table or "", "body")
    duplicate = sqlstate == "23505" or "UNIQUE constraint" in text
    if duplicate:
        detail = getattr(diag, "message_detail", None) or ""
        if (m := _PG_DETAIL.search(detail)) is not None:
            what = f"{m.group(1)} = {m.group(2)}"
        else:
            what = f"an entry of {table}" if table else "an entry"
        message = f"{field}: {what} appears twice or already exists"
        return 409, error_body("conflict", message, field)
    message = f"{field}: refers to something that does not exist, or lacks a value"
    return 422, error_body("invalid_input", message, field)


def unavailable_response(exc: BaseException) -> JSONResponse:
    reason = why_unavailable(exc)
    return JSONResponse(
        error_body("unavailable", f"{reason}; try again in {RETRY_AFTER} s", None),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


# --- the middleware -------------------------------------------------------------------------


class DatabaseFaults:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            received.append(message)
            return message

        exc = await self._attempt(scope, recording, send)
        if exc is None:
            return
        if isinstance(exc, _Retry):
            log.warning("database connection lost during %s %s: retrying once", *_what(scope))
            replay = list(received)

            async def replaying() -> Message:
                return replay.pop(0) if replay else await receive()

            exc = await self._attempt(scope, replaying, send, retry=False)
            if exc is None:
                return
            if isinstance(exc, _Retry):
                exc = exc.cause
        await self._answer(exc, scope, receive, send)

    async def _attempt(
        self, scope: Scope, receive: Receive, send: Send, retry: bool = True
    ) -> BaseException | None:
        """Run the app once; the fault it ended with (``_Retry`` when it may be retried), or
        ``None`` when it answered."""
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        commits = [0]
        token = _COMMITS.set(commits)
        try:
            await self.app(scope, receive, sending)
        except (sa.IntegrityError, sa.DBAPIError, sa.TimeoutError) as exc:
            if started:
                raise
            if retry and is_connection_lost(exc) and commits[0] == 0:
                return _Retry(exc)
            return exc
        finally:
            _COMMITS.reset(token)
        return None

    async def _answer(self, exc: BaseException, scope: Scope, receive: Receive, send: Send) -> None:
        if isinstance(exc, sa.IntegrityError):
            status, body = integrity_answer(exc)
            log.info("integrity violation on %s %s: %s", *_what(scope), exc.orig)
            response = JSONResponse(body, status_code=status)
        elif is_unavailable(exc):
            log.warning("database unavailable on %s %s: %s", *_what(scope), exc)
            response = unavailable_response(exc)
        else:
            raise exc
        await response(scope, receive, send)


class _Retry(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _what(scope: Scope) -> tuple[str, str]:
    return str(scope.get("method", "")), str(scope.get("path", ""))
