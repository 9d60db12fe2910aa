"""forms/: the printed paper, checked the way a scanner and a PDF tool will see it.

Every test renders real PDFs with forms.render, then reads them back with pdfplumber (vector
geometry, text) or rasterizes them with pypdfium2 at 200 dpi and reads the codes with
zxing-cpp and the markers with OpenCV's ArUco detector.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import cv2
import numpy as np
import pdfplumber
import pypdfium2 as pdfium
import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from errors import BadArguments, InvalidData, StorageError, TemplateError
from forms import draw
from forms.render import blank_pdf, prefill_pdf, rasterize_first_page_png, separator_pdf
from forms.serial import ALPHABET, check_separator_serial, new_separator_serial
from templates import geometry as g
from templates.codes import PageCode, PageData, decode_page_data, document_id, encode_page_data, is_data_code
from templates.spec import TEXT_CHARSET, form_layout, load_form, load_separator
from templates.validation import is_empty, normalize_document, validate

DPI = 200
SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "prefill-example.json"


# --------------------------------------------------------------------------- helpers


def rasterize(pdf: Path, dpi: int = DPI) -> list[np.ndarray]:
    document = pdfium.PdfDocument(str(pdf))
    try:
        return [np.asarray(page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")) for page in document]
    finally:
        document.close()


def qr_codes(image: np.ndarray) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)


def to_px(x: float, y: float, height_pt: float, dpi: int = DPI) -> tuple[float, float]:
    return x * dpi / 72, (height_pt - y) * dpi / 72


def centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def pdf_rects(page) -> np.ndarray:
    """Rectangles of a pdfplumber page as [x0, y0, x1, y1] in PDF points, origin bottom-left."""
    h = page.height
    return np.array([[r["x0"], h - r["bottom"], r["x1"], h - r["top"]] for r in page.rects])


def expected_boxes(page_layout: dict) -> list[tuple[str, list[float]]]:
    out = []
    for f in page_layout["fields"]:
        out += [(f["name"], c) for c in f.get("cells", [])]
        out += [(f"{f['name']}={o['value']}", o["box"]) for o in f.get("options", [])]
        if "box" in f:
            out.append((f["name"], f["box"]))
    return out


def assert_boxes_drawn(pdf_page, page_layout: dict) -> None:
    rects = pdf_rects(pdf_page)
    missing = [name for name, box in expected_boxes(page_layout) if not (np.abs(rects - np.array(box)).max(axis=1) <= 0.5).any()]
    assert not missing, f"boxes not drawn where the layout says: {missing[:10]}"


def find_markers(image: np.ndarray) -> dict[int, tuple[float, float]]:
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, g.ARUCO_DICTIONARY))
    detector = cv2.aruco.ArucoDetector(dictionary, cv2.aruco.DetectorParameters())
    corners, ids, _ = detector.detectMarkers(image)
    assert ids is not None, "no marker found"
    return {int(i): tuple(c.reshape(4, 2).mean(axis=0)) for c, i in zip(corners, ids.flatten())}


def assert_markers(image: np.ndarray, page) -> None:
    found = find_markers(image)
    assert sorted(found) == sorted(m.aruco_id for m in page.markers)
    for m in page.markers:
        want = to_px(*centre(m.box), page.height_pt)
        assert np.hypot(found[m.aruco_id][0] - want[0], found[m.aruco_id][1] - want[1]) < 3, m.corner


def assert_page_codes(image: np.ndarray, page, expected: PageCode) -> None:
    """Both copies of the page code, where the spec puts them, saying `expected`."""
    codes = [b for b in qr_codes(image) if b.text.startswith("CSQ1|")]
    assert len(codes) == 2, [b.text for b in codes]
    assert all(PageCode.decode(b.text) == expected for b in codes)
    for box in page.code_boxes:
        want = to_px(*centre(box), page.height_pt)
        assert any(np.hypot(b.position.top_left.x / 2 + b.position.bottom_right.x / 2 - want[0],
                            b.position.top_left.y / 2 + b.position.bottom_right.y / 2 - want[1]) < 6 for b in codes), box


def chars_in(page, box) -> list[dict]:
    x0, y0, x1, y1 = box
    h = page.height
    return [c for c in page.chars if x0 <= (c["x0"] + c["x1"]) / 2 <= x1 and y0 <= h - (c["top"] + c["bottom"]) / 2 <= y1]


def lines_in(page, box) -> list[dict]:
    x0, y0, x1, y1 = box
    h = page.height
    return [ln for ln in page.lines if x0 - 0.1 <= ln["x0"] and ln["x1"] <= x1 + 0.1 and y0 - 0.1 <= h - ln["bottom"] and h - ln["top"] <= y1 + 0.1]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("forms")


@pytest.fixture(scope="module")
def blank_fr(out_dir) -> Path:
    return blank_pdf(out_dir / "blank-fr.pdf")


@pytest.fixture(scope="module")
def blank_en(out_dir) -> Path:
    return blank_pdf(out_dir / "blank-en.pdf", lang="en")


@pytest.fixture(scope="module")
def sample_doc() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def prefilled(out_dir, sample_doc) -> Path:
    return prefill_pdf(sample_doc, out_dir / "prefilled.pdf")


@pytest.fixture(scope="module")
def separators(out_dir) -> tuple[Path, list[str]]:
    out = out_dir / "separators.pdf"
    return out, separator_pdf(out, count=3)


# --------------------------------------------------------------------------- blank form


def test_page_codes_read_in_every_orientation(blank_fr):
    form = load_form()
    images = rasterize(blank_fr)
    assert len(images) == len(form.pages)
    for page, image in zip(form.pages, images):
        expected = PageCode(form.form_id, form.version, page.index + 1, len(form.pages), page.fingerprint)
        assert_page_codes(image, page, expected)
        for k in (1, 2, 3):  # a page fed sideways or upside down
            texts = [b.text for b in qr_codes(np.ascontiguousarray(np.rot90(image, k)))]
            assert texts.count(expected.encode()) == 2, (page.index, k * 90)


def test_markers_found_at_their_corners(blank_fr):
    form = load_form()
    for page, image in zip(form.pages, rasterize(blank_fr)):
        assert_markers(image, page)


def test_every_box_of_the_layout_is_a_rectangle_in_the_pdf(blank_fr):
    layout = form_layout()
    with pdfplumber.open(blank_fr) as pdf:
        assert len(pdf.pages) == len(layout["pages"])
        for pdf_page, page_layout in zip(pdf.pages, layout["pages"]):
            assert (pdf_page.width, pdf_page.height) == (page_layout["width_pt"], page_layout["height_pt"]) == (612, 792)
            assert_boxes_drawn(pdf_page, page_layout)


def test_boxes_are_thin_dropout_lines(blank_fr):
    """Comb cells in the dropout colour at the stated width: what scan/ relies on."""
    form = load_form()
    cell = form.field("family_name").cells[0]
    with pdfplumber.open(blank_fr) as pdf:
        page = pdf.pages[0]
        rects = [r for r in page.rects if abs(r["x0"] - cell[0]) < 0.01 and abs(page.height - r["bottom"] - cell[1]) < 0.01]
    assert rects and all(r["stroke"] and not r["fill"] for r in rects)
    assert all(tuple(round(v, 3) for v in r["stroking_color"]) == g.BOX_LINE_RGB for r in rects)
    assert all(r["linewidth"] == pytest.approx(g.BOX_LINE_WIDTH_PT) for r in rects)


def test_labels_in_both_languages_and_the_header(blank_fr):
    form = load_form()
    with pdfplumber.open(blank_fr) as pdf:
        texts = [p.extract_text() for p in pdf.pages]
    for page, txt in zip(form.pages, texts):
        assert f"Page {page.index + 1}/{len(form.pages)}" in txt
        assert form.title.fr in txt and form.title.en in txt
        assert form.instructions.fr in txt and form.instructions.en in txt
        for f in page.fields:
            assert f.label.joined("fr") in txt, f.name
            for o in f.options:
                assert o.label.joined("fr") in txt, (f.name, o.value)
    assert "AAAA / YYYY" in texts[0] and "JJ / DD" in texts[0]
    assert form.field("family_name").help.joined("fr") in texts[0]


def test_english_first_changes_the_words_not_the_geometry(blank_fr, blank_en):
    assert form_layout("fr")["pages"][0]["fields"][0]["label"] == "Nom de famille / Family name"
    assert form_layout("en")["pages"][0]["fields"][0]["label"] == "Family name / Nom de famille"
    with pdfplumber.open(blank_fr) as fr, pdfplumber.open(blank_en) as en:
        for p_fr, p_en in zip(fr.pages, en.pages):
            rects_fr = {tuple(np.round(r, 2)) for r in pdf_rects(p_fr)}
            rects_en = {tuple(np.round(r, 2)) for r in pdf_rects(p_en)}
            assert rects_fr == rects_en
        text_en = en.pages[0].extract_text()
    assert "Family name / Nom de famille" in text_en and "Nom de famille / Family name" not in text_en
    assert load_form().title.en in text_en.splitlines()[0]


def test_same_input_same_bytes(out_dir, blank_fr):
    again = blank_pdf(out_dir / "again" / "blank.pdf")  # a missing folder is created
    assert again.read_bytes() == blank_fr.read_bytes()


def test_unwritable_output_is_a_storage_error(out_dir):
    blocker = out_dir / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError) as err:
        blank_pdf(blocker / "blank.pdf")
    assert str(blocker / "blank.pdf") in str(err.value)
    with pytest.raises(StorageError):
        blank_pdf(out_dir)  # a folder, not a file


def test_unknown_language_is_refused(out_dir):
    with pytest.raises(BadArguments):
        blank_pdf(out_dir / "x.pdf", lang="de")
    assert not (out_dir / "x.pdf").exists()


def test_docs_picture_of_page_one(out_dir, blank_fr):
    png = rasterize_first_page_png(blank_fr, out_dir / "page1.png", dpi=50)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- prefilled form


def test_prefill_round_trip_through_the_data_codes(prefilled, sample_doc):
    form = load_form()
    truth = {k: v for k, v in normalize_document(sample_doc)["fields"].items() if not is_empty(v)}
    doc_id = document_id(truth)
    union: dict = {}
    for page, image in zip(form.pages, rasterize(prefilled)):
        texts = [b.text for b in qr_codes(image)]
        data = decode_page_data([t for t in texts if is_data_code(t)])
        assert (data.form_id, data.version, data.page_no, data.document_id) == (form.form_id, form.version, page.index + 1, doc_id)
        assert set(data.fields) <= {f.name for f in page.fields}
        union.update(data.fields)
        page_code = PageCode(form.form_id, form.version, page.index + 1, len(form.pages), page.fingerprint, document_id=doc_id)
        assert_page_codes(image, page, page_code)
        assert_markers(image, page)
    assert union == truth
    assert document_id(union) == doc_id


def test_prefill_types_each_value_into_its_cells(prefilled, sample_doc):
    form = load_form()
    fields = normalize_document(sample_doc)["fields"]
    with pdfplumber.open(prefilled) as pdf:
        for page in form.pages:
            pdf_page = pdf.pages[page.index]
            text = pdf_page.extract_text(x_tolerance=g.CELL_WIDTH_PT * 0.7)
            for f in page.fields:
                value = fields.get(f.name)
                if f.type in ("text", "digits", "date") and value:
                    written = value.replace("-", "") if f.type == "date" else value
                    got = sorted((c for c in chars_in(pdf_page, f.bounds) if c["text"].strip()), key=lambda c: c["x0"])
                    assert "".join(c["text"] for c in got) == written.replace(" ", ""), f.name
                    slots = [i for i, ch in enumerate(written) if ch != " "]
                    for i, c in zip(slots, got):  # each letter centred in its own cell
                        assert abs((c["x0"] + c["x1"]) / 2 - centre(f.cells[i])[0]) < 0.5, (f.name, i)
                    if f.type != "date":
                        assert value in text, f.name
                if f.type == "choice":
                    ticked = [o.value for o in f.options if lines_in(pdf_page, o.box)]
                    assert ticked == ([value] if value else []), f.name
                if f.type in ("checkbox", "signature"):
                    marked = bool(lines_in(pdf_page, f.box) or chars_in(pdf_page, f.box))
                    assert marked == (f.type == "checkbox" and value is True), f.name
    assert fields["declaration_signed"] is True  # signed in the data, yet the box stays for the hand


def test_invalid_data_lists_every_problem_and_writes_nothing(out_dir, sample_doc):
    doc = json.loads(json.dumps(sample_doc))
    doc["fields"].update({"birth_date": "1990-02-30", "sex": "Q", "favourite_colour": "BLUE", "phone": "12AB"})
    del doc["fields"]["family_name"]
    out = out_dir / "refused.pdf"
    with pytest.raises(InvalidData) as err:
        prefill_pdf(doc, out, source="data.json")
    problems = err.value.problems
    assert len(problems) == len(validate(normalize_document(doc))) >= 5
    assert {"birth_date", "sex", "favourite_colour", "phone", "family_name"} <= {p.field for p in problems}
    assert f"{len(problems)} problems" in str(err.value) and str(err.value).startswith("data.json: ")
    assert not out.exists() and not list(out_dir.glob(".refused.pdf*"))


def _maximal_fields(page, rng: random.Random) -> dict:
    """Every field of a page at its longest, in letters that do not compress."""
    letters = TEXT_CHARSET.replace(" ", "")
    out = {}
    for f in page.fields:
        if f.type == "text":
            out[f.name] = "".join(rng.choice(letters) for _ in f.cells)
        elif f.type == "digits":
            out[f.name] = "".join(rng.choice("0123456789") for _ in f.cells)
        elif f.type == "date":
            out[f.name] = f"{rng.randint(1950, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        elif f.type == "choice":
            out[f.name] = max((o.value for o in f.options), key=len)
        else:
            out[f.name] = True
    return out


def test_the_fullest_page_data_fits_the_data_zone():
    form = load_form()
    rng = random.Random(2026)
    for page in form.pages:
        fields = _maximal_fields(page, rng)
        texts = encode_page_data(PageData(form.form_id, form.version, page.index + 1, "ABCDEF12", fields))
        placed = draw.layout_data_codes(page, texts)
        x0, y0, x1, y1 = page.data_zone
        for modules, x, top, module in placed:
            assert module >= g.DATA_MODULE_PT
            assert x0 - 1e-6 <= x and x + len(modules) * module <= x1 + 1e-6
            assert y0 - 1e-6 <= top - len(modules) * module and top <= y1 + 1e-6


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_page_data_fits_or_is_refused_clearly(data):
    form = load_form()
    page = form.pages[data.draw(st.integers(0, len(form.pages) - 1))]
    fields = {}
    for f in page.fields:
        if f.type in ("text", "digits"):
            alphabet = TEXT_CHARSET if f.type == "text" else "0123456789"
            fields[f.name] = data.draw(st.text(alphabet=alphabet, min_size=1, max_size=len(f.cells)))
    texts = encode_page_data(PageData(form.form_id, form.version, page.index + 1, "0000AAAA", fields))
    for modules, _, _, module in draw.layout_data_codes(page, texts):
        assert module >= g.DATA_MODULE_PT
    small = dataclasses.replace(page, data_zone=(100.0, 20.0, 130.0, 50.0))
    with pytest.raises(TemplateError, match="data zone"):
        draw.layout_data_codes(small, texts)


# --------------------------------------------------------------------------- separator sheets


def test_separator_sheets_have_distinct_serials_codes_and_markers(separators):
    out, serials = separators
    sep = load_separator()
    page = sep.pages[0]
    assert len(serials) == len(set(serials)) == 3
    assert all(check_separator_serial(s) for s in serials)
    images = rasterize(out)
    assert len(images) == 3
    for serial, image in zip(serials, images):
        expected = PageCode(sep.form_id, sep.version, 1, 1, page.fingerprint, serial=serial)
        assert_page_codes(image, page, expected)
        assert_markers(image, page)
    with pdfplumber.open(out) as pdf:
        assert_boxes_drawn(pdf.pages[0], form_layout()["separator"])
        text = pdf.pages[1].extract_text()
    assert f"{serials[1][:4]} {serials[1][4:8]} {serials[1][8:]}" in text
    assert sep.title.fr in text


def test_separator_reprint_and_bad_requests(out_dir):
    given_serials = [new_separator_serial(), new_separator_serial()]
    out = out_dir / "reprint.pdf"
    assert separator_pdf(out, serials=[s.lower() for s in given_serials]) == given_serials
    with pdfplumber.open(out) as pdf:
        assert len(pdf.pages) == 2
    for kwargs in ({"count": 0}, {"serials": ["ABCDEFGH0"]}, {"serials": given_serials, "count": 5}):
        with pytest.raises(BadArguments):
            separator_pdf(out_dir / "never.pdf", **kwargs)
    assert not (out_dir / "never.pdf").exists()


@given(st.integers(0, 8), st.sampled_from(ALPHABET))
def test_a_serial_with_one_wrong_character_is_refused(position, replacement):
    serial = new_separator_serial()
    assert check_separator_serial(serial)
    assert check_separator_serial(f"{serial[:4]}-{serial[4:]}".lower())
    wrong = serial[:position] + replacement + serial[position + 1 :]
    assert check_separator_serial(wrong) == (wrong == serial)


def test_serials_refuse_what_is_not_one():
    for bad in ("", "ABC", "ABCDEFGHJK1", "ABCDEFGU1", None, 12345678):
        assert not check_separator_serial(bad)
