"""Enforcement against the real rigs, 22.05 and 24.11: ``gpuhours enforce plan`` reads what
Slurm holds (``sacctmgr``), ``apply`` writes only what differs (twice: the second run changes
nothing), and nothing is tightened while gpuhours' own usage is unsure (never ingested here);
the API, the portal and the scheduled job do the same.

The test works on its own accounts and QOS (``enf-*``), created and removed by it; the
accounts other tests use are never touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from allocator import services as svc
from allocator.model import Chair, ClusterRoute, Project, ProjectKind, SlurmAccount
from connectors.auth import mint_token
from connectors.bootstrap import build
from connectors.cli import main
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.builders import ADMIN, ALICE, CAL, H, national_pool
from tests.integration.slurm_rig import Rig, run

ACCOUNTS = ("enf-proj-a", "enf-proj-b")
QOS = ("enf-grace", "enf-blocked")
LADDER = {"qos_normal": "normal", "qos_grace": QOS[0], "qos_blocked": QOS[1]}


def sacctmgr(rig: Rig, *args: str, check: bool = True) -> str:
    return run(rig, "sacctmgr", *args, check=check).stdout


def association(rig: Rig, account: str) -> str:
    return sacctmgr(
        rig, "-nP", "show", "assoc", "where", f"cluster={rig.cluster}", f"account={account}",
        "format=Account,User,GrpTRESMins,QOS,DefaultQOS",
    ).strip()  # fmt: skip


def _clean(rig: Rig) -> None:
    for account in ACCOUNTS:
        sacctmgr(rig, "-i", "delete", "user", "alice", f"account={account}", check=False)
        sacctmgr(rig, "-i", "delete", "account", account, f"cluster={rig.cluster}", check=False)
    for qos in QOS:
        sacctmgr(rig, "-i", "delete", "qos", qos, check=False)


@pytest.fixture(scope="session")
def enf_tree(rig: Rig) -> Iterator[None]:
    """Two accounts under root, alice in each, and the test's QOS: made once per rig (each
    ``sacctmgr add`` costs about half a second of slurmdbd commits), removed at the end."""
    _clean(rig)
    try:
        for qos in QOS:
            sacctmgr(rig, "-i", "add", "qos", qos)
        for account in ACCOUNTS:
            sacctmgr(rig, "-i", "add", "account", account, f"cluster={rig.cluster}", "parent=root")
            sacctmgr(rig, "-i", "add", "user", "alice", f"account={account}")
        yield
    finally:
        _clean(rig)


@pytest.fixture
def enf_accounts(rig: Rig, request: pytest.FixtureRequest) -> None:
    """a tight and blocked, b unlimited, before each test. On each rig (22.05 and 24.11),
    once: sacctmgr has no REST version, so with the rig's newest."""
    if rig.api_version != rig.kind.api_versions[-1]:
        pytest.skip("sacctmgr has no API version: once per rig (with its newest REST version)")
    request.getfixturevalue("enf_tree")
    sacctmgr(
        rig, "-i", "modify", "account", "where", f"name={ACCOUNTS[0]}",
        f"cluster={rig.cluster}", "set", "GrpTRESMins=billing=1",
        f"QOS={QOS[1]}", f"DefaultQOS={QOS[1]}",
    )  # fmt: skip


