"""Marks drawn joined to their letter or over the printed label (issues 12 and 14): a tilde
touching its N, a ring sitting on an A, a cedilla's tail run on from its C make the letter reach
past the field's cap line or baseline (scan/accents.py `beyond_the_line`). Letters drawn with cv2 on a rendered page,
scanned with damage, aligned and read by the real pipeline (read_comb, judge_field)."""

from __future__ import annotations

import json
from datetime import date

import cv2
import numpy as np
import pytest

from scan.accents import beyond_the_line
from scan.align import box_to_px
from scan.engines import cell_recognizer, tesseract
from scan.judge import judge_field
from scan.read import read_comb
from scan.reference import printed_mask
from templates.spec import load_form
from test_scan_read import _aligned
from test_scan_support import rendered  # noqa: F401

FORM = load_form()
PAGE = FORM.pages[0]
TODAY = date(2026, 2, 10)
INK = 25


def _frame(box, top: int = 20, bottom: int = 9):
    x0, y0, x1, y1 = box
    return x0 + 11, x1 - 11, y0 + top, y1 - bottom


def _a(image, box, top=20, bottom=9):
    left, right, t, b = _frame(box, top, bottom)
    cx = (left + right) // 2
    cv2.line(image, (left, b), (cx, t), INK, 3)
    cv2.line(image, (cx, t), (right, b), INK, 3)
    cv2.line(image, ((left + cx) // 2, (t + b) // 2 + 3), ((right + cx) // 2, (t + b) // 2 + 3), INK, 3)


def _n(image, box, top=20, bottom=9):
    left, right, t, b = _frame(box, top, bottom)
    cv2.line(image, (left, b), (left, t), INK, 3)
    cv2.line(image, (left, t), (right, b), INK, 3)
    cv2.line(image, (right, b), (right, t), INK, 3)


def _e(image, box, top=20, bottom=9):
    left, right, t, b = _frame(box, top, bottom)
    cv2.line(image, (left, t), (left, b), INK, 3)
    for y in (t, (t + b) // 2, b):
        cv2.line(image, (left, y), (right, y), INK, 3)


def _c(image, box, top=20, bottom=9):
    left, right, t, b = _frame(box, top, bottom)
    cv2.ellipse(image, ((left + right) // 2 + 2, (t + b) // 2), ((right - left) // 2 + 1, (b - t) // 2), 0, 50, 310, INK, 3)


def _p(image, box, top=20, bottom=9):
    left, right, t, b = _frame(box, top, bottom)
    cv2.line(image, (left, t), (left, b), INK, 3)
    cv2.ellipse(image, (left, (3 * t + (t + b) // 2) // 4), (right - left, ((t + b) // 2 - t) // 2), 0, -90, 90, INK, 3)


DRAW = {"A": _a, "N": _n, "E": _e, "C": _c, "P": _p}


def _tilde_joined(image, box):
    """A wave over the N whose right end runs down into the N's right stem: one piece of ink."""
    left, right, t, _ = _frame(box)
    y = t - 14
    wave = np.array([(left + k, y + int(round(2.5 * np.sin(k / (right - left) * 2 * np.pi)))) for k in range(right - left + 1)], np.int32)
    cv2.polylines(image, [wave], False, INK, 3, cv2.LINE_AA)
    cv2.line(image, (right, y), (right, t), INK, 3)


def _ring_joined(image, box):
    """A ring sitting on the A's apex, touching it."""
    left, right, t, _ = _frame(box)
    cv2.circle(image, ((left + right) // 2, t - 6), 6, INK, 3)


def _cedilla_joined(image, box):
    """The C's tail run on under it, past the box's bottom line, in one stroke."""
    left, right, _, b = _frame(box)
    cx = (left + right) // 2 + 2
    cv2.line(image, (cx, b), (cx + 4, b + 14), INK, 3)
    cv2.line(image, (cx + 4, b + 14), (cx - 4, b + 27), INK, 3)


def _written(blank: np.ndarray, word: str, heights: dict[int, tuple[int, int]] | None = None) -> np.ndarray:
    """The family name written letter by letter on the blank rendered page 1 (heights: cell ->
    (px from the top line to the letter's top, from its bottom to the bottom line))."""
    image = blank.copy()
    cells = PAGE.field("family_name").cells
    for k, ch in enumerate(word):
        top, bottom = (heights or {}).get(k, (20, 9))
        DRAW[ch](image, box_to_px(PAGE, cells[k]), top, bottom)
    return image


def _read(image: np.ndarray, damage: int):
    aligned, page = _aligned(image, damage)
    printed = printed_mask(page.form_id, page.version, page.index)
    f = page.field("family_name")
    raw = read_comb(aligned, page, f, icr=cell_recognizer(), ocr=tesseract(), printed=printed)
    return raw, judge_field(raw, f, today=TODAY)


CASES = [  # (word, cell, the mark drawn joined, the value with the mark, where)
    ("PENA", 2, _tilde_joined, "PEÑA", "above"),
    ("ANNE", 0, _ring_joined, "ÅNNE", "above"),
    ("ANCE", 2, _cedilla_joined, "ANÇE", "below"),
]


@pytest.mark.skipif(cell_recognizer() is None, reason="the comb-cell ICR (scan/models) is not installed")
@pytest.mark.parametrize(("word", "cell", "mark", "accented", "where"), CASES, ids=["tilde-on-N", "ring-on-A", "cedilla-of-C"])
def test_a_mark_joined_to_its_letter_is_never_dropped_silently(rendered, word, cell, mark, accented, where):
    """The letter with its mark fused to it: read with the mark, or sent to a person with the
    joined mark named; the same word without the mark: nothing past the lines."""
    plain = _written(rendered["pages"]["blank"][0], word)
    marked = plain.copy()
    mark(marked, box_to_px(PAGE, PAGE.field("family_name").cells[cell]))
    raw, reading = _read(marked, 1)
    assert cell in (raw.joined_above if where == "above" else raw.joined_below), raw
    assert reading.value == accented or (reading.needs_review and [cell, where, "joined"] in json.loads(reading.evidence)["unexplained_marks"]), reading
    raw, reading = _read(plain, 1)
    assert raw.joined_above == () and raw.joined_below == () and "unexplained_mark" not in reading.reasons, reading


def test_plain_letters_of_varying_heights_reach_past_no_line(rendered):
    """A word whose letters wander up and down and grow a little, as a hand's do: no mark."""
    heights = {0: (16, 9), 1: (22, 7), 2: (18, 12), 3: (24, 9), 4: (14, 6), 5: (20, 11)}
    image = _written(rendered["pages"]["blank"][0], "PENACE", heights)
    raw, reading = _read(image, 2)
    assert raw.joined_above == () and raw.joined_below == () and "unexplained_mark" not in reading.reasons, reading


def test_a_letter_taller_than_the_rest_only_counts_past_the_writers_own_spread():
    """beyond_the_line on bodies as measured: one letter 12 px over the cap line (and taller)
    among steady letters is a mark; the same among letters that wander by 4 px is not."""
    steady = {k: (set(), 20, 50, 0, 0, 100) for k in range(6)}
    steady[3] = (set(), 8, 50, 0, 0, 100)
    assert beyond_the_line(steady, 56) == ((3,), ())
    wander = {k: (set(), 20 + d, 50 + d, 0, 0, 100) for k, d in enumerate((-4, 4, -4, 4, 0, 4))}
    wander[4] = (set(), 8, 50, 0, 0, 100)
    assert beyond_the_line(wander, 56) == ((), ())
