"""Stage 4, read: an aligned page and its template in, the raw evidence of every field out.

Reading is data, not a verdict (SDAPS keeps raw metrics beside each box): this stage measures
and recognises; scan/judge.py decides what the value is and whether a person must look.

- comb fields (text, digits, date): each field's box lines are found locally (alignment leaves
  a pixel or two), empty cells are found by ink, each written cell is recognised by the
  comb-cell ICR restricted to the field's charset, and Tesseract reads the written cells joined
  into one line (box lines removed: reading-notes) as a second opinion;
- tick boxes (choice, checkbox): scan/ticks.py measures each box (the share of dark pixels
  inside it, AMC's measure, and the ink around it);
- signature: ink inside the box, and how wide it spreads;
- prefilled pages: the values come from the data codes; the typed text and the tick marks on
  the page are read as well, to notice a value the person changed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from scan import thresholds as t
from scan.accents import Marks, marks_near
from scan.align import box_to_px
from scan.engines import CellRecognizer, CharGuess, LineReading, OcrEngine
# The pixel measures live in scan/ink.py (shared with scan/accents.py); their old names stay here.
from scan.ink import crop as _crop
from scan.ink import dark as _dark
from scan.ink import line_masks as _line_masks
from scan.ink import paper_level as _paper_level
from scan.ink import remove_lines
from scan.ticks import Mark, mark_box
from scan.typed_glyphs import glyph_match
from templates.spec import Box, FieldSpec, PageSpec


@dataclass(frozen=True)
class RawField:
    """Everything measured about one field on one page, before any judgement."""

    name: str
    type: str
    page_no: int
    box: Box  # the field's bounds in PDF points
    source: str  # 'ocr', 'omr', 'barcode'
    # comb fields: one entry per cell; None where the cell is empty
    cells: tuple[CharGuess | None, ...] = ()
    cell_ink: tuple[float, ...] = ()
    doubtful_cells: tuple[int, ...] = ()  # cells neither clearly empty nor clearly written
    second_opinion: str | None = None  # Tesseract's reading of the written cells, spaces kept
    second_cells: tuple[str, ...] = ()  # Tesseract's character per cell ('' where it read none)
    second_confidence: float = 0.0
    offset_px: tuple[int, int] = (0, 0)  # local correction of the alignment for this field
    glyph_match: tuple[float, ...] = ()  # typed fields: how well each cell matches the typed letter expected
    recognizer: str = ""  # who guessed the cells: 'icr', 'tesseract' (no ICR installed), 'typed'
    ink_above: tuple[int, ...] = ()  # cells with handwriting just above them: a letter corrected there
    # cells with a separate mark above the letter's body (in the cell's top, or just above the cell,
    # touching its line or not): an accent, unless the chosen character has none (scan.judge)
    marks_above: tuple[int, ...] = ()
    marks_below: tuple[int, ...] = ()  # ... below its body (scan/accents.py): a cedilla, an ogonek
    # cells whose letter reaches clearly above the field's cap line (below its baseline): a mark
    # drawn joined to it, unless the chosen character has one there (scan.judge)
    joined_above: tuple[int, ...] = ()
    joined_below: tuple[int, ...] = ()
    line_visibility: float = 1.0  # share of the printed box lines seen dark: low when a bilevel scan dropped light ink
    bilevel: bool = False  # the field's pixels are black and white (a 1-bit scan): thin strokes lost or merged
    # tick boxes
    marks: tuple[Mark, ...] = ()
    # signature
    ink: float = 0.0
    spread: float = 0.0  # share of the box width the ink spans
    # prefilled: the value the data codes carry for this field (None: not prefilled)
    barcode_value: str | bool | None = None
    typed_check: str = ""  # '', 'agree', or why the page disagrees with the barcode value

    @property
    def written(self) -> str:
        """The ICR's best string: a space for an empty cell between written ones."""
        chars = [g.best if g is not None else " " for g in self.cells]
        return "".join(chars).strip()


# ------------------------------------------------------------------------------ helpers


