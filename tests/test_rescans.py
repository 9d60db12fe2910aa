"""Rescans join their file (registry/rescans.py, `csq scan ingest … --into FILE_NO`): an
envelope scanned with page 3 missing, then page 3 on its own, is one application with all its
pages; the same rescan again changes nothing; a different scan of a page it has needs
--replace; the whole envelope scanned again names the file it repeats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from errors import ConflictError

ROOT = Path(__file__).resolve().parent.parent
SINGLE = ROOT / "samples" / "corpus" / "env-0002-handwritten-tiff-g4" / "env-0002.tif"
TRUTH = json.loads((SINGLE.parent / "truth.json").read_text())


def frames(indexes) -> list:
    from PIL import Image, ImageSequence

    with Image.open(SINGLE) as tif:
        return [frame.copy() for i, frame in enumerate(ImageSequence.Iterator(tif)) if i in indexes]


def tiff(out: Path, indexes) -> Path:
    kept = frames(indexes)
    kept[0].save(out, save_all=True, append_images=kept[1:], compression="group4", dpi=(200, 200))
    return out


def form_index(page_no: int) -> int:
    return next(p["index"] for p in TRUTH["pages"] if p["kind"] == "form" and p["page_no"] == page_no)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rescans")
    every = range(len(TRUTH["pages"]))
    third = form_index(3)
    short = tiff(folder / "short.tif", [i for i in every if i != third])
    page3 = tiff(folder / "page3.tif", [third])
    # the same sheet through the scanner once more: a pixel moved, so not the same scan
    [again] = frames([third])
    again = again.convert("L")
    again.putpixel((5, 5), 0 if again.getpixel((5, 5)) else 255)
    page3_again = folder / "page3-again.png"
    again.save(page3_again, dpi=(200, 200))
    return {"short": short, "page3": page3, "page3_again": page3_again}


@pytest.fixture(scope="module")
def readings(scans):
    from scan.pipeline import read_envelope

    return {name: read_envelope([path], workers=1) for name, path in scans.items()}


@pytest.fixture
def registry(tmp_path):
    from registry.service import Registry

    with Registry.open(f"sqlite:///{tmp_path}/r.db", tmp_path / "data") as reg:
        yield reg


def test_a_missing_page_scanned_alone_joins_its_file(registry, readings):
    first = registry.register_mail(readings["short"], postmark=date(2026, 3, 2), received=date(2026, 3, 5))
    assert "missing page(s) 3 of 6" in first.problems
    before = registry.application(first.file_no)
    page3_fields = [n for n, f in before["fields"].items() if f["page_no"] == 3]
    assert page3_fields and all("page_missing" in before["fields"][n]["reasons"] for n in page3_fields)

    joined = registry.join_pages(first.file_no, readings["page3"], by="clara")
    assert joined.file_no == first.file_no and joined.created
    assert not any("missing page" in p for p in joined.problems)
    after = registry.application(first.file_no)
    assert {p["page_no"] for p in after["pages"] if p["kind"] == "form"} == {1, 2, 3, 4, 5, 6}
    assert not any("page_missing" in after["fields"][n]["reasons"] for n in page3_fields)
    read_right = [n for n in page3_fields if after["fields"][n]["value"] == TRUTH["fields"].get(n)]
    assert read_right  # the page's fields are read, not left empty
    [event] = [e for e in registry.audit_trail(first.file_no) if e["action"] == "rescan"]
    assert event["actor"] == "clara" and json.loads(event["detail"])["pages_added"] == [3]
    assert len(registry.queue()) == 1  # still one application

    again = registry.join_pages(first.file_no, readings["page3"], by="clara")  # the same command again
    assert not again.created and registry.application(first.file_no)["pages"] == after["pages"]


def test_a_different_scan_of_a_page_it_has_needs_replace(registry, readings):
    first = registry.register_mail(readings["short"], postmark=date(2026, 3, 2), received=date(2026, 3, 5))
    registry.join_pages(first.file_no, readings["page3"], by="clara")
    with pytest.raises(ConflictError, match="already has page"):
        registry.join_pages(first.file_no, readings["page3_again"], by="clara")
    replaced = registry.join_pages(first.file_no, readings["page3_again"], replace=True, by="clara")
    assert replaced.created
    form_pages = [p for p in registry.application(first.file_no)["pages"] if p["page_no"] == 3]
    assert len(form_pages) == 1 and form_pages[0]["pixels_sha256"] == readings["page3_again"].pages[0].pixels_sha256


def test_a_persons_save_survives_the_rescan(registry, readings):
    first = registry.register_mail(readings["short"], postmark=date(2026, 3, 2), received=date(2026, 3, 5))
    fields = registry.application(first.file_no)["fields"]
    name = next(n for n, f in fields.items() if f["page_no"] == 3 and n.endswith("_name") or n == "education_level")
    registry.review_set(first.file_no, name, TRUTH["fields"].get(name) or "", by="remi")
    registry.join_pages(first.file_no, readings["page3"], by="clara")
    after = registry.application(first.file_no)["fields"][name]
    assert after["source"] == "manual" and after["updated_by"] == "remi"


def test_csq_scan_ingest_into_and_the_same_person_named(tmp_path, scans):
    env = {**os.environ, "CSQ_DATA_DIR": str(tmp_path / "data"), "CSQ_SCAN_WORKERS": "1"}
    db = f"sqlite:///{tmp_path}/r.db"

    def csq(*args):
        return subprocess.run([sys.executable, "-m", "cli", "--db", db, *args], cwd=ROOT, env=env, capture_output=True, text=True)

    first = csq("scan", "ingest", str(scans["short"]), "--postmark", "2026-03-02", "--received", "2026-03-05", "--json")
    assert first.returncode == 0, first.stderr
    file_no = json.loads(first.stdout)["file_no"]
    joined = csq("scan", "ingest", str(scans["page3"]), "--into", file_no, "--json")
    assert joined.returncode == 0, joined.stderr
    result = json.loads(joined.stdout)
    assert result["file_no"] == file_no and not any("missing page" in p for p in result["problems"])
    clash = csq("scan", "ingest", str(scans["page3_again"]), "--into", file_no)
    assert clash.returncode == 8 and "--replace" in clash.stderr and len(clash.stderr.strip().splitlines()) == 1
    no_postmark = csq("scan", "ingest", str(scans["page3"]))
    assert no_postmark.returncode == 2 and "--into" in no_postmark.stderr
    # the whole envelope through the scanner again (other pixels): a new file, which names the first
    whole = csq("scan", "ingest", str(SINGLE), "--postmark", "2026-03-02", "--received", "2026-03-05", "--json")
    assert whole.returncode == 0, whole.stderr
    payload = json.loads(whole.stdout)
    if payload["status"] != "in_review" or payload["same_person_as"]:  # passport and birth date read with confidence
        assert payload["same_person_as"] == [file_no]


def test_a_required_field_of_the_rescanned_page_read_empty_goes_to_a_person(registry, readings):
    """Issue 12 through a rescan: a required field of the page joined, handed over empty and final
    (as another reader might), waits for a person; the file is not made incomplete by it."""
    from dataclasses import replace

    from templates.spec import load_form

    form = load_form(readings["page3"].form_id, readings["page3"].version)
    required = {f.name for f in form.fields if f.required}
    rescan = readings["page3"]
    name = next(f.name for f in rescan.fields if f.page_no == 3 and f.name in required)
    rescan = replace(rescan, fields=tuple(replace(f, value=None, raw="", needs_review=False, reasons=())
                                          if f.name == name else f for f in rescan.fields))
    first = registry.register_mail(readings["short"], postmark=date(2026, 3, 2), received=date(2026, 3, 5))
    registry.join_pages(first.file_no, rescan, by="clara")
    after = registry.application(first.file_no)
    assert after["fields"][name]["needs_review"] and "empty_required" in after["fields"][name]["reasons"]
    assert after["status"] == "in_review"
