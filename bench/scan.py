"""The scan benchmark: generated envelopes through the real intake path, scored against truth.

`run_scan_bench(count=, seed=, db_url=, data_dir=, workdir=)` generates `count` envelopes
(samples.generate: holdout hands, mixed damage, about a quarter prefilled), ingests each one
exactly as `csq scan ingest` does (scan.pipeline.read_envelope, then
Registry.register_mail with the postmark the clerk would type), reads the registry's export
back and compares every field with the truth.

Figures (all shares in [0, 1]):
- field_accuracy: fields whose value equals the truth as the registry holds it, before any
  person corrected anything (empty fields included; `field_accuracy_filled` only counts the
  fields the candidate wrote something in);
- automation_rate: fields the system calls final (needs_review false); `automation_rate_filled`
  the same over the fields the candidate wrote something in (issue 12's target is of these);
- undetected_error_rate: of the fields called final, the share that are wrong (the number
  that matters: a wrong value nobody will look at); `undetected_error_share_all` is the same
  count over all fields;
- tick_box_accuracy (choice and checkbox fields), prefilled_accuracy, handwritten_accuracy,
  and the same per field type;
- tick_right_or_review: of the choice and checkbox fields, the share that are right or sent to
  a person (issue 12's target for tick boxes: 99.5 %); the rest are ticks final and wrong;
- pages, pages per minute end to end (file on disk → registry row), ms per stage.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

from templates.spec import load_form
from templates.validation import is_empty, normalize_value

TICK_TYPES = ("choice", "checkbox")
# Which code draws the envelopes: samples.generate, or samples.othergen (independent drawing code).
GENERATORS = ("ours", "other")
# How the reader words each page problem the truth expects (loosely: it writes for people).
PROBLEM_WORDS = {"missing": ("missing",), "duplicated": ("duplicat", "times"), "blank": ("blank",)}


# ------------------------------------------------------------------------------ scoring


def _canonical(field_spec, value):
    """A value in the form both sides can be compared in: empty is None (an unticked box and
    an empty comb are both 'nothing written'), the rest normalized as the validator does."""
    if is_empty(value):
        return None
    value = normalize_value(field_spec, value)
    if field_spec.type in ("text", "digits") and isinstance(value, str):
        value = value.strip()
        if field_spec.type == "digits":
            if field_spec.min is not None or field_spec.max is not None:  # a quantity: "02" is 2
                value = value.lstrip("0") or "0"
    return value if not is_empty(value) else None


def score_fields(truth_fields: dict, exported: dict, form=None) -> list[dict]:
    """One row per template field: its type, whether it is right, whether it was final."""
    form = form or load_form()
    rows = []
    for f in form.fields:
        want = _canonical(f, truth_fields.get(f.name))
        got_entry = exported.get(f.name) or {}
        got = _canonical(f, got_entry.get("value"))
        rows.append({
            "field": f.name,
            "type": f.type,
            "filled": want is not None,
            "correct": want == got,
            "final": got_entry.get("needs_review") is False,
            "want": want,
            "got": got,
            "source": got_entry.get("source"),
        })
    return rows


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize(rows: list[dict]) -> dict:
    """The accuracy figures over scored field rows (see the module's docstring)."""
    n = len(rows)
    correct = sum(r["correct"] for r in rows)
    final = [r for r in rows if r["final"]]
    wrong_final = sum(not r["correct"] for r in final)
    filled = [r for r in rows if r["filled"]]
    return {
        "fields": n,
        "field_accuracy": _share(correct, n),
        "field_accuracy_filled": _share(sum(r["correct"] for r in filled), len(filled)),
        "automation_rate": _share(len(final), n),
        "automation_rate_filled": _share(sum(r["final"] for r in filled), len(filled)),  # issue 12's target: of filled fields
        "undetected_error_rate": _share(wrong_final, len(final)),
        "undetected_error_share_all": _share(wrong_final, n),
    }


def right_or_review(rows: list[dict]) -> float | None:
    """Share of rows that are right or not final: what no person would be left to catch."""
    return _share(sum(r["correct"] or not r["final"] for r in rows), len(rows))


def _page_problem_score(truth: dict, problems: list[str]) -> dict:
    """Did the reader say what went wrong with the pages? A loose match on the words: the
    scanner words its problems for people, not for this benchmark."""
    text = " ".join(problems).lower()
    expected = truth.get("expected_problems", [])
    found = 0
    for item in expected:
        kind, _, number = item.partition(":")
        words = PROBLEM_WORDS[kind.split("_")[0]]
        if any(w in text for w in words) and (not number or number in text):
            found += 1
    # Problems where the truth expects none: a page the reader could not use, say.
    allowed = [w for item in expected for w in PROBLEM_WORDS[item.split("_")[0]]]
    unexpected = [p for p in problems if not any(w in p.lower() for w in allowed)]
    return {"expected": len(expected), "found": found, "unexpected": len(unexpected)}


# ------------------------------------------------------------------------------ machine


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    tesseract = None
    try:
        import tesserocr

        tesseract = tesserocr.tesseract_version().split()[1] if tesserocr.tesseract_version() else None
    except Exception:  # noqa: BLE001 - a missing engine is reported as such, not raised
        try:
            out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=10)
            tesseract = (out.stdout or out.stderr).split()[1]
        except Exception:  # noqa: BLE001
            tesseract = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tesseract": tesseract,
        "platform": platform.platform(),
    }


