"""Marks near a written letter (issues 12 and 14): a separate stroke above its body (an accent,
a tilde, a diaeresis: in the cell's top, across its top line, or just above it) or below it (a
cedilla, an ogonek, a comma: in the cell's bottom, across its bottom line, or just below it).

The reader only measures: scan.judge compares each mark with the character chosen for its cell
(an É explains a stroke above, a Ç one below) and sends a field with a mark its value does not
explain to a person. What is no one's hand is taken out first: the box lines (a stroke crossing
one is joined again), the page's printed ink (the labels of this field and of the next), dust.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from scan import thresholds as t
from scan.ink import crop, dark, line_pixels, paper_level


def marks_near(image: np.ndarray, boxes, written: list[int], printed: np.ndarray, offset: tuple[int, int],
               cell_w: int, cell_h: int) -> Marks:
    """The marks near the written cells of one comb field (`Marks`). `printed`: the page's printed
    ink (canonical raster, grown for alignment slack); `offset`: how far the field's lines were
    found from where the alignment put them (the printed ink moves with them)."""
    above, below = int(cell_h * t.ACCENT_BAND_ABOVE), int(cell_h * t.ACCENT_BAND_BELOW)
    xs0, ys0 = min(b[0] for b in boxes) - 4, min(b[1] for b in boxes) - above - 4
    xs1, ys1 = max(b[2] for b in boxes) + 5, max(b[3] for b in boxes) + below + 5
    strip = crop(image, xs0, ys0, xs1, ys1)
    xs0, ys0 = max(0, xs0), max(0, ys0)
    if strip.size == 0:
        return Marks()
    top = int(np.median([b[1] for b in boxes])) - ys0
    bottom = int(np.median([b[3] for b in boxes])) - ys0
    window = _window(printed, xs0 - offset[0], ys0 - offset[1], strip.shape)
    ink = field_ink(strip, window, top, bottom, cell_w, cell_h)
    # Pieces are whole (a blot or the next field's writing is measured whole, not the part of it
    # in a cell's band); the body of each letter is what of them crosses its cell's middle.
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    # Each piece's ink off the printed mask's slack: a lump left where box lines meet (thick on a
    # bilevel scan) lies wholly within it; a pen's stroke across a line runs out of it (one that
    # stays within 4 px of the line is lost: measured, counting it doubted 3x more plain words).
    free = np.bincount(labels[~window], minlength=n)
    # A stroke that faded in the middle leaves its two ends apart at the pen's darkness and joined
    # at a fainter one (the printed ink and its slack left out: the lines' halo joins everything).
    faint = dark(strip, t.ACCENT_FAINT_MARGIN).astype(bool) & ~window
    faint |= ink
    _, faint_labels = cv2.connectedComponents(faint.astype(np.uint8), connectivity=8)
    joined = np.zeros(n, np.int32)
    joined[labels[ink]] = faint_labels[ink]
    cells = {}
    for i in written:
        bx0, by0, bx1, by1 = boxes[i]
        x0, x1 = max(0, bx0 + t.CELL_INSET_PX - xs0), bx1 - t.CELL_INSET_PX + 1 - xs0
        middle, half = (by0 + by1) // 2 - ys0, int((by1 - by0) * t.ACCENT_BODY_BAND)
        cells[i] = _body(labels[:, x0:x1], stats, x0, middle - half, middle + half)
    bodies = {i: b for i, b in cells.items() if b is not None}
    letter = float(np.median([b[5] for b in bodies.values()])) if bodies else 0.0
    lines = writing_lines(list(bodies.values()))
    out_above, out_below = [], []
    for i, body in bodies.items():
        if _mark(body, stats, free, joined, letter, ink.shape[0], side="above", lines=lines):
            out_above.append(i)
        if _mark(body, stats, free, joined, letter, ink.shape[0], side="below", lines=lines):
            out_below.append(i)
    rising, sinking = beyond_the_line(bodies, cell_h)
    return Marks(tuple(out_above), tuple(out_below), rising, sinking)


@dataclass(frozen=True)
class Marks:
    """Cells (0-based) with a separate mark above the letter's body, with one below it, and cells
    whose letter itself reaches clearly above the field's cap line or below its baseline (a mark
    drawn joined to the letter: a thick pen's diaeresis fused with an I, a cedilla's tail with a C)."""

    above: tuple[int, ...] = ()
    below: tuple[int, ...] = ()
    joined_above: tuple[int, ...] = ()
    joined_below: tuple[int, ...] = ()


def beyond_the_line(bodies: dict[int, tuple], cell_h: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(cells whose letter rises clearly above the writer's cap line, cells whose letter sinks
    clearly below the baseline) in one field. The cap line is the median top of the letters'
    bodies, the baseline their median bottom; a letter counts when both its top (or bottom) and
    its height pass the field's by ACCENT_JOINED_* of the cell height and by ACCENT_JOINED_SPREAD
    times the field's own spread of tops (or bottoms): a letter written higher or lower than its
    neighbours, at its ordinary height, is no mark; a hand whose letters wander is given its room."""
    lines = writing_lines(list(bodies.values()))
    if lines is None:
        return (), ()
    cap, base, height = lines
    tops = np.array([b[1] for b in bodies.values()], float)
    bottoms = np.array([b[2] for b in bodies.values()], float)
    spread_top = float(np.median(np.abs(tops - cap)))
    spread_bottom = float(np.median(np.abs(bottoms - base)))
    up, down = [], []
    for i, b in sorted(bodies.items()):
        taller = b[2] - b[1] - height
        if min(cap - b[1], taller) > max(t.ACCENT_JOINED_ABOVE * cell_h, t.ACCENT_JOINED_SPREAD * spread_top):
            up.append(i)
        if min(b[2] - base, taller) > max(t.ACCENT_JOINED_BELOW * cell_h, t.ACCENT_JOINED_SPREAD * spread_bottom):
            down.append(i)
    return tuple(up), tuple(down)


