"""A scripted reviewer through the demo's waiting fields: `python -m bench.station reviewer`
(or `python -m station.bench reviewer`).

A benchmark, not a test. It makes the demo's registry (samples/demo.py: handwritten and
prefilled envelopes scanned into a fresh registry), serves the station on 127.0.0.1, and
has headless Chromium work through every field waiting for a reviewer, with the keyboard
only, knowing the truth of each envelope (its truth.json) as a careful clerk knows the
paper in front of them. For each field it presses the fewest keys this station needs:

- Enter alone when the reading is right;
- ↓ (or ↑) to one of the reader's other readings the card offers, when it is right or
  nearer to right (then edited as below);
- a choice: its number, Enter;
- otherwise the cheaper of editing in place (the cursor comes at the end: arrows, or Home
  and arrows, to each wrong stretch, Backspace, the right letters) and Ctrl+A then the whole
  value (a date as YYYYMMDD); an accented capital is Alt+its letter, pressed again for the
  next form (É È Ê Ë);
- Enter once more when the station warns of an unlikely date.

It reports keys per field (all, right readings, corrections), what the same corrections
would have cost by typing the whole value over (the station before edit-in-place: every
correction typed anew, Enter), the server's time per save-and-next (measured around the
request in the server process), and checks that every value saved is the truth.
"""

from __future__ import annotations

import difflib
import glob
import io
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.live import CHROMIUM, CHROMIUM_ARGS, LiveServer
from samples.readings import PASSWORD
from station.review import ACCENT_KEYS, input_text

REVIEWER = "bench-reviewer"

# A capital typed by Alt+its letter, pressed n times: {'È': ('E', 2), ...}
ACCENT_PRESSES = {c: (base, i + 1) for base, forms in ACCENT_KEYS for i, c in enumerate(forms)}


def char_keys(text: str) -> list[str]:
    """The key presses that type `text` into the review input (playwright key names)."""
    keys: list[str] = []
    last_base = None
    for c in text:
        if c in ACCENT_PRESSES:
            base, times = ACCENT_PRESSES[c]
            if last_base == base:
                keys.append("Shift")  # a key between two accents of one letter, or the second cycles the first
            keys += [f"Alt+{base}"] * times
            last_base = base
        else:
            keys.append("Space" if c == " " else c)
            last_base = None
    return keys


def edit_keys(current: str, target: str, options: tuple[str, ...] = (), *, compact_date: bool = False) -> list[str]:
    """The fewest keys, by this station's means, that turn `current` into `target` and save.
    `compact_date`: the value is a date, which may be typed as YYYYMMDD."""
    if current == target:
        return ["Enter"]
    if options and target in options:
        return [str(options.index(target) + 1), "Enter"]
    typed = target.replace("-", "") if compact_date else target
    replace_all = ["Control+A"] + (char_keys(typed) if typed else ["Backspace"])
    return min(_in_place(current, target), replace_all, key=len) + ["Enter"]


def plan_keys(current: str, target: str, offered: list[str], options: tuple[str, ...] = (), *,
              compact_date: bool = False) -> list[str]:
    """edit_keys from the reading, or from one of the reader's other readings the card offers
    (↓ brings the first, ↓↓ the second..., ↑ the last), whichever takes fewer keys."""
    plans = [edit_keys(current, target, options, compact_date=compact_date)]
    for i, other in enumerate(offered):
        for steps in (["ArrowDown"] * (i + 1), ["ArrowUp"] * (len(offered) - i)):
            plans.append(steps + edit_keys(other, target, options, compact_date=compact_date))
    return min(plans, key=len)


def _in_place(current: str, target: str) -> list[str]:
    """Edit the differing stretches where they are, right to left from the cursor at the end:
    arrows (or Home and arrows) to each, Backspace over what is wrong, the right letters."""
    keys: list[str] = []
    cursor = len(current)
    stretches = [op for op in difflib.SequenceMatcher(None, current, target, autojunk=False).get_opcodes() if op[0] != "equal"]
    for _, i1, i2, j1, j2 in reversed(stretches):
        if cursor - i2 <= 1 + i2:
            keys += ["ArrowLeft"] * (cursor - i2)
        else:
            keys += ["Home"] + ["ArrowRight"] * i2
        keys += ["Backspace"] * (i2 - i1) + char_keys(target[j1:j2])
        cursor = i1 + (j2 - j1)
    return keys


def retyped_keys(current: str, target: str) -> int:
    """The same field on the station before: Enter on a right reading, else the value typed anew."""
    return 1 if current == target else len(target) + 1 + (0 if target else 1)


@dataclass
class Tally:
    fields: int = 0
    keys: int = 0
    right: int = 0
    right_keys: int = 0
    corrected_keys: int = 0
    retyped_keys: int = 0
    warnings: int = 0
    refused: list = field(default_factory=list)
    wrong: list = field(default_factory=list)
    server_ms: list = field(default_factory=list)


class _Timed:
    """ASGI wrapper: the server's time for each save or postponement (next card included)."""

    def __init__(self, app, sink: list):
        self.app, self.sink = app, sink

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path") not in ("/review/save", "/review/postpone"):
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        try:
            return await self.app(scope, receive, send)
        finally:
            self.sink.append((time.perf_counter() - started) * 1000)


