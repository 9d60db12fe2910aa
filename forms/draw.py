"""Drawing a laid-out page (templates.spec.PageSpec) on a reportlab canvas.

Everything a scanner looks for (comb cells, tick boxes, the signature box, registration
marks, page codes, data codes) is drawn at the coordinates the spec gives; nothing here
computes a position of its own for those. Text is placed from the spec too; only its
colour, size and the few decorative extras (bands, hints) are chosen here.

reportlab's canvas and the spec share units and origin (PDF points, bottom-left), so a
spec box is drawn as-is.
"""

from __future__ import annotations

import re
from functools import lru_cache

import cv2
import segno
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from errors import TemplateError
from forms.fonts import ink_top, text_font, typed_face, typed_font
from templates import geometry as g
from templates.spec import Bilingual, Box, FieldSpec, FormSpec, PageSpec
from templates.validation import is_empty

# Printed text is near-black rather than pure black so that, on a grey scan, a person's
# black ink is still the darkest thing on the page.
TEXT_GREY = 0.12
HELP_GREY = 0.38
HINT_GREY = 0.5
NOTE_GREY = 0.6
SECTION_BAND_GREY = 0.9  # light enough to vanish under a bilevel threshold
HELP_FONT = "Helvetica-Oblique"
HELP_FONT_SIZE = 6.5
HINT_FONT_SIZE = 5.0
HEADER_SUB_FONT_SIZE = 8.5
HEADER_PAGE_FONT_SIZE = 9.0
MIN_HEADER_FONT_SIZE = 5.5  # smallest instruction text before it wraps instead
SIGNATURE_LINE_WIDTH_PT = 0.8

# Typed values: a monospaced font (forms/fonts.py), so that a whole field is one text run whose
# letters fall one per cell (character spacing = cell pitch - advance) and extract as words.
TYPED_FONT_SIZE = 11.0
TYPED_CAP_HEIGHT = 0.73  # of the font size, to centre capitals vertically in a cell
# Air kept between a typed letter's marks and the top of its cell: an É's, the tallest French
# letter. A taller one (Vietnamese Ễ, Ǜ: two marks) sits lower, or its marks would touch the
# cell's line, where the scan's line removal and the typed-glyph check cannot see them whole.
TYPED_TOP_AIR_PT = 3.75  # an É has 3.79: every letter of the reader's set keeps its place
TICK_INSET_PT = 2.2
TICK_WIDTH_PT = 1.3

QUIET_MODULES = 4  # the QR standard's quiet zone, kept between data symbols
DATA_MODULE_MAX_PT = 2.0  # larger modules read better, but a bigger symbol gains nothing past this
PAGE_CODE_ERROR = "q"  # a staple hole or a pen stroke over a page code must not lose the page
DATA_CODE_ERROR = "m"


# --------------------------------------------------------------------------- primitives


@lru_cache(maxsize=None)
def marker_modules(aruco_id: int) -> tuple[tuple[bool, ...], ...]:
    """The ArUco marker's modules, border included, True where black."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, g.ARUCO_DICTIONARY))
    side = dictionary.markerSize + 2  # one module of black border on each side
    image = cv2.aruco.generateImageMarker(dictionary, aruco_id, side, borderBits=1)
    return tuple(tuple(bool(v == 0) for v in row) for row in image)


@lru_cache(maxsize=512)
def qr_modules(text: str, error: str) -> tuple[tuple[bool, ...], ...]:
    """A QR symbol's modules without quiet zone, True where dark."""
    return tuple(tuple(bool(v) for v in row) for row in segno.make_qr(text, error=error).matrix)


def fill_modules(c: Canvas, modules, x0: float, y_top: float, module: float) -> None:
    """Dark modules as one filled path of horizontal runs: one path leaves no hairline seams
    between neighbouring modules when rasterized."""
    path = c.beginPath()
    for r, row in enumerate(modules):
        y = y_top - (r + 1) * module
        start = None
        for col, dark in enumerate((*row, False)):
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                path.rect(x0 + start * module, y, (col - start) * module, module)
                start = None
    c.setFillGray(0)
    c.drawPath(path, stroke=0, fill=1)


