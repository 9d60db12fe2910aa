"""`csq`: the command line of csq-intake (docs/interface.md is its contract).

This module only parses arguments and calls forms/, scan/, registry/ and station/. It is
also the one place where errors become a one-line message and an exit code: library code
raises errors.CsqError subclasses, `main()` prints them; a traceback only with --verbose.
Heavy packages are imported inside each command so that `csq --help` stays instant.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Optional

import click
import typer

from errors import BadArguments, CsqError, ExitCode, InputFileError, InvalidData

DEFAULT_DB_URL = "sqlite:///csq-data/registry.db"

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="csq-intake: the paper channel of the CSQ application (forms, scanning, registry, review).",
)
forms_app = typer.Typer(no_args_is_help=True, help="Print the application form, prefilled forms and separator sheets.")
scan_app = typer.Typer(no_args_is_help=True, help="Read scanned envelopes into the registry.")
online_app = typer.Typer(no_args_is_help=True, help="The online channel: applications received over the Internet.")
registry_app = typer.Typer(no_args_is_help=True, help="The registry: priority, queue, export.")
review_app = typer.Typer(no_args_is_help=True, help="Fields waiting for a person.")
letters_app = typer.Typer(no_args_is_help=True, help="Acknowledgment letters.")
users_app = typer.Typer(no_args_is_help=True, help="Staff accounts of the review station.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: speed and accuracy figures.")
for sub, name in (
    (forms_app, "forms"),
    (scan_app, "scan"),
    (online_app, "online"),
    (registry_app, "registry"),
    (review_app, "review"),
    (letters_app, "letters"),
    (users_app, "users"),
    (bench_app, "bench"),
):
    app.add_typer(sub, name=name)


@dataclass(frozen=True)
class Settings:
    db_url: str
    data_dir: Path
    verbose: bool


def _settings(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj


@app.callback()
def _root(
    ctx: typer.Context,
    db: Optional[str] = typer.Option(None, "--db", help="Registry URL (sqlite:///... or postgresql+psycopg://...). Env: CSQ_DATABASE_URL."),
    verbose: bool = typer.Option(False, "--verbose", help="Show tracebacks of unexpected errors."),
) -> None:
    ctx.obj = Settings(
        db_url=db or os.environ.get("CSQ_DATABASE_URL") or DEFAULT_DB_URL,
        data_dir=Path(os.environ.get("CSQ_DATA_DIR", "csq-data")),
        verbose=verbose,
    )


def _emit(payload, as_json: bool, text: str | None = None) -> None:
    """Exactly one JSON document on stdout with --json; otherwise a human line."""
    if as_json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write((text if text is not None else json.dumps(payload, ensure_ascii=False, indent=2, default=str)) + "\n")


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadArguments(f"{option} {value!r} is not a date: write YYYY-MM-DD, for example 2016-02-16") from None


def _read_json_file(path: Path) -> dict:
    if not path.exists():
        raise InputFileError("no such file: check the path", path=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")  # the byte-order mark Windows editors put first is not JSON: skipped
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read it as UTF-8 text ({exc.__class__.__name__}): save it as UTF-8 JSON", path=str(path)) from None
    if not text.strip():
        raise InputFileError('the file is empty: it must hold a JSON document {"fields": {...}}', path=str(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}): fix the file and run again", path=str(path)) from None
    except RecursionError:
        raise InputFileError("JSON nested too deeply to be a data document: fix the file and run again", path=str(path)) from None
    except ValueError as exc:  # e.g. a number of more than 4,300 digits
        raise InputFileError(f"not a usable JSON document ({str(exc)[:80]}): fix the file and run again", path=str(path)) from None


def _problems_text(problems, shown: int = 5, width: int = 300) -> str:
    """A data document's problems in one readable line, however many it has (or however long
    a field name in it): the wrong values first, each cut short, then the empty required
    fields by name."""
    cut = lambda text: text if len(text) <= width else text[:width] + "…"  # noqa: E731
    wrong = [p for p in problems if getattr(p, "code", None) != "required"]
    empty = [p.field for p in problems if getattr(p, "code", None) == "required"]
    parts = [cut(str(p)) for p in wrong[:shown]]
    if len(wrong) > shown:
        parts.append(f"… and {len(wrong) - shown} more")
    if empty:
        names = ", ".join(empty[:12]) + (f" and {len(empty) - 12} more" if len(empty) > 12 else "")
        parts.append(f"required but empty: {names}")
    return "; ".join(parts)


def _actor(registry, by: str | None, *, unknown_is_system: bool = False) -> str:
    """Who the audit trail names for this command: an active staff account given by --by
    (`csq users list`), else the system user who ran it (`system:<user>`): never free text.
    Staff-account commands refuse an unknown --by (exit 2); the contract's `review set … --by
    USER` (`unknown_is_system`) records the system user instead and says so on stderr, so that
    a script written to docs/interface.md keeps working and the trail still names a real person."""
    import getpass

    try:
        system = f"system:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        system = f"system:uid{os.getuid()}"
    if by is None:
        return system
    name = by.strip()
    if any(u["name"] == name and u["active"] for u in registry.list_users()):
        return name
    if unknown_is_system:
        sys.stderr.write(f"csq: --by {by!r} is not an active staff account (`csq users list`): recorded as {system}\n")
        return system
    raise BadArguments(f"--by {by!r} is not an active staff account: give one (`csq users list`), "
                       "or leave --by out to record the system user who runs the command")


def _open_registry(ctx: typer.Context):
    from registry.service import Registry

    s = _settings(ctx)
    return Registry.open(s.db_url, s.data_dir)


# ------------------------------------------------------------------------------ forms


@forms_app.command("blank")
def forms_blank(
    out: Path = typer.Option(..., "--out", help="Where to write the PDF."),
    lang: str = typer.Option("fr", "--lang", help="Language shown first: fr or en (the form is bilingual)."),
) -> None:
    """The printable application form, blank, to fill by hand."""
    from forms.render import blank_pdf

    _check_lang(lang)
    path = blank_pdf(out, lang=lang)
    _emit({"pdf": str(path)}, False, f"wrote {path}")


@forms_app.command("prefill")
def forms_prefill(
    data: Path = typer.Argument(..., help='A data document {"fields": {...}} (docs/interface.md).'),
    out: Path = typer.Option(..., "--out", help="Where to write the PDF."),
    lang: str = typer.Option("fr", "--lang", help="Language shown first: fr or en."),
) -> None:
    """The form with DATA.json typed in, plus 2D barcodes carrying the values."""
    from forms.render import prefill_pdf

    _check_lang(lang)
    doc = _read_json_file(data)
    try:
        path = prefill_pdf(doc, out, lang=lang)
    except InvalidData as exc:
        raise InvalidData(f"{len(exc.problems)} problem(s), no PDF written: " + _problems_text(exc.problems), exc.problems, path=str(data)) from None
    _emit({"pdf": str(path)}, False, f"wrote {path}")


@forms_app.command("separator")
def forms_separator(
    out: Path = typer.Option(..., "--out", help="Where to write the PDF."),
    count: int = typer.Option(1, "--count", min=1, max=1000, help="How many sheets (each has its own serial)."),
) -> None:
    """Envelope separator sheets for batch scanning (the clerk writes the postmark date on each)."""
    from forms.render import separator_pdf

    serials = separator_pdf(out, count=count)
    _emit({"pdf": str(out), "serials": serials}, False, f"wrote {out} ({len(serials)} sheet(s))")


@forms_app.command("layout")
def forms_layout(
    as_json: bool = typer.Option(False, "--json", help="Print the layout as one JSON document."),
    lang: str = typer.Option("fr", "--lang", help="Language of the labels first: fr or en."),
) -> None:
    """The geometry of the form (PDF points, origin bottom-left), for tools that print or fill it."""
    from templates.spec import form_layout

    _check_lang(lang)
    layout = form_layout(lang)
    if as_json:
        _emit(layout, True)
    else:
        for page in layout["pages"]:
            _emit(None, False, f"page {page['index'] + 1}: {len(page['fields'])} fields")


def _check_lang(lang: str) -> None:
    if lang not in ("fr", "en"):
        raise BadArguments(f"--lang {lang!r}: use fr or en")


# ------------------------------------------------------------------------------- scan


def _progress_bar(label: str):
    """A rich progress bar on stderr (stdout stays clean for --json)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    )


@scan_app.command("ingest")
def scan_ingest(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="The scanned pages of ONE envelope (PDF, TIFF, PNG, JPEG)."),
    postmark: Optional[str] = typer.Option(None, "--postmark", help="Postmark date YYYY-MM-DD, or 'illegible' (not with --into)."),
    received: Optional[str] = typer.Option(None, "--received", help="Date received (YYYY-MM-DD); default today."),
    envelope: Optional[Path] = typer.Option(None, "--envelope", help="A picture of the envelope itself."),
    into: Optional[str] = typer.Option(None, "--into", help="A rescan: the pages join this application (missing or unreadable pages)."),
    replace: bool = typer.Option(False, "--replace", help="With --into: a page the application already has is replaced by the new scan."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """One envelope's scanned contents become ONE application (or, with --into, join one)."""
    from scan.pipeline import read_envelope

    if into is None and postmark is None:
        raise BadArguments("--postmark is required (YYYY-MM-DD or illegible); for pages scanned again, give --into FILE_NO")
    if into is not None and (postmark is not None or envelope is not None):
        raise BadArguments("--into adds pages to an application that has its postmark already: leave out --postmark and --envelope")
    if replace and into is None:
        raise BadArguments("--replace goes with --into FILE_NO")
    postmark_date = None if postmark is None or postmark.strip().lower() == "illegible" else _parse_day(postmark, "--postmark")
    received_date = _parse_day(received, "--received") if received else date.today()
    envelope_image = _read_binary(envelope) if envelope else None
    registry = _open_registry(ctx)  # fail fast on a down database, before minutes of reading
    with _progress_bar("reading") as bar:
        task = bar.add_task("", total=None)
        reading = read_envelope(files, progress=lambda done, total, what: bar.update(task, completed=done, total=total, description=what))
    if into is not None:
        result = registry.join_pages(into, reading, replace=replace)
        _emit(result.to_json(), as_json, _describe(result) + ("" if result.created else " (these pages were already in it)"))
        return
    result = registry.register_mail(reading, postmark=postmark_date, received=received_date, envelope_image=envelope_image)
    same = registry.recent_same_person(result.file_no)
    payload = {**result.to_json(), "same_person_as": [s["file_no"] for s in same]}
    note = "".join(f"\nthe same person as {s['file_no']} (registered {s['registered_at'][:10]}, {s['channel']}): if these are "
                   f"pages of that envelope scanned again, run with --into {s['file_no']} instead" for s in same)
    _emit(payload, as_json, _describe(result) + note)


@scan_app.command("batch")
def scan_batch(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="A whole stack, envelopes split by separator sheets."),
    received: Optional[str] = typer.Option(None, "--received", help="Date received (YYYY-MM-DD); default today."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as one JSON document."),
) -> None:
    """A stack scanned in one go: each separator sheet starts an envelope."""
    from scan.pipeline import read_stack

    received_date = _parse_day(received, "--received") if received else date.today()
    registry = _open_registry(ctx)
    results = []
    pages = 0
    with _progress_bar("reading") as bar:
        task = bar.add_task("", total=None)
        # Envelopes are registered as soon as each is read: a crash loses at most the one in hand,
        # and running the command again skips those already registered (same fingerprint).
        for reading in read_stack(files, progress=lambda done, total, what: bar.update(task, completed=done, total=total, description=what)):
            pages += len(reading.pages)
            results.append(registry.register_mail(reading, postmark=None, received=received_date))
    payload = {"applications": [r.to_json() for r in results], "pages": pages}
    _emit(payload, as_json, "\n".join(_describe(r) for r in results) + f"\n{len(results)} envelope(s), {pages} page(s)")


@scan_app.command("watch")
def scan_watch(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="The folder the scanner writes into (done/ and failed/ are made in it)."),
    once: bool = typer.Option(False, "--once", help="Handle the files there now, then exit."),
    received: Optional[str] = typer.Option(None, "--received", help="Date received (YYYY-MM-DD); default the day each file is read."),
    as_json: bool = typer.Option(False, "--json", help="--once: one JSON document at the end; otherwise one JSON line per file."),
) -> None:
    """A consume folder: each scan that appears becomes applications (separator sheets start envelopes;
    a file without one is one envelope whose postmark date starts its name, YYYY-MM-DD-….pdf)."""
    from mailroom.watch import StopFlag, watch
    from scan.pipeline import close_pool

    received_date = _parse_day(received, "--received") if received else None
    registry = _open_registry(ctx)
    stop = StopFlag()
    stop.install()

    def say(outcome) -> None:
        if as_json and not once:
            sys.stdout.write(json.dumps(outcome.to_json(), ensure_ascii=False, default=str) + "\n")
            sys.stdout.flush()
        elif not as_json:
            what = ", ".join(_describe(a) for a in outcome.applications) or "no application"
            line = {"done": f"{outcome.name}: done, {outcome.pages} page(s) in {outcome.seconds:.1f} s: {what}",
                    "failed": f"{outcome.name}: failed: {outcome.reason}",
                    "retry": f"{outcome.name}: left in the folder: {outcome.reason}"}[outcome.status]
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    if not once:
        typer.echo(f"watching {folder} (Ctrl+C or SIGTERM stops after the file in hand)", err=True)
    try:
        outcomes = watch(folder, registry, once=once, received=received_date, stop=stop, on_file=say)
    finally:
        close_pool()
    if as_json and once:
        _emit({"files": [o.to_json() for o in outcomes]}, True)


@scan_app.command("rescans")
def scan_rescans(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the queue as one JSON document."),
) -> None:
    """Files with pages missing or unreadable, the page numbers wanted, best priority first (the rescan queue)."""
    from registry.mailroom_day import rescan_queue

    items = rescan_queue(_open_registry(ctx).db)
    _emit([i.to_json() for i in items], as_json,
          "\n".join(f"{i.file_no} (priority {i.priority_date}): page(s) {', '.join(map(str, i.pages_wanted)) or '?'} {i.why}"
                    for i in items) or "no page to rescan")


def _read_binary(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read it ({exc.strerror}): check the path", path=str(path)) from None
    if not data:
        raise InputFileError("the file is empty: scan it again", path=str(path))
    return data


def _describe(result) -> str:
    tail = f", {len(result.needs_review)} field(s) to review" if result.needs_review else ""
    again = " (already registered: nothing new written)" if not result.created else ""
    return f"{result.file_no}: {result.status}, {result.pages} page(s){tail}{again}"


# ----------------------------------------------------------------------------- online


@online_app.command("submit")
def online_submit(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help='The application as a data document {"fields": {...}}.'),
    submitted_at: Optional[str] = typer.Option(None, "--submitted-at", help="ISO-8601 time of submission; default now."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """An application received online enters the same registry."""
    doc = _read_json_file(data)
    when = None
    if submitted_at:
        try:
            when = datetime.fromisoformat(submitted_at.replace("Z", "+00:00"))
        except ValueError:
            raise BadArguments(f"--submitted-at {submitted_at!r} is not ISO-8601: write e.g. 2016-02-16T09:30:00-05:00") from None
    try:
        result = _open_registry(ctx).submit_online(doc, submitted_at=when)
    except InvalidData as exc:
        raise InvalidData(f"{len(exc.problems)} problem(s), nothing registered: " + _problems_text(exc.problems), exc.problems, path=str(data)) from None
    _emit(result.to_json(), as_json, _describe(result))


# --------------------------------------------------------------------------- registry


@registry_app.command("init")
def registry_init(ctx: typer.Context) -> None:
    """Create or upgrade the registry's tables (also done automatically on first use)."""
    _open_registry(ctx)
    _emit(None, False, f"registry ready at {_settings(ctx).db_url}")


@registry_app.command("export")
def registry_export(
    ctx: typer.Context,
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
) -> None:
    """Every application, one line each (docs/interface.md)."""
    registry = _open_registry(ctx)
    if fmt == "jsonl":
        for row in registry.export_rows():
            sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    elif fmt == "csv":
        registry.export_csv(sys.stdout)
    else:
        raise BadArguments(f"--format {fmt!r}: use jsonl or csv")


@registry_app.command("queue")
def registry_queue(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the queue as one JSON document."),
) -> None:
    """Applications in priority order."""
    import itertools

    # Streamed in batches of 10,000 (a million applications in constant memory), printing
    # exactly what one json.dumps of the whole list would: "[" rows joined by ", " "]".
    rows = _open_registry(ctx).iter_queue()
    first = next(rows, None)  # a database failure is reported before anything is printed
    out = sys.stdout
    if first is None:
        out.write("[]\n" if as_json else "the queue is empty\n")
        return
    encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
    listed = itertools.chain((first,), rows)
    separator = "[" if as_json else ""
    while batch := list(itertools.islice(listed, 10_000)):
        if as_json:
            out.write(separator + encode(batch)[1:-1])  # inside a batch, the encoder's own ", "
            separator = ", "
        else:
            out.write("".join(f"{r['rank'] if r['rank'] is not None else '-':>6}  {r['priority_date']}  {r['channel']:<6}  {r['file_no']}\n"
                              for r in batch))
    if as_json:
        out.write("]\n")


@registry_app.command("rank")
def registry_rank(
    ctx: typer.Context,
    cap: Optional[int] = typer.Option(None, "--cap", min=0, help="How many complete applications are accepted."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON document."),
) -> None:
    """Rank applications by priority date (reproducible draw among equal dates), then apply the cap."""
    summary = _open_registry(ctx).rank(cap)
    _emit(summary, as_json, ", ".join(f"{k}: {v}" for k, v in summary.items()))


# ----------------------------------------------------------------------------- review


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the list as one JSON document."),
) -> None:
    """The fields waiting for a person, best priority first."""
    rows = _open_registry(ctx).review_list()
    lines = [f"{r['file_no']}  {r['field']:<28} {str(r['value'])!r:<30} {r['reason']}" for r in rows]
    _emit(rows, as_json, "\n".join(lines) if lines else "nothing to review")


@review_app.command("stats")
def review_stats(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, "--since", help="First day counted, YYYY-MM-DD; default seven days ago."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON document."),
) -> None:
    """Who reviewed how many fields, at what pace, and how often the machine's reading was right."""
    registry = _open_registry(ctx)
    day = _parse_day(since, "--since") if since else registry.policy.today() - timedelta(days=7)
    stats = registry.review_stats(day)
    lines = [f"since {day}: {sum(p['saved'] for p in stats['people'])} field(s) saved by {len(stats['people'])} person(s)"]
    for p in stats["people"]:
        pace = f", {p['median_seconds_per_field']} s per field" if p["median_seconds_per_field"] is not None else ""
        lines.append(f"  {p['name']:<20} {p['saved']:>6} saved, {p['kept_reading']} reading(s) kept, "
                     f"{p['changed_reading']} changed{pace}")
    for f in stats["fields"][:15]:
        lines.append(f"  {f['field']:<28} reading right {f['reading_right']}/{f['reviewed']}")
    _emit(stats, as_json, "\n".join(lines))


@review_app.command("export-cells")
def review_export_cells(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Folder for the cells (PNG) and labels.jsonl; written anew."),
    since: Optional[str] = typer.Option(None, "--since", help="Only fields saved from this day, YYYY-MM-DD."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON document."),
) -> None:
    """The boxes of handwritten fields staff corrected or confirmed, labelled with their characters:
    training data for the ICR from real pens (scripts/train_icr.py --corrections OUT)."""
    from scan.corrections import CorrectedField, export_cells

    day = _parse_day(since, "--since") if since else None
    rows = _open_registry(ctx).corrected_readings(day)
    fields = [CorrectedField(r["file_no"], r["field"], r["value"], r["machine_value"], Path(r["image"]), r["form_id"],
                             r["form_version"], r["page_no"], r.get("view")) for r in rows]
    summary = export_cells(fields, out)
    skipped = sum(summary["fields_skipped"].values())
    _emit(summary, as_json, f"{summary['cells']} cell(s) of {summary['fields_used']} field(s) written to {out} "
                            f"({summary['cells_the_reader_had_wrong']} the reader had wrong; {skipped} field(s) skipped)")


@review_app.command("set")
def review_set(
    ctx: typer.Context,
    file_no: str = typer.Argument(..., help="The application's file number."),
    field: str = typer.Argument(..., help="The field name (see `csq forms layout`)."),
    value: str = typer.Argument(..., help="The corrected value (dates YYYY-MM-DD; checkboxes true/false)."),
    by: Optional[str] = typer.Option(None, "--by", help="Who makes the correction (an active staff account; default: the system user, audited as system:NAME)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """A manual correction of one field (audited; the machine's reading is kept)."""
    registry = _open_registry(ctx)
    result = registry.review_set(file_no, field, value, by=_actor(registry, by, unknown_is_system=True))
    if result.get("held"):
        _emit(result, as_json, f"{file_no} {field}: {result['message']}; a supervisor runs `csq review confirm "
                               f"{result['identity_change']} --by NAME` (or reject)")
        return
    _emit(result, as_json, f"{file_no} {field} = {result.get('value')!r} (status {result.get('status')})")


