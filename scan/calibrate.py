"""Calibrate scan/thresholds.py on a generated corpus with its truth (a developer's tool).

    python -m scan.calibrate --corpus DIR            # a corpus of samples.generate (truth.json per envelope)
    python -m scan.calibrate --generate 60 --seed 11 # generate one first (held-out hands, mixed damage)

Reads every envelope (the page results are cached beside the corpus, so trying other
thresholds costs seconds), judges every field, compares it with the truth, and prints:
- the reliability of the confidence (per bin: how many fields, how many right);
- for each comb type, the lowest final threshold at which the fields called final are wrong
  at most --target of the time (default 0.25 %: half the 0.5 % budget, for the corpus's own
  sampling error), with the automation it gives;
- the figures of the thresholds in force: accuracy, automation, undetected errors.
Thresholds are not written anywhere: a person copies them into scan/thresholds.py with the
figures in the commit message.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from scan import thresholds as t

COMB_TYPES = ("text", "digits", "date")
COMB_KINDS = ("text", "listed", "digits", "date")  # what confidences are calibrated as (scan.judge.confidence_kind)
OPINIONS = ("agree", "partial", "silent", "disagree")  # Tesseract's second opinion, as scan.judge words it
CACHE_NAME = ".scan-calibration-cache.pkl"


@dataclass(frozen=True)
class Envelope:
    name: str
    truth: dict
    results: list  # scan.pipeline.PageResult, in scan order


def read_corpus(corpus: Path, *, workers: int | None = None, refresh: bool = False) -> list[Envelope]:
    """Every envelope of the corpus read into page results (cached in the corpus folder)."""
    from scan.pipeline import _tasks, run_pages

    cache = corpus / CACHE_NAME
    if cache.exists() and not refresh:
        return [Envelope(*item) for item in pickle.loads(cache.read_bytes())]
    envelopes = []
    truths = sorted(corpus.glob("*/truth.json"))
    for k, path in enumerate(truths, start=1):
        truth = json.loads(path.read_text(encoding="utf-8"))
        if truth.get("stack"):
            continue  # stacks are checked by the tests; the calibration reads single envelopes
        files = [path.parent / f for f in truth["files"]]
        results = list(run_pages(_tasks(files), workers=workers))
        envelopes.append(Envelope(truth["envelope"], truth, results))
        print(f"read {k}/{len(truths)} {truth['envelope']}", file=sys.stderr)
    # Plain tuples in the cache: the class's module path differs between `-m` and an import.
    cache.write_bytes(pickle.dumps([(e.name, e.truth, e.results) for e in envelopes]))
    return envelopes


def field_records(envelopes: list[Envelope], *, today: date | None = None) -> list[dict]:
    """One row per field of every envelope: truth, reading, confidence, verdict."""
    from samples.bench import score_fields
    from scan.pipeline import assemble

    rows = []
    for env in envelopes:
        reading = assemble(env.results, today=today)
        exported = {f.name: {"value": f.value, "needs_review": f.needs_review, "source": f.source} for f in reading.fields}
        by_name = {f.name: f for f in reading.fields}
        for row in score_fields(env.truth["fields"], exported):
            f = by_name[row["field"]]
            evidence = json.loads(f.evidence) if f.evidence else {}
            rows.append({
                **row,
                "envelope": env.name,
                "kind_of_confidence": evidence.get("calibrated_as", row["type"]),
                "kind": env.truth.get("kind"),
                "confidence": f.confidence,
                "reasons": list(f.reasons),
                "other_reasons": [r for r in f.reasons if r not in ("low_confidence", "empty")],
                "recognizer": evidence.get("recognizer", ""),
                "opinion": str(evidence.get("second_opinion", "")).split(":")[0],
                "disagreeing": int(str(evidence.get("second_opinion", "")).partition(":")[2] or 0),
                "icr_product": _icr_product(evidence),
                "p_read": evidence.get("p_read"),
                "raw": f.raw,
            })
    return rows


def _icr_product(evidence: dict) -> float | None:
    """The product of the chosen characters' ICR probabilities, before any other evidence."""
    cells = [c for c in evidence.get("cells") or [] if c]
    if not cells:
        return None
    p = 1.0
    for _, q, _ in cells:
        p *= q
    return p


def fit_platt(rows: list[dict]) -> dict:
    """Platt scaling of the ICR's probability of the chosen string (`p_read`), per comb type (the
    ICR's digits are surer than its letters, and a date has its own checks), with one shift per
    kind of Tesseract opinion and a penalty per further cell it reads otherwise: maximum
    likelihood over a grid. Rows with other reasons for review are left out (their verdict does
    not depend on the confidence)."""
    sample = [r for r in rows if r["p_read"] is not None and r["opinion"] in OPINIONS and not r["other_reasons"]]
    out = {}
    for kind in COMB_KINDS:
        group = [r for r in sample if r["kind_of_confidence"] == kind]
        out[kind] = _fit_platt_group(group) if len(group) >= 50 else {"fields": len(group), "note": "too few fields to fit"}
    return out


