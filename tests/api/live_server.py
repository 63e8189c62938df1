"""A real ``gpuhours serve`` for tests that need a socket, and a client generated from it.

:func:`live_server` starts the service on a free port of 127.0.0.1, on SQLite in a temporary
directory or on a PostgreSQL database of its own (created on ``GPUHOURS_TEST_DATABASE_URL``'s
server, dropped afterwards), with an admin token minted by ``gpuhours token create``.
:func:`generate_client` runs ``openapi-python-client`` on the document a server publishes.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from connectors.db.engine import make_engine
from tests.conftest import NO_PG, PG_URL

BIN = Path(sys.executable).parent

#: The generator's settings: no formatter run afterwards (the test reads the code as generated),
#: and a statement file sent as CSV or text is, for a client, raw bytes like octet-stream.
GENERATOR_CONFIG = """\
post_hooks: []
content_type_overrides:
  text/csv: application/octet-stream
  text/plain: application/octet-stream
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str, server: subprocess.Popen[bytes], seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            time.sleep(0.2)
    return False


@contextmanager
def _database(backend: str, where: Path) -> Iterator[str]:
    """The URL of an empty database of ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{where / 'gpuhours.db'}"
        return
    if not PG_URL:
        pytest.skip(NO_PG)
    server = make_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"gpuhours_live_{os.getpid()}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.url.set(database=name).render_as_string(False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def _admin_token(env: dict[str, str], where: Path) -> str:
    out = subprocess.run(
        [
            str(BIN / "gpuhours"),
            "token",
            "create",
            "--user",
            "admin",
            "--role",
            "admin",
            "--new-user",
        ],
        env=env,
        cwd=where,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"gph_[A-Za-z0-9_\-]+", out)
    assert match is not None, out
    return match.group(0)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def live_server(backend: str, where: Path) -> Iterator[tuple[str, str]]:
    """``(base URL, admin token)`` of ``gpuhours serve`` (no scheduler) on ``backend``."""
    with _database(backend, where) as database_url:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GPUHOURS_")}
        env |= {
            "GPUHOURS_DATA_DIR": str(where),
            "GPUHOURS_DATABASE_URL": database_url,
            "GPUHOURS_LOG_LEVEL": "warning",
        }
        log_path = where / "serve.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(BIN / "gpuhours"), "serve", "--no-scheduler", "--port", str(port)],
                env=env,
                cwd=where,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            assert _ready(url, process), log_path.read_text()
            yield url, _admin_token(env, where)
        finally:
            _stop(process)


def generate_client(document_url: str, where: Path, package: str) -> Path:
    """Generate the client package ``package`` into ``where`` from the document at
    ``document_url``; fails on any warning of the generator. Its directory."""
    with urllib.request.urlopen(document_url, timeout=30) as answer:
        document = where / "openapi.json"
        document.write_bytes(answer.read())
    config = where / "generator.yaml"
    config.write_text(GENERATOR_CONFIG + f"package_name_override: {package}\n")
    out = where / package
    result = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(out),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        cwd=where,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out
