"""The failed-authentication throttle on its own: per address, windowed, bounded in memory."""

from __future__ import annotations

from connectors.throttle import AuthThrottle, client_key


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_blocked_after_n_failures_until_its_window_ends() -> None:
    ticks = Ticks()
    throttle = AuthThrottle(max_failures=3, window_seconds=60, clock=ticks)
    for _ in range(3):
        assert throttle.retry_after("198.51.100.1") is None
        throttle.failed("198.51.100.1")
    assert throttle.retry_after("198.51.100.1") == 60
    assert throttle.retry_after("198.51.100.2") is None
    ticks.now = 59.2
    assert throttle.retry_after("198.51.100.1") == 1  # rounded up: never "0"
    ticks.now = 60.0
    assert throttle.retry_after("198.51.100.1") is None
    throttle.failed("198.51.100.1")  # a new window starts with one failure
    assert throttle.retry_after("198.51.100.1") is None


def test_memory_is_bounded_whatever_the_number_of_addresses() -> None:
    ticks = Ticks()
    throttle = AuthThrottle(max_failures=2, window_seconds=60, max_clients=100, clock=ticks)
    for i in range(10_000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
        assert len(throttle) <= 100
    # The most recent offenders are still remembered.
    throttle.failed("10.0.39.15")
    assert throttle.retry_after("10.0.39.15") == 60


def test_expired_windows_are_forgotten_first() -> None:
    ticks = Ticks()
    throttle = AuthThrottle(max_failures=2, window_seconds=60, max_clients=3, clock=ticks)
    throttle.failed("a")
    throttle.failed("b")
    ticks.now = 30
    throttle.failed("c")
    throttle.failed("c")
    ticks.now = 70  # the windows of a and b are over, c's is not
    throttle.failed("d")
    throttle.failed("e")
    assert throttle.retry_after("c") == 20


def test_ipv6_clients_are_counted_by_their_64_bit_prefix() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("testclient") == "testclient"
    assert client_key(None) == "unknown"
