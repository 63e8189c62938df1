"""``Idempotency-Key`` on the POSTs (Stripe's semantics), as ASGI middleware.

Every POST of the API accepts the header, except ``createToken`` (its answer holds a secret,
which is never stored). Per authenticated user, a key names one request:

* the first request with the key runs; its answer (a 2xx, 3xx or 4xx; never a 5xx) is stored;
* the same key again, with the same method, path, query string and body, gets that answer
  back (with ``Idempotent-Replayed: true``) and writes nothing;
* the same key with anything else: 422, field ``Idempotency-Key``;
* requests with one key run one at a time: the later ones wait for the first, then replay;
* a request that wrote but whose answer was lost (the process died in between): 409; it is
  never applied twice (the key is claimed in the write's own transaction).

Keys are kept at least 24 h, in the database (``connectors.db.idempotency``). A request without
the header, or whose token is not valid, is served as if the middleware were not there.
The middleware sits just outside :class:`~connectors.http.faults.DatabaseFaults`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SqlTimeout
from starlette.concurrency import run_in_threadpool

from connectors.bootstrap import Services
from connectors.db import idempotency as store
from connectors.db.idempotency import Answer, Claim
from connectors.http import faults
from connectors.http.errors import error_body
from connectors.throttle import client_key

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEY = re.compile(r"[\x20-\x7e]{1,255}")
API = "/api/v1/"
#: POST operations the header does not apply to, by operation id and by path.
EXCLUDED = frozenset({"createToken"})
EXCLUDED_PATH = re.compile(r"/api/v1/users/[^/]+/tokens/?")
#: Seconds a request waits for an earlier one with its key before a 409.
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
#: Larger bodies are refused when they carry a key (the statements' own limit is 20 MiB).
MAX_BODY = 32 * 1024 * 1024
REPLAYED = (b"idempotent-replayed", b"true")


class Idempotency:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        values = _header_values(scope)
        if scope["type"] != "http" or scope["method"] != "POST" or not values:
            await self.app(scope, receive, send)
            return
        username = await self._username(scope) if self._covered(scope) else None
        if username is None:  # not a POST that takes a key, or the route answers 401/403/429
            await self.app(scope, receive, send)
            return
        if len(values) > 1 or KEY.fullmatch(values[0]) is None:
            message = f"{HEADER}: one key of 1 to 255 printable ASCII characters"
            await _refuse(422, "invalid_input", message, scope, receive, send)
            return
        messages, body = await _read_body(receive)
        if body is None:
            message = f"body: a request with an {HEADER} is at most {MAX_BODY} bytes"
            await _refuse(413, "payload_too_large", message, scope, receive, send, "body")
            return
        query = scope.get("query_string", b"")
        fp = store.fingerprint(scope["method"], scope["path"], query, body)
        try:
            answer = await self._once(scope, receive, messages, username, values[0], fp)
        except (DBAPIError, SqlTimeout) as exc:  # the key's look-up or lock, not the route's
            if not faults.is_unavailable(exc):
                raise
            await faults.unavailable_response(exc)(scope, receive, send)
            return
        await _send(answer, send)

    async def _once(
        self,
        scope: Scope,
        receive: Receive,
        messages: list[Message],
        username: str,
        key: str,
        fp: str,
    ) -> tuple[Answer, bool]:
        """The request's answer, and whether it is a replay."""
        lock, _users = self._locks.get((username, key)) or (asyncio.Lock(), 0)
        self._locks[(username, key)] = (lock, _users + 1)
        try:
            async with lock:
                locked, held = await self._lock_replicas(username, key)
                if not locked:
                    return _in_progress(), False
                try:
                    return await self._locked(scope, receive, messages, username, key, fp)
                finally:
                    if held is not None:
                        await run_in_threadpool(held.release)
        finally:
            lock, users = self._locks[(username, key)]
            if users == 1:
                del self._locks[(username, key)]
            else:
                self._locks[(username, key)] = (lock, users - 1)

    async def _lock_replicas(self, username: str, key: str) -> tuple[bool, store.HeldLock | None]:
        """PostgreSQL: the key's advisory lock, unless not got within :data:`WAIT_SECONDS`
        (``False``). SQLite: nothing to take (one process; the claim does the rest)."""
        engine = self.services.engine
        if engine.dialect.name != "postgresql":
            return True, None
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            held = await run_in_threadpool(store.try_lock, engine, username, key)
            if held is not None:
                return True, held
            if time.monotonic() >= deadline:
                return False, None
            await asyncio.sleep(POLL_SECONDS)

    async def _locked(
        self,
        scope: Scope,
        receive: Receive,
        messages: list[Message],
        username: str,
        key: str,
        fp: str,
    ) -> tuple[Answer, bool]:
        sv = self.services
        now = sv.clock()
        found = await run_in_threadpool(store.find, sv.reader, sv.engine, username, key, now)
        if found is not None:
            return _replay(found, fp)
        claim = Claim(username, key, fp, now)
        answer = await self._run(scope, receive, messages, claim)
        if claim.lost:
            return await self._replay_other(username, key, fp)
        if answer.status >= 500:  # not final: a retry runs again (unless this one wrote)
            return answer, False
        try:
            await run_in_threadpool(store.store, sv.engine, claim, answer, now)
        except IntegrityError:  # another process answered first (SQLite)
            return await self._replay_other(username, key, fp)
        except Exception:  # the answer is sent all the same; a retry then gets a 409
            log.warning("%s %r: its answer could not be stored", HEADER, key, exc_info=True)
        return answer, False

    async def _run(
        self, scope: Scope, receive: Receive, messages: list[Message], claim: Claim
    ) -> Answer:
        """Run the request with ``claim`` in force; its whole answer."""
        pending = list(messages)

        async def replaying() -> Message:
            return pending.pop(0) if pending else await receive()

        status, headers, chunks = 500, [], []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (n.decode("latin-1"), v.decode("latin-1")) for n, v in message["headers"]
                ]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        token = store.CLAIM.set(claim)
        try:
            await self.app(scope, replaying, capture)
        finally:
            store.CLAIM.reset(token)
        return Answer(status, headers, b"".join(chunks))

    async def _replay_other(self, username: str, key: str, fp: str) -> tuple[Answer, bool]:
        """Another process's request with the key wrote first: its answer, once stored."""
        sv = self.services
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            now = sv.clock()
            found = await run_in_threadpool(store.find, sv.reader, sv.engine, username, key, now)
            if found is not None and (not found.lost or time.monotonic() >= deadline):
                return _replay(found, fp)
            if time.monotonic() >= deadline:
                return _in_progress(), False
            await asyncio.sleep(POLL_SECONDS)

    @staticmethod
    def _covered(scope: Scope) -> bool:
        """A POST of the API, but the one that mints a token (:data:`EXCLUDED_PATH`)."""
        path = str(scope["path"])
        return path.startswith(API) and EXCLUDED_PATH.fullmatch(path) is None

    async def _username(self, scope: Scope) -> str | None:
        """The user of the request's bearer token; ``None`` when the route must decide."""
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        client = scope.get("client")
        if self.services.auth_throttle.retry_after(client_key(client[0] if client else None)):
            return None
        user = await run_in_threadpool(self.services.authenticator.authenticate, token.strip())
        return user.username if user is not None else None


