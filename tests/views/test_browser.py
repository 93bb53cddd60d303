"""The report and run sheets in a real browser: no script errors, a rendered page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pts_optimiser.domain.safe import file_stems
from tests.views.test_hostile_views import (  # hostile: the hostile day, solved
    HOSTILE_ID,
    VEHICLES,
    hostile,  # noqa: F401
)
from tests.views.test_views import plan_dir  # noqa: F401  (the shared solved plan folder)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def _open(page: Path, screenshot: Path) -> str:
    """Load a page headless, offline; return what the browser logged."""
    result = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={screenshot.parent / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--window-size=1200,1600",
         f"--screenshot={screenshot}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    return result.stderr


@pytest.mark.parametrize("name", ["report.html", "runsheets/all.html", "../maps/overview.html"])
def test_page_renders_without_errors(plan_dir: Path, tmp_path: Path,  # noqa: F811
                                     name: str) -> None:
    """The page loads offline with no console error and its screenshot is not blank."""
    log = _open(plan_dir / name, tmp_path / "shot.png")
    assert "Uncaught" not in log and ":ERROR:CONSOLE" not in log, log
    shot = (tmp_path / "shot.png").read_bytes()
    assert shot.startswith(b"\x89PNG")
    assert len(shot) > 20_000  # a blank page compresses to a few kB


def _dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts have run (headless, offline)."""
    result = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    return result.stdout


@pytest.mark.parametrize("name", ["maps/overview.html", "hostile-map", "plan/runsheets/all.html",
                                  "plan/report.html"])
def test_hostile_text_runs_no_script(hostile: Path, tmp_path: Path,  # noqa: F811
                                     name: str) -> None:
    """Hostile ids, types and labels run no script in Chromium; maps still draw every stop."""
    if name == "hostile-map":
        name = f"maps/{file_stems(VEHICLES)[HOSTILE_ID]}.html"
    dom = _dom(hostile / name, tmp_path / "profile")
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None, dom[:500]
    assert "data-pwned" not in body.group(0)
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and "pwned" not in title.group(1).replace("data-pwned", "")
    if name.startswith("maps/"):
        markers = dom.count('class="stopicon ')
        assert markers == (2 * len(VEHICLES) if "overview" in name else 2)
