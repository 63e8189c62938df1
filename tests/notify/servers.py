"""Real receivers on loopback: an SMTP server (aiosmtpd) and an HTTP webhook receiver. Both
drop copies by the delivery's key, as a real receiver would, and keep every copy too."""

from __future__ import annotations

import email
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "gpuhours", "s3cret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server received. ``refuse``: answer 451 to that many messages first."""

    refuse: int = 0
    copies: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refused: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.copies.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    @property
    def messages(self) -> list[tuple[str, EmailMessage]]:
        """One per Message-ID (the receiver's dedup): (recipient, message)."""
        seen: dict[str, tuple[str, EmailMessage]] = {}
        for rcpts, message in self.copies:
            seen.setdefault(str(message["Message-ID"]), (rcpts[0], message))
        return list(seen.values())

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.messages if rcpt == address]


def _check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), and its key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    command += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def smtp_server(inbox: Inbox, **options: Any) -> Iterator[int]:
    """An SMTP server on a free loopback port (``options`` as aiosmtpd's Controller takes:
    ``tls_context``, ``require_starttls``, ``ssl_context``, ``auth_required``...)."""
    port = free_port()
    if options.get("auth_required"):
        options.setdefault("authenticator", _check_login)
        options.setdefault("auth_require_tls", "tls_context" in options)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass
class Hook:
    """What the webhook receiver got; ``fail``: answer 500 to that many requests first."""

    fail: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        """One per ``X-Gpuhours-Delivery`` (the receiver's dedup)."""
        seen: dict[str, dict[str, Any]] = {}
        for headers, body in self.requests:
            seen.setdefault(headers.get("x-gpuhours-delivery", ""), json.loads(body))
        return list(seen.values())


@contextmanager
def webhook_receiver(hook: Hook) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = 200
            if hook.fail > 0:
                hook.fail -= 1
                status = 500
            else:
                hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/gpuhours"
    finally:
        server.shutdown()
        server.server_close()
