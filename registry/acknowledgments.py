"""The acknowledgment letters of registrations: what each says, when it is written, which
wait, and the mailroom's printout. (letters.py draws the PDF itself; this module decides.)

A new registration's letter is written at once (`try_letter`); if that fails the
registration stands and `letters_print` writes the missing letter later. A letter whose
name or address still awaits review is held back: a misread address would send it astray.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection, select, true, update

from errors import NotFound
from registry import letters
from registry.filenumber import normalize_file_no
from registry.models import applications, field_values
from registry.records import RegistryParts, application_row, document, form_of, now
from templates.validation import validate

log = logging.getLogger("csq.registry")

# The letter goes out only when the name and address on it are final.
ADDRESS_FIELDS = ("given_names", "family_name", "address_line", "city", "postal_code", "country_of_residence")


def letter_path(registry: RegistryParts, file_no: str) -> Path:
    """Where the letter of `file_no` is (or will be) written."""
    return registry.data_dir / "letters" / f"{file_no}.pdf"


def write_letter(registry: RegistryParts, file_no: str) -> Path:
    """(Re)write the acknowledgment letter of one application from its current state."""
    file_no = normalize_file_no(file_no)
    with registry.db.read() as conn:
        content = letter_content(registry, conn, file_no)
    path = letters.write_letter(letter_path(registry, file_no), content)
    with registry.db.write() as conn:
        conn.execute(update(applications).where(applications.c.file_no == file_no).values(letter_written_at=now()))
    return path


def try_letter(registry: RegistryParts, file_no: str) -> None:
    """The letter of a new registration. Its failure must not undo the registration:
    it is logged, and `letters_print` writes the missing letter later."""
    try:
        write_letter(registry, file_no)
    except Exception as exc:  # noqa: BLE001 - any failure here is retried by letters_print
        log.warning("%s: acknowledgment letter not written (%s); `csq letters print` will retry", file_no, exc)


def letter_content(registry: RegistryParts, conn: Connection, file_no: str) -> letters.LetterContent:
    """What the letter of `file_no` says, from the application as it stands."""
    app = application_row(registry, conn, file_no)
    form = form_of(app.form_id, app.form_version)
    rows = conn.execute(select(field_values.c.name, field_values.c.value, field_values.c.needs_review)
                        .where(field_values.c.application_id == app.id)).all()
    doc = document(rows, form)
    problems = ()
    if app.review_state == "incomplete" and app.status in ("incomplete",):
        problems = tuple(letters.LetterProblem(p.message.fr, p.message.en)
                         for p in validate({"fields": doc}, form, today=registry.policy.today()))
    name = " ".join(str(doc.get(n) or "") for n in ("given_names", "family_name")).strip()
    city_line = " ".join(str(doc.get(n) or "") for n in ("city", "postal_code")).strip()
    submitted = app.submitted_at.astimezone(registry.policy.zone).strftime("%Y-%m-%d %H:%M") if app.submitted_at else None
    return letters.LetterContent(
        file_no=app.file_no, channel=app.channel, status=app.status, issued_on=registry.policy.today(),
        received_date=app.received_date, postmark_date=app.postmark_date, postmark_illegible=app.postmark_illegible,
        submitted_at=submitted, priority_date=app.priority_date, priority_rule=app.priority_rule,
        recipient=tuple(x for x in (name, doc.get("address_line"), city_line, doc.get("country_of_residence")) if x),
        problems=problems, duplicate_of=app.duplicate_of,
    )


def letters_missing(registry: RegistryParts, since: date) -> list[str]:
    """Registrations since `since` whose letter was never written (those held back for
    review excepted): what a station that stopped before writing them left to do."""
    return [file_no for file_no, _updated, written in _letters_since(registry, since)[0] if written is None]


def letters_held_back(registry: RegistryParts, since: date) -> list[str]:
    """Registrations since `since` whose letter waits: name or address still under review."""
    return _letters_since(registry, since)[1]


def letters_print(registry: RegistryParts, since: date, out: Path) -> Path:
    """One PDF for the mailroom with the letters of the registrations since `since`
    (Montreal day), in registration order. Missing or outdated letters are (re)written
    first. Letters whose name or address still awaits review are held back (logged; see
    `letters_held_back`): a misread address would send the letter astray."""
    ready, held = _letters_since(registry, since)
    if held:
        log.warning("%d letter(s) held back until their address is reviewed: %s", len(held), ", ".join(held))
    if not ready:
        more = f" ({len(held)} held back until their address is reviewed)" if held else ""
        raise NotFound(f"no letters to print for registrations since {since.isoformat()}{more}")
    paths = []
    for file_no, updated_at, written_at in ready:
        path = letter_path(registry, file_no)
        if written_at is None or updated_at > written_at or not path.exists():
            path = write_letter(registry, file_no)
        paths.append(path)
    return letters.concatenate(paths, Path(out))


def _letters_since(registry: RegistryParts, since: date) -> tuple[list[tuple[str, datetime, datetime | None]], list[str]]:
    start = registry.policy.day_start(since)
    t = applications
    with registry.db.read() as conn:
        rows = conn.execute(select(t.c.id, t.c.file_no, t.c.updated_at, t.c.letter_written_at)
                            .where(t.c.registered_at >= start).order_by(t.c.id)).all()
        waiting = set(conn.execute(
            select(field_values.c.application_id).where(
                field_values.c.needs_review == true(), field_values.c.name.in_(ADDRESS_FIELDS),
                field_values.c.application_id.in_([r.id for r in rows]))
        ).scalars()) if rows else set()
    ready = [(r.file_no, r.updated_at, r.letter_written_at) for r in rows if r.id not in waiting]
    held = [r.file_no for r in rows if r.id in waiting]
    return ready, held