@review_app.command("pending")
def review_pending(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the list as one JSON document."),
) -> None:
    """Identity changes waiting for a supervisor (each would also change another candidate's file)."""
    from registry import identity_changes

    rows = identity_changes.pending(_open_registry(ctx).db)
    lines = [f"#{c['id']:<5} {c['file_no']} {c['field']} = {c['value']!r} by {c['requested_by']}; would change "
             f"{', '.join(sorted({a['file_no'] for a in c['affects']}))}" for c in rows]
    _emit(rows, as_json, "\n".join(lines) if lines else "no identity change waiting")


@review_app.command("confirm")
def review_confirm(
    ctx: typer.Context,
    change_id: int = typer.Argument(..., help="The request's number (csq review pending)."),
    by: str = typer.Option(..., "--by", help="The supervisor who confirms it (not the one who asked)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """Apply a held identity change: a second person, a supervisor, agrees (four eyes)."""
    from registry import identity_changes

    result = identity_changes.confirm(_open_registry(ctx), change_id, by=by)
    _emit(result, as_json, f"#{change_id} confirmed: {result['file_no']} {result['field']} = {result.get('value')!r} "
                           f"(status {result.get('status')})")


@review_app.command("reject")
def review_reject(
    ctx: typer.Context,
    change_id: int = typer.Argument(..., help="The request's number (csq review pending)."),
    by: str = typer.Option(..., "--by", help="The supervisor who rejects it (not the one who asked)."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the history of every file it concerned)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """Refuse a held identity change: nothing of it is applied."""
    from registry import identity_changes

    result = identity_changes.reject(_open_registry(ctx).db, change_id, by=by, reason=reason)
    _emit(result, as_json, f"#{change_id} rejected: {result['file_no']} {result['field']} stays as it was")


@review_app.command("confirm-empty")
def review_confirm_empty(
    ctx: typer.Context,
    file_no: str = typer.Argument(..., help="The application's file number."),
    by: Optional[str] = typer.Option(None, "--by", help="Who confirms (an active staff account; default: the system user, audited as system:NAME)."),
    reason: str = typer.Option("blank_page", "--reason", help="blank_page, page_missing or left_empty."),
    fields: list[str] = typer.Option([], "--field", help="Only this required field (repeat for more); default: every one read with no ink."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """Confirm empty the required fields of one envelope read empty (a blank page, a page missing):
    the application then becomes incomplete, in your name (audited field by field)."""
    registry = _open_registry(ctx)
    result = registry.confirm_empty(file_no, by=_actor(registry, by, unknown_is_system=True), reason=reason, fields=tuple(fields))
    left = f"; still to decide one by one (ink seen): {', '.join(result['left'])}" if result["left"] else ""
    _emit(result, as_json, f"{result['file_no']}: {len(result['confirmed'])} field(s) confirmed empty "
                           f"(status {result['status']}){left}")


# ---------------------------------------------------------------------------- letters


@letters_app.command("print")
def letters_print(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="Gather the letters of registrations since this date (YYYY-MM-DD)."),
    out: Path = typer.Option(Path("letters.pdf"), "--out", help="Where to write the combined PDF."),
) -> None:
    """One PDF with the acknowledgment letters of a day's registrations, for the mailroom."""
    path = _open_registry(ctx).letters_print(_parse_day(since, "--since"), out)
    _emit(None, False, f"wrote {path}")


# ------------------------------------------------------------------------------ users


def _new_password(given: str | None) -> str:
    """--password, else env CSQ_NEW_PASSWORD, else asked twice at the prompt."""
    return given or os.environ.get("CSQ_NEW_PASSWORD") or typer.prompt("password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The login name."),
    role: str = typer.Option(..., "--role", help="clerk, reviewer or supervisor."),
    password: Optional[str] = typer.Option(None, "--password", help="Default: asked at the prompt, or env CSQ_NEW_PASSWORD."),
) -> None:
    """Create a staff account of the review station."""
    if role not in ("clerk", "reviewer", "supervisor"):
        raise BadArguments(f"--role {role!r}: use clerk, reviewer or supervisor")
    secret = _new_password(password)
    _open_registry(ctx).add_user(name, role, secret)
    _emit(None, False, f"user {name} ({role}) added")


@users_app.command("list")
def users_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the accounts as one JSON document."),
) -> None:
    """The staff accounts, their roles and whether they are active."""
    rows = _open_registry(ctx).list_users()
    lines = [f"{r['name']:<24} {r['role']:<11} {'active' if r['active'] else 'disabled'}" for r in rows]
    _emit(rows, as_json, "\n".join(lines) if lines else "no staff account yet: `csq users add NAME --role ROLE`")


