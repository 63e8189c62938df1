"""Every PromQL expression of the dashboards and alert rules, and the metric contract.

``expressions()`` returns one ``Expression(source, expr)`` per dashboard panel target, per
dashboard query variable and per alert rule, ready to send to a Prometheus:

- ``source`` names where it comes from: ``"overview.json: panel 4 'Pool utilisation' (A)"``,
  ``"drilldown.json: variable 'chair'"``, ``"alerts.yml: alert 'IngestionStale'"``.
- Grafana's template variables are substituted. A dashboard variable (``$pool``, ``${pool}``,
  ``[[pool]]``) may appear only as the value of a regex matcher (``pool=~"$pool"``); it becomes
  ``.*`` (the dashboards' "All" value, which also matches the empty label), or
  ``re.escape(value)`` when ``values={"pool": "national"}`` is given. A variable anywhere
  else raises ``ValueError``, so ``.*`` can never land in an exact matcher. Grafana's interval
  variables become fixed durations: ``$__rate_interval`` -> ``5m``, ``$__interval`` -> ``1m``,
  ``$__range`` -> ``1h`` (see ``INTERVALS``).
- A query variable ``label_values(<selector>, <label>)`` yields its ``<selector>``.

Alert expressions are returned as written, thresholds included: most of them return nothing
while everything is healthy. ``alert_rules()`` gives the whole rules when the name is needed.

``contract()`` parses the tables of ``dashboards/METRICS.md`` into ``{metric: labels}``;
histograms also get ``_bucket`` (with ``le``), ``_sum`` and ``_count``. ``metric_names()``
and ``selectors()`` find the metric names and label matchers an expression uses.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
ALERTS = DASHBOARDS / "alerts.yml"
ALERTS_TEST = DASHBOARDS / "alerts_test.yml"
METRICS_MD = DASHBOARDS / "METRICS.md"

DATASOURCE_VAR = "datasource"
INTERVALS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
#: Labels Prometheus attaches to every scraped series, whatever the contract says.
TARGET_LABELS = frozenset({"job", "instance"})


class Expression(NamedTuple):
    source: str
    expr: str


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    templating: Mapping[str, Any] = dashboard.get("templating", {})
    return list(templating.get("list", []))


def variable_query(variable: Mapping[str, Any]) -> str:
    query = variable.get("query", "")
    if isinstance(query, Mapping):
        query = query.get("query", "")
    return str(query)


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*\w+\s*\)\s*$", re.S)
_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_REGEX_VALUE = re.compile(r'(=~|!~)\s*"((?:[^"\\]|\\.)*)"')


def _substitute(expr: str, values: Mapping[str, str]) -> str:
    def interval(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return INTERVALS.get(name, m.group(0))

    expr = _VAR.sub(interval, expr)

    def in_regex(m: re.Match[str]) -> str:
        def var(v: re.Match[str]) -> str:
            name = v.group(1) or v.group(2) or v.group(3)
            value = values.get(name)
            return ".*" if value is None else re.escape(value)

        return f'{m.group(1)}"{_VAR.sub(var, m.group(2))}"'

    expr = _REGEX_VALUE.sub(in_regex, expr)
    leftover = _VAR.search(expr)
    if leftover:
        raise ValueError(
            f"template variable {leftover.group(0)} outside a regex matcher in: {expr}"
        )
    return expr


def dashboard_expressions(path: Path, values: Mapping[str, str] | None = None) -> list[Expression]:
    values = values or {}
    dashboard = load_dashboard(path)
    out: list[Expression] = []
    for variable in variables(dashboard):
        if variable.get("type") != "query":
            continue
        m = _LABEL_VALUES.match(variable_query(variable))
        if m is None:
            raise ValueError(f"{path.name}: variable {variable.get('name')!r}: not label_values()")
        source = f"{path.name}: variable {variable.get('name')!r}"
        out.append(Expression(source, _substitute(m.group("selector"), values)))
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            title, ref = panel.get("title"), target.get("refId")
            source = f"{path.name}: panel {panel.get('id')} {title!r} ({ref})"
            out.append(Expression(source, _substitute(target["expr"], values)))
    return out


def alert_rules(path: Path = ALERTS) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def alert_expressions(path: Path = ALERTS) -> list[Expression]:
    out = []
    for rule in alert_rules(path):
        kind, name = ("alert", rule["alert"]) if "alert" in rule else ("record", rule["record"])
        out.append(Expression(f"{path.name}: {kind} {name!r}", str(rule["expr"]).strip()))
    return out


def expressions(values: Mapping[str, str] | None = None) -> list[Expression]:
    """Every (source, expression) of every dashboard (panels, variables) and alert rule."""
    out: list[Expression] = []
    for path in dashboard_files():
        out.extend(dashboard_expressions(path, values))
    out.extend(alert_expressions())
    return out


# ----------------------------------------------------------------------- metric contract
_ROW = re.compile(
    r"^\|\s*`(?P<name>[a-zA-Z_:][\w:]*)`\s*\|\s*(?P<type>\w+)\s*\|(?P<labels>[^|]*)\|"
)


def contract(path: Path = METRICS_MD) -> dict[str, frozenset[str]]:
    """``{metric name: label names}`` from the tables of METRICS.md."""
    out: dict[str, frozenset[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line.strip())
        if m is None:
            continue
        raw = re.sub(r"\([^)]*\)", "", m.group("labels"))  # drop "(`7d`, `30d`)" value lists
        labels = frozenset(
            part.strip().strip("`")
            for part in raw.split(",")
            if re.fullmatch(r"\s*`?[a-zA-Z_]\w*`?\s*", part)
        )
        name, kind = m.group("name"), m.group("type")
        if kind == "histogram":
            out[f"{name}_bucket"] = labels | {"le"}
            out[f"{name}_sum"] = labels
            out[f"{name}_count"] = labels
        else:
            out[name] = labels
    return out


# --------------------------------------------------------------- a small PromQL scanner
KEYWORDS = frozenset(
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
        "group_right", "offset", "bool", "inf", "nan", "atan2",
    }
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_SELECTOR = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)?\s*\{([^{}]*)\}")
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?!\w)")
_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


def _blank_strings(expr: str) -> str:
    return _STRING.sub(lambda m: '"' + "_" * (len(m.group(0)) - 2) + '"', expr)


def selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """``[(metric name or "", [(label, op, value), ...])]`` of every ``{...}`` selector."""
    blank = _blank_strings(expr)  # same length: braces and commas in strings are hidden
    out = []
    for m in _SELECTOR.finditer(blank):
        start, end = m.span(2)
        cuts = [start - 1, *(start + i for i, c in enumerate(blank[start:end]) if c == ","), end]
        matchers = []
        for a, b in itertools.pairwise(cuts):
            part = expr[a + 1 : b]
            if not part.strip():
                continue  # a trailing comma
            mm = _MATCHER.fullmatch(part)
            if mm is None:
                raise ValueError(f"cannot read matcher {part!r} in {expr!r}")
            matchers.append((mm.group(1), mm.group(2), mm.group(3)))
        out.append((m.group(1) or "", matchers))
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are neither functions,
    aggregations, keywords, label names (in ``{}`` or grouping clauses) nor durations."""
    names: set[str] = set()
    for name, matchers in selectors(expr):
        if name:
            names.add(name)
        names.update(value for label, _op, value in matchers if label == "__name__")
    text = _blank_strings(expr)
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", text)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    for m in _IDENT.finditer(text):
        ident = m.group(1)
        following = text[m.end() :].lstrip()
        if following.startswith("(") or ident.lower() in KEYWORDS:
            continue
        names.add(ident)
    return names