def draw_qr(c: Canvas, text: str, box: Box, error: str) -> None:
    """A QR symbol filling the square `box` (its quiet zone is the white around the box)."""
    modules = qr_modules(text, error)
    x0, y0, x1, y1 = box
    fill_modules(c, modules, x0, y1, min(x1 - x0, y1 - y0) / len(modules))


def draw_marker(c: Canvas, aruco_id: int, box: Box) -> None:
    modules = marker_modules(aruco_id)
    x0, _, x1, y1 = box
    fill_modules(c, modules, x0, y1, (x1 - x0) / len(modules))


def box_rect(c: Canvas, box: Box, width: float = g.BOX_LINE_WIDTH_PT) -> None:
    x0, y0, x1, y1 = box
    c.setStrokeColorRGB(*g.BOX_LINE_RGB)
    c.setLineWidth(width)
    c.rect(x0, y0, x1 - x0, y1 - y0, stroke=1, fill=0)


def tick(c: Canvas, box: Box) -> None:
    """An X across a tick box, as a typist or a careful hand would make it."""
    x0, y0, x1, y1 = box
    i = TICK_INSET_PT
    c.setStrokeGray(0)
    c.setLineWidth(TICK_WIDTH_PT)
    c.setLineCap(1)
    c.line(x0 + i, y0 + i, x1 - i, y1 - i)
    c.line(x0 + i, y1 - i, x1 - i, y0 + i)
    c.setLineCap(0)


def text(c: Canvas, x: float, y: float, s: str, font: str, size: float, grey: float = TEXT_GREY, align: str = "left") -> float:
    """Draws one line; returns its width. A line with a letter the built-in font lacks (Ł) is
    set in its DejaVu stand-in (forms.fonts.text_font)."""
    font = text_font(s, font)
    width = stringWidth(s, font, size)
    if align == "right":
        x -= width
    elif align == "centre":
        x -= width / 2
    c.setFillGray(grey)
    c.setFont(font, size)
    c.drawString(x, y, s)
    return width


def other_lang(lang: str) -> str:
    return "en" if lang == "fr" else "fr"


# --------------------------------------------------------------------------- page furniture


def _fit_lines(s: str, width: float, size: float) -> tuple[list[str], float]:
    """One line of `s` at the largest size up to `size` that fits `width`; below
    MIN_HEADER_FONT_SIZE, several lines at that size instead."""
    natural = stringWidth(s, g.FONT_REGULAR, size)
    if natural <= width:
        return [s], size
    small = max(MIN_HEADER_FONT_SIZE, size * width / natural)
    lines, line = [], ""
    for word in s.split():
        candidate = f"{line} {word}".strip()
        if line and stringWidth(candidate, g.FONT_REGULAR, small) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + [line], small


def _header(c: Canvas, form: FormSpec, page: PageSpec, lang: str) -> None:
    right = min(b[0] for b in page.code_boxes if b[1] > page.height_pt / 2) - 10.0
    second = other_lang(lang)
    text(c, g.TITLE_LEFT_PT, g.TITLE_BASELINE_PT, getattr(form.title, lang), g.FONT_BOLD, g.TITLE_FONT_SIZE, 0)
    if form.title.en != form.title.fr:
        text(c, g.TITLE_LEFT_PT, g.SUBTITLE_BASELINE_PT, getattr(form.title, second), g.FONT_REGULAR, HEADER_SUB_FONT_SIZE)
    page_no = f"Page {page.index + 1}/{page.page_count}"
    width = text(c, right, g.SUBTITLE_BASELINE_PT, page_no, g.FONT_BOLD, HEADER_PAGE_FONT_SIZE, 0, "right")
    form_no = f"{form.form_id.upper()} {form.version}"
    text(c, right - width - 6.0, g.SUBTITLE_BASELINE_PT, form_no, g.FONT_REGULAR, g.TEXT_FONT_SIZE - 1, HELP_GREY, "right")
    texts = [getattr(form.instructions, lang)]
    if form.instructions.en != form.instructions.fr:
        texts.append(getattr(form.instructions, second))
    y = g.INSTRUCTIONS_BASELINE_PT
    for s in filter(None, texts):
        lines, size = _fit_lines(s, right - g.TITLE_LEFT_PT, g.TEXT_FONT_SIZE)
        for line in lines:
            text(c, g.TITLE_LEFT_PT, y, line, g.FONT_REGULAR, size)
            y -= size + 2.0