@users_app.command("disable")
def users_disable(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The login name."),
    by: Optional[str] = typer.Option(None, "--by", help="Who disables it (an active staff account; default: the system user, audited as system:NAME)."),
) -> None:
    """Disable an account: it cannot log in, and its open sessions end at their next click."""
    registry = _open_registry(ctx)
    registry.set_user_active(name, False, by=_actor(registry, by))
    _emit(None, False, f"user {name} disabled; its sessions are over")


@users_app.command("enable")
def users_enable(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The login name."),
    by: Optional[str] = typer.Option(None, "--by", help="Who enables it (an active staff account; default: the system user, audited as system:NAME)."),
) -> None:
    """Enable an account again (it logs in anew: sessions from before stay over)."""
    registry = _open_registry(ctx)
    registry.set_user_active(name, True, by=_actor(registry, by))
    _emit(None, False, f"user {name} enabled")


@users_app.command("password")
def users_password(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The login name."),
    by: Optional[str] = typer.Option(None, "--by", help="Who sets it (an active staff account; default: the system user, audited as system:NAME; the password itself never is)."),
    password: Optional[str] = typer.Option(None, "--password", help="Default: asked at the prompt, or env CSQ_NEW_PASSWORD."),
) -> None:
    """Set a new password (forgotten or leaked): the account's open sessions end."""
    secret = _new_password(password)
    registry = _open_registry(ctx)
    registry.set_user_password(name, secret, by=_actor(registry, by))
    _emit(None, False, f"password of {name} set; its sessions are over")


