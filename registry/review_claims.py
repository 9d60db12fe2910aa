"""Review claims and the paged review queue, for the review station (station/).

Two reviewers must never type the same field at once. When the station shows a field to a
reviewer it *claims* it for a while (CLAIM_TIMEOUT, set by the caller); another reviewer
asking for work gets the next field nobody holds. A claim is only a courtesy that avoids
double work: the registry's field versions are what guarantee that no save overwrites a
newer one (a reviewer whose claim expired still saves, unless someone saved in between).

This module only READS the registry's own tables (applications, field_values, pages) and
owns one table, review_claims. Every change to a field still goes through
registry.service.Registry.review_set, which validates and audits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from datetime import datetime, timedelta, timezone
from typing import Iterable

import json

from sqlalchemy import Column, Integer, MetaData, String, Table, and_, delete, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from registry.models import NAMING, UTCDateTime, applications, audit_events, envelopes, field_values, pages, queue_places
from registry.store import StoredPage

# The claims live in their own metadata: the registry's models describe the registry's
# tables, and this one belongs to the station's workflow (see migrations/versions).
claims_metadata = MetaData(naming_convention=NAMING)
review_claims = Table(
    "review_claims",
    claims_metadata,
    Column("application_id", Integer, primary_key=True),
    Column("field", String(64), primary_key=True),
    Column("claimed_by", String(64), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Postmark dates a clerk wrote but the machine could not read for sure wait for a
# supervisor; they come in the queue under this pseudo-field name.
POSTMARK_FIELD = "postmark_date"


def ensure_schema(db) -> None:
    """Create the claims table if this database has none yet (idempotent, every backend)."""
    with db.write() as conn:
        claims_metadata.create_all(conn, checkfirst=True)


@dataclass(frozen=True)
class WaitingField:
    """One field waiting for a person, with what the station needs to show it."""

    file_no: str
    field: str
    value: str | None  # as stored: text as written, bools JSON-encoded ('true'/'false')
    source: str
    confidence: float | None
    reasons: tuple[str, ...]
    version: int | None  # None for a postmark (it has no field version)
    page_no: int | None
    box: tuple[float, float, float, float] | None
    page_image: StoredPage | None  # the stored page the field was read on
    form_id: str | None
    form_version: str | None
    rank: int | None
    priority_date: str | None
    channel: str
    updated_by: str | None = None
    updated_at: datetime | None = None
    machine_value: str | None = None
    evidence: str | None = None  # the reader's evidence (JSON), whose cells hold its other readings

    @property
    def key(self) -> tuple[str, str]:
        return (self.file_no, self.field)


@dataclass(frozen=True)
class Claim:
    file_no: str
    field: str
    claimed_by: str
    expires_at: datetime


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


# Spelled bare, as the registry's partial index ix_field_values_waiting is: SQLite uses a
# partial index only when the query repeats its term, and `needs_review = 1` is another term
# (measured with 10,000 fields waiting: 64 ms against 1 ms for the count).
_WAITING = text("field_values.needs_review")


def _pending_filter():
    """The fields `Registry.review_list` shows: flagged, in an application being verified."""
    return and_(_WAITING, applications.c.status == "in_review")


def _postmark_filter():
    """Separator postmarks read with doubt, waiting for a supervisor (as in review_list)."""
    return and_(applications.c.postmark_needs_review.is_(True), applications.c.status == "in_review")


# Best priority first (the registry's own order: priority date, then the published draw),
# then the fields of one application in the order the scanner stored them (the form's).
_APP_ORDER = (applications.c.priority_date, applications.c.draw_key, applications.c.file_no)
_ORDER = _APP_ORDER + (field_values.c.id,)

# The rank of the last ranking lives in queue_places (migration 0002); unranked files have
# no row there, hence the outer join.
_APPS = applications.outerjoin(queue_places, queue_places.c.application_id == applications.c.id)
_RANK = queue_places.c.rank.label("rank")

_APP_COLUMNS = (
    applications.c.file_no, applications.c.form_id, applications.c.form_version, _RANK,
    applications.c.priority_date, applications.c.draw_key, applications.c.channel, applications.c.id.label("application_id"),
)
_FIELD_COLUMNS = _APP_COLUMNS + (
    field_values.c.name, field_values.c.value, field_values.c.source, field_values.c.confidence, field_values.c.reasons,
    field_values.c.version, field_values.c.page_no, field_values.c.box_x0, field_values.c.box_y0, field_values.c.box_x1,
    field_values.c.box_y1, field_values.c.updated_by, field_values.c.updated_at, field_values.c.machine_value,
    field_values.c.evidence,
)
_FIELDS_JOIN = field_values.join(_APPS, applications.c.id == field_values.c.application_id)


def _waiting(conn, row) -> WaitingField:
    """A candidate row as a WaitingField, with the image of the page it was read on."""
    if row.name == POSTMARK_FIELD:
        return _postmark_waiting(conn, row)
    box = None
    if row.box_x0 is not None and row.box_y1 is not None:
        box = (row.box_x0, row.box_y0, row.box_x1, row.box_y1)
    return WaitingField(
        file_no=row.file_no, field=row.name, value=row.value, source=row.source, confidence=row.confidence,
        reasons=tuple(r for r in (row.reasons or "").split(",") if r), version=row.version, page_no=row.page_no,
        box=box, page_image=_page_image(conn, row.application_id, row.page_no, "form"), form_id=row.form_id,
        form_version=row.form_version, rank=row.rank, priority_date=_iso(row.priority_date), channel=row.channel,
        updated_by=row.updated_by, updated_at=row.updated_at, machine_value=row.machine_value, evidence=row.evidence,
    )


def _postmark_waiting(conn, row) -> WaitingField:
    """The separator's postmark as a field to confirm: its reading, its box on the separator."""
    from templates.spec import load_separator

    evidence = conn.execute(select(envelopes.c.separator_evidence).where(envelopes.c.application_id == row.application_id)).scalar()
    read = (json.loads(evidence) if evidence else {}).get("postmark_date", {})
    try:
        box = load_separator().field(POSTMARK_FIELD).bounds
    except KeyError:  # a separator template without the field: no crop, still reviewable
        box = None
    return WaitingField(
        file_no=row.file_no, field=POSTMARK_FIELD, value=read.get("value"), source=read.get("source", "ocr"),
        confidence=read.get("confidence"), reasons=("postmark_uncertain", *read.get("reasons", [])), version=None,
        page_no=None, box=box, page_image=_page_image(conn, row.application_id, None, "separator"), form_id=None,
        form_version=None, rank=row.rank, priority_date=_iso(row.priority_date), channel=row.channel,
    )


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _page_image(conn, application_id: int, page_no: int | None, kind: str) -> StoredPage | None:
    query = select(pages.c.image_path, pages.c.view).where(pages.c.application_id == application_id, pages.c.kind == kind)
    if kind == "form":
        if page_no is None:
            return None
        query = query.where(pages.c.page_no == page_no)
    row = conn.execute(query.order_by(pages.c.sequence).limit(1)).first()
    return StoredPage(row.image_path, row.view) if row is not None else None


