"""One table from errors to HTTP statuses; every error body names the field and the reason.

Body: ``{"error": {"code": ..., "field": ..., "message": ...}}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from accounting.errors import AccountingError, PeriodClosed, StatementError
from allocator.errors import (
    AllocatorError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from connectors.http.schemas.values import PATTERN_WORDS

STATUS: list[tuple[type[Exception], int, str]] = [
    (NotFound, 404, "not_found"),
    (Forbidden, 403, "forbidden"),
    (InvalidInput, 422, "invalid_input"),
    (Conflict, 409, "conflict"),
    (AllocatorError, 400, "bad_request"),
]


def error_body(code: str, message: str, field: str | None) -> dict[str, Any]:
    return {"error": {"code": code, "field": field, "message": message}}


class RequestRefused(StarletteHTTPException):
    """A refusal at the HTTP level that still names the field (413 body too large, 415, 429)."""

    def __init__(
        self, status_code: int, field: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code, message, headers=headers)
        self.field = field


def _field_of(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _reason(error: dict[str, Any]) -> str:
    """Pydantic's message, in words where it would quote a regular expression."""
    if error.get("type") == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        if pattern in PATTERN_WORDS:
            return PATTERN_WORDS[pattern]
    return str(error.get("msg", "invalid"))


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(AllocatorError)
    async def _domain(_request: Request, exc: AllocatorError) -> JSONResponse:
        for kind, status, code in STATUS:
            if isinstance(exc, kind):
                return JSONResponse(error_body(code, exc.message, exc.field), status_code=status)
        raise AssertionError("unreachable")  # pragma: no cover

    @app.exception_handler(AccountingError)
    async def _accounting(_request: Request, exc: AccountingError) -> JSONResponse:
        if isinstance(exc, PeriodClosed):
            return JSONResponse(error_body("conflict", exc.message, exc.field), status_code=409)
        if isinstance(exc, StatementError):
            # The file's column (or the body as a whole) and, when known, its line.
            body = error_body("invalid_input", exc.message, exc.column or "body")
            if exc.line is not None:
                body["error"]["line"] = exc.line
            return JSONResponse(body, status_code=422)
        return JSONResponse(error_body("invalid_input", exc.message, exc.field), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = [dict(e) for e in exc.errors()]
        first: dict[str, Any] = errors[0] if errors else {"loc": ("body",), "msg": "invalid"}
        if first.get("type") == "json_invalid":
            detail = first.get("ctx", {}).get("error", "")
            return JSONResponse(
                error_body("malformed_json", f"body: malformed JSON: {detail}".strip(), "body"),
                status_code=400,
            )
        content_type = request.headers.get("content-type", "")
        if tuple(first.get("loc", ())) == ("body",) and content_type and not _is_json(content_type):
            # FastAPI reads a body of another media type as raw bytes; say what is wrong.
            message = f"content-type: the body must be application/json, not {content_type!r}"
            return JSONResponse(
                error_body("unsupported_media_type", message, "content-type"), status_code=415
            )
        field = _field_of(first.get("loc", ()))
        message = f"{field}: {_reason(first)}"
        body = error_body("invalid_input", message, field)
        body["error"]["all"] = [
            {"field": _field_of(e.get("loc", ())), "message": _reason(e)} for e in errors
        ]
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's error middleware calls this (outside every other middleware), logs the
        # exception and re-raises it after the answer: the client still gets the JSON body.
        from connectors.http.headers import secure

        response = JSONResponse(
            error_body("internal_error", "internal error; it has been logged", None),
            status_code=500,
        )
        secure(response.raw_headers, request.url.path, "authorization" in request.headers)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
            415: "unsupported_media_type",
            429: "too_many_requests",
        }
        field = exc.field if isinstance(exc, RequestRefused) else None
        return JSONResponse(
            error_body(code.get(exc.status_code, "error"), str(exc.detail), field),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
