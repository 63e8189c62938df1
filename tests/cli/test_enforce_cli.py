"""``gpuhours enforce``: refused in one line where enforcement is not switched on, and a plan
whose Slurm cannot be read still answers, with a warning saying why (the real failure of a
``sacctmgr`` that is not there). The plan against a real Slurm: tests/integration."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from connectors.cli import main


def run(tmp_path: Path, *args: str, enforce: str = "plan") -> Result:
    cluster = {"name": "enact-dev", "source": "file", "enforce": enforce}
    cluster["sacctmgr"] = str(tmp_path / "no-sacctmgr")
    env = {
        "GPUHOURS_DATABASE_URL": f"sqlite:///{tmp_path / 'gpuhours.db'}",
        "GPUHOURS_DATA_DIR": str(tmp_path),
        "GPUHOURS_CLUSTERS": json.dumps([cluster]),
    }
    runner = CliRunner()
    runner.invoke(main, ["migrate"], env=env, catch_exceptions=False)
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


def one_error_line(result: Result) -> str:
    assert result.exit_code != 0 and result.stdout == "", result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpuhours: error: "), result.stderr
    return lines[0]


def test_a_cluster_with_enforcement_off_is_refused_in_one_line(tmp_path: Path) -> None:
    line = one_error_line(run(tmp_path, "enforce", "plan", "--cluster", "enact-dev", enforce="off"))
    assert line == (
        "gpuhours: error: cluster enact-dev: enforce is 'off'; set it to plan or apply in "
        "GPUHOURS_CLUSTERS"
    )
    assert "no cluster has enforce set to plan or apply" in one_error_line(
        run(tmp_path, "enforce", enforce="off")
    )


def test_apply_needs_a_cluster_set_to_apply(tmp_path: Path) -> None:
    line = one_error_line(run(tmp_path, "enforce", "apply", "--cluster", "enact-dev"))
    assert "enforce is 'plan'; set it to apply" in line


def test_an_unknown_cluster_is_named_with_the_known_ones(tmp_path: Path) -> None:
    line = one_error_line(run(tmp_path, "enforce", "plan", "--cluster", "nope"))
    assert "unknown cluster 'nope' (known: enact-dev)" in line


def test_a_plan_whose_slurm_cannot_be_read_warns_and_changes_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, "-o", "json", "enforce")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []  # no managed account in an empty ledger
    assert result.stderr.startswith("warning: enact-dev: ")
    assert "no-sacctmgr" in result.stderr and "No such file" in result.stderr


def test_diagnosing_an_account_no_project_maps_is_a_not_found(tmp_path: Path) -> None:
    line = one_error_line(run(tmp_path, "enforce", "diagnose", "acct-x", "--cluster", "enact-dev"))
    assert "managed Slurm account" in line and "enact-dev/acct-x" in line
