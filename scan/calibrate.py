"""Calibrate scan/thresholds.py on generated corpora with their truth (a developer's tool).

    python -m scan.calibrate --corpus DIR [--corpus DIR2]  # corpora of samples.generate (truth.json per envelope)
    python -m scan.calibrate --generate 60 --seed 11       # generate one first (held-out hands, mixed damage)
    python -m scan.calibrate --generate 60 --seed 11 --generator other  # ... by samples.othergen's other drawing code

Reads every envelope (the page results are cached beside the corpus, so refitting costs
seconds), judges every field, compares it with the truth, and prints:
- the reliability of the confidence (per bin: how many fields, how many right);
- the confidence model fitted per kind (thresholds.CONFIDENCE_MODEL);
- for each kind, the lowest final threshold at which the fields called final are wrong at most
  --target of the time (default 0.25 %: half the 0.5 % budget, for the corpus's own sampling
  error), for the model fitted on everything and out of fold, with the automation it gives;
- the figures as judged now and with the fitted model: accuracy, automation, undetected errors.
Nothing is written anywhere: a person copies the model and thresholds into scan/thresholds.py
with the figures in the commit message.

Calibration that transfers (issue 12): fit on one generator's bench corpora, report on the other's

    python -m scan.calibrate --fit ours:1,3,4,5 --report other:4,5,6 --workdir DIR
    python -m scan.calibrate --fit other:1,2,3 --report ours:2 --workdir DIR
    python -m scan.calibrate --fit ours:1,3,4,5 --fit other:1,2,3 --report other:4,5,6 --report ours:2 --workdir DIR

The corpora are the ones `csq bench scan [--generator other] --count 12|13 --seed S --workdir DIR`
reads (generated into DIR when not there). Prints, for the report corpora, the figures as judged
now (scan/thresholds.py) and with the model and thresholds fitted on the --fit corpora alone:
accuracy, automation (all fields and the fields the candidate filled), final and wrong per kind
of error (samples.othergen.wrong_final_by_kind).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from scan import thresholds as t

COMB_TYPES = ("text", "digits", "date")
COMB_KINDS = ("text", "listed", "digits", "date")  # what confidences are calibrated as (scan.judge.confidence_kind)


def cache_name() -> str:
    """The cache of a corpus's readings, one per ICR model: readings made with another model
    (CSQ_ICR_MODEL, to try one before adopting it) must never be taken for this one's."""
    from scan import icr

    return f".scan-calibration-cache-{icr.readers_name()}.pkl"


@dataclass(frozen=True)
class Envelope:
    name: str
    truth: dict
    results: list  # scan.pipeline.PageResult, in scan order


def read_corpus(corpus: Path, *, workers: int | None = None, refresh: bool = False) -> list[Envelope]:
    """Every envelope of the corpus read into page results (cached in the corpus folder)."""
    from scan.pipeline import _tasks, run_pages

    cache = corpus / cache_name()
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
    from bench.scan import score_fields
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
                "other_reasons": [r for r in f.reasons if r not in ("low_confidence", "empty_required")],
                "recognizer": evidence.get("recognizer", ""),
                "opinion": str(evidence.get("second_opinion", "")).split(":")[0],
                "p_read": evidence.get("p_read"),
                "features": evidence.get("features"),
                "raw": f.raw,
            })
    return rows


# What the fitted confidence weighs (scan.judge.confidence_features), with the sign each weight
# must keep so that the confidence is monotone in the evidence: +1 never lower for more of it, -1
# never higher, 0 free. So a box Tesseract reads otherwise never raises the confidence (a reading
# with one is the reference; undisputed and all_agree on top of it add, never subtract), and the
# ICR surer of a character never lowers it. Tesseract silent on every box is the data's to price.
MODEL_FEATURES = {
    "logit_p": +1, "undisputed": +1, "all_agree": +1, "silent": 0, "extra_disagreements": -1,
    "doubt_disagree": -1, "agreed_confidence": +1,
}
MIN_FIT_FIELDS, MIN_FIT_WRONG = 50, 10  # a kind with fewer fields (or wrong ones) keeps its p_read as it is
FOLDS = 5