@users_app.command("role")
def users_role(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The login name."),
    role: str = typer.Option(..., "--role", help="clerk, reviewer or supervisor."),
    by: Optional[str] = typer.Option(None, "--by", help="Who changes it (an active staff account; default: the system user, audited as system:NAME)."),
) -> None:
    """Give an account another role; it applies from its next click."""
    registry = _open_registry(ctx)
    registry.set_user_role(name, role, by=_actor(registry, by))
    _emit(None, False, f"user {name} is now a {role}")


# ------------------------------------------------------------------------------ serve


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    public: bool = typer.Option(False, "--public", help="Only the candidates' pages (/forms, /status): no staff route, no image, no API."),
    insecure_api: bool = typer.Option(False, "--insecure-api", help="Development only: the online API without a token (CSQ_API_INSECURE_DEV=1)."),
) -> None:
    """The web review station, the online API (it needs CSQ_API_TOKEN) and the candidates' pages (/forms, /status)."""
    import uvicorn

    from station.app import create_app

    if insecure_api:
        os.environ["CSQ_API_INSECURE_DEV"] = "1"
    s = _settings(ctx)
    from station.app import server_options

    uvicorn.run(create_app(s.db_url, s.data_dir, public_only=public), host=host, port=port, log_level="info",
                **server_options())


