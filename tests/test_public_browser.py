"""The candidates' pages in headless Debian Chromium, with JavaScript and without: fill the
form with the keyboard, get the problems beside the fields, get the PDF; look up a status.
axe-core (npm, node_modules/axe-core) finds no WCAG 2.1 A/AA violation on any of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import station_fixtures as T
from station.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("public")
    app = create_app(f"sqlite:///{folder}/registry.db", folder / "data", public_only=True)
    registry = app.state.public_registry_db
    with T.LiveServer(app) as server:
        yield server, folder
    registry.dispose()


def axe_violations(page) -> list[dict]:
    """What axe-core finds on the page as it is now (WCAG 2.1 A and AA rules). A page without
    JavaScript cannot run axe: its HTML is checked in a page that can, styles included."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: scripts/install.sh installs axe-core with npm")
    if page.context not in WITH_JAVASCRIPT:
        checker_context = page.context.browser.new_context(bypass_csp=True)
        WITH_JAVASCRIPT.append(checker_context)
        checker = checker_context.new_page()
        origin = page.url.split("/", 3)
        checker.set_content(page.content().replace("<head>", f'<head><base href="{origin[0]}//{origin[2]}/">', 1))
        try:
            return axe_violations(checker)
        finally:
            checker.context.close()
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    return [{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]]


WITH_JAVASCRIPT: list = []  # the browser contexts that run scripts (a checker's is one)


def new_page(browser, *, javascript: bool):
    # bypass_csp only lets the test inject axe-core; the pages themselves run under the station's CSP.
    context = browser.new_context(java_script_enabled=javascript, bypass_csp=True, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})
    if javascript:
        WITH_JAVASCRIPT.append(context)
    return context.new_page()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_fill_in_the_form_with_the_keyboard_and_get_the_pdf(browser, site, javascript):
    from playwright.sync_api import expect

    server, folder = site
    page = new_page(browser, javascript=javascript)
    page.goto(f"{server.url}/forms")
    assert axe_violations(page) == []
    page.focus("#f-family_name")
    page.keyboard.type("García López" if javascript else "GARCIA LOPEZ")
    page.keyboard.press("Tab")
    page.keyboard.type("José")
    page.locator("button[type=submit]").click()
    expect(page.locator("#problems")).to_be_visible()
    assert page.url.endswith("/forms/prefill")
    # what was typed is kept, and every problem sits beside its field in both languages
    expect(page.locator("#f-family_name")).to_have_value("GARCÍA LÓPEZ" if javascript else "GARCIA LOPEZ")
    expect(page.locator("#e-birth_date")).to_contain_text("Date of birth")
    if javascript:  # the script moves the focus to the list of problems, read out first
        expect(page.locator("#problems")).to_be_focused()
    assert axe_violations(page) == []

    document = T.sample_document()["fields"]
    for name, value in document.items():
        kind = page.locator(f'[name="{name}"]').first.get_attribute("type")
        if kind == "radio":
            page.check(f'input[name="{name}"][value="{value}"]')
        elif kind == "checkbox":
            page.set_checked(f'input[name="{name}"]', bool(value))
        else:
            page.fill(f'input[name="{name}"]', str(value))
    with page.expect_download() as download:
        page.locator("button[type=submit]").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    page.context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_look_up_a_status(browser, site, javascript):
    from playwright.sync_api import expect

    server, _ = site
    page = new_page(browser, javascript=javascript)
    page.goto(f"{server.url}/status")
    assert axe_violations(page) == []
    page.fill("#s-file_no", "26M-000001-0")
    page.fill("#s-birth_date", "1990-04-17")
    page.keyboard.press("Enter")
    expect(page.locator("#answer")).to_contain_text("No application found")
    assert axe_violations(page) == []
    page.context.close()


def test_the_blank_forms_are_links_a_browser_opens(browser, site):
    server, _ = site
    page = new_page(browser, javascript=False)
    answer = page.request.get(f"{server.url}/forms/blank.pdf?lang=en")
    assert answer.status == 200 and answer.body().startswith(b"%PDF")
    assert json.loads(json.dumps(answer.headers))["content-type"] == "application/pdf"
    page.context.close()


def test_the_accessibility_check_sees_a_violation(browser):
    """The check itself: a page with an unlabelled input and no language fails it."""
    page = new_page(browser, javascript=True)
    page.set_content("<html><head><title>x</title></head><body><main><input></main></body></html>")
    assert {"html-has-lang", "label"} <= {v["id"] for v in axe_violations(page)}
    page.context.close()
