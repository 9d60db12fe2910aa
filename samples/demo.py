"""The README's main job, on a fresh machine: `csq demo`.

Prints the paper (blank forms in French and English, a prefilled example, separator
sheets), makes a few sample envelopes as a mailroom would scan them (three single envelopes
in different formats and a stack of two behind separator sheets), reads them into the
registry, adds one online application, then shows the queue and the fields waiting for a
person, and says where everything went.

Running it twice is safe: the sample files come out byte for byte the same (they are seeded),
the registry recognises envelopes it has already registered, and the online application is
sent with an idempotency key.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np

DEMO_SEED = 2026
# The demo's envelopes: (index in the seed's corpus, kind, format, scanner mode).
DEMO_SINGLES = (
    (1, "handwritten", "jpeg", "grey"),
    (2, "handwritten", "tiff-g4", "bilevel"),
    (3, "prefilled", "pdf", "grey"),
)
DEMO_STACK = (4, 5)
ONLINE_KEY = "csq-demo-online-1"
ONLINE_SUBMITTED_AT = datetime.fromisoformat("2026-02-16T09:30:00-05:00")


def _say(console, text: str) -> None:
    console.print(text, soft_wrap=True)  # paths stay whole, to copy them


def print_forms(out: Path) -> dict[str, Path]:
    """The printable paper into `out`: blank fr/en, a prefilled example, separator sheets."""
    from forms.render import blank_pdf, prefill_pdf, separator_pdf
    from samples.paper import seeded_separator_serial
    from samples.people import make_applicant

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([DEMO_SEED, 0])
    example = make_applicant(rng)
    (out / "prefilled-example.json").write_text(json.dumps(example.document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    serials = [seeded_separator_serial(rng) for _ in range(4)]
    paths = {
        "blank (fr)": blank_pdf(out / "form-blank-fr.pdf", lang="fr"),
        "blank (en)": blank_pdf(out / "form-blank-en.pdf", lang="en"),
        "prefilled example": prefill_pdf(example.document, out / "form-prefilled-example.pdf", lang="fr"),
        "separator sheets": out / "separator-sheets.pdf",
    }
    separator_pdf(paths["separator sheets"], serials=serials)
    return paths


def make_envelopes(out: Path) -> tuple[list, list]:
    """The demo's sample envelopes in `out`, made once (seeded: a second run would write the
    same bytes, so existing ones are kept). Returns (single samples, stack samples)."""
    from samples.generate import EnvelopeSample, generate_envelope, generate_stack

    def load(truth_path: Path) -> EnvelopeSample:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        return EnvelopeSample(tuple(truth_path.parent / f for f in truth["files"]), truth, truth_path)

    singles = []
    for index, kind, fmt, mode in DEMO_SINGLES:
        found = sorted(out.glob(f"env-{index:04d}-*/truth.json"))
        if found and all(p.exists() for p in load(found[0]).files):
            singles.append(load(found[0]))
        else:
            singles.append(generate_envelope(out, index, seed=DEMO_SEED, kind=kind, fmt=fmt, mode=mode, damage="light", invalid_share=0.0))
    stack_truths = sorted(out.glob("stack-001-*/env-*.truth.json"))
    if len(stack_truths) == len(DEMO_STACK) and all(p.exists() for t in stack_truths for p in load(t).files):
        stack = [load(t) for t in stack_truths]
    else:
        stack = generate_stack(out, list(DEMO_STACK), 1, seed=DEMO_SEED, kinds=("handwritten",), fmt="pdf", damage="light")
    return singles, stack


def run_demo(*, db_url: str, data_dir: Path, out: Path, console=None) -> None:
    """Print the paper, scan sample mail, register it with one online application, show the
    queue and the review list. Safe to run again."""
    from rich.console import Console
    from rich.table import Table

    from registry.service import Registry
    from scan.pipeline import read_envelope, read_stack

    console = console or Console()
    out = Path(out)
    data_dir = Path(data_dir)
    _say(console, f"[bold]1. The paper[/bold] → {out}")
    paper = print_forms(out / "forms")
    for label, path in paper.items():
        _say(console, f"   {label:<18} {path}")

    _say(console, "[bold]2. Sample mail[/bold] (seeded, written by hands the recognizer never saw)")
    singles, stack = make_envelopes(out / "envelopes")
    for s in singles:
        _say(console, f"   {s.truth['envelope']}: {s.truth['kind']}, {s.truth['format']}, {len(s.truth['pages'])} page(s) → {s.truth_path.parent}")
    _say(console, f"   stack of {len(stack)} envelopes behind separator sheets → {stack[0].files[0]}")

    _say(console, f"[bold]3. Scanning into the registry[/bold] ({db_url})")
    registry = Registry.open(db_url, data_dir)
    try:
        results = []
        for s in singles:
            reading = read_envelope(list(s.files))
            postmark = date.fromisoformat(s.truth["postmark_date"]) if s.truth["postmark_date"] else None
            photo = s.truth_path.parent / s.truth["envelope_photo"] if s.truth.get("envelope_photo") else None
            result = registry.register_mail(reading, postmark=postmark, received=date.fromisoformat(s.truth["received_date"]),
                                            envelope_image=photo.read_bytes() if photo else None)
            results.append((s.truth["envelope"], result))
        # As `csq scan batch --received DAY`: the separator sheets carry each postmark.
        stack_received = date.fromisoformat(stack[0].truth["received_date"])
        for sample, reading in zip(stack, read_stack(list(stack[0].files))):
            results.append((f"{sample.truth['envelope']} (stack)", registry.register_mail(reading, postmark=None, received=stack_received)))
        online_doc = json.loads((out / "forms" / "prefilled-example.json").read_text(encoding="utf-8"))
        online = registry.submit_online(online_doc, submitted_at=ONLINE_SUBMITTED_AT, idempotency_key=ONLINE_KEY)
        results.append(("online", online))

        table = Table(title="What was registered")
        for column in ("from", "file no", "status", "pages", "to review", "new?"):
            table.add_column(column)
        for source, r in results:
            table.add_row(source, r.file_no, r.status, str(r.pages), str(len(r.needs_review)),
                          "yes" if r.created else "no: seen before")
        console.print(table)

        queue = Table(title="The queue (priority order)")
        for column in ("rank", "priority date", "channel", "file no"):
            queue.add_column(column)
        for row in registry.queue():
            queue.add_row("-" if row["rank"] is None else str(row["rank"]), row["priority_date"], row["channel"], row["file_no"])
        console.print(queue)

        review = registry.review_list()
        waiting = Table(title=f"Fields waiting for a person ({len(review)})")
        for column in ("file no", "field", "machine's value", "why"):
            waiting.add_column(column)
        for row in review[:25]:
            waiting.add_row(row["file_no"], row["field"], "" if row["value"] is None else str(row["value"]), row["reason"])
        if len(review) > 25:
            waiting.add_row("…", f"{len(review) - 25} more", "", "csq review list")
        console.print(waiting)
        letters = sorted({registry.letter_path(r.file_no) for _, r in results if registry.letter_path(r.file_no).exists()})
    finally:
        registry.close()

    _say(console, "[bold]Where things are[/bold]")
    _say(console, f"   printable PDFs:          {out / 'forms'}")
    _say(console, f"   sample scans and truth:  {out / 'envelopes'}")
    _say(console, f"   acknowledgment letters:  {data_dir / 'letters'} ({len(letters)} written)")
    _say(console, f"   registry:                {db_url}")
    _say(console, f"   stored page images:      {data_dir}")
    _say(console, "   next: `csq serve` for the review station, `csq registry export --format jsonl` for the data")
