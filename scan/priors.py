"""What the form itself says a field's value looks like, weighed as a prior over the ICR's cells.

A field may name in the template (lists in templates/vocabularies/) `shapes:` (the real formats
of postal codes, passport numbers, the house number opening an address), `prefixes:` (a phone's
country calling codes) and `domains:` (common e-mail domains; then the local part, words and
maybe a number). Each is a set of hypotheses about what was written, position by position: a shape '9999 AA' says digits in
the first four boxes, an empty box, two letters; a listed domain says which letter goes in each
of its boxes. Bayes over those hypotheses and "any other string" (the value as the person may
have written it, unusual or not), times the ICR's per-cell probabilities, gives each cell's
probability of each character (the marginal over hypotheses). A shape never refuses anything:
a value matching none stays as read, its cells untouched when the evidence says so, and the
template's own checks decide the rest.

A words-only field (`charset: letters`) also weighs how common each letter is (letter_prior).

Why per cell and not a whole-string snap (scan.judge._snap): the confidence downstream is the
product of the chosen characters' probabilities, calibrated as such; marginals keep that meaning.
"""

from __future__ import annotations

import math

from scan import thresholds as t
from scan.engines import CharGuess

DIGITS = frozenset("0123456789")
LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# A shape's characters: 9 a digit, A a letter (unaccented: codes are ASCII), * anything the field
# allows but '@' (an e-mail's local part), a space an empty box; anything else stands for itself.
SHAPE_CLASSES = {"9": DIGITS, "A": LETTERS}


def shape_sets(shape: str, allowed: str) -> tuple[frozenset, ...]:
    """A shape as the set of characters each of its boxes may hold (an empty set: an empty box)."""
    anything = frozenset(allowed) - {"@", " "}
    out = []
    for ch in shape:
        if ch == " ":
            out.append(frozenset())
        elif ch == "*":
            out.append(anything)
        else:
            out.append(SHAPE_CLASSES.get(ch, frozenset(ch)))
    return tuple(out)


def email_hypotheses(n: int, domains: tuple[str, ...], allowed: str) -> list[tuple[float, tuple[frozenset, ...]]]:
    """An e-mail of n boxes: a local part, one '@', then a domain; either one of the listed domains
    (together EMAIL_DOMAIN_PRIOR, each alike) or any domain (the rest of EMAIL_SHAPE_PRIOR, each
    place of the '@' alike)."""
    anything = frozenset(allowed) - {"@", " "}
    out = []
    fitting = [d for d in domains if len(d) + 2 <= n]
    for d in fitting:
        sets = (anything,) * (n - len(d) - 1) + (frozenset("@"),) + tuple(frozenset(c) for c in d)
        out.append((t.EMAIL_DOMAIN_PRIOR / len(fitting), sets))
    places = range(1, n - 3)  # at least one character before the '@', 'A.BC' after it
    for j in places:
        sets = (anything,) * j + (frozenset("@"),) + (anything,) * (n - j - 1)
        out.append(((t.EMAIL_SHAPE_PRIOR - (t.EMAIL_DOMAIN_PRIOR if fitting else 0.0)) / len(places), sets))
    return out


def shape_hypotheses(shapes: tuple[str, ...], n: int, allowed: str, prior: float = t.SHAPE_PRIOR) -> list[tuple[float, tuple[frozenset | None, ...]]]:
    """The shapes that fit n boxes, together `prior`, each alike. A shape ending in ' *' shapes
    the value's first word only (an address's house number): the boxes after it are as read."""
    out = []
    for s in shapes:
        if s.endswith(" *") and len(s) - 1 < n:
            out.append(shape_sets(s[:-1], allowed) + (None,) * (n - len(s) + 1))
        elif len(s) == n:
            out.append(shape_sets(s, allowed))
    return [(prior / len(out), sets) for sets in out]


