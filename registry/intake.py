"""Intake, the steps of both channels and the mail channel: one envelope becomes one application.

- `register_mail`: an EnvelopeReading (scan/) with the clerk's dates becomes one application,
  all its rows in one transaction, its images stored by content first; the same envelope
  again returns the application already registered. Its acknowledgment letter follows
  (acknowledgments.py); a letter that fails does not undo the registration.
- `mail_dates`: what the clerk's and the separator sheet's dates come to.
- `allocate_file_nos` and `intake_result`, shared with the online channel (online.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import Connection, func, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from errors import BadArguments, DatabaseError
from registry import acknowledgments
from registry.filenumber import format_file_no
from registry.models import applications, envelopes, field_values, file_counters, pages
from registry.priority import PriorityPolicy, draw_key, mail_priority
from registry.records import (
    MAIL_ACTOR,
    POSTMARK_FIELD,
    RegistryParts,
    application_row,
    document,
    encode,
    form_of,
    iso,
    lines,
    now,
    split_lines,
    write_audit,
)
from registry.settle import settle
from scan.model import EnvelopeReading, FieldReading, IntakeResult, PageRecord
from templates.validation import parse_date, validate

MACHINE_SOURCES = ("ocr", "omr", "barcode")


@dataclass(frozen=True)
class MailDates:
    """What the mailroom's dates come to for one envelope (see `register_mail`)."""

    postmark: date | None
    received: date
    from_separator: bool
    postmark_needs_review: bool


def register_mail(
    registry: RegistryParts,
    reading: EnvelopeReading,
    *,
    postmark: date | None = None,
    received: date | None = None,
    envelope_image: bytes | None = None,
    by: str = MAIL_ACTOR,
    scans: Mapping[str, bytes] | None = None,
) -> IntakeResult:
    """One envelope becomes one application, all its rows in one transaction.

    `postmark` None means the clerk found it illegible or missing, unless the envelope
    came with a separator sheet whose postmark the machine read for sure: then that date
    counts. A separator postmark read with doubt counts as illegible for now and goes to
    the review list as `postmark_date`. `received` None: the separator's date if read for
    sure, else today. The same envelope again (same fingerprint) returns the application
    already registered, `created=False`, and writes nothing. `scans`: the scanned files'
    contents by their pages' source_file, when the files are not on this machine (the shared
    reading queue has them in the database); else each file is read from its path.
    """
    already = _envelope_result(registry, reading.fingerprint)
    if already is not None:
        return already
    dates = mail_dates(registry.policy, reading, postmark, received)
    for f in reading.fields:
        if f.source not in MACHINE_SOURCES:
            raise ValueError(f"field {f.name}: source {f.source!r} is not a machine source {MACHINE_SOURCES}")
    # Images go to disk before the transaction: they are stored by content, so a failed
    # or repeated intake leaves at most a file that the retry finds already in place.
    stored_pages = store_pages(registry, _pages_of(reading), scans)
    envelope_bytes = envelope_image or reading.envelope_image_png
    stored_envelope = registry.images.put(envelope_bytes) if envelope_bytes else None
    try:
        with registry.db.write() as conn:
            if _find_envelope(conn, reading.fingerprint) is None:
                file_no = _insert_mail(registry, conn, reading, dates, stored_pages, stored_envelope, by)
            else:
                file_no = None  # registered by another process a moment ago
    except sa_exc.IntegrityError as exc:
        file_no = None
        if _envelope_result(registry, reading.fingerprint) is None:
            raise DatabaseError(f"the registry {registry.db.shown_url} refused the envelope: {exc.orig}") from exc
    if file_no is None:
        return _envelope_result(registry, reading.fingerprint)
    acknowledgments.try_letter(registry, file_no)
    with registry.db.read() as conn:
        return intake_result(registry, conn, file_no, created=True)


def mail_dates(policy: PriorityPolicy, reading: EnvelopeReading, postmark: date | None, received: date | None) -> MailDates:
    """The postmark and received dates of an envelope, from the clerk and the separator."""
    sep = reading.separator
    if received is None:
        read = sep.received_date if sep else None
        received = _confident_date(read) or policy.today()
    if postmark is not None:
        if postmark > received:
            raise BadArguments(f"the postmark {postmark} is after the date received {received}: check both dates on the envelope")
        return MailDates(postmark, received, False, False)
    if sep is None:
        return MailDates(None, received, False, False)
    ticked = sep.postmark_illegible.value is True
    read = _confident_date(sep.postmark_date)
    if ticked and not sep.postmark_illegible.needs_review and sep.postmark_date.value is None:
        return MailDates(None, received, False, False)
    if read and not ticked and read <= received:
        return MailDates(read, received, True, False)
    # Written but uncertain, contradictory (a date and the illegible box), after the
    # received date, or nothing at all: the received-date rule for now, and a person looks.
    return MailDates(None, received, False, True)


