"""The gateway over the API of a gpuhours server: httpx, the bearer token, the JSON of
``/api/v1`` (the CLI imports nothing of the HTTP face: it speaks the wire format).

A refusal (``{"error": {"code", "field", "message"}}``) becomes one line on stderr and exit
code 2; a server that cannot be reached, or answers 5xx or something that is not gpuhours'
JSON, exit code 1. Every POST carries an ``Idempotency-Key``, so the one retry after a
connection failure can never apply a change twice. Lists are read whole: a cursor-paginated
envelope (``items`` and ``next_cursor``) is followed to its end.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import httpx

from connectors.cli._common import CliError
from connectors.cli.config import Remote
from connectors.cli.gateway import JSON, Lines, LoanMove, StatementUpload

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_PAGES = 10_000
#: Items asked per page: the API's largest (``connectors/http/pages.MAX_LIMIT``).
PAGE = 1000


class Unreachable(CliError):
    exit_code = 1


class Refused(CliError):
    """The server refused the request (4xx): its message, and the status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def refusal(response: httpx.Response, server: str) -> CliError:
    """The one line an error answer becomes."""
    try:
        error = response.json()["error"]
        message = str(error["message"])
        field = error.get("field")
    except (ValueError, KeyError, TypeError):
        where = f"{response.request.method} {response.request.url.path}"
        return Unreachable(f"server: {server} answered {response.status_code} to {where}")
    if field and not message.startswith(f"{field}:") and response.status_code != 404:
        message = f"{field}: {message}"
    if response.status_code == 401:
        message += f" (log in again: gpuhours login --server {server})"
    if response.status_code >= 500:
        return Unreachable(f"server: {message}")
    return Refused(message, response.status_code)


