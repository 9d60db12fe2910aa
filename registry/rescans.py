"""Rescans join their file: the pages a clerk scans again go into the application they belong to.

An envelope scanned with page 3 missing is 26M-000001-1 ("missing page(s) 3 of 6"); page 3
scanned on its own must not become a second application. `join_pages` adds the pages of a
reading (scan/ read them as if they were an envelope) to an existing mail application:

- a form page the file lacks is added, its fields take the reading's values and verdicts (a
  field a person already saved keeps the person's value), and the missing-page problem is
  worked out again from the pages the file now has;
- a form page the file already has is the same scan again when its pixels are the same
  (nothing to do: running the command again is safe), and is refused otherwise unless
  `replace` (then the new scan takes its place, the old page row goes, its fields are read
  again);
- pages of another form version or of another prefilled document are refused;
- one transaction; audited as the clerk's `rescan`; the status follows (settle), and the
  acknowledgment letter is written again.

`recent_same_person`: the files of the same person (passport number and birth date read with
confidence) registered in the last days, for `scan ingest` to name them: a whole envelope scanned
again by mistake, or a rescan that should have gone `--into` that file.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace as replaced
from datetime import timedelta

from sqlalchemy import delete, select, update

from errors import ConflictError, NotFound
from registry import acknowledgments
from registry.filenumber import normalize_file_no
from registry.intake import insert_pages, intake_result, store_pages
from registry.models import applications, field_values, pages
from registry.records import MANUAL_SOURCE, RegistryParts, encode, form_of, lines, now, split_lines, write_audit
from registry.settle import settle
from scan.model import EnvelopeReading, IntakeResult

RESCAN_ACTION = "rescan"
SAME_PERSON_DAYS = 30
MISSING_LINE = re.compile(r"^missing page\(s\) [\d, ]+ of \d+$")
NO_FORM_LINE = "no page of the application form was found in the envelope"


def join_pages(registry: RegistryParts, file_no: str, reading: EnvelopeReading, *, replace: bool = False,
               by: str) -> IntakeResult:
    """Add the form pages of `reading` to mail application `file_no` (see the module's doc)."""
    file_no = normalize_file_no(file_no)
    new_pages = [p for p in reading.pages if p.kind == "form" and p.page_no]
    if not new_pages:
        raise NotFound(f"no page of the application form in these scans: nothing to add to {file_no}; "
                       "scan the form's pages themselves")
    stored = store_pages(registry, new_pages)
    with registry.db.write() as conn:
        app = conn.execute(select(applications).where(applications.c.file_no == file_no)).first()
        if app is None:
            raise NotFound(f"no application {file_no} in the registry {registry.db.shown_url}: check the number")
        if app.channel != "mail":
            raise ConflictError(f"{file_no} came online: only a mail application has scanned pages to add to")
        _check_same_form(app, reading, file_no)
        had = conn.execute(select(pages.c.id, pages.c.page_no, pages.c.pixels_sha256, pages.c.document_id, pages.c.sequence)
                           .where(pages.c.application_id == app.id)).all()
        _check_same_document(had, new_pages, file_no)
        had_form = {r.page_no: r for r in had if r.page_no}
        same = {p.page_no for p in new_pages if p.page_no in had_form and had_form[p.page_no].pixels_sha256 == p.pixels_sha256}
        clash = sorted({p.page_no for p in new_pages if p.page_no in had_form} - same)
        if clash and not replace:
            raise ConflictError(f"{file_no} already has page(s) {', '.join(map(str, clash))}: run again with --replace to put "
                                "the new scan in their place")
        adding = [(p, sha, rel) for p, sha, rel in stored if p.page_no not in same]
        if not adding:
            return intake_result(registry, conn, file_no, created=False)
        page_nos = {p.page_no for p, _, _ in adding}
        if clash:
            conn.execute(delete(pages).where(pages.c.application_id == app.id, pages.c.page_no.in_(clash)))
        first = max((r.sequence for r in had), default=-1) + 1
        insert_pages(conn, app.id, [(_renumbered(p, first + i), sha, rel) for i, (p, sha, rel) in enumerate(adding)])
        kept_by_person = _update_fields(conn, app.id, reading, page_nos, by)
        form = form_of(app.form_id, app.form_version)
        present = {r.page_no for r in had if r.page_no} | page_nos
        problems = _problems_after(split_lines(app.problems), present, len(form.pages))
        conn.execute(update(applications).where(applications.c.id == app.id).values(
            problems=lines(problems), updated_at=now(),
            # an envelope in which no form page was found learns its form from the rescan
            form_id=app.form_id or reading.form_id, form_version=app.form_version or reading.version))
        write_audit(conn, actor=by, action=RESCAN_ACTION, file_no=file_no, old=app.problems or None, new=lines(problems) or None,
                    detail=json.dumps({"pages_added": sorted(page_nos - set(clash)), "pages_replaced": clash,
                                       "kept_as_saved_by_a_person": kept_by_person,
                                       "source_files": sorted({p.source_file for p, _, _ in adding})}))
        settle(registry, conn, app.id, by)
    acknowledgments.try_letter(registry, file_no)  # what the letter lists as missing has changed
    with registry.db.read() as conn:
        return intake_result(registry, conn, file_no, created=True)


def _check_same_form(app, reading: EnvelopeReading, file_no: str) -> None:
    if reading.form_id and app.form_id and (reading.form_id, reading.version) != (app.form_id, app.form_version):
        raise ConflictError(f"these pages are of form {reading.form_id} {reading.version}, {file_no} of "
                            f"{app.form_id} {app.form_version}: are they of this envelope?")


def _check_same_document(had, new_pages, file_no: str) -> None:
    """Prefilled pages carry their document's id: another document's page is another person's."""
    theirs = {r.document_id for r in had if r.document_id}
    ours = {p.document_id for p in new_pages if p.document_id}
    if theirs and ours and not ours <= theirs:
        raise ConflictError(f"these pages are of prefilled document {', '.join(sorted(ours))}, {file_no} of "
                            f"{', '.join(sorted(theirs))}: they belong to another application")


def _renumbered(page, sequence: int):
    return replaced(page, sequence=sequence)


def _update_fields(conn, app_id: int, reading: EnvelopeReading, page_nos: set[int], by: str) -> list[str]:
    """The fields of the rescanned pages take the new reading; a person's save is kept."""
    rows = {r.name: r for r in conn.execute(select(field_values).where(field_values.c.application_id == app_id))}
    kept = []
    moment = now()
    for f in reading.fields:
        row = rows.get(f.name)
        if row is None or f.page_no not in page_nos:
            continue
        if row.source == MANUAL_SOURCE:
            kept.append(f.name)
            continue
        conn.execute(update(field_values).where(field_values.c.id == row.id).values(
            value=encode(f.value), source=f.source, confidence=float(f.confidence), needs_review=bool(f.needs_review),
            reasons=",".join(f.reasons), raw=f.raw, page_no=f.page_no,
            box_x0=f.box[0] if f.box else None, box_y0=f.box[1] if f.box else None,
            box_x1=f.box[2] if f.box else None, box_y1=f.box[3] if f.box else None,
            evidence=f.evidence, version=row.version + 1, updated_at=moment, updated_by=by))
    return kept


def _problems_after(problems: list[str], present: set[int], page_count: int) -> list[str]:
    """The envelope's problems once these pages are in: the missing pages worked out again."""
    kept = [p for p in problems if not MISSING_LINE.match(p) and p != NO_FORM_LINE]
    missing = sorted(set(range(1, page_count + 1)) - present)
    if missing:
        kept.append(f"missing page(s) {', '.join(map(str, missing))} of {page_count}")
    return kept


def recent_same_person(registry: RegistryParts, file_no: str, *, days: int = SAME_PERSON_DAYS) -> list[dict]:
    """Other files of the same person registered within `days` before this one."""
    file_no = normalize_file_no(file_no)
    with registry.db.read() as conn:
        app = conn.execute(select(applications.c.person_key, applications.c.registered_at)
                           .where(applications.c.file_no == file_no)).first()
        if app is None or not app.person_key:
            return []
        rows = conn.execute(select(applications.c.file_no, applications.c.registered_at, applications.c.channel)
                            .where(applications.c.person_key == app.person_key, applications.c.file_no != file_no,
                                   applications.c.registered_at >= app.registered_at - timedelta(days=days))
                            .order_by(applications.c.registered_at)).all()
    return [{"file_no": r.file_no, "registered_at": r.registered_at.isoformat(), "channel": r.channel} for r in rows]