def writing_lines(bodies: list[tuple]) -> tuple[float, float, float] | None:
    """(cap line, baseline, letter height) of a field's writing: the median top, bottom and height
    of its letters' bodies; None with fewer than ACCENT_JOINED_MIN_LETTERS letters."""
    if len(bodies) < t.ACCENT_JOINED_MIN_LETTERS:
        return None
    tops = np.array([b[1] for b in bodies], float)
    bottoms = np.array([b[2] for b in bodies], float)
    return float(np.median(tops)), float(np.median(bottoms)), float(np.median(bottoms - tops))


def _window(printed: np.ndarray, x0: int, y0: int, shape: tuple[int, int]) -> np.ndarray:
    """The printed mask under the strip (False off the page)."""
    out = np.zeros(shape, bool)
    h, w = printed.shape
    a, b = max(0, x0), max(0, y0)
    part = printed[b : min(h, y0 + shape[0]), a : min(w, x0 + shape[1])]
    out[b - y0 : b - y0 + part.shape[0], a - x0 : a - x0 + part.shape[1]] = part
    return out


def field_ink(strip: np.ndarray, printed: np.ndarray, top: int, bottom: int, cell_w: int, cell_h: int) -> np.ndarray:
    """The handwriting of a comb strip, True where it is: darker than the paper (by less than pen
    ink must be, so a light stroke of a letter is not cut off and taken for a mark), the box lines
    and printed ink taken out, and strokes that crossed the top or bottom line joined again across
    it (only where the line was: an accent that ends near the line stays apart from the letter)."""
    lines = line_pixels(strip, cell_w, cell_h)
    clean = strip.copy()
    clean[lines] = int(paper_level(strip))
    ink = dark(clean, t.ACCENT_DARK_MARGIN).astype(bool)
    core = printed_ink(printed)
    ink &= ~core
    # Over the labels (this field's above, the next one's below) the mask keeps all its slack: a
    # pixel or two of misalignment leaves slivers of printed letters that look like strokes.
    bridge = t.ACCENT_LINE_BRIDGE_PX
    label = np.ones(strip.shape[0], bool)
    label[max(0, top - bridge) : bottom + bridge + 1] = False
    ink[label] &= ~printed[label]
    removed = lines | core
    near_line = np.zeros(strip.shape[0], bool)
    for row in (top, bottom):
        near_line[max(0, row - bridge) : row + bridge + 1] = True
    removed[~near_line] = False
    k = 2 * bridge + 3
    closed = cv2.morphologyEx(ink.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((k, 1), np.uint8)).astype(bool)
    return ink | (closed & removed)


