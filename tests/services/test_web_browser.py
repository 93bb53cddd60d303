"""The planning board in a real browser (Playwright driving Debian's Chromium).

Sign in, upload a day, plan it, take a journey off its run and drag it onto another where
it fits, see a refused one explained, take a new booking's best slot, lock a run, re-plan,
publish; no console error.
Screenshots are kept under the test's tmp_path.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from pts_optimiser.services.web.app import create_app
from pts_optimiser.services.web.store import Accounts
from tests.services.test_web_api import PASSWORD, _free_port, tiny_day

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 over a fresh data folder; its base URL."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    Accounts(tmp_path / "data").add("ann", PASSWORD, "coordinator")
    port = _free_port()
    app = uvicorn.Server(uvicorn.Config(create_app(tmp_path / "data"), host="127.0.0.1",
                                        port=port, log_level="warning"))
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not app.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    app.should_exit = True
    thread.join(timeout=10)


def _signed_in_with_files(page: Any, server: str, day: Any) -> None:
    """Signed in as the coordinator, on the upload page with the day's two files chosen."""
    page.goto(f"{server}/")
    assert page.url.endswith("/login")
    page.get_by_label("Name").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/")
    page.get_by_label("Bookings (CSV)").set_input_files(str(day.bookings))
    page.get_by_label("Fleet (CSV)").set_input_files(str(day.fleet))


def _ready(page: Any) -> None:
    """Wait for the page's script: keys and drops before it has run do nothing."""
    page.wait_for_selector("body[data-ready]", state="attached")


def _script_held(page: Any) -> Any:
    """Reload the page with its script held back; the function that lets it go."""
    held: list[Any] = []

    def hold(route: Any) -> None:  # Playwright marks its handlers: a function of ours
        held.append(route)
    page.route("**/static/board.js", hold)
    page.reload(wait_until="commit")
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert held, "the page never asked for its script"

    def let_go() -> None:
        held[0].continue_()
        page.wait_for_load_state("load")
        page.unroute("**/static/board.js")
    return let_go


def test_board_in_a_browser(server: str, tmp_path: Path) -> None:
    """A coordinator's day on the board, start to publish, with no script error."""
    day = tiny_day(tmp_path / "in")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def shot(name: str) -> None:
            page.screenshot(path=str(tmp_path / f"{name}.png"))

        _signed_in_with_files(page, server, day)
        shot("1-upload")
        page.get_by_role("button", name="Upload").click()
        page.wait_for_url("**/days/**")
        page.get_by_label("Seconds to plan").fill("3")
        page.get_by_role("button", name="Plan the day").click()
        page.wait_for_selector(".run", timeout=90_000)
        _ready(page)
        shot("2-planned")

        # Take a planned journey off its run, then drag it onto the other run.
        page.locator(".stop.pickup").first.press("Enter")  # by keyboard: markers may touch
        journey = page.locator(".stop.selected").first.get_attribute("data-journey")
        assert journey
        here = page.locator(f'.run:has(.stop[data-journey="{journey}"])').get_attribute(
            "data-vehicle")
        page.get_by_role("button", name="Take the selected journey off its run").click()
        item = page.locator(f'li.journey[data-journey="{journey}"]')
        item.wait_for()
        _ready(page)
        other = "CAR2" if here == "CAR1" else "CAR1"
        item.drag_to(page.locator(f'.run[data-vehicle="{other}"] .axis'))
        page.wait_for_selector(f'.run[data-vehicle="{other}"] .stop[data-journey="{journey}"]')
        _ready(page)
        assert page.locator(f'li.journey[data-journey="{journey}"]').count() == 0
        shot("3-dragged")

        # The oxygen patient cannot go on a car: the rule is shown.
        page.locator('li.journey[data-journey="JO"]').drag_to(
            page.locator(f'.run[data-vehicle="{other}"] .axis'))
        page.wait_for_selector("#message:text('skill')")
        assert "oxygen" in page.locator("#message").inner_text()
        shot("4-refused")

        # A new booking: the best slots without re-planning, the first accepted.
        page.get_by_label("Journey id").fill("NEW1")
        page.get_by_label("Patient id").fill("PN")
        page.get_by_label("Pickup latitude").fill("52.92")
        page.get_by_label("longitude").fill("-1.47")
        page.get_by_label("Drop-off site code").fill("RDH")
        page.get_by_label("Appointment").fill("13:00")
        page.get_by_role("button", name="Find the best slots").click()
        page.locator("#slots li").first.wait_for()
        shot("5-whatif")
        page.locator("#slots li button").first.click()
        page.wait_for_selector('.stop.pickup[data-journey="NEW1"]')

        # Lock a run, re-plan the rest around it, publish.
        page.locator(f'.run[data-vehicle="{other}"] button.lock').click()
        page.wait_for_selector(f'.run.locked[data-vehicle="{other}"]')
        locked_at = int(page.locator("#board").get_attribute("data-version") or 0)
        # The page has reloaded after every action since: the seconds chosen stay.
        # The page is drawn before its script puts the kept seconds back: wait for the script.
        sync_api.expect(page.get_by_label("Seconds to plan")).to_have_value("3")
        page.get_by_role("button", name="Re-plan the rest (keeps locks)").click()
        page.wait_for_selector(f'#board[data-status="planned"]:not([data-version="{locked_at}"])',
                               timeout=90_000)
        assert page.locator(f'.run.locked[data-vehicle="{other}"] '
                            f'.stop.pickup[data-journey="{journey}"]').count() == 1
        shot("6-replanned")
        page.get_by_role("button", name="Publish").click()
        page.wait_for_selector("#message:text('Published')", timeout=60_000)
        shot("7-published")
        browser.close()
    # The refused assignment's 409 is the API's answer (Chromium logs any 4xx it fetches).
    assert [e for e in errors if "status of 409" not in e] == [], errors
    assert all((tmp_path / f"{n}.png").stat().st_size > 5_000 for n in
               ("1-upload", "2-planned", "3-dragged", "4-refused", "5-whatif",
                "6-replanned", "7-published"))


