"""dashboards/alerts.yml: valid for promtool, unit-tested alert by alert, and those tests bite."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import Promtool
from tests.ops.promql import ALERTS, ALERTS_TEST, alert_rules

EXPECTED_ALERTS = {
    "ProjectAllocation80",
    "ProjectAllocationExhausted",
    "ProjectConsumptionWithoutAllocation",
    "ChairAllocation80",
    "ChairAllocationExhausted",
    "BurnRateExhaustionBeforePeriodEnd",
    "GrantUnderConsumption",
    "IngestionStale",
    "IngestionLagHigh",
    "IngestionFailing",
    "IngestionErrorsRecurring",
    "IngestionQuarantineGrowing",
    "UnmappedAccountUsage",
    "ReconciliationUnresolved",
}


def _duration(text: str) -> int:
    """Seconds of a Prometheus duration such as ``1h30m`` (what the rule files use)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return int(sum(int(n) * units[u] for n, u in parts))


def _unit_tests() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    assert data["rule_files"] == [ALERTS.name]
    tests: list[dict[str, Any]] = data["tests"]
    return tests


def test_the_rule_file_holds_the_expected_alerts_with_severity_and_annotations() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert sorted(names) == sorted(EXPECTED_ALERTS)
    for rule in rules:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert _duration(rule["for"]) >= 600, f"{rule['alert']}: `for` below 10 minutes"
        annotations = rule["annotations"]
        assert set(annotations) >= {"summary", "description"}, rule["alert"]
        # Templated: each says which project / chair / pool / cluster it is about.
        assert "{{ $labels." in annotations["summary"], rule["alert"]
        assert "{{ $labels." in annotations["description"], rule["alert"]


@pytest.mark.promtool
def test_promtool_check_rules_accepts_the_rule_file(promtool: Promtool) -> None:
    result = promtool("check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


@pytest.mark.promtool
def test_promtool_check_rules_rejects_a_broken_expression(
    promtool: Promtool, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        ALERTS.read_text(encoding="utf-8").replace(
            "max without (instance) (gpuhours_ingest_failing) == 1",
            "max without (instance) (gpuhours_ingest_failing == 1",
        ),
        encoding="utf-8",
    )
    assert broken.read_text(encoding="utf-8") != ALERTS.read_text(encoding="utf-8")
    result = promtool("check", "rules", broken)
    assert result.returncode != 0


@pytest.mark.promtool
def test_promtool_unit_tests_of_the_rules_pass(promtool: Promtool) -> None:
    result = promtool("test", "rules", ALERTS_TEST.name, cwd=ALERTS_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "FAILED" not in result.stdout + result.stderr


def test_each_alert_is_tested_silent_before_firing_and_resolved_after() -> None:
    """Per alert, some test case checks it absent, then firing, then absent again."""
    unit_tests = _unit_tests()
    for name in EXPECTED_ALERTS:
        proven = False
        for case in unit_tests:
            checks = sorted(
                (_duration(check["eval_time"]), bool(check["exp_alerts"]))
                for check in case.get("alert_rule_test", [])
                if check["alertname"] == name
            )
            firing = [t for t, fires in checks if fires]
            if not firing:
                continue
            first, last = min(firing), max(firing)
            silent_before = any(not fires and t < first for t, fires in checks)
            silent_after = any(not fires and t > last for t, fires in checks)
            proven = proven or (silent_before and silent_after)
        assert proven, f"{name}: no test case checks it silent, then firing, then resolved"


# Each mutation weakens or breaks one rule; the unit tests must then fail.
MUTATIONS = [
    pytest.param(
        "(gpuhours_project_utilisation_ratio) >= 0.8 < 1",
        "(gpuhours_project_utilisation_ratio) >= 0.9 < 1",
        id="project-80-threshold",
    ),
    pytest.param(
        "(gpuhours_chair_utilisation_ratio) >= 1",
        "(gpuhours_chair_utilisation_ratio) > 1",
        id="chair-exhausted-boundary",
    ),
    pytest.param(
        "< on (period) group_left ()\n          max by (period)",
        "< on () group_left ()\n          max",
        id="burn-rate-join-ignores-period",
    ),
    pytest.param(">= 5 / 12", ">= 4 / 12", id="grant-elapsed-fraction"),
    pytest.param("> 2 * 3600", "> 3 * 3600", id="stale-threshold"),
    pytest.param(
        "max without (instance) (gpuhours_ingest_failing) == 1\n        for: 30m",
        "max without (instance) (gpuhours_ingest_failing) == 1\n        for: 1m",
        id="failing-for",
    ),
    pytest.param(
        "(gpuhours_unmapped_gpu_seconds) / 3600 > 0\n        for: 1h",
        "(gpuhours_unmapped_gpu_seconds) / 3600 > 2\n        for: 1h",
        id="unmapped-threshold",
    ),
    pytest.param(
        "max without (instance) (gpuhours_project_utilisation_ratio) >= 1",
        "gpuhours_project_utilisation_ratio >= 1",
        id="no-replica-dedup",
    ),
]


@pytest.mark.promtool
@pytest.mark.parametrize(("original", "mutant"), MUTATIONS)
def test_the_unit_tests_fail_on_a_mutated_rule(
    promtool: Promtool, tmp_path: Path, original: str, mutant: str
) -> None:
    rules = ALERTS.read_text(encoding="utf-8")
    assert rules.count(original) == 1, f"mutation target not found once: {original!r}"
    (tmp_path / ALERTS.name).write_text(rules.replace(original, mutant), encoding="utf-8")
    shutil.copy(ALERTS_TEST, tmp_path / ALERTS_TEST.name)
    result = promtool("test", "rules", ALERTS_TEST.name, cwd=tmp_path)
    assert result.returncode != 0, f"unit tests still pass with {mutant!r}"
    assert "FAILED" in result.stdout + result.stderr
