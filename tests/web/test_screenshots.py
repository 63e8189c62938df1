"""The README's screenshots, made by the browser against a real ``gpuhours serve --demo``.

Every run takes them (into a temporary directory: a page that cannot be drawn fails here);
``bash deploy/dev.sh screenshots`` runs this test with ``GPUHOURS_SCREENSHOTS`` set to
``tests/web/screenshots``, the directory the README shows them from, to refresh them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Server, signed_in

pytestmark = pytest.mark.slow

#: (who, page, file): the main page of each role.
SHOTS = [
    ("alice", "/portal/projects/proj-thesis-01", "researcher-project.png"),
    ("alice", "/portal/requests/new", "researcher-request-form.png"),
    ("eng-marie", "/portal/burn", "engineer-burn-rates.png"),
    ("eng-marie", "/portal/unmapped", "engineer-unmapped-accounts.png"),
    ("admin", "/portal/queue", "admin-request-queue.png"),
    ("admin", "/portal/quarter?pool=enact-local", "admin-quarter.png"),
]


def test_the_readme_screenshots_are_drawn_from_the_demo(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    out = Path(os.environ.get("GPUHOURS_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    pages: dict[str, Any] = {}
    for who, path, name in SHOTS:
        if who not in pages:
            pages[who] = signed_in(browser, server, who, viewport={"width": 1200, "height": 760})
        page = pages[who]
        answer = page.goto(server.url + path)
        assert answer is not None and answer.status == 200, path
        page.screenshot(path=str(out / name))
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / name).stat().st_size > 10_000, f"{name}: an empty page?"
    for page in pages.values():
        page.context.close()
    assert server.blocked == []