# ---- samples, demo, bench (samples/)

samples_app = typer.Typer(no_args_is_help=True, help="Sample envelopes (scans with their truth) for tests, demos and benchmarks.")
app.add_typer(samples_app, name="samples")


@app.command("demo")
def demo(
    ctx: typer.Context,
    out: Optional[Path] = typer.Option(None, "--out", help="Where the printed forms and sample scans go; default CSQ_DATA_DIR/demo."),
) -> None:
    """The whole job on sample mail: print the forms, scan sample envelopes, register them, show the queue."""
    from samples.demo import run_demo

    s = _settings(ctx)
    run_demo(db_url=s.db_url, data_dir=s.data_dir, out=out or s.data_dir / "demo")


@samples_app.command("generate")
def samples_generate(
    out: Path = typer.Option(..., "--out", help="Folder to write the envelopes into (one folder each, truth.json beside the scans)."),
    count: int = typer.Option(10, "--count", min=0, max=100000, help="How many envelopes."),
    seed: int = typer.Option(1, "--seed", help="The same seed always gives the same files."),
    stack: bool = typer.Option(False, "--stack", help="Scan envelopes in stacks behind separator sheets (one file per stack)."),
    fonts: str = typer.Option("holdout", "--fonts", help="holdout (hands the recognizer never trained on) or train."),
    damage: str = typer.Option("mixed", "--damage", help="none, light or mixed (skew, rotation, blur, noise, shuffled pages...)."),
    as_json: bool = typer.Option(False, "--json", help="Print the list of envelopes as one JSON document."),
    generator: str = typer.Option("ours", "--generator", help="ours (samples.generate) or other (samples.othergen: other drawing code, its own damage; --stack, --fonts and --damage do not apply)."),
) -> None:
    """Seeded sample envelopes, handwritten (holdout hands) and prefilled, as a mailroom scans them."""
    from bench.scan import GENERATORS
    from samples.generate import DAMAGE_LEVELS, FONT_SETS, generate_corpus
    from samples.othergen import generate_corpus as generate_other

    if generator not in GENERATORS:
        raise BadArguments(f"--generator {generator!r}: use {' or '.join(GENERATORS)}")
    if generator == "other" and stack:
        raise BadArguments("--stack is for --generator ours; the other generator writes one folder per envelope")
    if fonts not in FONT_SETS:
        raise BadArguments(f"--fonts {fonts!r}: use {' or '.join(FONT_SETS)}")
    if damage not in DAMAGE_LEVELS:
        raise BadArguments(f"--damage {damage!r}: use {', '.join(DAMAGE_LEVELS)}")
    with _progress_bar("generating") as bar:
        task = bar.add_task("", total=count)
        progress = lambda done, total, what: bar.update(task, completed=done, description=what)  # noqa: E731
        if generator == "other":
            samples = generate_other(out, count=count, seed=seed, progress=progress)
        else:
            samples = generate_corpus(out, count=count, seed=seed, stack=stack, fonts=fonts, damage=damage, progress=progress)
    listing = [{"envelope": s.truth["envelope"], "kind": s.truth["kind"], "format": s.truth["format"],
                "files": [str(f) for f in s.files], "truth": str(s.truth_path), "pages": len(s.truth["pages"])} for s in samples]
    pages = sum(item["pages"] for item in listing)
    _emit({"envelopes": listing, "pages": pages}, as_json, f"wrote {len(samples)} envelope(s), {pages} page(s), to {out}")


