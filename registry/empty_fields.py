"""Required fields read empty: a person says so, never the machine alone.

An application with an empty required field is `incomplete`, out of the queue: the candidate
loses their place. A machine reading of "nothing there" (a light pen, a box circled rather than
ticked, a page blank or missing) must not decide that. So:

- `flag_machine_empty` (called by `settle.settle`, before the review state is derived): every
  required field whose value is empty and was read by the machine from paper (source ocr or omr)
  and is not already waiting for a person is sent to one (reason `empty_required`). The reader
  does so itself (scan.judge); this holds for readings made by any other code too. Data the
  candidate typed (online, the prefilled form's data codes) is the candidate's own: left alone.
- `confirm_empty`: a person confirms those fields empty (all of an envelope at once, or named
  ones): source "manual", the machine's reading kept, each field audited. The review state then
  follows (`incomplete`), audited under that person's name.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import Connection, select, update

from errors import BadArguments, ConflictError
from registry.models import field_values
from registry.records import saved_by_person
from templates.spec import FormSpec

EMPTY_REQUIRED = "empty_required"
PAPER_SOURCES = ("ocr", "omr")
# Why a person confirms a whole envelope's empty fields: nothing written, or a page not sent.
CONFIRM_REASONS = ("blank_page", "page_missing", "left_empty")
# Fields of these reasons alone may be confirmed empty in one action for the envelope: the reader
# saw no ink there (or no page). A field where it saw ink (missing, ink_around_box, faint_mark...)
# is decided one by one.
BULK_REASONS = frozenset({EMPTY_REQUIRED, "page_missing", "page_unreadable", "faint_scan"})


def _stored_empty(value: str | None) -> bool:
    return value is None or value == "" or value == "false"


def _reasons(text: str | None) -> list[str]:
    return [r for r in (text or "").split(",") if r]


def flag_machine_empty(conn: Connection, app_id: int, form: FormSpec) -> list[str]:
    """Send to a person every required field of the application read empty from paper and left
    final (an old reader's reading, or another's); the names flagged."""
    required = [f.name for f in form.fields if f.required]
    if not required:
        return []
    rows = conn.execute(
        select(field_values.c.id, field_values.c.name, field_values.c.value, field_values.c.reasons)
        .where(field_values.c.application_id == app_id, field_values.c.name.in_(required),
               field_values.c.needs_review.is_(False), field_values.c.source.in_(PAPER_SOURCES))
    ).all()
    flagged = []
    for r in rows:
        if not _stored_empty(r.value):
            continue
        reasons = [x for x in _reasons(r.reasons) if x != "empty"] + [EMPTY_REQUIRED]
        conn.execute(update(field_values).where(field_values.c.id == r.id).values(
            needs_review=True, reasons=",".join(dict.fromkeys(reasons))))
        flagged.append(r.name)
    return flagged


def confirm_empty(conn: Connection, app_id: int, form: FormSpec, *, by: str, reason: str, fields: tuple[str, ...] = (),
                  expected_version: int | None = None, now: datetime | None = None, audit=None) -> dict:
    """A person sets required fields of one application empty: `fields` named (whatever the
    machine read there), or every one waiting for a person with no value that the reader saw no
    ink in (BULK_REASONS). Returns
    {"confirmed": [...], "left": [...]} (left: empty required fields still waiting, to be decided
    one by one). `audit(field=, old=, new=, detail=)` records each confirmation."""
    if reason not in CONFIRM_REASONS:
        raise BadArguments(f"--reason {reason!r}: use one of {', '.join(CONFIRM_REASONS)}")
    required = {f.name for f in form.fields if f.required}
    for name in fields:
        if name not in required:
            raise BadArguments(f"{name!r} is not a required field of form {form.form_id} {form.version}: "
                               "an optional field is confirmed empty with `csq review set FILE_NO FIELD ''`")
    now = now or datetime.now(timezone.utc)
    query = select(field_values).where(field_values.c.application_id == app_id).order_by(field_values.c.id)
    if fields:  # named: a person's decision on each, whatever was read there (a circled box offered, say)
        rows = conn.execute(query.where(field_values.c.name.in_(fields))).all()
    else:
        rows = [r for r in conn.execute(query.where(field_values.c.needs_review.is_(True))) if _stored_empty(r.value)]
    confirmed, left = [], []
    for r in rows:
        if r.name not in required:
            continue
        if not fields and not set(_reasons(r.reasons)) <= BULK_REASONS:
            left.append(r.name)
            continue
        if expected_version is not None and r.version != expected_version:
            raise ConflictError(f"{r.name} was changed by {r.updated_by} (version {r.version}, you saw {expected_version}): "
                                "reload it and decide again")
        conn.execute(update(field_values).where(field_values.c.id == r.id, field_values.c.version == r.version)
                     .values(**saved_by_person(r, None, by=by, moment=now)))
        if audit is not None:
            audit(field=r.name, old=r.value, new=None,
                  detail=json.dumps({"reason": reason, "machine_reasons": _reasons(r.reasons), "version": r.version + 1}))
        confirmed.append(r.name)
    missing = [name for name in fields if name not in confirmed]
    if missing:
        raise BadArguments(f"{', '.join(missing)}: no such field in this application (see `csq forms layout --json`)")
    return {"confirmed": confirmed, "left": left}

