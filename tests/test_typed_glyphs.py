"""scan/typed_glyphs.py through the prefilled check (scan/read.check_typed): a letter forms/ typed
is never doubted, at 150, 200 and 300 dpi, grey or bilevel, and a letter a hand wrote over still
is (issue 11: a clean phone 33612345678 rendered at 200 dpi went to review as changed_by_hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from forms.render import prefill_pdf
from samples import handprint
from scan import thresholds as t
from scan.align import box_to_px
from scan.pipeline import PageTask, process_page
from scan.typed_glyphs import glyph_match, glyph_templates
from templates.spec import ACCENTED_CAPITALS, DIGIT_CHARSET, TEXT_CHARSET, load_form

ROOT = Path(__file__).resolve().parents[1]
CAPITALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Page 1 of a prefilled form holding every digit, capital and accented capital of the form's
# alphabet (templates/spec.py), and its punctuation.
TYPED = {
    "family_name": CAPITALS,
    "given_names": ACCENTED_CAPITALS,
    "phone": "33612345678",  # the issue's: its 6s were doubted
    "passport_number": "ZY0123456789",
    "address_line": "90 RUE DE L'ÉGLISE-NEUVE APP. 3/4",
    "email": "AB.CD@EXEMPLE.FR",
}
WRITTEN_OVER = ("city", "KX")  # a hand writes over the first two typed letters of this field


@pytest.fixture(scope="module")
def prefilled(tmp_path_factory) -> Path:
    document = json.loads((ROOT / "samples" / "prefill-example.json").read_text(encoding="utf-8"))
    document["fields"].update(TYPED)
    return prefill_pdf(document, tmp_path_factory.mktemp("typed") / "typed.pdf")


def test_the_page_types_every_letter_of_the_alphabet():
    typed = "".join(TYPED.values())
    assert set(DIGIT_CHARSET + CAPITALS + ACCENTED_CAPITALS) <= set(typed)
    assert set(typed) <= set(TEXT_CHARSET)


def _scan(pdf: Path, dpi: int, mode: str, out: Path, *, written_over: bool) -> Path:
    """Page 1 as a scanner returns it: rendered at `dpi`, grey (PNG) or bilevel (CCITT G4 TIFF)."""
    with pdfium.PdfDocument(str(pdf)) as doc:
        pixels = np.array(doc[0].render(scale=dpi / 72, grayscale=True).to_pil().convert("L"))
    if written_over:
        page = load_form().pages[0]
        name, text = WRITTEN_OVER
        cells = [tuple(v * dpi / t.WORKING_DPI for v in box_to_px(page, c)) for c in page.field(name).cells[: len(text)]]
        handprint.write_text_into(pixels, text, cells, font=handprint.HOLDOUT_FONTS[0], rng=np.random.default_rng(dpi))
    image = Image.fromarray(pixels)
    if mode == "bilevel":
        path = out / f"page-{dpi}.tif"
        image.point(lambda v: 255 if v > 128 else 0).convert("1").save(path, dpi=(dpi, dpi), compression="group4")
    else:
        path = out / f"page-{dpi}.png"
        image.save(path, dpi=(dpi, dpi))
    return path


@pytest.mark.parametrize("mode", ["grey", "bilevel"])
@pytest.mark.parametrize("dpi", [150, 200, 300])
def test_every_typed_letter_agrees_and_a_letter_written_over_does_not(prefilled, tmp_path, dpi, mode):
    result = process_page(PageTask(str(_scan(prefilled, dpi, mode, tmp_path, written_over=True)), 0, 0))
    assert result.record.kind == "form", result.record.problems
    typed = {raw.name: raw for raw in result.raw_fields if raw.recognizer == "typed"}
    assert set(TYPED) <= set(typed)
    doubted = {}
    for name, raw in typed.items():
        if name == WRITTEN_OVER[0]:
            continue
        text = str(raw.barcode_value) if raw.type != "date" else str(raw.barcode_value).replace("-", "")
        low = {text[i]: round(m, 3) for i, m in enumerate(raw.glyph_match) if i < len(text) and text[i] != " " and m < t.GLYPH_MIN_MATCH}
        if raw.typed_check != "agree" or low:
            doubted[name] = (raw.typed_check, low)
    assert doubted == {}, f"typed letters doubted at {dpi} dpi {mode}: {doubted}"
    over = typed[WRITTEN_OVER[0]]
    assert over.typed_check.startswith("box(es) 1, 2 do not look like the typed letters"), over.typed_check


def _typed_cell(char: str, out: Path) -> np.ndarray:
    """`char` typed by forms/ into a comb cell of the form's size, printed (PDF), rendered at
    200 dpi: the cell's interior as the reader cuts it."""
    from reportlab.pdfgen.canvas import Canvas

    from forms.draw import type_in_cells

    x0, y0, x1, y1 = load_form().pages[0].field("family_name").cells[0]
    w, h = x1 - x0, y1 - y0
    canvas = Canvas(str(out / "cell.pdf"), pagesize=(w + 20, h + 20))
    type_in_cells(canvas, ((10, 10, 10 + w, 10 + h),), char)
    canvas.save()
    with pdfium.PdfDocument(str(out / "cell.pdf")) as doc:
        pixels = np.array(doc[0].render(scale=t.WORKING_DPI / 72, grayscale=True).to_pil().convert("L"))
    k, inset = t.WORKING_DPI / 72, t.CELL_INSET_PX
    return pixels[round(10 * k) + inset : round((10 + h) * k) - inset, round(10 * k) + inset : round((10 + w) * k) - inset]


def test_any_letter_the_font_prints_is_matched_with_no_list_of_letters(tmp_path):
    """Capitals beyond the French ones (the alphabet grows to every Latin capital): each one's
    print matches its own templates, drawn from the font, and not another letter's."""
    letters = "ŁŞĞŘĄŒ"
    cells = {c: _typed_cell(c, tmp_path) for c in letters}
    for char, cell in cells.items():
        assert glyph_templates(char) is not None and len(glyph_templates(char)) == t.GLYPH_PHASES**2
        assert glyph_match(cell, char) >= 0.95, char
        others = [o for o in letters if o != char]
        assert max(glyph_match(cell, o) for o in others) < glyph_match(cell, char), char
    assert glyph_templates(" ") is None  # nothing printed, nothing to compare