# -------------------------------------------------------------------------------- bench


BENCH_REGISTRY = "bench-registry.db"


def fresh_registry_url(folder: Path) -> str:
    """The bench's own SQLite registry in `folder`, emptied: one kept from an earlier run would
    take this run's envelopes for ones it has (same fingerprints) and report the old readings (a
    model tried with CSQ_ICR_MODEL then looks exactly like the one before). Its page store too."""
    for leftover in (BENCH_REGISTRY, f"{BENCH_REGISTRY}-wal", f"{BENCH_REGISTRY}-shm"):
        (folder / leftover).unlink(missing_ok=True)
    shutil.rmtree(folder / "data", ignore_errors=True)
    return f"sqlite:///{(folder / BENCH_REGISTRY).resolve()}"


def run_scan_bench(*, count: int, seed: int, db_url: str, data_dir: Path, workdir: Path, prefilled_share: float = 0.25,
                   damage: str = "mixed", fonts: str = "holdout", console=None, show: bool = True,
                   generator: str = "ours") -> dict:
    """Generate, ingest and score `count` envelopes; print a table (stderr) and return the figures.
    generator: "ours" (samples.generate) or "other" (samples.othergen: other drawing code;
    prefilled_share, damage and fonts are then its own)."""
    from registry.service import Registry
    from samples.generate import generate_corpus
    from samples.othergen import generate_corpus as generate_other, wrong_final_by_kind
    from scan.pipeline import StageTimes, read_envelope

    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, not {generator!r}")
    workdir = Path(workdir)
    corpus_dir = workdir / (f"bench-corpus-{seed}-{count}" if generator == "ours" else f"bench-corpus-other-{seed}-{count}")
    start = time.perf_counter()
    if generator == "other":
        samples = generate_other(corpus_dir, count=count, seed=seed)
    else:
        samples = generate_corpus(corpus_dir, count=count, seed=seed, fonts=fonts, damage=damage, prefilled_share=prefilled_share)
    generate_s = time.perf_counter() - start

    form = load_form()
    registry = Registry.open(db_url, Path(data_dir))
    try:
        stats = StageTimes()
        read_s = register_s = 0.0
        pages = 0
        results = []
        for sample in samples:
            # Read as the mailroom does, the day the envelope arrives: its rules of the day (a
            # signature in the future) hold then, not on whatever day the bench happens to run.
            received = date.fromisoformat(sample.truth["received_date"])
            t0 = time.perf_counter()
            reading = read_envelope(list(sample.files), stats=stats, today=received)
            t1 = time.perf_counter()
            postmark = date.fromisoformat(sample.truth["postmark_date"]) if sample.truth["postmark_date"] else None
            result = registry.register_mail(reading, postmark=postmark, received=received)
            t2 = time.perf_counter()
            read_s += t1 - t0
            register_s += t2 - t1
            pages += len(sample.truth["pages"])
            results.append((sample, result, list(reading.problems)))
        exported = {row["file_no"]: row for row in registry.export_rows()}
    finally:
        registry.close()

    all_rows: list[dict] = []
    by_kind: dict[str, list[dict]] = defaultdict(list)
    page_checks = Counter()
    created = 0
    for sample, result, problems in results:
        row = exported.get(result.file_no, {"fields": {}})
        rows = score_fields(sample.truth["fields"], row["fields"], form)
        for r in rows:
            r["kind"] = sample.truth["kind"]
            r["envelope"] = sample.truth["envelope"]
        all_rows += rows
        by_kind[sample.truth["kind"]] += rows
        check = _page_problem_score(sample.truth, problems)
        page_checks["expected"] += check["expected"]
        page_checks["found"] += check["found"]
        page_checks["unexpected"] += check["unexpected"]
        created += bool(result.created)

    ticks = [r for r in all_rows if r["type"] in TICK_TYPES]
    per_type = {t: summarize([r for r in all_rows if r["type"] == t]) for t in sorted({r["type"] for r in all_rows})}
    errors = Counter(r["field"] for r in all_rows if not r["correct"])
    silent = Counter(r["field"] for r in all_rows if not r["correct"] and r["final"])
    ingest_s = read_s + register_s
    report = {
        "envelopes": len(samples),
        "applications_created": created,
        "pages": pages,
        "pages_per_minute": round(pages / ingest_s * 60, 1) if ingest_s else None,
        "pages_per_minute_with_generation": round(pages / (ingest_s + generate_s) * 60, 1) if ingest_s + generate_s else None,
        "seconds": {"generate": round(generate_s, 2), "read": round(read_s, 2), "register": round(register_s, 2)},
        "ms_per_page": {
            "generate": round(generate_s / pages * 1000, 1) if pages else None,
            "read": round(read_s / pages * 1000, 1) if pages else None,
            "register": round(register_s / pages * 1000, 1) if pages else None,
            # Summed over the reader's worker processes: with 2 workers, twice the wall time.
            **{f"stage:{k}": v for k, v in stats.per_page().items()},
        },
        **summarize(all_rows),
        "tick_box_accuracy": summarize(ticks)["field_accuracy"],
        "tick_right_or_review": right_or_review(ticks),
        "prefilled_accuracy": summarize(by_kind["prefilled"])["field_accuracy"] if by_kind["prefilled"] else None,
        "handwritten_accuracy": summarize(by_kind["handwritten"])["field_accuracy"] if by_kind["handwritten"] else None,
        "by_kind": {k: summarize(v) for k, v in sorted(by_kind.items())},
        "by_type": per_type,
        "page_problems": {"expected": page_checks["expected"], "reported": page_checks["found"],
                          "unexpected": page_checks["unexpected"]},
        "most_errors": dict(errors.most_common(8)),
        # The wrong values nobody will look at, for whoever tunes the reader's doubt.
        "silent_error_examples": [
            {k: r[k] for k in ("envelope", "kind", "field", "want", "got", "source")}
            for r in all_rows if not r["correct"] and r["final"]
        ][:12],
        "most_silent_errors": dict(silent.most_common(8)),
        "wrong_final_by_kind": wrong_final_by_kind(
            all_rows, tick_styles={s.truth["envelope"]: s.truth["writer"].get("tick_styles", {}) for s in samples}),
        "setup": {"generator": generator, "count": count, "seed": seed, "fonts": fonts, "damage": damage, "prefilled_share": prefilled_share,
                  "corpus": str(corpus_dir)},
        "machine": machine(),
    }
    if show:
        print_report(report, console=console)
    return report


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def print_report(report: dict, console=None) -> None:
    """The figures as rich tables, on stderr unless a console is given (stdout stays for --json)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(stderr=True)
    head = Table(title=f"Scan benchmark — {report['envelopes']} envelopes, {report['pages']} pages", show_header=False)
    head.add_column("figure")
    head.add_column("value", justify="right")
    for label, value in (
        ("pages per minute (file → registry)", f"{report['pages_per_minute']}"),
        ("pages per minute incl. generation", f"{report['pages_per_minute_with_generation']}"),
        ("field accuracy (nobody corrected)", _pct(report["field_accuracy"])),
        ("field accuracy, filled fields only", _pct(report["field_accuracy_filled"])),
        ("automation rate (final without a person)", _pct(report["automation_rate"])),
        ("automation rate, filled fields only", _pct(report["automation_rate_filled"])),
        ("undetected errors among final fields", _pct(report["undetected_error_rate"])),
        ("undetected errors among all fields", _pct(report["undetected_error_share_all"])),
        ("tick-box accuracy", _pct(report["tick_box_accuracy"])),
        ("tick boxes right or sent to a person", _pct(report.get("tick_right_or_review"))),
        ("prefilled-form accuracy", _pct(report["prefilled_accuracy"])),
        ("handwritten-form accuracy", _pct(report["handwritten_accuracy"])),
        ("page problems reported / expected", f"{report['page_problems']['reported']} / {report['page_problems']['expected']}"),
        ("envelope problems the truth does not expect", str(report["page_problems"]["unexpected"])),
    ):
        head.add_row(label, value)
    console.print(head)

    types = Table(title="By field type")
    for column in ("type", "fields", "accuracy", "filled acc.", "automation", "undetected (final)"):
        types.add_column(column, justify="right" if column != "type" else "left")
    for name, s in report["by_type"].items():
        types.add_row(name, str(s["fields"]), _pct(s["field_accuracy"]), _pct(s["field_accuracy_filled"]),
                      _pct(s["automation_rate"]), _pct(s["undetected_error_rate"]))
    console.print(types)

    timing = Table(title="Time per page")
    timing.add_column("stage")
    timing.add_column("ms/page", justify="right")
    for stage, ms in report["ms_per_page"].items():
        timing.add_row(stage, "—" if ms is None else f"{ms:.1f}")
    console.print(timing)
    m = report["machine"]
    console.print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, Tesseract {m['tesseract']}")
    if report["most_silent_errors"]:
        console.print("wrong but final (look here first): " + ", ".join(f"{k} ×{v}" for k, v in report["most_silent_errors"].items()))
    by_kind = report.get("wrong_final_by_kind")
    if by_kind and by_kind["wrong_final"]:
        console.print("wrong but final, by kind of error: " + ", ".join(
            f"{k} {n} ({by_kind['share_of_all'][k] * 100:.2f} %)" for k, n in by_kind["counts"].items() if n))
        for kind, examples in by_kind["examples"].items():
            console.print(f"  {kind}: " + "; ".join(examples))
        if by_kind["tick_read_empty_by_style"]:
            console.print("  tick boxes read empty, by how they were ticked: "
                          + ", ".join(f"{k} {n}" for k, n in by_kind["tick_read_empty_by_style"].items()))
    if by_kind:
        console.print(f"required fields final and empty: {by_kind['required_final_empty']}")


if __name__ == "__main__":  # python -m bench.scan COUNT SEED
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    s = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    with tempfile.TemporaryDirectory() as tmp:
        run_scan_bench(count=n, seed=s, db_url=f"sqlite:///{tmp}/bench.db", data_dir=Path(tmp) / "data", workdir=Path(tmp))