def make_demo(workdir: Path) -> tuple[str, Path, list[dict]]:
    """The demo's registry in `workdir` (made once, reused after), its data folder, the truths."""
    from rich.console import Console

    from samples.demo import run_demo

    db_path, data_dir, out = workdir / "registry.db", workdir / "data", workdir / "demo"
    url = f"sqlite:///{db_path}"
    if not db_path.exists():
        run_demo(db_url=url, data_dir=data_dir, out=out, console=Console(file=io.StringIO()))
    truths = [json.loads(Path(p).read_text(encoding="utf-8"))
              for p in sorted(glob.glob(str(out / "envelopes" / "*" / "truth.json")))
              + sorted(glob.glob(str(out / "envelopes" / "*" / "env-*.truth.json")))]
    return url, data_dir, truths


def _truth_of(app_fields: dict, truths: list[dict]) -> dict:
    """The envelope whose truth agrees with most of the application's stored fields."""
    return max(truths, key=lambda t: sum(1 for k, v in t["fields"].items() if app_fields.get(k, {}).get("value") == v))


def run(workdir: Path | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    from station.app import create_app
    from templates.spec import load_form

    with tempfile.TemporaryDirectory(prefix="csq-reviewer-") as tmp:
        folder = Path(workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url, data_dir, truths = make_demo(folder / "demo-registry")
        # A copy per run: the demo's registry stays as scanned, the run can be repeated.
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
        shutil.copyfile(Path(url.removeprefix("sqlite:///")), run_dir / "registry.db")
        run_url = f"sqlite:///{run_dir / 'registry.db'}"
        app = create_app(run_url, data_dir)
        registry = app.state.station.registry
        registry.add_user(REVIEWER, "reviewer", PASSWORD)
        form = load_form()
        tally = Tally()
        try:
            with LiveServer(_Timed(app, tally.server_ms)) as server, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{server.url}/login?next=/review")
                page.fill("input[name=username]", REVIEWER)
                page.fill("input[name=password]", PASSWORD)
                page.keyboard.press("Enter")
                page.wait_for_url(lambda u: "/login" not in u)
                _work_through(page, registry, form, truths, tally)
                browser.close()
        finally:
            registry.close()
    return _report(tally)


def _work_through(page, registry, form, truths: list[dict], tally: Tally) -> None:
    cache: dict[str, dict] = {}
    while True:
        page.wait_for_selector(".field-card")
        card = page.locator(".field-card")
        file_no, name = card.get_attribute("data-file-no"), card.get_attribute("data-field")
        if not file_no:
            return  # nothing left
        spec = form.field(name)
        if file_no not in cache:
            cache[file_no] = _truth_of(registry.application(file_no)["fields"], truths)["fields"]
        target = input_text(cache[file_no].get(name), spec.type)
        current = page.locator("#value").input_value()
        offered = [b.get_attribute("data-value") for b in page.locator(".suggestions button").all()]
        keys = plan_keys(current, target, offered, tuple(o.value for o in spec.options), compact_date=spec.type == "date")
        tally.fields += 1
        tally.retyped_keys += retyped_keys(current, target)
        if current == target:
            tally.right += 1
        done = f'.field-card:not([data-file-no="{file_no}"][data-field="{name}"]), .field-card .problems'
        for key in keys:
            page.keyboard.press(key)
        page.wait_for_selector(done + ", .field-card .warnings")
        if page.locator(".field-card .warnings").count() and page.locator(".field-card").get_attribute("data-field") == name:
            tally.warnings += 1
            keys.append("Enter")
            page.keyboard.press("Enter")
            page.wait_for_selector(done)
        refused = page.locator(".field-card .problems").count() > 0
        if refused:
            tally.refused.append((file_no, name, target, page.inner_text(".field-card .problems")))
            keys.append("Tab")
            page.keyboard.press("Tab")
            page.wait_for_selector(f'.field-card:not([data-file-no="{file_no}"][data-field="{name}"])')
        tally.keys += len(keys)
        if current == target:
            tally.right_keys += len(keys)
        else:
            tally.corrected_keys += len(keys)
        stored = registry.application(file_no)["fields"][name]
        if input_text(stored["value"], spec.type) != target and not refused:
            tally.wrong.append((file_no, name, stored["value"], target))


def _report(t: Tally) -> dict:
    corrected = t.fields - t.right
    ms = sorted(t.server_ms)
    return {
        "fields": t.fields, "right_readings": t.right, "corrected": corrected,
        "keys_per_field": round(t.keys / t.fields, 2) if t.fields else None,
        "keys_per_right_reading": round(t.right_keys / t.right, 2) if t.right else None,
        "keys_per_correction": round(t.corrected_keys / corrected, 2) if corrected else None,
        "keys_per_field_typing_corrections_anew": round(t.retyped_keys / t.fields, 2) if t.fields else None,
        "date_warnings": t.warnings, "refused": t.refused, "saved_not_the_truth": t.wrong,
        "server_ms_per_field": {"p50": round(statistics.median(ms), 1), "p90": round(ms[int(0.9 * (len(ms) - 1))], 1),
                                "max": round(ms[-1], 1)} if ms else None,
    }


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.station reviewer", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="keep the demo registry here (made once, reused)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.workdir), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
