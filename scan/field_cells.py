"""A comb field's cells weighed by what the template says its value may be, before scan.judge
chooses: the field's own characters, a letter that is a digit's look-alike twin among digits (and
back), words of one kind (letters or digits), and the priors of scan/priors.py (letter
frequencies, real formats, an e-mail's shape). Plain functions: cells in, cells out."""

from __future__ import annotations

from scan import priors
from scan import thresholds as t
from scan.engines import CharGuess
from templates.spec import FieldSpec, vocabulary


def _kind(ch: str) -> str | None:
    if ch.isdigit():
        return "digit"
    if ch.isalpha():
        return "letter"
    return None


def _words(cells: list[CharGuess | None]):
    """(start, end) of every run of written cells: the words of a comb field."""
    i = 0
    while i < len(cells):
        if cells[i] is None:
            i += 1
            continue
        j = i
        while j < len(cells) and cells[j] is not None:
            j += 1
        yield i, j
        i = j


LOOKALIKE_TWINS = {"O": "0", "I": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}
LOOKALIKE_TWINS.update({d: c for c, d in LOOKALIKE_TWINS.items()})


def within_charset(cells: list[CharGuess | None], f: FieldSpec) -> list[CharGuess | None]:
    """Each cell's candidates cut to the characters the template allows in this field (a name has
    no digit: O not 0, I not 1, S not 5, B not 8), probabilities renormalized. The reader already
    asks the ICR for the field's characters (then nothing changes here); a reading made over a
    wider set (the calibration cache) is renormalized over its listed candidates, the mass beyond
    them counted as allowed: never surer than the exact renormalization. A cell none of whose
    candidates is allowed reads '?', which the template's charset check sends to a person."""
    allowed = set(f.charset)
    out = list(cells)
    for i, g in enumerate(cells):
        if g is None:
            continue
        listed = [(g.best, g.p), *g.alternatives]
        if all(c in allowed for c, _ in listed):
            continue
        outside = sum(p for c, p in listed if c not in allowed)
        kept = sorted(((c, min(1.0, p / max(1e-9, 1.0 - outside))) for c, p in listed if c in allowed), key=lambda cp: -cp[1])
        out[i] = CharGuess(kept[0][0], kept[0][1], tuple(kept[1:])) if kept else CharGuess("?", t.CHAR_P_FLOOR)
    return out


def lookalike_twins(cells: list[CharGuess | None], f: FieldSpec) -> list[CharGuess | None]:
    """In a text field, a letter that looks like a digit (O 0, I 1, Z 2, S 5, G 6, B 8) written
    between two digits, in a word mostly of digits, is that digit (R47923O7, a passport); and
    the other way round (MATIAS6ARCIA, an email). Only between two neighbours of the other kind:
    AB123456 keeps its B. The twin takes the probability the ICR gave the character it saw."""
    if f.type != "text":
        return cells
    out = list(cells)
    for i, j in _words(cells):
        kinds = [_kind(cells[k].best) for k in range(i, j)]
        for k in range(i + 1, j - 1):
            g = cells[k]
            twin = LOOKALIKE_TWINS.get(g.best)
            if twin is None or not (kinds[k - i - 1] == kinds[k - i + 1] == _kind(twin)):
                continue
            if sum(x == _kind(twin) for x in kinds) < t.TOKEN_MAJORITY * len(kinds):
                continue
            rest = tuple((c, p) for c, p in g.alternatives if c != twin)
            out[k] = CharGuess(twin, g.p, ((g.best, g.prob(twin) or t.CHAR_P_FLOOR), *rest))
    return out


def consistent_tokens(cells: list[CharGuess | None], f: FieldSpec) -> list[CharGuess | None]:
    """Within a word of a free-text field, letters and digits do not mix: a cell whose best guess is
    a digit in a word of letters (MAR0C) is re-weighted towards the letters among its candidates,
    and the other way round. Fields whose pattern mixes them (passport, postal code, email) are
    left alone. The probabilities stay a distribution; the calibration sees the result."""
    if f.type != "text" or f.pattern:
        return cells
    out = list(cells)
    for i, j in _words(cells):
        word = cells[i:j]
        votes = {"digit": 0.0, "letter": 0.0}
        for g in word:
            k = _kind(g.best)
            if k:
                votes[k] += g.p
        total = sum(votes.values())
        major = max(votes, key=votes.get)
        if len(word) >= t.TOKEN_MIN_CELLS and total and votes[major] / total >= t.TOKEN_MAJORITY:
            for k, g in enumerate(word, start=i):
                if _kind(g.best) == major or _kind(g.best) is None:
                    continue
                listed = [(g.best, g.p), *g.alternatives]
                mass = sum(p for _, p in listed)
                weighted = [(c, p * (t.TOKEN_TYPE_WEIGHT if _kind(c) == major else 1.0)) for c, p in listed]
                norm = sum(p for _, p in weighted) or 1.0
                ranked = sorted(((c, p * mass / norm) for c, p in weighted), key=lambda x: -x[1])
                out[k] = CharGuess(ranked[0][0], ranked[0][1], tuple(ranked[1:]))
    return out


def with_priors(cells: list[CharGuess | None], f: FieldSpec) -> tuple[list[CharGuess | None], dict]:
    """The cells weighed by what the template says such a value looks like (scan/priors.py): how
    common each letter is in a words-only field, the real formats of its kind (`shapes:`), an
    e-mail's one '@' and common domains (`domains:`)."""
    if f.charset_kind == "letters":
        cells = priors.letter_prior(cells, priors.letter_frequencies(vocabulary("letter-frequencies")))
    written = [i for i, g in enumerate(cells) if g is not None]
    if not written or not (f.shapes or f.domains or f.prefixes):
        return cells, {}
    span = range(written[0], written[-1] + 1)
    hypotheses = priors.shape_hypotheses(vocabulary(f.shapes), len(span), f.charset, t.SHAPE_PRIORS.get(f.shapes, t.SHAPE_PRIOR)) if f.shapes else []
    if f.prefixes:
        hypotheses += priors.prefix_hypotheses(vocabulary(f.prefixes), len(span))
    if f.domains:
        hypotheses += priors.email_hypotheses(len(span), vocabulary(f.domains), f.charset)
    cells, info = priors.reweigh(cells, span, hypotheses, f.charset, LOOKALIKE_TWINS)
    at = next((k for k, i in enumerate(span) if cells[i] is not None and cells[i].best == "@"), 0)
    if f.domains and at:
        # Then the words and number before the '@' (their boxes were any character so far).
        cells, _ = priors.reweigh(cells, span, priors.email_local_hypotheses(at, len(span), f.charset), f.charset, LOOKALIKE_TWINS)
    return cells, info
