"""People and duplicates: one application kept per person, the others linked to it.

A person is keyed by passport number and birth date (priority.person_key); the key is set
by settle.py, and only from readings no one doubts. Applying twice neither helps nor costs
a place: the kept application ranks by the earliest priority date among the person's
eligible ones. Every link, unlink and date moved is audited.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, select, text, update

from registry.models import applications
from registry.priority import window_status
from registry.records import RegistryParts, iso, now, write_audit


def lock_person(registry: RegistryParts, conn: Connection, key: str) -> None:
    """Two intakes of the same person at once must see each other: the second waits here
    until the first commits (SQLite has one writer at a time anyway)."""
    if registry.db.dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def resolve_person(registry: RegistryParts, conn: Connection, key: str, actor: str) -> set[int]:
    """One application kept per person; the others are duplicates of it.

    Kept: the first registered among the person's applications that are in the window,
    not withdrawn and not incomplete (failing that, the first in the window and not
    withdrawn). It ranks by the earliest priority date among those eligible ones, so
    applying twice neither helps nor costs a place. Returns the ids of the person's
    applications (their statuses are to refresh)."""
    t = applications
    lock_person(registry, conn, key)
    rows = conn.execute(
        select(t.c.id, t.c.file_no, t.c.own_priority_date, t.c.priority_date, t.c.review_state,
               t.c.withdrawn_at, t.c.duplicate_of)
        .where(t.c.person_key == key).order_by(t.c.id)
    ).all()
    pool = [r for r in rows if r.withdrawn_at is None and window_status(r.own_priority_date, registry.policy) is None]
    candidates = [r for r in pool if r.review_state != "incomplete"]
    kept = (candidates or pool or [None])[0]
    earliest = min((r.own_priority_date for r in candidates), default=None)
    for r in rows:
        if kept is not None and r.id == kept.id:
            duplicate_of, priority = None, earliest or r.own_priority_date
        elif r in pool:
            duplicate_of, priority = kept.file_no, r.own_priority_date
        else:
            duplicate_of, priority = None, r.own_priority_date
        _link(conn, r, duplicate_of, priority, actor)
    return {r.id for r in rows}


def resolve_alone(conn: Connection, app_id: int, actor: str) -> set[int]:
    """An application without a person key stands on its own."""
    t = applications
    r = conn.execute(
        select(t.c.id, t.c.file_no, t.c.own_priority_date, t.c.priority_date, t.c.duplicate_of).where(t.c.id == app_id)
    ).one()
    _link(conn, r, None, r.own_priority_date, actor)
    return {app_id}


def _link(conn: Connection, r, duplicate_of: str | None, priority: date, actor: str) -> None:
    if (duplicate_of, priority) == (r.duplicate_of, r.priority_date):
        return
    conn.execute(update(applications).where(applications.c.id == r.id).values(
        duplicate_of=duplicate_of, priority_date=priority, updated_at=now()))
    if duplicate_of != r.duplicate_of:
        action = "duplicate_linked" if duplicate_of else "duplicate_unlinked"
        write_audit(conn, actor=actor, action=action, file_no=r.file_no, field="duplicate_of",
                    old=r.duplicate_of, new=duplicate_of, detail="same passport number and date of birth")
    if priority != r.priority_date:
        write_audit(conn, actor=actor, action="priority_date", file_no=r.file_no, field="priority_date",
                    old=iso(r.priority_date), new=iso(priority),
                    detail="the earliest priority date among the same person's applications")
