"""Four eyes on identity: a change that moves ANOTHER candidate's file waits for a supervisor.

Passport number and date of birth make the person key that links a person's files
(registry/priority.py person_key): one reviewer setting them on one file could turn another
candidate's ranked file into a duplicate, or hand it an earlier priority date. So when a
person's change of an identity field would link, unlink, or change the status or priority
date of another file, it is not applied: it is held here, pending, and the field stays as
it was. A supervisor other than the one who asked confirms it (then it is applied, with the
other files' history saying why they changed) or rejects it.

How "would move another file" is found: review.review_set makes the change and settles it
in its transaction as usual; every change settle.py makes to any file is an audit event, so
the events written since the change began that name another file are exactly its effects
(on PostgreSQL the audit chain's lock, taken at the change's own event, keeps other
writers' events out until commit). If there is any, the transaction is rolled back and the
request is held in a transaction of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, func, select, update

from errors import ConflictError, NotFound, PermissionDenied
from registry.models import UTCDateTime, audit_events, users

IDENTITY_FIELDS = ("passport_number", "birth_date")
PENDING, CONFIRMED, REJECTED, STALE = "pending", "confirmed", "rejected", "stale"

metadata = MetaData()
identity_changes = Table(
    "identity_changes", metadata,
    Column("id", Integer, primary_key=True),
    Column("file_no", String(16), nullable=False),
    Column("field", String(64), nullable=False),
    Column("value", Text, nullable=False),
    Column("version_seen", Integer, nullable=True),
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("affects", Text, nullable=False),  # JSON: [{"file_no", "action", "old", "new"}]
    Column("state", String(16), nullable=False),
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("reason", Text, nullable=False, server_default=""),
    Index("ix_identity_changes_state", "state"),
)


class HeldForSupervisor(Exception):
    """Raised inside review_set's transaction (which rolls it back): hold this change instead."""

    def __init__(self, request: dict, affects: list[dict]):
        super().__init__(f"held: {request['file_no']} {request['field']}")
        self.request = request
        self.affects = affects


@dataclass(frozen=True)
class Confirmation:
    """A supervisor's yes to a held change, handed to review_set to apply it."""

    change_id: int
    by: str


def _now() -> datetime:
    return datetime.now(timezone.utc)


def mark(conn, field: str) -> int | None:
    """Before settling a change of `field`: where the audit trail stands (None: not an identity field)."""
    if field not in IDENTITY_FIELDS:
        return None
    return conn.execute(select(func.coalesce(func.max(audit_events.c.id), 0))).scalar_one()


def check(conn, since: int | None, *, file_no: str, field: str, value: str, by: str, version_seen: int | None,
          confirmation: Confirmation | None) -> None:
    """After settling: hold the change if it moved another file, unless a supervisor confirmed it
    (then each other file's history says why it changed, and the request is marked confirmed)."""
    if since is None:
        return
    moved = conn.execute(select(audit_events.c.file_no, audit_events.c.action, audit_events.c.old, audit_events.c.new)
                         .where(audit_events.c.id > since, audit_events.c.file_no.is_not(None),
                                audit_events.c.file_no != file_no).order_by(audit_events.c.id)).all()
    affects = [{"file_no": r.file_no, "action": r.action, "old": r.old, "new": r.new} for r in moved]
    if not affects:
        return
    if confirmation is None:
        raise HeldForSupervisor({"file_no": file_no, "field": field, "value": value, "version_seen": version_seen,
                                 "requested_by": by}, affects)
    now = _now()
    conn.execute(update(identity_changes).where(identity_changes.c.id == confirmation.change_id)
                 .values(state=CONFIRMED, decided_by=confirmation.by, decided_at=now))
    for other in sorted({a["file_no"] for a in affects}):
        conn.execute(audit_events.insert().values(
            at=now, actor=confirmation.by, action="identity_change_confirmed", file_no=other, field="person",
            old=None, new=file_no, detail=f"{field} of {file_no} set by {by}, confirmed by {confirmation.by} "
                                          f"(request #{confirmation.change_id}): this file is the same person's or no longer is"))


def hold(db, held: HeldForSupervisor) -> dict:
    """Record the held change (once: the same request again returns the first) and say so in
    the history of the file and of each file it would move."""
    r, now = held.request, _now()
    others = sorted({a["file_no"] for a in held.affects})
    with db.write() as conn:
        same = conn.execute(select(identity_changes.c.id).where(
            identity_changes.c.state == PENDING, identity_changes.c.file_no == r["file_no"],
            identity_changes.c.field == r["field"], identity_changes.c.value == r["value"])).scalar()
        if same is None:
            same = conn.execute(identity_changes.insert().values(
                file_no=r["file_no"], field=r["field"], value=r["value"], version_seen=r["version_seen"],
                requested_by=r["requested_by"], requested_at=now, affects=json.dumps(held.affects), state=PENDING,
                reason="").returning(identity_changes.c.id)).scalar_one()
            conn.execute(audit_events.insert(), [
                {"at": now, "actor": r["requested_by"], "action": "identity_change_held", "file_no": file_no,
                 "field": r["field"] if file_no == r["file_no"] else "person", "old": None,
                 "new": r["value"] if file_no == r["file_no"] else r["file_no"],
                 "detail": (f"would also change {', '.join(others)}: waits for a supervisor (request #{same})"
                            if file_no == r["file_no"] else
                            f"{r['field']} of {r['file_no']} set by {r['requested_by']} would change this file: "
                            f"held for a supervisor (request #{same})")}
                for file_no in [r["file_no"], *others]])
    return {"file_no": r["file_no"], "field": r["field"], "held": True, "identity_change": same,
            "affects": others, "value": r["value"],
            "message": f"held for a supervisor's confirmation (request #{same}): it would change {', '.join(others)}"}


