"""The registry: one place where applications of both channels are kept, ordered and reviewed.

`Registry.open(db_url, data_dir)` migrates the database and returns the service. Every
public method is one short transaction (or a streaming read); library errors are
errors.CsqError subclasses with a message for a person.

How the derived facts stay right: an application's stored rows (fields, postmark, withdrawn
flag...) are the facts; `_settle` recomputes from them what follows (the review state, the
person key and duplicates, the stored status) after every change, inside the same
transaction. The stored status is one SQL expression (`_stored_status`); the ranking's
verdict (ranked / beyond_cap) is read through queue_places (`status_column`), so that
ranking a million applications writes a narrow table instead of every application.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
from array import array
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Iterator

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, and_, bindparam, case, cast, delete, false, func, insert, not_, select, text, true, type_coerce, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from errors import BadArguments, ConflictError, DatabaseError, InvalidData, NotFound
from registry import empty_fields, letters
from registry.db import Database
from registry.filenumber import normalize_file_no, format_file_no
from registry.models import (
    QUEUE_PREDICATE,
    ROLES,
    applications,
    audit_events,
    envelopes,
    field_values,
    file_counters,
    pages,
    queue_places,
    settings,
    users,
)
from registry.priority import (
    PENDING_STATES,
    RULE_ILLEGIBLE,
    RULE_SUPERVISOR,
    PriorityPolicy,
    draw_key,
    load_policy,
    mail_priority,
    person_key,
    window_status,
)
from registry.store import ImageStore
from scan.model import EnvelopeReading, FieldReading, IntakeResult, PageRecord
from templates.spec import CURRENT_VERSION, FORM_ID, FormSpec, load_form, load_separator
from templates.validation import check_field, normalize_value, parse_date, validate

log = logging.getLogger("csq.registry")

MAIL_ACTOR = "mail-intake"
ONLINE_ACTOR = "online-intake"
MACHINE_SOURCES = ("ocr", "omr", "barcode")
BOOL_TYPES = ("checkbox", "signature")
# The letter goes out only when the name and address on it are final.
ADDRESS_FIELDS = ("given_names", "family_name", "address_line", "city", "postal_code", "country_of_residence")
PERSON_FIELDS = ("passport_number", "birth_date")
POSTMARK_FIELD = "postmark_date"  # in the review list: a separator postmark to confirm
MIN_PASSWORD_LENGTH = 10
EXPORT_BATCH = 2_000
STREAM_BATCH = 20_000
RULES_SETTING = "priority_rules"  # the published rules the stored dates, keys and statuses follow

# Queue order, the same as priority.priority_order: date, then draw key, then file number.
_ORDER = (applications.c.priority_date, applications.c.draw_key, applications.c.file_no)

# The statuses of applications out of the queue, counted in the rank summary.
NOT_RANKED = ("incomplete", "premature", "late", "duplicate", "withdrawn")

EXPORT_KEYS = ("file_no", "channel", "status", "postmark_date", "received_date", "submitted_at", "priority_date", "rank")

_password_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that a wrong name costs as long as
    a wrong password (no user enumeration by timing). Made on first need: hashing is slow."""
    return _password_hasher.hash("csq-intake: no such user")


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
_APPLICATION_WITH_PLACE = (
    *[c for c in applications.c if c.name != "status"],
    applications.c.status.label("stored_status"),
    queue_places.c.rank,
    queue_places.c.within_cap,
    status_column().label("status"),
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _encode(value) -> str | None:
    """A field value as stored: text as is, booleans as JSON, empty as NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def _form(form_id: str | None, version: str | None) -> FormSpec:
    return load_form(form_id or FORM_ID, version or CURRENT_VERSION)


def _decode(value: str | None, name: str, form: FormSpec):
    if value is None:
        return None
    try:
        if form.field(name).type in BOOL_TYPES:
            return json.loads(value)
    except KeyError:
        pass
    return value


def _lines(items) -> str:
    return "\n".join(str(i) for i in items)


def _split_lines(text: str | None) -> list[str]:
    return [line for line in (text or "").split("\n") if line]


@dataclass(frozen=True)
class _Tally:
    """What a ranking wrote: places 1..queued, and the places held by applications being verified."""

    queued: int
    first: int | None
    last: int | None
    pending_within: int
    pending_beyond: int


@dataclass(frozen=True)
class StaffLogin:
    """A staff account as a session sees it: checked again on every request."""

    name: str
    role: str
    session_generation: int


@dataclass(frozen=True)
class MailDates:
    """What the mailroom's dates come to for one envelope (see `Registry.register_mail`)."""

    postmark: date | None
    received: date
    from_separator: bool
    postmark_needs_review: bool


class Registry:
    def __init__(self, db: Database, data_dir: Path, policy: PriorityPolicy):
        self.db = db
        self.data_dir = Path(data_dir)
        self.policy = policy
        self.images = ImageStore(self.data_dir)

    @classmethod
    def open(cls, db_url: str, data_dir: Path, *, policy: PriorityPolicy | None = None) -> "Registry":
        """The registry at `db_url`, its schema brought up to date (the explicit `init` too)."""
        policy = policy or load_policy()
        db = Database(db_url)
        try:
            db.migrate()
            registry = cls(db, Path(data_dir), policy)
            registry._adopt_rules()
        except BaseException:
            db.dispose()
            raise
        return registry

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ================================================================== mail intake

    def register_mail(
        self,
        reading: EnvelopeReading,
        *,
        postmark: date | None = None,
        received: date | None = None,
        envelope_image: bytes | None = None,
        by: str = MAIL_ACTOR,
    ) -> IntakeResult:
        """One envelope becomes one application, all its rows in one transaction.

        `postmark` None means the clerk found it illegible or missing, unless the envelope
        came with a separator sheet whose postmark the machine read for sure: then that date
        counts. A separator postmark read with doubt counts as illegible for now and goes to
        the review list as `postmark_date`. `received` None: the separator's date if read for
        sure, else today. The same envelope again (same fingerprint) returns the application
        already registered, `created=False`, and writes nothing.
        """
        already = self._envelope_result(reading.fingerprint)
        if already is not None:
            return already
        dates = self.mail_dates(reading, postmark, received)
        for f in reading.fields:
            if f.source not in MACHINE_SOURCES:
                raise ValueError(f"field {f.name}: source {f.source!r} is not a machine source {MACHINE_SOURCES}")
        # Images go to disk before the transaction: they are stored by content, so a failed
        # or repeated intake leaves at most a file that the retry finds already in place.
        stored_pages = [(page, *self.images.put(page.image_png)) for page in _pages_of(reading)]
        envelope_bytes = envelope_image or reading.envelope_image_png
        stored_envelope = self.images.put(envelope_bytes) if envelope_bytes else None
        try:
            with self.db.write() as conn:
                if self._find_envelope(conn, reading.fingerprint) is None:
                    file_no = self._insert_mail(conn, reading, dates, stored_pages, stored_envelope, by)
                else:
                    file_no = None  # registered by another process a moment ago
        except sa_exc.IntegrityError as exc:
            file_no = None
            if self._envelope_result(reading.fingerprint) is None:
                raise DatabaseError(f"the registry {self.db.shown_url} refused the envelope: {exc.orig}") from exc
        if file_no is None:
            return self._envelope_result(reading.fingerprint)
        self._try_letter(file_no)
        with self.db.read() as conn:
            return self._intake_result(conn, file_no, created=True)

    def mail_dates(self, reading: EnvelopeReading, postmark: date | None, received: date | None) -> MailDates:
        """The postmark and received dates of an envelope, from the clerk and the separator."""
        sep = reading.separator
        if received is None:
            read = sep.received_date if sep else None
            received = _confident_date(read) or self.policy.today()
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

    def _insert_mail(self, conn: Connection, reading: EnvelopeReading, dates: MailDates, stored_pages, stored_envelope, by: str) -> str:
        now = _now()
        priority = mail_priority(dates.postmark, dates.received, self.policy, from_separator=dates.from_separator)
        file_no = self._allocate_file_no(conn, dates.received.year, "mail")
        app_id = conn.execute(applications.insert().values(
            file_no=file_no, channel="mail", status="received", review_state="received",
            postmark_date=dates.postmark, postmark_illegible=priority.postmark_illegible,
            postmark_needs_review=dates.postmark_needs_review, received_date=dates.received, submitted_at=None,
            own_priority_date=priority.day, priority_date=priority.day, priority_rule=priority.rule,
            draw_key=draw_key(self.policy.draw_seed, file_no), form_id=reading.form_id, form_version=reading.version,
            registered_at=now, registered_by=by, updated_at=now, problems=_lines(reading.problems),
        ).returning(applications.c.id)).scalar_one()
        conn.execute(envelopes.insert().values(
            application_id=app_id, fingerprint=reading.fingerprint,
            separator_serial=reading.separator.serial if reading.separator else None,
            image_sha256=stored_envelope[0] if stored_envelope else None,
            image_path=stored_envelope[1] if stored_envelope else None,
            separator_evidence=_separator_evidence(reading),
        ))
        self._insert_pages(conn, app_id, stored_pages)
        self._insert_fields(conn, app_id, reading.fields, by, now)
        self._audit(conn, actor=by, action="registered", file_no=file_no, new="mail", detail=json.dumps({
            "fingerprint": reading.fingerprint, "pages": len(reading.pages), "postmark": _iso(dates.postmark),
            "received": dates.received.isoformat(), "priority_date": priority.day.isoformat(), "priority_rule": priority.rule,
            "separator": reading.separator.serial if reading.separator else None,
        }))
        self._settle(conn, app_id, by, registering=True)
        return file_no

    def _insert_pages(self, conn: Connection, app_id: int, stored_pages: list[tuple[PageRecord, str, str]]) -> None:
        if not stored_pages:
            return
        conn.execute(pages.insert(), [
            {
                "application_id": app_id, "sequence": p.sequence, "kind": p.kind, "form_id": p.form_id,
                "form_version": p.version, "page_no": p.page_no, "document_id": p.document_id,
                "source_file": p.source_file, "source_page": p.source_page, "rotation": p.rotation,
                "pixels_sha256": p.pixels_sha256, "image_sha256": sha, "image_path": rel, "problems": _lines(p.problems),
            }
            for p, sha, rel in stored_pages
        ])

    def _insert_fields(self, conn: Connection, app_id: int, readings: tuple[FieldReading, ...], by: str, now: datetime) -> None:
        if not readings:
            return
        conn.execute(field_values.insert(), [
            {
                "application_id": app_id, "name": f.name, "value": _encode(f.value), "source": f.source,
                "confidence": float(f.confidence), "needs_review": bool(f.needs_review), "reasons": ",".join(f.reasons),
                "raw": f.raw, "page_no": f.page_no,
                "box_x0": f.box[0] if f.box else None, "box_y0": f.box[1] if f.box else None,
                "box_x1": f.box[2] if f.box else None, "box_y1": f.box[3] if f.box else None,
                "evidence": f.evidence, "machine_value": None, "machine_source": None, "machine_confidence": None,
                "version": 1, "updated_at": now, "updated_by": by,
            }
            for f in readings
        ])

    def _find_envelope(self, conn: Connection, fingerprint: str) -> str | None:
        return conn.execute(
            select(applications.c.file_no).join(envelopes, envelopes.c.application_id == applications.c.id)
            .where(envelopes.c.fingerprint == fingerprint)
        ).scalar_one_or_none()

    def _envelope_result(self, fingerprint: str) -> IntakeResult | None:
        with self.db.read() as conn:
            file_no = self._find_envelope(conn, fingerprint)
            return self._intake_result(conn, file_no, created=False) if file_no else None

    # ================================================================= online intake

    def submit_online(
        self,
        doc: dict,
        *,
        submitted_at: datetime | None = None,
        idempotency_key: str | None = None,
        by: str = ONLINE_ACTOR,
    ) -> IntakeResult:
        """An application from the online portal: validated in full, then registered as
        complete (fields final: source "online", confidence 1), its letter written. A naive
        `submitted_at` is Montreal time. The same `idempotency_key` again returns the first
        application (`created=False`); with a different document it is a ConflictError.
        The API registers many at once through registry/online.py; this is the same, one."""
        from registry import online  # it builds on this module

        submission = online.prepare(self, doc, submitted_at=submitted_at, idempotency_key=idempotency_key)
        outcome = online.register_batch(self, [submission], by=by)[0]
        if outcome.error is not None:
            raise outcome.error
        if outcome.written:
            self._try_letter(outcome.result.file_no)
        return outcome.result

    # ============================================================ shared intake steps

    def _allocate_file_no(self, conn: Connection, year: int, channel: str) -> str:
        """The next file number of the year and channel; rolled back with the transaction."""
        return self._allocate_file_nos(conn, year, channel, 1)[0]

    def _allocate_file_nos(self, conn: Connection, year: int, channel: str, count: int) -> list[str]:
        """The next `count` file numbers of the year and channel, in one statement."""
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        conn.execute(insert(file_counters).values(year=year, channel=channel, last_sequence=0).on_conflict_do_nothing())
        last = conn.execute(
            update(file_counters)
            .where(file_counters.c.year == year, file_counters.c.channel == channel)
            .values(last_sequence=file_counters.c.last_sequence + count)
            .returning(file_counters.c.last_sequence)
        ).scalar_one()
        return [format_file_no(year, channel, sequence) for sequence in range(last - count + 1, last + 1)]

    def _intake_result(self, conn: Connection, file_no: str, *, created: bool) -> IntakeResult:
        app = self._app_row(conn, file_no)
        form = _form(app.form_id, app.form_version)
        rows = conn.execute(
            select(field_values.c.name, field_values.c.value, field_values.c.needs_review)
            .where(field_values.c.application_id == app.id).order_by(field_values.c.id)
        ).all()
        waiting = ([POSTMARK_FIELD] if app.postmark_needs_review else []) + [r.name for r in rows if r.needs_review]
        problems = _split_lines(app.problems)
        if app.review_state == "incomplete":
            problems += [str(p) for p in validate({"fields": _document(rows, form)}, form, today=self.policy.today())]
        page_count = conn.execute(
            select(func.count()).select_from(pages).where(pages.c.application_id == app.id, pages.c.kind != "separator")
        ).scalar_one()
        return IntakeResult(
            file_no=app.file_no, status=app.status, pages=page_count, needs_review=waiting,
            created=created, problems=problems, postmark_date=app.postmark_date,
        )

    # ======================================================= derived facts: _settle

    def _settle(self, conn: Connection, app_id: int, actor: str, *, registering: bool = False) -> None:
        """Recompute what follows from an application's facts: its review state and person
        key, the duplicates among that person's applications, and every status touched
        (each change audited; a new registration gets one event with its first status)."""
        app = conn.execute(select(applications).where(applications.c.id == app_id)).one()
        form = _form(app.form_id, app.form_version)
        empty_fields.flag_machine_empty(conn, app_id, form)  # an empty required field read from paper: a person decides
        rows = conn.execute(
            select(field_values.c.name, field_values.c.value, field_values.c.needs_review)
            .where(field_values.c.application_id == app_id)
        ).all()
        state = self._review_state(form, rows, app.postmark_needs_review)
        waiting = {r.name for r in rows if r.needs_review}
        document = _document(rows, form)
        key = None
        if not waiting & set(PERSON_FIELDS):  # a key from a doubtful reading could link strangers
            key = person_key(document.get("passport_number"), document.get("birth_date"))
        changes = {}
        if state != app.review_state:
            changes["review_state"] = state
            if not registering:
                self._audit(conn, actor=actor, action="review_state", file_no=app.file_no, old=app.review_state, new=state)
        if key != app.person_key:
            changes["person_key"] = key
        if changes:
            conn.execute(update(applications).where(applications.c.id == app_id).values(**changes))
        touched = {app_id}
        for k in {app.person_key, key} - {None}:
            touched |= self._resolve_person(conn, k, actor)
        if key is None:
            touched |= self._resolve_alone(conn, app_id, actor)
        self._refresh_status(conn, touched, actor, quiet={app_id} if registering else set())
        if registering:
            status = conn.execute(select(applications.c.status).where(applications.c.id == app_id)).scalar_one()
            self._audit(conn, actor=actor, action="status", file_no=app.file_no, field="status", new=status,
                        detail=f"review state {state}")

    def _review_state(self, form: FormSpec, rows, postmark_needs_review: bool) -> str:
        if not rows:
            return "received"  # no form page was read: a person keys the form in
        if postmark_needs_review or any(r.needs_review for r in rows):
            return "in_review"
        problems = validate({"fields": _document(rows, form)}, form, today=self.policy.today())
        return "incomplete" if problems else "complete"

    def _resolve_person(self, conn: Connection, key: str, actor: str) -> set[int]:
        """One application kept per person; the others are duplicates of it.

        Kept: the first registered among the person's applications that are in the window,
        not withdrawn and not incomplete (failing that, the first in the window and not
        withdrawn). It ranks by the earliest priority date among those eligible ones, so
        applying twice neither helps nor costs a place."""
        t = applications
        self._lock_person(conn, key)
        rows = conn.execute(
            select(t.c.id, t.c.file_no, t.c.own_priority_date, t.c.priority_date, t.c.review_state,
                   t.c.withdrawn_at, t.c.duplicate_of)
            .where(t.c.person_key == key).order_by(t.c.id)
        ).all()
        pool = [r for r in rows if r.withdrawn_at is None and window_status(r.own_priority_date, self.policy) is None]
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
            self._link(conn, r, duplicate_of, priority, actor)
        return {r.id for r in rows}

    def _lock_person(self, conn: Connection, key: str) -> None:
        """Two intakes of the same person at once must see each other: the second waits here
        until the first commits (SQLite has one writer at a time anyway)."""
        if self.db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})

    def _resolve_alone(self, conn: Connection, app_id: int, actor: str) -> set[int]:
        """An application without a person key stands on its own."""
        t = applications
        r = conn.execute(
            select(t.c.id, t.c.file_no, t.c.own_priority_date, t.c.priority_date, t.c.duplicate_of).where(t.c.id == app_id)
        ).one()
        self._link(conn, r, None, r.own_priority_date, actor)
        return {app_id}

    def _link(self, conn: Connection, r, duplicate_of: str | None, priority: date, actor: str) -> None:
        if (duplicate_of, priority) == (r.duplicate_of, r.priority_date):
            return
        conn.execute(update(applications).where(applications.c.id == r.id).values(
            duplicate_of=duplicate_of, priority_date=priority, updated_at=_now()))
        if duplicate_of != r.duplicate_of:
            action = "duplicate_linked" if duplicate_of else "duplicate_unlinked"
            self._audit(conn, actor=actor, action=action, file_no=r.file_no, field="duplicate_of",
                        old=r.duplicate_of, new=duplicate_of, detail="same passport number and date of birth")
        if priority != r.priority_date:
            self._audit(conn, actor=actor, action="priority_date", file_no=r.file_no, field="priority_date",
                        old=_iso(r.priority_date), new=_iso(priority),
                        detail="the earliest priority date among the same person's applications")

    def _eligible(self):
        """In the queue: in the window, not withdrawn, not a duplicate, not incomplete."""
        t = applications
        conditions = [text(QUEUE_PREDICATE.replace("withdrawn_at", "applications.withdrawn_at")
                           .replace("duplicate_of", "applications.duplicate_of").replace("review_state", "applications.review_state"))]
        if self.policy.opening_date:
            conditions.append(t.c.priority_date >= self.policy.opening_date)
        if self.policy.closing_date:
            conditions.append(t.c.priority_date <= self.policy.closing_date)
        return and_(*conditions)

    def _stored_status(self):
        """The one definition of an application's stored status (PRIORITY.md, "Status");
        `status_column` adds the ranking's verdict."""
        t = applications
        whens = [(t.c.withdrawn_at.is_not(None), "withdrawn")]
        if self.policy.opening_date:
            whens.append((t.c.priority_date < self.policy.opening_date, "premature"))
        if self.policy.closing_date:
            whens.append((t.c.priority_date > self.policy.closing_date, "late"))
        whens.append((t.c.duplicate_of.is_not(None), "duplicate"))
        return case(*whens, else_=t.c.review_state)

    def _statuses(self, conn: Connection, ids: list[int]) -> dict[int, tuple[str, str]]:
        rows = conn.execute(select(applications.c.id, applications.c.file_no, status_column())
                            .select_from(with_places()).where(applications.c.id.in_(ids))).all()
        return {r[0]: (r[1], r[2]) for r in rows}

    def _refresh_status(self, conn: Connection, ids: set[int], actor: str, *, quiet: set[int] = frozenset()) -> None:
        t = applications
        ids = sorted(ids)
        before = self._statuses(conn, ids)
        # Leaving the queue gives up the place of the last ranking.
        leaving = select(t.c.id).where(t.c.id.in_(ids), not_(self._eligible()))
        conn.execute(delete(queue_places).where(queue_places.c.application_id.in_(leaving)))
        conn.execute(update(t).where(t.c.id.in_(ids)).values(status=self._stored_status()))
        for app_id, (file_no, status) in self._statuses(conn, ids).items():
            old = before.get(app_id, (None, None))[1]
            if old != status and app_id not in quiet:
                self._audit(conn, actor=actor, action="status", file_no=file_no, field="status", old=old, new=status)

    # ============================================================= ranking and queue

    def rank(self, cap: int | None = None) -> dict:
        """Rank the queue by (priority date, draw key): ranks 1..n; the first `cap` places
        are within the cap (None: all). Complete applications read `ranked` or
        `beyond_cap`; those still being verified keep their place (counted in the cap) and
        their status, and read ranked or beyond_cap as soon as they are complete."""
        if cap is not None and cap < 0:
            raise BadArguments(f"cap {cap}: give a number of places, 0 or more")
        t = applications
        with self.db.write() as conn:
            tally = self._write_places(conn, cap)
            if tally.queued and (tally.first, tally.last) != (1, tally.queued):
                raise DatabaseError(f"the ranking of {self.db.shown_url} came out as {tally.first}..{tally.last} for {tally.queued} places; nothing was changed")
            queued = tally.queued
            placed = queued if cap is None else min(cap, queued)  # ranks are 1..queued, so the cap's share is known
            # Only the few applications out of the queue are counted: a range of the status index.
            counts = dict(conn.execute(select(t.c.status, func.count()).where(t.c.status.in_(NOT_RANKED)).group_by(t.c.status)).all())
            summary = {
                "cap": cap,
                "queued": queued,
                "ranked": placed - tally.pending_within,
                "beyond_cap": queued - placed - tally.pending_beyond,
                "being_verified": tally.pending_within + tally.pending_beyond,
                "being_verified_within_cap": tally.pending_within,
                "not_ranked": {s: counts.get(s, 0) for s in NOT_RANKED},
                "draw_seed_sha256": self.policy.seed_sha256,
            }
            self._audit(conn, actor="rank", action="rank", detail=json.dumps(summary))
        return summary

    def _write_places(self, conn: Connection, cap: int | None) -> "_Tally":
        """queue_places := every queued application, its rank (1..n) and cap verdict; returns
        the counts the summary needs.

        Both ways read the queue from its covering index in priority order. SQLite buffers a
        window function's whole partition, so there the rank comes from the row ids of a
        temporary table filled in priority order; the places are then written in application
        order (appended, not inserted here and there)."""
        t, p = applications, queue_places
        within = (lambda rank: rank <= cap) if cap is not None else (lambda rank: true())
        if self.db.dialect == "postgresql":
            # The table is refilled without its primary key, which is then built in one sort:
            # a million index inserts cost twice as much. TRUNCATE holds the table's lock
            # until commit, so nobody sees it without its key.
            conn.execute(text("TRUNCATE queue_places"))
            conn.execute(text("ALTER TABLE queue_places DROP CONSTRAINT pk_queue_places"))
            ordered = select(t.c.id.label("app_id"), func.row_number().over(order_by=_ORDER).label("place")).where(self._eligible()).subquery()
            # Written in rank order: iter_queue reads the ranks in that order (_with_ranks).
            queued = conn.execute(insert(p).from_select(["application_id", "rank", "within_cap"],
                                                        select(ordered.c.app_id, ordered.c.place, within(ordered.c.place))),
                                  execution_options={"preserve_rowcount": True}).rowcount
            # More memory for the key's sort: PostgreSQL gives each parallel worker 32 MB or
            # more, so the default 64 MB allows one. Measured: 0.6-0.75 s instead of 0.85-1.0.
            conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            conn.execute(text("ALTER TABLE queue_places ADD CONSTRAINT pk_queue_places PRIMARY KEY (application_id)"))
            # row_number() numbers the rows it is given 1..n: no scan of the places to check it.
            return _Tally(queued, 1 if queued else None, queued or None, *self._pending_places(conn))
        in_order = select(t.c.id).where(self._eligible()).order_by(*_ORDER)
        conn.execute(delete(p))
        conn.execute(text("CREATE TEMP TABLE ranking (rank INTEGER PRIMARY KEY, application_id INTEGER NOT NULL)"))
        try:
            ranking = Table("ranking", MetaData(), Column("rank", Integer), Column("application_id", Integer), prefixes=["TEMPORARY"])
            conn.execute(insert(ranking).from_select(["application_id"], in_order))  # rank = row id = 1, 2, ... in order
            conn.execute(insert(p).from_select(["application_id", "rank", "within_cap"],
                                               select(ranking.c.application_id, ranking.c.rank, within(ranking.c.rank)).order_by(ranking.c.application_id)))
        finally:
            conn.execute(text("DROP TABLE temp.ranking"))
        queued, first, last = conn.execute(select(func.count(), func.min(p.c.rank), func.max(p.c.rank))).one()
        return _Tally(queued, first, last, *self._pending_places(conn))

    def _pending_places(self, conn: Connection) -> tuple[int, int]:
        """How many places within and beyond the cap are held by applications being verified."""
        t, p = applications, queue_places
        # The few applications being verified, each looked up in the places (a join would
        # make PostgreSQL hash all million places).
        place = select(p.c.within_cap).where(p.c.application_id == t.c.id).scalar_subquery().label("within")
        pending = dict(conn.execute(select(place, func.count()).where(t.c.status.in_(PENDING_STATES)).group_by(place)).all())
        return pending.get(True, 0), pending.get(False, 0)

    def iter_queue(self) -> Iterator[dict]:
        """The queue in priority order, streamed: `{file_no, rank, priority_date, channel}`.
        `rank` is that of the last `rank` run (None for applications queued since)."""
        t, p = applications, queue_places
        if self.db.dialect != "postgresql":
            # SQLite stores dates as ISO text: taken as they are, not parsed and printed again.
            query = select(t.c.id, t.c.file_no, type_coerce(t.c.priority_date, String), t.c.channel).where(self._eligible()).order_by(*_ORDER)
            with self.db.read() as conn:
                # One sequential read of the ranks costs less than a lookup for each application.
                ranks = dict(self.db.raw_rows(conn, select(p.c.application_id, p.c.rank), batch=STREAM_BATCH))
                for app_id, file_no, day, channel in self.db.raw_rows(conn, query, batch=STREAM_BATCH):
                    yield {"file_no": file_no, "rank": ranks.get(app_id), "priority_date": day, "channel": channel}
            return
        import psycopg  # the PostgreSQL driver, only needed here

        query = select(t.c.id, t.c.file_no, cast(t.c.priority_date, Text), t.c.channel).where(self._eligible()).order_by(*_ORDER)
        with self.db.read() as conn:
            sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            driver = conn.connection.driver_connection
            # The places are read as they lie in the table: in rank order, as _write_places
            # wrote them, when one process reads the whole table from its first page (no scan
            # joined half-way through, no parallel workers).
            conn.execute(text("SET LOCAL synchronize_seqscans = off"))
            conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            conn.execute(text("SET LOCAL DateStyle = 'ISO'"))  # dates as text: YYYY-MM-DD, whatever the server's default
            with driver.cursor(binary=True) as cursor:
                # Two arrays in one row, parsed in C; kept as two int arrays (8 MB at a million).
                ids, ranks = cursor.execute("SELECT array_agg(application_id), array_agg(rank) FROM queue_places").fetchone()
            place_ids, place_ranks = array("i", ids or ()), array("i", ranks or ())
            del ids, ranks
            with driver.cursor(binary=True) as cursor:
                if psycopg.pq.version() >= 170000:
                    # Streamed in chunks: the server goes on sending while the rows are used.
                    rows = cursor.stream(sql, size=STREAM_BATCH)
                else:  # libpq before 17 cannot stream in chunks: a server-side cursor
                    rows = self.db.raw_rows(conn, query, batch=STREAM_BATCH)
                try:
                    yield from _with_ranks(rows, place_ids, place_ranks)
                finally:  # a reader that stops early: the query ends inside the transaction
                    rows.close()

    def queue(self) -> list[dict]:
        return list(self.iter_queue())

    # ================================================================ the published rules

    def _rules(self) -> dict:
        p = self.policy
        return {"draw_seed_sha256": p.seed_sha256, "opening_date": _iso(p.opening_date), "closing_date": _iso(p.closing_date),
                "illegible_postmark_rule": p.illegible_postmark_rule,
                "illegible_postmark_offset_days": p.illegible_postmark_offset_days}

    def _adopt_rules(self) -> None:
        """Bring stored draw keys, dates and statuses in line with the rules in force.

        The rules are published and should not change once the intake is open; when they do
        (a new priority.toml, CSQ_PRIORITY_CONFIG), the change is applied to every
        application, audited with the old and new rules, and the last ranking is voided."""
        current = json.dumps(self._rules(), sort_keys=True)
        read_stored = select(settings.c.value).where(settings.c.key == RULES_SETTING)
        with self.db.read() as conn:
            if conn.execute(read_stored).scalar_one_or_none() == current:
                return
        with self.db.write() as conn:
            stored = conn.execute(read_stored).scalar_one_or_none()
            if stored == current:
                return
            insert_ = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
            conn.execute(insert_(settings).values(key=RULES_SETTING, value=current)
                         .on_conflict_do_update(index_elements=["key"], set_={"value": current}))
            old, new = json.loads(stored) if stored else {}, self._rules()
            sample = conn.execute(select(applications.c.file_no, applications.c.draw_key).limit(1)).first()
            if sample is None:
                return  # nothing registered yet: the rules are simply recorded
            if sample.draw_key != draw_key(self.policy.draw_seed, sample.file_no):
                self._recompute_draw_keys(conn)
            if stored is None:
                return  # a registry from before rules were recorded: same rules, now on record
            if old.get("illegible_postmark_offset_days") != new["illegible_postmark_offset_days"]:
                illegible = conn.execute(select(applications.c.id, applications.c.received_date)
                                         .where(applications.c.priority_rule == RULE_ILLEGIBLE)).all()
                for r in illegible:
                    day = mail_priority(None, r.received_date, self.policy).day
                    conn.execute(update(applications).where(applications.c.id == r.id).values(own_priority_date=day, priority_date=day))
            # The window decides who is a duplicate of whom, and every status.
            people = conn.execute(select(applications.c.person_key).where(applications.c.person_key.is_not(None))
                                  .group_by(applications.c.person_key).having(func.count() > 1)).scalars().all()
            for key in people:
                self._resolve_person(conn, key, "rules")
            conn.execute(update(applications).values(status=self._stored_status()))
            conn.execute(delete(queue_places))
            self._audit(conn, actor="rules", action="rules_changed", old=stored, new=current,
                        detail="draw keys, priority dates and statuses follow the new rules; the last ranking is void: rank again")

    def _recompute_draw_keys(self, conn: Connection) -> None:
        rows = conn.execute(select(applications.c.id, applications.c.file_no)).all()
        for start in range(0, len(rows), STREAM_BATCH):
            conn.execute(
                update(applications).where(applications.c.id == bindparam("b_id")).values(draw_key=bindparam("b_key")),
                [{"b_id": r.id, "b_key": draw_key(self.policy.draw_seed, r.file_no)} for r in rows[start:start + STREAM_BATCH]],
            )

    # ======================================================================= export

    def export_rows(self) -> Iterator[dict]:
        """Every application as docs/interface.md's export line (plus `duplicate_of`,
        `postmark_illegible`, `priority_rule`, `draw_key`, `form_version`), by file order."""
        t = applications
        last_id = 0
        while True:
            with self.db.read() as conn:
                apps = conn.execute(select(*_APPLICATION_WITH_PLACE).select_from(with_places())
                                    .where(t.c.id > last_id).order_by(t.c.id).limit(EXPORT_BATCH)).all()
                if not apps:
                    return
                fields = conn.execute(
                    select(field_values.c.application_id, field_values.c.name, field_values.c.value, field_values.c.source,
                           field_values.c.confidence, field_values.c.needs_review)
                    .where(field_values.c.application_id.between(apps[0].id, apps[-1].id))
                    .order_by(field_values.c.application_id, field_values.c.id)
                ).all()
            by_app: dict[int, list] = {}
            for f in fields:
                by_app.setdefault(f.application_id, []).append(f)
            for app in apps:
                form = _form(app.form_id, app.form_version)
                yield {
                    "file_no": app.file_no,
                    "channel": app.channel,
                    "status": app.status,
                    "postmark_date": _iso(app.postmark_date),
                    "received_date": _iso(app.received_date),
                    "submitted_at": _iso(app.submitted_at),
                    "priority_date": _iso(app.priority_date),
                    "rank": app.rank,
                    "fields": {
                        f.name: {"value": _decode(f.value, f.name, form), "source": f.source,
                                 "confidence": f.confidence, "needs_review": f.needs_review}
                        for f in by_app.get(app.id, [])
                    },
                    "duplicate_of": app.duplicate_of,
                    "postmark_illegible": app.postmark_illegible,
                    "priority_rule": app.priority_rule,
                    "draw_key": app.draw_key,
                    "form_version": app.form_version,
                }
            last_id = apps[-1].id

    def export_csv(self, stream: IO[str]) -> None:
        """The export flattened: one row per application, one column per form field value,
        and `needs_review` listing the fields not yet final."""
        names = list(load_form().field_names)
        extra = ["duplicate_of", "postmark_illegible", "priority_rule"]
        writer = csv.writer(stream)
        writer.writerow(list(EXPORT_KEYS) + extra + names + ["needs_review"])
        for row in self.export_rows():
            fields = row["fields"]
            values = [row[k] for k in list(EXPORT_KEYS) + extra] + [fields.get(name, {}).get("value") for name in names]
            waiting = " ".join(n for n, f in fields.items() if f["needs_review"])
            writer.writerow([_csv_cell(v) for v in values] + [waiting])

    # ======================================================================= review

    def review_list(self) -> list[dict]:
        """Fields waiting for a person, best priority first: `{file_no, field, value, reason}`
        (`field` "postmark_date": a separator postmark to confirm, see review_set)."""
        t, fv = applications, field_values
        entries = []
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.c.file_no, t.c.form_id, t.c.form_version, t.c.priority_date, t.c.draw_key,
                       fv.c.name, fv.c.value, fv.c.reasons)
                .join(fv, fv.c.application_id == t.c.id)
                .where(fv.c.needs_review == true(), t.c.status == "in_review")
            ).all()
            postmarks = conn.execute(
                select(t.c.file_no, t.c.priority_date, t.c.draw_key, envelopes.c.separator_evidence)
                .outerjoin(envelopes, envelopes.c.application_id == t.c.id)
                .where(t.c.postmark_needs_review == true(), t.c.status == "in_review")
            ).all()
        for r in postmarks:
            read = json.loads(r.separator_evidence or "{}").get("postmark_date", {})
            reason = ", ".join(["postmark_uncertain", *read.get("reasons", [])])
            entries.append(((r.priority_date, r.draw_key, r.file_no, -1),
                            {"file_no": r.file_no, "field": POSTMARK_FIELD, "value": read.get("value"), "reason": reason}))
        for r in rows:
            form = _form(r.form_id, r.form_version)
            order = form.field_names.index(r.name) if r.name in form.field_names else len(form.field_names)
            entries.append(((r.priority_date, r.draw_key, r.file_no, order),
                            {"file_no": r.file_no, "field": r.name, "value": _decode(r.value, r.name, form),
                             "reason": r.reasons.replace(",", ", ") or "needs_review"}))
        entries.sort(key=lambda e: e[0])
        return [e for _, e in entries]

    def review_set(self, file_no: str, field: str, value, *, by: str, expected_version: int | None = None) -> dict:
        """A person's value for one field: checked alone (check_field), stored as source
        "manual" and final, the machine's reading kept, audited; then the application's
        status follows. `expected_version` (the field's `version` the person saw) makes a
        concurrent change a ConflictError instead of a silent overwrite."""
        file_no = normalize_file_no(file_no)
        by = _actor(by)
        if field == POSTMARK_FIELD:
            return self._review_postmark(file_no, value, by)
        with self.db.write() as conn:
            app = self._app_row(conn, file_no)
            form = _form(app.form_id, app.form_version)
            try:
                spec = form.field(field)
            except KeyError:
                raise NotFound(f"form {form.form_id} {form.version} has no field {field!r}: see `csq forms layout --json` for the names") from None
            parsed = normalize_value(spec, _parse_typed(value, spec.type))
            problems = check_field(spec, parsed, today=self.policy.today())
            if [p.code for p in problems] == ["required"]:  # left empty: a person confirms it so
                return self._confirm_empty(conn, app, form, by, "left_empty", (field,), expected_version)
            if problems:
                raise InvalidData(f"{file_no} {field}: " + "; ".join(str(p) for p in problems), problems)
            row = conn.execute(select(field_values).where(field_values.c.application_id == app.id, field_values.c.name == field)).first()
            seen = row.version if row is not None else 0
            if expected_version is not None and expected_version != seen:
                raise self._conflict(file_no, field, expected_version, row)
            now = _now()
            stored = _encode(parsed)
            if row is None:
                conn.execute(field_values.insert().values(
                    application_id=app.id, name=field, value=stored, source="manual", confidence=1.0, needs_review=False,
                    reasons="", raw="", page_no=None, evidence="", version=1, updated_at=now, updated_by=by))
                version = 1
            else:
                keep_machine = row.source != "manual" and row.machine_source is None
                changed = conn.execute(
                    update(field_values).where(field_values.c.id == row.id, field_values.c.version == row.version).values(
                        value=stored, source="manual", confidence=1.0, needs_review=False, version=row.version + 1,
                        updated_at=now, updated_by=by,
                        **({"machine_value": row.value, "machine_source": row.source, "machine_confidence": row.confidence} if keep_machine else {}),
                    )
                ).rowcount
                if changed != 1:
                    raise self._conflict(file_no, field, row.version, None)
                version = row.version + 1
            self._audit(conn, actor=by, action="review_set", file_no=file_no, field=field,
                        old=row.value if row is not None else None, new=stored,
                        detail=json.dumps({"machine_value": row.value if row is not None and row.source != "manual" else None,
                                           "version": version}))
            conn.execute(update(applications).where(applications.c.id == app.id).values(updated_at=now))
            self._settle(conn, app.id, by)
            settled = self._app_row(conn, file_no)
            status, review_state = settled.status, settled.review_state
            waiting = conn.execute(
                select(field_values.c.name).where(field_values.c.application_id == app.id, field_values.c.needs_review == true())
                .order_by(field_values.c.id)).scalars().all()
            machine = conn.execute(select(field_values.c.machine_value).where(
                field_values.c.application_id == app.id, field_values.c.name == field)).scalar_one()
        return {"file_no": file_no, "field": field, "value": parsed, "version": version, "status": status,
                "review_state": review_state, "machine_value": _decode(machine, field, form),
                "needs_review": (([POSTMARK_FIELD] if app.postmark_needs_review else []) + list(waiting))}

    def confirm_empty(self, file_no: str, *, by: str, reason: str = "blank_page", fields: tuple[str, ...] = ()) -> dict:
        """A person confirms empty the required fields waiting with no value: `fields`, or all
        those of the envelope the reader saw no ink in (a blank page, a page missing). Audited
        field by field; the application then becomes `incomplete` under that person's name
        (registry/empty_fields.py)."""
        file_no, by = normalize_file_no(file_no), _actor(by)
        with self.db.write() as conn:
            app = self._app_row(conn, file_no)
            return self._confirm_empty(conn, app, _form(app.form_id, app.form_version), by, reason, tuple(fields), None)

    def _confirm_empty(self, conn: Connection, app, form: FormSpec, by: str, reason: str, fields: tuple[str, ...],
                       expected_version: int | None) -> dict:
        def audit(**event):
            self._audit(conn, actor=by, action="empty_confirmed", file_no=app.file_no, **event)

        done = empty_fields.confirm_empty(conn, app.id, form, by=by, reason=reason, fields=fields,
                                          expected_version=expected_version, audit=audit)
        self._settle(conn, app.id, by)
        settled = self._app_row(conn, app.file_no)
        waiting = conn.execute(select(field_values.c.name).where(
            field_values.c.application_id == app.id, field_values.c.needs_review == true()).order_by(field_values.c.id)).scalars().all()
        version = conn.execute(select(field_values.c.version).where(
            field_values.c.application_id == app.id, field_values.c.name == fields[0])).scalar_one() if len(fields) == 1 else None
        return {"file_no": app.file_no, **({"field": fields[0], "value": None, "version": version} if len(fields) == 1 else {}),
                **done, "status": settled.status, "review_state": settled.review_state,
                "needs_review": ([POSTMARK_FIELD] if settled.postmark_needs_review else []) + list(waiting)}

    def _conflict(self, file_no: str, field: str, expected: int, row) -> ConflictError:
        if row is None:
            return ConflictError(f"{file_no} {field} was changed by someone else just now: reload it and decide again")
        return ConflictError(
            f"{file_no} {field} was changed by {row.updated_by} at {row.updated_at:%Y-%m-%d %H:%M} UTC "
            f"(version {row.version}, you saw {expected}): reload it and decide again"
        )

    def _review_postmark(self, file_no: str, value, by: str) -> dict:
        text = "" if value is None else str(value).strip()
        if text.lower() in ("", "illegible", "illisible", "none"):
            day = None
        else:
            spec = load_separator().field(POSTMARK_FIELD)
            normalized = normalize_value(spec, text)
            problems = check_field(spec, normalized, today=self.policy.today())
            if problems:
                raise InvalidData(f"{file_no} {POSTMARK_FIELD}: " + "; ".join(str(p) for p in problems), problems)
            day = parse_date(normalized)
        result = self.set_postmark(file_no, day, by=by, reason="separator postmark confirmed in review", _action="postmark_reviewed")
        return {"file_no": file_no, "field": POSTMARK_FIELD, "value": _iso(day), "version": None, **result}

    # =========================================================== supervisor actions

    def set_postmark(self, file_no: str, postmark: date | None, *, by: str, reason: str, _action: str = "set_postmark") -> dict:
        """A supervisor's decision on a mail application's postmark (None: illegible, the
        published rule applies). Audited with the reason; the priority date follows."""
        file_no, by, reason = normalize_file_no(file_no), _actor(by), _reason(reason, "changing the postmark")
        with self.db.write() as conn:
            app = self._app_row(conn, file_no)
            if app.channel != "mail":
                raise BadArguments(f"{file_no} came online: it has no postmark; its priority is its submission date")
            if postmark is not None and postmark > app.received_date:
                raise BadArguments(f"the postmark {postmark} is after the date received {app.received_date}: check the envelope")
            priority = mail_priority(postmark, app.received_date, self.policy)
            rule = RULE_SUPERVISOR if postmark is not None else priority.rule
            conn.execute(update(applications).where(applications.c.id == app.id).values(
                postmark_date=postmark, postmark_illegible=priority.postmark_illegible, postmark_needs_review=False,
                own_priority_date=priority.day, priority_date=priority.day, priority_rule=rule, updated_at=_now()))
            self._audit(conn, actor=by, action=_action, file_no=file_no, field="postmark_date",
                        old=_iso(app.postmark_date) if not app.postmark_illegible else "illegible",
                        new=_iso(postmark) or "illegible", detail=reason)
            self._settle(conn, app.id, by)
            row = self._app_row(conn, file_no)
        return {"status": row.status, "priority_date": _iso(row.priority_date), "priority_rule": row.priority_rule}

    def withdraw(self, file_no: str, *, by: str, reason: str) -> dict:
        """The candidate withdrew (or staff closed the file): out of the queue, audited."""
        file_no, by, reason = normalize_file_no(file_no), _actor(by), _reason(reason, "the withdrawal")
        with self.db.write() as conn:
            app = self._app_row(conn, file_no)
            if app.withdrawn_at is not None:
                return {"file_no": file_no, "status": app.status}
            conn.execute(update(applications).where(applications.c.id == app.id).values(withdrawn_at=_now(), updated_at=_now()))
            self._audit(conn, actor=by, action="withdrawn", file_no=file_no, detail=reason)
            self._settle(conn, app.id, by)
            return {"file_no": file_no, "status": self._app_row(conn, file_no).status}

    # ================================================================= one application

    def application(self, file_no: str) -> dict:
        """Everything about one application: dates, status, fields with their evidence,
        pages with image paths, the envelope, the audit history."""
        file_no = normalize_file_no(file_no)
        with self.db.read() as conn:
            app = self._app_row(conn, file_no)
            form = _form(app.form_id, app.form_version)
            fields = conn.execute(select(field_values).where(field_values.c.application_id == app.id).order_by(field_values.c.id)).all()
            page_rows = conn.execute(select(pages).where(pages.c.application_id == app.id).order_by(pages.c.sequence, pages.c.id)).all()
            envelope = conn.execute(select(envelopes).where(envelopes.c.application_id == app.id)).first()
            duplicates = conn.execute(select(applications.c.file_no).where(applications.c.duplicate_of == file_no)
                                      .order_by(applications.c.id)).scalars().all()
            history = self._audit_rows(conn, file_no)
        letter = self.letter_path(file_no)
        return {
            "file_no": app.file_no, "channel": app.channel, "status": app.status, "review_state": app.review_state,
            "postmark_date": _iso(app.postmark_date), "postmark_illegible": app.postmark_illegible,
            "postmark_needs_review": app.postmark_needs_review, "received_date": _iso(app.received_date),
            "submitted_at": _iso(app.submitted_at), "own_priority_date": _iso(app.own_priority_date),
            "priority_date": _iso(app.priority_date), "priority_rule": app.priority_rule, "draw_key": app.draw_key,
            "rank": app.rank, "within_cap": app.within_cap, "form_id": app.form_id, "form_version": app.form_version,
            "duplicate_of": app.duplicate_of, "duplicates": list(duplicates), "withdrawn_at": _iso(app.withdrawn_at),
            "registered_at": _iso(app.registered_at), "registered_by": app.registered_by, "updated_at": _iso(app.updated_at),
            "problems": _split_lines(app.problems),
            "validation": [p.to_dict() for p in validate({"fields": _document(fields, form)}, form, today=self.policy.today())] if fields else [],
            "letter": str(letter) if letter.exists() else None,
            "fields": {
                f.name: {
                    "value": _decode(f.value, f.name, form), "source": f.source, "confidence": f.confidence,
                    "needs_review": f.needs_review, "reasons": [r for r in f.reasons.split(",") if r], "raw": f.raw,
                    "page_no": f.page_no,
                    "box": [f.box_x0, f.box_y0, f.box_x1, f.box_y1] if f.box_x0 is not None else None,
                    "evidence": f.evidence, "machine_value": _decode(f.machine_value, f.name, form),
                    "machine_source": f.machine_source, "machine_confidence": f.machine_confidence,
                    "version": f.version, "updated_at": _iso(f.updated_at), "updated_by": f.updated_by,
                }
                for f in fields
            },
            "pages": [
                {
                    "sequence": p.sequence, "kind": p.kind, "form_id": p.form_id, "form_version": p.form_version,
                    "page_no": p.page_no, "document_id": p.document_id, "source_file": p.source_file,
                    "source_page": p.source_page, "rotation": p.rotation, "pixels_sha256": p.pixels_sha256,
                    "image_sha256": p.image_sha256, "image_path": str(self.images.path(p.image_path)),
                    "problems": _split_lines(p.problems),
                }
                for p in page_rows
            ],
            "envelope": None if envelope is None else {
                "fingerprint": envelope.fingerprint, "separator_serial": envelope.separator_serial,
                "image_sha256": envelope.image_sha256,
                "image_path": str(self.images.path(envelope.image_path)) if envelope.image_path else None,
                "separator": json.loads(envelope.separator_evidence) if envelope.separator_evidence else None,
            },
            "audit": history,
        }

    def _app_row(self, conn: Connection, file_no: str):
        """The application with its place in the last ranking and its status as seen."""
        row = conn.execute(select(*_APPLICATION_WITH_PLACE).select_from(with_places())
                           .where(applications.c.file_no == file_no)).first()
        if row is None:
            raise NotFound(f"no application {file_no} in the registry {self.db.shown_url}: check the number")
        return row

    # ======================================================================== audit

    def _audit(self, conn: Connection, *, actor: str, action: str, file_no: str | None = None, field: str | None = None,
               old: str | None = None, new: str | None = None, detail: str = "") -> None:
        conn.execute(audit_events.insert().values(at=_now(), actor=actor, action=action, file_no=file_no, field=field,
                                                  old=old, new=new, detail=detail))

    def audit_trail(self, file_no: str | None = None) -> list[dict]:
        """The audit events (of one application, or all), oldest first."""
        with self.db.read() as conn:
            return self._audit_rows(conn, normalize_file_no(file_no) if file_no else None)

    def _audit_rows(self, conn: Connection, file_no: str | None) -> list[dict]:
        query = select(audit_events).order_by(audit_events.c.id)
        if file_no:
            query = query.where(audit_events.c.file_no == file_no)
        return [
            {"at": _iso(e.at), "actor": e.actor, "action": e.action, "file_no": e.file_no, "field": e.field,
             "old": e.old, "new": e.new, "detail": e.detail}
            for e in conn.execute(query)
        ]

    # ======================================================================== users

    def add_user(self, name: str, role: str, password: str, *, by: str = "admin") -> dict:
        """A staff account of the review station (password hashed with argon2id)."""
        name = (name or "").strip()
        if not name or len(name) > 64 or any(ch.isspace() for ch in name):
            raise BadArguments(f"user name {name!r}: 1 to 64 characters, no spaces")
        if role not in ROLES:
            raise BadArguments(f"role {role!r}: use one of {', '.join(ROLES)}")
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise BadArguments(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
        hashed = _password_hasher.hash(password)
        try:
            with self.db.write() as conn:
                conn.execute(users.insert().values(name=name, role=role, password_hash=hashed, active=True, created_at=_now()))
                self._audit(conn, actor=by, action="user_added", field="role", new=role, detail=name)
        except sa_exc.IntegrityError:
            raise ConflictError(f"user {name} already exists: choose another name") from None
        return {"name": name, "role": role, "active": True}

    def verify_user(self, name: str, password: str) -> StaffLogin | None:
        """The role and session generation of an active user whose password matches, else None."""
        with self.db.read() as conn:
            row = conn.execute(select(users).where(users.c.name == (name or "").strip())).first()
        if row is None or not row.active:
            _check_password(_dummy_hash(), password or "")
            return None
        if not _check_password(row.password_hash, password or ""):
            return None
        if _password_hasher.check_needs_rehash(row.password_hash):
            with self.db.write() as conn:
                conn.execute(update(users).where(users.c.id == row.id).values(password_hash=_password_hasher.hash(password)))
        return StaffLogin(row.name, row.role, row.session_generation)

    def staff_session(self, name: str) -> StaffLogin | None:
        """What a session of `name` is worth now: its role and generation if the account is
        active, else None (the station checks this on every request)."""
        with self.db.read() as conn:
            row = conn.execute(select(users.c.name, users.c.role, users.c.session_generation)
                               .where(users.c.name == name, users.c.active.is_(True))).first()
        return StaffLogin(row.name, row.role, row.session_generation) if row is not None else None

    def set_user_active(self, name: str, active: bool, *, by: str) -> None:
        """Disable or enable an account; either way its sessions end (a re-enabled account logs in again)."""
        with self.db.write() as conn:
            changed = conn.execute(update(users).where(users.c.name == name)
                                   .values(active=bool(active), session_generation=users.c.session_generation + 1)).rowcount
            if not changed:
                raise NotFound(f"no user {name}: `csq users list` shows them")
            self._audit(conn, actor=_actor(by), action="user_active", field="active", new=json.dumps(bool(active)), detail=name)

    def set_user_password(self, name: str, password: str, *, by: str) -> None:
        """A new password (a forgotten or leaked one); the account's sessions end."""
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise BadArguments(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
        hashed = _password_hasher.hash(password)
        with self.db.write() as conn:
            changed = conn.execute(update(users).where(users.c.name == name)
                                   .values(password_hash=hashed, session_generation=users.c.session_generation + 1)).rowcount
            if not changed:
                raise NotFound(f"no user {name}: `csq users list` shows them")
            self._audit(conn, actor=_actor(by), action="user_password", field="password", new="(changed)", detail=name)

    def set_user_role(self, name: str, role: str, *, by: str) -> None:
        """Another role; it applies from the account's next request (sessions read it each time)."""
        if role not in ROLES:
            raise BadArguments(f"role {role!r}: use one of {', '.join(ROLES)}")
        with self.db.write() as conn:
            old = conn.execute(select(users.c.role).where(users.c.name == name)).scalar()
            if old is None:
                raise NotFound(f"no user {name}: `csq users list` shows them")
            conn.execute(update(users).where(users.c.name == name).values(role=role))
            self._audit(conn, actor=_actor(by), action="user_role", field="role", old=old, new=role, detail=name)

    def corrected_readings(self, since: date | None = None) -> list[dict]:
        """Handwritten fields a person saved over the machine's reading (corrected or
        confirmed), with the stored image of the page they were read on: what the reader can
        learn from (scan/corrections.py cuts their boxes for the ICR's training)."""
        query = (
            select(applications.c.file_no, field_values.c.name, field_values.c.value, field_values.c.machine_value,
                   field_values.c.page_no, field_values.c.updated_at, pages.c.image_path, pages.c.form_id, pages.c.form_version)
            .select_from(field_values.join(applications, applications.c.id == field_values.c.application_id)
                         .join(pages, (pages.c.application_id == field_values.c.application_id)
                               & (pages.c.page_no == field_values.c.page_no) & (pages.c.kind == "form")))
            .where(field_values.c.source == "manual", field_values.c.machine_source == "ocr",
                   field_values.c.value.is_not(None))
            .order_by(applications.c.file_no, field_values.c.id, pages.c.sequence)
        )
        if since is not None:
            query = query.where(field_values.c.updated_at >= self.policy.day_start(since))
        out, seen = [], set()
        with self.db.read() as conn:
            for r in conn.execute(query):
                if (r.file_no, r.name) in seen:
                    continue  # a page scanned twice: its first copy
                seen.add((r.file_no, r.name))
                out.append({"file_no": r.file_no, "field": r.name, "value": r.value, "machine_value": r.machine_value,
                            "page_no": r.page_no, "image": str(self.images.path(r.image_path)), "form_id": r.form_id,
                            "form_version": r.form_version})
        return out

    def review_stats(self, since: date) -> dict:
        """People's saves since the start of `since` (intake time zone): per person and per
        field (registry/review_stats.py)."""
        from registry.review_stats import review_stats

        return review_stats(self.db, self.policy.day_start(since))

    def list_users(self) -> list[dict]:
        with self.db.read() as conn:
            return [{"name": r.name, "role": r.role, "active": r.active, "created_at": _iso(r.created_at)}
                    for r in conn.execute(select(users).order_by(users.c.name))]

    # ====================================================================== letters

    def letter_path(self, file_no: str) -> Path:
        return self.data_dir / "letters" / f"{file_no}.pdf"

    def write_letter(self, file_no: str) -> Path:
        """(Re)write the acknowledgment letter of one application from its current state."""
        file_no = normalize_file_no(file_no)
        with self.db.read() as conn:
            content = self._letter_content(conn, file_no)
        path = letters.write_letter(self.letter_path(file_no), content)
        with self.db.write() as conn:
            conn.execute(update(applications).where(applications.c.file_no == file_no).values(letter_written_at=_now()))
        return path

    def _try_letter(self, file_no: str) -> None:
        """The letter of a new registration. Its failure must not undo the registration:
        it is logged, and `letters_print` writes the missing letter later."""
        try:
            self.write_letter(file_no)
        except Exception as exc:  # noqa: BLE001 - any failure here is retried by letters_print
            log.warning("%s: acknowledgment letter not written (%s); `csq letters print` will retry", file_no, exc)

    def _letter_content(self, conn: Connection, file_no: str) -> letters.LetterContent:
        app = self._app_row(conn, file_no)
        form = _form(app.form_id, app.form_version)
        rows = conn.execute(select(field_values.c.name, field_values.c.value, field_values.c.needs_review)
                            .where(field_values.c.application_id == app.id)).all()
        doc = _document(rows, form)
        problems = ()
        if app.review_state == "incomplete" and app.status in ("incomplete",):
            problems = tuple(letters.LetterProblem(p.message.fr, p.message.en)
                             for p in validate({"fields": doc}, form, today=self.policy.today()))
        name = " ".join(str(doc.get(n) or "") for n in ("given_names", "family_name")).strip()
        city_line = " ".join(str(doc.get(n) or "") for n in ("city", "postal_code")).strip()
        submitted = app.submitted_at.astimezone(self.policy.zone).strftime("%Y-%m-%d %H:%M") if app.submitted_at else None
        return letters.LetterContent(
            file_no=app.file_no, channel=app.channel, status=app.status, issued_on=self.policy.today(),
            received_date=app.received_date, postmark_date=app.postmark_date, postmark_illegible=app.postmark_illegible,
            submitted_at=submitted, priority_date=app.priority_date, priority_rule=app.priority_rule,
            recipient=tuple(x for x in (name, doc.get("address_line"), city_line, doc.get("country_of_residence")) if x),
            problems=problems, duplicate_of=app.duplicate_of,
        )

    def letters_missing(self, since: date) -> list[str]:
        """Registrations since `since` whose letter was never written (those held back for
        review excepted): what a station that stopped before writing them left to do."""
        return [file_no for file_no, _updated, written in self._letters_since(since)[0] if written is None]

    def letters_held_back(self, since: date) -> list[str]:
        """Registrations since `since` whose letter waits: name or address still under review."""
        return self._letters_since(since)[1]

    def letters_print(self, since: date, out: Path) -> Path:
        """One PDF for the mailroom with the letters of the registrations since `since`
        (Montreal day), in registration order. Missing or outdated letters are (re)written
        first. Letters whose name or address still awaits review are held back (logged; see
        `letters_held_back`): a misread address would send the letter astray."""
        ready, held = self._letters_since(since)
        if held:
            log.warning("%d letter(s) held back until their address is reviewed: %s", len(held), ", ".join(held))
        if not ready:
            more = f" ({len(held)} held back until their address is reviewed)" if held else ""
            raise NotFound(f"no letters to print for registrations since {since.isoformat()}{more}")
        paths = []
        for file_no, updated_at, written_at in ready:
            path = self.letter_path(file_no)
            if written_at is None or updated_at > written_at or not path.exists():
                path = self.write_letter(file_no)
            paths.append(path)
        return letters.concatenate(paths, Path(out))

    def _letters_since(self, since: date) -> tuple[list[tuple[str, datetime, datetime | None]], list[str]]:
        start = self.policy.day_start(since)
        t = applications
        with self.db.read() as conn:
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


# ============================================================================ helpers


def _csv_cell(value) -> str:
    """Empty for null, true/false for booleans (as in the JSON export), text otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)


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


def _with_ranks(queue_rows: Iterator[tuple], place_ids: array, place_ranks: array) -> Iterator[dict]:
    """The queue's rows `(id, file_no, day, channel)` with their rank, in the queue's order.

    `place_ids[k]` holds `place_ranks[k]`, in the order of the last ranking. Right after a
    ranking the queue comes in that same order, so each rank is simply the next one: no
    table of a million ranks is built. Once the queue differs (an application queued since
    the ranking, one whose date changed), the places not used yet go into a lookup table,
    which costs what one table from the start would."""
    k, count = 0, len(place_ids)
    rest: dict[int, int] | None = None
    for app_id, file_no, day, channel in queue_rows:
        if k < count and place_ids[k] == app_id:
            rank = place_ranks[k]
            k += 1
        else:
            if rest is None:
                rest = dict(zip(place_ids[k:], place_ranks[k:]))
                k = count
            rank = rest.pop(app_id, None)
        yield {"file_no": file_no, "rank": rank, "priority_date": day, "channel": channel}


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


def _document(rows, form: FormSpec) -> dict:
    """Stored field rows as a data document's `fields` (only the form's own fields)."""
    names = set(form.field_names)
    return {r.name: _decode(r.value, r.name, form) for r in rows if r.name in names}


def _parse_typed(value, field_type: str):
    """A value as a person typed it (the CLI gives text) in the type of the field."""
    if field_type in BOOL_TYPES and isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes", "oui", "x", "vrai"):
            return True
        if text in ("false", "0", "no", "non", "", "faux"):
            return False
        raise InvalidData(f"{value!r} is not true or false: write true or false")
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _actor(by: str) -> str:
    by = (by or "").strip()
    if not by or len(by) > 64:
        raise BadArguments("say who makes the change (--by NAME, 1 to 64 characters): it is kept in the audit trail")
    return by


def _reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise BadArguments(f"give the reason for {what} (it is kept in the audit trail)")
    return reason


def _check_password(hashed: str, password: str) -> bool:
    try:
        return _password_hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