def test_seconds_typed_before_the_script_runs_are_kept(server: str, tmp_path: Path) -> None:
    """Seconds typed before the page's script runs (a slow machine) stay after a reload.

    As seconds typed later do. Before, the script only kept what was typed once it ran: the
    day was planned with the seconds typed, and the field showed 30 again after reloading.
    """
    day = tiny_day(tmp_path / "in")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        _signed_in_with_files(page, server, day)
        page.get_by_role("button", name="Upload").click()
        page.wait_for_url("**/days/**")
        page.wait_for_load_state("load")
        let_go = _script_held(page)
        page.get_by_label("Seconds to plan").fill("7")
        let_go()
        page.reload()
        sync_api.expect(page.get_by_label("Seconds to plan")).to_have_value("7")
        browser.close()


def _sign_in(page: Any, server: str) -> None:
    page.goto(f"{server}/login")
    page.get_by_label("Name").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/")


def test_two_coordinators_a_locked_journey_and_a_session_that_ended(server: str,
                                                                     tmp_path: Path) -> None:
    """The page after a change made meanwhile, on a locked journey, after signing out.

    Before 2026-12-07: a change refused as stale only said so, and every change after it
    from that page was refused the same way (docs/board.md says the page reloads); a
    locked journey had no Unlock on the page; a change after the session ended said
    "Failed: 401" (an upload: "fix these and upload again" over an empty table).
    """
    day = tiny_day(tmp_path / "in")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        first = browser.new_context().new_page()
        _signed_in_with_files(first, server, day)
        first.get_by_role("button", name="Upload").click()
        first.wait_for_url("**/days/**")
        first.get_by_label("Seconds to plan").fill("3")
        first.get_by_role("button", name="Plan the day").click()
        first.wait_for_selector(".run", timeout=90_000)
        _ready(first)
        second = browser.new_context().new_page()
        _sign_in(second, server)
        second.goto(first.url)
        second.wait_for_selector(".run")
        seen = second.locator("#board").get_attribute("data-version")

        # Lock a journey to its run, then unlock it from the page.
        first.locator(".stop.pickup").first.press("Enter")
        journey = first.locator(".stop.selected").first.get_attribute("data-journey")
        first.get_by_role("button", name="Lock the selected journey to its run").click()
        first.wait_for_selector(f'.stop.pickup.locked[data-journey="{journey}"]')
        _ready(first)
        first.locator(f'.stop.pickup[data-journey="{journey}"]').press("Enter")
        first.get_by_role("button", name="Unlock the selected journey").click()
        first.wait_for_selector(f'.stop.pickup:not(.locked)[data-journey="{journey}"]')
        now = first.locator("#board").get_attribute("data-version")
        assert now != seen

        # The second page, two versions behind, is reloaded by its refused change.
        second.locator(".run button.lock").first.click()
        second.wait_for_selector(f'#board[data-version="{now}"]')
        assert second.locator(".run.locked").count() == 0  # the change was not made

        # Signed out meanwhile: the next change goes to the sign-in page.
        second.context.clear_cookies()
        second.get_by_role("button", name="Undo").click()
        second.wait_for_url(f"{server}/login")
        browser.close()


def test_controls_wait_for_the_script(server: str, tmp_path: Path) -> None:
    """Until the page's script has run, its buttons are disabled, then they work.

    Before, a click in that moment (a slow machine, a busy server) did nothing, and Enter in
    the what-if form put the new patient's details in the page's own address.
    """
    day = tiny_day(tmp_path / "in")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        _signed_in_with_files(page, server, day)
        let_go = _script_held(page)
        upload = page.get_by_role("button", name="Upload")
        sync_api.expect(upload).to_be_disabled()
        let_go()
        page.get_by_label("Bookings (CSV)").set_input_files(str(day.bookings))
        page.get_by_label("Fleet (CSV)").set_input_files(str(day.fleet))
        upload.click()
        page.wait_for_url("**/days/**")
        page.wait_for_load_state("load")
        let_go = _script_held(page)
        plan = page.get_by_role("button", name="Plan the day")
        sync_api.expect(plan).to_be_disabled()
        let_go()
        page.get_by_label("Seconds to plan").fill("1")
        plan.click()
        page.wait_for_selector(".run", timeout=90_000)
        _ready(page)
        board = page.url
        let_go = _script_held(page)
        page.get_by_label("Patient id").wait_for(state="attached")
        sync_api.expect(page.get_by_label("Patient id")).to_be_disabled()
        sync_api.expect(page.get_by_role("button", name="Find the best slots")).to_be_disabled()
        let_go()
        for field, value in (("Journey id", "NEW1"), ("Patient id", "PN"),
                             ("Pickup latitude", "52.92"), ("longitude", "-1.47"),
                             ("Drop-off site code", "RDH"), ("Appointment", "13:00")):
            page.get_by_label(field).fill(value)
        page.get_by_label("Appointment").press("Enter")  # the script's: asks the API
        page.locator("#slots li").first.wait_for()
        assert page.url == board
        browser.close()