def pending(db) -> list[dict]:
    """The changes waiting for a supervisor, oldest first."""
    with db.read() as conn:
        rows = conn.execute(select(identity_changes).where(identity_changes.c.state == PENDING)
                            .order_by(identity_changes.c.id)).all()
    return [_as_dict(r) for r in rows]


def waiting_fields(db) -> list[tuple[str, str]]:
    """(file number, field) of every held change: the review loop does not offer them meanwhile."""
    with db.read() as conn:
        return [(r.file_no, r.field) for r in conn.execute(
            select(identity_changes.c.file_no, identity_changes.c.field).where(identity_changes.c.state == PENDING))]


def get(db, change_id: int) -> dict:
    with db.read() as conn:
        row = conn.execute(select(identity_changes).where(identity_changes.c.id == change_id)).first()
    if row is None:
        raise NotFound(f"no identity change #{change_id}: `csq review pending` lists them")
    return _as_dict(row)


def _as_dict(r) -> dict:
    return {"id": r.id, "file_no": r.file_no, "field": r.field, "value": r.value, "version_seen": r.version_seen,
            "requested_by": r.requested_by, "requested_at": r.requested_at.isoformat() if r.requested_at else None,
            "affects": json.loads(r.affects), "state": r.state, "decided_by": r.decided_by,
            "decided_at": r.decided_at.isoformat() if r.decided_at else None, "reason": r.reason}


def _decider(db, change: dict, by: str) -> str:
    """`by` may decide: an active supervisor, not the person who asked (four eyes)."""
    by = (by or "").strip()
    if change["state"] != PENDING:
        raise ConflictError(f"identity change #{change['id']} was already {change['state']} by {change['decided_by']}")
    with db.read() as conn:
        role = conn.execute(select(users.c.role).where(users.c.name == by, users.c.active.is_(True))).scalar()
    if role != "supervisor":
        raise PermissionDenied(f"{by or 'nobody'} is not an active supervisor: a supervisor confirms or rejects identity changes")
    if by == change["requested_by"]:
        raise PermissionDenied(f"{by} asked for identity change #{change['id']}: another supervisor decides it (four eyes)")
    return by


def confirm(registry, change_id: int, *, by: str) -> dict:
    """Apply a held change as its requester asked it, confirmed by `by` (a supervisor)."""
    change = get(registry.db, change_id)
    by = _decider(registry.db, change, by)
    try:
        result = registry.review_set(change["file_no"], change["field"], change["value"], by=change["requested_by"],
                                     expected_version=change["version_seen"], confirmation=Confirmation(change_id, by))
    except ConflictError:
        _decide(registry.db, change, STALE, by, "the field changed after the request: ask again on the new value")
        raise ConflictError(f"{change['file_no']} {change['field']} changed after request #{change_id} was made: "
                            "it is set aside; the reviewer decides again on the new value") from None
    if get(registry.db, change_id)["state"] == PENDING:  # it no longer moves any other file: applied all the same
        _decide(registry.db, change, CONFIRMED, by, "no other file moves any more")
    return {**result, "identity_change": change_id, "confirmed_by": by}


def reject(db, change_id: int, *, by: str, reason: str = "") -> dict:
    change = get(db, change_id)
    by = _decider(db, change, by)
    _decide(db, change, REJECTED, by, reason.strip() or "rejected by a supervisor")
    return {**get(db, change_id)}


def _decide(db, change: dict, state: str, by: str, reason: str) -> None:
    now = _now()
    others = sorted({a["file_no"] for a in change["affects"]})
    with db.write() as conn:
        done = conn.execute(update(identity_changes).where(identity_changes.c.id == change["id"],
                                                           identity_changes.c.state == PENDING)
                            .values(state=state, decided_by=by, decided_at=now, reason=reason)).rowcount
        if not done:
            raise ConflictError(f"identity change #{change['id']} was decided by someone else just now")
        conn.execute(audit_events.insert(), [
            {"at": now, "actor": by, "action": f"identity_change_{state}", "file_no": file_no,
             "field": change["field"] if file_no == change["file_no"] else "person", "old": None,
             "new": change["value"] if file_no == change["file_no"] else change["file_no"],
             "detail": f"request #{change['id']} by {change['requested_by']}: {reason}"}
            for file_no in [change["file_no"], *others]])