def printed_ink(mask: np.ndarray) -> np.ndarray:
    """The printed ink itself, a pixel of slack around it, from the mask grown for alignment slack
    (reference.printed_mask): grown by 3 px, the cell's top line would hide a stroke touching it."""
    k = 2 * t.PRINTED_MASK_DILATE_PX + 1
    core = cv2.erode(mask.astype(np.uint8), np.ones((k, k), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return cv2.dilate(core, np.ones((3, 3), np.uint8)).astype(bool)


def _body(labels: np.ndarray, stats: np.ndarray, x0: int, y0: int, y1: int) -> tuple | None:
    """The letter in one cell's columns: (its ids, top, bottom, left, right, ink), from the pieces
    whose pixels there cross the middle band y0..y1, measured within the columns (a neighbour's
    letter leaning in adds only what leans in); None when nothing crosses it."""
    ids = [k for k in np.unique(labels[y0 : y1 + 1]) if k and stats[k, cv2.CC_STAT_AREA] >= t.MIN_INK_COMPONENT_PX]
    if not ids:
        return None
    ys, xs = np.nonzero(np.isin(labels, ids))
    return set(ids), int(ys.min()), int(ys.max()) + 1, x0 + int(xs.min()), x0 + int(xs.max()) + 1, len(ys)


def _mark(body: tuple, stats: np.ndarray, free: np.ndarray, joined: np.ndarray, letter: float, height: int, *, side: str,
          lines: tuple[float, float, float] | None = None) -> bool:
    return not why_no_mark(body, stats, free, joined, letter, height, side=side, lines=lines)


def why_no_mark(body: tuple, stats: np.ndarray, free: np.ndarray, joined: np.ndarray, letter: float, height: int, *, side: str,
                lines: tuple[float, float, float] | None = None) -> str:
    """'' when pieces lying wholly above (or below) the letter's body, over its columns, make a
    pen's mark: no lone speck of dust, no hair-thin sliver, no big part of the letter cut off (nor the
    rest of a short letter reaching inside the writing's lines, `lines`: writing_lines), no
    bar as wide as the letter (a T's top, an L's foot drawn apart), nothing running on out of the
    bands searched (a blot, another field's writing); else why not (for a person debugging)."""
    ids, top, end, left, right, body_ink = body
    gap, slack = t.ACCENT_MIN_GAP_PX, t.ACCENT_SIDE_SLACK_PX

    def apart(s) -> bool:
        if side == "above":
            return s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT] + gap <= top
        return s[cv2.CC_STAT_TOP] >= end + gap

    # A stroke across a line comes in pieces where the line's slack was cut: taken together.
    found = [k for k, s in enumerate(stats) if k and k not in ids and s[cv2.CC_STAT_AREA] >= t.ACCENT_PIECE_MIN_PX and apart(s)
             and s[cv2.CC_STAT_LEFT] < right + slack and s[cv2.CC_STAT_LEFT] + s[cv2.CC_STAT_WIDTH] > left - slack]
    if not found:
        return "no piece apart from the letter"
    letter_faint = {int(joined[k]) for k in ids}
    found = [k for k in found if int(joined[k]) not in letter_faint]
    if not found:
        return "joined to the letter by a fainter stroke: a stroke of it that faded"
    # A piece wholly within the printed lines' slack is what is left of them (a lump where lines
    # meet, thick on a bilevel scan): a pen's stroke across a line runs out of it.
    found = [k for k in found if free[k]]
    if sum(int(free[k]) for k in found) < t.ACCENT_MIN_PX:
        return "nothing but what the printed lines' slack covers: remnants of the lines"
    marks = [stats[k] for k in found]
    if any(s[cv2.CC_STAT_TOP] == 0 or s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT] >= height for s in marks):
        return "it runs on out of the band searched: a blot, another field's writing"
    x0 = min(int(s[cv2.CC_STAT_LEFT]) for s in marks)
    x1 = max(int(s[cv2.CC_STAT_LEFT] + s[cv2.CC_STAT_WIDTH]) for s in marks)
    y0 = min(int(s[cv2.CC_STAT_TOP]) for s in marks)
    y1 = max(int(s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT]) for s in marks)
    area = sum(int(s[cv2.CC_STAT_AREA]) for s in marks)
    # A letter whose body is short of the writer's letters, with a piece beside it reaching well
    # inside the writing's lines (writing_lines): that piece is the rest of the letter, apart where a
    # light pen skipped (a C's lower half under its top). A whole letter written low keeps the accent
    # over it, however far inside the cap line it comes (BOGOTÁ's A).
    if lines is not None:
        cap, base, letter_h = lines
        inside = (base - y0) if side == "below" else (y1 - cap)
        if inside > t.ACCENT_INSIDE_LINES * letter_h and end - top < t.ACCENT_BROKEN_BODY * letter_h:
            return "a short letter and a piece reaching well inside the writing's lines: the rest of it, where a stroke skipped"
    if max(x1 - x0, y1 - y0) < t.ACCENT_MIN_SIDE_PX or area < t.ACCENT_MIN_PX:
        return "a small dot: dust as likely as a pen"
    if len(marks) == 1 and area <= t.SPECK_MAX_PX and max(x1 - x0, y1 - y0) < t.SPECK_MAX_SIDE_PX:
        return "one compact speck: dust (as in an empty box)"
    if area < t.ACCENT_MIN_THICKNESS * max(x1 - x0, y1 - y0):
        return "a hair-thin line: the faint edge of a light stroke of the letter, not a pen's mark"
    # Against the writer's letters in this field, not this letter alone: an I's body is small
    # beside the accent over it.
    if area > t.ACCENT_MAX_AREA_SHARE * max(letter, body_ink):
        return "a big part of the letter itself, cut off where a light stroke faded"
    # Flat marks above a letter are many (a tilde, a macron), below it rare: a flat piece under
    # the body half as wide as it is the letter's foot (an E's or an L's bottom bar drawn apart).
    wide = t.ACCENT_MAX_WIDTH if side == "above" else t.ACCENT_BELOW_BAR_WIDTH
    # A bar is flat and straight: no taller than its pen's width and a little tilt (a tilde's wave is).
    flat = all(s[cv2.CC_STAT_HEIGHT] <= min(t.ACCENT_BAR_FLAT * s[cv2.CC_STAT_WIDTH],
                                            t.ACCENT_BAR_STRAIGHT * s[cv2.CC_STAT_AREA] / s[cv2.CC_STAT_WIDTH] + 1) for s in marks)
    if x1 - x0 > wide * max(1, right - left) and flat:
        # Flat strokes as wide as the letter: its own bar drawn apart (a T, an I's serif), unless
        # they leave columns empty between them. Round dots (a thick pen's diaeresis) or a slanted
        # stroke wider than an I are no bar.
        covered = np.zeros(x1 - x0, bool)
        for s in marks:
            covered[int(s[cv2.CC_STAT_LEFT]) - x0 : int(s[cv2.CC_STAT_LEFT] + s[cv2.CC_STAT_WIDTH]) - x0] = True
        if covered.mean() > t.ACCENT_BAR_COVERAGE:
            return "a bar as wide as the letter: its own"
    return ""
