"""The OpenAPI document's own words: readable operation ids and the links between operations.

Operation ids are what a generated client names its methods: ``listPools``, ``createPool``,
``approveRequest``, never FastAPI's ``list_pools_api_v1_pools_get``. Links say which answer
feeds which next call (create -> read -> act), so a client, a reader and a stateful fuzzer can
follow a pool from its creation to its grants and balances, a request from its submission to
its decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.routing import APIRoute

from allocator.periods import Calendar
from connectors.http.openapi_errors import document_errors
from connectors.http.schemas import PERIOD_DOC, PERIOD_PATTERN

#: Route function names whose camelCase alone would not say what the operation does.
_NAMED = {
    "me": "getMe",
    "balances": "listBalances",
    "journal": "listJournal",
    "journal_entry": "getJournalEntry",
    "audit": "listAudit",
    "comment": "commentRequest",
    "approve": "approveRequest",
    "reject": "rejectRequest",
    "withdraw": "withdrawRequest",
    "transfer": "transferHours",
    "adjust": "adjustHours",
    "allocate_chair": "allocateToChair",
    "allocate_project": "allocateToProject",
    "map_account": "mapSlurmAccount",
    "unmap_account": "unmapSlurmAccount",
    "pool_balance": "getPoolBalances",
    "chair_balance": "getChairBalances",
    "project_balances": "getProjectBalances",
    "clusters": "listClusters",
    "account_usage": "listAccountUsage",
    "quarantine": "listQuarantine",
    "reconciliation": "getReconciliation",
    "reconciliation_jobs": "listReconciliationJobs",
    "decide": "decideReconciliation",
    "report": "getReport",
    "period_state": "getPeriod",
    "burn": "listBurn",
    "healthz": "getHealth",
    "readyz": "getReadiness",
    "scrape": "getMetrics",
}


def operation_id(route: APIRoute) -> str:
    """``list_pools`` -> ``listPools``; a few names are spelled out (:data:`_NAMED`)."""
    if route.name in _NAMED:
        return _NAMED[route.name]
    head, *rest = route.name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _link(operation: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation, "parameters": parameters}


_POOL = "$response.body#/id"
_PROJECT = "$response.body#/id"
_REQUEST = "$response.body#/id"
_ENTRY = "$response.body#/id"

#: ``(operation, status) -> {link name: link}``: what each answer leads to.
LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("createUser", "201"): {
        "GetUser": _link("getUser", username="$response.body#/username"),
        "CreateToken": _link("createToken", username="$response.body#/username"),
    },
    **{
        (create, "201"): {"GetJournalEntry": _link("getJournalEntry", entry_id=_ENTRY)}
        for create in ("allocateToChair", "allocateToProject", "transferHours", "adjustHours")
    },
    ("openRound", "201"): {
        "GetRound": _link("getRound", round_id="$response.body#/id"),
        "SetRoundWeights": _link("setRoundWeights", round_id="$response.body#/id"),
        "SetRoundMinimum": _link("setRoundMinimum", round_id="$response.body#/id"),
        "ApproveRound": _link("approveRound", round_id="$response.body#/id"),
    },
    ("createPool", "201"): {
        "GetPool": _link("getPool", pool_id=_POOL),
        "AddGrant": _link("addGrant", pool_id=_POOL),
        "AddRate": _link("addRate", pool_id=_POOL),
        "SetOvercommit": _link("setOvercommit", pool_id=_POOL),
        "GetPoolBalances": _link("getPoolBalances", pool_id=_POOL),
        "ListBurn": _link("listBurn", pool_id=_POOL),
    },
    ("getPool", "200"): {
        "AddGrant": _link("addGrant", pool_id=_POOL),
        "GetPoolBalances": _link("getPoolBalances", pool_id=_POOL),
    },
    ("createChair", "201"): {
        "GetChair": _link("getChair", chair_id="$response.body#/id"),
        "GetChairBalances": _link("getChairBalances", chair_id="$response.body#/id"),
        "ListProjects": _link("listProjects", chair_id="$response.body#/id"),
    },
    ("createProject", "201"): {
        "GetProject": _link("getProject", project_id=_PROJECT),
        "AddMember": _link("addMember", project_id=_PROJECT),
        "MapSlurmAccount": _link("mapSlurmAccount", project_id=_PROJECT),
        "GetProjectBalances": _link("getProjectBalances", project_id=_PROJECT),
    },
    ("getProject", "200"): {
        "GetProjectBalances": _link("getProjectBalances", project_id=_PROJECT),
        "MapSlurmAccount": _link("mapSlurmAccount", project_id=_PROJECT),
    },
    ("mapSlurmAccount", "200"): {
        "UnmapSlurmAccount": _link(
            "unmapSlurmAccount",
            project_id="$request.path.project_id",
            cluster="$request.body#/cluster",
            account="$request.body#/account",
        ),
    },
    ("submitRequest", "201"): {
        "GetRequest": _link("getRequest", request_id=_REQUEST),
        "CommentRequest": _link("commentRequest", request_id=_REQUEST),
        "ApproveRequest": _link("approveRequest", request_id=_REQUEST),
        "RejectRequest": _link("rejectRequest", request_id=_REQUEST),
        "WithdrawRequest": _link("withdrawRequest", request_id=_REQUEST),
    },
    ("approveRequest", "200"): {
        "ListJournal": _link("listJournal", request_id="$request.path.request_id"),
    },
    ("importStatement", "201"): {
        "GetReconciliation": _link(
            "getReconciliation",
            pool_id="$request.query.pool_id",
            period="$request.query.period",
        ),
        "ListStatements": _link("listStatements", pool_id="$request.query.pool_id"),
    },
    ("closePeriod", "200"): {
        "GetPeriod": _link("getPeriod", period="$request.path.period"),
        "GetReport": _link("getReport", period="$request.path.period"),
    },
}


def add_links(spec: dict[str, Any]) -> dict[str, Any]:
    """Attach :data:`LINKS` to the responses of ``spec`` (in place); unknown ids are an error."""
    operations = {
        op["operationId"]: op
        for methods in spec.get("paths", {}).values()
        for op in methods.values()
        if isinstance(op, dict) and "operationId" in op
    }
    for (source, status), links in LINKS.items():
        targets = [link["operationId"] for link in links.values()]
        missing = [name for name in (source, *targets) if name not in operations]
        if missing:
            raise LookupError(f"OpenAPI links name unknown operations: {missing}")
        response = operations[source]["responses"].setdefault(status, {"description": ""})
        response.setdefault("links", {}).update(links)
    return spec


#: Appended to the document's description: the rules every operation follows.
RULES = """
## Errors
Every error answer has one body, `{"error": {"code", "field", "message"}}` (the `Error`
schema): `field` names the input at fault, `message` says why, starting with that field. Each
operation documents the statuses it can answer: 400 (malformed JSON), 401 (no valid token), 403
(the role may not), 404 (unknown, or not visible to the caller), 409 (a conflict: nothing was
changed), 413 (a file too large), 415 (another media type), 422 (invalid input; `all` lists
every invalid field), 429 (too many failed authentications: `Retry-After`), 503 (the database
is unavailable: `Retry-After`).

