"""Pictures of the review station for the docs: `python -m bench.screenshot docs/`.

Builds a throw-away registry with a few scanned envelopes (samples/readings.py), serves it on
127.0.0.1, logs in as a reviewer in headless Chromium and saves what a person sees.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

from bench import live
from samples import readings
from station.app import create_app


def take(out_dir: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(f"sqlite:///{tmp}/registry.db", Path(tmp) / "data")
        registry = app.state.station.registry
        readings.add_staff(registry)
        for serial, day in enumerate((date(2026, 10, 2), date(2026, 10, 3), date(2026, 10, 5))):
            readings.register_mail_envelope(registry, serial, postmark=day)
        with live.LiveServer(app) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=live.CHROMIUM, args=live.CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"{server.url}/login?next=/review")
            page.fill("input[name=username]", "remi")
            page.fill("input[name=password]", readings.PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(lambda url: "/login" not in url)
            page.wait_for_selector(".field-card #crop")
            # not page.wait_for_function: it polls with eval, which the station's CSP forbids
            expect(page.locator("#crop")).to_have_js_property("complete", True)
            page.keyboard.type("GAGNÉ-TREMBL")  # caught mid-correction: the typed value replaces the reading
            target = out_dir / "review-station.png"
            page.screenshot(path=str(target))
            written.append(target)
            browser.close()
        registry.close()
    return written


if __name__ == "__main__":
    for path in take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(path)
