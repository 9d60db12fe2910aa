"""What kind of error each final-and-wrong field is, for the benchmark's report (issue 12).

Works on the rows of samples.bench.score_fields (field, type, want, got, final, correct), for
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


def wrong_final_by_kind(rows: list[dict], *, examples: int = 4) -> dict:
    """Final-and-wrong fields per kind of error: counts, share of all scored fields, examples."""
    wrong = [r for r in rows if r["final"] and not r["correct"]]
    counts = Counter(error_kind(r) for r in wrong)
    found: dict[str, list[str]] = {}
    for r in wrong:
        kind = error_kind(r)
        if len(found.setdefault(kind, [])) < examples:
            found[kind].append(f"{r.get('envelope', '?')} {r['field']}: {r['want']!r} read {r['got']!r}")
    n = len(rows)
    return {
        "fields": n,
        "wrong_final": len(wrong),
        "counts": {k: counts.get(k, 0) for k in ERROR_KINDS},
        "share_of_all": {k: round(counts.get(k, 0) / n, 4) if n else None for k in ERROR_KINDS},
        "examples": found,
    }
