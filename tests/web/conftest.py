"""A real ``gpuhours serve --demo`` per test module and backend, and one shared Chromium.

Debian's ``/usr/bin/chromium`` is driven by the ``playwright`` package, which never downloads a
browser of its own (as in ``tests/api/test_docs_in_a_browser.py``). Every browser context is
limited to the server's origin: any other request is aborted and recorded, and each test
asserts that none was attempted. Users sign in through the one-click links the demo prints.

Skipped, with the reason, where ``chromium`` or ``playwright`` is missing; in CI (``CI`` set,
``.ci/run`` installs both) it fails instead, so that it cannot silently stop running.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from connectors.db.engine import make_engine
from tests.api.test_docs_in_a_browser import _free_port
from tests.conftest import PG_URL, backends
from tests.web.inprocess import client, services, tokens  # noqa: F401 (in-process fixtures)


@dataclass
class Server:
    url: str
    database_url: str
    #: username -> one-click sign-in link, as the demo printed it
    links: dict[str, str]
    admin_token: str
    #: requests the browser attempted outside the server's origin
    blocked: list[str] = field(default_factory=list)

    def api(self, path: str) -> Any:
        """``GET /api/v1{path}`` as the demo's admin (JSON)."""
        import json

        request = urllib.request.Request(
            f"{self.url}/api/v1{path}", headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())


@contextmanager
def _database(backend: str, tmp: Path) -> Iterator[str]:
    """A database URL of ``backend``: a file in ``tmp``, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'gpuhours.db'}"
        return
    server = make_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"gpuhours_web_{os.getpid()}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.url.set(database=name).render_as_string(False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def _ready(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            time.sleep(0.3)
    return False


LINK = re.compile(r"^\s+\w+\s+(\S+)\s+(http://\S+/portal/signin#token=\S+)$", re.M)


@pytest.fixture(scope="module", params=backends())
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``gpuhours serve --demo`` (Paris time, no scheduler) on a free port of 127.0.0.1."""
    tmp = tmp_path_factory.mktemp(f"portal-{request.param}")
    port = _free_port()
    with _database(request.param, tmp) as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GPUHOURS_")}
        env |= {
            "GPUHOURS_DATA_DIR": str(tmp),
            "GPUHOURS_DATABASE_URL": database_url,
            "GPUHOURS_TIME_ZONE": "Europe/Paris",
            "GPUHOURS_LOG_LEVEL": "warning",
        }
        gpuhours = Path(sys.executable).parent / "gpuhours"
        log_path = tmp / "serve.log"
        log = log_path.open("wb")
        command = [str(gpuhours), "serve", "--demo", "--no-scheduler", "--host", "127.0.0.1"]
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            assert _ready(url, process), log_path.read_text()
            printed = log_path.read_text()
            links = dict(LINK.findall(printed))
            admin = re.search(r"demo admin token: (\S+)", printed)
            assert admin is not None and set(links) == {"admin", "eng-marie", "alice"}, printed
            yield Server(url, database_url, links, admin.group(1))
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def offline_context(browser: Any, server: Server, **options: Any) -> Any:
    """A browser context whose network is the server's origin only (others recorded, aborted)."""
    local = urlsplit(server.url).netloc
    context = browser.new_context(**({"viewport": {"width": 1280, "height": 900}} | options))

    def only_this_server(route: Any) -> None:
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            server.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    return context


def signed_in(browser: Any, server: Server, username: str, **options: Any) -> Any:
    """A page of a new context, signed in as ``username`` through the demo's one-click link."""
    context = offline_context(browser, server, **options)
    page = context.new_page()
    page.goto(server.links[username])
    page.wait_for_url(f"{server.url}/portal/projects")
    return page
