"""Errors of the allocator core. Each builds its own message from data.

    AllocatorError
    ├── NotFound(LookupError)          unknown pool, chair, project, request, user  -> 404
    ├── InvalidInput(ValueError)       a field is wrong; names the field            -> 422
    │   └── OutsideValidity            a period outside the pool's validity window  -> 422
    ├── Conflict                        the state of the world refuses the change    -> 409
    │   ├── OverCommit                  more hours than the pool/chair/project has
    │   ├── InvalidTransition           a request cannot move from its state
    │   └── AlreadyExists               an id or mapping already taken
    └── Forbidden(PermissionError)     the actor's role does not allow it           -> 403

The HTTP edge translates this tree to status codes in exactly one place.
"""

from __future__ import annotations


class AllocatorError(Exception):
    """Base of every allocator error. ``field`` names the offending input, when there is one."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class NotFound(AllocatorError, LookupError):
    def __init__(self, kind: str, key: object, *, field: str | None = None) -> None:
        super().__init__(f"unknown {kind} {key!r}", field=field)
        self.kind = kind
        self.key = key


class InvalidInput(AllocatorError, ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.reason = reason


class OutsideValidity(InvalidInput):
    pass


class Conflict(AllocatorError):
    pass


class PeriodIsClosed(Conflict):
    """The period was closed: its ledger and figures never change again."""

    def __init__(self, period: str, *, field: str = "period", hint: str = "") -> None:
        message = f"{period} is closed; its figures never change"
        super().__init__(f"{message}: {hint}" if hint else message, field=field)
        self.period = period


class OverCommit(Conflict):
    """More than ``what`` has. The amounts are integer seconds of the pool's ``unit``; the
    message quotes them in hours of that unit, as every caller gives them."""

    def __init__(
        self, what: str, *, wanted: int, available: int, unit: str, field: str = "hours"
    ) -> None:
        super().__init__(
            f"{field}: over-commit refused: {what} has {hours_text(available)} {unit} available,"
            f" {hours_text(wanted)} asked",
            field=field,
        )
        self.wanted = wanted
        self.available = available
        self.unit = unit


def hours_text(seconds: int) -> str:
    """Seconds as hours, to the millihour, without trailing zeros: ``5050``, ``0.5``."""
    text = f"{seconds / 3600:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


class InvalidTransition(Conflict):
    def __init__(self, request_id: int, state: str, action: str) -> None:
        super().__init__(
            f"state: request {request_id} is {state}; it cannot be {action}", field="state"
        )
        self.state = state
        self.action = action


class AlreadyExists(Conflict):
    def __init__(self, kind: str, key: object, *, field: str | None = None) -> None:
        super().__init__(f"{kind} {key!r} already exists", field=field)


class Forbidden(AllocatorError, PermissionError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"forbidden: {reason}")


class SlurmCommandFailed(AllocatorError):
    """Slurm's accounting could not be read or written (``sacctmgr`` failed, slurmdbd down)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="slurm")
