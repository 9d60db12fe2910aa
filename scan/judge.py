"""Stage 5, judge: raw evidence in, a value with an honest confidence and a verdict out.

A field is final (needs_review False) only when the evidence supports its value beyond the
threshold of its type in scan/thresholds.py; those thresholds are calibrated on the sample
corpus so that what the system calls final is wrong for at most 0.5 % of fields.

Confidence is the probability that the whole value is right:
- comb fields: the product of the ICR's per-character probabilities of the chosen string (for
  fields with a vocabulary, country names, the posterior of the chosen entry), weighed with
  Tesseract's second opinion box by box by a logistic model calibrated per kind
  (`confidence_features`, `calibrated`);
- tick boxes and signatures: high when every box sits clearly on one side of its thresholds;
- barcodes: 1.0 when the typed text on the page agrees.
Then the template's own checks (templates.validation: type, charset, pattern, range, rules)
turn a value that breaks them into a review, with the rule's id as the reason.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
import json
import math
from datetime import date

from scan import thresholds as t
from scan.doubts import (
    bilevel_close_calls,
    listed_as_read_but_marks,
    listed_rivals,
    listed_twin_marks,
    listed_unseen,
    lookalike_disagreements,
    stray_punctuation,
    unexplained_marks,
    vocabulary_drops_marks,
    vocabulary_overrules,
)
from scan.engines import CharGuess
from scan.field_cells import consistent_tokens, lookalike_twins, with_priors, within_charset
from scan.model import FieldReading
from scan.read import RawField
from scan.ticks import Mark
from templates.plausibility import SIGNATURE_FIELD
from templates.spec import FieldSpec, FormSpec, vocabulary
from templates.validation import check_field, normalize_value, parse_date, validate


# A required field read empty: never final. The reading may be right (the candidate left it
# blank, the page is blank) or not (a pen too light, ink around a box); either way it costs the
# candidate their place, so a person confirms it (registry: confirm_empty, one action an envelope).
EMPTY_REQUIRED = "empty_required"


def _odds(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return p / (1 - p)


def _prob(odds: float) -> float:
    return odds / (1 + odds)


def _evidence(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _reading(raw: RawField, f: FieldSpec, value, text: str, confidence: float, reasons: list[str], evidence: dict) -> FieldReading:
    reasons = list(dict.fromkeys(reasons))
    review = bool(reasons)
    return FieldReading(
        name=f.name,
        value=value,
        raw=text,
        source=raw.source,
        confidence=round(max(0.0, min(1.0, confidence)), 6),
        needs_review=review,
        reasons=tuple(reasons),
        page_no=raw.page_no,
        box=raw.box,
        evidence=_evidence(evidence),
    )


def missing_field(f: FieldSpec, reason: str = "page_missing", detail: str = "") -> FieldReading:
    """A field whose page is not in the envelope (or could not be read): a person must look."""
    return FieldReading(
        name=f.name,
        value=None,
        raw="",
        source="ocr" if f.type in ("text", "digits", "date") else "omr",
        confidence=0.0,
        needs_review=True,
        reasons=(reason,),
        page_no=f.page_index + 1,
        box=f.bounds,
        evidence=_evidence({"why": detail}) if detail else "",
    )


# ------------------------------------------------------------------------------ comb fields


def _field_problems(f: FieldSpec, value, today: date) -> list[str]:
    return [p.code for p in check_field(f, value, today=today) if p.code != "required"]


def _candidates(cells: list[CharGuess | None], span: range, limit: int) -> list[tuple[str, float]]:
    """The best strings over `span` from the top guesses of the least sure cells: (text, product p)."""
    written = [i for i in span if cells[i] is not None]
    weakest = sorted(written, key=lambda i: cells[i].p)[: t.ALTERNATIVE_CELLS]
    options = {}
    for i in span:
        g = cells[i]
        if g is None:
            options[i] = [(" ", 1.0)]
        elif i in weakest:
            options[i] = [(g.best, g.p)] + [a for a in g.alternatives[: t.ALTERNATIVES_PER_CELL]]
        else:
            options[i] = [(g.best, g.p)]
    out = []
    for combo in itertools.product(*(options[i] for i in span)):
        out.append(("".join(c for c, _ in combo), math.prod(p for _, p in combo)))
    out.sort(key=lambda c: -c[1])
    return out[:limit]


def _given_valid(cells: list[CharGuess | None], span: range, p_chosen: float, f: FieldSpec, today: date) -> float:
    """P(chosen | the value is a real date / in range): the readings of the least sure boxes that
    make no valid value (month 17, day 39, 1 child written as 71) drop out of the competition.
    Strings not enumerated are all counted as valid, so this can only be conservative."""
    weakest = sorted((i for i in span if cells[i] is not None), key=lambda i: cells[i].p)[: t.ALTERNATIVE_CELLS]
    enumerated = math.prod(cells[i].p for i in span if cells[i] is not None and i not in weakest)
    for i in weakest:
        enumerated *= cells[i].p + sum(p for _, p in cells[i].alternatives[: t.ALTERNATIVES_PER_CELL])
    valid = sum(p for text, p in _candidates(cells, span, t.MAX_CANDIDATES) if not _field_problems(f, normalize_value(f, text), today) and " " not in text.strip())
    norm = valid + max(0.0, 1.0 - enumerated)
    return min(1.0, p_chosen / norm) if norm > 0 else p_chosen


def _likelihood(cells: list[CharGuess | None], span: range, entry: str) -> float:
    if len(entry) != len(span):
        return 0.0
    p = 1.0
    for ch, i in zip(entry, span):
        g = cells[i]
        if g is None:
            p *= 1.0 if ch == " " else t.EMPTY_CELL_CHAR_P
        else:
            p *= max(g.prob(ch), t.CHAR_P_FLOOR)
    return p


def _snap(cells: list[CharGuess | None], span: range, best: str, best_p: float, entries: tuple[str, ...], prior: float = t.VOCABULARY_PRIOR) -> tuple[str, float, dict]:
    """The vocabulary entry the characters support, with its posterior, or the string as written.

    Bayes over what could have been written: a listed name (all of them together with chance
    `prior`, VOCABULARY_PRIOR unless the list has its own in LISTED_PRIOR, each alike) or any other string (the rest, each character with chance
    UNLISTED_CHAR_P), times how well the ICR's per-cell probabilities fit it,
    Q(s) = prod p_i(s_i). A name the ICR misread in two boxes (AKCENTINE) is still far likelier
    than that exact unlisted string; what it is worth is then calibrated like any confidence
    (scan.calibrate fits the 'listed' kind on its own)."""
    scored = sorted(((e, _likelihood(cells, span, e)) for e in entries), key=lambda s: -s[1])
    scored = [s for s in scored if s[1] > 0]
    info = {"vocabulary_top": [[e, round(p, 6)] for e, p in scored[:3]]}
    each_entry = prior / max(1, len(entries))
    # Unlisted strings of this length share (1 - prior) * q^n; the ICR's best is best_p of that share.
    unlisted = (1 - prior) * t.UNLISTED_CHAR_P ** len(best.replace(" ", ""))
    total = sum(each_entry * p for _, p in scored) + unlisted
    free = 0.0 if best in entries else unlisted * best_p
    if scored and each_entry * scored[0][1] >= free:
        top, top_p = scored[0]
        if top != best:
            info["snapped_from"] = best
        return top, each_entry * top_p / total, info
    return best, free / total, info


def field_char(ch: str, allowed: str) -> str:
    """Tesseract's character for a cell as the field allows it: it reads with its type's whitelist
    (its second opinion is calibrated so), and a character the field cannot hold (a 0 in a name) is
    no reading of that box. Taking it for its look-alike twin instead (0 as O) was tried on seed 11:
    one more field final, one more final and wrong (IBRAHIMA read IBRAAIMA, Tesseract's 1 as I)."""
    return ch if not ch or ch in allowed else ""


def _opinion(features: dict[str, float]) -> str:
    """How Tesseract's reading of the chosen boxes compares, in words (the evidence, and
    scan.calibrate's report): 'agree' on every written box, 'partial' (some it did not read,
    none otherwise), 'silent' (it read none of them: no opinion, not a partial agreement), or
    'disagree:N' with the number of boxes it reads otherwise."""
    if features["silent"]:
        return "silent"
    if features["undisputed"]:
        return "agree" if features["all_agree"] else "partial"
    return f"disagree:{int(features['extra_disagreements']) + 1}"


def confidence_kind(f: FieldSpec, value: str) -> str:
    """What a comb field's confidence is calibrated as: its type, or 'listed' when the value is an
    entry of the field's vocabulary (its confidence is then that entry's posterior, not the chance
    of a string read freely)."""
    return "listed" if f.type == "text" and f.vocabulary and value in vocabulary(f.vocabulary) else f.type


def confidence_features(raw: RawField, cells: list[CharGuess | None], chosen: str, span: range, p_read: float, allowed: str,
                        second: tuple[str, ...] | None = None, overturned: frozenset[int] = frozenset()) -> dict[str, float]:
    """What the calibrated confidence weighs (thresholds.CONFIDENCE_MODEL, fitted per kind by
    scan.calibrate), measured on the chosen string: the ICR's log-odds of the whole string; the
    kind of Tesseract's opinion of the same boxes (undisputed: some read alike, none otherwise;
    all_agree on top when it read every box; silent: it read none; a box read otherwise is the
    reference); how many more boxes it reads otherwise; the doubt (-log of the ICR's probability
    of the chosen character) of the boxes it reads otherwise: a box the ICR was sure of that
    Tesseract misread costs little, a doubtful one much; Tesseract's own confidence in the line
    where it read every box alike (both readers agreeing on a misread shape is the error left at
    the top). `second`: Tesseract's cells as the opinion was taken (raw.second_cells unless given).
    `overturned`: cells whose character Tesseract's vote chose over the ICR's own best
    (with_second_opinion): there the readers disagreed and the vote settled it, so the box counts
    as read otherwise, at the ICR's doubt of the chosen character, not as a second confirmation
    (2022-08-30 read 2022-08-10: the ICR's 3 at 0.44 overturned by Tesseract's 1, then 'all agree')."""
    second = second or raw.second_cells
    agree = disagree = silent = 0
    doubt_disagree = 0.0
    for ch, i in zip(chosen, span):
        g = cells[i]
        if ch == " " or g is None:
            continue
        other = field_char(second[i], allowed) if i < len(second) else ""
        if not other:
            silent += 1
        elif other == ch and i not in overturned:
            agree += 1
        else:
            disagree += 1
            doubt_disagree -= math.log(max(g.prob(ch), t.CHAR_P_FLOOR))
    all_agree = float(agree > 0 and not disagree and not silent)
    return {
        "logit_p": max(-t.CONFIDENCE_LOGIT_CLIP, min(t.CONFIDENCE_LOGIT_CLIP, math.log(_odds(p_read)))),
        "undisputed": float(agree > 0 and not disagree),
        "all_agree": all_agree,
        "silent": float(not agree and not disagree),
        "extra_disagreements": float(max(0, disagree - 1)),
        "doubt_disagree": doubt_disagree,
        "agreed_confidence": all_agree * float(raw.second_confidence),
    }


def calibrated(features: dict[str, float], kind: str, model: dict | None = None) -> float:
    """The chance the value is right: logistic regression over `confidence_features`, weights per
    kind (thresholds.CONFIDENCE_MODEL, fitted by scan.calibrate on the corpus; `model` is one
    being fitted)."""
    model = model or t.CONFIDENCE_MODEL[kind]
    logit = model["intercept"] + sum(w * features.get(name, 0.0) for name, w in model["weights"].items())
    return _prob(math.exp(max(-30.0, min(30.0, logit))))


def with_second_opinion(cells: list[CharGuess | None], second: tuple[str, ...]) -> list[CharGuess | None]:
    """Each cell's character chosen with Tesseract's vote: where Tesseract read one of the ICR's
    candidates, that candidate's probability counts SECOND_OPINION_VOTE times more in the choice.
    The chosen character keeps the ICR's own probability (the vote moves the choice, and the
    agreement of the whole string is weighed once, by `calibrated`)."""
    out = list(cells)
    for i, g in enumerate(cells):
        if g is None or i >= len(second) or len(second[i]) != 1:
            continue
        listed = [(g.best, g.p), *g.alternatives]
        pick = max(listed, key=lambda cp: cp[1] * (t.SECOND_OPINION_VOTE if cp[0] == second[i] else 1.0))
        if pick[0] != g.best:
            rest = sorted((cp for cp in listed if cp[0] != pick[0]), key=lambda cp: -cp[1])
            out[i] = CharGuess(pick[0], pick[1], tuple(rest))
    return out


# The evidence keys of scan/doubts.py's checks on a listed value: any of them, and the list's
# choice is not final (vocabulary_disagrees).
LIST_DOUBTS = ("vocabulary_overrules", "vocabulary_drops_marks", "listed_rivals", "listed_as_read", "listed_twin_marks", "listed_unseen")


def judge_comb(raw: RawField, f: FieldSpec, *, today: date) -> FieldReading:
    cells = list(raw.cells)
    prior_info: dict = {}
    overturned: frozenset[int] = frozenset()
    if raw.recognizer == "icr":
        second = tuple(field_char(c, f.charset) if len(c) == 1 else c for c in raw.second_cells)
        cells, prior_info = with_priors(consistent_tokens(lookalike_twins(within_charset(cells, f), f), f), f)
        own = cells
        cells = with_second_opinion(cells, second)
        overturned = frozenset(i for i, (a, b) in enumerate(zip(own, cells)) if a is not None and a.best != b.best)
    written = [i for i, g in enumerate(cells) if g is not None]
    evidence: dict = {
        "cells": [[g.best, round(g.p, 4), [[c, round(p, 4)] for c, p in g.alternatives[:2]]] if g else None for g in cells],
        "ink": list(raw.cell_ink),
        "tesseract": raw.second_opinion,
        "recognizer": raw.recognizer,
        "offset_px": list(raw.offset_px),
        **prior_info,
    }
    if raw.doubtful_cells:
        evidence["doubtful_cells"] = list(raw.doubtful_cells)
    if raw.line_visibility < t.LINE_VISIBLE_MIN:
        evidence["line_visibility"] = raw.line_visibility
    if not written:
        if raw.doubtful_cells:
            reason = "missing" if f.required else "unread_ink"
            return _reading(raw, f, None, "", t.DOUBTFUL_EMPTY_CONFIDENCE, [reason], evidence)
        if raw.line_visibility < t.LINE_VISIBLE_MIN:
            # The scan lost the printed lines: a light pen may have been lost with them.
            return _reading(raw, f, None, "", t.DOUBTFUL_EMPTY_CONFIDENCE, ["faint_scan"], evidence)
        return _reading(raw, f, None, "", t.EMPTY_CONFIDENCE, [EMPTY_REQUIRED] if f.required else [], evidence)

    span = range(written[0], written[-1] + 1)
    best = "".join(cells[i].best if cells[i] is not None else " " for i in span)
    best_p = math.prod(cells[i].p for i in written)
    if not any(ch.isalnum() for ch in best):
        # Punctuation alone ('.', '-') is the value of no field: a speck or a stray stroke read as
        # one. Not a value, and not known empty either: a person looks.
        reason = "missing" if f.required else "unread_ink"
        return _reading(raw, f, None, best.strip(), t.DOUBTFUL_EMPTY_CONFIDENCE, [reason], evidence)
    reasons: list[str] = []
    chosen, p_chosen = best, best_p
    value = normalize_value(f, best)
    problems = _field_problems(f, value, today)
    if f.type in ("digits", "date") and " " in best:
        problems.append("gap")
    if problems and "gap" not in problems:
        # The best string breaks the field's rules: is a close second reading valid? Offer it to
        # the reviewer (it stays a review: the rule, not the writing, chose it).
        for text, p in _candidates(cells, span, t.MAX_CANDIDATES)[1:]:
            if p < best_p * t.ALTERNATIVE_MIN_RATIO:
                break
            candidate = normalize_value(f, text)
            if not _field_problems(f, candidate, today):
                evidence["rejected_best"] = best
                chosen, p_chosen, value = text, p, candidate
                reasons.append("alternative")
                break
    confidence = p_chosen
    if not problems and "alternative" not in reasons and (f.type == "date" or f.min is not None or f.max is not None):
        confidence = _given_valid(cells, span, p_chosen, f, today)
        evidence["p_valid"] = round(confidence, 6)
    if f.vocabulary and not problems:
        entries = vocabulary(f.vocabulary)
        seconds = second if raw.recognizer == "icr" else ()
        snapped, posterior, info = _snap(cells, span, chosen, p_chosen, entries, t.LISTED_PRIOR.get(f.vocabulary, t.VOCABULARY_PRIOR))
        evidence.update(info)
        read_as = listed_as_read_but_marks(chosen, snapped, entries)
        if read_as:
            evidence["listed_as_read"] = read_as
        if snapped != chosen:
            # The list may choose among readings the ICR found plausible, never against a box it
            # read with confidence (ALGÉRIE written, its final E sure: not ALGERIA, final), nor take
            # off a mark it read (BOGOTA for BOGOTÂ read).
            for key, boxes in (("vocabulary_overrules", vocabulary_overrules(cells, span, chosen, snapped, seconds)),
                               ("vocabulary_drops_marks", vocabulary_drops_marks(cells, span, chosen, snapped))):
                if boxes:
                    evidence[key] = [[i, cells[i].best, round(cells[i].p, 4), snapped[k]] for k, i in boxes]
            unseen = listed_unseen(cells, span, chosen, snapped, entries, seconds)
            if unseen:
                evidence["listed_unseen"] = [[i, snapped[k], seconds[i], rival] for k, i, rival in unseen]
            chosen, value = snapped, normalize_value(f, snapped)
        # Two listed names a box apart, and Tesseract reads that box as the other one has it
        # (CAMEROUN written, its U read O by the ICR, CAMEROON chosen): the list cannot decide.
        rivals = listed_rivals(span, chosen, entries, seconds) if chosen in entries else []
        if rivals:
            evidence["listed_rivals"] = rivals
        # The ICR's own cells: Tesseract agreeing on an A, or a letter prior, says nothing of a mark.
        seen = list(raw.cells)
        twins = listed_twin_marks(seen, span, chosen, entries) if chosen in entries else []
        if twins:
            evidence["listed_twin_marks"] = [[i, seen[i].best, round(seen[i].p, 4), twin] for _, i, twin in twins]
        if any(key in evidence for key in LIST_DOUBTS):
            reasons.append("vocabulary_disagrees")
        confidence = posterior
    evidence["p_read"] = round(confidence, 6)
    kind = confidence_kind(f, chosen)
    evidence["calibrated_as"] = kind
    evidence["second_opinion"] = "none"
    if raw.recognizer == "icr" and raw.second_cells:
        # Without an independent second reading (no Tesseract) the ICR's probability stands as it is.
        features = confidence_features(raw, cells, chosen, span, confidence, f.charset, overturned=overturned)
        evidence["second_opinion"] = _opinion(features)
        evidence["features"] = {k: round(v, 4) for k, v in features.items()}
        confidence = calibrated(features, kind)
    if f.type == "date" and len(written) != 8:
        problems.append("date")
    if problems:
        reasons += problems if "alternative" not in reasons else []
        if "alternative" not in reasons:
            confidence = min(confidence, t.INVALID_VALUE_CONFIDENCE)
    stray = stray_punctuation(chosen) if f.type == "text" else []
    if stray:
        # A word of punctuation alone ("SEO-YUN ." : a speck four boxes on, read '.' by both
        # readers): punctuation follows or joins letters; alone, it is more likely dust.
        evidence["stray_punctuation"] = stray
    if raw.doubtful_cells or stray:
        reasons.append("doubtful_ink")
    if f.type == "digits" and raw.line_visibility < t.LINE_VISIBLE_MIN and len(written) < len(cells):
        # The scan lost the printed lines, and a light stroke with them: a box read empty beside
        # written digits may have held one (48 read as 4), and a number one digit short is final.
        reasons.append("faint_scan")
    if raw.ink_above:
        reasons.append("correction")
        evidence["ink_above"] = list(raw.ink_above)
    close = bilevel_close_calls(raw, cells, chosen, span, second if raw.recognizer == "icr" else ()) if f.type in ("digits", "date") else []
    if close:
        # A 1-bit scan loses thin strokes and merges close ones: a digit the readers nearly read
        # as another (1 and 7, 0 and 1) is not final there.
        reasons.append("bilevel_close_call")
        evidence["close_digits"] = close
    signed = parse_date(value) if f.name == SIGNATURE_FIELD and isinstance(value, str) else None
    if signed and (today - signed).days > t.SIGNED_LONG_BEFORE_DAYS:
        # Signed half a year or more before the envelope arrived: possible, but a year's digit
        # read wrong (2025 for 2026) looks just so, and nothing else on the form says which.
        reasons.append("signed_long_before")
        evidence["days_before_arrival"] = (today - signed).days
    twins = lookalike_disagreements(chosen, span, second) if f.type == "text" and f.pattern and raw.recognizer == "icr" else []
    if twins:
        # A passport number's I or 1, S or 5: the readers disagree on what no neighbour decides.
        reasons.append("lookalike_disagrees")
        evidence["lookalike_disagrees"] = [[i, chosen[i - span.start], second[i]] for i in twins]
    unexplained = unexplained_marks(raw, chosen, span) if f.type == "text" else []
    if unexplained:
        # A separate stroke over (or under) a letter read without one (an É read E, a Ç read C):
        # the ink is not what the value says; a person looks.
        reasons.append("unexplained_mark")
        evidence["unexplained_marks"] = unexplained
    if confidence < t.FINAL_MIN_CONFIDENCE[kind]:
        reasons.append("low_confidence")
    return _reading(raw, f, value, best.strip(), confidence, reasons, evidence)


# ------------------------------------------------------------------------------ tick boxes


# Tick boxes something covers (scan/ticks.py states): what is under it cannot be read; the reason given.
COVERED_BOX_REASONS = {"blotted": "blot", "streaked": "line_through_box"}


def judge_marks(raw: RawField, f: FieldSpec) -> FieldReading:
    # A speck beside a real answer is dust; alone in an otherwise blank question, it may be a
    # light touch of the pen: a person looks (nothing is offered: it is as likely dust).
    specks = [m.value for m in raw.marks if m.state == "speck"]
    # A blot (a punch hole, a staple's shadow) hides what is under it: the question is read from
    # the other boxes, as if it were empty, and a person looks.
    # So does a crease or a scanner's streak through a box: the line is the scan's, what the pen
    # did there (if anything) a person sees.
    covered = {state: [m.value for m in raw.marks if m.state == state] for state in COVERED_BOX_REASONS}
    hidden = {value for values in covered.values() for value in values}
    marks = tuple(replace(m, state="empty") if m.state == "speck" or m.state in COVERED_BOX_REASONS else m for m in raw.marks)
    if any(m.state in ("ticked", "filled") for m in marks):
        # A box faint only by a light blob (under the ink threshold) beside a box marked in ink:
        # the pen that marked that box dark would mark this one dark too; it is the scan's grain,
        # an empty box for every rule below (ink around it is still unexplained).
        marks = tuple(replace(m, state="empty") if m.state == "faint" and m.fill < t.TICK_EMPTY_MAX else m for m in marks)
    text = " ".join(f"{m.value}:{m.state}({m.fill:.2f})" for m in raw.marks)
    evidence = {"marks": [[m.value, m.fill, m.outside, m.state, m.around, m.encircled, m.solid] for m in raw.marks]}
    states = [m.state for m in marks]
    ticked = [m.value for m in marks if m.state == "ticked"]
    filled = [m.value for m in marks if m.state == "filled"]
    faint = [m.value for m in marks if m.state == "faint"]
    cancelled = [m.value for m in marks if m.state == "cancelled"]
    # A box a hair from the empty threshold beside the question's one clear tick: on either side of
    # that threshold the answer is the tick (a faint box beside it is a review, never another value),
    # so it is no coin toss. Only a fill near the tick threshold can change what the question says.
    one_clear_tick = sum(m.state in ("ticked", "filled") and not _edges_near(m.fill) for m in raw.marks) == 1
    edges = [_edges_near(m.fill) for m in raw.marks if m.state not in COVERED_BOX_REASONS]
    near = any(e and not (one_clear_tick and e == {t.TICK_EMPTY_MAX}) for e in edges)
    # A light "tick" whose ink runs out past the box's line: a stroke passing through (a stray
    # mark, a letter's tail), not a check drawn in the box. The reading stands; a person looks.
    passing = [m.value for m in marks if m.state == "ticked" and m.fill < t.TICK_LIGHT_MAX
               and max(m.outside, m.around) >= t.TICK_LIGHT_BEYOND]
    reasons: list[str] = []
    if f.type == "checkbox":
        if states == ["empty"]:
            value, conf = False, t.OMR_CLEAR_CONFIDENCE
        elif states in (["ticked"], ["filled"]):
            value, conf = True, t.OMR_CLEAR_CONFIDENCE
        elif states == ["cancelled"]:
            # Filled and scribbled over, or a cross drawn heavily enough to fill the box: the one
            # box holds the only ink, most likely meant as ticked; a person decides.
            value, conf, reasons = True, t.OMR_DOUBT_CONFIDENCE, ["cancelled_mark"]
        else:
            # A faint mark is offered as ticked (a dot or a light stroke is nearly always meant);
            # a person confirms it.
            value, conf, reasons = True, t.OMR_DOUBT_CONFIDENCE, ["faint_mark"]
        if f.required and value is False and not reasons:
            reasons = [EMPTY_REQUIRED]
    else:
        answers = ticked + filled
        if len(ticked) == 1 and not faint:
            # One box ticked; any other is empty, scribbled out, or blacked in. A box blacked in
            # beside a tick is the cancelled first choice by AMC's rule, but it is also how some
            # people answer, and ink the chosen reading leaves unexplained: offered, not final.
            value, conf = ticked[0], t.OMR_CLEAR_CONFIDENCE
            if filled:
                conf, reasons = t.OMR_DOUBT_CONFIDENCE, ["filled_box"]
        elif len(filled) == 1 and not ticked and not faint:
            # Only one box, blacked in: some people fill the box as their answer. With ink around it
            # that could be the start of a scribble, a person confirms.
            value, conf = filled[0], t.OMR_CLEAR_CONFIDENCE
            if next(m for m in marks if m.value == filled[0]).outside >= t.TICK_FILLED_CLEAN_OUTSIDE:
                conf, reasons = t.OMR_DOUBT_CONFIDENCE, ["filled_box"]
        elif len(answers) > 1:
            value, conf, reasons = None, t.OMR_DOUBT_CONFIDENCE, ["multiple_ticks"]
        elif faint:
            # One faint mark and nothing else but empty or scribbled-out boxes: that box is the
            # likely answer (a light dot is nearly always meant), offered to a person to confirm.
            value = answers[0] if answers else (faint[0] if len(faint) == 1 else None)
            conf, reasons = t.OMR_DOUBT_CONFIDENCE, ["faint_mark"]
        elif cancelled:
            # Only scribbled-out boxes. One alone is the only ink the person put in the question
            # (a cross drawn heavily fills a box too): offered, for a person to decide.
            value = cancelled[0] if len(cancelled) == 1 else None
            conf, reasons = t.OMR_DOUBT_CONFIDENCE, ["cancelled_only"]
        else:
            value, conf = None, t.OMR_CLEAR_CONFIDENCE
            reasons = [EMPTY_REQUIRED] if f.required else []
    if specks and value in (None, False) and conf >= t.OMR_CLEAR_CONFIDENCE:
        value, conf, reasons = None, t.OMR_DOUBT_CONFIDENCE, ["speck"]
    # Ink around a box its reading calls empty is ink the reading does not explain: a box circled
    # (however wide the ring: ink on most of its sides) or slashed through, a check whose body lies
    # outside. A person looks, offered the lone circled box where nothing else is marked; final
    # only when the ring is plainly a ring around one box and every other box is clean
    # (lone_circle): how some people answer, and nothing else in the question competes.
    circled = [m.value for m in marks if m.state == "empty" and m.value not in hidden
               and (m.around >= t.TICK_AROUND_MIN or m.encircled >= t.TICK_ENCIRCLE_MIN)]
    if circled:
        evidence["ink_around"] = circled
        answer = lone_circle(marks) if not (ticked or filled or faint or cancelled or hidden or near) else None
        if answer is not None:
            value = True if f.type == "checkbox" else answer
            conf = t.OMR_CIRCLED_CONFIDENCE
            reasons = _unsettled(reasons)
            evidence["circled"] = answer
        else:
            if f.type == "checkbox" and value is False:
                value = True
            elif f.type == "choice" and value is None and len(circled) == 1 and not (ticked or filled or faint or cancelled):
                value = circled[0]
            conf = min(conf, t.OMR_DOUBT_CONFIDENCE)
            reasons = _unsettled(reasons) + ["ink_around_box"]
    for state, values in covered.items():
        if values:
            evidence[state] = values
            conf = min(conf, t.OMR_DOUBT_CONFIDENCE)
            reasons = _unsettled(reasons) + [COVERED_BOX_REASONS[state]]
    if passing:
        evidence["stroke_through"] = passing
        conf, reasons = min(conf, t.OMR_DOUBT_CONFIDENCE), _unsettled(reasons) + ["stroke_through_box"]
    if near and conf >= t.OMR_CLEAR_CONFIDENCE:
        conf, reasons = t.OMR_NEAR_CONFIDENCE, reasons + ["near_threshold"]
    return _reading(raw, f, value, text, conf, reasons, evidence)


def _unsettled(reasons: list[str]) -> list[str]:
    """The reasons left once ink was seen around or over a box: the question is no longer one read
    empty (EMPTY_REQUIRED) nor one holding only a speck."""
    return [r for r in reasons if r not in (EMPTY_REQUIRED, "speck")]


def lone_circle(marks: tuple[Mark, ...]) -> str | None:
    """The one box of a question circled as its answer, or None: a ring of ink around it
    (TICK_AROUND_MIN in the ring, on TICK_ENCIRCLE_MIN of its sides), nothing inside but a speck,
    and every other box clean inside and out, no ring of its own (a wide circle sweeping a
    neighbour, or two boxes circled, is for a person)."""
    rings = [m for m in marks if m.state == "empty" and m.fill < t.TICK_EMPTY_MAX
             and m.around >= t.TICK_AROUND_MIN and m.encircled >= t.TICK_ENCIRCLE_MIN]
    if len(rings) != 1:
        return None
    clean = all(m.state == "empty" and m.fill < t.TICK_EMPTY_MAX and m.around < t.TICK_CIRCLE_OTHERS_CLEAN
                and m.outside < t.TICK_CIRCLE_OTHERS_CLEAN and m.encircled < t.TICK_ENCIRCLE_MIN
                for m in marks if m is not rings[0])
    return rings[0].value if clean else None


def _edges_near(fill: float) -> set[float]:
    """The thresholds (empty, tick) a fill is within a hair of: it could have gone either way
    there with a little more toner."""
    return {edge for edge in (t.TICK_EMPTY_MAX, t.TICK_MIN) if abs(fill - edge) < t.OMR_THRESHOLD_MARGIN}


def judge_signature(raw: RawField, f: FieldSpec) -> FieldReading:
    text = f"ink={raw.ink:.3f} spread={raw.spread:.2f}"
    evidence = {"ink": raw.ink, "spread": raw.spread}
    if raw.ink >= t.SIGNATURE_MIN_INK and raw.spread >= t.SIGNATURE_MIN_SPREAD:
        return _reading(raw, f, True, text, t.OMR_CLEAR_CONFIDENCE, [], evidence)
    if raw.ink < t.SIGNATURE_EMPTY_INK:
        return _reading(raw, f, False, text, t.OMR_CLEAR_CONFIDENCE, [EMPTY_REQUIRED] if f.required else [], evidence)
    return _reading(raw, f, None, text, t.OMR_DOUBT_CONFIDENCE, ["faint_signature"], evidence)


# ------------------------------------------------------------------------------ barcodes


def judge_barcode(raw: RawField, f: FieldSpec, *, today: date) -> FieldReading:
    """A value from the data codes: exact by construction (CRC-checked), final unless the page
    says a hand changed it."""
    value = normalize_value(f, raw.barcode_value)
    evidence = {"typed_check": raw.typed_check, "tesseract": raw.second_opinion}
    reasons: list[str] = []
    confidence = 1.0
    if raw.typed_check != "agree":
        reasons.append("changed_by_hand")
        evidence["why"] = raw.typed_check
        confidence = t.BARCODE_DISAGREE_CONFIDENCE
    reasons += _field_problems(f, value, today)
    text = raw.barcode_value if isinstance(raw.barcode_value, str) else json.dumps(raw.barcode_value)
    return _reading(raw, f, value, text, confidence, reasons, evidence)


# ------------------------------------------------------------------------------ a document


def judge_field(raw: RawField, f: FieldSpec, *, today: date | None = None) -> FieldReading:
    today = today or date.today()
    if raw.source == "barcode":
        return judge_barcode(raw, f, today=today)
    if f.type in ("text", "digits", "date"):
        return judge_comb(raw, f, today=today)
    if f.type in ("choice", "checkbox"):
        return judge_marks(raw, f)
    return judge_signature(raw, f)


def apply_rules(readings: dict[str, FieldReading], form: FormSpec, *, today: date | None = None) -> dict[str, FieldReading]:
    """The template's cross-field rules over the whole document: each field a rule names as
    broken goes to review with reason 'rule:<id>' (the reader or the candidate may be wrong;
    a person decides which)."""
    from dataclasses import replace

    doc = {"fields": {name: r.value for name, r in readings.items()}}
    out = dict(readings)
    for problem in validate(doc, form, today=today):
        if not problem.code.startswith("rule:") or problem.field not in out:
            continue
        r = out[problem.field]
        if problem.code in r.reasons:
            continue
        out[problem.field] = replace(r, needs_review=True, reasons=tuple(r.reasons) + (problem.code,))
    return out

