"""Where the CLI finds a remote gpuhours: the environment, else the file ``gpuhours login``
wrote.

- ``GPUHOURS_SERVER`` and ``GPUHOURS_TOKEN`` (both, or neither): for scripts and CI;
- else ``$XDG_CONFIG_HOME/gpuhours/config.json`` (``~/.config/gpuhours/config.json`` without
  ``XDG_CONFIG_HOME``): ``{"server": ..., "token": ..., "username": ...}``, the directory
  0700 and the file 0600, written whole (a new file renamed over the old one).

Neither: the CLI acts on the local database (admin-local mode, on the server host).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from allocator.errors import InvalidInput

SERVER_ENV = "GPUHOURS_SERVER"
TOKEN_ENV = "GPUHOURS_TOKEN"


@dataclass(frozen=True)
class Remote:
    server: str  # the base URL, without /api/v1
    token: str
    source: str  # where it came from: the environment or the file


def config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gpuhours" / "config.json"


def server_url(value: str) -> str:
    """``https://host[:port][/prefix]``: the scheme is required; a trailing ``/api/v1`` or
    ``/`` is dropped."""
    url = value.strip().rstrip("/").removesuffix("/api/v1")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or any(c.isspace() for c in url):
        raise InvalidInput("server", f"{value!r} is not an http:// or https:// URL")
    return url


def remote() -> Remote | None:
    """The remote server to use, or ``None`` for the local database."""
    server, token = os.environ.get(SERVER_ENV, ""), os.environ.get(TOKEN_ENV, "")
    if server or token:
        if not (server and token):
            missing = TOKEN_ENV if server else SERVER_ENV
            raise InvalidInput(missing, f"set both {SERVER_ENV} and {TOKEN_ENV}, or neither")
        return Remote(server_url(server), token.strip(), "environment")
    path = config_file()
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Remote(server_url(str(data["server"])), str(data["token"]), str(path))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(
            "config", f"{path} is not a gpuhours login file: run `gpuhours login` again"
        ) from exc


def save(server: str, token: str, username: str) -> Path:
    """Write the login file, 0600 in a 0700 directory, atomically."""
    path = config_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = json.dumps({"server": server, "token": token, "username": username}, indent=2)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(body + "\n")
    os.replace(tmp, path)
    return path


def forget() -> Path | None:
    """Remove the login file; its path, or ``None`` when there was none."""
    path = config_file()
    if not path.exists():
        return None
    path.unlink()
    return path