def _section_title(title: Bilingual, lang: str) -> str:
    """'1. Identité / Identity': the section number once, not in both languages."""
    m = re.match(r"\d+\.\s+", title.fr)
    if m and title.en.startswith(m.group()) and title.en != title.fr:
        cut = len(m.group())
        title = Bilingual(title.fr, title.en[cut:]) if lang == "fr" else Bilingual(title.fr[cut:], title.en)
    return title.joined(lang)


def _section_texts(c: Canvas, page: PageSpec, lang: str) -> None:
    has_required = {f.section for f in page.fields if f.required}
    first_band = True
    for item in page.texts:
        font = g.FONT_BOLD if item.bold else g.FONT_REGULAR
        if item.bold:  # a section title: on a light band across the body
            c.setFillGray(SECTION_BAND_GREY)
            c.rect(g.BODY_LEFT_PT - 3, item.y - 3.5, g.BODY_RIGHT_PT - g.BODY_LEFT_PT + 6, item.size + 4, stroke=0, fill=1)
            if first_band and has_required:
                # The legend of the asterisk, once per page, where the eye starts.
                legend = "* " + Bilingual("obligatoire", "required").joined(lang)
                text(c, g.BODY_RIGHT_PT, item.y, legend, g.FONT_REGULAR, g.TEXT_FONT_SIZE, TEXT_GREY, "right")
            first_band = False
        line = _section_title(item.text, lang) if item.bold else item.text.joined(lang)
        text(c, item.x, item.y, line, font, item.size, 0 if item.bold else TEXT_GREY)


def _label_extent(f: FieldSpec, lang: str) -> Box:
    x, y = f.label_origin
    return (x, y - 2.0, x + stringWidth(f.label.joined(lang), g.FONT_REGULAR, g.LABEL_FONT_SIZE), y + g.LABEL_HEIGHT_PT - 2.0)


def _right_limit(page: PageSpec, f: FieldSpec, lang: str) -> float:
    """How far right text beside this field's label may run: up to the next field on its line."""
    _, y0, _, y1 = _label_extent(f, lang)
    limit = g.BODY_RIGHT_PT
    for other in page.fields:
        ex = _label_extent(other, lang)
        bx0, by0, _, by1 = other.bounds
        left = min(ex[0], bx0)
        overlaps = min(y1, max(ex[3], by1)) > max(y0, min(ex[1], by0))
        if other is not f and overlaps and left > f.label_origin[0]:
            limit = min(limit, left - g.FIELD_GAP_PT / 2)
    return limit


def _date_hints(c: Canvas, f: FieldSpec, lang: str) -> None:
    """'AAAA / YYYY', 'MM', 'JJ / DD' under the three groups of a date's cells."""
    groups = ((f.cells[:4], Bilingual("AAAA", "YYYY")), (f.cells[4:6], Bilingual("MM", "MM")), (f.cells[6:], Bilingual("JJ", "DD")))
    for cells, hint in groups:
        centre = (cells[0][0] + cells[-1][2]) / 2
        bottom = min(cell[1] for cell in cells)
        text(c, centre, bottom - HINT_FONT_SIZE - 0.6, hint.joined(lang), g.FONT_REGULAR, HINT_FONT_SIZE, HINT_GREY, "centre")


