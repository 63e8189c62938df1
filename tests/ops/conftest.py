"""The ``promtool`` fixture: skipped with a reason when absent, except in CI (which installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Promtool = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    path = shutil.which("promtool")
    if path is None:
        reason = (
            "promtool not found: install Debian's `prometheus` package "
            "(apt-get install prometheus), as .ci/run does"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; in CI it must be present")
        pytest.skip(reason)
    binary = path

    def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd,
            check=False,
        )

    return run