def _held_by_other(user: str, now: datetime, application_id, field):
    return (
        select(review_claims.c.application_id)
        .where(review_claims.c.application_id == application_id, review_claims.c.field == field,
               review_claims.c.expires_at > now, review_claims.c.claimed_by != user)
        .exists()
    )


# Applications are read this many at a time, best first, until enough waiting items are
# found: the first batch nearly always suffices, so the cost does not grow with the backlog.
APP_BATCH = 8

_FIELD_ONLY_COLUMNS = (
    field_values.c.application_id, field_values.c.name, field_values.c.value, field_values.c.source,
    field_values.c.confidence, field_values.c.reasons, field_values.c.version, field_values.c.page_no,
    field_values.c.box_x0, field_values.c.box_y0, field_values.c.box_x1, field_values.c.box_y1,
    field_values.c.updated_by, field_values.c.updated_at, field_values.c.machine_value, field_values.c.evidence,
    field_values.c.id.label("field_order"),
)


def _candidates(conn, user: str, now: datetime, limit: int, *, with_postmarks: bool, file_no: str | None = None) -> list:
    """Waiting items nobody else holds, best first: fields, and postmarks if asked; only
    those of application `file_no` when given."""
    found: list = []
    offset = 0
    being_verified = applications.c.status == "in_review"
    if file_no is not None:
        being_verified = and_(being_verified, applications.c.file_no == file_no)
    while len(found) < limit:
        apps = conn.execute(
            select(*_APP_COLUMNS, applications.c.postmark_needs_review).select_from(_APPS)
            .where(being_verified).order_by(*_APP_ORDER).offset(offset).limit(APP_BATCH)
        ).all()
        if not apps:
            break
        offset += len(apps)
        ids = [a.application_id for a in apps]
        waiting: dict[int, list] = {}
        for f in conn.execute(
            select(*_FIELD_ONLY_COLUMNS)
            .where(field_values.c.application_id.in_(ids), _WAITING,
                   ~_held_by_other(user, now, field_values.c.application_id, field_values.c.name))
            .order_by(field_values.c.application_id, field_values.c.id)
        ):
            waiting.setdefault(f.application_id, []).append(f)
        held_postmarks = set()
        if with_postmarks and any(a.postmark_needs_review for a in apps):
            held_postmarks = set(conn.execute(
                select(review_claims.c.application_id)
                .where(review_claims.c.application_id.in_(ids), review_claims.c.field == POSTMARK_FIELD,
                       review_claims.c.expires_at > now, review_claims.c.claimed_by != user)
            ).scalars())
        for a in apps:
            if len(found) >= limit:
                break
            if with_postmarks and a.postmark_needs_review and a.application_id not in held_postmarks:
                found.append(SimpleNamespace(**a._mapping, name=POSTMARK_FIELD, field_order=-1))
            for f in waiting.get(a.application_id, ())[: limit - len(found)]:
                found.append(SimpleNamespace(**{**a._mapping, **f._mapping}))
    return found[:limit]


