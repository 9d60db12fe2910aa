"""The review station in a real browser: headless Debian Chromium driven by playwright,
against uvicorn on 127.0.0.1. Only what needs a browser is here: the keyboard loop (type +
Enter, Tab, Alt+P) and the swap of the next field without a page load.

Waits are locators and `expect` (they retry in playwright's own injected code), never
`page.wait_for_function`: its predicate is run with `eval`, which the station's CSP
(`default-src 'self'`) forbids, so it fails whenever the condition is not already true at its
first check, i.e. on a loaded machine (issue 11). `page.evaluate` runs once over the DevTools
protocol and is not held to the CSP: it is used only to act or to read, not to wait."""

from __future__ import annotations

from pathlib import Path
from datetime import date

import pytest
from playwright.sync_api import expect

import station_fixtures as T
from station.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]


@pytest.fixture
def site(tmp_path, tmp_path_factory):
    staff = T.staff_database(tmp_path_factory.getbasetemp() / "browser-staff.db")
    app = create_app(T.copy_database(staff, tmp_path / "db"), tmp_path / "data")
    registry = app.state.station.registry
    file_no = T.register_mail_envelope(registry, 1)
    with T.LiveServer(app) as server:
        yield server, registry, file_no
    registry.close()


AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page) -> list[dict]:
    """What axe-core finds on the page as it is now (WCAG 2.1 A and AA rules)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: scripts/install.sh installs axe-core with npm")
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    return [{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]]


def register_a_doubtful_test_date(registry, serial: int) -> str:
    """A file whose language test date was read 2073-01-74, the reader's runners-up making 2023-01-24."""
    import json
    from dataclasses import replace

    reading = T.envelope_reading(serial, doubtful={"french_test_date": "2073-01-74"})
    cells = [[c, 0.55 if i in (2, 6) else 0.99, [["2" if i in (2, 6) else "9", 0.4 if i in (2, 6) else 0.001]]]
             for i, c in enumerate("20730174")]
    reading = replace(reading, fields=tuple(replace(f, evidence=json.dumps({"cells": cells})) if f.name == "french_test_date" else f
                                            for f in reading.fields))
    return registry.register_mail(reading, postmark=date(2026, 9, 1), received=date(2026, 9, 3)).file_no


def type_over_and_save(page, field: str, text: str) -> None:
    """On the card of `field`: Ctrl+A, the text, Enter."""
    page.wait_for_selector(f'.field-card[data-field="{field}"]')
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def log_in(browser, server, name: str, *, checked: bool = False):
    # checked: bypass_csp only lets the test inject axe-core; the pages still send the station's CSP.
    page = browser.new_context(bypass_csp=checked, viewport={"width": 1280, "height": 900}).new_page()
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
    page.keyboard.press("Control+A")  # select all: typing replaces the reading
    page.keyboard.type("GAGNÉ-TREMBLAY")
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


def test_a_reading_is_edited_in_place_with_the_cursor_at_its_end(browser, site):
    from playwright.sync_api import expect

    server, registry, file_no = site
    page = log_in(browser, server, "remi")
    page.wait_for_selector('.field-card[data-field="family_name"]')
    # GAGNE-TREMELAY -> GAGNE-TREMBLAY: three arrows, one Backspace, one letter, Enter
    for key in ("ArrowLeft", "ArrowLeft", "ArrowLeft", "Backspace", "B"):
        page.keyboard.press(key)
    expect(page.locator("#value")).to_have_value("GAGNE-TREMBLAY")
    page.keyboard.press("Enter")
    page.wait_for_selector('.field-card[data-field="birth_date"]')
    assert registry.application(file_no)["fields"]["family_name"]["value"] == "GAGNE-TREMBLAY"
    page.keyboard.press("Home")
    page.keyboard.press("F2")  # back to the end
    page.keyboard.press("Backspace")
    page.keyboard.type("7")
    expect(page.locator("#value")).to_have_value("1990-04-17")
    assert "Ctrl" in page.inner_text(".keymap") and "F2" in page.inner_text(".keymap")
    page.close()


def test_accented_capitals_by_alt_letter_and_by_click(browser, site):
    from playwright.sync_api import expect

    server, registry, file_no = site
    page = log_in(browser, server, "remi")
    page.wait_for_selector('.field-card[data-field="family_name"]')
    value = page.locator("#value")
    page.keyboard.press("Control+A")
    page.keyboard.type("GAGN")
    page.keyboard.press("Alt+E")
    expect(value).to_have_value("GAGNÉ")
    expect(page.locator("#said")).to_contain_text("É")  # said to a screen reader
    page.keyboard.press("Alt+E")  # again at once: the next form of E
    expect(value).to_have_value("GAGNÈ")
    page.keyboard.press("Alt+E")
    page.keyboard.press("Alt+E")
    page.keyboard.press("Alt+E")  # round the cycle: É È Ê Ë É
    expect(value).to_have_value("GAGNÉ")
    page.keyboard.type("-TREMBLAY ")
    page.keyboard.press("Alt+E")  # after another key: a new É, not a change of the last one
    expect(value).to_have_value("GAGNÉ-TREMBLAY É")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.locator('.accents button[data-char="Ç"]').click()
    expect(value).to_have_value("GAGNÉ-TREMBLAYÇ")
    assert page.evaluate("document.activeElement.id") == "value"
    page.keyboard.press("Backspace")
    page.keyboard.press("Enter")
    page.wait_for_selector('.field-card[data-field="birth_date"]')
    assert registry.application(file_no)["fields"]["family_name"]["value"] == "GAGNÉ-TREMBLAY"
    assert page.locator(".accents").count() == 0  # a date has no letters
    page.close()


