"""The OpenAPI document's errors: one schema, every status an operation can answer.

Every error the API answers has one body, ``{"error": {"code", "field", "message"}}``
(``connectors/http/errors.py``, ``connectors/http/faults.py``); FastAPI documents 422 as its
own ``HTTPValidationError {"detail": [...]}``, which the API never sends, and documents no
other error. :func:`document_errors` replaces that with the truth, by rules that follow the
code (which status can come from where):

status  raised by                                                          documented on
------  -----------------------------------------------------------------  ------------------
400     malformed JSON in a body (``errors.py``)                           JSON bodies
401     no token, or an unknown, expired or revoked one (``deps``)         authenticated ops
403     the role may not (``rules.require_role``; a scrape token: always)  authenticated ops
404     an id the caller named is unknown, or not visible to the caller    authenticated ops
                                                                           with any input
409     over-commit, a transition refused, a duplicate, a closed period    writes
413     a statement file too large (``statement_routes``)                  uploads (documented
                                                                           by the route)
415     a body of another media type than the operation reads              bodies
422     invalid input (``all`` lists every invalid field); NUL anywhere    every operation
429     too many failed authentications from the address (``throttle``)    authenticated ops
503     the database is unavailable, ``Retry-After`` (``faults``)          all but getHealth

Each status gets the ``Error`` schema and an example answer. A status an operation already
documents (``importStatement``'s 413 and 415) gets them too and keeps its description;
``getReadiness``'s 503 keeps its own body.
"""

from __future__ import annotations

from typing import Any

ERROR = "Error"
_REF = {"$ref": f"#/components/schemas/{ERROR}"}

#: The error schemas, added to ``components.schemas``.
SCHEMAS: dict[str, dict[str, Any]] = {
    "FieldError": {
        "title": "FieldError",
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "description": "the offending input"},
            "message": {"type": "string"},
        },
    },
    "ErrorDetail": {
        "title": "ErrorDetail",
        "type": "object",
        "required": ["code", "field", "message"],
        "properties": {
            "code": {
                "type": "string",
                "description": "machine-readable: `invalid_input`, `not_found`, `conflict`,"
                " `forbidden`, `unauthenticated`, `too_many_requests`, `unavailable`, ...",
                "examples": ["invalid_input"],
            },
            "field": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "description": "the input at fault (a body field, a query or path parameter,"
                " `body`, `authorization`, `content-type`), or null when none is",
            },
            "message": {"type": "string", "description": "for people; starts with the field"},
            "all": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/FieldError"},
                "description": "422 on a request that fails validation: every invalid field",
            },
            "line": {
                "type": "integer",
                "description": "422 on a statement import: the file's line at fault",
            },
        },
    },
    ERROR: {
        "title": "Error",
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
        "description": "The body of every error answer.",
    },
}


def _example(code: str, field: str | None, message: str, **more: Any) -> dict[str, Any]:
    return {"error": {"code": code, "field": field, "message": message, **more}}


_RETRY = {"description": "seconds to wait", "schema": {"type": "integer"}}

#: status -> (description, example body, headers)
ANSWERS: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] = {
    400: (
        "Malformed JSON in the body.",
        _example("malformed_json", "body", "body: malformed JSON: EOF while parsing a value"),
        {},
    ),
    401: (
        "No bearer token, or an unknown, expired or revoked one.",
        _example("unauthenticated", None, "a valid bearer token is required"),
        {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    ),
    403: (
        "The caller's role may not do this (a scrape token reads `/metrics` only).",
        _example("forbidden", None, "alice is researcher; this needs admin or engineer"),
        {},
    ),
    404: (
        "Something the request names is unknown, or not visible to the caller.",
        _example("not_found", "pool_id", "unknown pool 'nosuch'"),
        {},
    ),
    409: (
        "The state refuses the change: over-commit, a request's state, a duplicate,"
        " a closed period. Nothing was changed.",
        _example(
            "conflict",
            "hours",
            "hours: over-commit refused: chair 'chair-a' 2026Q4 has 360000 GPU-seconds"
            " available, 900000 asked",
        ),
        {},
    ),
    413: (
        "The body is too large.",
        _example("payload_too_large", "body", "body: the file is larger than 10485760 bytes"),
        {},
    ),
    415: (
        "The body's media type is not one the operation reads.",
        _example(
            "unsupported_media_type",
            "content-type",
            "content-type: the body must be application/json, not 'text/plain'",
        ),
        {},
    ),
    422: (
        "Invalid input: `field` names the first invalid one, `all` every one.",
        _example(
            "invalid_input",
            "period",
            "period: not a period label",
            all=[{"field": "period", "message": "not a period label"}],
        ),
        {},
    ),
    429: (
        "Too many failed authentications from this address; retry after `Retry-After`.",
        _example(
            "too_many_requests",
            "authorization",
            "authorization: too many failed authentications from this address; retry in 42 s",
        ),
        {"Retry-After": _RETRY},
    ),
    503: (
        "The database is unavailable; nothing was changed; retry after `Retry-After`.",
        _example("unavailable", None, "the database refuses connections; try again in 5 s"),
        {"Retry-After": _RETRY},
    ),
}

#: Operations that never touch the database.
NO_DATABASE = frozenset({"getHealth"})
#: Answers with a body of their own, documented by their route.
OWN_BODY = frozenset({("getReadiness", 503)})


def statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses ``operation`` can answer (see the module docstring's table)."""
    found = {422}
    if operation.get("operationId") not in NO_DATABASE:
        found.add(503)
    body = operation.get("requestBody", {}).get("content", {})
    if body:
        found.add(415)
    if "application/json" in body:
        found.add(400)
    if operation.get("security"):
        found |= {401, 403, 429}
        if body or operation.get("parameters"):
            found.add(404)
    if method.lower() != "get":
        found.add(409)
    return found


def _response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    description, example, headers = ANSWERS[status]
    if existing and existing.get("description") and status != 422:
        description = existing["description"]
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _REF, "example": example}},
    }
    if headers:
        response["headers"] = headers
    if existing and "links" in existing:
        response["links"] = existing["links"]
    return response


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Document every operation's error answers in ``spec`` (in place); see the docstring."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for methods in spec.get("paths", {}).values():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            documented = {int(status) for status in responses} & ANSWERS.keys()
            for status in sorted(statuses(method, operation) | documented):
                if (operation.get("operationId"), status) not in OWN_BODY:
                    responses[str(status)] = _response(status, responses.get(str(status)))
            operation["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(SCHEMAS)
    return spec
