"""A fake slurmrestd that answers every jobs query with an empty reply and counts requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

EMPTY_REPLY = b'{"meta":{},"errors":[],"jobs":[]}'


@dataclass
class FakeSlurmrestd:
    """Requests as ``(monotonic time, X-SLURM-USER-TOKEN)``: each replica gets its own token."""

    url: str = ""
    requests: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, since: float = 0.0) -> list[tuple[float, str]]:
        with self.lock:
            return [r for r in self.requests if r[0] >= since]

    def wait_for(self, token: str | None, since: float, timeout: float) -> float | None:
        """Time of the first request since ``since`` (from ``token``, if given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, who in self.seen(since):
                if token is None or who == token:
                    return at
            time.sleep(0.02)
        return None


@pytest.fixture
def slurmrestd() -> Iterator[FakeSlurmrestd]:
    fake = FakeSlurmrestd()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("X-SLURM-USER-NAME"):
                with fake.lock:
                    fake.requests.append(
                        (time.monotonic(), self.headers.get("X-SLURM-USER-TOKEN", ""))
                    )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(EMPTY_REPLY)))
            self.end_headers()
            self.wfile.write(EMPTY_REPLY)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