def _field(c: Canvas, page: PageSpec, f: FieldSpec, lang: str) -> None:
    for cell in f.cells:
        box_rect(c, cell)
    for option in f.options:
        box_rect(c, option.box)
        text(c, option.label_x, option.box[1] + 2.0, option.label.joined(lang), g.FONT_REGULAR, g.LABEL_FONT_SIZE)
    if f.box:
        box_rect(c, f.box, SIGNATURE_LINE_WIDTH_PT if f.type == "signature" else g.BOX_LINE_WIDTH_PT)
    if f.type == "date":
        _date_hints(c, f, lang)
    x, y = f.label_origin
    end = x + text(c, x, y, f.label.joined(lang), g.FONT_REGULAR, g.LABEL_FONT_SIZE)
    if f.required and f.type != "checkbox":
        end += text(c, end + 1.0, y, "*", g.FONT_REGULAR, g.LABEL_FONT_SIZE) + 1.0
    if f.help:
        help_text = f.help.joined(lang)
        start = end + 6.0
        if start + stringWidth(help_text, HELP_FONT, HELP_FONT_SIZE) <= _right_limit(page, f, lang):
            text(c, start, y, help_text, HELP_FONT, HELP_FONT_SIZE, HELP_GREY)


def _data_zone_note(c: Canvas, page: PageSpec, lang: str) -> None:
    """On a blank form the data zone stays empty: say so, lightly, so nobody writes there."""
    x0, y0, x1, y1 = page.data_zone
    note = Bilingual("Zone réservée — n'écrivez rien ici", "Reserved area — do not write here").joined(lang)
    text(c, (x0 + x1) / 2, (y0 + y1) / 2 - 2, note, g.FONT_REGULAR, g.TEXT_FONT_SIZE - 1, NOTE_GREY, "centre")


def draw_page(c: Canvas, form: FormSpec, page: PageSpec, lang: str, code_text: str, *, zone_note: bool = True) -> None:
    """Everything of a page but typed values and data codes."""
    for m in page.markers:
        draw_marker(c, m.aruco_id, m.box)
    for box in page.code_boxes:
        draw_qr(c, code_text, box, PAGE_CODE_ERROR)
    _header(c, form, page, lang)
    _section_texts(c, page, lang)
    for f in page.fields:
        _field(c, page, f, lang)
    if zone_note:
        _data_zone_note(c, page, lang)


# --------------------------------------------------------------------------- prefilled values


def _runs(cells: tuple[Box, ...]) -> list[tuple[int, int]]:
    """[start, end) index ranges of cells that touch (a date's three groups are three runs)."""
    runs, start = [], 0
    for i in range(1, len(cells) + 1):
        if i == len(cells) or abs(cells[i][0] - cells[i - 1][2]) > 0.01:
            runs.append((start, i))
            start = i
    return runs


def type_in_cells(c: Canvas, cells: tuple[Box, ...], value: str) -> None:
    """One character per cell, centred, each run of touching cells as one text run. A letter
    the monospaced face lacks (NGUYỄN's Ễ) is set in its proportional sibling, centred in its
    own cell (fonts.typed_face: scan/ compares the page with the same face)."""
    font = typed_font()
    advance = stringWidth("M", font, TYPED_FONT_SIZE)
    for start, end in _runs(cells):
        chunk = value[start:end]
        if not chunk:
            continue
        x0, y0, x1, y1 = cells[start]
        pitch = x1 - x0
        baseline = y0 + (y1 - y0 - TYPED_CAP_HEIGHT * TYPED_FONT_SIZE) / 2
        t = c.beginText()
        faces = [typed_face(ch)[0] for ch in chunk]
        lines = [min(baseline, y1 - TYPED_TOP_AIR_PT - ink_top(ch) * TYPED_FONT_SIZE) for ch in chunk]
        if all(face == font for face in faces) and all(b == baseline for b in lines):
            t.setFont(font, TYPED_FONT_SIZE)
            t.setCharSpace(pitch - advance)
            t.setTextOrigin(x0 + (pitch - advance) / 2, baseline)
            t.textOut(chunk)
        else:
            for k, (ch, face, line) in enumerate(zip(chunk, faces, lines)):
                width = stringWidth(ch, face, TYPED_FONT_SIZE)
                t.setFont(face, TYPED_FONT_SIZE)
                t.setTextOrigin(cells[start + k][0] + (pitch - width) / 2, line)
                t.textOut(ch)
        c.setFillGray(0)
        c.drawText(t)