def _fit_platt_group(sample: list[dict]) -> dict:
    import math

    def logit(p: float) -> float:
        p = min(max(p, 1e-6), 1 - 1e-6)
        return math.log(p / (1 - p))

    def loss(slope: float, shift: float, penalty: float, group: list[dict]) -> float:
        total = 0.0
        for r in group:
            z = slope * logit(r["p_read"]) + shift - penalty * max(0, r["disagreeing"] - 1)
            q = 1 / (1 + math.exp(-max(-30, min(30, z))))
            q = min(max(q, 1e-9), 1 - 1e-9)
            total -= math.log(q if r["correct"] else 1 - q)
        return total

    groups = {k: [r for r in sample if r["opinion"] == k] for k in OPINIONS}
    best = None
    for slope in [x / 10 for x in range(3, 16)]:
        for penalty in (0.0, 0.5, 1.0, 1.5):
            shifts, total = {}, 0.0
            for k, group in groups.items():
                if not group:
                    shifts[k] = 0.0
                    continue
                value, shift = min((loss(slope, b / 4, penalty, group), b / 4) for b in range(-24, 25))
                shifts[k], total = shift, total + value
            if best is None or total < best[0]:
                best = (total, slope, shifts, penalty)
    _, slope, shifts, penalty = best
    return {"fields": len(sample), "slope": slope, "shift": shifts, "extra_disagreement_penalty": penalty,
            "accuracy": {k: round(sum(r["correct"] for r in g) / len(g), 4) if g else None for k, g in groups.items()},
            "count": {k: len(g) for k, g in groups.items()}}


def reliability(rows: list[dict], edges=(0.0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0001)) -> list[dict]:
    """Per confidence bin: fields, share right. A calibrated confidence has accuracy ~ the bin."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = [r for r in rows if lo <= r["confidence"] < hi]
        if inside:
            out.append({"bin": f"[{lo:.3f}, {min(hi, 1):.3f})", "fields": len(inside), "right": round(sum(r["correct"] for r in inside) / len(inside), 4)})
    return out


def choose_threshold(rows: list[dict], target: float) -> dict:
    """The lowest confidence threshold at which, among the fields it would make final (those with
    no other reason for review), the share of wrong ones stays at or under `target`."""
    candidates = sorted({r["confidence"] for r in rows if not r["other_reasons"]})
    best = None
    for c in candidates:
        final = [r for r in rows if not r["other_reasons"] and r["confidence"] >= c]
        if not final:
            break
        wrong = sum(not r["correct"] for r in final)
        if wrong / len(final) <= target:
            best = {"threshold": round(c, 6), "final": len(final), "wrong_final": wrong, "automation": round(len(final) / len(rows), 4)}
            break
    return best or {"threshold": None, "final": 0, "wrong_final": 0, "automation": 0.0}


def choose_common_threshold(rows: list[dict], target: float) -> dict:
    """One threshold for every comb type (the confidences are calibrated per type, so they mean
    the same chance of being right): the lowest at which the fields final over the WHOLE corpus
    (tick boxes, empty fields and barcodes as judged, comb readings at or above it) are wrong at
    most `target` of the time."""
    weighed = [r for r in rows if r["type"] in COMB_TYPES and r["recognizer"] == "icr" and r["p_read"] is not None and not r["other_reasons"]]
    ids = {id(r) for r in weighed}
    rest = [r for r in rows if id(r) not in ids and r["final"]]
    rest_wrong = sum(not r["correct"] for r in rest)
    best = {"threshold": None}
    final = wrong = 0
    for r in sorted(weighed, key=lambda r: -r["confidence"]):
        final += 1
        wrong += not r["correct"]
        if (rest_wrong + wrong) / (len(rest) + final) <= target:
            best = {"threshold": round(r["confidence"], 6), "comb_final": final, "comb_wrong_final": wrong,
                    "automation": round((len(rest) + final) / len(rows), 4),
                    "wrong_share_of_final": round((rest_wrong + wrong) / (len(rest) + final), 5)}
    return best


def summary(rows: list[dict]) -> dict:
    final = [r for r in rows if r["final"]]
    wrong_final = [r for r in final if not r["correct"]]
    return {
        "fields": len(rows),
        "accuracy": round(sum(r["correct"] for r in rows) / max(1, len(rows)), 4),
        "automation": round(len(final) / max(1, len(rows)), 4),
        "undetected_error_rate": round(len(wrong_final) / max(1, len(final)), 5),
        "undetected_error_share_all": round(len(wrong_final) / max(1, len(rows)), 5),
        "wrong_final_examples": [(r["envelope"], r["field"], r["want"], r["got"], r["confidence"]) for r in wrong_final[:12]],
    }


def calibrate(corpus: Path, *, target: float, workers: int | None = None, refresh: bool = False, today: date | None = None) -> dict:
    envelopes = read_corpus(corpus, workers=workers, refresh=refresh)
    rows = field_records(envelopes, today=today)
    comb = [r for r in rows if r["type"] in COMB_TYPES and r["recognizer"] == "icr"]
    report = {
        "envelopes": len(envelopes),
        "in_force": {"all": summary(rows), **{k: summary([r for r in rows if r["type"] == k]) for k in sorted({r["type"] for r in rows})}},
        "reliability_icr_fields": reliability(comb),
        "platt": fit_platt(comb),
        "suggested_final_min_confidence": {k: choose_threshold([r for r in comb if r["kind_of_confidence"] == k], target) for k in COMB_KINDS},
        "suggested_common_threshold": choose_common_threshold(rows, target),
        "current_final_min_confidence": dict(t.FINAL_MIN_CONFIDENCE),
        "target": target,
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scan.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="a corpus folder made by samples.generate")
    parser.add_argument("--generate", type=int, default=0, help="generate this many envelopes first (into --corpus)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--target", type=float, default=0.0025, help="wrong share allowed among final fields")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--refresh", action="store_true", help="read the pages again instead of using the cache")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="the day the rules see as today")
    args = parser.parse_args(argv)
    corpus = args.corpus or Path(f"calibration-corpus-{args.seed}")
    if args.generate:
        from samples.generate import generate_corpus

        generate_corpus(corpus, count=args.generate, seed=args.seed, fonts="holdout", damage="mixed")
    report = calibrate(corpus, target=args.target, workers=args.workers, refresh=args.refresh, today=args.today)
    print(json.dumps(report, indent=1, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