## Lists
Every list answers one envelope, `{"items": [...], "next": "<cursor>" | null}`, in the list's
order: newest first for the journal, the audit trail, requests, statements, tokens and
quarantined records; by key otherwise (pools, chairs, projects, users by id; balances and burn
by pool then project). `limit` (default 100, at most 1000) is the page size; pass `next` back
as `cursor` for the following page (`null`: the last page). A cursor is opaque and belongs to
its list: anything else is a 422 naming `cursor`.

## Query parameters
Unknown query parameters are ignored, not refused: a misspelt optional parameter is as if it
were absent (its default applies). A known parameter with an invalid value is a 422 naming it,
and a NUL character in any name or value, known or not, is a 422.
"""


def period_description(calendar: Calendar, now: datetime) -> str:
    """What a period of this site is, in words (the ``pattern`` says it exactly)."""
    first, last = calendar.bounds(now)
    return (
        f"a period of this site: {calendar.scheme.value}s, labelled like {calendar.example},"
        f" from {first} to {last} ({calendar.years_back} years back, {calendar.years_ahead}"
        " ahead); the document is built at start-up, and again on new year's day"
    )


def site_periods(node: Any, pattern: str, description: str) -> None:
    """Every period of ``node`` (a schema of any label's shape, ``PERIOD_PATTERN``) given the
    site's ``pattern`` and ``description`` (in place): its scheme, its years. (And a number's
    default written as a string, as FastAPI writes a ``Decimal`` query parameter's, a number.)"""
    if isinstance(node, dict):
        if node.get("pattern") == PERIOD_PATTERN:
            node["pattern"] = pattern
            said = node.get("description", PERIOD_DOC)
            node["description"] = said.replace(PERIOD_DOC, description)
        if node.get("type") == "number" and isinstance(node.get("default"), str):
            node["default"] = float(node["default"])  # a Decimal query parameter's default
        for value in node.values():
            site_periods(value, pattern, description)
    elif isinstance(node, list):
        for value in node:
            site_periods(value, pattern, description)


def optional_bodies(spec: dict[str, Any]) -> dict[str, Any]:
    """An optional body (an action that needs no input) is documented as its schema with
    ``required: false``, not as ``anyOf: [schema, null]``: send nothing, or the object (a
    JSON ``null`` reads as nothing sent)."""
    for methods in spec.get("paths", {}).values():
        for op in methods.values():
            body = op.get("requestBody") if isinstance(op, dict) else None
            if not body or body.get("required"):
                continue
            for content in body.get("content", {}).values():
                options = content.get("schema", {}).get("anyOf", [])
                kept = [o for o in options if o.get("type") != "null"]
                if len(options) == 2 and len(kept) == 1:
                    content["schema"] = kept[0]
            body["required"] = False
    return spec


#: Creates whose created object has its own address: their 201 says it in ``Location``.
LOCATED = {
    "createPool": "the pool",
    "createProject": "the project",
    "submitRequest": "the request",
    "createChair": "the chair",
    "createUser": "the user",
    "allocateToChair": "the journal entry",
    "allocateToProject": "the allocation's journal entry",
    "transferHours": "the journal entry",
    "adjustHours": "the journal entry",
}


def document_locations(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``Location`` header of the 201 of each create in :data:`LOCATED` (in place)."""
    for methods in spec.get("paths", {}).values():
        for op in methods.values():
            what = LOCATED.get(op.get("operationId", "")) if isinstance(op, dict) else None
            if what is not None:
                headers = op["responses"]["201"].setdefault("headers", {})
                headers["Location"] = {
                    "description": f"the address of {what} created (GET it there)",
                    "schema": {"type": "string"},
                }
    return spec


def complete(spec: dict[str, Any], periods: tuple[str, str] | None = None) -> dict[str, Any]:
    """The generated ``spec`` made true and followable (in place): the links between
    operations, every operation's error answers, optional bodies, the rules in the
    description, and, given ``periods`` (the site's pattern and its description), the labels
    the site accepts."""
    add_links(spec)
    optional_bodies(spec)
    document_locations(spec)
    document_errors(spec)
    if periods is not None:
        site_periods(spec, *periods)
    info = spec.setdefault("info", {})
    info["description"] = info.get("description", "").rstrip() + "\n" + RULES
    return spec
