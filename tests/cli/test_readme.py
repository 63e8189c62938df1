"""The README is tested: its shell blocks marked ``<!-- tested: ... -->`` run against a served
demo, so the documentation cannot drift from what gpuhours does.

``gpuhours serve --demo`` is started the way ``bash deploy/dev.sh demo`` starts it (SQLite in
``./data``, Europe/Paris) on a port of its own; the blocks run in one bash, in the demo's
directory, with ``TOKEN`` the admin token the demo printed and ``127.0.0.1:8000`` replaced by
the real address. Every command must exit 0 with nothing on stderr, and print what it says:
JSON for the API and ``-o json``, CSV for ``format=csv`` and ``-o csv``, a table otherwise.
Then a second start of the demo must revoke the first start's token.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.scheduler.test_serve import free_port, healthy

REPO = Path(__file__).resolve().parents[2]
MARK = "<!-- tested:"
DEMO_ADDRESS = "127.0.0.1:8000"


def marked_blocks(readme: str) -> list[str]:
    """The ``sh`` blocks right after a ``<!-- tested: ... -->`` line."""
    found = re.findall(r"^<!-- tested:[^\n]*-->\n```sh\n(.*?)^```$", readme, re.M | re.S)
    return list(found)


def commands(block: str) -> list[str]:
    """One command per entry: continuation lines joined, comments and ``TOKEN=`` dropped."""
    joined = re.sub(r"\\\n\s*", "", block)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if line and not line.startswith("#") and not line.startswith("TOKEN="):
            out.append(line)
    return out


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    log: Path
    port: int

    def token(self, timeout: float = 180.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"demo admin token: (gph_\S+)", self.log.read_text())
            if found:
                return found.group(1)
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.2)
        raise AssertionError(f"no demo token printed: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def environment(home: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GPUHOURS_")}
    bin_dir = str(Path(sys.executable).parent)
    return {
        **base,
        "PATH": f"{bin_dir}:{base.get('PATH', '')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }


def start_demo(home: Path, port: int, name: str) -> Demo:
    env = {
        **environment(home),
        "GPUHOURS_DATA_DIR": str(home / "data"),
        "GPUHOURS_TIME_ZONE": "Europe/Paris",
    }
    log = home / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "connectors.cli", "serve", "--demo", "--no-scheduler",
             "--port", str(port)],
            cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Demo(process, log, port)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "demo").mkdir()
    return tmp_path / "demo"


def status(port: int, token: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def run_blocks(home: Path, demo: Demo, token: str, lines: list[str]) -> list[tuple[int, str, str]]:
    """Each line in one bash, its exit code, stdout and stderr kept apart."""
    script = [
        "set -u -o pipefail",
        'curl() { command curl -sS --fail-with-body "$@"; }',
        f"export TOKEN={token}",
    ]
    for i, line in enumerate(lines):
        script.append(f"{{ {line} ; }} > out.{i} 2> err.{i}; echo $? > rc.{i}")
    subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=home, env=environment(home), timeout=600,
        check=False,
    )  # fmt: skip
    return [
        (
            int((home / f"rc.{i}").read_text() or "-1"),
            (home / f"out.{i}").read_text(),
            (home / f"err.{i}").read_text(),
        )
        for i in range(len(lines))
    ]


def check_shape(line: str, out: str) -> None:
    if re.match(r"^[A-Z_]+=\$\(", line):  # kept in a variable: the next commands use it
        return
    if line.startswith("curl") and "/metrics" in line:
        assert "# TYPE " in out, out[:500]
    elif line.startswith("curl") and "format=csv" in line:
        assert len(list(csv.reader(io.StringIO(out)))) >= 2, out[:500]
    elif line.startswith("curl"):
        json.loads(out)
    elif "-o json" in line:
        assert json.loads(out), out[:500]
    elif "-o csv" in line:
        rows = list(csv.reader(io.StringIO(out)))
        assert len(rows) >= 2 and rows[0], out[:500]
    elif re.search(r"\b(list|whoami)\b", line):
        header = out.splitlines()[0]
        assert header == header.upper() and header.split(), out[:500]


@pytest.mark.slow
def test_the_readme_examples_run_against_the_demo(home: Path) -> None:
    blocks = marked_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the README's tested blocks are gone"
    port = free_port()
    lines = [c.replace(DEMO_ADDRESS, f"127.0.0.1:{port}") for b in blocks for c in commands(b)]
    assert any(line.startswith("curl") for line in lines)
    assert any("gpuhours login" in line for line in lines)

    demo = start_demo(home, port, "first")
    try:
        first = demo.token()
        assert healthy(port), demo.log.read_text()
        results = run_blocks(home, demo, first, lines)
    finally:
        demo.stop()
    for line, (code, out, err) in zip(lines, results, strict=True):
        assert code == 0, (line, out[-1000:], err)
        assert err == "", (line, err)
        check_shape(line, out)

    # each start revokes the previous start's token
    demo = start_demo(home, port, "second")
    try:
        second = demo.token()
        assert healthy(port), demo.log.read_text()
        assert second != first
        assert [status(port, first), status(port, second)] == [401, 200]
    finally:
        demo.stop()
