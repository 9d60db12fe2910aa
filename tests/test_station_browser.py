"""The review station in a real browser: headless Debian Chromium driven by playwright,
against uvicorn on 127.0.0.1. Only what needs a browser is here: the keyboard loop (type +
Enter, Tab, Alt+P) and the swap of the next field without a page load.

Waits are locators and `expect` (they retry in playwright's own injected code), never
`page.wait_for_function`: its predicate is run with `eval`, which the station's CSP
(`default-src 'self'`) forbids, so it fails whenever the condition is not already true at its
first check, i.e. on a loaded machine (issue 11). `page.evaluate` runs once over the DevTools
protocol and is not held to the CSP: it is used only to act or to read, not to wait."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

import station_fixtures as T
from station.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(T.CHROMIUM):
        pytest.fail(f"{T.CHROMIUM} is missing: scripts/install.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=T.CHROMIUM, args=T.CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(tmp_path, tmp_path_factory):
    staff = T.staff_database(tmp_path_factory.getbasetemp() / "browser-staff.db")
    app = create_app(T.copy_database(staff, tmp_path / "db"), tmp_path / "data")
    registry = app.state.station.registry
    file_no = T.register_mail_envelope(registry, 1)
    with T.LiveServer(app) as server:
        yield server, registry, file_no
    registry.close()


def log_in(browser, server, name: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server.url}/login?next=/review")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", T.PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)  # the session cookie is set from here on
    return page


def test_correct_a_field_with_the_keyboard(browser, site):
    server, registry, file_no = site
    page = log_in(browser, server, "remi")
    page.wait_for_selector('.field-card[data-field="family_name"]')
    expect(page.locator("#value")).to_be_focused()
    page.evaluate("window.__same_page = true")  # survives only if no page load happens
    page.keyboard.type("GAGNÉ-TREMBLAY")  # the reading is selected: typing replaces it
    page.keyboard.press("Enter")
    page.wait_for_selector('.field-card[data-field="birth_date"]')
    assert page.evaluate("window.__same_page") is True
    expect(page.locator("#value")).to_be_focused()
    row = next(r for r in registry.export_rows() if r["file_no"] == file_no)
    assert row["fields"]["family_name"] == {"value": "GAGNÉ-TREMBLAY", "source": "manual", "confidence": 1.0,
                                            "needs_review": False}
    # Enter alone accepts the machine's reading of the next field
    page.keyboard.press("Enter")
    page.wait_for_selector('.field-card[data-field="sex"]')
    row = next(r for r in registry.export_rows() if r["file_no"] == file_no)
    assert row["fields"]["birth_date"]["source"] == "manual" and row["fields"]["birth_date"]["value"] == "1990-04-11"
    page.close()


def test_tab_postpones_and_alt_p_shows_the_whole_page(browser, site):
    server, registry, file_no = site
    page = log_in(browser, server, "remi")
    page.wait_for_selector('.field-card[data-field="family_name"]')
    page.keyboard.press("Alt+P")
    page.wait_for_selector("#page-dialog[open] .field-outline")
    expect(page.locator("#page-dialog img")).not_to_have_js_property("naturalWidth", 0)  # the scan is loaded
    page.keyboard.press("Escape")
    page.wait_for_selector("#page-dialog", state="hidden")
    expect(page.locator("#value")).to_be_focused()
    page.keyboard.press("Tab")
    page.wait_for_selector('.field-card[data-field="birth_date"]')
    assert any(e["field"] == "family_name" for e in registry.review_list())  # postponed, still waiting
    # outside the input, plain P opens the page too
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("p")
    page.wait_for_selector("#page-dialog[open]")
    page.close()


def test_a_reviewer_is_refused_a_supervisors_action(browser, site):
    server, registry, file_no = site
    page = log_in(browser, server, "remi")
    page.goto(f"{server.url}/applications/{file_no}")
    assert page.locator(".postmark-form").count() == 0
    assert "Only a supervisor may correct the postmark" in page.content()
    # even a hand-made request with a valid CSRF token is refused by the server
    status = page.evaluate("""async (fileNo) => {
        const token = document.querySelector('input[name=csrf_token]').value;
        const body = new URLSearchParams({postmark_date: '2026-10-01', reason: 'forged', csrf_token: token});
        const r = await fetch('/applications/' + fileNo + '/postmark', {method: 'POST', body});
        return r.status;
    }""", file_no)
    assert status == 403
    assert registry.application(file_no)["postmark_date"] == "2026-10-06"
    page.close()


def test_the_loser_of_a_race_sees_what_changed(browser, site):
    server, registry, file_no = site
    page = log_in(browser, server, "remi")
    page.wait_for_selector('.field-card[data-field="family_name"]')
    version = registry.application(file_no)["fields"]["family_name"]["version"]
    registry.review_set(file_no, "family_name", "GAGNÉ-TREMBLAY", by="rachel", expected_version=version)
    page.keyboard.type("GAGNE")
    page.keyboard.press("Enter")
    page.wait_for_selector(".flash-conflict")
    text = page.inner_text(".flash-conflict")
    assert "rachel" in text and "GAGNÉ-TREMBLAY" in text
    assert registry.application(file_no)["fields"]["family_name"]["value"] == "GAGNÉ-TREMBLAY"
    page.close()


def test_group_verification_with_the_keyboard(browser, tmp_path, tmp_path_factory):
    staff = T.staff_database(tmp_path_factory.getbasetemp() / "browser-staff.db")
    app = create_app(T.copy_database(staff, tmp_path / "db"), tmp_path / "data")
    registry = app.state.station.registry
    files = [T.register_mail_envelope(registry, n, doubtful={"citizenship": "MAROC", "passport_number": f"GV{n:07d}"})
             for n in range(1, 4)]
    with T.LiveServer(app) as server:
        page = log_in(browser, server, "remi")
        page.goto(f"{server.url}/review/groups")
        expect(page.locator(":focus")).to_have_attribute("type", "submit")  # the biggest group's button
        page.keyboard.press("Enter")
        page.wait_for_url("**/review/group?*")
        page.wait_for_selector(".group-item")
        assert page.locator(".group-item").count() == 3
        expect(page.locator(":focus")).to_have_attribute("type", "submit")  # confirm has the focus
        page.keyboard.press("Shift+Tab")  # back to the last field's tick
        page.keyboard.press("Space")
        expect(page.locator("input[name=confirm]:checked")).to_have_count(2)
        unticked = page.locator("input[name=confirm]:focus").get_attribute("value")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.wait_for_selector(f'.field-card[data-file-no="{unticked}"][data-field="citizenship"]')  # it comes next, alone
        page.close()
    for file_no in files:
        field = registry.application(file_no)["fields"]["citizenship"]
        assert field["needs_review"] is (file_no == unticked)
    registry.close()
