"""Statements over HTTP: import a file (the body, or a form's ``file`` part), list them.

The upload is parsed here (size limit, media type, multipart, the file's name, a mapped CSV's
column mapping); the statement itself is parsed, checked and stored by the use case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from accounting import services as acc
from accounting.ports import StatementInfo
from accounting.statements import MAPPED_CSV, NATIONAL_CSV, SEPARATOR_PATTERN, SREPORT
from allocator.errors import InvalidInput
from allocator.model import Role
from allocator.rules import require_role
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UowDep
from connectors.http.errors import RequestRefused
from connectors.http.pages import Page, PageQ, paged
from connectors.http.params import OptionalPeriodQ, PeriodQ
from connectors.http.quarter_params import OptionalPoolQ, PoolQ
from connectors.http.schemas.values import FILE_NAME_PATTERN
from connectors.presenters import quarter as present
from connectors.uploads import MULTIPART, read_multipart
from connectors.values import column_mapping

router = APIRouter(prefix="/api/v1")

#: The largest statement file accepted (bytes of the request body).
MAX_STATEMENT_BYTES = 20 * 1024 * 1024
RAW_MEDIA = ("text/csv", "text/plain", "application/octet-stream", "text/tab-separated-values")


class StatementFormat(StrEnum):
    NATIONAL_CSV = NATIONAL_CSV
    SREPORT = SREPORT
    MAPPED_CSV = MAPPED_CSV


class StatementOut(BaseModel):
    id: int
    pool_id: str
    period: str
    format: str
    origin: str
    file_name: str
    sha256: str
    lines: int
    imported_by: str
    imported_at: datetime
    created: bool

    @classmethod
    def of(cls, i: StatementInfo) -> StatementOut:
        return cls.model_validate(present.statement(i))


# --- the upload -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    file_name: str | None = None


async def _read_limited(request: Request) -> bytes:
    too_large = RequestRefused(
        413, "body", f"body: the file is larger than {MAX_STATEMENT_BYTES} bytes"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_STATEMENT_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_STATEMENT_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _multipart_file(content_type: str, data: bytes) -> Upload:
    """The part named ``file`` of a multipart/form-data body."""
    form = read_multipart(content_type, data)
    if form.file is None:
        raise InvalidInput("file", "the multipart/form-data body has no part named 'file'")
    return Upload(form.file, form.file_name)


async def statement_upload(request: Request, actor: ActorDep) -> Upload:
    """The raw statement file: the body itself, or the ``file`` part of a form."""
    require_role(actor, Role.ADMIN)  # before reading a large body for nothing
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media not in (*RAW_MEDIA, MULTIPART):
        raise RequestRefused(
            415,
            "content-type",
            f"content-type: send the file as {', '.join(RAW_MEDIA[:3])} or {MULTIPART} "
            f"(part 'file'), not {content_type!r}",
        )
    data = await _read_limited(request)
    if media == MULTIPART:
        return _multipart_file(content_type, data)
    return Upload(data)


UploadDep = Annotated[Upload, Depends(statement_upload)]
_NATIONAL_EXAMPLE = (
    "project_account,hardware,period,hours_consumed,normalised_hours\n"
    "chair-nlp,a100,2026Q3,1250.5,2501\n"
)
_FILE = {
    "type": "string",
    "format": "binary",
    "minLength": 1,
    "maxLength": MAX_STATEMENT_BYTES,
    "description": "the statement file, UTF-8: a national-csv, an sreport -P output or a CSV"
    " read through the map_* columns (mapped-csv), by the format parameter; every row is"
    " checked, and a refusal names its line",
}
_BODY = {
    "required": True,
    "description": "The statement file: the body itself (text/csv, text/plain or"
    " application/octet-stream), or the part named `file` of a multipart/form-data form. At"
    f" most {MAX_STATEMENT_BYTES} bytes (413), another media type is a 415.",
    "content": {
        **{m: {"schema": _FILE, "example": _NATIONAL_EXAMPLE} for m in RAW_MEDIA[:2]},
        RAW_MEDIA[2]: {"schema": _FILE},
        MULTIPART: {
            "schema": {
                "type": "object",
                "properties": {"file": _FILE},
                "required": ["file"],
            },
            "encoding": {"file": {"contentType": ", ".join(RAW_MEDIA[:3])}},
        },
    },
}


def _file_name(query: str | None, upload: Upload) -> str:
    name = query if query is not None else upload.file_name
    if name is not None:
        name = PureWindowsPath(PurePosixPath(name).name).name  # never a client's directory
    if name is not None and any(c < " " or c == "\x7f" for c in name):
        raise InvalidInput("file_name", "must not contain control characters")
    return name or "upload"


_MAPPED_ONLY = (
    "mapped-csv only (another format refuses it): the file's column holding this field; a"
    " mapped-csv names account, and one of gpu_seconds, hours or units_hours"
)


def _map_q() -> Any:
    """One per parameter: FastAPI must not share a ``Query`` between parameters."""
    return Query(default=None, min_length=1, max_length=128, description=_MAPPED_ONLY)


@router.post(
    "/statements",
    status_code=201,
    openapi_extra={"requestBody": _BODY},
    responses={
        200: {"description": "the same file was imported before (created: false)"},
        413: {"description": "the file is too large"},
        415: {"description": "unsupported content type"},
    },
)
def import_statement(
    response: Response,
    upload: UploadDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str = PoolQ,
    period: str = PeriodQ,
    fmt: StatementFormat = Query(alias="format"),
    file_name: str | None = Query(
        default=None,
        max_length=255,
        pattern=FILE_NAME_PATTERN,
        description="the name the statement is kept under (no control characters; its"
        " directories dropped); default: the uploaded file's",
    ),
    map_account: str | None = _map_q(),
    map_gpu_seconds: str | None = _map_q(),
    map_hours: str | None = _map_q(),
    map_units_hours: str | None = _map_q(),
    map_gpu_type: str | None = _map_q(),
    map_period: str | None = _map_q(),
    delimiter: str | None = Query(
        default=None,
        min_length=1,
        max_length=1,
        pattern=SEPARATOR_PATTERN,
        description="mapped-csv only: the separator, a tab, a space or an ASCII punctuation"
        " mark but the quote (default: found in the header)",
    ),
) -> StatementOut:
    """Import a statement file (the request body), all or nothing; the same file again is a
    no-op answered with 200 and ``created: false``."""
    columns = {
        "account": map_account,
        "gpu_seconds": map_gpu_seconds,
        "hours": map_hours,
        "units_hours": map_units_hours,
        "gpu_type": map_gpu_type,
        "period": map_period,
    }
    mapping = column_mapping(fmt, columns, delimiter)
    info = acc.import_statement(
        uow,
        actor,
        now,
        pool_id,
        period,
        fmt.value,
        upload.data,
        _file_name(file_name, upload),
        mapping,
        calendar=calendar,
    )
    if not info.created:
        response.status_code = 200
    return StatementOut.of(info)


@router.get("/statements")
def list_statements(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pages: PageQ,
    pool_id: str | None = OptionalPoolQ,
    period: str | None = OptionalPeriodQ,
) -> Page[StatementOut]:
    """Imported statements (of one pool, of one period), newest first."""
    infos = acc.list_statements(uow, actor, pool_id, period, now=now, calendar=calendar)
    return paged("statements", infos, lambda i: (i.id,), pages, StatementOut.of, newest_first=True)
