"""Empty comb fields the envelope as a whole shows empty after all (issue 12: doubt where none is needed).

A field read empty on a scan that lost its printed lines goes to a person (faint_scan, scan.judge):
a light pen may have dropped out with the lines. The envelope can settle it: the candidate's pen
kept elsewhere by a scan as faint, or the form's own answers expecting the field empty.
"""

from __future__ import annotations

import json
from dataclasses import replace

from scan import thresholds as t
from scan.judge import EMPTY_REQUIRED
from scan.model import FieldReading
from scan.read import RawField
from templates.spec import FormSpec


def pen_seen(raws: list[RawField], visibility: float) -> int:
    """Cells the candidate's pen wrote (handwriting read, not typed) in comb fields scanned at
    least as faint as `visibility` (PEN_VISIBILITY_SLACK above it): where a scan dropped the
    printed lines and kept these, it kept that pen."""
    return sum(sum(g is not None for g in r.cells) for r in raws
               if r.type in ("text", "digits", "date") and r.source == "ocr" and r.recognizer != "typed"
               and r.line_visibility <= visibility + t.PEN_VISIBILITY_SLACK)


def expected_empty(readings: dict[str, FieldReading], form: FormSpec) -> dict[str, str]:
    """Fields the form's own answers, read final, say are left empty, with the rule that says so:
    a section its `when` answer forbids (no spouse's name when single), the entries a count
    leaves unlisted (no third child when two), and a pair's second field where its first is so."""
    def final(name: str):
        r = readings.get(name)
        return r.value if r is not None and not r.needs_review else None

    out: dict[str, str] = {}
    for rule in form.rules:
        if rule.when and rule.forbid and final(rule.when[0]) in rule.when[1]:
            out.update(dict.fromkeys(rule.forbid, rule.id))
        if rule.count_listed:
            count = final(rule.count_listed[0])
            if isinstance(count, str) and count.isdigit():
                out.update(dict.fromkeys(rule.count_listed[1][int(count):], rule.id))
    for rule in form.rules:
        for first, second in rule.pairs:
            if first in out:
                out[second] = rule.id
    return out


def settle_faint_empties(readings: dict[str, FieldReading], raws: list[RawField], form: FormSpec) -> dict[str, FieldReading]:
    """A comb field read empty on a scan that lost its printed lines (faint_scan) is known empty
    when not a trace of ink is in its boxes and either the same envelope shows the candidate's pen
    kept by a scan at least as faint (PEN_SEEN_CELLS written cells: a light pen drops out with the
    lines, a pen the scan keeps elsewhere does not vanish from one field without a fragment), or
    the form's answers read final expect it empty (`expected_empty`: single, no spouse's name). A
    number short of its boxes keeps faint_scan (a digit lost beside kept ones: 294 read 94)."""
    out = dict(readings)
    by_name = {r.name: r for r in raws}
    expected = expected_empty(readings, form)
    for name, reading in readings.items():
        raw = by_name.get(name)
        if raw is None or reading.value is not None or reading.reasons != ("faint_scan",) or any(raw.cell_ink):
            continue
        seen = pen_seen(raws, raw.line_visibility)
        if seen < t.PEN_SEEN_CELLS and name not in expected:
            continue
        evidence = {**(json.loads(reading.evidence) if reading.evidence else {}), "pen_seen": seen}
        if name in expected:
            evidence["expected_empty_by"] = expected[name]
        reasons = (EMPTY_REQUIRED,) if form.field(name).required else ()
        out[name] = replace(reading, confidence=t.EMPTY_CONFIDENCE, needs_review=bool(reasons), reasons=reasons, evidence=json.dumps(evidence, ensure_ascii=False, separators=(",", ":")))
    return out
