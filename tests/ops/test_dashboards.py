"""dashboards/*.json: importable, on the datasource variable, valid PromQL, contract only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops import promql
from tests.ops.conftest import Promtool

DS_REF = {"type": "prometheus", "uid": "${datasource}"}
EXPECTED = {"overview.json", "drilldown.json", "ingestion.json"}
VARIABLES = {
    "overview.json": {"pool"},
    "drilldown.json": {"pool", "chair", "project"},
    "ingestion.json": {"cluster"},
}
NO_TARGETS = {"row", "text"}


def dashboards() -> list[Any]:
    return [pytest.param(path, id=path.name) for path in promql.dashboard_files()]


def test_the_three_dashboards_exist_with_distinct_uids() -> None:
    files = promql.dashboard_files()
    assert {path.name for path in files} == EXPECTED
    uids = [promql.load_dashboard(path)["uid"] for path in files]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", dashboards())
def test_dashboard_is_importable_json(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(dashboard, dict)
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["title"] and re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    assert dashboard.get("id") is None  # importable anywhere: no instance-specific id
    inputs = dashboard["__inputs"]
    assert [(i["type"], i["pluginId"]) for i in inputs] == [("datasource", "prometheus")]
    panels = list(promql.panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(set(ids)) == len(ids), "panel ids must be unique"
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]


@pytest.mark.parametrize("path", dashboards())
def test_every_panel_and_variable_queries_the_datasource_variable(path: Path) -> None:
    dashboard = promql.load_dashboard(path)
    variables = promql.variables(dashboard)
    ds = [v for v in variables if v["type"] == "datasource"]
    assert len(ds) == 1
    assert ds[0]["name"] == promql.DATASOURCE_VAR and ds[0]["query"] == "prometheus"
    for variable in variables:
        if variable["type"] == "query":
            assert variable["datasource"] == DS_REF, variable["name"]
    checked = 0
    for panel in promql.panels(dashboard):
        if panel["type"] in NO_TARGETS:
            continue
        assert panel["datasource"] == DS_REF, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target["datasource"] == DS_REF, panel["title"]
            assert target["expr"].strip(), panel["title"]
        checked += 1
    assert checked >= 5
    # No data source is named anywhere else: every uid is the variable (or Grafana's own).
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', path.read_text(encoding="utf-8")))
    assert uids <= {"${datasource}", "-- Grafana --", dashboard["uid"]}


@pytest.mark.parametrize("path", dashboards())
def test_template_variables_come_from_label_values_and_are_all_defined(path: Path) -> None:
    dashboard = promql.load_dashboard(path)
    queries = {v["name"]: v for v in promql.variables(dashboard) if v["type"] == "query"}
    assert set(queries) == VARIABLES[path.name]
    for name, variable in queries.items():
        assert re.fullmatch(rf"label_values\(.+, {name}\)", promql.variable_query(variable))
        assert variable["includeAll"] and variable["allValue"] == ".*", name
    builtin = {"__all"}  # Grafana's "All" in a variable's current value
    defined = set(queries) | {promql.DATASOURCE_VAR} | set(promql.INTERVALS) | builtin
    text = path.read_text(encoding="utf-8")
    used = {a or b for a, b in re.findall(r"\$\{(\w+)\}|\$(\w+)", text)}
    assert used <= defined, f"undefined variables: {used - defined}"


def test_expressions_cover_panels_variables_and_alerts_with_variables_substituted() -> None:
    found = promql.expressions()
    sources = [e.source for e in found]
    assert len(set(sources)) == len(sources), "sources must tell the expressions apart"
    n_targets = sum(
        len(panel.get("targets", []))
        for path in promql.dashboard_files()
        for panel in promql.panels(promql.load_dashboard(path))
    )
    n_vars = sum(len(VARIABLES[path.name]) for path in promql.dashboard_files())
    assert len(found) == n_targets + n_vars + len(promql.alert_rules())
    assert "alerts.yml: alert 'IngestionStale'" in sources
    assert "drilldown.json: variable 'project'" in sources
    for e in found:
        assert "$" not in e.expr, e


def test_substitution_is_regex_safe_and_refuses_exact_matchers() -> None:
    expr = 'sum(rate(m{pool=~"$pool", chair!~"${chair}"}[$__rate_interval]))'
    assert promql._substitute(expr, {}) == 'sum(rate(m{pool=~".*", chair!~".*"}[5m]))'
    assert promql._substitute(expr, {"pool": "a.b"}) == (
        'sum(rate(m{pool=~"a\\.b", chair!~".*"}[5m]))'
    )
    with pytest.raises(ValueError, match=r"\$pool outside a regex matcher"):
        promql._substitute('m{pool="$pool"}', {})


@pytest.mark.promtool
def test_every_expression_parses(promtool: Promtool, tmp_path: Path) -> None:
    """promtool parses the PromQL of each recording rule: one rule per expression."""
    found = promql.expressions()
    rules = tmp_path / "expressions.yml"

    def write(exprs: list[promql.Expression]) -> None:
        groups = [
            {"name": f"{i} {e.source}", "rules": [{"record": f"check:expr_{i}", "expr": e.expr}]}
            for i, e in enumerate(exprs)
        ]
        rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")

    write(found)
    result = promtool("check", "rules", rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(found)} rules found" in result.stdout

    # The check bites: one unbalanced parenthesis fails it.
    broken = found[0]._replace(expr=found[0].expr + ")")
    write([*found[1:], broken])
    result = promtool("check", "rules", rules)
    assert result.returncode != 0


def test_every_metric_and_label_used_is_in_the_contract() -> None:
    contract = promql.contract()
    problems = []
    for e in promql.expressions():
        names = promql.metric_names(e.expr)
        if not names:
            problems.append(f"{e.source}: no metric at all")
        problems += [f"{e.source}: unknown metric {n}" for n in sorted(names - set(contract))]
        for name, matchers in promql.selectors(e.expr):
            allowed = contract.get(name, frozenset()) | promql.TARGET_LABELS
            problems += [
                f"{e.source}: {name} has no label {label!r}"
                for label, _op, _value in matchers
                if name in contract and label not in allowed
            ]
    assert problems == []


def test_every_metric_of_the_contract_is_on_a_dashboard() -> None:
    used: set[str] = set()
    for path in promql.dashboard_files():
        for e in promql.dashboard_expressions(path):
            used |= promql.metric_names(e.expr)
    missing = sorted(set(promql.contract()) - used)
    assert missing == []


def test_the_contract_parser_reads_metrics_md() -> None:
    contract = promql.contract()
    assert contract["gpuhours_project_burn_rate"] == {"pool", "chair", "project", "window"}
    assert contract["gpuhours_reconciliation_lines"] == {"pool", "period", "status"}
    assert contract["gpuhours_scheduler_leader"] == frozenset()
    assert contract["gpuhours_http_request_duration_seconds_bucket"] == {
        "method",
        "route",
        "code",
        "le",
    }
    assert "gpuhours_http_request_duration_seconds" not in contract  # only its series
    assert len(contract) >= 35


def test_the_scanner_finds_metric_names_and_matchers() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route=~"/x{1,2}"}[5m])))'
        " / on (pool) group_left () max without (instance) (b offset 1h) + up * 1e3"
        ' + {__name__="c"} and time() - d atan2 NaN'
    )
    assert promql.metric_names(expr) == {"a_bucket", "b", "up", "c", "d"}
    assert promql.selectors(expr) == [
        ("a_bucket", [("route", "=~", "/x{1,2}")]),
        ("", [("__name__", "=", "c")]),
    ]