def _within(listed: dict[str, float], s: frozenset, twins: dict[str, str]) -> dict[str, float]:
    """A cell's candidates a box limited to `s` can hold. A handwritten I and 1 (O and 0, S and 5...)
    are nearly one glyph: the ICR's preference between twins is weak evidence, so a candidate
    outside `s` whose twin is inside counts for that twin, TWIN_READ_P of it (I read in a digit's
    box is mostly a 1)."""
    out: dict[str, float] = {}
    for c, p in listed.items():
        if c not in s:
            c, p = twins.get(c, ""), p * t.TWIN_READ_P
        if c in s:
            out[c] = out.get(c, 0.0) + p
    return out


def _in_box(listed: dict[str, float], s: frozenset, twins: dict[str, str], k: int) -> tuple[dict[str, float], float]:
    """The candidates a box limited to `s` can hold (`_within`), and the mass of the characters of
    `s` the ICR did not list: what it left beyond its candidates, spread over the field's k
    characters. A box read as Ö that a shape gives a digit is a 0 only as far as the ICR saw an O
    there at all; the other digits keep their share (never surer than the exact sum)."""
    inside = _within(listed, s, twins)
    unlisted = len(s - set(listed))
    rest = max(0.0, 1.0 - sum(listed.values())) * unlisted / max(1, k - len(listed))
    return inside, rest


def reweigh(cells: list[CharGuess | None], span: range, hypotheses: list[tuple[float, tuple[frozenset, ...]]], allowed: str, twins: dict[str, str]) -> tuple[list[CharGuess | None], dict]:
    """The cells of `span` given the hypotheses (prior weight, set of characters per box) and
    "any other string" (the weight left): each cell's probability of each character, the marginal
    over the hypotheses' posteriors. The ICR's probabilities are read as likelihoods (it was
    trained and renormalized over the field's characters alike): a box a hypothesis limits to the
    set S weighs P(S) / |S| against the chance of that box in any other string: 1/K for a class
    (a digit, a letter: any string over the field's K characters), UNLISTED_CHAR_P for one listed
    character (a listed domain against any other real one, as scan.judge._snap weighs a listed
    name: 1/K would take UQAM.CA read at 0.7 a box for LIVE.CA). A hypothesis that fills a box
    read empty, or leaves a written one empty, does not compete."""
    k = max(1, len(set(allowed) - {" "}))
    free = max(0.0, 1.0 - sum(w for w, _ in hypotheses))
    # Each box's candidates, and what a set of characters makes of them, once per field: the
    # hypotheses (181 calling codes, 48 domains) share a few sets box by box.
    listed_of = {i: dict(((cells[i].best, cells[i].p), *cells[i].alternatives)) for i in span if cells[i] is not None}
    boxed: dict[tuple[int, frozenset], tuple[dict[str, float], float]] = {}

    def in_box(i: int, s: frozenset) -> tuple[dict[str, float], float]:
        if (i, s) not in boxed:
            boxed[(i, s)] = _in_box(listed_of[i], s, twins, k)
        return boxed[(i, s)]

    scored = []  # (log posterior numerator, sets)
    for weight, sets in hypotheses:
        if weight <= 0 or len(sets) != len(span):
            continue
        log_l = math.log(weight)
        for s, i in zip(sets, span):
            g = cells[i]
            if s is None:
                continue  # a box the hypothesis says nothing about
            if (g is None) != (not s):
                break
            if g is not None:
                inside, rest = in_box(i, s)
                other = t.UNLISTED_CHAR_P if len(s) == 1 else 1 / k
                log_l += math.log(max(sum(inside.values()) + rest, t.CHAR_P_FLOOR) / (len(s) * other))
        else:
            scored.append((log_l, sets))
    if not scored:
        return cells, {}
    top = max([x for x, _ in scored] + ([math.log(free)] if free > 0 else []))
    norm = sum(math.exp(x - top) for x, _ in scored) + (free * math.exp(-top) if free > 0 else 0.0)
    post = [(math.exp(x - top) / norm, sets) for x, sets in scored]
    p_free = 1.0 - sum(p for p, _ in post)
    out = list(cells)
    for pos, i in enumerate(span):
        if cells[i] is None:
            continue
        listed = listed_of[i]
        new = {c: p_free * p for c, p in listed.items()}
        for p_h, sets in post:
            s = sets[pos]
            inside, rest = in_box(i, s) if s is not None else (listed, 0.0)
            mass = sum(inside.values()) + rest
            if not inside and len(s) == 1:
                inside = {next(iter(s)): mass}  # a listed letter the ICR did not rank
            elif not inside:
                inside, mass = listed, sum(listed.values())  # no candidate fits: as read
            for c, p in inside.items():
                new[c] = new.get(c, 0.0) + p_h * p / mass
        ranked = sorted(new.items(), key=lambda cp: -cp[1])
        out[i] = CharGuess(ranked[0][0], ranked[0][1], tuple(ranked[1:]))
    best = max(post, key=lambda ps: ps[0])
    return out, {"prior_top": round(best[0], 4), "prior_free": round(p_free, 4)}


