"""scan/pipeline.py: whole envelopes and stacks, from files on disk to EnvelopeReading."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from errors import IncompleteStack
from scan.align import box_to_px
from scan.engines import cell_recognizer
from scan.pipeline import read_envelope, read_stack
from templates.spec import load_form, load_separator
from templates.validation import normalize_document
from test_scan_support import handwrite, rendered, scan_damage, turn  # noqa: F401

TODAY = date(2026, 11, 23)


def _save_tiff(path: Path, images: list[np.ndarray]) -> Path:
    frames = [Image.fromarray(i) for i in images]
    frames[0].save(path, compression="tiff_lzw", dpi=(200, 200), save_all=True, append_images=frames[1:])
    return path


def _expected(document: dict) -> dict:
    """The data document as the scanner must report it: normalized, empty as None/False."""
    fields = normalize_document(document)["fields"]
    out = {}
    for f in load_form().fields:
        v = fields.get(f.name)
        if f.type in ("checkbox", "signature"):
            out[f.name] = bool(v)
        else:
            out[f.name] = v if v not in ("", None) else None
    return out


def _signed(rendered, which: str = "prefill") -> list[np.ndarray]:
    """The prefilled pages, page 5 signed by hand (a prefilled form is signed after printing)."""
    pages = list(rendered["pages"][which])
    pages[4] = handwrite(pages[4], 4, {"declaration_signed": True}, seed=5)
    return pages


@pytest.fixture(scope="module")
def prefilled_reading(rendered, tmp_path_factory):
    out = tmp_path_factory.mktemp("prefilled")
    pages = [scan_damage(p, seed=i, angle=(-1) ** i * 1.2)[0] for i, p in enumerate(_signed(rendered))]
    files = [_save_tiff(out / "a.tif", pages[:3]), _save_tiff(out / "b.tif", pages[3:])]
    return files, read_envelope(files, workers=1, today=TODAY)


def test_prefilled_form_read_from_its_barcodes_exactly(rendered, prefilled_reading):
    _, reading = prefilled_reading
    expected = _expected(rendered["document"])
    got = {f.name: f.value for f in reading.fields}
    assert got == expected
    wrong_or_doubtful = [f.name for f in reading.fields if f.needs_review]
    assert wrong_or_doubtful == []
    assert {f.source for f in reading.fields if expected[f.name] not in (None, False)} == {"barcode", "omr"}
    assert reading.problems == ()
    assert [p.kind for p in reading.pages] == ["form"] * 6 and {p.document_id for p in reading.pages} != {None}


def test_reading_the_same_files_again_gives_the_same_fingerprint(prefilled_reading):
    files, first = prefilled_reading
    again = read_envelope(list(reversed(files)), workers=1, today=TODAY)
    assert again.fingerprint == first.fingerprint
    assert len(first.fingerprint) == 64


def test_pages_carry_no_png_but_a_view_that_renders_the_aligned_page_again(prefilled_reading):
    from scan.pipeline import PageContext, PageTask, stage_align, stage_identify, stage_load
    from scan.render import PageView, render

    _, reading = prefilled_reading
    page = reading.pages[0]
    assert page.image_png == b""  # no PNG encoded on the hot path
    view = PageView.from_json(page.view)
    assert view.page == page.source_page and view.matrix is not None
    image = render(page.source_file, page.view)
    assert image.shape == (2200, 1700)
    ctx = PageContext(PageTask(page.source_file, page.source_page, 0))
    for stage in (stage_load, stage_identify, stage_align):
        ctx = stage(ctx)
    assert np.array_equal(image, ctx.aligned)  # the very pixels the reader read


def test_typed_value_changed_by_hand_is_flagged(rendered, tmp_path):
    from samples import handprint

    page = load_form().pages[0]
    image = rendered["pages"]["prefill"][0].copy()
    cells = [box_to_px(page, c) for c in page.field("family_name").cells[:2]]
    handprint.write_text_into(image, "KO", cells, font=handprint.HOLDOUT_FONTS[1], rng=np.random.default_rng(2))
    path = _save_tiff(tmp_path / "p1.tif", [scan_damage(image)[0]])
    reading = read_envelope([path], workers=1, today=TODAY)
    name = reading.field("family_name")
    assert name.needs_review and "changed_by_hand" in name.reasons
    assert name.value == rendered["document"]["fields"]["family_name"]  # the barcode's value, for the reviewer
    assert not reading.field("given_names").needs_review


def test_envelope_problems_missing_duplicated_blank_foreign_and_supporting(rendered, tmp_path):
    pages = _signed(rendered)
    letter = np.full((2200, 1700), 240, np.uint8)
    letter[300:1900:40, 200:1500] = 30  # a typed supporting letter
    blank = np.full((2200, 1700), 243, np.uint8)
    scans = [
        scan_damage(pages[2], seed=1)[0],
        turn(scan_damage(pages[0], seed=2)[0], 2),  # upside down
        letter,
        scan_damage(pages[1], seed=3)[0],
        scan_damage(pages[1], seed=4)[0],  # the feeder took it twice
        blank,
        turn(scan_damage(pages[4], seed=5)[0], 1),
        scan_damage(pages[5], seed=6)[0],
        scan_damage(rendered["pages"]["prefill_other"][3], seed=7)[0],  # page 4 of another applicant
    ]
    path = _save_tiff(tmp_path / "envelope.tif", scans)
    reading = read_envelope([path], workers=1, today=TODAY)
    kinds = [p.kind for p in reading.pages]
    assert kinds == ["form", "form", "supporting", "form", "form", "blank", "form", "form", "form"]
    assert [p.rotation for p in reading.pages][:2] == [0, 180]
    text = " | ".join(reading.problems)
    assert "page 2 scanned 2 times" in text
    assert "blank page: scan page 6" in text
    assert "two different prefilled applications" in text
    # Page 4 came only from the other applicant: its fields are read (and the mix is reported);
    # with it taken out, page 4 is missing and its fields say so.
    without = _save_tiff(tmp_path / "without.tif", scans[:8])
    reading = read_envelope([without], workers=1, today=TODAY)
    assert "missing page(s) 4 of 6" in " | ".join(reading.problems)
    french = reading.field("french_level")
    assert french.value is None and french.needs_review and french.reasons == ("page_missing",)
    assert reading.field("family_name").value == rendered["document"]["fields"]["family_name"]


def test_foreign_page_is_reported(rendered, tmp_path):
    from test_scan_identify import _page_with_code
    from templates.codes import PageCode

    foreign = _page_with_code(rendered, PageCode("csq-rtq", "2019.2", 1, 6, "0123456789"))
    path = _save_tiff(tmp_path / "f.tif", [scan_damage(rendered["pages"]["prefill"][1])[0], scan_damage(foreign)[0]])
    reading = read_envelope([path], workers=1, today=TODAY)
    assert [p.kind for p in reading.pages] == ["form", "foreign"]
    assert any("another form or version" in p and "2019.2" in p for p in reading.problems)


# ------------------------------------------------------------------------------ stacks


def _separator(rendered, index: int, postmark: str | None, received: str) -> np.ndarray:
    values = {"postmark_date": postmark, "received_date": received, "postmark_illegible": postmark is None, "clerk_initials": "MT"}
    return handwrite(rendered["pages"]["separators"][index], 0, values, seed=10 + index, font_name="comic-regular", form_id="csq-sep")


@pytest.fixture(scope="module")
def stack_file(rendered, tmp_path_factory):
    out = tmp_path_factory.mktemp("stack")
    a = [scan_damage(p, seed=20 + i)[0] for i, p in enumerate(_signed(rendered)[:3])]
    b = [scan_damage(p, seed=30 + i)[0] for i, p in enumerate(_signed(rendered, "prefill_other")[:2])]
    sheets = [scan_damage(_separator(rendered, 0, "2026-02-16", "2026-02-20"))[0], *a,
              scan_damage(_separator(rendered, 1, None, "2026-02-20"))[0], *b]
    return _save_tiff(out / "stack.tif", sheets)


def test_stack_split_at_separators_each_with_its_own_postmark(rendered, stack_file):
    envelopes = list(read_stack([stack_file], workers=1, today=TODAY))
    assert len(envelopes) == 2
    first, second = envelopes
    assert [p.page_no for p in first.pages] == [1, 2, 3] and [p.page_no for p in second.pages] == [1, 2]
    assert first.separator.serial == rendered["serials"][0] and second.separator.serial == rendered["serials"][1]
    assert first.separator.page.kind == "separator" and all(p.kind == "form" for p in first.pages)
    assert first.field("family_name").value == rendered["document"]["fields"]["family_name"]
    assert second.field("family_name").value == rendered["other"]["fields"]["family_name"]
    postmark = first.separator.postmark_date
    if cell_recognizer() is not None:
        assert postmark.value == "2026-02-16"
    else:  # no ICR installed: whatever was read, it is not called final unless right
        assert postmark.needs_review or postmark.value == "2026-02-16"
    assert first.separator.postmark_illegible.value is False
    assert second.separator.postmark_illegible.value is True and second.separator.postmark_date.value is None
    assert not second.separator.postmark_date.needs_review  # illegible ticked: nothing to read
    assert "missing page(s) 4, 5, 6 of 6" in " | ".join(first.problems)  # metadata stays with its envelope
    assert first.fingerprint != second.fingerprint


def test_stack_that_does_not_start_with_a_separator(rendered, tmp_path):
    path = _save_tiff(tmp_path / "s.tif", [rendered["pages"]["prefill"][0], rendered["pages"]["separators"][0]])
    with pytest.raises(IncompleteStack, match="does not start with a separator") as info:
        list(read_stack([path], workers=1, today=TODAY))
    assert "s.tif" in str(info.value)


def test_stack_cut_short_yields_the_envelopes_then_names_the_empty_separator(rendered, tmp_path):
    sheets = [rendered["pages"]["separators"][0], rendered["pages"]["prefill"][0], rendered["pages"]["separators"][2]]
    path = _save_tiff(tmp_path / "short.tif", sheets)
    got = []
    with pytest.raises(IncompleteStack, match=rendered["serials"][2]):
        for envelope in read_stack([path], workers=1, today=TODAY):
            got.append(envelope)
    assert len(got) == 1 and got[0].separator.serial == rendered["serials"][0]


def test_separator_scanned_twice_in_a_row_is_not_an_empty_envelope(rendered, tmp_path):
    sep = rendered["pages"]["separators"][0]
    path = _save_tiff(tmp_path / "twice.tif", [sep, sep, rendered["pages"]["prefill"][0]])
    (envelope,) = list(read_stack([path], workers=1, today=TODAY))
    assert any("scanned twice" in p for p in envelope.problems)
    assert [p.kind for p in envelope.pages] == ["form"]


def test_separator_with_both_codes_destroyed_still_splits(rendered, tmp_path):
    page = load_separator().pages[0]
    sep = rendered["pages"]["separators"][1].copy()
    for box in page.code_boxes:
        x0, y0, x1, y1 = box_to_px(page, box)
        sep[y0 - 4 : y1 + 4, x0 - 4 : x1 + 4] = 255
    sheets = [rendered["pages"]["separators"][0], rendered["pages"]["prefill"][0], sep, rendered["pages"]["prefill_other"][0]]
    path = _save_tiff(tmp_path / "nocode.tif", sheets)
    first, second = list(read_stack([path], workers=1, today=TODAY))
    assert second.separator.serial == "" and any("serial unreadable" in p for p in second.problems)
    assert [p.document_id for p in first.pages] != [p.document_id for p in second.pages]


def test_process_pool_reads_the_same_as_in_process(prefilled_reading):
    files, single = prefilled_reading
    pooled = read_envelope(files, workers=2, today=TODAY)
    assert pooled.fingerprint == single.fingerprint
    assert [(f.name, f.value, f.needs_review) for f in pooled.fields] == [(f.name, f.value, f.needs_review) for f in single.fields]
    from scan.pipeline import close_pool

    close_pool()


def test_progress_is_reported(rendered, tmp_path):
    path = _save_tiff(tmp_path / "one.tif", [rendered["pages"]["blank"][5]])
    calls = []
    read_envelope([path], workers=1, progress=lambda done, total, what: calls.append((done, total, what)), today=TODAY)
    assert calls[0][:2] == (0, 1) and calls[-1][:2] == (1, 1) and "form" in calls[-1][2]
    assert load_separator().pages[0].fields  # the separator template is there for read_stack