def _own_claims(conn, user: str, now: datetime) -> set[tuple[int, str]]:
    return set(conn.execute(
        select(review_claims.c.application_id, review_claims.c.field)
        .where(review_claims.c.claimed_by == user, review_claims.c.expires_at > now)
    ).all())


def _take(conn, dialect: str, application_id: int, field: str, user: str, now: datetime, timeout: timedelta) -> bool:
    """Claim (or renew) one item unless someone else holds it; True when it is ours."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(review_claims).values(application_id=application_id, field=field, claimed_by=user,
                                         claimed_at=now, expires_at=now + timeout)
    stmt = stmt.on_conflict_do_update(
        index_elements=[review_claims.c.application_id, review_claims.c.field],
        set_={"claimed_by": user, "claimed_at": now, "expires_at": now + timeout},
        where=(review_claims.c.expires_at <= now) | (review_claims.c.claimed_by == user),
    )
    # RETURNING, not rowcount: psycopg reports -1 for an upsert; a row comes back only when
    # the insert or the conditional update took place.
    return conn.execute(stmt.returning(review_claims.c.claimed_by)).first() is not None


def claim_next(db, user: str, *, timeout: timedelta, skip: Iterable[tuple[str, str]] = (),
               now: datetime | None = None, may_postmark: bool = False) -> WaitingField | None:
    """Claim and return the best waiting item nobody else holds (None: nothing left).

    A field this reviewer already holds comes back first (a reload shows the same field);
    `skip` are the items they postponed; postmarks only when `may_postmark` (supervisors).
    """
    return claim_next_and_peek(db, user, timeout=timeout, skip=skip, now=now, may_postmark=may_postmark)[0]


def claim_next_and_peek(db, user: str, *, timeout: timedelta, skip: Iterable[tuple[str, str]] = (),
                        now: datetime | None = None, may_postmark: bool = False,
                        prefer_file: str | None = None) -> tuple[WaitingField | None, WaitingField | None]:
    """claim_next, and the item after it (not claimed: the station prefetches its crop).
    `prefer_file`: the application just worked on; its waiting fields come first, so that a
    file opened from the queue is finished before the loop goes back to the best priority."""
    now, skip = _now(now), set(skip)
    with db.write() as conn:
        # The write transaction serialises concurrent callers (SQLite: BEGIN IMMEDIATE and a
        # lock; PostgreSQL: _take's conditional upsert), so one item goes to one reviewer.
        own = _own_claims(conn, user, now)
        limit = len(skip) + len(own) + 8
        rows = _candidates(conn, user, now, limit, with_postmarks=may_postmark)
        if prefer_file is not None and not any(r.file_no == prefer_file for r in rows):
            # Not among the best: a file opened from the queue. (Among them, the sort below suffices.)
            same_file = _candidates(conn, user, now, limit, with_postmarks=may_postmark, file_no=prefer_file)
            rows = same_file + [r for r in rows if r.file_no != prefer_file]
        rows = [r for r in rows if (r.file_no, r.name) not in skip]
        # Stable sorts: priority order kept within each group.
        rows.sort(key=lambda r: (r.application_id, r.name) not in own)
        rows.sort(key=lambda r: r.file_no != prefer_file)
        for i, row in enumerate(rows):
            if _take(conn, db.dialect, row.application_id, row.name, user, now, timeout):
                upcoming = rows[i + 1] if i + 1 < len(rows) else None
                return _waiting(conn, row), (_waiting(conn, upcoming) if upcoming is not None else None)
    return None, None


def peek_next(db, user: str, *, skip: Iterable[tuple[str, str]] = (), now: datetime | None = None,
              may_postmark: bool = False) -> WaitingField | None:
    """The item claim_next would give after `skip`, without claiming it (to prefetch its crop)."""
    now, skip = _now(now), set(skip)
    with db.read() as conn:
        for row in _candidates(conn, user, now, len(skip) + 8, with_postmarks=may_postmark):
            if (row.file_no, row.name) not in skip:
                return _waiting(conn, row)
    return None


# ------------------------------------------------------------------ group verification
# ABBYY FlexiCapture's "group verification": a person confirms at once every field read the
# same way (all the MAROC of the country of birth side by side), far faster than one by one.


@dataclass(frozen=True)
class WaitingGroup:
    """Fields of one name waiting for a person, all read as the same value."""

    field: str
    value: str  # as stored
    count: int


def _group_filter(user: str, now: datetime):
    return and_(_pending_filter(), field_values.c.value.is_not(None), field_values.c.value != "",
                ~_held_by_other(user, now, field_values.c.application_id, field_values.c.name))


def waiting_groups(db, user: str, *, min_size: int, limit: int, skip: Iterable[tuple[str, str]] = (),
                   now: datetime | None = None) -> list[WaitingGroup]:
    """The (field, reading) pairs shared by at least `min_size` waiting fields nobody else
    holds, the biggest first; `skip` are (file_no, field) items this person set aside."""
    now, skip = _now(now), set(skip)
    count = func.count().label("n")
    with db.read() as conn:
        rows = conn.execute(
            select(field_values.c.name, field_values.c.value, count).select_from(_FIELDS_JOIN)
            .where(_group_filter(user, now)).group_by(field_values.c.name, field_values.c.value)
            .having(count >= min_size).order_by(count.desc(), field_values.c.name, field_values.c.value)
        ).all()
        counts = {(r.name, r.value): r.n for r in rows}
        if skip and counts:
            set_aside = conn.execute(
                select(applications.c.file_no, field_values.c.name, field_values.c.value).select_from(_FIELDS_JOIN)
                .where(_pending_filter(), applications.c.file_no.in_({file_no for file_no, _ in skip}))
            ).all()
            for r in set_aside:
                if (r.file_no, r.name) in skip and (r.name, r.value) in counts:
                    counts[(r.name, r.value)] -= 1
    groups = [WaitingGroup(name, value, n) for (name, value), n in counts.items() if n >= min_size]
    return sorted(groups, key=lambda g: (-g.count, g.field, g.value))[:limit]


def claim_group(db, user: str, field: str, value: str, *, timeout: timedelta, limit: int,
                skip: Iterable[tuple[str, str]] = (), now: datetime | None = None) -> list[WaitingField]:
    """Claim up to `limit` waiting fields named `field` read as `value`, best priority first."""
    now, skip = _now(now), set(skip)
    with db.write() as conn:
        rows = conn.execute(
            select(*_FIELD_COLUMNS, field_values.c.id.label("field_order")).select_from(_FIELDS_JOIN)
            .where(_group_filter(user, now), field_values.c.name == field, field_values.c.value == value)
            .order_by(*_ORDER).limit(limit + len(skip))
        ).all()
        rows = [r for r in rows if (r.file_no, r.name) not in skip][:limit]
        return [_waiting(conn, r) for r in rows if _take(conn, db.dialect, r.application_id, r.name, user, now, timeout)]


def _item_row(conn, file_no: str, field: str):
    if field == POSTMARK_FIELD:
        return conn.execute(
            select(*_APP_COLUMNS, literal(POSTMARK_FIELD).label("name"), literal(-1).label("field_order"))
            .select_from(_APPS).where(applications.c.file_no == file_no)
        ).first()
    return conn.execute(
        select(*_FIELD_COLUMNS, field_values.c.id.label("field_order")).select_from(_FIELDS_JOIN)
        .where(applications.c.file_no == file_no, field_values.c.name == field)
    ).first()


def field_for_review(db, file_no: str, field: str) -> WaitingField | None:
    """One item of one application, waiting or not (None: no such application or field)."""
    with db.read() as conn:
        row = _item_row(conn, file_no, field)
        return _waiting(conn, row) if row is not None else None


def claim(db, file_no: str, field: str, user: str, *, timeout: timedelta, now: datetime | None = None) -> Claim | None:
    """Claim one given item. None when it is now ours (or does not exist), else the claim
    of the colleague who holds it."""
    now = _now(now)
    with db.write() as conn:
        row = _item_row(conn, file_no, field)
        if row is None or _take(conn, db.dialect, row.application_id, field, user, now, timeout):
            return None
        held = conn.execute(
            select(review_claims.c.claimed_by, review_claims.c.expires_at)
            .where(review_claims.c.application_id == row.application_id, review_claims.c.field == field)
        ).first()
        return Claim(file_no, field, held.claimed_by, held.expires_at) if held else None


def stored_values(db, file_no: str, names: Iterable[str]) -> dict[str, str | None]:
    """The stored values of some fields of one application (those it has), by name."""
    with db.read() as conn:
        return dict(conn.execute(
            select(field_values.c.name, field_values.c.value).select_from(_FIELDS_JOIN)
            .where(applications.c.file_no == file_no, field_values.c.name.in_(list(names)))
        ).all())


def release(db, file_no: str, field: str, user: str) -> None:
    """Give an item back (saved or postponed). Only one's own claim is released."""
    with db.write() as conn:
        app_id = conn.execute(select(applications.c.id).where(applications.c.file_no == file_no)).scalar()
        if app_id is not None:
            conn.execute(delete(review_claims).where(review_claims.c.application_id == app_id,
                                                     review_claims.c.field == field, review_claims.c.claimed_by == user))