def letter_frequencies(entries: tuple[str, ...]) -> dict[str, float]:
    """A table of 'letter share' lines (templates/vocabularies/letter-frequencies.txt) as a dict."""
    out = {}
    for line in entries:
        letter, _, share = line.rpartition(" ")
        out[letter.strip()] = float(share)
    return out


def letter_prior(cells: list[CharGuess | None], frequencies: dict[str, float]) -> list[CharGuess | None]:
    """Each cell of a words-only field weighed by how common its letters are (Bayes: the ICR's
    probabilities assume every character alike; a written word has many E and R, few Ë or K),
    tempered by LETTER_PRIOR_POWER. Characters off the table (space - ' .) weigh like an average
    letter. The cell keeps the probability mass it had over its listed candidates."""
    if not frequencies:
        return cells
    mean = sum(frequencies.values()) / len(frequencies)
    out = list(cells)
    for i, g in enumerate(cells):
        if g is None:
            continue
        listed = [(g.best, g.p), *g.alternatives]
        mass = sum(p for _, p in listed)
        weighted = [(c, p * (frequencies.get(c, mean) / mean) ** t.LETTER_PRIOR_POWER) for c, p in listed]
        norm = sum(p for _, p in weighted) or 1.0
        ranked = sorted(((c, p * mass / norm) for c, p in weighted), key=lambda cp: -cp[1])
        out[i] = CharGuess(ranked[0][0], ranked[0][1], tuple(ranked[1:]))
    return out


def prefix_hypotheses(prefixes: tuple[str, ...], n: int) -> list[tuple[float, tuple[frozenset | None, ...]]]:
    """A value of n boxes opening with one of the listed prefixes (a telephone's country calling
    code), together PREFIX_PRIOR; the boxes after it are as read. Each number alike, not each
    code: a 2-digit code weighs 10 times a 3-digit one, as it opens 10 times as many numbers
    (alike per code, 333... read with a weak 7 second became Moldova's 373)."""
    fitting = [p for p in prefixes if len(p) < n]
    total = sum(10.0 ** -len(p) for p in fitting)
    return [(t.PREFIX_PRIOR * 10.0 ** -len(p) / total, tuple(frozenset(c) for c in p) + (None,) * (n - len(p))) for p in fitting]


def email_local_hypotheses(m: int, n: int, allowed: str) -> list[tuple[float, tuple[frozenset | None, ...]]]:
    """The local part of an e-mail of n boxes whose '@' is box m: words (letters, '.', '-', '_')
    then, often, a number (JEAN.TREMBLAY86): one hypothesis per place the number starts (none
    at m), together EMAIL_LOCAL_PRIOR, each alike; the boxes from the '@' on are as read."""
    words = (LETTERS | frozenset(".-_")) & frozenset(allowed)
    tail = (None,) * (n - m)
    return [(t.EMAIL_LOCAL_PRIOR / (m + 1), (words,) * j + (DIGITS,) * (m - j) + tail) for j in range(m + 1)]