def test_a_choice_is_one_key(browser, site):
    from playwright.sync_api import expect

    server, registry, _ = site
    file_no = T.register_mail_envelope(registry, 2, doubtful={"marital_status": "SINGLE"}, postmark=date(2026, 9, 1))
    page = log_in(browser, server, "remi")
    page.wait_for_selector('.field-card[data-field="marital_status"]')
    page.keyboard.press("3")
    expect(page.locator("#value")).to_have_value("COMMON_LAW")
    page.keyboard.press("Enter")
    page.wait_for_selector('.field-card[data-field="family_name"]')
    assert registry.application(file_no)["fields"]["marital_status"]["value"] == "COMMON_LAW"
    page.close()


def test_down_arrow_brings_the_readers_other_readings(browser, site):
    from playwright.sync_api import expect

    server, registry, _ = site
    file_no = register_a_doubtful_test_date(registry, 3)
    page = log_in(browser, server, "remi")
    page.wait_for_selector('.field-card[data-field="french_test_date"]')
    value = page.locator("#value")
    page.keyboard.press("ArrowDown")
    expect(value).to_have_value("2023-01-24")
    expect(page.locator("#said")).to_contain_text("2023-01-24")
    page.keyboard.press("ArrowUp")
    expect(value).to_have_value("2073-01-74")  # the reading itself between the last and the first
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector('.field-card:not([data-field="french_test_date"])')
    assert registry.application(file_no)["fields"]["french_test_date"]["value"] == "2023-01-24"
    page.close()


def test_an_unlikely_date_is_saved_with_a_second_enter(browser, site):
    from playwright.sync_api import expect

    server, registry, _ = site
    file_no = T.register_mail_envelope(registry, 6, doubtful={"job1_from": "2016-09-01"}, postmark=date(2026, 9, 1))
    page = log_in(browser, server, "remi")
    type_over_and_save(page, "job1_from", "20270301")  # after the signature (2026-10-05)
    expect(page.locator(".field-card .warnings")).to_contain_text("after the date the form was signed")
    assert registry.application(file_no)["fields"]["job1_from"]["needs_review"] is True
    page.keyboard.press("Enter")
    page.wait_for_selector('.field-card:not([data-field="job1_from"])')
    assert registry.application(file_no)["fields"]["job1_from"]["value"] == "2027-03-01"
    page.close()


def test_esc_after_a_refused_value_restores_the_reading(browser, site):
    from playwright.sync_api import expect

    server, registry, file_no = site
    page = log_in(browser, server, "remi")
    page.wait_for_selector('.field-card[data-field="family_name"]')
    page.keyboard.press("Tab")
    type_over_and_save(page, "birth_date", "1990-02-31")
    expect(page.locator(".problems")).to_be_visible()
    expect(page.locator("#value")).to_have_value("1990-02-31")
    page.keyboard.press("Escape")
    expect(page.locator("#value")).to_have_value("1990-04-11")
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
    page.keyboard.press("Control+A")
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


def test_the_review_pages_have_no_wcag_violation(browser, site):
    from playwright.sync_api import expect

    server, registry, file_no = site
    register_a_doubtful_test_date(registry, 4)
    illegible = T.register_mail_envelope(registry, 5, doubtful={}, postmark=None)
    page = log_in(browser, server, "sophie", checked=True)
    page.wait_for_selector('.field-card[data-field="french_test_date"] .suggestions')
    assert axe_violations(page) == []  # the card with the reader's other readings
    page.keyboard.press("Tab")
    page.wait_for_selector(".field-card .accents")
    assert axe_violations(page) == []  # a text field with its accented capitals
    page.keyboard.press("Tab")
    type_over_and_save(page, "birth_date", "20270101")
    expect(page.locator(".field-card .problems")).to_be_visible()
    assert axe_violations(page) == []  # a refused value
    page.goto(f"{server.url}/applications/{illegible}")
    page.fill("#postmark-date", "2026-10-02")
    page.check("input[name=illegible]")
    page.click(".postmark-form button[type=submit]")
    expect(page.locator(".postmark-form .problems")).to_be_visible()
    assert axe_violations(page) == []  # the postmark form with its refusal
    for path in ("/queue", "/stats", "/review/groups"):
        page.goto(f"{server.url}{path}")
        assert axe_violations(page) == [], path
    page.close()
