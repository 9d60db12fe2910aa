"""A candidate asks whether their envelope arrived: the public status page's look-up.

The acknowledgment letter goes back by mail and takes days; the candidate wants to know now.
They give their file number (from the letter, or from the online portal's answer) or their
passport number, and their date of birth. The answer is the same whether the number or the
date is wrong (nothing to learn about who is in the registry), and each look-up is counted in
the audit trail (action `status_lookup`, actor `public`): with the file when one was found, so
the file's history shows that its owner looked, without a file otherwise.

Matching is on the registry's values as they stand: the birth date of the file (as read, or as
a person corrected it), and for a passport number the person's key (registry/priority.py
`person_key`), or, for a file whose key is still waiting for a person, its read passport number
and birth date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select

from errors import BadArguments
from registry.db import Database
from registry.filenumber import normalize_file_no
from registry.models import applications, audit_events, field_values, queue_places
from registry.priority import passport_as_key, person_key
from registry.records import status_column, with_places, write_audit

LOOKUP_ACTION = "status_lookup"
LOOKUP_ACTOR = "public"
# A person has few files (one kept, the others duplicates); more would be a wrong key.
MAX_FILES_SHOWN = 10


@dataclass(frozen=True)
class FileStatus:
    """What a candidate may see of one file: no personal data, nothing they did not give."""

    file_no: str
    channel: str
    status: str
    received_date: str | None
    postmark_date: str | None
    postmark_illegible: bool
    submitted_at: str | None
    priority_date: str | None
    rank: int | None
    duplicate_of: str | None


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def look_up(db: Database, *, birth_date: str, file_no: str | None = None, passport_number: str | None = None) -> list[FileStatus]:
    """The files of the candidate who gave (file number or passport number) and birth date, or
    an empty list: a wrong number and a wrong date look the same. Counted in the audit trail."""
    if not birth_date or not (file_no or passport_number):
        return []
    with db.write() as conn:
        ids: list[int] = []
        via = "file_no" if file_no else "passport"
        if file_no:
            try:
                wanted = normalize_file_no(file_no)
            except BadArguments:
                wanted = None
            if wanted:
                ids = list(conn.execute(
                    select(applications.c.id).join(field_values, and_(field_values.c.application_id == applications.c.id,
                                                                      field_values.c.name == "birth_date"))
                    .where(applications.c.file_no == wanted, field_values.c.value == birth_date)).scalars())
        else:
            passport = passport_as_key(passport_number or "")
            key = person_key(passport, birth_date)
            if key:
                ids = list(conn.execute(select(applications.c.id).where(applications.c.person_key == key)
                                        .order_by(applications.c.id).limit(MAX_FILES_SHOWN)).scalars())
                if not ids:
                    ids = _unkeyed_files(conn, passport, birth_date)
        rows = []
        if ids:
            rows = conn.execute(
                select(applications.c.file_no, applications.c.channel, status_column().label("status"),
                       applications.c.received_date, applications.c.postmark_date, applications.c.postmark_illegible,
                       applications.c.submitted_at, applications.c.priority_date, queue_places.c.rank,
                       applications.c.duplicate_of)
                .select_from(with_places()).where(applications.c.id.in_(ids)).order_by(applications.c.id)).all()
        found = [FileStatus(r.file_no, r.channel, r.status, _iso(r.received_date), _iso(r.postmark_date),
                            bool(r.postmark_illegible), _iso(r.submitted_at), _iso(r.priority_date), r.rank, r.duplicate_of)
                 for r in rows]
        for f in found:
            write_audit(conn, actor=LOOKUP_ACTOR, action=LOOKUP_ACTION, file_no=f.file_no, detail=f"found by {via}")
        if not found:
            write_audit(conn, actor=LOOKUP_ACTOR, action=LOOKUP_ACTION, detail=f"nothing found by {via}")
        return found


def _unkeyed_files(conn, passport: str, birth_date: str) -> list[int]:
    """Files whose person key waits for a person (passport or birth date read with doubt):
    matched on the values as read, compared as the key compares them (priority.passport_as_key:
    folded, letters and digits only; a reading ÉH 123.4567 is EH1234567). Only files without a
    key and of that birth date are looked at, a few at most."""
    passport_row = field_values.alias("passport_row")
    birth_row = field_values.alias("birth_row")
    query = (
        select(applications.c.id, passport_row.c.value)
        .join(passport_row, and_(passport_row.c.application_id == applications.c.id, passport_row.c.name == "passport_number"))
        .join(birth_row, and_(birth_row.c.application_id == applications.c.id, birth_row.c.name == "birth_date"))
        .where(applications.c.person_key.is_(None), birth_row.c.value == birth_date)
        .order_by(applications.c.id)
    )
    found = [app_id for app_id, value in conn.execute(query) if value and passport_as_key(value) == passport]
    return found[:MAX_FILES_SHOWN]


def lookup_counts(db: Database, since: datetime | None = None) -> dict:
    """How many look-ups found a file and how many found none (since a time, or ever)."""
    query = select(audit_events.c.file_no.is_not(None).label("found"), func.count()).where(audit_events.c.action == LOOKUP_ACTION)
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    with db.read() as conn:
        counts = {bool(found): n for found, n in conn.execute(query.group_by("found"))}
    return {"found": counts.get(True, 0), "not_found": counts.get(False, 0)}