@bench_app.command("scan")
def bench_scan(
    count: int = typer.Option(20, "--count", min=1, max=10000, help="How many envelopes to generate and read."),
    seed: int = typer.Option(1, "--seed", help="Seed of the generated envelopes."),
    registry_url: Optional[str] = typer.Option(None, "--registry", help="Registry to write into; default a fresh SQLite file in the work folder (never the real registry)."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Keep the generated envelopes and the bench registry here; default a temporary folder, removed afterwards."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON document (the tables go to stderr)."),
    generator: str = typer.Option("ours", "--generator", help="ours (samples.generate) or other (samples.othergen: independent drawing and scanning code)."),
) -> None:
    """Accuracy, automation, undetected errors and speed on generated envelopes with known truth."""
    import tempfile

    from bench.scan import GENERATORS, fresh_registry_url, run_scan_bench

    if generator not in GENERATORS:
        raise BadArguments(f"--generator {generator!r}: use {' or '.join(GENERATORS)}")

    with tempfile.TemporaryDirectory(prefix="csq-bench-") as tmp:
        folder = workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url = registry_url or fresh_registry_url(folder)
        report = run_scan_bench(count=count, seed=seed, db_url=url, data_dir=folder / "data", workdir=folder, generator=generator)
    _emit(report, as_json, f"{report['pages']} pages, {report['pages_per_minute']} pages/min, field accuracy "
          f"{report['field_accuracy']}, automation {report['automation_rate']}, undetected errors {report['undetected_error_rate']}")


# The online load of `bench load` and `bench api`.
CLIENTS_OPTION = typer.Option(2000, "--clients", min=1, max=100000, help="Concurrent client connections posting online applications.")
SUBMISSIONS_OPTION = typer.Option(None, "--submissions", min=1, help="Online submissions in all; default one per client.")
WORKERS_OPTION = typer.Option(2, "--workers", min=1, max=64, help="uvicorn worker processes serving the API.")


@bench_app.command("load")
def bench_load(
    clients: int = CLIENTS_OPTION,
    submissions: Optional[int] = SUBMISSIONS_OPTION,
    workers: int = WORKERS_OPTION,
    db: str = typer.Option("auto", "--db", help="auto (a throw-away PostgreSQL database if the server on 127.0.0.1:5432 answers, else SQLite in a temporary folder), postgres, sqlite, or the URL of an EMPTY registry. Never the registry of the global --db."),
    stack_envelopes: int = typer.Option(5, "--stack-envelopes", min=1, max=200, help="Envelopes in the stack scanned by `csq scan batch` during the load."),
    seed: int = typer.Option(1, "--seed", help="Seed of the generated stack."),
    time_limit: float = typer.Option(900, "--time-limit", min=1, help="Seconds after which clients send nothing new (the run stays bounded)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON document instead of the table."),
) -> None:
    """Online submissions through the API while a stack is scanned into the same registry: none lost, none duplicated, latency, pages/min."""
    from bench.load import print_report, run_load_bench

    report = run_load_bench(clients=clients, submissions=submissions, workers=workers, db=db, stack_envelopes=stack_envelopes,
                            seed=seed, time_limit_s=time_limit, say=lambda line: typer.echo(line, err=True))
    if as_json:
        _emit(report, True)
    else:
        print_report(report)


def _in_throwaway_registry(db: str, doing: str, run) -> dict:
    """`run(url, folder)`'s report, on an empty registry chosen by --db and removed afterwards."""
    import tempfile

    from bench.ranking import bench_registry

    with tempfile.TemporaryDirectory(prefix="csq-bench-") as tmp, bench_registry(db, Path(tmp)) as (url, chosen):
        typer.echo(f"{chosen}; {doing}", err=True)
        return {**run(url, Path(tmp)), "database_choice": chosen}


