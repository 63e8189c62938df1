"""The CLI prints what the API answers: the same fields, the same JSON values.

The CLI renders the domain's values itself (``connectors.cli.render``) and parses hours and
pool definitions itself; each is held here to the API's schemas on the same values, so the two
faces cannot drift apart.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from accounting.burn import Burn, Outlook
from accounting.ports import AccountUsage, JobCharge, StatementInfo
from accounting.reconcile import Basis, Line, Status, Tolerance
from accounting.services import ClusterHealth, ProjectBurn, Reconciliation
from allocator import hours as hours_rule
from allocator.errors import InvalidInput
from allocator.ledger import PoolBalance, ProjectBalance
from allocator.model import (
    AllocationRequest,
    Chair,
    ClosePolicy,
    Comment,
    EntryKind,
    LedgerEntry,
    NodeShape,
    Project,
    ProjectKind,
    RequestLine,
    RequestState,
    Role,
    SlurmAccount,
    User,
)
from connectors.cli import render
from connectors.cli.pool_file import parse_pool_file
from connectors.http import schemas as s
from connectors.http.burn_routes import BurnOut
from connectors.http.reconciliation_routes import JobOut, ReconciliationOut
from connectors.http.routes.pools import pool_of
from connectors.http.statement_routes import StatementOut
from connectors.http.token_schemas import TokenInfoOut
from connectors.http.usage_routes import AccountUsageOut, ClusterStatusOut
from connectors.presenters import usage as present_usage
from connectors.tokens import TokenInfo
from tests.builders import local_pool, national_pool

T0 = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
ODD = datetime(2026, 7, 1, 8, 30, 1, 250_000, tzinfo=timezone(timedelta(hours=2)))


#: The pool "nat"'s unit: what the API says beside every amount of it.
UNIT = "normalised-gpu-hour"
UNITS = {"nat": UNIT}


def api(model: pydantic.BaseModel) -> Any:
    """What the API sends, read back as JSON."""
    return json.loads(model.model_dump_json())


def printed(value: Any) -> Any:
    """What the CLI prints, read back as JSON."""
    return json.loads(json.dumps(value, default=str))


def test_a_pool_prints_as_the_api_answers_it() -> None:
    for pool in (
        national_pool(close_policy=ClosePolicy.CARRY_OVER, carryover_cap_milli=250),
        local_pool(node_shapes=(("gpu", NodeShape(4, 64, 512_000)),), description="lab"),
    ):
        assert printed(render.pool(pool)) == api(s.PoolOut.of(pool))
        assert list(render.pool(pool)) == list(s.PoolOut.model_fields)


def test_chairs_projects_and_users_print_as_the_api_answers_them() -> None:
    chair = Chair("chair-a", "Chair A", "UHA", "Dr A", T0, ODD)
    project = Project(
        id="p1",
        chair_id="chair-a",
        name="Project 1",
        kind=ProjectKind.THESIS,
        pi="alice",
        members=("bob", "carol"),
        start=T0,
        slurm_accounts=(SlurmAccount("enact", "acct-p1"),),
    )
    assert printed(render.chair(chair)) == api(s.ChairOut.of(chair))
    assert printed(render.project(project)) == api(s.ProjectOut.of(project))
    # users too: a local listing is the same JSON as a remote one (it was shorter once)
    zoe = User("zoe", Role.ENGINEER, "Zoé", "zoe@example.org")
    assert printed(render.user(zoe)) == api(s.UserOut.of(zoe))


def test_a_request_prints_as_the_api_answers_it() -> None:
    request = AllocationRequest(
        id=7,
        project_id="p1",
        pool_id="nat",
        requester="alice",
        justification="thesis",
        created_at=T0,
        lines=(RequestLine("2026Q3", 36_000, 18_000), RequestLine("2026Q4", 7_201)),
        gpu_type="a100",
        state=RequestState.PARTIALLY_APPROVED,
        decided_by="admin",
        decided_at=ODD,
        decision_reason="half",
        comments=(Comment("bob", T0, "please"),),
    )
    assert printed(render.request(request, UNIT)) == api(s.RequestOut.of(request, UNITS))


def test_entries_and_balances_print_as_the_api_answers_them() -> None:
    entry = LedgerEntry(
        EntryKind.ALLOCATE, "nat", "2026Q3", "pool:nat", "chair:a", 5_401, "admin", ODD, "x"
    )
    assert printed(render.entry(entry, UNIT)) == api(s.EntryOut.of(entry, UNITS))
    pool_balance = PoolBalance("nat", "2026Q3", 3_600_000, 1_800_001, 1_799_999)
    assert printed(render.pool_balance(pool_balance, UNIT)) == api(
        s.PoolBalanceOut.of(pool_balance, UNITS)
    )
    balance = ProjectBalance("p1", "nat", "2026Q3", 36_000, -3_600, 10_000, 1_234)
    assert printed(render.project_balance(balance, UNIT)) == api(
        s.ProjectBalanceOut.of(balance, UNITS)
    )


def test_a_token_prints_as_the_api_lists_it() -> None:
    info = TokenInfo(3, "zoe", "gph_abcd", "ci", T0, "cli:root", ODD, None, T0, "admin")
    assert printed(render.token_info(info, T0)) == api(TokenInfoOut.of(info, T0))


@pytest.mark.parametrize(
    "moment",
    [T0, ODD, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)],
)
def test_times_are_written_as_the_api_writes_them(moment: datetime) -> None:
    chair = Chair("c", "C", start=moment)
    assert printed(render.chair(chair))["start"] == api(s.ChairOut.of(chair))["start"]


# --- hours, as typed: the API's rule and the API's reasons ------------------------------------

TYPED = [
    *("12", "0.5", "0.005", "1000000000", "00001", "1.00", "1.0000000", "-0", "-12.25"),
    *("-5", "0", "1e12", "1_000", " 1 ", "\u0661\u0662", "0.0025", "lots", "", "NaN", "inf"),
    *("1.0000001", "123456789012345678901", "0.001", "99999999999", "+1", "1,5", ".5", "5."),
    *("1E2", "0.00000001", "-1e12", "12345678901234.5678901", "123456789012345", "1e14"),
    *("-1000000000", "-1000000000.001", "1000000000.001", "0x10", "-", "1e-3", "10E-1", "5\n"),
]
SIGNS = {
    hours_rule.Sign.POSITIVE: s.Hours,
    hours_rule.Sign.ZERO_OR_MORE: s.HoursOrZero,
    hours_rule.Sign.SIGNED: s.SignedHours,
}


@pytest.mark.parametrize("sign", list(SIGNS))
@pytest.mark.parametrize("text", TYPED)
def test_hours_are_taken_and_refused_as_the_api_takes_and_refuses_them(
    text: str, sign: hours_rule.Sign
) -> None:
    try:
        expected: Decimal | str = pydantic.TypeAdapter(SIGNS[sign]).validate_python(text)
    except pydantic.ValidationError as exc:
        expected = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    try:
        got: Decimal | str = hours_rule.parse(text, sign)
    except ValueError as exc:
        got = str(exc)
    assert got == expected


# --- the pool definition file ----------------------------------------------------------------

RICH = {
    "id": "nat-2",
    "name": "national grant",
    "kind": "national",
    "unit": "normalised-gpu-hour",
    "valid_from": "2026-05-01T00:00:00+02:00",
    "valid_until": "2027-05-01T00:00:00Z",
    "inventory": [{"gpu_type": "a100", "count": 8}],
    "availability": 0.95,
    "overcommit": "1.5",
    "billing_mode": "reserved",
    "close_policy": "carryover",
    "carryover_cap": 0.25,
    "routes": [{"cluster": "jean-zay", "partition": "gpu_p5", "gpu_type": "a100"}],
    "node_shapes": [{"partition": "gpu_p5", "gpus": 8, "cpus": 64, "mem_mb": 512000}],
    "rates": [{"gpu_type": "a100", "rate": 2, "effective_from": "2026-01-01T00:00:00Z"}],
    "description": "the national centre's grant",
    "grant_hours": "1000.5",
}
BAD_POOLS = [
    {"name": "no id", "kind": "local"},
    {**RICH, "colour": "blue"},
    {**RICH, "id": "-starts-with-a-dash"},
    {**RICH, "id": "x" * 65},
    {**RICH, "name": ""},
    {**RICH, "kind": "regional"},
    {**RICH, "valid_from": "2026-05-01T00:00:00"},
    {**RICH, "valid_from": "yesterday"},
    {**RICH, "inventory": [{"gpu_type": "a100", "count": 0}]},
    {**RICH, "inventory": [{"gpu_type": "a100", "count": 1.5}]},
    {**RICH, "inventory": [{"gpu_type": "a100", "count": 1, "extra": 1}]},
    {**RICH, "availability": 0},
    {**RICH, "availability": "0.0001"},
    {**RICH, "overcommit": 11},
    {**RICH, "carryover_cap": 1.5},
    {**RICH, "routes": [{"cluster": "jz", "gpu_type": "-x"}]},
    {**RICH, "node_shapes": [{"partition": "p", "gpus": 65, "cpus": 1, "mem_mb": 1}]},
    {**RICH, "rates": [{"gpu_type": "a100", "rate": 0, "effective_from": "2026-01-01T00:00Z"}]},
    {**RICH, "rates": [{"gpu_type": "a100", "rate": 1}]},
    {**RICH, "description": "x" * 2001},
    {**RICH, "description": "nul\x00"},
    {**RICH, "grant_hours": "0.001"},
    {**RICH, "grant_hours": "1_000"},
    {**RICH, "grant_hours": -5},
    {**RICH, "inventory": "a100"},
]


def test_a_pool_file_reads_as_the_api_reads_the_same_body() -> None:
    for body in (RICH, {"id": "lab", "name": "lab", "kind": "local"}):
        text = json.dumps(body)
        definition = parse_pool_file(text)
        api_body = s.PoolIn.model_validate_json(text)
        assert definition.pool == pool_of(api_body)
        expected = None if api_body.grant_hours is None else s.to_seconds(api_body.grant_hours)
        assert definition.grant_seconds == expected


@pytest.mark.parametrize("body", BAD_POOLS)
def test_a_pool_file_the_api_would_refuse_is_refused_naming_the_field(body: Any) -> None:
    text = json.dumps(body)
    with pytest.raises(pydantic.ValidationError) as api_refusal:
        s.PoolIn.model_validate_json(text)
    with pytest.raises(InvalidInput) as refusal:
        parse_pool_file(text)
    field = ".".join(str(p) for p in api_refusal.value.errors()[0]["loc"])
    assert refusal.value.field == field


def test_a_pool_file_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_pool_file("{'id': 'x'}")


def test_a_pool_file_takes_whole_numbers_as_the_api_takes_them() -> None:
    for count in (8, 8.0, "8", True):
        body = {"id": "lab", "name": "lab", "kind": "local"}
        text = json.dumps({**body, "inventory": [{"gpu_type": "a100", "count": count}]})
        assert parse_pool_file(text).pool == pool_of(s.PoolIn.model_validate_json(text))


# --- the quarter and ingested usage ----------------------------------------------------------

STATEMENT = StatementInfo(
    4, "nat", "2026Q3", "national-csv", "IDRIS", "q3.csv", "ab" * 32, 12, "admin", ODD, True
)


def test_statements_and_reconciliations_print_as_the_api_answers_them() -> None:
    assert printed(render.statement(STATEMENT)) == api(StatementOut.of(STATEMENT))
    lines = (
        Line("p1", Basis.UNITS, 7_200, 3_600, 3_600, 1000, Status.OVER, Status.ACCEPTED, 0, (1, 2)),
        Line("", Basis.GPU_SECONDS, 90, None, 90, 0, Status.OVER, Status.OVER, -36, ()),
    )
    for statement in (STATEMENT, None):
        rec = Reconciliation("nat", "2026Q3", statement, Tolerance(60, 15), lines)
        assert printed(render.reconciliation(rec)) == api(ReconciliationOut.of(rec))


def test_the_jobs_behind_a_line_print_as_the_api_answers_them() -> None:
    job = JobCharge("enact", 4242, 1_782_894_601, "acct-p1", 7_200, 14_400, False, True)
    assert printed(render.job(job)) == api(JobOut.of(job))


def test_burn_rates_print_as_the_api_answers_them() -> None:
    balance = ProjectBalance("p1", "nat", "2026Q3", 36_000, 0, 10_000, 1_234)
    for rates in (
        Burn(0.5, 0.123456, 1_790_000_000, Outlook.BEFORE_PERIOD_END),
        Burn(0.0, 0.0, None, Outlook.NOT_BEFORE_PERIOD_END),
        Burn(0.0, 0.0, None),
    ):
        burn = ProjectBurn(balance, rates)
        assert printed(render.burn(burn, UNIT)) == api(BurnOut.of(burn, UNITS))


def test_cluster_health_and_account_usage_print_as_the_api_answers_them() -> None:
    for health in (
        ClusterHealth("enact", True, "slurmrestd", 1_782_894_601, 60, 1_782_894_601, 1, "", ""),
        ClusterHealth("old", False, "", None, None, None, None, "boom", "timeout", {"t": 2}, 5, 1),
    ):
        expected = ClusterStatusOut.model_validate(present_usage.cluster_health(health))
        assert printed(render.cluster_health(health)) == api(expected)
        assert list(render.cluster_health(health)) == list(ClusterStatusOut.model_fields)
    usage = AccountUsage("enact", "acct-p1", None, 3, 7_200, 60, {"a100": 7_200}, {"": 60}, 1)
    expected_usage = AccountUsageOut.model_validate(present_usage.account_usage(usage))
    assert printed(render.account_usage(usage)) == api(expected_usage)
    assert list(render.account_usage(usage)) == list(AccountUsageOut.model_fields)
    assert render.account_usage(usage)["provisional_gpu_seconds_by_type"] == {"": 60}
