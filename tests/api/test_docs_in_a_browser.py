"""Headless Chromium renders the API documentation of a real server with the network cut.

``gpuhours serve`` runs on a free port of 127.0.0.1; Debian's ``chromium`` (driven by the
``playwright`` package, which never downloads a browser of its own here) opens
``/api/v1/docs`` with every request to anywhere but that server aborted, and the test asserts
that none was even attempted, that the page ran within its Content-Security-Policy, and that
Swagger UI rendered the operation list. The screenshot is kept beside the test's tmp files.

Skipped, with the reason, where ``chromium`` or ``playwright`` is missing; in CI (``CI`` set,
``.ci/run`` installs both) it fails instead, so that it cannot silently stop running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PNG = b"\x89PNG\r\n\x1a\n"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/run installs it, so CI must run this test")
    pytest.skip(reason)


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        _missing("no Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str, server: subprocess.Popen[bytes], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            time.sleep(0.2)
    return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real ``gpuhours serve`` (SQLite in ``tmp_path``, no scheduler); its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUHOURS_")}
    env |= {"GPUHOURS_DATA_DIR": str(tmp_path), "GPUHOURS_LOG_LEVEL": "warning"}
    gpuhours = Path(sys.executable).parent / "gpuhours"
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(gpuhours), "serve", "--no-scheduler", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert _ready(url, process), (tmp_path / "serve.log").read_text()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.slow
def test_chromium_renders_the_operation_list_with_the_network_cut(
    chromium: Path, server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import Route, sync_playwright

    local = urlsplit(server).netloc
    served: list[str] = []
    blocked: list[str] = []
    console: list[str] = []

    def only_this_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == local:
            served.append(route.request.url)
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    screenshot = tmp_path / "api-docs.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_this_server)
            page = context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            answer = page.goto(f"{server}/api/v1/docs", wait_until="load")
            assert answer is not None and answer.status == 200
            page.wait_for_selector(".opblock", timeout=60_000)
            operations = page.locator(".opblock").count()
            text = page.inner_text("#swagger-ui")
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()

    assert operations >= 50, operations  # every operation of the API is listed
    for shown in ("/api/v1/pools", "listPools", "submitRequest", "/api/v1/requests/{request_id}"):
        assert shown in text, shown
    assert blocked == []  # nothing outside 127.0.0.1 was needed, nor attempted
    assert f"{server}/api/v1/openapi.json" in served
    assert not [line for line in console if "Refused" in line or "error" in line], console
    image = screenshot.read_bytes()
    assert image.startswith(PNG) and len(image) > 10_000
