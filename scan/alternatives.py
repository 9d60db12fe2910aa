"""The reader's other readings of a field, for the person who reviews it.

The judge keeps, for every comb cell, the character it chose and its runners-up with their
probabilities (the evidence's "cells"). Most corrections a person makes are one of those
runners-up: 2073-01-74 for 2023-01-24, AMONA for AMINA. This turns the cells into the most
probable whole values (a beam over the cells), keeps those the form accepts, and offers them
best first, so that the right one is a key away instead of a value typed anew; for a field
with a list of words (countries, cities), the word of the list the cells or the reading come
nearest to, first.
"""

from __future__ import annotations

import difflib
import heapq
import json
import math

from templates.spec import FieldSpec, vocabulary
from templates.validation import check_field, normalize_value

BEAM = 40  # partial readings kept from cell to cell
FLOOR = 1e-4  # a runner-up the reader gave no chance still costs something, not infinity
WORD_MIN_LOG_CHANCE = math.log(0.01)  # a list's word offered when its letters average this chance in the cells
WORD_MIN_LIKENESS = 0.75  # or when it is this like the reading (difflib's ratio)


def _cells(evidence: str | None) -> list | None:
    try:
        cells = json.loads(evidence or "{}").get("cells")
    except (ValueError, AttributeError):
        return None
    return cells if isinstance(cells, list) and cells else None


def _as_value(spec: FieldSpec, written: str) -> str | None:
    """A string of cell characters as the field's value: a date's 8 digits as YYYY-MM-DD,
    text with single spaces."""
    if spec.type == "date":
        digits = written.replace(" ", "")
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}" if len(digits) == 8 and digits.isdigit() else None
    return " ".join(written.split()) or None


def _words_of_the_list(spec: FieldSpec, cells: list, current: str) -> list[str]:
    """For a field with a vocabulary (countries, cities, languages): the entry the cells make
    likeliest, letter by letter (RADDI -> RABAT), and the entry nearest the reading (HLANÇAIS.
    -> FRANÇAIS), when they are near enough to be worth a key."""
    if not spec.vocabulary:
        return []
    entries = vocabulary(spec.vocabulary)
    written = [cell for cell in cells if cell]
    words = []
    scored = []
    for entry in entries:
        if len(entry) == len(written):
            chances = ({cell[0]: cell[1], **{alt[0]: alt[1] for alt in cell[2] or ()}}.get(c, FLOOR) for cell, c in zip(written, entry))
            scored.append((sum(math.log(max(p, FLOOR)) for p in chances) / len(entry), entry))
    if scored:
        score, entry = max(scored)
        if score >= WORD_MIN_LOG_CHANCE:
            words.append(entry)
    words += difflib.get_close_matches(current, entries, n=1, cutoff=WORD_MIN_LIKENESS)
    return [w for w in dict.fromkeys(words) if w != current]


def other_readings(spec: FieldSpec, evidence: str | None, current: str, *, limit: int = 4) -> list[str]:
    """Up to `limit` whole values the cells make, most probable first, each valid for the form
    and other than `current`; [] when the evidence has no cells (ticks, barcodes, online)."""
    cells = _cells(evidence)
    if cells is None or spec.type not in ("text", "digits", "date"):
        return []
    beam: list[tuple[float, str]] = [(0.0, "")]
    for cell in cells:
        if not cell:
            choices = [(" ", 1.0)]
        else:
            choices = [(cell[0], cell[1])] + [(alt[0], alt[1]) for alt in cell[2] or ()]
        beam = heapq.nlargest(BEAM, ((score + math.log(max(p, FLOOR)), text + c) for score, text in beam for c, p in choices))
    out: list[str] = _words_of_the_list(spec, cells, current)
    for _, written in beam:
        value = _as_value(spec, written)
        if value is None or value == current or value in out:
            continue
        if not check_field(spec, normalize_value(spec, value)):
            out.append(value)
            if len(out) == limit:
                break
    return out
