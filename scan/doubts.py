"""Evidence the chosen reading cannot explain (issue 12: sure only of what the ink supports).

Plain functions over a comb field's cells (scan.engines.CharGuess), the raw evidence of
scan.read (RawField) and the value scan.judge chose; each returns the boxes that make the value
not final, for scan.judge to name as a reason:
- a listed name that takes off a mark the reader saw, or overrules a box read with confidence,
  or has a rival one box away that Tesseract reads there, or changes a letter of a reading that
  is another listed name but for its marks, or puts in a box a letter neither reader saw against
  a close rival one did, or is the bare one of two listed spellings where the ICR half saw a mark
  (`vocabulary_disagrees`);
- a word of punctuation alone (`doubtful_ink`);
- a mark near a letter, separate or joined, that the chosen character does not have
  (`unexplained_mark`);
- close digits on a black-and-white scan (`bilevel_close_call`);
- in a field where letters and digits mix (a passport number), a box Tesseract reads as the
  look-alike of what was chosen, 1 for I, 5 for S (`lookalike_disagrees`).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from scan import thresholds as t
from scan.engines import CharGuess
from scan.field_cells import LOOKALIKE_TWINS
from scan.read import RawField
from templates.alphabet import fold


def vocabulary_drops_marks(cells: list[CharGuess | None], span: range, read: str, listed: str) -> list[tuple[int, int]]:
    """(position in the value, cell) of every box where the listed value keeps the letter read
    but takes off its mark (A for Â, L for Ł), the ICR not finding the bare letter worth
    VOCABULARY_MARK_RATIO of the marked one. A mark is ink on the page: a list that holds BOGOTÁ
    and BOGOTA is no evidence of which was written, and an ICR that read BOGOTÂ (a letter it
    knows for one it does not) saw a mark the list's BOGOTA takes away. The other way, a list
    that adds a mark the ICR did not read (GUINÉE for GUINEE: an accent above the box, which
    the ICR's crop leaves out) or names it otherwise (É for Ê) is the list's job: on bench
    seed 1 of the other generator all 15 such choices were right."""
    out = []
    for k, (i, a, b) in enumerate(zip(span, read, listed)):
        g = cells[i]
        if a == b or g is None or fold(a) != fold(b) or a == fold(a) or b != fold(b):
            continue
        if g.prob(b) < g.p * t.VOCABULARY_MARK_RATIO:
            out.append((k, i))
    return out


def vocabulary_overrules(cells: list[CharGuess | None], span: range, read: str, listed: str, second: tuple[str, ...]) -> list[tuple[int, int]]:
    """(position in the value, cell) of every box where the listed value puts another character
    than the one read there with confidence: the ICR sure of it (VOCABULARY_OVERRULE_P or more, the
    listed one not a candidate worth VOCABULARY_OVERRULE_RATIO of it) and Tesseract reading the
    same. The ICR alone is not enough: on the bench (seed 1) 15 listed values overruled an ICR box
    read at 0.80-0.98, all 15 right; in 3 of them Tesseract read the box alike (hence the 0.99)."""
    out = []
    for k, (i, a, b) in enumerate(zip(span, read, listed)):
        g = cells[i]
        if a == b or g is None or i >= len(second) or second[i] != a:
            continue
        if g.p >= t.VOCABULARY_OVERRULE_P and g.prob(b) < g.p * t.VOCABULARY_OVERRULE_RATIO:
            out.append((k, i))
    return out


def listed_rivals(span: range, chosen: str, entries: tuple[str, ...], second: tuple[str, ...]) -> list[str]:
    """Entries of the list as long as `chosen` and differing from it in at most LISTED_RIVAL_BOXES
    boxes, in one of which Tesseract reads the entry's character, not the chosen one's."""
    out = []
    for entry in entries:
        if len(entry) != len(chosen) or entry == chosen:
            continue
        differ = [(i, b) for i, a, b in zip(span, chosen, entry) if a != b]
        if len(differ) <= t.LISTED_RIVAL_BOXES and any(i < len(second) and second[i] == b for i, b in differ):
            out.append(entry)
    return out


@lru_cache(maxsize=64)
def spellings(entries: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """A list's entries by their folded form (BOGOTA: BOGOTA, BOGOTÁ), made once per list: the
    checks below look up a value's other spellings on every listed field."""
    out: dict[str, list[str]] = {}
    for e in entries:
        out.setdefault(fold(e), []).append(e)
    return {k: tuple(v) for k, v in out.items()}


def listed_as_read_but_marks(read: str, snapped: str, entries: tuple[str, ...]) -> list[str]:
    """Entries that are the reading itself but for its marks (ALGÉRIE for ALGERIE read), when the
    list chose another (ALGERIA). The ICR is known to miss marks, not letters: a reading that is a
    listed name once its marks are set aside is that name's evidence, and a list that changes one of
    its letters instead decides against the ink (other generator, seed 8: ALGÉRIE final as ALGERIA
    twice, the final E read at 0.9)."""
    folded = fold(read)
    if fold(snapped) == folded:  # the list chose among the marks only (GUINÉE for GUINEE): its job
        return []
    return [e for e in spellings(entries).get(folded, ()) if e != snapped and len(e) == len(read)]


def listed_unseen(cells: list[CharGuess | None], span: range, read: str, listed: str, entries: tuple[str, ...],
                  second: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """(position in the value, cell, rival) of every box where the listed value puts a character
    neither reader saw there (not among the ICR's candidates, not Tesseract's) while another entry,
    LISTED_UNSEEN_RIVAL_BOXES boxes from it at most, has there what Tesseract read. The list may
    choose among readings the readers found plausible; a letter nobody saw, against a listed rival
    one reader did see, is the list deciding alone (other generator seed 9: ALGÉRIE written, ALGERIF read by the ICR, ALGERIE
    by Tesseract; ALGERIA chosen for its A in the last box, which neither read, final three times)."""
    out = []
    for k, (i, a, b) in enumerate(zip(span, read, listed)):
        g = cells[i]
        if a == b or g is None or g.prob(b) > 0 or i >= len(second) or not second[i] or second[i] == b:
            continue
        seen = fold(second[i])
        rival = next((e for e in entries if e != listed and len(e) == len(listed) and fold(e[k]) == seen
                      and sum(x != y for x, y in zip(e, listed)) <= t.LISTED_UNSEEN_RIVAL_BOXES), None)
        if rival is not None:
            out.append((k, i, rival))
    return out


def marked_share(g: CharGuess, letter: str) -> float:
    """How much of a box's probability the ICR puts on `letter` with any mark (Â Ä À for A): a
    model that lacks Á or Ã still shows a mark it saw as one it knows."""
    return sum(p for c, p in ((g.best, g.p), *g.alternatives) if c != letter and fold(c) == letter)


def listed_twin_marks(cells: list[CharGuess | None], span: range, chosen: str, entries: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """(position in the value, cell, twin) of every box where the chosen listed name has a bare
    letter, another entry the same letters with a mark there (BOGOTA / BOGOTÁ, SAO PAULO / SÃO
    PAULO: the list holds both, as people write both), and the ICR puts LISTED_TWIN_MARK_RATIO or
    more of the bare letter's probability on a marked one. Between two such spellings only the
    ink decides, and a recogniser that lacks the letter (icr-v1 has no Á, Ã, Å) gives the twin
    almost nothing: the list's posterior then calls BOGOTA sure when A was read 0.64, Â 0.19."""
    out = []
    for twin in spellings(entries).get(fold(chosen), ()):
        if twin == chosen or len(twin) != len(chosen):
            continue
        for k, (i, a, b) in enumerate(zip(span, chosen, twin)):
            g = cells[i]
            if a == b or g is None or a != fold(a) or b == fold(b):
                continue
            if marked_share(g, a) >= t.LISTED_TWIN_MARK_RATIO * max(g.prob(a), 1e-9):
                out.append((k, i, twin))
    return out


def stray_punctuation(value: str) -> list[str]:
    """The words of a value that are punctuation alone ('.', '-', "'"), no letter or digit: a
    speck read as a full stop four boxes after a name ("SEO-YUN ."); punctuation follows or joins
    letters."""
    return [w for w in value.split() if not any(c.isalnum() for c in w)]


# Combining marks drawn above a letter (grave, acute, circumflex, tilde, macron, breve, dot,
# diaeresis, ring, double acute, caron): a letter with one explains a stroke over it.
MARKS_ABOVE = frozenset(chr(c) for c in (0x300, 0x301, 0x302, 0x303, 0x304, 0x306, 0x307, 0x308, 0x30A, 0x30B, 0x30C))
# ... and below it (dot, diaeresis, ring, comma, cedilla, ogonek, circumflex, breve, tilde, macron
# below): Ç Ş Ţ Ș Ț Ę Ą Ņ Ģ Ķ Ļ explain a stroke under them.
MARKS_BELOW = frozenset(chr(c) for c in (0x323, 0x324, 0x325, 0x326, 0x327, 0x328, 0x32D, 0x32E, 0x330, 0x331))


# Characters whose own ink rises above capitals or descends below them: no joined mark. Capitals
# hold the line; a Q's tail and a J's hook may hang under it, a comma, a slash, a parenthesis run
# past either.
RISING = frozenset(" /()'")
DESCENDING = frozenset(" QJ,;/()")


def has_mark_above(ch: str) -> bool:
    return any(c in MARKS_ABOVE for c in unicodedata.normalize("NFD", ch))


def has_mark_below(ch: str) -> bool:
    return any(c in MARKS_BELOW for c in unicodedata.normalize("NFD", ch))


def unexplained_marks(raw: RawField, chosen: str, span: range) -> list[list]:
    """[cell (0-based), 'above' or 'below'] for each separate mark near a letter's body (scan/accents.py)
    that the chosen character does not have: a stroke over an E, a cedilla under a C."""
    out = []
    for where, cells, has in (("above", raw.marks_above, has_mark_above), ("below", raw.marks_below, has_mark_below)):
        out += [[i, where] for i in cells if i in span and i - span.start < len(chosen)
                and chosen[i - span.start] != " " and not has(chosen[i - span.start])]
    # A letter reaching clearly past the field's cap line or baseline: a mark drawn joined to it,
    # unless the chosen character has one there or rises or descends by nature (a Q's tail).
    for where, cells, has, natural in (("above", raw.joined_above, has_mark_above, RISING),
                                       ("below", raw.joined_below, has_mark_below, DESCENDING)):
        out += [[i, where, "joined"] for i in cells if i in span and i - span.start < len(chosen)
                and chosen[i - span.start] not in natural and not has(chosen[i - span.start])
                and [i, where] not in out]
    return sorted(out)


def bilevel_close_calls(raw: RawField, cells: list[CharGuess | None], chosen: str, span: range, second: tuple[str, ...]) -> list[int]:
    """On a bilevel scan, the cells (0-based) of digits with another digit close behind: the ICR's
    runner-up worth BILEVEL_RUNNER_RATIO of it, or Tesseract reading there a digit the ICR also
    saw (BILEVEL_SHARED_RATIO of it): both readers pointing at the same other digit."""
    if not raw.bilevel:
        return []
    out = []
    for k, i in enumerate(span):
        g = cells[i]
        if g is None or k >= len(chosen) or not chosen[k].isdigit():
            continue
        p_chosen = g.prob(chosen[k])
        runner = any(c.isdigit() and c != chosen[k] and p >= t.BILEVEL_RUNNER_RATIO * p_chosen for c, p in [(g.best, g.p), *g.alternatives])
        other = i < len(second) and len(second[i]) == 1 and second[i].isdigit() and second[i] != chosen[k]
        shared = other and g.prob(second[i]) >= t.BILEVEL_SHARED_RATIO * p_chosen
        if runner or shared:
            out.append(i)
    return out


def lookalike_disagreements(chosen: str, span: range, second: tuple[str, ...]) -> list[int]:
    """The cells (0-based) where Tesseract reads the look-alike of the chosen character, a digit
    for a letter or the other way round (1 for I, 5 for S, 2 for Z): in a field whose letters and
    digits mix by nature nothing around the box tells them apart, and the priors that pick one
    (a national format) can be wrong (I345494 chosen for 1345494, Tesseract reading 1, final)."""
    return [i for k, i in enumerate(span) if k < len(chosen) and i < len(second)
            and len(second[i]) == 1 and LOOKALIKE_TWINS.get(chosen[k]) == second[i]]