def fit_logistic(x, y, *, l2: float = 1.0, signs=None, iterations: int = 100):
    """Logistic regression by Newton's method (IRLS) on standardized features with an L2 penalty
    `l2` (the intercept free), each weight kept to its sign in `signs` (+1 >= 0, -1 <= 0, 0 free:
    a weight that would cross zero is held at zero and the rest refitted). Returns the intercept
    and the weights on the features' own scale."""
    import numpy as np

    x, y = np.asarray(x, float), np.asarray(y, float)
    n, k = x.shape
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([np.ones((n, 1)), (x - mean) / scale])
    signs = np.zeros(k) if signs is None else np.asarray(signs, float)
    free = np.ones(k + 1, bool)
    while True:
        w = np.zeros(k + 1)
        penalty = np.full(k + 1, l2)
        penalty[0] = 0.0
        zf = z[:, free]
        wf, pf = w[free], penalty[free]
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(zf @ wf, -30, 30)))
            gradient = zf.T @ (p - y) + pf * wf
            hessian = (zf * (p * (1 - p))[:, None]).T @ zf + np.diag(pf) + 1e-9 * np.eye(len(wf))
            step = np.linalg.solve(hessian, gradient)
            wf = wf - step
            if np.abs(step).max() < 1e-9:
                break
        w[free] = wf
        wrong_sign = np.where(free[1:] & (signs * w[1:] < 0))[0]
        if not len(wrong_sign):
            break
        free[1 + wrong_sign] = False
    weights = w[1:] / scale
    return float(w[0] - weights @ mean), weights


def _model_rows(rows: list[dict], kind: str) -> list[dict]:
    """The fields a kind's model is fitted on: read by the ICR with a second opinion, and nothing
    but the confidence deciding their verdict."""
    return [r for r in rows if r["kind_of_confidence"] == kind and r["features"] and not r["other_reasons"]]


def fit_confidence_model(rows: list[dict], *, l2: float = 1.0) -> dict:
    """thresholds.CONFIDENCE_MODEL fitted per kind (logistic regression over MODEL_FEATURES), with
    what it was fitted on. A kind with too few wrong fields to fit (a listed country name is
    nearly always right) keeps its posterior as it is."""
    names = list(MODEL_FEATURES)
    out = {}
    for kind in COMB_KINDS:
        sample = _model_rows(rows, kind)
        wrong = sum(not r["correct"] for r in sample)
        if len(sample) < MIN_FIT_FIELDS or wrong < MIN_FIT_WRONG:
            out[kind] = {"intercept": 0.0, "weights": {"logit_p": 1.0}, "fields": len(sample), "wrong": wrong,
                         "note": "too few wrong fields to fit: the posterior as it is"}
            continue
        intercept, weights = fit_logistic([[r["features"][n] for n in names] for r in sample], [r["correct"] for r in sample],
                                          l2=l2, signs=[MODEL_FEATURES[n] for n in names])
        out[kind] = {"intercept": round(intercept, 4), "weights": {n: round(float(w), 4) for n, w in zip(names, weights) if abs(w) >= 1e-4},
                     "fields": len(sample), "wrong": wrong}
    return out


def rescored(rows: list[dict], model: dict) -> list[dict]:
    """The rows with the confidence `model` (per kind) gives where it decides: the fields with
    features; the final flag is left as judged (with_thresholds sets it)."""
    from scan.judge import calibrated

    return [{**r, "confidence": calibrated(r["features"], r["kind_of_confidence"], model[r["kind_of_confidence"]])}
            if r["features"] and r["kind_of_confidence"] in model else r for r in rows]


def with_thresholds(rows: list[dict], thresholds: dict) -> list[dict]:
    """The final flag of the comb fields the confidence decides, at `thresholds` per kind."""
    return [{**r, "final": not r["other_reasons"] and r["confidence"] >= thresholds[r["kind_of_confidence"]]}
            if r["features"] and r["kind_of_confidence"] in thresholds else r for r in rows]


