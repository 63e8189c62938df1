"""Fixtures for the Slurm connector tests (helpers live in slurm_support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest

from connectors.slurm.auth import StaticToken
from connectors.slurm.client import SlurmRestClient
from tests.slurm.slurm_support import SECRET_TOKEN, Handler, Recorder, Sleeps

MakeClient = Callable[..., tuple[SlurmRestClient, Recorder, Sleeps]]


@pytest.fixture
def make_client() -> Iterable[MakeClient]:
    """``make_client(handler, api_version=..., **kwargs) -> (client, recorder, sleeps)``."""
    clients: list[SlurmRestClient] = []

    def factory(
        handler: Handler, api_version: str | None = "v0.0.38", **kwargs: Any
    ) -> tuple[SlurmRestClient, Recorder, Sleeps]:
        recorder = Recorder(handler)
        sleeps = Sleeps()
        kwargs.setdefault("token_provider", StaticToken(SECRET_TOKEN))
        client = SlurmRestClient(
            "http://slurmrestd.test:6820",
            "gpuhours",
            api_version=api_version,
            transport=httpx.MockTransport(recorder),
            sleep=sleeps,
            **kwargs,
        )
        clients.append(client)
        return client, recorder, sleeps

    yield factory
    for client in clients:
        client.close()