def _insert_mail(registry: RegistryParts, conn: Connection, reading: EnvelopeReading, dates: MailDates, stored_pages, stored_envelope, by: str) -> str:
    moment = now()
    priority = mail_priority(dates.postmark, dates.received, registry.policy, from_separator=dates.from_separator)
    file_no = allocate_file_nos(registry, conn, dates.received.year, "mail", 1)[0]
    app_id = conn.execute(applications.insert().values(
        file_no=file_no, channel="mail", status="received", review_state="received",
        postmark_date=dates.postmark, postmark_illegible=priority.postmark_illegible,
        postmark_needs_review=dates.postmark_needs_review, received_date=dates.received, submitted_at=None,
        own_priority_date=priority.day, priority_date=priority.day, priority_rule=priority.rule,
        draw_key=draw_key(registry.policy.draw_seed, file_no), form_id=reading.form_id, form_version=reading.version,
        registered_at=moment, registered_by=by, updated_at=moment, problems=lines(reading.problems),
    ).returning(applications.c.id)).scalar_one()
    conn.execute(envelopes.insert().values(
        application_id=app_id, fingerprint=reading.fingerprint,
        separator_serial=reading.separator.serial if reading.separator else None,
        image_sha256=stored_envelope[0] if stored_envelope else None,
        image_path=stored_envelope[1] if stored_envelope else None,
        separator_evidence=_separator_evidence(reading),
    ))
    insert_pages(conn, app_id, stored_pages)
    _insert_fields(conn, app_id, reading.fields, by, moment)
    write_audit(conn, actor=by, action="registered", file_no=file_no, new="mail", detail=json.dumps({
        "fingerprint": reading.fingerprint, "pages": len(reading.pages), "postmark": iso(dates.postmark),
        "received": dates.received.isoformat(), "priority_date": priority.day.isoformat(), "priority_rule": priority.rule,
        "separator": reading.separator.serial if reading.separator else None,
    }))
    settle(registry, conn, app_id, by, registering=True)
    return file_no


def store_pages(registry: RegistryParts, records, scans: Mapping[str, bytes] | None = None) -> list[tuple[PageRecord, str, str]]:
    """Each page with the (sha256, path) of what keeps it: the scanned file as received, stored
    once for all its pages (a page with a view, as the reader makes it), else the page's own PNG
    (made-up readings, older readers). The file's content comes from `scans` by name if there,
    else from its path."""
    kept: dict[str, tuple[str, str]] = {}
    stored = []
    for page in records:
        if page.view:
            if page.source_file not in kept:
                content = (scans or {}).get(page.source_file)
                kept[page.source_file] = (registry.images.put(content) if content is not None
                                          else registry.images.put_file(page.source_file))
            stored.append((page, *kept[page.source_file]))
        else:
            stored.append((page, *registry.images.put(page.image_png)))
    return stored


def insert_pages(conn: Connection, app_id: int, stored_pages: list[tuple[PageRecord, str, str]]) -> None:
    """The page rows of an application (each page with its stored file's hash and path; with a
    view, that file is the scan as received and the view says which page of it, turned how)."""
    if not stored_pages:
        return
    conn.execute(pages.insert(), [
        {
            "application_id": app_id, "sequence": p.sequence, "kind": p.kind, "form_id": p.form_id,
            "form_version": p.version, "page_no": p.page_no, "document_id": p.document_id,
            "source_file": p.source_file, "source_page": p.source_page, "rotation": p.rotation,
            "pixels_sha256": p.pixels_sha256, "image_sha256": sha, "image_path": rel, "problems": lines(p.problems),
            "view": p.view or None,
        }
        for p, sha, rel in stored_pages
    ])


