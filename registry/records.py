"""What every room of the registry shares: how an application's values are stored, its
status as SQL, its row as read, and the audit trail's writing.

The concern modules (intake, online, people, settle, ranking, rules, review, staff,
acknowledgments, export, application_view) take `registry` — anything with the four
attributes of `RegistryParts`, in practice the `Registry` facade of service.py — and a
Connection where they work inside a caller's transaction. This module imports none of them.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, and_, case, false, select, text, true

from errors import BadArguments, NotFound
from registry.db import Database
from registry.models import QUEUE_PREDICATE, applications, audit_events, queue_places
from registry.priority import PriorityPolicy
from registry.store import ImageStore
from templates.spec import CURRENT_VERSION, FORM_ID, FormSpec, load_form

MAIL_ACTOR = "mail-intake"
ONLINE_ACTOR = "online-intake"
BOOL_TYPES = ("checkbox", "signature")
POSTMARK_FIELD = "postmark_date"  # in the review list: a separator postmark to confirm
STREAM_BATCH = 20_000


class RegistryParts(Protocol):
    """What the concern modules work with (service.Registry has them): read at each call, so
    a registry whose policy is replaced applies the new one at once."""

    db: Database
    data_dir: Path
    policy: PriorityPolicy
    images: ImageStore


# ------------------------------------------------------------------------ stored values


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def encode(value) -> str | None:
    """A field value as stored: text as is, booleans as JSON, empty as NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def form_of(form_id: str | None, version: str | None) -> FormSpec:
    """The form an application was read against (the current one if unknown)."""
    return load_form(form_id or FORM_ID, version or CURRENT_VERSION)


def decode(value: str | None, name: str, form: FormSpec):
    if value is None:
        return None
    try:
        if form.field(name).type in BOOL_TYPES:
            return json.loads(value)
    except KeyError:
        pass
    return value


def document(rows, form: FormSpec) -> dict:
    """Stored field rows as a data document's `fields` (only the form's own fields)."""
    names = set(form.field_names)
    return {r.name: decode(r.value, r.name, form) for r in rows if r.name in names}


def lines(items) -> str:
    return "\n".join(str(i) for i in items)


def split_lines(text: str | None) -> list[str]:
    return [line for line in (text or "").split("\n") if line]


# ------------------------------------------------------------------------------ status


def with_places():
    """Applications with their place in the last ranking (none if not ranked)."""
    return applications.outerjoin(queue_places, queue_places.c.application_id == applications.c.id)


def status_column():
    """An application's status as everyone sees it (over `with_places()`): the stored status,
    except that a complete application ranked reads "ranked" or "beyond_cap"."""
    a, p = applications, queue_places
    return case(
        (and_(a.c.status == "complete", p.c.within_cap == true()), "ranked"),
        (and_(a.c.status == "complete", p.c.within_cap == false()), "beyond_cap"),
        else_=a.c.status,
    )


# Every application column, with the stored status renamed and the ranking's columns added.
APPLICATION_WITH_PLACE = (
    *[c for c in applications.c if c.name != "status"],
    applications.c.status.label("stored_status"),
    queue_places.c.rank,
    queue_places.c.within_cap,
    status_column().label("status"),
)


def eligible(policy: PriorityPolicy):
    """In the queue: in the window, not withdrawn, not a duplicate, not incomplete."""
    t = applications
    conditions = [text(QUEUE_PREDICATE.replace("withdrawn_at", "applications.withdrawn_at")
                       .replace("duplicate_of", "applications.duplicate_of").replace("review_state", "applications.review_state"))]
    if policy.opening_date:
        conditions.append(t.c.priority_date >= policy.opening_date)
    if policy.closing_date:
        conditions.append(t.c.priority_date <= policy.closing_date)
    return and_(*conditions)


def stored_status(policy: PriorityPolicy):
    """The one definition of an application's stored status (PRIORITY.md, "Status");
    `status_column` adds the ranking's verdict."""
    t = applications
    whens = [(t.c.withdrawn_at.is_not(None), "withdrawn")]
    if policy.opening_date:
        whens.append((t.c.priority_date < policy.opening_date, "premature"))
    if policy.closing_date:
        whens.append((t.c.priority_date > policy.closing_date, "late"))
    whens.append((t.c.duplicate_of.is_not(None), "duplicate"))
    return case(*whens, else_=t.c.review_state)


def application_row(registry: RegistryParts, conn: Connection, file_no: str):
    """The application with its place in the last ranking and its status as seen."""
    row = conn.execute(select(*APPLICATION_WITH_PLACE).select_from(with_places())
                       .where(applications.c.file_no == file_no)).first()
    if row is None:
        raise NotFound(f"no application {file_no} in the registry {registry.db.shown_url}: check the number")
    return row


# ------------------------------------------------------------------------------- audit


def write_audit(conn: Connection, *, actor: str, action: str, file_no: str | None = None, field: str | None = None,
                old: str | None = None, new: str | None = None, detail: str = "") -> None:
    conn.execute(audit_events.insert().values(at=now(), actor=actor, action=action, file_no=file_no, field=field,
                                              old=old, new=new, detail=detail))


def audit_rows(conn: Connection, file_no: str | None) -> list[dict]:
    """The audit events (of one application, or all), oldest first."""
    query = select(audit_events).order_by(audit_events.c.id)
    if file_no:
        query = query.where(audit_events.c.file_no == file_no)
    return [
        {"at": iso(e.at), "actor": e.actor, "action": e.action, "file_no": e.file_no, "field": e.field,
         "old": e.old, "new": e.new, "detail": e.detail}
        for e in conn.execute(query)
    ]


def check_actor(by: str) -> str:
    by = (by or "").strip()
    if not by or len(by) > 64:
        raise BadArguments("say who makes the change (--by NAME, 1 to 64 characters): it is kept in the audit trail")
    return by


def check_reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise BadArguments(f"give the reason for {what} (it is kept in the audit trail)")
    return reason


MANUAL_SOURCE = "manual"  # a value a person gave (models.FIELD_SOURCES)


def saved_by_person(row, value: str | None, *, by: str, moment: datetime) -> dict:
    """The columns a person's save sets on a field row (a correction, an empty field confirmed):
    their value, final, the version moved on; the machine's reading is kept the first time a
    person overrides it, so the trail and the statistics can still compare."""
    keep_machine = row.source != MANUAL_SOURCE and row.machine_source is None
    return {
        "value": value, "source": MANUAL_SOURCE, "confidence": 1.0, "needs_review": False, "version": row.version + 1,
        "updated_at": moment, "updated_by": by,
        **({"machine_value": row.value, "machine_source": row.source, "machine_confidence": row.confidence} if keep_machine else {}),
    }
