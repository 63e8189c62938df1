"""Where the slurmrestd JWT comes from.

Every provider has one method, ``token() -> str``, called before each request, so a
provider can rotate tokens without the client noticing:

* :class:`FileToken`: a file written by ``scontrol token`` (or a secret mount); re-read
  whenever its mtime or size changes; whitespace and an optional ``SLURM_JWT=`` prefix are
  stripped.
* :class:`EnvToken`: an environment variable (``SLURM_JWT`` by default), read at each call.
* :class:`MintedToken`: minted locally from the cluster's HS256 ``jwt_key`` (claims ``iat``,
  ``exp``, ``sun``), renewed before it expires.

No provider ever puts the token (or the key) into a ``repr``, a message or a log line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import jwt

from connectors.slurm.errors import SlurmAuthError

_PREFIX = "SLURM_JWT="


class TokenProvider(Protocol):
    """Gives the JWT to send in ``X-SLURM-USER-TOKEN``."""

    def token(self) -> str: ...


def clean_token(text: str) -> str:
    """Strip whitespace and an optional ``SLURM_JWT=`` prefix (``scontrol token`` output)."""
    text = text.strip()
    if text.startswith(_PREFIX):
        text = text[len(_PREFIX) :].strip()
    return text


class StaticToken:
    """A fixed token (tests, one-off scripts)."""

    def __init__(self, value: str) -> None:
        value = clean_token(value)
        if not value:
            raise SlurmAuthError("empty Slurm token")
        self._value = value

    def token(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


class FileToken:
    """A token kept in a file; re-read when the file's mtime or size changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._value = ""

    def token(self) -> str:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                value = clean_token(self.path.read_text(encoding="utf-8"))
                if not value:
                    raise SlurmAuthError(f"Slurm token file {self.path} is empty")
                self._value, self._stamp = value, stamp
        except OSError as exc:
            raise SlurmAuthError(
                f"cannot read Slurm token file {self.path}: {exc.strerror or type(exc).__name__}"
            ) from None
        return self._value

    def __repr__(self) -> str:
        return f"FileToken({str(self.path)!r})"


class EnvToken:
    """A token in an environment variable, read at every call."""

    def __init__(self, variable: str = "SLURM_JWT", environ: Mapping[str, str] | None = None):
        self.variable = variable
        self._environ = os.environ if environ is None else environ

    def token(self) -> str:
        value = clean_token(self._environ.get(self.variable, ""))
        if not value:
            raise SlurmAuthError(f"environment variable {self.variable} holds no Slurm token")
        return value

    def __repr__(self) -> str:
        return f"EnvToken({self.variable!r})"


class MintedToken:
    """HS256 tokens minted from the cluster's ``jwt_key``, like ``scontrol token`` does.

    A token lives ``lifespan`` seconds and is renewed once less than ``max(renew_fraction *
    lifespan, renew_margin)`` seconds remain (capped at half the lifespan), so a request never
    leaves with a token about to expire. ``clock`` returns epoch seconds (injectable for tests).
    Whoever holds the key can mint a token for any user: keep the key readable by the service
    account only.
    """

    def __init__(
        self,
        key: bytes,
        user: str,
        *,
        lifespan: int = 1800,
        renew_fraction: float = 0.2,
        renew_margin: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not key:
            raise SlurmAuthError("empty Slurm JWT key")
        if not user:
            raise ValueError("user is required to mint a Slurm token")
        if lifespan <= 0:
            raise ValueError("lifespan must be positive")
        self._key = key
        self.user = user
        self.lifespan = lifespan
        self.renew_before = min(max(renew_fraction * lifespan, renew_margin), lifespan / 2)
        self._clock = clock
        self._value = ""
        self._expires = 0.0

    @classmethod
    def from_key_file(
        cls,
        path: str | os.PathLike[str],
        user: str,
        *,
        lifespan: int = 1800,
        clock: Callable[[], float] = time.time,
    ) -> MintedToken:
        """Read the key file as raw bytes (Slurm's ``jwt_key`` is binary; never strip it)."""
        try:
            key = Path(path).read_bytes()
        except OSError as exc:
            raise SlurmAuthError(
                f"cannot read Slurm JWT key {path}: {exc.strerror or type(exc).__name__}"
            ) from None
        return cls(key, user, lifespan=lifespan, clock=clock)

    @property
    def expires_at(self) -> float:
        """Expiry (epoch seconds) of the current token; 0 before the first one is minted."""
        return self._expires

    def token(self) -> str:
        now = self._clock()
        if not self._value or now >= self._expires - self.renew_before:
            issued = int(now)
            expires = issued + self.lifespan
            claims = {"iat": issued, "exp": expires, "sun": self.user}
            self._value = jwt.encode(claims, self._key, algorithm="HS256")
            self._expires = float(expires)
        return self._value

    def __repr__(self) -> str:
        return f"MintedToken(user={self.user!r}, lifespan={self.lifespan})"