def _best_shift(profile: np.ndarray, positions: list[int], radius: int) -> int:
    """The shift d in [-radius, radius] that puts the most dark pixels on the expected lines."""
    n = len(profile)
    scores = []
    for d in range(-radius, radius + 1):
        s = 0.0
        for p in positions:
            q = p + d
            if 1 <= q < n - 1:
                s += profile[q - 1] * 0.5 + profile[q] + profile[q + 1] * 0.5
        scores.append((s, -abs(d), d))
    return max(scores)[2]


def locate(image: np.ndarray, page: PageSpec, boxes: tuple[Box, ...]) -> tuple[list[tuple[int, int, int, int]], tuple[int, int]]:
    """The pixel boxes of a row of printed boxes (comb cells or tick boxes), moved by the small
    shift that best lays them on the printed lines, and that shift."""
    px = [box_to_px(page, b) for b in boxes]
    r = t.LOCATE_RADIUS_PX
    x0 = min(b[0] for b in px) - r - 2
    y0 = min(b[1] for b in px) - r - 2
    x1 = max(b[2] for b in px) + r + 3
    y1 = max(b[3] for b in px) + r + 3
    strip = _crop(image, x0, y0, x1, y1)
    if strip.size == 0:
        return px, (0, 0)
    x0, y0 = max(0, x0), max(0, y0)
    dark = _dark(strip, t.LINE_DARK_MARGIN)
    cell_w = int(np.median([b[2] - b[0] for b in px]))
    cell_h = int(np.median([b[3] - b[1] for b in px]))
    comb = any(abs(a[2] - b[0]) <= 1 for a, b in zip(px, px[1:]))  # cells that share their lines
    vertical, horizontal = _line_masks(dark, cell_w, cell_h, comb=comb)
    xs = sorted({b[0] - x0 for b in px} | {b[2] - x0 for b in px})
    ys = sorted({b[1] - y0 for b in px} | {b[3] - y0 for b in px})
    dx = _best_shift(vertical.sum(axis=0).astype(np.float64), xs, r)
    dy = _best_shift(horizontal.sum(axis=1).astype(np.float64), ys, r)
    return [(a + dx, b + dy, c + dx, d + dy) for a, b, c, d in px], (dx, dy)


# ------------------------------------------------------------------------------ comb fields


