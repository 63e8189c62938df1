"""Failed authentications, throttled per client address, before any database look-up.

After ``max_failures`` presented-but-refused credentials from one address within a window of
``window_seconds`` (counted from the first failure), that address gets 429 with
``Retry-After`` until the window ends, whatever it sends (a blocked guesser learns nothing,
not even that a guess was right). Requests without credentials are not counted: they cost no
look-up.

Per process, in memory: with N API processes an address gets at most N x ``max_failures``
tries per window. Bounded: at most ``max_clients`` addresses are remembered (expired windows
are forgotten first, then the oldest). IPv6 addresses count by their /64, the block one
subscriber usually holds. Behind a reverse proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so the client address is the real one, not the proxy's.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


def client_key(host: str | None) -> str:
    """The throttled unit: an IPv4 address, an IPv6 /64, or the host string as given."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class AuthThrottle:
    """Counts failures per client in a fixed window; thread-safe; bounded in memory."""

    def __init__(
        self,
        max_failures: int = 10,
        window_seconds: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.max_clients = max_clients
        self.clock = clock
        #: client -> (window start, failures), oldest window first.
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again, or ``None`` if it may now."""
        now = self.clock()
        with self._lock:
            entry = self._failures.get(client)
        if entry is None or entry[1] < self.max_failures:
            return None
        remaining = entry[0] + self.window_seconds - now
        return math.ceil(remaining) if remaining > 0 else None

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            entry = self._failures.get(client)
            if entry is not None and now < entry[0] + self.window_seconds:
                self._failures[client] = (entry[0], entry[1] + 1)
                return
            self._failures.pop(client, None)
            self._make_room(now)
            self._failures[client] = (now, 1)  # a new window: last in the order

    def _make_room(self, now: float) -> None:
        """Windows are ordered by start: forget the expired ones at the front and, when still
        full, the oldest (each entry is dropped once: amortised constant time)."""
        while self._failures:
            start, _ = next(iter(self._failures.values()))
            if now < start + self.window_seconds and len(self._failures) < self.max_clients:
                return
            self._failures.popitem(last=False)
