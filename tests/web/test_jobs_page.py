"""The jobs page and its CSV, in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from tests.builders import usage_record
from tests.db.test_accounting import store
from tests.web.inprocess import client_of, sign_in

NOV = int(datetime(2026, 11, 2, 10, tzinfo=UTC).timestamp())


def jobs(services: Services) -> None:
    """Three jobs of p1 (acct-p1 on enact-dev draws from ``loc``), one of them bob's."""
    store(
        services.engine,
        [
            usage_record(NOV, 3600, 2, job_id=11, account="acct-p1"),
            usage_record(NOV, 7200, 1, job_id=12, account="acct-p1", user="bob"),
            usage_record(NOV, 600, 1, job_id=13, account="acct-p1", user="=cmd|' /C calc'!A0"),
        ],
        NOV + 86400,
    )


def test_a_projects_jobs_page_shows_its_top_jobs_and_who_used_what(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    jobs(services)
    sign_in(client, tokens["alice"])
    page = client.get("/portal/projects/p1/jobs?period=2026Q4")
    assert page.status_code == 200
    text = page.text
    assert text.index("enact-dev 11") < text.index("enact-dev 13")  # the largest first
    for shown in ("Use by user", "Use by GPU type", "Largest jobs", "bob", "a100"):
        assert shown in text
    answer = client.get("/portal/projects/p1/jobs.csv?period=2026Q4")
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="jobs-p1-2026Q4.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["job_id"], r["user"], r["gpu_hours"], r["running"]) for r in rows] == [
        ("11", "alice", "2.0", "no"),
        ("12", "bob", "2.0", "no"),
        ("13", "'=cmd|' /C calc'!A0", "0.167", "no"),  # a spreadsheet never runs it
    ]


def test_another_chairs_jobs_are_not_found(services: Services, tokens: dict[str, str]) -> None:
    jobs(services)
    with client_of(services) as bob:
        sign_in(bob, tokens["bob"])
        for path in ("/portal/projects/p1/jobs", "/portal/projects/p1/jobs.csv"):
            answer = bob.get(path)
            assert answer.status_code == 404 and "acct-p1" not in answer.text
            assert "Project 1" not in answer.text
