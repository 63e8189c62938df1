"""Errors raised by the Slurm connector: one tree, translated once at the edge.

::

    SlurmError                      anything that went wrong talking to Slurm
    ├── SlurmUnavailable            transient: connect refused, timeout, HTTP 5xx, slurmdbd down
    │                               (retryable; the client retries these with backoff)
    ├── SlurmRejected               the server understood and said no: HTTP 4xx, or errors[]
    │   │                           in a reply (even with HTTP 200); retrying will not help
    │   └── SlurmAuthError          bad/expired/mismatched token, missing headers (HTTP 401,
    │                               error 1007 on HTTP 200 with v0.0.38), unreadable token source
    └── SlurmPayloadError           the reply is not what a slurmdb jobs reply looks like:
                                    invalid JSON, wrong envelope, unexpected status

Classification of a reply with ``errors[]`` (any HTTP status): 1007, 2002, 6000-6099 and 9008
are auth errors, and so is 7000 when its description says "authentication error" (how 24.11
answers an expired token: HTTP 502); ``9003 Nothing found`` alone is an empty result, not an
error; 7000/7008 (slurmdbd unreachable) and communication errors are transient; on an HTTP
5xx, errors that do not blame the request (9000-9299) are transient too; everything else is a
rejection. So a v0.0.38 ``500 + 9000 Unable to parse time format`` is a
:class:`SlurmRejected` (retrying cannot fix it) and ``500 + 1007`` a :class:`SlurmAuthError`.
Without ``errors[]``: 401/403 -> auth, 408/429/5xx -> unavailable, other 4xx -> rejected.

httpx exceptions are translated into this tree exactly once, in
:mod:`connectors.slurm.client`; nothing outside the connector sees httpx. Messages carry the
request path, the HTTP status and the Slurm error numbers/texts, and **never** a token: the
client builds them without headers and scrubs any echo of the token from reply excerpts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Slurm error numbers (``slurm/slurm_errno.h``) that matter for classification.
NOTHING_FOUND = 9003  # ESLURM_REST_EMPTY_RESULT: an empty result, not an error
AUTH_ERRORS = frozenset(
    {
        1007,  # SLURM_PROTOCOL_AUTHENTICATION_ERROR (bad/expired JWT on 22.05, HTTP 200)
        2002,  # ESLURM_ACCESS_DENIED (not privileged enough)
        9008,  # ESLURM_REST_AUTH_FAIL
    }
)
AUTH_ERROR_RANGE = range(6000, 6100)  # ESLURM_AUTH_*
#: Numbers that mean "Slurm's backend is not reachable right now": worth a retry.
TRANSIENT_ERRORS = frozenset(
    {
        7000,  # ESLURM_DB_CONNECTION (v0.0.39+ also report a bad JWT this way, see SLURMREST §4)
        7008,  # ESLURM_DB_CONNECTION_INVALID
    }
)
TRANSIENT_ERROR_RANGES = (
    range(1000, 1100),  # communication errors (except 1007, handled as auth first)
    range(1800, 1900),  # slurmctld communication
    range(5000, 5100),  # protocol socket errors
)


@dataclass(frozen=True, slots=True)
class SlurmErrorItem:
    """One entry of a reply's ``errors[]``."""

    number: int | None
    error: str = ""
    description: str = ""
    source: str = ""

    def __str__(self) -> str:
        text = "; ".join(part for part in (self.error, self.description) if part)
        where = f" [{self.source}]" if self.source else ""
        return f"{self.number if self.number is not None else '?'} {text}{where}".strip()


class SlurmError(Exception):
    """Base of every connector error.

    ``status`` is the HTTP status when there was a reply, ``path`` the request path (no
    query string secrets exist: the token travels in a header), ``errors`` Slurm's errors[].
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        status: int | None = None,
        errors: Iterable[SlurmErrorItem] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.status = status
        self.errors: tuple[SlurmErrorItem, ...] = tuple(errors)

    @property
    def error_numbers(self) -> tuple[int, ...]:
        return tuple(item.number for item in self.errors if item.number is not None)

    def __str__(self) -> str:
        parts = [self.message]
        if self.path:
            parts.append(f"(GET {self.path}" + (f" -> HTTP {self.status})" if self.status else ")"))
        elif self.status:
            parts.append(f"(HTTP {self.status})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class SlurmUnavailable(SlurmError):
    """Transient failure: the caller (or the client's retry loop) may try again later."""


class SlurmRejected(SlurmError):
    """The server refused the request; retrying the same request will not help."""


class SlurmAuthError(SlurmRejected):
    """Authentication or authorisation failed (token, user name, privileges)."""


class SlurmPayloadError(SlurmError):
    """The reply could not be read as a slurmdb reply (invalid JSON, wrong envelope)."""


def is_auth_error(number: int | None) -> bool:
    return number is not None and (number in AUTH_ERRORS or number in AUTH_ERROR_RANGE)


#: How 23.02+ (v0.0.39+) word a bad or expired JWT on /slurmdb: error 7000 like slurmdbd being
#: down, but with this in the description (24.11: HTTP 502, "Failed to open slurmdbd
#: connection, authentication error"; slurmdbd down reads "Failed to open slurmdbd connection").
_DB_AUTH_FAILURE = "authentication error"


def is_auth_item(item: SlurmErrorItem) -> bool:
    """An errors[] entry that blames the credentials."""
    if is_auth_error(item.number):
        return True
    return item.number in TRANSIENT_ERRORS and _DB_AUTH_FAILURE in item.description.lower()


def is_transient_error(number: int | None) -> bool:
    if number is None or is_auth_error(number):
        return False
    return number in TRANSIENT_ERRORS or any(number in r for r in TRANSIENT_ERROR_RANGES)


def error_from_items(
    items: Iterable[SlurmErrorItem], *, status: int | None = None, path: str | None = None
) -> SlurmError | None:
    """Classify a reply's ``errors[]``; ``None`` if there is nothing to raise.

    ``9003 Nothing found`` alone means an empty result. Authentication errors win over
    everything else; backend-connection errors (and unclassified errors on an HTTP 5xx) are
    transient; anything else is a rejection, whatever the HTTP status (v0.0.38 answers a bad
    token with HTTP 200 + error 1007).
    """
    real = [item for item in items if item.number != NOTHING_FOUND]
    if not real:
        return None
    text = "; ".join(str(item) for item in real)
    if any(is_auth_item(item) for item in real):
        return SlurmAuthError(
            f"slurmrestd authentication failed: {text}", path=path, status=status, errors=real
        )
    server_side = status is not None and status >= 500
    if all(is_transient_error(item.number) for item in real) or (
        server_side and not any(_is_request_error(item.number) for item in real)
    ):
        return SlurmUnavailable(
            f"Slurm backend unavailable: {text}", path=path, status=status, errors=real
        )
    return SlurmRejected(
        f"slurmrestd rejected the request: {text}", path=path, status=status, errors=real
    )


def _is_request_error(number: int | None) -> bool:
    """Errors caused by the request itself (query/parse/data errors, 9000-9299)."""
    return number is not None and 9000 <= number < 9300