def purge_expired(db, *, now: datetime | None = None) -> int:
    """Forget claims that ran out (they are ignored anyway; this keeps the table small)."""
    with db.write() as conn:
        return conn.execute(delete(review_claims).where(review_claims.c.expires_at <= _now(now))).rowcount


def pending_count(db, *, with_postmarks: bool = False) -> int:
    """How many items wait for a person (the fields; postmarks too if asked)."""
    with db.read() as conn:
        count = conn.execute(select(func.count()).select_from(_FIELDS_JOIN).where(_pending_filter())).scalar_one()
        if with_postmarks:
            count += conn.execute(select(func.count()).select_from(applications).where(_postmark_filter())).scalar_one()
        return count


@dataclass(frozen=True)
class QueuePage:
    rows: list[dict]  # per application: file_no, rank, priority_date, channel, status, fields
    total_applications: int
    total_items: int


def queue_page(db, *, offset: int, limit: int, now: datetime | None = None, with_postmarks: bool = True) -> QueuePage:
    """One page of the applications being verified, best priority first, each with the
    items waiting in it (fields in form order, a postmark first) and who holds them.
    `total_items` counts postmarks only `with_postmarks` (what a supervisor can do)."""
    now = _now(now)
    being_verified = applications.c.status == "in_review"
    with db.read() as conn:
        total_apps = conn.execute(select(func.count()).select_from(applications).where(being_verified)).scalar_one()
        apps = conn.execute(
            select(applications.c.id, applications.c.file_no, _RANK, applications.c.priority_date,
                   applications.c.channel, applications.c.status, applications.c.postmark_needs_review)
            .select_from(_APPS).where(being_verified).order_by(*_APP_ORDER).offset(offset).limit(limit)
        ).all()
        ids = [a.id for a in apps]
        items = conn.execute(
            select(field_values.c.application_id, field_values.c.name, field_values.c.reasons)
            .where(field_values.c.application_id.in_(ids), _WAITING)
            .order_by(field_values.c.application_id, field_values.c.id)
        ).all() if ids else []
        holders = dict(((r.application_id, r.field), r.claimed_by) for r in conn.execute(
            select(review_claims.c.application_id, review_claims.c.field, review_claims.c.claimed_by)
            .where(review_claims.c.application_id.in_(ids), review_claims.c.expires_at > now)
        )) if ids else {}
    by_app: dict[int, list] = {}
    for a in apps:
        if a.postmark_needs_review:
            by_app.setdefault(a.id, []).append({"field": POSTMARK_FIELD, "reason": "postmark_uncertain",
                                                "claimed_by": holders.get((a.id, POSTMARK_FIELD))})
    for r in items:
        by_app.setdefault(r.application_id, []).append({"field": r.name, "reason": (r.reasons or "").replace(",", ", "),
                                                        "claimed_by": holders.get((r.application_id, r.name))})
    rows = [{"file_no": a.file_no, "rank": a.rank, "priority_date": _iso(a.priority_date), "channel": a.channel,
             "status": a.status, "fields": by_app.get(a.id, [])} for a in apps]
    return QueuePage(rows, total_apps, pending_count(db, with_postmarks=with_postmarks))