def line_visibility(image: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> float:
    """Share of the printed comb lines (left and top edge of every cell, located) that the scan
    shows dark. The lines are a light dropout red: a bilevel scan with a low threshold loses
    them, and with them a light pen's strokes, so an empty-looking field is then not known empty."""
    seen = total = 0
    strip = _crop(image, min(b[0] for b in boxes) - 8, min(b[1] for b in boxes) - 8, max(b[2] for b in boxes) + 9, max(b[3] for b in boxes) + 9)
    level = min(_paper_level(strip) - t.LINE_DARK_MARGIN, t.MAX_DARK_LEVEL)
    for x0, y0, x1, y1 in boxes:
        left = _crop(image, x0 - 1, y0 + 2, x0 + 2, y1 - 1) < level  # a column band across the left line
        top = _crop(image, x0 + 2, y0 - 1, x1 - 1, y0 + 2) < level
        seen += int(left.any(axis=1).sum()) + int(top.any(axis=0).sum())
        total += left.shape[0] + top.shape[1]
    return round(seen / total, 3) if total else 1.0


def is_bilevel(strip: np.ndarray) -> bool:
    """A 1-bit scan (CCITT G4, a bilevel PDF), aligned: nearly every pixel pure black or white
    (interpolation greys only the edges) and much of the ink exactly black. A grey or colour scan's
    ink is never that black (bench seed 1: 0-1.4 % of its dark pixels, bilevel pages 13-56 %)."""
    dark = strip < 128
    if np.count_nonzero(dark) < t.MIN_INK_COMPONENT_PX * 10:
        return False
    extreme = np.count_nonzero((strip <= t.BILEVEL_BLACK) | (strip >= 255 - t.BILEVEL_BLACK)) / strip.size
    return extreme >= t.BILEVEL_EXTREME_SHARE and np.count_nonzero(strip[dark] <= t.BILEVEL_BLACK) / np.count_nonzero(dark) >= t.BILEVEL_BLACK_SHARE


def is_speck(interior: np.ndarray) -> bool:
    """All the cell's ink is one small compact dot (dust, a toner speck), or nothing."""
    dark = _dark(interior, t.INK_DARK_MARGIN)
    if not dark.any():
        return True
    ys, xs = np.nonzero(dark)
    return len(ys) <= t.SPECK_MAX_PX and np.ptp(ys) < t.SPECK_MAX_SIDE_PX and np.ptp(xs) < t.SPECK_MAX_SIDE_PX


def cell_ink(interior: np.ndarray) -> float:
    """Share of a cell's interior covered by ink: what tells a written cell from an empty one."""
    if interior.size == 0:
        return 0.0
    dark = _dark(interior, t.INK_DARK_MARGIN)
    total = int(np.count_nonzero(dark))
    if total < t.MIN_INK_COMPONENT_PX:
        return 0.0
    # Specks (scanner dust, JPEG ringing) are not writing: keep components of some size only.
    n, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    big = sum(int(s[cv2.CC_STAT_AREA]) for s in stats[1:] if s[cv2.CC_STAT_AREA] >= t.MIN_INK_COMPONENT_PX)
    return big / interior.size


def read_comb(
    image: np.ndarray,
    page: PageSpec,
    f: FieldSpec,
    *,
    icr: CellRecognizer | None,
    ocr: OcrEngine | None,
    printed: np.ndarray | None = None,
    typed: str | None = None,
) -> RawField:
    """`printed`: the page's printed ink (blank template, canonical raster, True where printed)
    to tell handwriting above the cells from the printed label. `typed`: the prefilled value's
    characters, one per cell: the cells are then compared with that typed text, not recognised."""
    boxes, offset = locate(image, page, f.cells)
    cell_w = int(np.median([b[2] - b[0] for b in boxes]))
    cell_h = int(np.median([b[3] - b[1] for b in boxes]))
    inset = t.CELL_INSET_PX
    x0 = min(b[0] for b in boxes) - 4
    y0 = min(b[1] for b in boxes) - 4
    strip = _crop(image, x0, y0, max(b[2] for b in boxes) + 5, max(b[3] for b in boxes) + 5)
    x0, y0 = max(0, x0), max(0, y0)
    clean = remove_lines(strip, cell_w, cell_h)
    crops, interiors = [], []
    for bx0, by0, bx1, by1 in boxes:
        crops.append(np.ascontiguousarray(_crop(image, bx0, by0, bx1 + 1, by1 + 1)))
        interiors.append(clean[by0 - y0 + inset : by1 - y0 - inset + 1, bx0 - x0 + inset : bx1 - x0 - inset + 1])
    inks = [cell_ink(c) for c in interiors]
    visibility = line_visibility(image, boxes)
    bilevel = is_bilevel(strip)
    marked = []
    for crop, ink in zip(crops, inks):
        marked.append(not icr.is_cell_empty(crop)[0] if icr is not None else ink >= t.CELL_EMPTY_INK)
    written, doubtful = [], []
    for i, (interior, ink) in enumerate(zip(interiors, inks)):
        alone = not (i > 0 and marked[i - 1]) and not (i + 1 < len(marked) and marked[i + 1])
        if alone and is_speck(interior):
            # A dot of dust or toner with no written neighbour: a full stop or an apostrophe is
            # never written alone between empty boxes (dust lands in ~1 % of boxes on a dirty scan).
            continue
        if marked[i] and ink < t.CELL_WRITTEN_INK or not marked[i] and ink >= t.CELL_EMPTY_INK:
            doubtful.append(i)
        if marked[i]:
            written.append(i)
    charset = f.charset  # the ICR chooses among the field's own characters (letters only in a name)
    guesses: list[CharGuess | None] = [None] * len(boxes)
    if typed is not None:
        # Typed text is matched against the letters expected, not read: faster than OCR, and a
        # letter a hand wrote over no longer looks like the typed one.
        matches = tuple(
            round(glyph_match(interiors[i], typed[i]), 3) if i < len(typed) and typed[i] != " " else 0.0 for i in range(len(boxes))
        )
        for i in written:
            guesses[i] = CharGuess(typed[i] if i < len(typed) else "?", matches[i])
        return RawField(
            name=f.name, type=f.type, page_no=page.index + 1, box=f.bounds, source="ocr", cells=tuple(guesses),
            cell_ink=tuple(round(v, 4) for v in inks), doubtful_cells=tuple(doubtful), offset_px=offset,
            glyph_match=matches, recognizer="typed", line_visibility=visibility, bilevel=bilevel,
            ink_above=_ink_above(image, boxes, written, printed) if printed is not None and written else (),
        )
    if icr is not None and written:
        for i, g in zip(written, icr.classify([crops[i] for i in written], charset)):
            guesses[i] = g
    second, second_cells, second_conf = None, (), 0.0
    if ocr is not None and written:
        line, spans = _joined_line(interiors, written)
        # Tesseract keeps the type's whitelist: its second opinion is calibrated as read so.
        reading = ocr.read_line(line, charset=f.type_charset.replace(" ", ""))
        second = _spaced(reading, spans, len(boxes))
        second_cells = _per_cell(reading, spans, len(boxes))
        second_conf = reading.confidence
        if icr is None:  # no ICR installed: Tesseract's characters stand in, with its confidences
            for i in written:
                ch, p = _tess_char(reading, spans[i])
                guesses[i] = CharGuess(ch, p * t.TESSERACT_ONLY_DISCOUNT) if ch else CharGuess("?", 0.0)
    above = _ink_above(image, boxes, written, printed) if printed is not None and written else ()
    # Only words carry accents (scan.judge reads the marks of text fields alone).
    accents = marks_near(image, boxes, written, printed, offset, cell_w, cell_h) if printed is not None and written and f.type == "text" else Marks()
    recognizer = "icr" if icr is not None else "tesseract"
    return RawField(
        name=f.name,
        type=f.type,
        page_no=page.index + 1,
        box=f.bounds,
        source="ocr",
        cells=tuple(guesses),
        recognizer=recognizer,
        ink_above=above,
        marks_above=accents.above,
        marks_below=accents.below,
        joined_above=accents.joined_above,
        joined_below=accents.joined_below,
        line_visibility=visibility,
        bilevel=bilevel,
        cell_ink=tuple(round(v, 4) for v in inks),
        doubtful_cells=tuple(doubtful),
        second_opinion=second,
        second_cells=second_cells,
        second_confidence=second_conf,
        offset_px=offset,
    )


def _ink_columns(interior: np.ndarray) -> np.ndarray:
    """The interior cut to the columns that hold ink (plus a little air): joined side by side,
    the cut cells read like ordinary text, which is what Tesseract is trained on; whole cells
    joined leave gaps of two letter widths that it reads as noise."""
    dark = _dark(interior, t.INK_DARK_MARGIN)
    cols = np.flatnonzero(dark.sum(axis=0))
    if cols.size == 0:
        return interior
    a = max(0, int(cols[0]) - t.LINE_CHAR_AIR_PX)
    b = min(interior.shape[1], int(cols[-1]) + 1 + t.LINE_CHAR_AIR_PX)
    return interior[:, a:b]


def _ink_above(image: np.ndarray, boxes, written: list[int], printed: np.ndarray) -> tuple[int, ...]:
    """Written cells with handwriting in the band just above them, where the printed label is
    the only ink a blank page has: a person who corrects a letter writes the right one there."""
    out = []
    for i in written:
        x0, y0, x1, y1 = boxes[i]
        h = y1 - y0
        band = (x0 + 2, y0 - int(h * t.ABOVE_BAND[1]), x1 - 1, y0 - int(h * t.ABOVE_BAND[0]))
        scan = _crop(image, *band)
        mask = _crop(printed, *band)
        if scan.size == 0 or mask.shape != scan.shape:
            continue
        ink = _dark(scan, t.INK_DARK_MARGIN).astype(bool) & ~mask
        rows = np.flatnonzero(ink.any(axis=1))
        # A letter, not a stray stroke: enough ink, and as tall as a written capital.
        tall = rows.size and (rows[-1] - rows[0] + 1) >= t.ABOVE_MIN_EXTENT * ink.shape[0]
        if tall and np.count_nonzero(ink) >= t.ABOVE_MIN_INK_SHARE * scan.size:
            out.append(i)
    return tuple(out)


def _joined_line(interiors: list[np.ndarray], written: list[int]) -> tuple[np.ndarray, dict[int, tuple[int, int]]]:
    """The written cells' ink side by side on one line, a wider gap where an empty cell
    separates words; and each cell's x span on that line."""
    h = max(c.shape[0] for c in interiors)
    pad, gap, space = t.LINE_PAD_PX, t.LINE_GAP_PX, t.LINE_SPACE_PX
    parts, spans, x = [], {}, pad
    previous = None
    for i in written:
        if previous is not None:
            width = space if i - previous > 1 else gap
            parts.append(np.full((h, width), 255, np.uint8))
            x += width
        c = _ink_columns(interiors[i])
        cell = np.full((h, c.shape[1]), 255, np.uint8)
        cell[: c.shape[0]] = c
        parts.append(cell)
        spans[i] = (x, x + c.shape[1])
        x += c.shape[1]
        previous = i
    line = np.hstack(parts)
    return cv2.copyMakeBorder(line, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255), spans


def _cell_of(box: tuple[int, int, int, int], spans: dict[int, tuple[int, int]]) -> int | None:
    centre = (box[0] + box[2]) / 2
    for i, (a, b) in spans.items():
        if a - t.LINE_GAP_PX / 2 <= centre < b + t.LINE_GAP_PX / 2:
            return i
    return None


def _per_cell(reading: LineReading, spans: dict[int, tuple[int, int]], n: int) -> tuple[str, ...]:
    out = [""] * n
    for ch, _, box in reading.chars:
        i = _cell_of(box, spans)
        if i is not None:
            out[i] += ch
    return tuple(out)


def _spaced(reading: LineReading, spans: dict[int, tuple[int, int]], n: int) -> str:
    per_cell = _per_cell(reading, spans, n)
    return "".join(c if c else " " for c in per_cell).strip()


def _tess_char(reading: LineReading, span: tuple[int, int]) -> tuple[str, float]:
    hits = [(ch, p) for ch, p, box in reading.chars if _cell_of(box, {0: span}) == 0]
    if len(hits) != 1:
        return "", 0.0
    return hits[0]


# ------------------------------------------------------------------------------ tick boxes


def read_marks(image: np.ndarray, page: PageSpec, f: FieldSpec, printed: np.ndarray | None = None) -> RawField:
    if f.type == "choice":
        boxes, offset = locate(image, page, tuple(o.box for o in f.options))
        marks = tuple(mark_box(image, b, o.value, printed) for b, o in zip(boxes, f.options))
    else:
        boxes, offset = locate(image, page, (f.box,))
        marks = (mark_box(image, boxes[0], "box", printed),)
    return RawField(f.name, f.type, page.index + 1, f.bounds, "omr", marks=marks, offset_px=offset)


def read_signature(image: np.ndarray, page: PageSpec, f: FieldSpec) -> RawField:
    (box,), offset = locate(image, page, (f.box,))
    x0, y0, x1, y1 = box
    i = t.SIGNATURE_INSET_PX
    inside = _crop(image, x0 + i, y0 + i, x1 - i + 1, y1 - i + 1)
    dark = _dark(inside, t.INK_DARK_MARGIN)
    n, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    keep = [s for s in stats[1:] if s[cv2.CC_STAT_AREA] >= t.MIN_INK_COMPONENT_PX]
    ink = sum(int(s[cv2.CC_STAT_AREA]) for s in keep) / max(1, inside.size)
    if keep:
        left = min(int(s[cv2.CC_STAT_LEFT]) for s in keep)
        right = max(int(s[cv2.CC_STAT_LEFT] + s[cv2.CC_STAT_WIDTH]) for s in keep)
        spread = (right - left) / max(1, inside.shape[1])
    else:
        spread = 0.0
    return RawField(f.name, f.type, page.index + 1, f.bounds, "omr", ink=round(ink, 4), spread=round(spread, 3), offset_px=offset)


# ------------------------------------------------------------------------------ prefilled


def typed_text(value, f: FieldSpec) -> str:
    if f.type == "date" and isinstance(value, str):
        return value.replace("-", "")
    return str(value)


def check_typed(raw: RawField, f: FieldSpec, value) -> str:
    """'agree' if what is on the page matches the barcode value, else why not. Typed text is
    crisp (reading-notes: 25/25 typed fields exact) so a difference means a hand changed it."""
    if f.type in ("choice", "checkbox"):
        ticked = [m.value for m in raw.marks if m.state in ("ticked", "filled")]
        expected = [value] if f.type == "choice" else (["box"] if value is True else [])
        if sorted(ticked) != sorted(expected) or any(m.state in ("cancelled", "faint") for m in raw.marks):
            return f"the boxes ticked on the page ({', '.join(ticked) or 'none'}) differ from the barcode"
        return "agree"
    if f.type not in ("text", "digits", "date"):
        return "agree"
    expected = typed_text(value, f)
    written = [g is not None for g in raw.cells]
    should = [i < len(expected) and expected[i] != " " for i in range(len(raw.cells))]
    # A letter a hand added leaves ink inside its box; a box the ICR calls written with less than
    # CELL_EMPTY_INK inside (dust, a hair or a crease crossing, bits of its lines) is no change.
    inked = [i >= len(raw.cell_ink) or raw.cell_ink[i] >= t.CELL_EMPTY_INK for i in range(len(raw.cells))]
    extra = [i + 1 for i, (w, s, k) in enumerate(zip(written, should, inked)) if w and k and not s]
    missing = [i + 1 for i, (w, s) in enumerate(zip(written, should)) if s and not w]
    if extra:
        return f"ink in box(es) {', '.join(map(str, extra))} that the typed value leaves empty"
    if missing:
        return f"box(es) {', '.join(map(str, missing))} of the typed value are empty (erased?)"
    changed = [i + 1 for i, ok in enumerate(should) if ok and i < len(raw.glyph_match) and raw.glyph_match[i] < t.GLYPH_MIN_MATCH]
    if changed:
        return f"box(es) {', '.join(map(str, changed))} do not look like the typed letters of {expected!r} (written over?)"
    if raw.ink_above:
        return f"handwriting above box(es) {', '.join(str(i + 1) for i in raw.ink_above)}: a typed letter corrected by hand?"
    return "agree"


# ------------------------------------------------------------------------------ a page


def read_page(
    image: np.ndarray,
    page: PageSpec,
    *,
    icr: CellRecognizer | None,
    ocr: OcrEngine | None,
    prefilled: dict | None = None,
    printed: np.ndarray | None = None,
) -> tuple[RawField, ...]:
    """Every field of the aligned page. `prefilled`: the page's values from its data codes.
    `printed`: the blank page's printed ink on the canonical raster (see read_comb)."""
    out = []
    for f in page.fields:
        value = (prefilled or {}).get(f.name)
        # A signature is never prefilled: the data may say "signed", only ink on the page signs.
        is_prefilled = f.type != "signature" and prefilled is not None and (value not in (None, "", False) or f.name in prefilled)
        if f.type in ("text", "digits", "date"):
            # A typed value is read by Tesseract alone (the ICR learned handprint, not type).
            typed = typed_text(value, f) if is_prefilled else None
            raw = read_comb(image, page, f, icr=icr, ocr=ocr, printed=printed, typed=typed)
        elif f.type in ("choice", "checkbox"):
            raw = read_marks(image, page, f, printed)
        else:
            raw = read_signature(image, page, f)
        if is_prefilled:
            raw = replace(raw, source="barcode", barcode_value=value, typed_check=check_typed(raw, f, value))
        out.append(raw)
    return tuple(out)
