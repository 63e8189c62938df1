"""``gpuhours notify``: preferences of a user or of the site, and the outbox."""

from __future__ import annotations

from tests.cli.test_cli import (  # noqa: F401 (the fixtures)
    Cli,
    _demo_template,
    demo,
    one_error_line,
)


def kinds(rows: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {r["kind"]: r for r in rows}


def test_an_operator_sets_a_users_and_the_sites_preferences(demo: Cli) -> None:  # noqa: F811
    assert kinds(demo.json("notify", "prefs", "--user", "alice"))["usage.80"]["mode"] == "immediate"
    demo.ok("notify", "set", "usage.80", "digest", "--site")
    demo.ok("notify", "set", "usage.80", "off", "--user", "alice")
    alice = kinds(demo.json("notify", "prefs", "--user", "alice"))
    bob = kinds(demo.json("notify", "prefs", "--user", "bob"))
    assert (alice["usage.80"]["mode"], alice["usage.80"]["source"]) == ("off", "user")
    assert (bob["usage.80"]["mode"], bob["usage.80"]["source"]) == ("digest", "site")
    assert bob["request.decided"]["mandatory"] is True
    table = demo.ok("notify", "prefs", "--site")
    assert table.splitlines()[0].split() == ["KIND", "MODE", "SOURCE", "MANDATORY", "AUDIENCE"]


def test_what_cannot_be_turned_off_is_refused_in_one_line(demo: Cli) -> None:  # noqa: F811
    before = demo.state()
    line = one_error_line(demo("notify", "set", "usage.100", "off", "--user", "alice"))
    assert "mode" in line and "cannot be turned off" in line
    line = one_error_line(demo("notify", "set", "usage.80", "off", "--user", "nobody"))
    assert line == "gpuhours: error: unknown user 'nobody'"
    assert demo.state() == before


def test_the_outbox_lists_nothing_parked_and_a_retry_of_nothing_releases_nothing(
    demo: Cli,  # noqa: F811
) -> None:
    assert demo.json("notify", "outbox") == []
    assert demo.json("notify", "retry", "1", "2") == {"released": 0}