# ----------------------------------------------------------------- images and history
# Small reads the station makes many times a minute; Registry.application builds the whole
# file (fields, validation, audit) and is kept for the application page.


def page_image_path(db, file_no: str, sequence: int) -> StoredPage | None:
    """The stored image of an application's page, by its position in the envelope."""
    with db.read() as conn:
        row = conn.execute(
            select(pages.c.image_path, pages.c.view).join(applications, applications.c.id == pages.c.application_id)
            .where(applications.c.file_no == file_no, pages.c.sequence == sequence).order_by(pages.c.id).limit(1)
        ).first()
    return StoredPage(row.image_path, row.view) if row is not None else None


def envelope_image_path(db, file_no: str) -> str | None:
    with db.read() as conn:
        return conn.execute(
            select(envelopes.c.image_path).join(applications, applications.c.id == envelopes.c.application_id)
            .where(applications.c.file_no == file_no)
        ).scalar()


def recent_audit(db, *, limit: int, before_id: int | None = None) -> list[dict]:
    """The latest audit events of the whole registry, newest first, a page at a time."""
    query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(audit_events.c.id < before_id)
    with db.read() as conn:
        return [
            {"id": e.id, "at": _iso(e.at), "actor": e.actor, "action": e.action, "file_no": e.file_no,
             "field": e.field, "old": e.old, "new": e.new, "detail": e.detail}
            for e in conn.execute(query)
        ]