def out_of_fold(rows: list[dict], *, l2: float = 1.0, folds: int = FOLDS) -> list[dict]:
    """Every row scored by a model fitted without its envelope's fold (envelopes dealt round-robin
    into `folds`): what the confidence does on envelopes it never saw, to choose thresholds on
    without the fit's own optimism."""
    envelopes = sorted({r["envelope"] for r in rows})
    fold_of = {e: k % folds for k, e in enumerate(envelopes)}
    scored: dict[int, dict] = {}
    for k in range(folds):
        model = fit_confidence_model([r for r in rows if fold_of[r["envelope"]] != k], l2=l2)
        inside = [r for r in rows if fold_of[r["envelope"]] == k]
        for r, s in zip(inside, rescored(inside, model)):
            scored[id(r)] = s
    return [scored[id(r)] for r in rows]


def reliability(rows: list[dict], edges=(0.0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0001)) -> list[dict]:
    """Per confidence bin: fields, share right. A calibrated confidence has accuracy ~ the bin."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = [r for r in rows if lo <= r["confidence"] < hi]
        if inside:
            out.append({"bin": f"[{lo:.3f}, {min(hi, 1):.3f})", "fields": len(inside), "right": round(sum(r["correct"] for r in inside) / len(inside), 4)})
    return out


def choose_threshold(rows: list[dict], target: float) -> dict:
    """The lowest confidence threshold at which the fields final (those it makes final, and those
    final whatever it is: an empty field, a reading with no second opinion to weigh) are wrong at
    most `target` of the time. When the fields it cannot touch are already wrong more often than
    that (a stroke the reader never saw, read empty), the lowest at which it makes no wrong field
    final at all."""
    decided = sorted((r for r in rows if r["features"] and not r["other_reasons"]), key=lambda r: -r["confidence"])
    ids = {id(r) for r in decided}
    fixed = [r for r in rows if id(r) not in ids and r["final"]]
    fixed_wrong = sum(not r["correct"] for r in fixed)
    best = {"threshold": None, "final": len(fixed), "wrong_final": fixed_wrong, "automation": round(len(fixed) / max(1, len(rows)), 4)}
    wrong = 0
    for k, r in enumerate(decided):
        wrong += not r["correct"]
        if k + 1 < len(decided) and decided[k + 1]["confidence"] == r["confidence"]:
            continue  # a threshold takes every field of the same confidence
        final = len(fixed) + k + 1
        if (fixed_wrong + wrong) / final <= target or not wrong:
            best = {"threshold": round(r["confidence"], 6), "final": final, "wrong_final": fixed_wrong + wrong,
                    "automation": round(final / len(rows), 4)}
    return best


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


def calibrate(corpora: list[Path], *, target: float, workers: int | None = None, refresh: bool = False,
              today: date | None = None, l2: float = 1.0) -> dict:
    rows = []
    for corpus in corpora:
        for r in field_records(read_corpus(corpus, workers=workers, refresh=refresh), today=today):
            rows.append({**r, "envelope": f"{corpus.name}/{r['envelope']}"})  # env-0001 is in every corpus
    comb = [r for r in rows if r["type"] in COMB_TYPES and r["recognizer"] == "icr"]
    model = fit_confidence_model(comb, l2=l2)
    # Per kind, the threshold must hold both for the fitted model on its own corpus and for models
    # fitted without each envelope (out of fold): the stricter of the two.
    fitted, unseen = rescored(comb, model), out_of_fold(comb, l2=l2)
    thresholds = {}
    choice = {}
    for kind in COMB_KINDS:
        own = choose_threshold([r for r in fitted if r["kind_of_confidence"] == kind], target)
        oof = choose_threshold([r for r in unseen if r["kind_of_confidence"] == kind], target)
        thresholds[kind] = max(x["threshold"] if x["threshold"] is not None else 1.0 for x in (own, oof))
        choice[kind] = {"fitted": own, "out_of_fold": oof, "chosen": thresholds[kind]}
    predicted = with_thresholds(rescored(rows, model), thresholds)
    return {
        "envelopes": len({r["envelope"] for r in rows}),
        "in_force": {"all": summary(rows), **{k: summary([r for r in rows if r["type"] == k]) for k in sorted({r["type"] for r in rows})}},
        "reliability_icr_fields": reliability(comb),
        "confidence_model": model,
        "final_min_confidence": choice,
        "with_fitted_model": {"all": summary(predicted), **{k: summary([r for r in predicted if r["type"] == k]) for k in COMB_TYPES}},
        "suggested_common_threshold": choose_common_threshold(rows, target),
        "current_final_min_confidence": dict(t.FINAL_MIN_CONFIDENCE),
        "target": target,
    }


# ------------------------------------------------------------------------------ transfer (issue 12)

# The bench's corpora (bench/scan.py): the same folders, so a corpus the bench kept is read again
# from its cache and the figures are the bench's own.
BENCH_COUNT = {"ours": 12, "other": 13}


def bench_corpus(workdir: Path, generator: str, seed: int, count: int | None = None) -> Path:
    """The corpus `csq bench scan [--generator other] --count N --seed S --workdir DIR` reads,
    generated here the same way when it is not there yet."""
    count = count or BENCH_COUNT[generator]
    folder = workdir / (f"bench-corpus-{seed}-{count}" if generator == "ours" else f"bench-corpus-other-{seed}-{count}")
    if not any(folder.glob("*/truth.json")):
        if generator == "other":
            from samples.othergen import generate_corpus as generate_other

            generate_other(folder, count=count, seed=seed)
        else:
            from samples.generate import generate_corpus

            generate_corpus(folder, count=count, seed=seed, fonts="holdout", damage="mixed", prefilled_share=0.25)
    return folder


def corpus_rows(corpora: list[Path], *, workers: int | None = None, refresh: bool = False, today: date | None = None) -> list[dict]:
    rows = []
    for corpus in corpora:
        for r in field_records(read_corpus(corpus, workers=workers, refresh=refresh), today=today):
            rows.append({**r, "envelope": f"{corpus.name}/{r['envelope']}"})  # env-0001 is in every corpus
    return rows


def fit(rows: list[dict], *, target: float, l2: float = 1.0) -> tuple[dict, dict]:
    """The confidence model and per-kind final thresholds fitted on `rows` (as `calibrate` does:
    per kind, the stricter of the threshold the fitted model needs and the out-of-fold one)."""
    comb = [r for r in rows if r["type"] in COMB_TYPES and r["recognizer"] == "icr"]
    model = fit_confidence_model(comb, l2=l2)
    fitted, unseen = rescored(comb, model), out_of_fold(comb, l2=l2)
    thresholds = {}
    for kind in COMB_KINDS:
        chosen = [choose_threshold([r for r in scored if r["kind_of_confidence"] == kind], target)["threshold"] for scored in (fitted, unseen)]
        thresholds[kind] = max(c if c is not None else 1.0 for c in chosen)
    return model, thresholds


def figures(rows: list[dict]) -> dict:
    """The bench's figures over scored rows, with the final-and-wrong fields per kind of error
    (samples.othergen.wrong_final_by_kind) and automation over the fields the candidate filled."""
    from samples.othergen import wrong_final_by_kind

    filled = [r for r in rows if r["filled"]]
    final = [r for r in rows if r["final"]]
    wrong = [r for r in final if not r["correct"]]
    kinds = wrong_final_by_kind(rows)
    return {
        "fields": len(rows),
        "accuracy": round(sum(r["correct"] for r in rows) / max(1, len(rows)), 4),
        "automation": round(len(final) / max(1, len(rows)), 4),
        "automation_filled": round(sum(r["final"] for r in filled) / max(1, len(filled)), 4),
        "final_and_wrong": len(wrong),
        "final_and_wrong_share_all": round(len(wrong) / max(1, len(rows)), 5),
        "final_and_wrong_by_kind": {k: n for k, n in kinds["counts"].items() if n},
        "examples": [f"{r['envelope']} {r['field']}: {r['want']!r} read {r['got']!r}" for r in wrong[:8]],
    }


def transfer(fit_rows: list[dict], report_rows: list[dict], *, target: float, l2: float = 1.0) -> dict:
    """Fit on one set of corpora, report on another: the figures on `report_rows` as judged now
    (scan/thresholds.py) and with the model and thresholds fitted on `fit_rows` alone."""
    model, thresholds = fit(fit_rows, target=target, l2=l2)
    return {
        "fitted_on": {"envelopes": len({r["envelope"] for r in fit_rows}), "fields": len(fit_rows)},
        "confidence_model": model,
        "final_min_confidence": thresholds,
        "report_in_force": figures(report_rows),
        "report_transferred": figures(with_thresholds(rescored(report_rows, model), thresholds)),
        "fit_corpus_transferred": figures(with_thresholds(rescored(fit_rows, model), thresholds)),
    }


def corpora_spec(text: str) -> tuple[str, list[int], int | None]:
    """'other:4,5,6' -> ('other', [4, 5, 6], None): a generator's bench corpora by seed, of the
    bench's size; 'ours:11/60': 60 envelopes."""
    generator, _, rest = text.partition(":")
    seeds, _, count = rest.partition("/")
    try:
        numbers = [int(s) for s in seeds.split(",") if s.strip()]
        size = int(count) if count else None
    except ValueError:
        numbers = []
    if generator not in BENCH_COUNT or not numbers:
        raise argparse.ArgumentTypeError(f"{text!r}: GENERATOR:SEEDS[/COUNT], the generator one of {', '.join(BENCH_COUNT)}")
    return generator, numbers, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scan.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, action="append", help="a corpus folder made by samples.generate (repeat to pool several)")
    parser.add_argument("--generate", type=int, default=0, help="generate this many envelopes first (into --corpus)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--generator", choices=("ours", "other"), default="ours",
                        help="with --generate: samples.generate (ours) or samples.othergen (other drawing code)")
    parser.add_argument("--target", type=float, default=0.0025, help="wrong share allowed among final fields")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--refresh", action="store_true", help="read the pages again instead of using the cache")
    parser.add_argument("--l2", type=float, default=1.0, help="penalty on the confidence model's standardized weights")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="the day the rules see as today")
    parser.add_argument("--fit", type=corpora_spec, action="append", default=[], metavar="GENERATOR:SEEDS",
                        help="transfer: fit on these bench corpora (ours:1,3,4,5 or other:1,2,3; other:11/60 for 60 envelopes; repeat to pool)")
    parser.add_argument("--report", type=corpora_spec, action="append", default=[], metavar="GENERATOR:SEEDS",
                        help="transfer: report on these bench corpora, never fitted on (other:4,5,6)")
    parser.add_argument("--workdir", type=Path, default=Path("calibration-transfer"),
                        help="transfer: where the bench corpora are, or are generated (csq bench scan --workdir's folder)")
    args = parser.parse_args(argv)
    if args.fit or args.report:
        if not (args.fit and args.report):
            parser.error("--fit and --report go together")
        fit_corpora = [bench_corpus(args.workdir, g, s, n) for g, seeds, n in args.fit for s in seeds]
        report_corpora = [bench_corpus(args.workdir, g, s, n) for g, seeds, n in args.report for s in seeds]
        read = dict(workers=args.workers, refresh=args.refresh, today=args.today)
        report = transfer(corpus_rows(fit_corpora, **read), corpus_rows(report_corpora, **read), target=args.target, l2=args.l2)
        report["setup"] = {"fit": [c.name for c in fit_corpora], "report": [c.name for c in report_corpora], "target": args.target}
        print(json.dumps(report, indent=1, ensure_ascii=False, default=str))
        return 0
    corpora = args.corpus or [Path(f"calibration-corpus-{args.seed}")]
    if args.generate and args.generator == "other":
        from samples.othergen import generate_corpus as generate_other

        generate_other(corpora[0], count=args.generate, seed=args.seed)
    elif args.generate:
        from samples.generate import generate_corpus

        generate_corpus(corpora[0], count=args.generate, seed=args.seed, fonts="holdout", damage="mixed")
    report = calibrate(corpora, target=args.target, workers=args.workers, refresh=args.refresh, today=args.today, l2=args.l2)
    print(json.dumps(report, indent=1, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
