"""What kind of error each final-and-wrong field is, for the benchmark's report (issue 12).

Works on the rows of bench.scan.score_fields (field, type, want, got, final, correct), for
a corpus of any generator.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

ERROR_KINDS = ("accent_dropped", "accent_other", "tick_read_empty", "tick_other", "digit", "word",
               "read_empty", "other")
TICK_TYPES = ("choice", "checkbox")


def _fold(text: str) -> str:
    """Letters without their marks (Ø, Ł and Œ kept apart: they do not decompose)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _marks(text: str) -> int:
    return sum(1 for c in unicodedata.normalize("NFD", text) if unicodedata.combining(c)) + sum(c in "ØŁ" for c in text)


def error_kind(row: dict) -> str:
    """One wrong field's kind of error (ERROR_KINDS)."""
    want, got = row.get("want"), row.get("got")
    if row["type"] in TICK_TYPES:
        return "tick_read_empty" if want not in (None, False) and got in (None, False) else "tick_other"
    if want is not None and got is None:
        return "read_empty"
    if want is None:
        return "other"
    want, got = str(want), str(got)
    if row["type"] in ("digits", "date"):
        return "digit"
    if _fold(want).replace("Ø", "O").replace("Ł", "L") == _fold(got).replace("Ø", "O").replace("Ł", "L"):
        return "accent_dropped" if _marks(got) < _marks(want) else "accent_other"
    if len(want) == len(got):
        diff = [(a, b) for a, b in zip(want, got) if a != b]
        if diff and all(a.isdigit() or b.isdigit() for a, b in diff):
            return "digit"
    return "word"


def wrong_final_by_kind(rows: list[dict], *, tick_styles: dict | None = None, examples: int = 4) -> dict:
    """Final-and-wrong fields per kind of error: counts, share of all scored fields, examples.
    tick_styles: {envelope: {field: style}} from the truths (writer.tick_styles), to count the
    tick boxes read empty per way of ticking. Also counts the required fields called final
    and empty (right or not: a person should confirm an empty required field, issue 12)."""
    from templates.spec import load_form

    required = {f.name for f in load_form().fields if f.required}
    wrong = [r for r in rows if r["final"] and not r["correct"]]
    counts = Counter(error_kind(r) for r in wrong)
    found: dict[str, list[str]] = {}
    by_style: Counter = Counter()
    for r in wrong:
        kind = error_kind(r)
        style = ((tick_styles or {}).get(r.get("envelope")) or {}).get(r["field"]) if r["type"] in TICK_TYPES else None
        if kind == "tick_read_empty":
            by_style[style or "?"] += 1
        if len(found.setdefault(kind, [])) < examples:
            found[kind].append(f"{r.get('envelope', '?')} {r['field']}: {r['want']!r} read {r['got']!r}"
                               + (f" ({style})" if style else ""))
    n = len(rows)
    return {
        "fields": n,
        "wrong_final": len(wrong),
        "counts": {k: counts.get(k, 0) for k in ERROR_KINDS},
        "share_of_all": {k: round(counts.get(k, 0) / n, 4) if n else None for k in ERROR_KINDS},
        "examples": found,
        "tick_read_empty_by_style": dict(by_style.most_common()),
        "required_final_empty": sum(1 for r in rows if r["final"] and r["got"] is None and r["field"] in required),
    }
