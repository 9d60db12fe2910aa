"""A list of names chooses among readings; it never takes away, adds or changes a mark the
reader saw (issues 12 and 14). Cells as the ICR hands them over, judged by scan.judge."""

from __future__ import annotations

from datetime import date

from scan.judge import judge_comb
from scan.read import RawField
from templates.spec import load_form
from test_scan_unexplained_ink import _word

FORM = load_form()
TODAY = date(2026, 2, 10)


def _city(letters: list[tuple[str, float, tuple]], field: str = "city") -> RawField:
    return _word(field, letters)


def _sure(word: str) -> list[tuple[str, float, tuple]]:
    return [(c, 0.99, (("0", 0.004),)) for c in word]


def test_a_listed_name_never_takes_away_a_mark_the_reader_saw():
    """BOGOTÁ written; the ICR, which knows no Á, read Â surely. The list holds BOGOTÁ and
    BOGOTA: BOGOTA is the likelier of the two, but its last box drops the mark that was read."""
    f = FORM.field("city")
    reading = judge_comb(_city(_sure("BOGOT") + [("Â", 0.97, (("A", 0.01), ("Ä", 0.01)))]), f, today=TODAY)
    assert reading.value == "BOGOTA", reading
    assert reading.needs_review and "vocabulary_disagrees" in reading.reasons, reading


def test_the_list_still_chooses_a_mark_the_reader_found_plausible():
    """MEDELLÍN, its Í read I at 0.6 with Í at 0.35: the list may choose between the two, but
    with a third of the box on the marked letter the choice between its two listed spellings is a
    person's (scan/doubts.py listed_twin_marks); with Í a trace, the bare spelling is final."""
    f = FORM.field("city")
    letters = _sure("MEDELL") + [("I", 0.6, (("Í", 0.35), ("L", 0.02))), ("N", 0.99, (("M", 0.004),))]
    reading = judge_comb(_city(letters), f, today=TODAY)
    assert reading.value in ("MEDELLÍN", "MEDELLIN")
    assert reading.value == "MEDELLÍN" or "vocabulary_disagrees" in reading.reasons, reading
    letters[6] = ("I", 0.97, (("Í", 0.004), ("L", 0.02)))
    plain = judge_comb(_city(letters), f, today=TODAY)
    assert plain.value == "MEDELLIN" and "vocabulary_disagrees" not in plain.reasons, plain


def test_a_sure_plain_reading_is_not_doubted_for_a_listed_plain_name():
    """SAO PAULO read plainly and surely: listed as written, nothing changes, nothing doubted."""
    f = FORM.field("city")
    reading = judge_comb(_city(_sure("MONTREAL")), f, today=TODAY)
    assert reading.value == "MONTREAL" and "vocabulary_disagrees" not in reading.reasons, reading
    # The same with its mark read: MONTRÉAL stays MONTRÉAL.
    marked = judge_comb(_city(_sure("MONTR") + [("É", 0.97, (("E", 0.02),))] + _sure("AL")), f, today=TODAY)
    assert marked.value == "MONTRÉAL" and "vocabulary_disagrees" not in marked.reasons, marked


def test_the_list_may_add_a_mark_the_reader_missed():
    """GUINÉE written, its accent above the box (the ICR's crop leaves it out): E read surely.
    The list's GUINÉE adds the mark; that is what a list is for, and no reason to doubt (a box
    read at 0.99 or more, Tesseract agreeing, is vocabulary_overrules' case: not this one)."""
    f = FORM.field("country_of_birth")
    letters = _sure("GUIN") + [("E", 0.95, (("F", 0.02),))] + _sure("E")
    reading = judge_comb(_city(letters, "country_of_birth"), f, today=TODAY)
    assert reading.value == "GUINÉE" and "vocabulary_disagrees" not in reading.reasons, reading


def test_a_list_takes_off_a_mark_only_where_the_reader_found_the_bare_letter_as_likely():
    """The rule itself, on the cells as the list sees them: BOGOTÂ read with the Â at 0.6 and the
    bare A at 0.4 is a mark the list's BOGOTA takes off (a person looks); at 0.5 and 0.5 the
    reader could not tell, and the list may choose."""
    from scan.doubts import vocabulary_drops_marks
    from scan.engines import CharGuess

    cells = [CharGuess(c, 0.99, ()) for c in "BOGOT"] + [CharGuess("Â", 0.6, (("A", 0.4),))]
    assert vocabulary_drops_marks(cells, range(6), "BOGOTÂ", "BOGOTA") == [(5, 5)]
    cells[5] = CharGuess("Â", 0.5, (("A", 0.5),))
    assert vocabulary_drops_marks(cells, range(6), "BOGOTÂ", "BOGOTA") == []
    # Adding a mark (BOGOTÁ for BOGOTA read) is not taking one off.
    cells[5] = CharGuess("A", 0.9, (("Á", 0.05),))
    assert vocabulary_drops_marks(cells, range(6), "BOGOTA", "BOGOTÁ") == []