def _insert_fields(conn: Connection, app_id: int, readings: tuple[FieldReading, ...], by: str, now: datetime) -> None:
    if not readings:
        return
    conn.execute(field_values.insert(), [
        {
            "application_id": app_id, "name": f.name, "value": encode(f.value), "source": f.source,
            "confidence": float(f.confidence), "needs_review": bool(f.needs_review), "reasons": ",".join(f.reasons),
            "raw": f.raw, "page_no": f.page_no,
            "box_x0": f.box[0] if f.box else None, "box_y0": f.box[1] if f.box else None,
            "box_x1": f.box[2] if f.box else None, "box_y1": f.box[3] if f.box else None,
            "evidence": f.evidence, "machine_value": None, "machine_source": None, "machine_confidence": None,
            "version": 1, "updated_at": now, "updated_by": by,
        }
        for f in readings
    ])


def _find_envelope(conn: Connection, fingerprint: str) -> str | None:
    return conn.execute(
        select(applications.c.file_no).join(envelopes, envelopes.c.application_id == applications.c.id)
        .where(envelopes.c.fingerprint == fingerprint)
    ).scalar_one_or_none()


def _envelope_result(registry: RegistryParts, fingerprint: str) -> IntakeResult | None:
    with registry.db.read() as conn:
        file_no = _find_envelope(conn, fingerprint)
        return intake_result(registry, conn, file_no, created=False) if file_no else None


def allocate_file_nos(registry: RegistryParts, conn: Connection, year: int, channel: str, count: int) -> list[str]:
    """The next `count` file numbers of the year and channel, in one statement."""
    insert = pg_insert if registry.db.dialect == "postgresql" else sqlite_insert
    conn.execute(insert(file_counters).values(year=year, channel=channel, last_sequence=0).on_conflict_do_nothing())
    last = conn.execute(
        update(file_counters)
        .where(file_counters.c.year == year, file_counters.c.channel == channel)
        .values(last_sequence=file_counters.c.last_sequence + count)
        .returning(file_counters.c.last_sequence)
    ).scalar_one()
    return [format_file_no(year, channel, sequence) for sequence in range(last - count + 1, last + 1)]


def intake_result(registry: RegistryParts, conn: Connection, file_no: str, *, created: bool) -> IntakeResult:
    app = application_row(registry, conn, file_no)
    form = form_of(app.form_id, app.form_version)
    rows = conn.execute(
        select(field_values.c.name, field_values.c.value, field_values.c.needs_review)
        .where(field_values.c.application_id == app.id).order_by(field_values.c.id)
    ).all()
    waiting = ([POSTMARK_FIELD] if app.postmark_needs_review else []) + [r.name for r in rows if r.needs_review]
    problems = split_lines(app.problems)
    if app.review_state == "incomplete":
        problems += [str(p) for p in validate({"fields": document(rows, form)}, form, today=registry.policy.today())]
    page_count = conn.execute(
        select(func.count()).select_from(pages).where(pages.c.application_id == app.id, pages.c.kind != "separator")
    ).scalar_one()
    return IntakeResult(
        file_no=app.file_no, status=app.status, pages=page_count, needs_review=waiting,
        created=created, problems=problems, postmark_date=app.postmark_date,
    )


def _pages_of(reading: EnvelopeReading) -> list[PageRecord]:
    """The envelope's pages, with the separator sheet if the scanner kept it apart.

    The scanner numbers an envelope's pages 0, 1, ... and its separator by its place in the
    whole stack (0 for the first envelope): stored as they come, two pages would share a
    number, and the station can show only one page per number. The separator is stored as
    scanned, in front: page 0, the envelope's pages after it."""
    result = list(reading.pages)
    sep = reading.separator
    if sep is not None and sep.page.pixels_sha256 not in {p.pixels_sha256 for p in result}:
        result = [replace(sep.page, sequence=0), *(replace(p, sequence=p.sequence + 1) for p in result)]
    return result


def _confident_date(reading: FieldReading | None) -> date | None:
    if reading is None or reading.needs_review or not isinstance(reading.value, str):
        return None
    return parse_date(reading.value)


def _reading_dict(f: FieldReading) -> dict:
    return {"value": f.value, "raw": f.raw, "source": f.source, "confidence": f.confidence,
            "needs_review": f.needs_review, "reasons": list(f.reasons), "evidence": f.evidence}


def _separator_evidence(reading: EnvelopeReading) -> str | None:
    sep = reading.separator
    if sep is None:
        return None
    return json.dumps({
        "serial": sep.serial,
        "postmark_date": _reading_dict(sep.postmark_date),
        "postmark_illegible": _reading_dict(sep.postmark_illegible),
        "received_date": _reading_dict(sep.received_date),
    }, ensure_ascii=False)