@bench_app.command("watch")
def bench_watch_command(
    stack_envelopes: int = typer.Option(5, "--stack-envelopes", min=1, max=50, help="Envelopes in the stack dropped as one file (about 8 pages each)."),
    seed: int = typer.Option(1, "--seed", help="Seed of the generated envelopes."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON document."),
) -> None:
    """The consume folder with warm models: a stack's pages/min and one envelope from file to registered, letter written (targets 600/min, 2 s)."""
    from bench.watch import bench_watch

    typer.echo("generating the envelopes (not timed), then dropping them into a watched folder...", err=True)
    r = bench_watch(stack_envelopes=stack_envelopes, seed=seed)
    _emit(r, as_json, f"stack: {r['stack']['pages']} pages, {r['stack']['envelopes']} envelopes in {r['stack']['seconds']} s = "
          f"{r['stack']['pages_per_min']} pages/min (target {r['stack']['target_pages_per_min']}); one envelope of "
          f"{r['envelope']['pages']} pages: {r['envelope']['seconds']} s to registered, letter written {r['envelope']['letter_written']} "
          f"(target {r['envelope']['target_s']} s); load average {r['load_average']} on {r['cpus']} cpus")


@bench_app.command("queue")
def bench_queue_command(
    count: int = typer.Option(1_000_000, "--count", min=1, max=50_000_000, help="Synthetic applications to rank and list."),
    db: str = typer.Option("sqlite", "--db", help="sqlite (a temporary file), postgres (a throw-away database on 127.0.0.1:5432), auto, or the URL of an EMPTY registry. Never the registry of the global --db."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON document."),
) -> None:
    """Rank and list the queue of COUNT applications: what staff run on intake day (target: 5 s at a million)."""
    from bench.ranking import bench_queue

    report = _in_throwaway_registry(db, f"filling {count:,} applications (not timed)...",
                                    lambda url, folder: bench_queue(url, count, data_dir=folder / "data"))
    _emit(report, as_json, f"{report['backend']}, {report['n']:,} applications: rank {report['rank_s']} s + queue "
          f"{report['queue_s']} s = {report['rank_plus_queue_s']} s (target {report['target_s']} s; load average "
          f"{report['load_average_1min']} on {report['cpus']} cpus)")


@bench_app.command("api")
def bench_api_command(
    clients: int = CLIENTS_OPTION,
    submissions: Optional[int] = SUBMISSIONS_OPTION,
    workers: int = WORKERS_OPTION,
    db: str = typer.Option("sqlite", "--db", help="sqlite (a temporary file), postgres (a throw-away database), auto, or the URL of an EMPTY registry."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON document."),
) -> None:
    """Online intake through the API: submissions/s, latency p50/p99, none lost or duplicated (target: 500/s)."""
    from bench.station import bench_api

    report = _in_throwaway_registry(db, f"{submissions or clients} submissions from {clients} clients...",
                                    lambda url, folder: bench_api(clients, submissions, workers=workers, db_url=url))
    _emit(report, as_json, f"{report['accepted']} accepted, {report['per_s']} submissions/s, latency p50 "
          f"{report['latency']['p50_ms']} ms / p99 {report['latency']['p99_ms']} ms, lost {report['lost']}, duplicated "
          f"{report['duplicated']}; server CPU {report['server_cpu_ms_per_submission']} ms per submission "
          f"(load average {report['load_average_1min']} on {report['cpus']} cpus)")


@bench_app.command("public")
def bench_public_command(
    clients: int = typer.Option(500, "--clients", min=1, max=5000, help="Concurrent connections posting the on-screen form."),
    requests: Optional[int] = typer.Option(None, "--requests", min=1, max=100_000, help="Forms posted in all (default: one per client)."),
    workers: int = WORKERS_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON document."),
) -> None:
    """The candidates' pages under a rush: prefilled PDFs per second, latency p50/p99, how many were told "busy, try again"."""
    from bench.public_pages import bench_public

    typer.echo(f"{requests or clients} forms from {clients} clients to `csq serve --public` ({workers} workers)...", err=True)
    r = bench_public(clients, requests, workers=workers)
    _emit(r, as_json, f"{r['pdfs']} PDFs in {r['elapsed_s']} s: {r['pdfs_per_s']} PDFs/s, latency p50 {r['pdf_latency']['p50_ms']} ms / "
          f"p99 {r['pdf_latency']['p99_ms']} ms; {r['busy']} told busy (p99 {r['busy_latency']['p99_ms']} ms, Retry-After "
          f"{r['busy_retry_after_s']}); failures {r['failures'] or 'none'}; server CPU {r['server_cpu_s_per_pdf']} s per PDF "
          f"(load average {r['load_average']})")


# ---- stations, workers, audit (issue 6)
# The shared scan queue (registry/work_queue.py + scan/worker.py, docs/stations.md), the
# registry's consistency check (registry/integrity.py), the audit trail's hash chain
# (registry/audit_chain.py).

audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: every change, hash-chained.")
app.add_typer(audit_app, name="audit")


@scan_app.command("enqueue")
def scan_enqueue(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="The scanned pages of ONE envelope, or (with --stack) a whole stack."),
    postmark: Optional[str] = typer.Option(None, "--postmark", help="One envelope: its postmark date YYYY-MM-DD, or 'illegible'."),
    stack: bool = typer.Option(False, "--stack", help="A stack split at separator sheets (the postmarks are on the separators)."),
    received: Optional[str] = typer.Option(None, "--received", help="Date received (YYYY-MM-DD); default today."),
    envelope: Optional[Path] = typer.Option(None, "--envelope", help="One envelope: a picture of the envelope itself."),
    station: Optional[str] = typer.Option(None, "--station", help="This station's name in the queue; default the host name."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """Queue scans for the workers (PostgreSQL): pages are read by `csq scan worker` on any machine."""
    from registry.work_queue import ScanQueue, require_postgresql
    from scan.worker import list_pages

    if stack == (postmark is not None):
        raise BadArguments("give --postmark DATE|illegible for one envelope, or --stack for a stack with separator sheets")
    if stack and envelope:
        raise BadArguments("--envelope goes with one envelope, not with --stack")
    require_postgresql(_settings(ctx).db_url)
    postmark_date = None if stack or postmark.strip().lower() == "illegible" else _parse_day(postmark, "--postmark")
    received_date = _parse_day(received, "--received") if received else date.today()
    if postmark_date and postmark_date > received_date:
        raise BadArguments(f"the postmark {postmark_date} is after the date received {received_date}: check both dates on the envelope")
    envelope_image = _read_binary(envelope) if envelope else None
    queue = ScanQueue(_open_registry(ctx))
    pages = list_pages(files)
    result = queue.enqueue(files, pages, kind="stack" if stack else "envelope", postmark=postmark_date, received=received_date,
                           envelope_image=envelope_image, station=station)
    again = "" if result.created else " (queued before: nothing new written)"
    _emit(result.to_json(), as_json, f"job {result.job}: {result.pages} page(s) of {'a stack' if stack else 'one envelope'}, {result.state}{again}")


@scan_app.command("worker")
def scan_worker(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Exit as soon as there is nothing to do."),
    idle_exit: Optional[float] = typer.Option(None, "--idle-exit", min=0, help="Exit after this many seconds with nothing to do."),
    as_json: bool = typer.Option(False, "--json", help="Print what this worker did as one JSON document when it exits."),
) -> None:
    """Read queued pages and register the envelopes whose pages are all read (PostgreSQL)."""
    from registry.work_queue import ScanQueue, Scanner, require_postgresql
    from scan import worker

    require_postgresql(_settings(ctx).db_url)
    queue = ScanQueue(_open_registry(ctx))
    worker.prepare()  # engines loaded before the first claim, not while a page is held
    stats = queue.work(Scanner(worker.read_page, worker.envelope, worker.stack), once=once, idle_exit=idle_exit,
                       log=lambda line: sys.stderr.write(f"csq scan worker: {line}\n"))
    _emit(stats.to_json(), as_json, f"worker {stats.worker}: {stats.pages_read} page(s) read, {stats.jobs_done} job(s) done, "
          f"{stats.jobs_failed} failed, {len(stats.registered)} envelope(s) registered in {stats.seconds:.0f} s")


@scan_app.command("jobs")
def scan_jobs(
    ctx: typer.Context,
    job: Optional[list[int]] = typer.Argument(None, help="Job numbers; default every job."),
    as_json: bool = typer.Option(False, "--json", help="Print the jobs as one JSON document."),
) -> None:
    """The queued scans and how far each has come (PostgreSQL)."""
    from registry.work_queue import ScanQueue, require_postgresql

    require_postgresql(_settings(ctx).db_url)
    rows = ScanQueue(_open_registry(ctx)).jobs(job or None)
    lines = [f"job {r['job']:>5}  {r['kind']:<8} {r['state']:<7} {r['pages_done']}/{r['pages']} page(s)  "
             + (", ".join(a["file_no"] for a in r["applications"]) or "-") + (f"  {r['error']}" if r["error"] else "") for r in rows]
    _emit(rows, as_json, "\n".join(lines) if lines else "no scans queued")


@registry_app.command("check")
def registry_check(
    ctx: typer.Context,
    clean: bool = typer.Option(False, "--clean", help="Remove image files no row names and half-written temporary files."),
    min_age: float = typer.Option(3600, "--min-age", min=0, help="With --clean: only files older than this many seconds (younger ones may belong to an intake still running)."),
    deep: bool = typer.Option(False, "--deep", help="Also re-hash every stored image (slow)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON document."),
) -> None:
    """Is the registry consistent? Rows without their application, missing files, files nobody names, the audit chain."""
    from errors import DatabaseError
    from registry.integrity import check

    report = check(_open_registry(ctx), clean=clean, min_age=min_age, deep=deep)
    _emit(report.to_json(), as_json, report.summary())
    if not report.ok:
        raise DatabaseError(f"the registry {_settings(ctx).db_url} is not consistent: {'; '.join(report.problems)}; "
                            "restore it from the last backup or report it")


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """Walk the audit trail's hash chain; name the first event that was changed, removed or slipped in.
    Each intact head is recorded in the data folder's audit-anchors.jsonl, and checked ever after."""
    from errors import DatabaseError
    from registry import audit_chain

    registry = _open_registry(ctx)
    report, earlier = audit_chain.verify_and_anchor(registry.db, registry.data_dir)
    if as_json or report.ok:
        _emit(report.to_json(), as_json, f"audit trail intact: {report.events} event(s), head {report.head} "
                                         f"(recorded in {registry.data_dir / audit_chain.ANCHORS_FILE}; {earlier} earlier head(s) held)")
    if not report.ok:
        raise DatabaseError(f"the audit trail of {registry.db.shown_url} is broken at {report.broken.describe()}; "
                            f"the {report.events} event(s) before it hold; keep the database as it is and report it")


@audit_app.command("views")
def audit_views(
    ctx: typer.Context,
    user: str = typer.Option(..., "--user", help="The staff account whose views to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as one JSON document."),
) -> None:
    """What a given person looked at in the station (who, when, which file, what), newest first."""
    from registry import record_views

    rows = record_views.viewed_by(_open_registry(ctx).db, user.strip())
    lines = [f"{r['at'][:19].replace('T', ' ')}  {r['file_no']}  {r['what']}" for r in rows]
    _emit(rows, as_json, "\n".join(lines) if lines else f"{user} has looked at no file")


# ------------------------------------------------------------------------------- main


def _speak_utf8() -> None:
    """JSON, CSV and messages in UTF-8 whatever the console's locale: a name like ÇAĞLAYAN in an
    export must not fail (or turn into another encoding) on a machine set to Latin-1."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower().replace("-", "") != "utf8":
            stream.reconfigure(encoding="utf-8")


# typer >= 0.22 carries its own copy of click: its exceptions are not the installed click's. Both
# are caught, so the guard below holds whichever typer pip chose.
_EXIT = (typer.Exit, click.exceptions.Exit)
_ABORT = (typer.Abort, click.exceptions.Abort)
_CLICK_ERROR = (getattr(typer, "TyperException", click.exceptions.ClickException), click.exceptions.ClickException)


def usage_error_line(exc: Exception) -> str:
    """A usage mistake (unknown option or command, missing or bad argument) as one line: what was
    wrong, the option meant where one is close, and the command's usage line."""
    meant = sorted(getattr(exc, "possibilities", None) or ())
    message = (exc.message if meant else exc.format_message()).strip().rstrip(".")
    if meant:  # click's close matches (difflib) to the mistyped option
        message += f"; did you mean {' or '.join(meant)}?"
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return f"csq: error: {message}"
    usage = " ".join(ctx.get_usage().split())  # "Usage: csq registry queue [OPTIONS]", on one line
    return f"csq: error: {message} ({usage}; '{ctx.command_path} --help' tells more)"


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turn every known error into one line and its exit code."""
    verbose = "--verbose" in (argv if argv is not None else sys.argv[1:])
    _speak_utf8()
    try:
        code = app(args=argv, prog_name="csq", standalone_mode=False)
    except _EXIT as exc:
        code = exc.exit_code
    except _ABORT:
        sys.stderr.write("csq: interrupted\n")
        code = 130
    except _CLICK_ERROR as exc:
        code = getattr(exc, "exit_code", int(ExitCode.bad_args))
        if type(exc).__name__ == "NoArgsIsHelpError":  # `csq scan` alone: the help is the answer
            sys.stderr.write(exc.format_message().rstrip() + "\n")
        elif code == ExitCode.bad_args:  # click's UsageError and its kin: NoSuchOption, BadParameter, ...
            sys.stderr.write(usage_error_line(exc) + "\n")
        else:
            sys.stderr.write(f"csq: error: {exc.format_message()}\n")
    except CsqError as exc:
        if verbose:
            raise
        sys.stderr.write(f"csq: error: {exc}\n")
        code = int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("csq: interrupted; what was registered is kept, run the same command again to go on\n")
        code = 130
    except Exception as exc:  # the last guard: no traceback reaches a clerk
        if verbose:
            raise
        sys.stderr.write(
            f"csq: error: unexpected {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "(nothing half-written is kept; run again with --verbose and report it)\n"
        )
        code = int(ExitCode.other)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