def _ledger(engine: Engine, rig: Rig) -> None:
    """A pool routed to the rig; project a has 10 h, project b nothing."""
    now = datetime.now(UTC)
    period = CAL.containing(now).label
    sv = build(Settings(database_url=_url(engine)), engine=engine)
    with sv.uow() as uow:
        uow.users.add(ALICE)
        uow.commit()
    uow = sv.uow()
    pool = national_pool(id="enf-pool", routes=(ClusterRoute(rig.cluster, ""),))
    svc.create_pool(uow, ADMIN, now, pool)
    svc.add_grant(uow, ADMIN, now, pool.id, 10_000 * H, "enf test grant", calendar=CAL)
    svc.create_chair(uow, ADMIN, now, Chair("enf-chair", "Enf chair"))
    for project_id, account in zip(("enf-a", "enf-b"), ACCOUNTS, strict=True):
        mapping = (SlurmAccount(rig.cluster, account),)
        project = Project(project_id, "enf-chair", project_id, ProjectKind.RND, "alice")
        svc.create_project(uow, ADMIN, now, project)
        svc.map_slurm_account(uow, ADMIN, now, project_id, mapping[0], clusters=[rig.cluster])
    svc.allocate_to_chair(uow, ADMIN, now, pool.id, "enf-chair", period, 20 * H, "t", calendar=CAL)
    svc.allocate_to_project(uow, ADMIN, now, pool.id, "enf-a", period, 10 * H, "t", calendar=CAL)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _cli(rig: Rig, engine: Engine, *args: str) -> Any:
    cluster = rig.config(enforce="apply", **LADDER).model_dump(mode="json")
    env = rig.env(
        GPUHOURS_DATABASE_URL=_url(engine),
        GPUHOURS_CLUSTERS=json.dumps([cluster]),
        GPUHOURS_TIME_ZONE="UTC",
    )
    result = CliRunner().invoke(main, ["-o", "json", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output, result.stderr)
    return json.loads(result.stdout)


@pytest.mark.usefixtures("enf_accounts")
def test_plan_reads_slurm_and_apply_twice_changes_nothing_the_second_time(
    rig: Rig, engine: Engine
) -> None:
    _ledger(engine, rig)
    limit = "750000"  # (10 h + 25 %) = 45 000 unit-seconds = 45e6 billing-seconds, in minutes
    planned = {(c["account"], c["attribute"]): c for c in _cli(rig, engine, "enforce", "plan")}
    # what Slurm holds, read for real: a's tight limit and blocked QOS
    a_limit = planned[(ACCOUNTS[0], "GrpTRESMins")]
    assert (a_limit["before"], a_limit["after"], a_limit["action"]) == ("1", limit, "change")
    a_qos = planned[(ACCOUNTS[0], "QOS")]
    assert a_qos["before"] == "enf-blocked (default enf-blocked)" and a_qos["after"] == "normal"
    # b has no hours: blocking it would tighten, and usage was never ingested here
    b_limit = planned[(ACCOUNTS[1], "GrpTRESMins")]
    assert b_limit["before"] == "none" and b_limit["after"] == "0"
    assert b_limit["action"].startswith("skip: not tightened: usage of")
    assert association(rig, ACCOUNTS[0]).splitlines()[0] == (
        f"{ACCOUNTS[0]}||billing=1|enf-blocked|enf-blocked"
    )  # plan changed nothing

    first = _cli(rig, engine, "enforce", "apply")
    outcomes = {(r["account"], r["attribute"]): r["outcome"] for r in first}
    assert outcomes[(ACCOUNTS[0], "GrpTRESMins")] == "applied"
    assert outcomes[(ACCOUNTS[0], "QOS")] == "applied"
    assert outcomes[(ACCOUNTS[1], "GrpTRESMins")].startswith("skipped: not tightened: usage of")
    assert outcomes[(ACCOUNTS[1], "QOS")].startswith("skipped: not tightened: usage of")
    assert association(rig, ACCOUNTS[0]).splitlines() == [
        f"{ACCOUNTS[0]}||billing={limit}|normal|normal",
        f"{ACCOUNTS[0]}|alice||normal|normal",
    ]
    assert association(rig, ACCOUNTS[1]).splitlines()[0] == f"{ACCOUNTS[1]}|||normal|"

    second = _cli(rig, engine, "enforce", "apply")
    assert [r for r in second if not r["outcome"].startswith("skipped")] == []
    assert association(rig, ACCOUNTS[0]).splitlines()[0] == (
        f"{ACCOUNTS[0]}||billing={limit}|normal|normal"
    )
    with build(Settings(database_url=_url(engine)), engine=engine).uow() as uow:
        events = [e for e in uow.audit.list() if e.action == "enforce.apply"]
    period = CAL.containing(datetime.now(UTC)).label
    assert sorted(e.detail for e in events) == [
        f"GrpTRESMins: 1 -> {limit} (applied)",
        "QOS: enf-blocked (default enf-blocked) -> normal (applied)",
        f"RawUsage: 0 -> 0 for {period} (applied)",  # a's counter, once in the period
        f"RawUsage: 0 -> 0 for {period} (applied)",  # b's: a reset tightens nothing
    ]


@pytest.mark.usefixtures("enf_accounts")
def test_diagnose_shows_expected_and_actual_with_the_fixing_commands(
    rig: Rig, engine: Engine
) -> None:
    _ledger(engine, rig)
    found = _cli(rig, engine, "enforce", "diagnose", ACCOUNTS[0], "--cluster", rig.cluster)
    assert found["expected"]["available_hours"] == 10.0
    assert found["expected"]["limit_billing_minutes"] == 750_000
    assert found["actual"] == {
        "limit_billing_minutes": 1,
        "limit_hours": 0.0,
        "qos": ["enf-blocked"],
        "default_qos": "enf-blocked",
        "used_billing_minutes": 0,  # Slurm's own counter (scontrol show assoc_mgr): no job yet
        "used_hours": 0.0,
    }
    assert found["billing_weights"] == {
        f"enf-pool:{rig.cluster}/": "GRES/gpu:a100=2000,GRES/gpu:h100=4000"
    }
    assert found["commands"] == [
        f"sacctmgr -i modify account where name={ACCOUNTS[0]} cluster={rig.cluster} set RawUsage=0",
        f"sacctmgr -i modify account where name={ACCOUNTS[0]} cluster={rig.cluster} "
        "set GrpTRESMins=billing=750000",
        f"sacctmgr -i modify account where name={ACCOUNTS[0]} cluster={rig.cluster} "
        "set QOS=normal DefaultQOS=normal",
    ]
    for command in found["commands"]:  # the printed commands really fix the account
        run(rig, *command.split())
    after = _cli(rig, engine, "enforce", "diagnose", ACCOUNTS[0], "--cluster", rig.cluster)
    # all but the reset, which only an apply records (by hand, gpuhours cannot know of it)
    assert [c.rsplit(" ", 1)[-1] for c in after["commands"]] == ["RawUsage=0"]


@pytest.mark.usefixtures("enf_accounts")
def test_the_api_plans_diagnoses_and_applies_as_the_cli_does(
    rig: Rig, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ledger(engine, rig)
    planned = _cli(rig, engine, "enforce", "plan")
    diagnosed = _cli(rig, engine, "enforce", "diagnose", ACCOUNTS[0], "--cluster", rig.cluster)
    for name in ("SLURM_CONF", "PATH"):  # sacctmgr of the rig, as the CLI ran it
        monkeypatch.setenv(name, rig.env()[name])
    settings = Settings(database_url=_url(engine), clusters=[rig.config(enforce="apply", **LADDER)])
    services = build(settings, engine=engine)
    with services.uow() as uow:
        uow.users.add(ADMIN)
        uow.commit()
    token = mint_token(services.session_factory, "admin", datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(services=services)) as client:
        base = f"/api/v1/enforcement/{rig.cluster}"
        plan = client.get(f"{base}/plan", headers=headers)
        assert plan.status_code == 200, plan.text
        assert plan.json()["read_error"] == ""
        assert plan.json()["changes"] == planned  # the same rows as the CLI's
        found = client.get(f"{base}/accounts/{ACCOUNTS[0]}", headers=headers).json()
        assert found == diagnosed
        done = client.post(f"{base}/apply", headers=headers)
        assert done.status_code == 200, done.text
        assert {(r["account"], r["attribute"]) for r in done.json()["applied"]} == {
            (ACCOUNTS[0], "GrpTRESMins"), (ACCOUNTS[0], "QOS"),
            (ACCOUNTS[0], "RawUsage"), (ACCOUNTS[1], "RawUsage"),
        }  # fmt: skip
        assert {r["outcome"] for r in done.json()["applied"]} == {"applied"}
        assert done.json()["failed"] == 0 and len(done.json()["skipped"]) == 2
        assert client.post(f"{base}/apply", headers=headers).json()["applied"] == []
        missing = client.get(f"{base}/accounts/nobody", headers=headers)
        assert missing.status_code == 404
    assert association(rig, ACCOUNTS[0]).splitlines()[0].endswith("|normal|normal")


@pytest.mark.usefixtures("enf_accounts")
def test_the_portal_shows_the_plan_and_an_admin_applies_it(
    rig: Rig, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.composition import compose
    from tests.web.inprocess import csrf_of, sign_in

    _ledger(engine, rig)
    for name in ("SLURM_CONF", "PATH"):
        monkeypatch.setenv(name, rig.env()[name])
    settings = Settings(database_url=_url(engine), clusters=[rig.config(enforce="apply", **LADDER)])
    services = build(settings, engine=engine)
    with services.uow() as uow:
        uow.users.add(ADMIN)
        uow.commit()
    token = mint_token(services.session_factory, "admin", datetime.now(UTC))
    with TestClient(compose(services), base_url="http://127.0.0.1", follow_redirects=False) as c:
        sign_in(c, token)
        page = c.get(f"/portal/enforcement/{rig.cluster}").text
        assert f"<td>{ACCOUNTS[0]}</a></td>" in page or f">{ACCOUNTS[0]}</a>" in page
        assert "Apply the differences" in page
        drift = page[page.index('id="drift-caption"') :]
        assert f"<td>{ACCOUNTS[0]}</td>" in drift and "<td>agrees</td>" in drift  # no job yet
        csrf = csrf_of(c, f"/portal/enforcement/{rig.cluster}")
        done = c.post(f"/portal/enforcement/{rig.cluster}/apply", data={"csrf": csrf}).text
        assert done.count("<td>applied</td>") == 4  # a's limit and QOS, both counters
        diagnosis = c.get(f"/portal/enforcement/{rig.cluster}/accounts/{ACCOUNTS[0]}").text
        assert "None: the account is as the ledger says." in diagnosis
    assert association(rig, ACCOUNTS[0]).splitlines()[0].endswith("|normal|normal")


@pytest.mark.usefixtures("enf_accounts")
def test_the_scheduled_job_applies_and_its_metrics_say_what_it_did(
    rig: Rig, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors import scheduler
    from connectors.metrics import build_metrics

    _ledger(engine, rig)
    for name in ("SLURM_CONF", "PATH"):
        monkeypatch.setenv(name, rig.env()[name])
    config = rig.config(enforce="apply", enforce_interval_minutes=5, **LADDER)
    services = build(Settings(database_url=_url(engine), clusters=[config]), engine=engine)
    [job] = [j for j in scheduler.planned_jobs(services.settings) if j.id.startswith("enforce:")]
    assert (job.id, job.every.total_seconds()) == (f"enforce:{rig.cluster}", 300)
    monkeypatch.setattr(scheduler, "_services", services)
    assert scheduler.enforce_cluster(rig.cluster) is True
    assert association(rig, ACCOUNTS[0]).splitlines()[0].endswith("|normal|normal")
    text = build_metrics(services).exposition("scraper").decode()
    cluster = f'cluster="{rig.cluster}"'
    # a's limit and QOS, and both counters reset for the period
    assert f"gpuhours_enforce_applied_total{{{cluster}}} 4.0" in text
    assert f"gpuhours_enforce_skipped_total{{{cluster}}} 2.0" in text  # b: unsure, not tightened
    assert f"gpuhours_enforce_differences{{{cluster}}} 6.0" in text
    assert scheduler.enforce_cluster(rig.cluster) is True  # the second run: nothing more
    text = build_metrics(services).exposition("scraper").decode()
    assert f"gpuhours_enforce_applied_total{{{cluster}}} 4.0" in text
    with services.uow() as uow:
        actors = {e.actor for e in uow.audit.list() if e.action == "enforce.apply"}
    assert actors == {"gpuhours-scheduler"}
