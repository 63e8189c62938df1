"""Helpers for the Slurm connector tests: recorded replies, totals, a fake slurmrestd.

(A plain module rather than conftest.py so test modules can import it.)
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from accounting.usage import UsageRecord

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"

#: A token that must never show up in any message, repr, traceback or log line.
SECRET_TOKEN = "eyJhbGciOiJIUzI1NiJ9.SECRET-TOKEN-DO-NOT-LEAK.c2lnbmF0dXJl"

Handler = Callable[[httpx.Request], httpx.Response]


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def data_json(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data(name))
    return loaded


def reply(obj: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(obj).encode(), headers={"content-type": "application/json"}
    )


def per_account(records: Iterable[UsageRecord]) -> dict[str, int]:
    """GPU-seconds per account (zero-usage accounts included when they have records)."""
    totals: dict[str, int] = defaultdict(int)
    for record in records:
        totals[record.account] += record.gpu_seconds
    return dict(totals)


def per_account_type(records: Iterable[UsageRecord]) -> dict[tuple[str, str], int]:
    """GPU-seconds per (account, GPU type); only non-zero entries."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for record in records:
        for kind, seconds in record.gpu_seconds_by_type().items():
            totals[(record.account, kind)] += seconds
    return {key: value for key, value in totals.items() if value}


class Recorder:
    """A fake slurmrestd: answers from a handler and keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


class Sleeps(list[float]):
    """Injected ``sleep``: records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