def draw_values(c: Canvas, page: PageSpec, fields: dict) -> None:
    """The values of a normalized data document typed into this page's fields. The signature
    box stays empty: only the candidate's hand may sign."""
    for f in page.fields:
        value = fields.get(f.name)
        if is_empty(value):
            continue
        if f.type in ("text", "digits"):
            type_in_cells(c, f.cells, value)
        elif f.type == "date":
            type_in_cells(c, f.cells, value.replace("-", ""))
        elif f.type == "choice":
            for option in f.options:
                if option.value == value:
                    tick(c, option.box)
        elif f.type == "checkbox" and value is True:
            tick(c, f.box)


def layout_data_codes(page: PageSpec, texts: list[str]) -> list[tuple[tuple, float, float, float]]:
    """Where the data symbols of a page go: (modules, x0, y_top, module size), side by side,
    centred in the data zone, all with the largest module that fits (at least DATA_MODULE_PT)."""
    symbols = [qr_modules(t, DATA_CODE_ERROR) for t in texts]
    x0, y0, x1, y1 = page.data_zone
    wide = sum(len(s) for s in symbols) + QUIET_MODULES * (len(symbols) - 1)
    tall = max(len(s) for s in symbols)
    module = min((x1 - x0) / wide, (y1 - y0) / tall, DATA_MODULE_MAX_PT)
    if module < g.DATA_MODULE_PT:
        raise TemplateError(
            f"page {page.index + 1} of {page.form_id} {page.version}: its data codes need "
            f"{wide * g.DATA_MODULE_PT:.0f} x {tall * g.DATA_MODULE_PT:.0f} pt at {g.DATA_MODULE_PT} pt per module, "
            f"the data zone is {x1 - x0:.0f} x {y1 - y0:.0f} pt: enlarge DATA_ZONE in templates/geometry.py "
            "or move fields to another page"
        )
    x = (x0 + x1 - wide * module) / 2
    placed = []
    for s in symbols:
        top = (y0 + y1 + len(s) * module) / 2
        placed.append((s, x, top, module))
        x += (len(s) + QUIET_MODULES) * module
    return placed


def draw_data_codes(c: Canvas, placed) -> None:
    for modules, x0, y_top, module in placed:
        fill_modules(c, modules, x0, y_top, module)


# --------------------------------------------------------------------------- separator sheet


def draw_separator_extras(c: Canvas, page: PageSpec, form: FormSpec, serial_text: str, lang: str) -> None:
    """What makes a separator obvious at a glance: a black band with the title reversed out in
    the empty body below the fields, black stripes in the side margins, and the serial in
    print for a person who must type it."""
    fields_bottom = min(f.bounds[1] for f in page.fields) - 2 * g.ROW_GAP_PT
    band_h = 96.0
    band_top = fields_bottom - 40.0
    c.setFillGray(0)
    c.rect(g.BODY_LEFT_PT, band_top - band_h, g.BODY_RIGHT_PT - g.BODY_LEFT_PT, band_h, stroke=0, fill=1)
    centre = (g.BODY_LEFT_PT + g.BODY_RIGHT_PT) / 2
    room = g.BODY_RIGHT_PT - g.BODY_LEFT_PT - 24
    for k, (s, base) in enumerate(((getattr(form.title, lang), 26.0), (getattr(form.title, other_lang(lang)), 16.0))):
        size = min(base, base * room / stringWidth(s, g.FONT_BOLD, base))
        text(c, centre, band_top - 40 - k * 32, s, g.FONT_BOLD, size, 1.0, "centre")
    label = Bilingual("No de feuille", "Sheet no.").joined(lang)
    text(c, centre, band_top - band_h - 30, label, g.FONT_REGULAR, 9, TEXT_GREY, "centre")
    text(c, centre, band_top - band_h - 52, serial_text, typed_font(), 18, 0, "centre")
    # Side stripes stay clear of the corner markers by their quiet zone (one marker side).
    low = g.MARKER_INSET_PT + 2 * g.MARKER_SIZE_PT
    high = page.height_pt - low
    for x in (g.MARKER_INSET_PT / 3, page.width_pt - g.MARKER_INSET_PT * 5 / 6):
        c.rect(x, low, g.MARKER_INSET_PT / 2, high - low, stroke=0, fill=1)
