"""Synchronous slurmrestd client for the accounting endpoints (``/slurmdb/v0.0.NN/jobs``).

::

    with SlurmRestClient("http://slurm-rest:6820", "gpuhours", FileToken("/run/slurm.jwt")) as c:
        page = c.jobs(start=1795244400, end=1795248000)   # window [start, end), epoch seconds
        page.records, page.quarantined, page.warnings, page.api_version

* Every request carries ``X-SLURM-USER-NAME`` and ``X-SLURM-USER-TOKEN`` (22.05 requires
  both); the token is asked from the provider before every attempt, so rotation just works.
* The window is sent as ``start_time=uts<start>&end_time=uts<end>`` (the only form every
  version accepts) through httpx ``params=``. v0.0.38/39 get ``skip_steps=true``; v0.0.40+
  get ``skip_steps``, ``show_duplicates`` and ``disable_truncate_usage_time`` *together*:
  any one flag alone switches off the server's duplicates/no-truncation defaults, which
  hides requeued runs and clips times to the window (the "flags trap", SLURMREST §3.3).
* ``api_version=None`` discovers the newest supported version from ``/openapi/v3`` (or, if
  that is not served, by probing versions newest first; an unloaded version answers 404).
* httpx errors and HTTP statuses are translated here, once, into :mod:`.errors`; transient
  failures (:class:`SlurmUnavailable`) are retried with exponential backoff
  (``attempts``/``backoff``; ``sleep`` is injectable so tests do not wait).

Usage is *not* clipped to the window here: records overlapping the window come back whole;
clipping and upserting by key is accounting's job.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from types import TracebackType
from typing import Self, TypeVar

import httpx
import msgspec

from accounting.usage import UsageRecord
from connectors.slurm.auth import TokenProvider
from connectors.slurm.decode import Quarantined, decode_jobs
from connectors.slurm.errors import (
    SlurmAuthError,
    SlurmError,
    SlurmErrorItem,
    SlurmPayloadError,
    SlurmRejected,
    SlurmUnavailable,
    error_from_items,
)
from connectors.slurm.wire import MAX_VERSION, version_number

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Versions the client will talk to, oldest first. v0.0.37 is decodable but never chosen:
#: its ``time.start`` is the eligible time (fixed only in the v0.0.38 parser of 22.05.8).
SUPPORTED_VERSIONS = tuple(f"v0.0.{n}" for n in range(38, MAX_VERSION + 1))
DEFAULT_TIMEOUT = httpx.Timeout(10.0, read=300.0)  # slurmrestd builds the whole reply first
_JOBS_PATH_RE = re.compile(r"^/slurmdb/(v0\.0\.\d+)/jobs/?$")
_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class JobsPage:
    """One reply, normalised."""

    records: list[UsageRecord]
    quarantined: list[Quarantined]
    warnings: list[str]
    api_version: str
    path: str = ""
    params: dict[str, str] = field(default_factory=dict)


class _OpenApi(msgspec.Struct, gc=False):
    paths: dict[str, msgspec.Raw] = {}


class SlurmRestClient:
    """Reads job accounting from slurmrestd. Not thread-safe; one instance per worker."""

    def __init__(
        self,
        base_url: str,
        user: str,
        token_provider: TokenProvider,
        api_version: str | None = "v0.0.38",
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        attempts: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not user:
            raise ValueError("user is required (X-SLURM-USER-NAME)")
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        if api_version is not None:
            _check_version(api_version)
        self.base_url = base_url
        self.user = user
        self._tokens = token_provider
        self._version = api_version
        self._attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._last_token = ""
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"SlurmRestClient({self.base_url!r}, user={self.user!r}, "
            f"api_version={self._version!r}, tokens={self._tokens!r})"
        )

    # -- public API ------------------------------------------------------------------------------

    @property
    def api_version(self) -> str:
        """The API version in use; discovered on first use when constructed with ``None``."""
        if self._version is None:
            self._version = self.discover_version()
        return self._version

    def jobs(self, start: int, end: int) -> JobsPage:
        """All job records overlapping ``[start, end)`` (epoch seconds), requeued runs included."""
        start, end = int(start), int(end)
        if not 0 <= start < end:
            raise ValueError(f"empty or negative window [{start}, {end})")
        version = self.api_version
        params = {"start_time": f"uts{start}", "end_time": f"uts{end}"}
        params.update(_flags(version))
        path = f"/slurmdb/{version}/jobs"
        return self._page(path, params, version)

    def job(self, job_id: int | str) -> JobsPage:
        """Every record of one job id (all runs of a requeued job; ``6`` = all array tasks,
        ``"6_1"`` = one task). An unknown id gives an empty page."""
        text = str(job_id)
        if not re.fullmatch(r"\d+(_\d+)?(\+\d+)?", text):
            raise ValueError(f"not a Slurm job id: {job_id!r}")
        version = self.api_version
        return self._page(f"/slurmdb/{version}/job/{text}", {}, version)

    def discover_version(self) -> str:
        """The newest supported slurmdb API version the server serves."""
        try:
            body = self._retrying("/openapi/v3", partial(self._get_body, "/openapi/v3"))
            spec = msgspec.json.decode(body, type=_OpenApi)
        except SlurmAuthError:
            raise
        except (SlurmRejected, msgspec.DecodeError) as exc:
            log.info("slurmrestd: /openapi/v3 unusable (%s); probing versions", exc)
            return self._probe_versions()
        served = set()
        for path in spec.paths:
            match = _JOBS_PATH_RE.match(path)
            if match:
                served.add(match.group(1))
        for version in reversed(SUPPORTED_VERSIONS):
            if version in served:
                log.info("slurmrestd: using %s (served: %s)", version, ", ".join(sorted(served)))
                return version
        raise SlurmRejected(
            "slurmrestd serves no supported slurmdb API version "
            f"(served: {', '.join(sorted(served)) or 'none'}; "
            f"supported: {SUPPORTED_VERSIONS[0]}..{SUPPORTED_VERSIONS[-1]})",
            path="/openapi/v3",
        )

    # -- internals -------------------------------------------------------------------------------

    def _probe_versions(self) -> str:
        # 24.11 (v0.0.40+) rejects small ``uts`` values (422 "Parsing of uts2 for timestamp
        # failed"): an empty window in 2001 parses everywhere
        empty_window = {"start_time": "uts1000000000", "end_time": "uts1000000001"}
        for version in reversed(SUPPORTED_VERSIONS):
            path = f"/slurmdb/{version}/jobs"
            params = {**empty_window, **_flags(version)}
            try:
                self._retrying(path, partial(self._fetch_page, path, params, version))
            except SlurmRejected as exc:
                if exc.status == 404:
                    continue
                raise
            log.info("slurmrestd: probed %s", version)
            return version
        raise SlurmRejected("slurmrestd answers 404 for every supported slurmdb API version")

    def _page(self, path: str, params: dict[str, str], version: str) -> JobsPage:
        page = self._retrying(path, partial(self._fetch_page, path, params, version))
        for item in page.quarantined:
            log.warning("slurm %s: quarantined record (job %s): %s", path, item.job_id, item.reason)
        for warning in page.warnings:
            log.info("slurm %s: server warning: %s", path, warning)
        return page

    def _retrying(self, path: str, action: Callable[[], _T]) -> _T:
        """Run ``action``, retrying :class:`SlurmUnavailable` with exponential backoff."""
        for attempt in range(1, self._attempts + 1):
            try:
                return action()
            except SlurmError as exc:
                _redact(exc, self._last_token)
                if not isinstance(exc, SlurmUnavailable) or attempt >= self._attempts:
                    raise
                delay = min(self._backoff * 2 ** (attempt - 1), self._max_backoff)
                log.warning(
                    "slurm %s: %s; retry %d/%d in %.1f s",
                    path,
                    exc.message,
                    attempt,
                    self._attempts - 1,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_page(self, path: str, params: dict[str, str], version: str) -> JobsPage:
        response = self._get(path, params)
        if response.status_code == 204:  # newer slurmrestd: empty result without a body
            return JobsPage([], [], [], version, path, params)
        try:
            decoded = decode_jobs(response.content, path=path)
        except SlurmError as exc:  # errors[] in a 2xx reply, or a body that is not a reply
            exc.status = response.status_code
            raise
        return JobsPage(
            decoded.records, decoded.quarantined, decoded.warnings, version, path, params
        )

    def _get_body(self, path: str) -> bytes:
        return self._get(path, {}).content

    def _get(self, path: str, params: dict[str, str]) -> httpx.Response:
        """One GET; the only place httpx errors and HTTP statuses become :mod:`.errors`."""
        token = self._last_token = self._tokens.token()
        headers = {"X-SLURM-USER-NAME": self.user, "X-SLURM-USER-TOKEN": token}
        try:
            response = self._http.get(path, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise SlurmUnavailable(
                f"timed out talking to slurmrestd ({type(exc).__name__})", path=path
            ) from exc
        except httpx.TransportError as exc:
            raise SlurmUnavailable(
                f"cannot reach slurmrestd at {self.base_url} "
                f"({type(exc).__name__}: {_scrub(str(exc), token)})",
                path=path,
            ) from exc
        # httpx 0.28 binds each response to its stream in a reference cycle (response.stream
        # -> BoundSyncStream._response -> response, encode/httpx#3733), so the body - 100 MB
        # and more for a day of jobs - would live until the cyclic GC gets to it (with the GC
        # paused around big decodes and upserts: several at once). The body has been read and
        # the stream closed by now: cut the cycle so the body goes with the last reference.
        response.stream = httpx.ByteStream(b"")
        if 200 <= response.status_code < 300:
            return response
        raise _status_error(response, path, self.user, token)


def _flags(version: str) -> dict[str, str]:
    if version_number(version) < 40:
        return {"skip_steps": "true"}
    # v0.0.40+: setting any flag drops the server defaults, so always send all three.
    return {"skip_steps": "true", "show_duplicates": "true", "disable_truncate_usage_time": "true"}


def _check_version(version: str) -> None:
    if version not in SUPPORTED_VERSIONS and version != "v0.0.37":
        raise ValueError(
            f"unsupported Slurm REST API version {version!r}; "
            f"supported: {', '.join(SUPPORTED_VERSIONS)} (or None to discover)"
        )


class _ErrorItem(msgspec.Struct):
    error_number: int | None = None
    error: str | None = None
    description: str | None = None
    source: str | None = None


class _ErrorReply(msgspec.Struct):
    errors: list[_ErrorItem] = []


def _status_error(response: httpx.Response, path: str, user: str, token: str) -> SlurmError:
    """Translate a non-2xx reply; a JSON ``errors[]`` body refines the classification."""
    status = response.status_code
    items: list[SlurmErrorItem] = []
    try:
        reply = msgspec.json.decode(response.content, type=_ErrorReply)
        items = [
            SlurmErrorItem(e.error_number, e.error or "", e.description or "", e.source or "")
            for e in reply.errors
        ]
    except msgspec.DecodeError:
        pass
    if items:
        classified = error_from_items(items, status=status, path=path)
        if classified is not None:
            return classified
    body = _scrub(response.text[:_EXCERPT].strip(), token)
    detail = f": {body}" if body else ""
    if status in (401, 403):
        return SlurmAuthError(
            f"slurmrestd refused the credentials of user {user!r}{detail}",
            path=path,
            status=status,
            errors=items,
        )
    if status in (408, 429) or status >= 500:
        return SlurmUnavailable(f"slurmrestd error{detail}", path=path, status=status, errors=items)
    if status == 404:
        return SlurmRejected(
            f"not served by this slurmrestd (API version not loaded?){detail}",
            path=path,
            status=status,
            errors=items,
        )
    if 400 <= status < 500:
        return SlurmRejected(
            f"slurmrestd rejected the request{detail}", path=path, status=status, errors=items
        )
    return SlurmPayloadError(
        f"unexpected HTTP status{detail}", path=path, status=status, errors=items
    )


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text


def _redact(exc: SlurmError, token: str) -> None:
    """Make sure no echo of the token survives in an error (server texts included)."""
    if not token:
        return
    exc.message = _scrub(exc.message, token)
    exc.args = tuple(_scrub(a, token) if isinstance(a, str) else a for a in exc.args)
    exc.errors = tuple(
        replace(
            item,
            error=_scrub(item.error, token),
            description=_scrub(item.description, token),
            source=_scrub(item.source, token),
        )
        for item in exc.errors
    )
