"""The quarter's accounting over HTTP: statements, reconciliation, decisions, reports, close, burn.

Each endpoint parses, calls one use case of ``connectors.quarter``, shapes the reply. Amounts
are integer unit-seconds of the pool's unit (GPU-seconds for ``gpu_seconds`` bases), with hours
alongside.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from enum import StrEnum
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from accounting import report as rpt
from accounting.errors import StatementError
from accounting.reconcile import Line, Tolerance
from accounting.statements import MAPPED_CSV, NATIONAL_CSV, SREPORT, ColumnMapping
from allocator import services as svc
from allocator.errors import InvalidInput
from allocator.model import Role, User
from allocator.rules import can_read_everything, require_role
from connectors import quarter
from connectors.bootstrap import Services
from connectors.db.uow import SqlUnitOfWork
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, ServicesDep, UowDep
from connectors.http.errors import RequestRefused
from connectors.http.params import PERIOD_DOC, PERIOD_PATTERN, OptionalPeriodQ, PeriodQ

router = APIRouter(prefix="/api/v1", tags=["accounting"])

#: The largest statement file accepted (bytes of the request body).
MAX_STATEMENT_BYTES = 20 * 1024 * 1024
RAW_MEDIA = ("text/csv", "text/plain", "application/octet-stream", "text/tab-separated-values")
MULTIPART = "multipart/form-data"
DAY, HOUR = 86400, 3600

PeriodPath = Path(pattern=PERIOD_PATTERN, description=PERIOD_DOC)
PoolQ = Query(max_length=64)
OptionalPoolQ = Query(default=None, max_length=64)


class StatementFormat(StrEnum):
    NATIONAL_CSV = NATIONAL_CSV
    SREPORT = SREPORT
    MAPPED_CSV = MAPPED_CSV


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


# --- bodies ---------------------------------------------------------------------------------


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
    def of(cls, i: quarter.StatementInfo) -> StatementOut:
        return cls(**asdict(i))


class ToleranceOut(BaseModel):
    seconds: int
    percent: float


class ReconciliationLineOut(BaseModel):
    project_id: str = Field(description='"" = Slurm accounts no project is mapped to')
    basis: str = Field(description="units (pool unit-seconds) or gpu_seconds")
    ours: int
    theirs: int | None
    difference: int = Field(description="ours - theirs")
    relative_percent: float
    raw_status: str
    status: str
    adjustments: int
    statement_lines: list[int]
    ours_hours: float
    theirs_hours: float | None
    difference_hours: float
    adjustments_hours: float

    @classmethod
    def of(cls, ln: Line) -> ReconciliationLineOut:
        return cls(
            project_id=ln.project_id,
            basis=ln.basis.value,
            ours=ln.ours,
            theirs=ln.theirs,
            difference=ln.difference,
            relative_percent=ln.relative_milli / 10,
            raw_status=ln.raw_status.value,
            status=ln.status.value,
            adjustments=ln.adjustments,
            statement_lines=list(ln.statement_lines),
            ours_hours=s.hours(ln.ours),
            theirs_hours=None if ln.theirs is None else s.hours(ln.theirs),
            difference_hours=s.hours(ln.difference),
            adjustments_hours=s.hours(ln.adjustments),
        )


class ReconciliationOut(BaseModel):
    pool_id: str
    period: str
    statement: StatementOut | None
    tolerance: ToleranceOut
    lines: list[ReconciliationLineOut]

    @classmethod
    def of(cls, r: quarter.Reconciliation) -> ReconciliationOut:
        return cls(
            pool_id=r.pool_id,
            period=r.period,
            statement=None if r.statement is None else StatementOut.of(r.statement),
            tolerance=ToleranceOut(
                seconds=r.tolerance.absolute, percent=r.tolerance.relative_milli / 10
            ),
            lines=[ReconciliationLineOut.of(ln) for ln in r.lines],
        )


class JobOut(BaseModel):
    cluster: str
    job_id: int
    submit: datetime
    account: str
    gpu_seconds: int
    units: int
    units_hours: float
    provisional: bool
    late: bool

    @classmethod
    def of(cls, j: quarter.JobCharge) -> JobOut:
        return cls(
            cluster=j.cluster,
            job_id=j.job_id,
            submit=datetime.fromtimestamp(j.submit, UTC),
            account=j.account,
            gpu_seconds=j.gpu_seconds,
            units=j.units,
            units_hours=s.hours(j.units),
            provisional=j.provisional,
            late=j.late,
        )


class DecisionIn(s.Strict):
    pool_id: s.Slug
    period: s.PeriodLabel
    project_id: str = Field(max_length=64, description='the line\'s project ("" = unmapped)')
    action: Literal["accept", "adjust"]
    hours: s.SignedHours = Field(
        default=Decimal(0),
        description="adjust: signed hours of the pool's unit (negative debits the project); "
        "accept: 0",
    )
    reason: str = Field(min_length=1, max_length=2000)


class CloseIn(s.Strict):
    reason: str = Field(min_length=1, max_length=2000)
    force: bool = Field(default=False, description="close despite unresolved reconciliation")


class PeriodOut(BaseModel):
    period: str
    start: datetime
    end: datetime
    closed: bool
    closed_at: datetime | None
    closed_by: str | None


class BurnOut(BaseModel):
    project_id: str
    pool_id: str
    period: str
    allocated_seconds: int
    adjustments_seconds: int
    consumed_seconds: int
    remaining_seconds: int
    allocated_hours: float
    consumed_hours: float
    remaining_hours: float
    burn_rate_7d_hours_per_day: float
    burn_rate_30d_hours_per_day: float
    projected_exhaustion: datetime | None


# --- the statement upload -------------------------------------------------------------------


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
    """The part named ``file`` of a multipart/form-data body (the standard library parses it)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + data)
    if message.is_multipart():
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                payload = part.get_payload(decode=True)
                name = part.get_filename()
                return Upload(payload if isinstance(payload, bytes) else b"", name)
    raise InvalidInput("file", "the multipart/form-data body has no part named 'file'")


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
_BODY = {
    "required": True,
    "content": {
        **{m: {"schema": {"type": "string", "format": "binary"}} for m in RAW_MEDIA[:3]},
        MULTIPART: {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}

_MAPPING = re.compile(r"column mapping: (\w+) names an empty column")


def column_mapping(
    fmt: StatementFormat, columns: dict[str, str | None], delimiter: str | None
) -> ColumnMapping | None:
    """The mapping a ``mapped-csv`` import declares (``columns``: our field -> the file's
    column); refused, naming the ``map_<field>`` parameter, when incomplete or given for
    another format."""
    columns = dict(columns)
    given = [f"map_{k}" for k, v in columns.items() if v is not None]
    if delimiter is not None:
        given.append("delimiter")
    if fmt is not StatementFormat.MAPPED_CSV:
        if given:
            raise InvalidInput(given[0], f"only for the {MAPPED_CSV} format")
        return None
    account = columns.pop("account")
    if account is None:
        raise InvalidInput("map_account", f"a {MAPPED_CSV} import names its account column")
    try:
        return ColumnMapping(account, delimiter=delimiter, **columns)
    except StatementError as exc:
        if m := _MAPPING.match(exc.message):
            field = f"map_{m.group(1)}"
        elif "separator" in exc.message:
            field = "delimiter"
        elif "not both" in exc.message:
            field = "map_hours"
        else:
            field = "map_gpu_seconds"
        raise InvalidInput(field, exc.message.removeprefix("column mapping: ")) from None


def _file_name(query: str | None, upload: Upload) -> str:
    name = query if query is not None else upload.file_name
    if name is not None:
        name = PureWindowsPath(PurePosixPath(name).name).name  # never a client's directory
    if name is not None and any(c < " " or c == "\x7f" for c in name):
        raise InvalidInput("file_name", "must not contain control characters")
    return name or "upload"


def _map_q() -> Any:
    """One per parameter: FastAPI must not share a ``Query`` between parameters."""
    return Query(default=None, min_length=1, max_length=128)


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
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str = PoolQ,
    period: str = PeriodQ,
    fmt: StatementFormat = Query(alias="format"),
    file_name: str | None = Query(default=None, max_length=255),
    map_account: str | None = _map_q(),
    map_gpu_seconds: str | None = _map_q(),
    map_hours: str | None = _map_q(),
    map_units_hours: str | None = _map_q(),
    map_gpu_type: str | None = _map_q(),
    map_period: str | None = _map_q(),
    delimiter: str | None = Query(default=None, min_length=1, max_length=1),
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
    info = quarter.import_statement(
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
    pool_id: str | None = OptionalPoolQ,
    period: str | None = OptionalPeriodQ,
) -> list[StatementOut]:
    infos = quarter.statements(uow, actor, pool_id, period, now=now, calendar=calendar)
    return [StatementOut.of(i) for i in infos]


# --- reconciliation -------------------------------------------------------------------------

_DEFAULT = Tolerance()


@router.get("/reconciliation")
def reconciliation(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str = PoolQ,
    period: str = PeriodQ,
    tolerance_seconds: int = Query(default=_DEFAULT.absolute, ge=0, le=10**12),
    tolerance_percent: Decimal = Query(
        default=Decimal(_DEFAULT.relative_milli) / 10, ge=0, le=100, decimal_places=1
    ),
) -> ReconciliationOut:
    """Our consumption against the latest statement, per project: a line matches within
    ``max(tolerance_seconds, tolerance_percent of the larger figure)``."""
    tolerance = Tolerance(tolerance_seconds, int(tolerance_percent * 10))
    rec = quarter.reconciliation(uow, actor, pool_id, period, tolerance, now=now, calendar=calendar)
    return ReconciliationOut.of(rec)


@router.get("/reconciliation/jobs")
def reconciliation_jobs(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str = PoolQ,
    period: str = PeriodQ,
    project_id: str = Query(default="", max_length=64, description='"" = unmapped accounts'),
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> list[JobOut]:
    """The jobs whose charges make up a reconciliation line."""
    jobs = quarter.jobs_behind(
        uow, actor, pool_id, period, project_id, limit, now=now, calendar=calendar
    )
    return [JobOut.of(j) for j in jobs]


def decision_amount(action: str, hours: Decimal) -> int:
    """The signed seconds a decision moves, exactly (``hours`` validated as whole seconds):
    none for an acceptance, some for an adjustment."""
    amount = s.to_seconds(abs(hours)) * (1 if hours >= 0 else -1)
    if action == "accept" and amount:
        raise InvalidInput("hours", "an acceptance moves no hours: leave hours out (or 0)")
    if action == "adjust" and not amount:
        raise InvalidInput("hours", "an adjustment needs a non-zero signed number of hours")
    return amount


@router.post("/reconciliation/decisions")
def decide(
    body: DecisionIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> ReconciliationOut:
    """Accept a line's difference, or post a signed adjustment; both journaled with the reason.
    Answers the updated reconciliation."""
    require_role(actor, Role.ADMIN)
    amount = decision_amount(body.action, body.hours)
    rec = quarter.decide(
        uow,
        actor,
        now,
        body.pool_id,
        body.period,
        body.project_id,
        body.action,
        amount,
        body.reason,
        calendar=calendar,
    )
    return ReconciliationOut.of(rec)


# --- reports and the close ------------------------------------------------------------------


def render(report: rpt.Report, fmt: ReportFormat) -> Response:
    if fmt is ReportFormat.CSV:
        return Response(
            rpt.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="gpuhours-{report.period}.csv"'},
        )
    if fmt is ReportFormat.HTML:
        return Response(rpt.to_html(report), media_type="text/html; charset=utf-8")
    return Response(rpt.to_json(report), media_type="application/json")


_REPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report (a closed period's is the one signed off at close)",
        "content": {"application/json": {}, "text/csv": {}, "text/html": {}},
    }
}


@router.get("/reports/{period}", response_class=Response, responses=_REPORT)
def report(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str = PeriodPath,
    fmt: ReportFormat = Query(default=ReportFormat.JSON, alias="format"),
) -> Response:
    """Per pool, chair and project: allocated, consumed, remaining, statement, status."""
    return render(quarter.report(uow, actor, period, now=now, calendar=calendar), fmt)


@router.post(
    "/periods/{period}/close",
    response_class=Response,
    responses={200: {"description": "the signed report", "content": {"application/json": {}}}},
)
def close_period(
    body: CloseIn,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str = PeriodPath,
) -> Response:
    """Close an ended period: the pools' close policies are applied, the report is signed off,
    and the period's figures never change again (late usage is booked in the next period).
    Writes racing the close either land before it (and are in the signed report) or are
    refused with a 409."""
    signed = quarter.close_period(
        uow,
        actor,
        now,
        period,
        body.reason,
        body.force,
        calendar=calendar,
        clock=services.clock,
    )
    return render(signed, ReportFormat.JSON)


@router.get("/periods/{period}")
def period_state(
    uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep, period: str = PeriodPath
) -> PeriodOut:
    p = quarter.period_state(uow, period, now=now, calendar=calendar)
    return PeriodOut(
        period=p.period,
        start=p.start,
        end=p.end,
        closed=p.closed,
        closed_at=p.closed_at,
        closed_by=p.closed_by,
    )


# --- burn rates -----------------------------------------------------------------------------


def burn_rows(
    services: Services,
    uow: SqlUnitOfWork,
    actor: User,
    now: datetime,
    period: str,
    pool_id: str | None,
) -> list[BurnOut]:
    """Per visible project x pool: balance, burn rates (hours per day) and exhaustion."""
    balances = svc.visible_balances(
        uow,
        actor,
        period,
        None if pool_id is None else [pool_id],
        services.consumption.within(uow),
        now=now,
        calendar=services.settings.calendar,
    )
    epoch = int(now.timestamp())
    remaining = {(b.project_id, b.pool_id): (b.remaining, b.available) for b in balances}
    mine = None if can_read_everything(actor) else sorted({b.project_id for b in balances})
    burns = quarter.burns(services.reader, epoch, remaining, services.settings.calendar, mine)
    out = []
    for b in balances:
        burn = burns[(b.project_id, b.pool_id)]
        consumed = b.consumed + b.consumed_provisional
        out.append(
            BurnOut(
                project_id=b.project_id,
                pool_id=b.pool_id,
                period=b.period,
                allocated_seconds=b.allocated,
                adjustments_seconds=b.adjustments,
                consumed_seconds=consumed,
                remaining_seconds=b.remaining,
                allocated_hours=s.hours(b.allocated),
                consumed_hours=s.hours(consumed),
                remaining_hours=s.hours(b.remaining),
                burn_rate_7d_hours_per_day=round(burn.rate_7d * DAY / HOUR, 3),
                burn_rate_30d_hours_per_day=round(burn.rate_30d * DAY / HOUR, 3),
                projected_exhaustion=None
                if burn.exhaustion is None
                else datetime.fromtimestamp(burn.exhaustion, UTC),
            )
        )
    return out


@router.get("/burn")
def burn(
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    period: str = PeriodQ,
    pool_id: str | None = OptionalPoolQ,
) -> list[BurnOut]:
    """Burn rates over 7 and 30 days (hours of the pool's unit per day) and the projected
    exhaustion of each project's remaining hours; researchers see their projects only."""
    return burn_rows(services, uow, actor, now, period, pool_id)