def _header_values(scope: Scope) -> list[str]:
    name = HEADER.lower().encode()
    return [v.decode("latin-1") for n, v in scope.get("headers", ()) if n.lower() == name]


def _replay(found: store.Stored, fp: str) -> tuple[Answer, bool]:
    if found.fingerprint != fp:
        message = (
            f"{HEADER}: this key was used for another request (another method, path, query "
            "or body); use a new key for a new request"
        )
        return _error(422, "invalid_input", message), False
    if found.answer is None:
        message = (
            f"{HEADER}: the request with this key was applied, but its answer was lost; "
            "read the resource to see the outcome (it is never applied twice)"
        )
        return _error(409, "conflict", message), False
    return found.answer, True


def _in_progress() -> Answer:
    message = f"{HEADER}: a request with this key is still in progress; retry later"
    return _error(409, "conflict", message)


def _error(status: int, code: str, message: str, field: str = HEADER) -> Answer:
    response = JSONResponse(error_body(code, message, field), status_code=status)
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in response.raw_headers]
    return Answer(status, headers, bytes(response.body))


async def _refuse(
    status: int,
    code: str,
    message: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    field: str = HEADER,
) -> None:
    response = JSONResponse(error_body(code, message, field), status_code=status)
    await response(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages up to the end of its body, and the body (``None``: too large)."""
    messages: list[Message] = []
    size, chunks = 0, []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return messages, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return messages, b"".join(chunks)


async def _send(result: tuple[Answer, bool], send: Send) -> None:
    answer, replayed = result
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in answer.headers]
    if replayed:
        headers.append(REPLAYED)
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


# --- installation and documentation -----------------------------------------------------------


def install(app: FastAPI, services: Services) -> None:
    """The middleware (call it right after adding ``DatabaseFaults``: it wraps it), the claim
    in the writers' transactions, and the header in the OpenAPI document."""
    store.claim_in_transactions(services.session_factory)
    app.add_middleware(Idempotency, services=services)
    generate = app.openapi

    def document() -> dict[str, Any]:
        return document_header(generate())

    app.openapi = document  # type: ignore[method-assign]


PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe (Stripe's semantics). Per user, the first request with a key runs "
        "and its answer (not a 5xx) is kept at least 24 h; the same key with the same method, "
        "path, query and body gets that answer again (`Idempotent-Replayed: true`) and writes "
        "nothing; with anything else, 422. Requests with one key run one at a time. 409: a "
        "request with the key is still running, or was applied but its answer was lost."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"},
}


def document_header(doc: dict[str, Any]) -> dict[str, Any]:
    """The header on every POST it applies to (in place; again is a no-op)."""
    for operations in doc.get("paths", {}).values():
        operation = operations.get("post")
        if operation is None or operation.get("operationId") in EXCLUDED:
            continue
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("name") == HEADER for p in parameters):
            parameters.append(PARAMETER)
    return doc
