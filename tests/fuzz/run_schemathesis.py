"""The long schemathesis run: the whole API of a real server, 1,000 examples per operation.

A script, not a test of the default run (which keeps the bounded in-process version,
``tests/api/test_schemathesis.py``). It starts ``gpuhours serve --demo`` on a free port (SQLite
in a temporary directory, or the PostgreSQL database given with ``--database-url``, which it
empties first), mints an admin token, and runs the schemathesis CLI (OpenAPI 3.1) over every
operation: the examples, coverage and fuzzing phases with ``--examples`` per operation, then
the stateful phase, which chains calls along the document's links (create -> read -> act).
It prints the counts per phase, the successes and failures per check and the server errors
found, and exits non-zero if any check failed. ``--checks`` takes schemathesis' check names,
comma-separated: ``not_a_server_error,status_code_conformance,response_schema_conformance``
also proves that every answer's status and body are the documented ones; with
``positive_data_acceptance`` (no valid request refused as malformed) the refusals of rules the
document states in words only are counted apart (``failure_stated_in_words``).

    python -m tests.fuzz.run_schemathesis [--examples 1000] [--checks not_a_server_error]
        [--database-url postgresql://postgres@127.0.0.1:5432/fuzz] [--phases ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from tests.fuzz.steering import stated_in_words

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, server: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"run_schemathesis: the server exited ({server.returncode})")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("run_schemathesis: the server did not become ready")


def _reset_postgres(url: str) -> None:
    from sqlalchemy import text

    from connectors.db.engine import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def _admin_token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [str(BIN / "gpuhours"), "token", "create", "--user", "admin", "--role", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"gph_[A-Za-z0-9_\-]+", out)
    if match is None:
        raise SystemExit(f"run_schemathesis: no token in {out!r}")
    return match.group(0)


def _schemathesis(args: argparse.Namespace, url: str, token: str, report: Path) -> int:
    command = [
        str(BIN / "st"),
        "run",
        f"{url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        args.checks,
        "--phases",
        args.phases,
        "--max-examples",
        str(args.examples),
        "--mode",
        "all",
        "--seed",
        str(args.seed),
        "--continue-on-failure",
        # The admin's token on every request: generated Authorization values would make
        # nearly every case a 401 and test nothing behind authentication.
        "--generation-with-security-parameters",
        "false",
        # Fuzzing revokeToken with small ids revokes the run's own token, after which every
        # answer is a 401 (its bad input is covered by tests/api/test_tokens.py).
        "--exclude-operation-id",
        "revokeToken",
        "--suppress-health-check",
        "all",
        "--workers",
        str(args.workers),
        "--report",
        "ndjson",
        "--report-dir",
        str(report),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.demo_hooks", "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, env=env, cwd=ROOT, check=False).returncode


def _refusal(interaction: dict[str, Any]) -> tuple[str, str]:
    """A refused valid request: ``("failure_stated_in_words", why)`` when the refusal is of
    a rule the document states in words only (``steering.STATED_IN_WORDS``), else
    ``("failure", why)``."""
    content = (interaction.get("response") or {}).get("content") or ""
    if isinstance(content, dict) and "$base64" in content:
        content = base64.b64decode(content["$base64"]).decode("utf-8", "replace")
    try:
        error = json.loads(content)["error"]
    except (TypeError, ValueError, KeyError):
        return "failure", str(content)[:200]
    if stated_in_words(error):
        return "failure_stated_in_words", error["message"]
    return "failure", str(error.get("message"))[:200]


def _summarise(report: Path) -> dict[str, object]:
    """Requests, server errors and failed checks per phase, and cases per operation, from the
    ndjson event report."""
    phases: dict[str, Counter[str]] = defaultdict(Counter)
    per_check: dict[str, Counter[str]] = defaultdict(Counter)
    per_operation: Counter[str] = Counter()
    errors: list[str] = []
    unexplained: list[str] = []
    for path in report.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line).get("ScenarioFinished")
            if event is None:
                continue
            counts, recorder = phases[event["phase"]], event["recorder"]
            counts["cases"] += len(recorder.get("cases", {}))
            for case_id, interaction in recorder.get("interactions", {}).items():
                status = (interaction.get("response") or {}).get("status_code", 0)
                counts["requests"] += 1
                counts[f"status_{status // 100}xx" if status != 429 else "status_429"] += 1
                if status >= 500:
                    counts["server_errors"] += 1
                    errors.append(
                        f"{status} {interaction['request']['method']} "
                        f"{interaction['request']['uri']} ({case_id})"
                    )
            for case_id, checks in recorder.get("checks", {}).items():
                counts["failed_checks"] += sum(c["status"] == "failure" for c in checks)
                for check in checks:
                    status = check["status"]
                    if check["name"] == "positive_data_acceptance" and status == "failure":
                        interaction = recorder.get("interactions", {}).get(case_id, {})
                        status, why = _refusal(interaction)
                        if status == "failure":
                            unexplained.append(f"{recorder['label']}: {why}")
                    per_check[check["name"]][status] += 1
            if event["phase"] != "stateful":
                per_operation[recorder["label"]] += len(recorder.get("cases", {}))
    fewest = sorted(per_operation.items(), key=lambda item: item[1])[:5]
    return {
        "phases": {name: dict(c) for name, c in phases.items()},
        "checks": {name: dict(c) for name, c in per_check.items()},
        "operations": len(per_operation),
        "fewest_cases": fewest,
        "server_errors": errors[:50],
        "positive_data_refused_unexplained": unexplained[:50],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--checks", default="not_a_server_error")
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seed", type=int, default=1)
    # One worker: two threads in schemathesis 4.32 on CPython 3.11 hit an internal
    # "AST constructor recursion depth mismatch" (a runtime error of the tool, not of the API).
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    data = Path(tempfile.mkdtemp(prefix="gpuhours-fuzz-"))
    port = _free_port()
    env = {
        **os.environ,
        "GPUHOURS_DATA_DIR": str(data),
        "GPUHOURS_PORT": str(port),
        "GPUHOURS_SCHEDULER": "0",
        "GPUHOURS_LOG_LEVEL": "warning",
        # Negative cases send broken Authorization headers: with the default throttle (10
        # failures a minute) every later request of the run would be a 429 and test nothing.
        "GPUHOURS_AUTH_FAILURES": "10000",
        "GPUHOURS_AUTH_WINDOW_SECONDS": "1",
    }
    if args.database_url:
        _reset_postgres(args.database_url)
        env["GPUHOURS_DATABASE_URL"] = args.database_url
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "gpuhours"), "serve", "--demo", "--no-scheduler"],
        env=env,
        cwd=data,
        stdout=subprocess.DEVNULL,
    )
    report = data / "report"
    started = time.monotonic()
    try:
        _wait_ready(url, server)
        rc = _schemathesis(args, url, _admin_token(env), report)
        counts = _summarise(report)
    finally:
        server.terminate()
        server.wait(timeout=30)
    counts["seconds"] = round(time.monotonic() - started)
    counts["schemathesis_exit"] = rc
    print(json.dumps(counts, indent=1))
    if not os.environ.get("KEEP"):
        shutil.rmtree(data, ignore_errors=True)
    return 1 if rc != 0 or counts["server_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
