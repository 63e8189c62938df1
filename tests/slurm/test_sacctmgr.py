"""``sacctmgr`` as enforcement reads and writes it, at the process edge: replies recorded
from the 22.05 rig (``sacctmgr -nP show assoc/qos``), and its real failures."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from allocator.enforcement import ActualAccount, Attribute, Change
from allocator.errors import SlurmCommandFailed
from connectors.slurm.sacctmgr import (
    Sacctmgr,
    parse_assoc_mgr,
    parse_associations,
    parse_tres,
)

# recorded on the rig after `enforce apply` (an account row with its parent, then its users')
ASSOC = """enact-dev|enf-proj-a||billing=750000|normal|normal|root
enact-dev|enf-proj-a|alice||normal|normal|
enact-dev|enf-proj-b|||enf-blocked,normal|enf-blocked|chair-nlp
enact-dev|enf-proj-b|bob||enf-blocked,normal|enf-blocked|
enact-dev|enf-proj-b|alice||enf-blocked,normal|enf-blocked|
"""
QOS = "normal\nenf-grace\nenf-blocked\n"
# `scontrol -o show assoc_mgr accounts=... flags=assoc` on the rig (lines cut after GrpTRESMins)
ASSOC_MGR = """Current Association Manager state
Association Records
ClusterName=enact-dev Account=enf-proj-a UserName= Partition= Priority=0 ID=21 \
SharesRaw/Norm/Level/Factor=1/18446744073709551616.00/1/0.00 UsageRaw/Norm/Efctv=0.00/1.00/0.00 \
ParentAccount=root(1) Lft=20 DefAssoc=No GrpJobs=N(0) GrpJobsAccrue=N(0) GrpSubmitJobs=N(0) \
GrpWall=N(0.00) GrpTRES=cpu=N(0),mem=N(0),billing=N(0),gres/gpu=N(0) \
GrpTRESMins=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=750000(2400),gres/gpu=N(0)
ClusterName=enact-dev Account=enf-proj-a UserName=alice(1001) Partition= Priority=0 ID=22 \
GrpTRESMins=cpu=N(0),billing=N(2400),gres/gpu=N(0)
ClusterName=enact-dev Account=enf-proj-b UserName= Partition= Priority=0 ID=23 \
GrpTRESMins=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=N(0),gres/gpu=N(0)
"""
NOT_CONFIGURED = (
    "sacctmgr: error: s_p_parse_file: cannot stat file /nonexistent: No such file or "
    "directory, retrying in 1sec up to 60sec\nsacctmgr: error: ClusterName needs to be "
    "specified\nsacctmgr: fatal: Unable to process configuration file\n"
)


class Recorded:
    """Answers each sacctmgr call with a recorded (stdout, stderr, exit code)."""

    def __init__(self, *replies: tuple[str, str, int]) -> None:
        self.replies = list(replies)
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        out, err, code = self.replies.pop(0)
        return subprocess.CompletedProcess(argv, code, out, err)


def test_tres_strings_are_read_per_tres() -> None:
    assert parse_tres("billing=750000,gres/gpu=60") == {"billing": 750000, "gres/gpu": 60}
    assert parse_tres("") == {}


def test_account_rows_are_kept_with_their_limit_qos_parent_and_users() -> None:
    assert parse_associations(ASSOC, "enact-dev") == {
        "enf-proj-a": ActualAccount(
            "enact-dev",
            "enf-proj-a",
            750000,
            ("normal",),
            "normal",
            parent="root",
            users=("alice",),
        ),
        "enf-proj-b": ActualAccount(
            "enact-dev",
            "enf-proj-b",
            None,
            ("enf-blocked", "normal"),
            "enf-blocked",
            parent="chair-nlp",
            users=("alice", "bob"),
        ),
    }
    assert parse_associations(ASSOC, "other-cluster") == {}


def test_slurms_usage_counter_is_read_per_account_association() -> None:
    assert parse_assoc_mgr(ASSOC_MGR) == {"enf-proj-a": 2400, "enf-proj-b": 0}


def test_a_failed_usage_read_leaves_the_usage_unknown_not_the_limits() -> None:
    runner = Recorded((ASSOC, "", 0), ("", "scontrol: error: slurm_load_ctl_conf", 1), (QOS, "", 0))
    state = Sacctmgr(runner=runner).read("enact-dev", ["enf-proj-a"])
    assert state.accounts["enf-proj-a"].limit_minutes == 750000
    assert state.accounts["enf-proj-a"].used_minutes is None


def test_one_read_asks_for_every_managed_account_and_the_qos_names() -> None:
    runner = Recorded((ASSOC, "", 0), (ASSOC_MGR, "", 0), (QOS, "", 0))
    state = Sacctmgr(runner=runner).read("enact-dev", ["enf-proj-a", "enf-proj-b"])
    assert set(state.accounts) == {"enf-proj-a", "enf-proj-b"}
    assert state.accounts["enf-proj-a"].used_minutes == 2400
    assert state.qos_names == {"normal", "enf-grace", "enf-blocked"}
    assert "account=enf-proj-a,enf-proj-b" in runner.calls[0]


def test_a_failing_sacctmgr_is_one_line_naming_the_command() -> None:
    runner = Recorded(("", NOT_CONFIGURED, 1))
    with pytest.raises(SlurmCommandFailed) as caught:
        Sacctmgr(runner=runner).read("enact-dev", ["enf-proj-a"])
    assert caught.value.message == (
        "sacctmgr -nP show assoc: sacctmgr: error: s_p_parse_file: cannot stat file "
        "/nonexistent: No such file or directory, retrying in 1sec up to 60sec"
    )


def test_a_missing_sacctmgr_is_a_failed_read_not_a_crash() -> None:
    with pytest.raises(SlurmCommandFailed, match="No such file"):
        Sacctmgr("/nonexistent/sacctmgr").read("enact-dev", ["enf-proj-a"])


def test_a_write_runs_the_changes_exact_command() -> None:
    runner = Recorded((" Modified account associations...\n", "", 0))
    change = Change("enact-dev", "enf-proj-a", Attribute.LIMIT, "1", "750000", False)
    Sacctmgr(runner=runner).write(change)
    assert runner.calls == [list(change.command)]