class RemoteGateway:
    def __init__(self, remote: Remote, transport: httpx.BaseTransport | None = None) -> None:
        self.server = remote.server
        self.client = httpx.Client(
            base_url=f"{remote.server}/api/v1",
            headers={"Authorization": f"Bearer {remote.token}", "User-Agent": "gpuhours-cli"},
            timeout=TIMEOUT,
            transport=transport,
        )

    def send(
        self, method: str, path: str, body: Any = None, content: bytes | None = None, **params: Any
    ) -> httpx.Response:
        """The answer of a request (a JSON ``body``, or raw ``content``), retried once after a
        connection failure (POSTs are idempotent by their key); a refusal raised as one line."""
        query = {k: v for k, v in params.items() if v is not None}
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}
        if content is not None:
            headers["Content-Type"] = "application/octet-stream"
        for attempt in (1, 2):
            try:
                response = self.client.request(
                    method, path, params=query, json=body, content=content, headers=headers
                )
                break
            except httpx.TransportError as exc:
                if attempt == 2 or (method != "POST" and method != "GET"):
                    raise Unreachable(f"server: cannot reach {self.server}: {exc}") from exc
        if response.is_error:
            raise refusal(response, self.server)
        return response

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> JSON:
        response = self.send(method, path, body, **params)
        try:
            return response.json()
        except ValueError as exc:
            raise Unreachable(f"server: {self.server} did not answer JSON to {path}") from exc

    def items(self, path: str, cap: int | None = None, **params: Any) -> JSON:
        """A list, all of it (or its first ``cap`` items): the pages of the API's list
        envelope, ``{"items": [...], "next": cursor | null}``, following ``next``."""
        size = PAGE if cap is None else max(1, min(cap, PAGE))
        body = self.call("GET", path, **params, limit=size)
        found: list[Any] = []
        for _ in range(MAX_PAGES):
            found.extend(body.get("items", []))
            cursor = body.get("next")
            if not cursor or (cap is not None and len(found) >= cap):
                break
            body = self.call("GET", path, **params, limit=size, cursor=cursor)
        return found if cap is None else found[:cap]

    def me(self) -> JSON:
        return dict(self.call("GET", "/me")) | {"server": self.server}

    def users(self) -> JSON:
        return self.items("/users")

    def set_active(self, username: str, active: bool) -> JSON:
        verb = "reactivate" if active else "deactivate"
        return self.call("POST", f"/users/{_seg(username)}/{verb}")

    def pools(self) -> JSON:
        return self.items("/pools")

    def pool_balance(self, pool_id: str, period: str | None) -> JSON:
        return self.call("GET", f"/pools/{_seg(pool_id)}/balances", period=period)

    def chairs(self) -> JSON:
        return self.items("/chairs")

    def projects(self, chair_id: str | None) -> JSON:
        return self.items("/projects", chair_id=chair_id)

    def map_account(self, project_id: str, cluster: str, account: str) -> JSON:
        body = {"cluster": cluster, "account": account}
        return self.call("POST", f"/projects/{_seg(project_id)}/slurm-accounts", body)

    def unmap_account(self, project_id: str, cluster: str, account: str) -> JSON:
        path = f"/projects/{_seg(project_id)}/slurm-accounts/{_seg(cluster)}/{_seg(account)}"
        return self.call("DELETE", path)

    def balances(self, period: str | None, pool_id: str | None) -> JSON:
        return self.items("/balances", period=period, pool_id=pool_id)

    def journal(self, pool_id: str | None, period: str | None, account: str | None) -> JSON:
        return self.items("/journal", pool_id=pool_id, period=period, account=account)

    def requests(self, state: str | None) -> JSON:
        return self.items("/requests", state=state)

    def request(self, request_id: int) -> JSON:
        return self.call("GET", f"/requests/{request_id}")

    def submit(
        self, project_id: str, pool_id: str, lines: Lines, justification: str, gpu_type: str | None
    ) -> JSON:
        body = {
            "project_id": project_id,
            "pool_id": pool_id,
            "periods": [{"period": p, "hours": h} for p, h in lines],
            "justification": justification,
            "gpu_type": gpu_type,
        }
        return self.call("POST", "/requests", body)

    def withdraw(self, request_id: int, reason: str) -> JSON:
        return self.call("POST", f"/requests/{request_id}/withdraw", {"reason": reason})

    def comment(self, request_id: int, text: str) -> JSON:
        return self.call("POST", f"/requests/{request_id}/comments", {"text": text})

    def approve(self, request_id: int, granted: Lines | None, reason: str) -> JSON:
        body: dict[str, Any] = {"reason": reason}
        if granted is not None:
            body["granted"] = [{"period": p, "hours": h} for p, h in granted]
        return self.call("POST", f"/requests/{request_id}/approve", body)

    def reject(self, request_id: int, reason: str) -> JSON:
        return self.call("POST", f"/requests/{request_id}/reject", {"reason": reason})

    def tokens(self, username: str | None, active: bool) -> JSON:
        path = "/tokens" if username is None else f"/users/{_seg(username)}/tokens"
        found = self.items(path)
        return [t for t in found if t.get("state") == "active"] if active else found

    def revoke_token(self, token_id: int, reason: str) -> JSON:
        return self.call("POST", f"/tokens/{token_id}/revoke", {"reason": reason})

    def burn(self, period: str | None, pool_id: str | None) -> JSON:
        return self.items("/burn", period=period, pool_id=pool_id)

    def jobs(
        self, period: str | None, project_id: str | None, pool_id: str | None, limit: int
    ) -> JSON:
        query = {"project_id": project_id, "pool_id": pool_id}
        return self.items("/jobs", cap=limit, period=period, **query)

    # pools and allocations ---------------------------------------------------------------

    def create_pool(self, definition: str) -> JSON:
        try:
            body = json.loads(definition)
        except ValueError as exc:
            raise CliError(f"definition: not JSON ({exc})") from None
        return self.call("POST", "/pools", body)

    def grant(self, pool_id: str, hours: str, reason: str) -> JSON:
        body = {"hours": hours, "reason": reason}
        return self.call("POST", f"/pools/{_seg(pool_id)}/grants", body)

    def allocate_chair(
        self, pool_id: str, chair_id: str, period: str, hours: str, reason: str
    ) -> JSON:
        body = {"pool_id": pool_id, "chair_id": chair_id, "period": period}
        return self.call("POST", "/allocations/chairs", body | {"hours": hours, "reason": reason})

    def allocate_project(
        self, pool_id: str, project_id: str, period: str, hours: str, reason: str, draw: bool
    ) -> JSON:
        body: dict[str, Any] = {"pool_id": pool_id, "project_id": project_id, "period": period}
        body |= {"hours": hours, "reason": reason, "draw_from_pool": draw}
        return self.call("POST", "/allocations/projects", body)

    # the quarter -----------------------------------------------------------------------

    def import_statement(self, upload: StatementUpload) -> JSON:
        maps = {f"map_{field}": column for field, column in upload.columns.items()}
        response = self.send(
            "POST",
            "/statements",
            content=upload.content,
            pool_id=upload.pool_id,
            period=upload.period,
            format=upload.fmt,
            file_name=upload.file_name,
            delimiter=upload.delimiter,
            **maps,
        )
        return response.json()

    def statements(self, pool_id: str | None, period: str | None) -> JSON:
        return self.items("/statements", pool_id=pool_id, period=period)

    def reconcile(self, pool_id: str, period: str, seconds: int, percent: str) -> JSON:
        query = {"tolerance_seconds": seconds, "tolerance_percent": percent}
        return self.call("GET", "/reconciliation", pool_id=pool_id, period=period, **query)

    def jobs_behind(self, pool_id: str, period: str, project_id: str) -> JSON:
        path = "/reconciliation/jobs"
        return self.items(path, pool_id=pool_id, period=period, project_id=project_id)

    def decide(
        self, action: str, pool_id: str, period: str, project_id: str, hours: str, reason: str
    ) -> JSON:
        body = {"pool_id": pool_id, "period": period, "project_id": project_id}
        body |= {"action": action, "reason": reason}
        if action == "adjust":
            body["hours"] = hours
        return self.call("POST", "/reconciliation/decisions", body)

    def report(self, period: str, fmt: str) -> str:
        return self.send("GET", f"/reports/{_seg(period)}", format=fmt).text

    def close(self, period: str, reason: str, force: bool) -> str:
        body = {"reason": reason, "force": force}
        return self.send("POST", f"/periods/{_seg(period)}/close", body).text

    # allocation rounds -----------------------------------------------------------------

    def rounds(self) -> JSON:
        return self.items("/rounds")

    def round(self, round_id: int) -> JSON:
        return self.call("GET", f"/rounds/{round_id}")

    def open_round(self, period: str, pool_ids: list[str], deadline: str) -> JSON:
        body = {"period": period, "pool_ids": pool_ids, "deadline": deadline}
        return self.call("POST", "/rounds", body)

    def round_weights(self, round_id: int, weights: list[tuple[str, int]]) -> JSON:
        body = {"weights": [{"chair_id": c, "weight": w} for c, w in weights]}
        return self.call("PUT", f"/rounds/{round_id}/weights", body)

    def round_minimum(self, round_id: int, request_id: int, hours: str, reason: str) -> JSON:
        body = {"request_id": request_id, "hours": hours, "reason": reason}
        return self.call("PUT", f"/rounds/{round_id}/minimums", body)

    def round_edit(self, round_id: int, request_id: int, hours: str, reason: str) -> JSON:
        body = {"hours": hours, "reason": reason}
        return self.call("PUT", f"/rounds/{round_id}/lines/{request_id}", body)

    def approve_round(self, round_id: int, reason: str) -> JSON:
        return self.call("POST", f"/rounds/{round_id}/approve", {"reason": reason})

    # lending inside a chair --------------------------------------------------------------

    def lending(self, chair_id: str, pool_id: str, period: str) -> JSON:
        return self.call("GET", f"/chairs/{_seg(chair_id)}/lending", pool_id=pool_id, period=period)

    def set_lending(self, chair_id: str, policy: str, limits: list[tuple[str, str, str]]) -> JSON:
        body = {
            "policy": policy,
            "limits": [
                {
                    "project_id": p,
                    "lending_limit_hours": lend or None,
                    "borrowing_limit_hours": borrow or None,
                }
                for p, lend, borrow in limits
            ],
        }
        return self.call("PUT", f"/chairs/{_seg(chair_id)}/lending", body)

    def loan(self, move: LoanMove) -> JSON:
        body = {"pool_id": move.pool_id, "period": move.period, "hours": move.hours}
        body["reason"] = move.reason
        if move.action == "lend":
            return self.call(
                "POST", "/loans", body | {"lender": move.project, "borrower": move.other}
            )
        who = "borrower" if move.action == "borrow" else "lender"
        return self.call("POST", f"/loans/{move.action}", body | {who: move.project})

    def return_loans(self, pool_id: str, period: str) -> JSON:
        return self.call("POST", "/loans/return", {"pool_id": pool_id, "period": period})

    # regulation --------------------------------------------------------------------------

    def regulations(self) -> JSON:
        return self.items("/regulations")

    def set_regulation(self, pool_id: str, rule: str, options: dict[str, Any]) -> JSON:
        return self.call("PUT", f"/pools/{_seg(pool_id)}/regulation", {"rule": rule, **options})

    def simulate_regulation(self, pool_id: str) -> JSON:
        return self.items(f"/pools/{_seg(pool_id)}/regulation/simulation")

    def apply_regulation(self, pool_id: str) -> JSON:
        return self.call("POST", f"/pools/{_seg(pool_id)}/regulation/apply")

    def set_project_end(self, project_id: str, end: str | None) -> JSON:
        return self.call("PUT", f"/projects/{_seg(project_id)}/end", {"end": end})

    def return_after_end(self, project_id: str | None) -> JSON:
        return self.call("POST", "/ended-projects/return", {"project_id": project_id})

    # ingestion -------------------------------------------------------------------------

    def clusters(self) -> JSON:
        return self.items("/clusters")

    def account_usage(self, cluster: str | None, unmapped: bool, period: str | None) -> JSON:
        flag = "true" if unmapped else None
        return self.items("/usage/accounts", cluster=cluster, period=period, unmapped=flag)

    def quarantine(self, cluster: str | None) -> JSON:
        return self.items("/usage/quarantine", cluster=cluster)


def _seg(value: str) -> str:
    """A path segment, escaped (an id typed with a ``/`` or ``?`` stays one segment)."""
    return quote(value, safe="")
