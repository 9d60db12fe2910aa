"""Ink the reading cannot explain is doubt (issue 12): boxes circled or slashed rather than
ticked, marks above a letter the chosen character does not have, a listed name chosen over a
box read with confidence, close digits on bilevel scans. Synthetic boxes and cells drawn here with
cv2, and real rendered pages marked, damaged, aligned and read."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import cv2
import numpy as np
import pytest

from scan import thresholds as t
from scan.accents import marks_near
from scan.align import box_to_px
from scan.engines import CharGuess, cell_recognizer, tesseract
from scan.doubts import listed_as_read_but_marks
from scan.judge import judge_comb, judge_field, judge_marks
from scan.read import Mark, RawField, read_comb, read_marks
from scan.ticks import mark_box as _mark
from scan.reference import printed_mask
from templates.spec import load_form
from test_scan_read import _aligned
from test_scan_support import rendered  # noqa: F401

FORM = load_form()
TODAY = date(2026, 2, 10)
BOX = (80, 80, 110, 110)  # a tick box of 31 px, as 11 pt at 200 dpi


def _box_page() -> tuple[np.ndarray, np.ndarray]:
    """A white patch with one printed tick box (dropout red scans at ~150 grey) and its printed mask."""
    image = np.full((200, 220), 245, np.uint8)
    cv2.rectangle(image, BOX[:2], BOX[2:], 150, 2)
    printed = cv2.dilate((image < 190).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    return image, printed


def _centre() -> tuple[int, int]:
    return (BOX[0] + BOX[2]) // 2, (BOX[1] + BOX[3]) // 2


def test_a_clean_box_and_a_tick_inside_leave_nothing_around():
    image, printed = _box_page()
    assert _mark(image, BOX, "A", printed).around == 0.0
    cv2.line(image, (86, 96), (93, 104), 30, 3)
    cv2.line(image, (93, 104), (106, 84), 30, 3)
    mark = _mark(image, BOX, "A", printed)
    assert mark.state == "ticked" and mark.around < t.TICK_AROUND_MIN


@pytest.mark.parametrize("gap", [4, 7, 11])
def test_a_circle_around_an_empty_box_is_ink_around_it(gap):
    image, printed = _box_page()
    cv2.circle(image, _centre(), (BOX[2] - BOX[0]) // 2 + gap, 30, 2, cv2.LINE_AA)
    mark = _mark(image, BOX, "A", printed)
    assert mark.state == "empty" and mark.around >= t.TICK_AROUND_MIN


@pytest.mark.parametrize("angle", [30, 45, 70])
def test_a_slash_through_a_box_shows_around_it(angle):
    image, printed = _box_page()
    cx, cy = _centre()
    r = 38  # a slash runs well past the box (a short one past the corners only is a tick)
    dx, dy = r * np.cos(np.radians(angle)), r * np.sin(np.radians(angle))
    cv2.line(image, (int(cx - dx), int(cy + dy)), (int(cx + dx), int(cy - dy)), 30, 2, cv2.LINE_AA)
    mark = _mark(image, BOX, "F", printed)
    # Read as a tick (a slash is one), or not final: never an empty question, final.
    reading = judge_marks(_raw("sex", {"F": mark}), FORM.field("sex"))
    assert (reading.value == "F" and mark.state == "ticked") or (reading.needs_review and mark.around >= t.TICK_AROUND_MIN)
    thin = image.copy()  # the same slash with a fine pen, barely inside: the ends around the box tell
    thin[BOX[1] + 3 : BOX[3] - 2, BOX[0] + 3 : BOX[2] - 2] = 245
    mark = _mark(thin, BOX, "F", printed)
    assert mark.state == "empty" and mark.around >= t.TICK_AROUND_MIN or mark.state == "faint"
    assert judge_marks(_raw("sex", {"F": mark}), FORM.field("sex")).needs_review


def test_dust_around_a_box_is_not_a_mark():
    image, printed = _box_page()
    for x, y in [(70, 70), (120, 90), (95, 120)]:
        cv2.circle(image, (x, y), 1, 30, -1)
    assert _mark(image, BOX, "A", printed).around == 0.0


def _raw(name: str, marks: dict[str, Mark]) -> RawField:
    f = FORM.field(name)
    values = [o.value for o in f.options] if f.type == "choice" else ["box"]
    out = tuple(marks.get(v, Mark(v, 0.0, 0.0, "empty")) for v in values)
    return RawField(name, f.type, f.page_index + 1, f.bounds, "omr", marks=out)


def test_a_question_read_empty_with_ink_around_a_box_is_never_final():
    f = FORM.field("marital_status")
    circled = Mark("MARRIED", 0.004, 0.26, "empty", 0.2)
    reading = judge_marks(_raw("marital_status", {"MARRIED": circled}), f)
    # Nothing else marked: the circled box is offered, for a person to confirm.
    assert reading.needs_review and reading.value == "MARRIED" and reading.reasons == ("ink_around_box",)
    # Beside a tick, the circle is still unexplained: a person decides between them.
    ticked = Mark("SINGLE", 0.2, 0.0, "ticked", 0.01)
    both = judge_marks(_raw("marital_status", {"MARRIED": circled, "SINGLE": ticked}), f)
    assert both.needs_review and "ink_around_box" in both.reasons and both.value == "SINGLE"
    # Two circled boxes: nothing offered.
    two = judge_marks(_raw("marital_status", {"MARRIED": circled, "SINGLE": Mark("SINGLE", 0.004, 0.2, "empty", 0.2)}), f)
    assert two.needs_review and two.value is None
    box = FORM.field("previous_application")
    checked_around = judge_marks(_raw("previous_application", {"box": Mark("box", 0.01, 0.1, "empty", 0.15)}), box)
    assert checked_around.needs_review and checked_around.value is True and "ink_around_box" in checked_around.reasons
    # A clean blank question: still final (optional) or a person's (required), never ink_around_box.
    assert judge_marks(_raw("marital_status", {}), f).reasons == ("empty_required",)


def test_a_box_a_hair_from_empty_beside_a_clear_tick_is_no_coin_toss():
    """On either side of the empty threshold the answer is the clear tick: 85 such questions over
    29 bench corpora went to a person as `near_threshold`, every one right. A box near the tick
    threshold, or near empty with no clear tick beside it, is still a coin toss."""
    f = FORM.field("marital_status")
    beside = judge_marks(_raw("marital_status", {"SINGLE": Mark("SINGLE", 0.45, 0.0, "ticked"),
                                                 "COMMON_LAW": Mark("COMMON_LAW", t.TICK_EMPTY_MAX - 0.002, 0.0, "speck")}), f)
    assert not beside.needs_review and beside.value == "SINGLE", beside
    alone = judge_marks(_raw("marital_status", {"COMMON_LAW": Mark("COMMON_LAW", t.TICK_EMPTY_MAX - 0.002, 0.0, "empty")}), f)
    assert alone.needs_review and "near_threshold" in alone.reasons
    near_tick = judge_marks(_raw("marital_status", {"SINGLE": Mark("SINGLE", 0.45, 0.0, "ticked"),
                                                    "MARRIED": Mark("MARRIED", t.TICK_MIN - 0.004, 0.0, "faint")}), f)
    assert near_tick.needs_review
    weak_tick = judge_marks(_raw("marital_status", {"SINGLE": Mark("SINGLE", t.TICK_MIN + 0.004, 0.0, "ticked"),
                                                    "COMMON_LAW": Mark("COMMON_LAW", t.TICK_EMPTY_MAX - 0.002, 0.0, "speck")}), f)
    assert weak_tick.needs_review and "near_threshold" in weak_tick.reasons


def test_a_light_tick_whose_ink_runs_out_of_the_box_is_not_final():
    """Other seed 14: an unanswered question read CELPIP, final, from a stray stroke of fill 0.09
    crossing the box's edge. A light tick kept inside its box (a fine pen) stays final; a heavy
    check whose tail leaves the box too."""
    f = FORM.field("english_test")
    stray = judge_marks(_raw("english_test", {"CELPIP": Mark("CELPIP", 0.09, 0.008, "ticked", 0.0076, 0.06)}), f)
    assert stray.needs_review and "stroke_through_box" in stray.reasons and stray.value == "CELPIP"
    assert json.loads(stray.evidence)["stroke_through"] == ["CELPIP"]
    light = judge_marks(_raw("english_test", {"CELPIP": Mark("CELPIP", 0.09, 0.0, "ticked", 0.0)}), f)
    assert not light.needs_review and light.value == "CELPIP"
    heavy = judge_marks(_raw("english_test", {"CELPIP": Mark("CELPIP", 0.2, 0.02, "ticked", 0.02)}), f)
    assert not heavy.needs_review and heavy.value == "CELPIP"
    box = FORM.field("previous_application")
    through = judge_marks(_raw("previous_application", {"box": Mark("box", 0.1, 0.01, "ticked", 0.01)}), box)
    assert through.needs_review and through.value is True and "stroke_through_box" in through.reasons


def test_a_lone_ring_around_one_box_with_every_other_box_clean_is_the_answer():
    """How some people answer (issue 12: "a circled box may be read as ticked where nothing else
    competes"): a ring around one box (ink in the ring, on most of its sides), nothing inside but
    a speck, every other box clean. Anything beside it sends the question to a person."""
    f = FORM.field("marital_status")
    ring = Mark("MARRIED", 0.004, 0.2, "empty", 0.2, 0.9)
    reading = judge_marks(_raw("marital_status", {"MARRIED": ring}), f)
    assert reading.value == "MARRIED" and not reading.needs_review and reading.confidence == t.OMR_CIRCLED_CONFIDENCE
    assert json.loads(reading.evidence)["circled"] == "MARRIED"
    assert judge_marks(_raw("marital_status", {"MARRIED": replace(ring, state="speck")}), f).value == "MARRIED"
    # Ink around another box, a second ring, a tick or a faint mark elsewhere, a ring on few sides
    # (a slash), a fill near the empty threshold: a person decides.
    for other in (Mark("SINGLE", 0.0, 0.0, "empty", t.TICK_CIRCLE_OTHERS_CLEAN),
                  Mark("SINGLE", 0.0, t.TICK_CIRCLE_OTHERS_CLEAN, "empty", 0.0),
                  Mark("SINGLE", 0.0, 0.0, "empty", 0.0, t.TICK_ENCIRCLE_MIN),
                  Mark("SINGLE", 0.2, 0.0, "ticked"), Mark("SINGLE", 0.05, 0.0, "faint")):
        doubted = judge_marks(_raw("marital_status", {"MARRIED": ring, "SINGLE": other}), f)
        assert doubted.needs_review and "ink_around_box" in doubted.reasons, other
    for ring_of_few_sides in (replace(ring, encircled=t.TICK_ENCIRCLE_MIN - 0.01), replace(ring, around=t.TICK_AROUND_MIN - 0.001),
                              replace(ring, fill=t.TICK_EMPTY_MAX - t.OMR_THRESHOLD_MARGIN / 2)):
        assert judge_marks(_raw("marital_status", {"MARRIED": ring_of_few_sides}), f).needs_review, ring_of_few_sides
    box = FORM.field("previous_application")
    circled_box = judge_marks(_raw("previous_application", {"box": Mark("box", 0.003, 0.18, "speck", 0.13, 0.8)}), box)
    assert circled_box.value is True and not circled_box.needs_review


def _draw_around(image: np.ndarray, page, name: str, value: str, how: str) -> np.ndarray:
    f = page.field(name)
    box = box_to_px(page, f.box if value == "box" else next(o.box for o in f.options if o.value == value))
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    half = (box[2] - box[0]) // 2
    out = image.copy()
    if how == "circle":
        cv2.ellipse(out, (cx, cy), (half + 7, half + 5), 10, 20, 380, 40, 2, cv2.LINE_AA)
    elif how == "slash":
        cv2.line(out, (cx - half - 9, cy + half + 9), (cx + half + 9, cy - half - 9), 40, 1, cv2.LINE_AA)
    elif how == "check_outside":  # the check's body beside the box, its tip just inside
        cv2.line(out, (cx + half - 3, cy), (cx + half + 6, cy + half + 8), 40, 2, cv2.LINE_AA)
        cv2.line(out, (cx + half + 6, cy + half + 8), (cx + half + 22, cy - half - 6), 40, 2, cv2.LINE_AA)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_circled_and_slashed_boxes_on_a_scanned_page_are_read_as_people_mean_them(rendered, seed):
    """A rendered page 1, marked by people who circle or slash instead of ticking, scanned with
    damage, aligned and read: the lone circle is the answer, the slash or the check beside the
    box goes to a person with what was seen."""
    form = load_form()
    page1 = form.pages[0]
    image = rendered["pages"]["blank"][0]
    image = _draw_around(image, page1, "marital_status", "MARRIED", "circle")
    image = _draw_around(image, page1, "sex", "F", "slash" if seed == 0 else "check_outside")
    aligned, page = _aligned(image, seed)
    printed = printed_mask(page.form_id, page.version, page.index)
    read = {name: judge_field(read_marks(aligned, page, page.field(name), printed), page.field(name)) for name in ("marital_status", "sex")}
    # A ring around one box, every other box clean: how this person answers, read as such.
    marital = read["marital_status"]
    assert marital.value == "MARRIED" and not marital.needs_review, marital
    assert json.loads(marital.evidence)["circled"] == "MARRIED"
    sex = read["sex"]
    assert sex.needs_review and sex.reasons != ("empty_required",), sex


# ------------------------------------------------------------------------------ vocabularies


def _word(name: str, letters: list[tuple[str, float, tuple]]) -> RawField:
    f = FORM.field(name)
    cells = [None] * len(f.cells)
    for k, (ch, p, alternatives) in enumerate(letters):
        cells[k] = CharGuess(ch, p, alternatives)
    text = "".join(ch for ch, _, _ in letters)
    return RawField(name, f.type, f.page_index + 1, f.bounds, "ocr", cells=tuple(cells), cell_ink=(0.1,) * len(cells),
                    second_cells=tuple(text) + ("",) * (len(cells) - len(text)), second_opinion=text, recognizer="icr")


def test_a_listed_name_never_overrules_a_box_read_with_confidence():
    """ALGÉRIE written, its accent lost, its final E read surely: the list's ALGERIA is one box
    away, but that box is the E the reader saw. Offered, not final."""
    f = FORM.field("country_of_birth")
    letters = [(c, 0.99, (("0", 0.005),)) for c in "ALGERI"] + [("E", 0.995, (("A", 0.002), ("F", 0.002)))]
    letters[3] = ("E", 0.99, (("F", 0.005),))  # the accent, a separate stroke, unseen: É not even a candidate
    reading = judge_comb(_word("country_of_birth", letters), f, today=TODAY)
    assert reading.value == "ALGERIA" and reading.needs_review and "vocabulary_disagrees" in reading.reasons
    # Where the recognizer found the listed letter plausible, the list chooses, and may be final.
    letters[6] = ("F", 0.6, (("A", 0.35), ("E", 0.02)))
    chosen = judge_comb(_word("country_of_birth", letters), f, today=TODAY)
    assert chosen.value == "ALGERIA" and "vocabulary_disagrees" not in chosen.reasons
    # ... unless what was read is another listed name but for its marks: ALGERIE read, E at 0.6,
    # is ALGÉRIE's evidence as much as ALGERIA's; the list does not decide against those letters.
    letters[6] = ("E", 0.6, (("A", 0.35), ("F", 0.02)))
    torn = judge_comb(_word("country_of_birth", letters), f, today=TODAY)
    assert torn.value == "ALGERIA" and torn.needs_review and "vocabulary_disagrees" in torn.reasons
    assert json.loads(torn.evidence)["listed_as_read"] == ["ALGÉRIE"]


def test_a_listed_name_without_the_mark_its_twin_has_is_not_final_when_a_mark_was_half_seen():
    """BOGOTÁ written; the ICR, lacking Á, reads A at 0.64 and puts 0.25 on Â and Ä. The list holds
    BOGOTA and BOGOTÁ (people write both): only the ink decides, and it showed a mark."""
    f = FORM.field("city")
    letters = [(c, 0.99, (("0", 0.005),)) for c in "BOGOT"] + [("A", 0.64, (("Â", 0.19), ("Ä", 0.06)))]
    reading = judge_comb(_word("city", letters), f, today=TODAY)
    assert reading.value == "BOGOTA" and reading.needs_review and "vocabulary_disagrees" in reading.reasons
    assert json.loads(reading.evidence)["listed_twin_marks"] == [[5, "A", 0.64, "BOGOTÁ"]]
    # A plain A read as such (its marked look-alikes at a trace) is the list's to take: final.
    letters[5] = ("A", 0.985, (("Â", 0.004), ("R", 0.003)))
    plain = judge_comb(_word("city", letters), f, today=TODAY)
    assert plain.value == "BOGOTA" and "vocabulary_disagrees" not in plain.reasons and not plain.needs_review


def test_a_listed_letter_no_reader_saw_against_a_rival_one_did_is_not_final():
    """ALGÉRIE written; the ICR reads ALGERIF (its final E an F, A not among its candidates),
    Tesseract ALGERIE. The list's ALGERIA wins on likelihood, its last A seen by nobody, while its
    rival ALGÉRIE has the E Tesseract read there: offered, not final."""
    f = FORM.field("country_of_birth")
    letters = [(c, 0.99, (("N", 0.005),)) for c in "ALGERI"] + [("F", 0.93, (("E", 0.05), ("Ë", 0.001)))]
    raw = _word("country_of_birth", letters)
    raw = replace(raw, second_cells=tuple("ALGERIE") + raw.second_cells[7:], second_opinion="ALGERIE")
    reading = judge_comb(raw, f, today=TODAY)
    assert reading.value == "ALGERIA" and reading.needs_review and "vocabulary_disagrees" in reading.reasons
    assert [i for i, *_ in json.loads(reading.evidence)["listed_unseen"]] == [6]
    # The list choosing a letter Tesseract read there is choosing among what was seen.
    raw = replace(raw, second_cells=tuple("ALGERIA") + raw.second_cells[7:], second_opinion="ALGERIA")
    assert "listed_unseen" not in json.loads(judge_comb(raw, f, today=TODAY).evidence)


def test_a_lone_punctuation_mark_after_a_name_is_not_final():
    """SEO-YUN, then four empty boxes and a speck both readers read '.': 'SEO-YUN .' went final.
    Punctuation alone, away from any letter, is not kept final; inside a name it is."""
    f = FORM.field("given_names")
    letters = [(c, 0.995, (("E", 0.001),)) for c in "SEO-YUN"] + [(" ", 1.0, ())] * 4 + [(".", 0.9997, (("-", 0.0001),))]
    raw = _word("given_names", letters)
    cells = list(raw.cells)
    for k in range(7, 11):
        cells[k] = None
    raw = replace(raw, cells=tuple(cells), second_cells=tuple("SEO-YUN    .") + raw.second_cells[12:], second_opinion="SEO-YUN    .")
    reading = judge_comb(raw, f, today=TODAY)
    assert reading.needs_review and "doubtful_ink" in reading.reasons, reading
    assert json.loads(reading.evidence)["stray_punctuation"] == ["."]
    joined = judge_comb(_word("given_names", [(c, 0.999, (("E", 0.0005),)) for c in "SEO-YUN"]), f, today=TODAY)
    assert "stray_punctuation" not in json.loads(joined.evidence)


def test_a_list_choosing_only_among_marks_is_not_doubted():
    """GUINEE read, the accent above the box out of the ICR's crop: the list's GUINÉE changes a
    mark, not a letter, and stays the list's to choose."""
    assert listed_as_read_but_marks("GUINEE", "GUINÉE", ("GUINÉE", "GUINEA")) == []
    assert listed_as_read_but_marks("ALGERIE", "ALGERIA", ("ALGÉRIE", "ALGERIA")) == ["ALGÉRIE"]
    assert listed_as_read_but_marks("ALGERIE", "ALGERIE", ("ALGÉRIE", "ALGERIE")) == []


# ------------------------------------------------------------------------------ marks above letters

CELL_W, CELL_H = 42, 56  # a comb cell of 15 x 20 pt at 200 dpi


def _comb(n: int = 4) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    """A comb of n printed cells with a printed label above, and its printed mask."""
    image = np.full((150, 40 + n * CELL_W), 245, np.uint8)
    boxes = [(20 + k * CELL_W, 70, 20 + (k + 1) * CELL_W, 70 + CELL_H) for k in range(n)]
    for b in boxes:
        cv2.rectangle(image, b[:2], b[2:], 150, 2)
    cv2.putText(image, "Nom / Family name", (22, 62), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 20, 1, cv2.LINE_AA)
    printed = cv2.dilate((image < 190).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    return image, printed, boxes


def _letter_e(image: np.ndarray, box) -> None:
    x0, y0, x1, y1 = box
    left, right, top, bottom = x0 + 12, x1 - 12, y0 + 16, y1 - 9
    cv2.line(image, (left, top), (left, bottom), 25, 3)
    for y in (top, (top + bottom) // 2, bottom):
        cv2.line(image, (left, y), (right - (3 if y != bottom else 0), y), 25, 3)


def _accent(image: np.ndarray, box, *, base: int, angle: float, length: int = 9) -> None:
    """A separate stroke over the letter, its lower end `base` px below the cell's top line."""
    cx = (box[0] + box[2]) // 2
    a = np.radians(angle)
    x_end, y_end = cx + int(round(length * np.cos(a))), box[1] + base - int(round(length * np.sin(a)))
    cv2.line(image, (cx - 2, box[1] + base), (x_end, y_end), 25, 2, cv2.LINE_AA)


def _marks_near(image, printed, boxes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    found = marks_near(image, boxes, list(range(len(boxes))), printed, (0, 0), CELL_W, CELL_H)
    return found.above, found.below


def _marked_cells(image, printed, boxes) -> tuple[int, ...]:
    return _marks_near(image, printed, boxes)[0]


def test_plain_letters_under_a_printed_label_show_no_mark():
    image, printed, boxes = _comb()
    for b in boxes:
        _letter_e(image, b)
    assert _marked_cells(image, printed, boxes) == ()


# (px below the cell's top line where the stroke starts, its angle): in the cell's top, crossing
# the top line (a stroke lying along the printed line, or rising from it into the label's slack
# without reaching into the cell, is taken for what is left of the printed ink: a known limit).
STROKES = [(9, a) for a in (20, 45, 70, 110, 150)] + [(6, a) for a in (20, 45, 70, 110, 150)]


@pytest.mark.parametrize(("base", "angle"), STROKES)
def test_a_separate_stroke_above_a_letter_is_a_mark(base, angle):
    image, printed, boxes = _comb()
    for b in boxes:
        _letter_e(image, b)
    _accent(image, boxes[1], base=base, angle=angle, length=12 if base == 2 else 9)
    assert _marked_cells(image, printed, boxes) == (1,)


def test_dust_above_a_letter_and_a_t_drawn_in_two_strokes_are_not_marks():
    image, printed, boxes = _comb()
    _letter_e(image, boxes[0])
    cv2.circle(image, ((boxes[0][0] + boxes[0][2]) // 2, boxes[0][1] + 8), 1, 25, -1)  # a dust dot
    x0, y0, x1, y1 = boxes[1]
    cv2.line(image, (x0 + 9, y0 + 14), (x1 - 9, y0 + 14), 25, 3)  # a T whose bar the stem does not touch
    cv2.line(image, ((x0 + x1) // 2, y0 + 19), ((x0 + x1) // 2, y1 - 9), 25, 3)
    assert _marked_cells(image, printed[:, :], boxes[:2]) == ()


def _cells_read(text: str, marks_above: tuple[int, ...], marks_below: tuple[int, ...] = ()) -> RawField:
    letters = [(c, 0.995, (("0", 0.002),)) for c in text]
    raw = _word("family_name", letters)
    return RawField(**{**raw.__dict__, "marks_above": marks_above, "marks_below": marks_below})


def test_a_mark_the_chosen_letter_does_not_have_is_never_final():
    f = FORM.field("family_name")
    plain = judge_comb(_cells_read("LEBLANC", ()), f, today=TODAY)
    assert not plain.needs_review
    dropped = judge_comb(_cells_read("LEBLANC", (1,)), f, today=TODAY)  # a stroke over the E: LÉBLANC?
    assert dropped.needs_review and "unexplained_mark" in dropped.reasons
    explained = judge_comb(_cells_read("LÉBLANC", (1,)), f, today=TODAY)  # the É has its stroke
    assert "unexplained_mark" not in explained.reasons


def _letter_c(image: np.ndarray, box, *, low: int = 9) -> None:
    x0, y0, x1, y1 = box
    cv2.ellipse(image, ((x0 + x1) // 2 + 2, (y0 + y1) // 2 + 3), (12, (y1 - y0) // 2 - low), 0, 50, 310, 25, 3)


def _cedilla(image: np.ndarray, box, *, start: int) -> None:
    """A hook under the letter, `start` px above the cell's bottom line (negative: below it)."""
    cx, y = (box[0] + box[2]) // 2 + 1, box[3] - start
    cv2.line(image, (cx, y), (cx + 3, y + 4), 25, 2, cv2.LINE_AA)
    cv2.line(image, (cx + 3, y + 4), (cx - 3, y + 9), 25, 2, cv2.LINE_AA)


@pytest.mark.parametrize("start", [4, 2, -2])  # in the cell's bottom, across its bottom line, just below it
def test_a_cedilla_apart_under_a_letter_is_a_mark_below(start):
    image, printed, boxes = _comb()
    for b in boxes:
        _letter_c(image, b, low=12)
    _cedilla(image, boxes[2], start=start)
    assert _marks_near(image, printed, boxes) == ((), (2,))


def test_a_letter_broken_where_its_stroke_faded_is_no_mark_below(monkeypatch):
    """A light pen that skips leaves a C's lower half apart from its top: that half reaches well
    inside the writing's lines (writing_lines), where no cedilla is (ours seed 10: FRANCE's C)."""
    image, printed, boxes = _comb(5)
    for b in boxes[:4]:
        _letter_e(image, b)
    x0, y0, x1, y1 = boxes[4]
    centre, axes = ((x0 + x1) // 2 + 2, (y0 + y1) // 2 + 3), (12, (y1 - y0) // 2 - 9)
    cv2.ellipse(image, centre, axes, 0, 170, 310, 25, 2)  # the top and back of the C
    cv2.ellipse(image, centre, axes, 0, 30, 150, 25, 2)  # its lower half, apart
    assert _marks_near(image, printed, boxes) == ((), ())
    monkeypatch.setattr(t, "ACCENT_INSIDE_LINES", 10.0)  # without the rule it was a mark below
    assert _marks_near(image, printed, boxes) == ((), (4,))


def test_an_accent_over_a_whole_letter_written_low_is_still_a_mark(monkeypatch):
    """The accent comes well inside the writer's cap line, but over a letter of full height: a
    mark (ours seed 11: BOGOTÁ's A written low, the accent taken for part of it, BOGOTA final)."""
    image, printed, boxes = _comb(5)
    for b in boxes[:4]:
        _letter_e(image, b)
    x0, y0, x1, y1 = boxes[4]
    _letter_e(image, (x0, y0 + 13, x1, y1 + 13))  # the same E, 13 px lower
    _accent(image, boxes[4], base=23, angle=45)  # its lower end a third of the E's height under the others' tops
    assert _marks_near(image, printed, boxes) == ((4,), ())
    monkeypatch.setattr(t, "ACCENT_BROKEN_BODY", 10.0)  # were every letter "short", it would be lost
    assert _marks_near(image, printed, boxes) == ((), ())


def test_plain_letters_have_no_mark_above_or_below():
    image, printed, boxes = _comb(6)
    for b in boxes:
        _letter_e(image, b)
    assert _marks_near(image, printed, boxes) == ((), ())


def test_a_tilde_over_a_letter_is_a_mark_a_straight_bar_is_not():
    image, printed, boxes = _comb()
    for b in boxes:
        _letter_e(image, b)
    cx, y = (boxes[1][0] + boxes[1][2]) // 2, boxes[1][1] + 7  # a wave as wide as the E, apart from it
    wave = np.array([(cx - 8 + k, y + int(round(2.5 * np.sin(k / 16 * 2 * np.pi)))) for k in range(17)], np.int32)
    cv2.polylines(image, [wave], False, 25, 2, cv2.LINE_AA)
    assert _marks_near(image, printed, boxes) == ((1,), ())
    image, printed, boxes = _comb()
    for b in boxes:
        _letter_e(image, b)
    cv2.line(image, (cx - 9, y + 1), (cx + 9, y), 25, 2, cv2.LINE_AA)  # straight: the E's own top drawn twice
    assert _marks_near(image, printed, boxes) == ((), ())


def _letter_i(image: np.ndarray, box) -> None:
    x0, y0, x1, y1 = box
    cv2.line(image, ((x0 + x1) // 2, y0 + 16), ((x0 + x1) // 2, y1 - 9), 25, 3)


# Where the last cell has no printed label above it (the label is over the first cells of a
# field): a mark there just above the top line, on it, or rising from it.
# (px from the top line to the dots' centre, their radius: a fine pen's dots to a thick pen's
# blobs). A fine pen's dots lying on the line itself, within its printed slack, are lost with it.
@pytest.mark.parametrize(("dy", "radii"), [(-7, (2, 3, 4)), (-3, (3, 4)), (5, (2, 3, 4))])
def test_a_diaeresis_over_an_i_is_a_mark_whatever_its_dots_size(dy, radii):
    for radius in radii:
        image, printed, boxes = _comb(6)
        for b in boxes[:5]:
            _letter_e(image, b)
        _letter_i(image, boxes[5])
        cx = (boxes[5][0] + boxes[5][2]) // 2
        for dx in (-6, 6):
            cv2.circle(image, (cx + dx, boxes[5][1] + dy), radius, 25, -1)
        assert _marks_near(image, printed, boxes) == ((5,), ()), radius


@pytest.mark.parametrize(("base", "angle"), [(2, 60), (2, 110), (0, 75)])
def test_an_accent_touching_the_top_line_is_a_mark(base, angle):
    image, printed, boxes = _comb(6)
    for b in boxes:
        _letter_e(image, b)
    _accent(image, boxes[5], base=base, angle=angle, length=12)
    assert _marks_near(image, printed, boxes) == ((5,), ())


def test_a_stroke_of_a_letter_that_faded_is_no_mark():
    """An I whose stem a light pen left faint below its top: the top is apart from the body at a
    pen's darkness, joined to it by the faint stroke; with nothing there, it is a mark."""
    image, printed, boxes = _comb(6)
    for b in boxes[:5]:
        _letter_e(image, b)
    x0, y0, x1, y1 = boxes[5]
    cx = (x0 + x1) // 2
    cv2.line(image, (cx, y0 + 8), (cx, y1 - 9), 25, 3)
    faded = image.copy()
    faded[y0 + 21 : y0 + 25, cx - 3 : cx + 4] = np.where(image[y0 + 21 : y0 + 25, cx - 3 : cx + 4] < 200, 210, 245)
    assert _marks_near(faded, printed, boxes) == ((), ())
    broken = image.copy()  # the same gap left white: a separate stroke over the I's body
    broken[y0 + 21 : y0 + 25, cx - 3 : cx + 4] = 245
    assert _marks_near(broken, printed, boxes) == ((5,), ())


def test_a_blot_or_a_foot_drawn_apart_under_a_letter_is_no_mark():
    image, printed, boxes = _comb()
    for b in boxes:
        _letter_e(image, b)
    x0, y0, x1, y1 = boxes[0]
    cv2.circle(image, (x0 + 14, y1 + 30), 14, 20, -1)  # a blot running on out of the band below
    x0, y0, x1, y1 = boxes[2]  # the bottom bar of the E drawn apart, under it
    image[y1 - 12 : y1 - 6, x0 + 8 : x1 - 6] = 245
    cv2.line(image, (x0 + 12, y1 - 7), (x1 - 12, y1 - 7), 25, 3)
    cv2.line(image, (x0 + 12, y0 + 16), (x0 + 12, y1 - 12), 25, 3)
    assert _marks_near(image, printed, boxes)[1] == ()


def test_a_mark_below_the_chosen_letter_does_not_have_is_never_final():
    f = FORM.field("family_name")
    dropped = judge_comb(_cells_read("FRANCOIS", (), (4,)), f, today=TODAY)  # a hook under the C: FRANÇOIS?
    assert dropped.needs_review and "unexplained_mark" in dropped.reasons
    assert json.loads(dropped.evidence)["unexplained_marks"] == [[4, "below"]]
    explained = judge_comb(_cells_read("FRANÇOIS", (), (4,)), f, today=TODAY)  # the Ç has it
    assert "unexplained_mark" not in explained.reasons
    above = judge_comb(_cells_read("FRANÇOIS", (4,), ()), f, today=TODAY)  # a stroke over a Ç: no Ç has one
    assert "unexplained_mark" in above.reasons and json.loads(above.evidence)["unexplained_marks"] == [[4, "above"]]


@pytest.mark.skipif(cell_recognizer() is None, reason="the comb-cell ICR (scan/models) is not installed")
@pytest.mark.parametrize("start", [1])
def test_a_cedilla_written_apart_on_a_scanned_page_is_never_dropped_silently(rendered, start):
    """FRAN OIS written on a rendered page, a C and a hook under it apart (in the cell's bottom or
    across its bottom line), scanned with damage, aligned, read by both readers, judged: read with
    its Ç, or sent to a person with the mark below named. The same C without it: no mark."""
    from test_scan_support import handwrite

    page1 = FORM.pages[0]
    box = box_to_px(page1, page1.field("family_name").cells[4])
    plain = handwrite(rendered["pages"]["blank"][0], 0, {"family_name": "FRAN OIS"}, seed=5)
    _letter_c(plain, box, low=12)
    marked = plain.copy()
    _cedilla(marked, box, start=start)
    _read_with_and_without(marked, plain, 2, "FRANÇOIS", 4)


def _read_with_and_without(marked: np.ndarray, plain: np.ndarray, damage: int, accented: str, cell: int) -> None:
    """The family name on the marked page, scanned with damage, aligned, read and judged: the
    accented value, or a person told of the mark; on the plain page no mark in that cell."""
    page1 = FORM.pages[0]
    printed = printed_mask(page1.form_id, page1.version, page1.index)
    aligned, page = _aligned(marked, damage)
    raw = read_comb(aligned, page, page.field("family_name"), icr=cell_recognizer(), ocr=tesseract(), printed=printed)
    reading = judge_field(raw, page.field("family_name"), today=TODAY)
    assert reading.value == accented or (reading.needs_review and "unexplained_mark" in reading.reasons), reading
    aligned, page = _aligned(plain, damage)
    raw = read_comb(aligned, page, page.field("family_name"), icr=cell_recognizer(), ocr=tesseract(), printed=printed)
    assert cell not in raw.marks_below and cell not in raw.marks_above


# ------------------------------------------------------------------------------ bilevel digits


def test_a_field_scanned_black_and_white_is_known_so(rendered):
    from test_scan_support import handwrite

    from scan.read import is_bilevel

    page1 = FORM.pages[0]
    image = handwrite(rendered["pages"]["blank"][0], 0, {"birth_date": "1971-03-17"}, seed=4)
    x0, y0, x1, y1 = box_to_px(page1, page1.field("birth_date").bounds)
    grey, _ = _aligned(image, 1)
    strip = grey[y0 - 8 : y1 + 8, x0 - 8 : x1 + 8]
    assert not is_bilevel(strip)
    g4 = np.where(image < 128, 0, 255).astype(np.uint8)  # a 1-bit scan...
    turned = cv2.getRotationMatrix2D((800, 1000), 0.3, 1.0)  # ... aligned: the warp greys the edges of every stroke
    aligned = cv2.warpAffine(g4, turned, g4.shape[::-1], flags=cv2.INTER_LINEAR, borderValue=255)
    assert is_bilevel(aligned[y0 - 8 : y1 + 8, x0 - 8 : x1 + 8])


def _digits(name: str, text: str, *, close: dict[int, tuple[str, float]] = {}, bilevel: bool = True, second: str | None = None) -> RawField:
    f = FORM.field(name)
    cells = [None] * len(f.cells)
    for k, ch in enumerate(text):
        runner = close.get(k, ("8" if ch != "8" else "3", 0.0005))
        cells[k] = CharGuess(ch, 0.99, (runner,))
    second = second or text
    return RawField(name, f.type, f.page_index + 1, f.bounds, "ocr", cells=tuple(cells), cell_ink=(0.1,) * len(cells),
                    second_cells=tuple(second) + ("",) * (len(cells) - len(second)), second_opinion=second, recognizer="icr",
                    bilevel=bilevel)


def test_close_digits_on_a_bilevel_scan_are_never_final():
    f = FORM.field("birth_date")
    clear = judge_comb(_digits("birth_date", "19710317"), f, today=TODAY)
    assert clear.value == "1971-03-17" and not clear.needs_review
    seven = {3: ("7", 0.06)}  # the last 1 of 1971 nearly read 7
    close = judge_comb(_digits("birth_date", "19710317", close=seven), f, today=TODAY)
    assert close.needs_review and "bilevel_close_call" in close.reasons
    grey = judge_comb(_digits("birth_date", "19710317", close=seven, bilevel=False), f, today=TODAY)
    assert "bilevel_close_call" not in grey.reasons  # a grey scan keeps the calibrated verdict
    # Tesseract reads a 7 the ICR also saw there, faintly: both point at the same other digit.
    shared = judge_comb(_digits("birth_date", "19710317", close={3: ("7", 0.005)}, second="19770317"), f, today=TODAY)
    assert shared.needs_review and "bilevel_close_call" in shared.reasons
    # Tesseract alone (a digit the ICR never considered): its disagreement is the calibrated model's to weigh.
    alone = judge_comb(_digits("birth_date", "19710317", second="19770317"), f, today=TODAY)
    assert "bilevel_close_call" not in alone.reasons


def test_a_signature_read_half_a_year_before_arrival_is_not_final():
    """Candidates sign, then mail: a signature date read a year back is far more often a year's
    digit misread (2025 for 2026, other seeds 8 and 10, ours 4) than a form kept a year."""
    f = FORM.field("signature_date")
    long_before = judge_comb(_digits("signature_date", "20250130", bilevel=False), f, today=TODAY)
    assert long_before.needs_review and "signed_long_before" in long_before.reasons, long_before
    assert json.loads(long_before.evidence)["days_before_arrival"] == (TODAY - date(2025, 1, 30)).days
    recent = judge_comb(_digits("signature_date", "20260105", bilevel=False), f, today=TODAY)
    assert "signed_long_before" not in recent.reasons
    # Any other date may lie far back: a birth date, a diploma.
    born = judge_comb(_digits("birth_date", "19900130", bilevel=False), FORM.field("birth_date"), today=TODAY)
    assert "signed_long_before" not in born.reasons


def _passport(read: str, tesseract: str) -> RawField:
    """A passport number the ICR read surely, box by box, and Tesseract read as `tesseract`."""
    f = FORM.field("passport_number")
    cells = [CharGuess(ch, 0.999, ((ch, 0.999),)) for ch in read] + [None] * (len(f.cells) - len(read))
    return RawField("passport_number", f.type, f.page_index + 1, f.bounds, "ocr", cells=tuple(cells),
                    cell_ink=(0.1,) * len(cells), second_cells=tuple(tesseract) + ("",) * (len(cells) - len(tesseract)),
                    second_opinion=tesseract, second_confidence=0.9, recognizer="icr")


@pytest.mark.parametrize(("read", "tesseract", "box"), [("I345494", "1345494", 0), ("S347795", "5347795", 0)])
def test_a_letter_or_its_digit_twin_read_otherwise_by_tesseract_is_not_final(read, tesseract, box):
    """In a passport number letters and digits mix: an I the ICR (and the national formats) chose
    where Tesseract reads 1 is a guess between twins nothing around it decides (other generator
    seeds 4 and 10: 1345494 and 5347795, final as I345494 and S347795)."""
    f = FORM.field("passport_number")
    doubted = judge_comb(_passport(read, tesseract), f, today=TODAY)
    assert doubted.needs_review and "lookalike_disagrees" in doubted.reasons, doubted
    assert json.loads(doubted.evidence)["lookalike_disagrees"][0][0] == box
    agreed = judge_comb(_passport(read, read), f, today=TODAY)
    assert "lookalike_disagrees" not in agreed.reasons
    # A name has no twins to doubt: there letters win (scan.field_cells.consistent_tokens).
    name = judge_comb(_word("family_name", [(c, 0.999, ((c, 0.999),)) for c in "SOLIS"]), FORM.field("family_name"), today=TODAY)
    assert "lookalike_disagrees" not in name.reasons


@pytest.mark.skipif(cell_recognizer() is None, reason="the comb-cell ICR (scan/models) is not installed")
@pytest.mark.parametrize(("base", "angle"), [(9, 45), (5, 70), (2, 110)])  # in the cell's top, across its top line, rising from it
def test_an_accent_written_apart_over_a_scanned_letter_is_never_dropped_silently(rendered, base, angle):
    """LEBLANC written on a rendered page, an accent over its E drawn apart (in the cell's top,
    across its top line, or rising from it), scanned with damage, aligned, read by both readers,
    judged: the value is read with its É, or it goes to a person with the mark named."""
    from test_scan_support import handwrite

    page1 = FORM.pages[0]
    image = handwrite(rendered["pages"]["blank"][0], 0, {"family_name": "L BLANC"}, seed=5)
    box = box_to_px(page1, page1.field("family_name").cells[1])
    _letter_e(image, box)
    _accent(image, box, base=base, angle=angle, length=10)
    aligned, page = _aligned(image, 2)
    printed = printed_mask(page.form_id, page.version, page.index)
    raw = read_comb(aligned, page, page.field("family_name"), icr=cell_recognizer(), ocr=tesseract(), printed=printed)
    reading = judge_field(raw, page.field("family_name"), today=TODAY)
    # A rising stroke is an acute, a falling one a grave: either accent explains it.
    assert reading.value in ("LÉBLANC", "LÈBLANC") or (reading.needs_review and "unexplained_mark" in reading.reasons), reading
    plain = handwrite(rendered["pages"]["blank"][0], 0, {"family_name": "L BLANC"}, seed=5)
    _letter_e(plain, box)  # the same E without the stroke: nothing unexplained
    aligned, page = _aligned(plain, 2)
    raw = read_comb(aligned, page, page.field("family_name"), icr=cell_recognizer(), ocr=tesseract(), printed=printed)
    assert 1 not in raw.marks_above


def _letter_n(image: np.ndarray, box) -> None:
    x0, y0, x1, y1 = box
    left, right, top, bottom = x0 + 11, x1 - 11, y0 + 20, y1 - 9
    cv2.line(image, (left, bottom), (left, top), 25, 3)
    cv2.line(image, (left, top), (right, bottom), 25, 3)
    cv2.line(image, (right, bottom), (right, top), 25, 3)


@pytest.mark.skipif(cell_recognizer() is None, reason="the comb-cell ICR (scan/models) is not installed")
def test_a_tilde_written_apart_on_a_scanned_page_is_never_dropped_silently(rendered):
    """PE A written on a rendered page, an N and a tilde over it apart, scanned with damage,
    aligned, read by both readers, judged: read with its Ñ, or sent to a person with the mark
    above named. The same N without it: no mark."""
    from test_scan_support import handwrite

    page1 = FORM.pages[0]
    box = box_to_px(page1, page1.field("family_name").cells[2])
    plain = handwrite(rendered["pages"]["blank"][0], 0, {"family_name": "PE A"}, seed=3)
    _letter_n(plain, box)
    marked = plain.copy()
    cx, y = (box[0] + box[2]) // 2, box[1] + 10
    wave = np.array([(cx - 8 + k, y + int(round(2.5 * np.sin(k / 16 * 2 * np.pi)))) for k in range(17)], np.int32)
    cv2.polylines(marked, [wave], False, 25, 2, cv2.LINE_AA)
    _read_with_and_without(marked, plain, 1, "PEÑA", 2)
