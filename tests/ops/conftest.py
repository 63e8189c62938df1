"""The ``promtool`` and ``prometheus`` fixtures: skipped with a reason when absent, except in CI
(which installs them: Debian's ``prometheus`` package has both)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Promtool = Callable[..., subprocess.CompletedProcess[str]]


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = (
            f"{name} not found: install Debian's `prometheus` package "
            "(apt-get install prometheus), as .ci/run does"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; in CI it must be present")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    binary = _binary("promtool")

    def run(
        *args: str | Path, cwd: Path | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd,
            check=False,
            input=stdin,
        )

    return run


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The path of the ``prometheus`` server binary."""
    return _binary("prometheus")
