"""The derived facts of an application, kept right after every change.

An application's stored rows (fields, postmark, withdrawn flag...) are the facts; `settle`
recomputes from them what follows (the review state, the person key and duplicates, the
stored status), inside the caller's transaction. The stored status is one SQL expression
(records.stored_status); the ranking's verdict (ranked / beyond_cap) is read through
queue_places (records.status_column), so that ranking a million applications writes a
narrow table instead of every application.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, not_, select, update

from registry import empty_fields
from registry.models import applications, field_values, queue_places
from registry.people import resolve_alone, resolve_person
from registry.priority import PriorityPolicy, person_key
from registry.records import RegistryParts, document, eligible, form_of, status_column, stored_status, with_places, write_audit
from templates.spec import FormSpec
from templates.validation import validate

PERSON_FIELDS = ("passport_number", "birth_date")


def settle(registry: RegistryParts, conn: Connection, app_id: int, actor: str, *, registering: bool = False) -> None:
    """Recompute what follows from an application's facts: its review state and person
    key, the duplicates among that person's applications, and every status touched
    (each change audited; a new registration gets one event with its first status)."""
    app = conn.execute(select(applications).where(applications.c.id == app_id)).one()
    form = form_of(app.form_id, app.form_version)
    empty_fields.flag_machine_empty(conn, app_id, form)  # an empty required field read from paper: a person decides
    rows = conn.execute(
        select(field_values.c.name, field_values.c.value, field_values.c.needs_review)
        .where(field_values.c.application_id == app_id)
    ).all()
    state = review_state(registry.policy, form, rows, app.postmark_needs_review)
    waiting = {r.name for r in rows if r.needs_review}
    doc = document(rows, form)
    key = None
    if not waiting & set(PERSON_FIELDS):  # a key from a doubtful reading could link strangers
        key = person_key(doc.get("passport_number"), doc.get("birth_date"))
    changes = {}
    if state != app.review_state:
        changes["review_state"] = state
        if not registering:
            write_audit(conn, actor=actor, action="review_state", file_no=app.file_no, old=app.review_state, new=state)
    if key != app.person_key:
        changes["person_key"] = key
    if changes:
        conn.execute(update(applications).where(applications.c.id == app_id).values(**changes))
    touched = {app_id}
    for k in {app.person_key, key} - {None}:
        touched |= resolve_person(registry, conn, k, actor)
    if key is None:
        touched |= resolve_alone(conn, app_id, actor)
    refresh_status(registry, conn, touched, actor, quiet={app_id} if registering else set())
    if registering:
        status = conn.execute(select(applications.c.status).where(applications.c.id == app_id)).scalar_one()
        write_audit(conn, actor=actor, action="status", file_no=app.file_no, field="status", new=status,
                    detail=f"review state {state}")


def review_state(policy: PriorityPolicy, form: FormSpec, rows, postmark_needs_review: bool) -> str:
    """received (no form page read), in_review (something waits for a person), incomplete
    (a rule of the form broken) or complete."""
    if not rows:
        return "received"  # no form page was read: a person keys the form in
    if postmark_needs_review or any(r.needs_review for r in rows):
        return "in_review"
    problems = validate({"fields": document(rows, form)}, form, today=policy.today())
    return "incomplete" if problems else "complete"


def refresh_status(registry: RegistryParts, conn: Connection, ids: set[int], actor: str, *, quiet: set[int] = frozenset()) -> None:
    """Store the status of `ids` as the rules give it; each change audited (but those of `quiet`)."""
    t = applications
    ids = sorted(ids)
    before = _statuses(conn, ids)
    # Leaving the queue gives up the place of the last ranking.
    leaving = select(t.c.id).where(t.c.id.in_(ids), not_(eligible(registry.policy)))
    conn.execute(delete(queue_places).where(queue_places.c.application_id.in_(leaving)))
    conn.execute(update(t).where(t.c.id.in_(ids)).values(status=stored_status(registry.policy)))
    for app_id, (file_no, status) in _statuses(conn, ids).items():
        old = before.get(app_id, (None, None))[1]
        if old != status and app_id not in quiet:
            write_audit(conn, actor=actor, action="status", file_no=file_no, field="status", old=old, new=status)


def _statuses(conn: Connection, ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = conn.execute(select(applications.c.id, applications.c.file_no, status_column())
                        .select_from(with_places()).where(applications.c.id.in_(ids))).all()
    return {r[0]: (r[1], r[2]) for r in rows}
