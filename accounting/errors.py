"""Errors of the accounting core.

AccountingError
├── UsageSourceError            a usage source failed; ``kind`` says how (for metrics)
│   (kinds: unavailable, timeout, http, rejected, auth, payload)
├── StatementError(ValueError)  a statement file is rejected; names line and column
└── PeriodClosed                a closed period's figures cannot change
"""

from __future__ import annotations


class AccountingError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UsageSourceError(AccountingError):
    def __init__(self, kind: str, message: str, *, transient: bool) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.transient = transient


class StatementError(AccountingError, ValueError):
    def __init__(self, reason: str, *, line: int | None = None, column: str | None = None) -> None:
        where = ", ".join(
            part
            for part in (f"line {line}" if line else "", f"column {column!r}" if column else "")
            if part
        )
        super().__init__(f"{where}: {reason}" if where else reason, field=column)
        self.line = line
        self.column = column


class PeriodClosed(AccountingError):
    def __init__(self, period: str) -> None:
        super().__init__(f"period: {period} is closed; its figures never change", field="period")
