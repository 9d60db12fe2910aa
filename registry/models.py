"""The registry's tables as typed SQLAlchemy models.

The schema is created and changed only by the Alembic migrations in migrations/versions;
these models describe the head revision, and tests/test_registry.py checks that the two
agree. Raw machine evidence is the only JSON; everything a query filters or sorts on has
its own typed column.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from registry.priority import CHANNELS, REVIEW_STATES, STATUSES

FIELD_SOURCES = ("ocr", "omr", "barcode", "manual", "online")
ROLES = ("clerk", "reviewer", "supervisor")

# Named constraints, so that migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# The applications that stand in the queue, whatever the window (which the queries add on
# priority_date). Spelled out with literal values: SQLite uses a partial index only when the
# query repeats the index's own terms, and bound parameters would hide them.
QUEUE_STATES = ("received", "in_review", "complete")
QUEUE_PREDICATE = "withdrawn_at IS NULL AND duplicate_of IS NULL AND " + one_of("review_state", QUEUE_STATES)


class UTCDateTime(TypeDecorator):
    """An aware UTC time on every backend (SQLite has no time zones: it stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_no: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    # The status derived from the columns below (records.py `stored_status`), except the
    # ranking's verdict: a complete application in the queue reads "ranked" or "beyond_cap"
    # through its queue_places row (records.py `status_column`).
    status: Mapped[str] = mapped_column(String(16))  # indexed with the id (ix_applications_status)
    # What the machine and staff concluded about the content alone.
    review_state: Mapped[str] = mapped_column(String(16))
    postmark_date: Mapped[date | None] = mapped_column(Date)
    postmark_illegible: Mapped[bool] = mapped_column(Boolean, default=False)
    # The clerk wrote a postmark on the separator that the machine could not read for sure.
    postmark_needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    received_date: Mapped[date] = mapped_column(Date)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The date this application earns on its own, and the date it ranks by (the earliest of
    # the person's applications when it is the one kept among duplicates).
    own_priority_date: Mapped[date] = mapped_column(Date)
    priority_date: Mapped[date] = mapped_column(Date)
    priority_rule: Mapped[str] = mapped_column(String(48))
    draw_key: Mapped[str] = mapped_column(String(64))
    form_id: Mapped[str | None] = mapped_column(String(16))
    form_version: Mapped[str | None] = mapped_column(String(16))
    person_key: Mapped[str | None] = mapped_column(String(64), index=True)
    duplicate_of: Mapped[str | None] = mapped_column(String(16), ForeignKey("applications.file_no"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    registered_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    problems: Mapped[str] = mapped_column(Text, default="")  # envelope-level, one per line
    letter_written_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(one_of("channel", CHANNELS), name="channel"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("review_state", REVIEW_STATES), name="review_state"),
        # The queue in priority order, read from the index alone (it holds every column the
        # queue and the ranking read): a million applications rank in seconds.
        Index("ix_applications_queue", "priority_date", "draw_key", "file_no", "channel", "review_state",
              "withdrawn_at", "duplicate_of", "id",
              sqlite_where=text(QUEUE_PREDICATE), postgresql_where=text(QUEUE_PREDICATE)),
        Index("ix_applications_registered_at", "registered_at"),
        # Ranking looks up the places of those still being verified, by status then id.
        Index("ix_applications_status", "status", "id"),
    )


class QueuePlace(Base):
    """The last ranking: each queued application's rank and whether it is within the cap.

    Kept apart from applications so that ranking writes one narrow row per application
    instead of rewriting every application. Rebuilt whole by `Registry.rank`; a row goes
    away when its application leaves the queue. No foreign key on purpose: checking one per
    row would double the cost of ranking, and applications are never deleted."""

    __tablename__ = "queue_places"

    application_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rank: Mapped[int] = mapped_column(Integer)
    within_cap: Mapped[bool] = mapped_column(Boolean)


class Envelope(Base):
    __tablename__ = "envelopes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    # sha256 over the sorted page pixel hashes: the same envelope scanned again is recognised.
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    separator_serial: Mapped[str | None] = mapped_column(String(64))
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    image_path: Mapped[str | None] = mapped_column(Text)
    separator_evidence: Mapped[str | None] = mapped_column(Text)  # JSON: the separator's raw readings


class Page(Base):
    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    form_id: Mapped[str | None] = mapped_column(String(16))
    form_version: Mapped[str | None] = mapped_column(String(16))
    page_no: Mapped[int | None] = mapped_column(Integer)
    document_id: Mapped[str | None] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(Text)
    source_page: Mapped[int] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    pixels_sha256: Mapped[str] = mapped_column(String(64), index=True)
    # The stored file, relative to the data folder: with a view, the scanned file as received
    # (shared by its pages, page `source_page` of it); without (older registries), the page's PNG.
    image_sha256: Mapped[str] = mapped_column(String(64))
    image_path: Mapped[str] = mapped_column(Text)
    problems: Mapped[str] = mapped_column(Text, default="")  # one per line
    view: Mapped[str | None] = mapped_column(Text)  # scan.render.PageView as JSON: turn, alignment


class FieldValue(Base):
    __tablename__ = "field_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(Text)  # text as written; bools JSON-encoded
    source: Mapped[str] = mapped_column(String(8))
    confidence: Mapped[float] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[str] = mapped_column(Text, default="")  # comma-separated codes
    raw: Mapped[str] = mapped_column(Text, default="")
    page_no: Mapped[int | None] = mapped_column(Integer)
    box_x0: Mapped[float | None] = mapped_column(Float)
    box_y0: Mapped[float | None] = mapped_column(Float)
    box_x1: Mapped[float | None] = mapped_column(Float)
    box_y1: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[str] = mapped_column(Text, default="")  # JSON: raw metrics of the reading
    # What the machine had read, kept when a person corrects it (to measure and learn).
    machine_value: Mapped[str | None] = mapped_column(Text)
    machine_source: Mapped[str | None] = mapped_column(String(8))
    machine_confidence: Mapped[float | None] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic locking
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("application_id", "name"),
        CheckConstraint(one_of("source", FIELD_SOURCES), name="source"),
        CheckConstraint(one_of("machine_source", FIELD_SOURCES), name="machine_source"),
        # The review list reads only the few fields waiting for a person.
        Index("ix_field_values_waiting", "application_id", sqlite_where=text("needs_review"), postgresql_where=text("needs_review")),
    )


class AuditEvent(Base):
    """Append-only (triggers refuse UPDATE and DELETE) and hash-chained: who did what, when, to which file."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    file_no: Mapped[str | None] = mapped_column(String(16), index=True)
    field: Mapped[str | None] = mapped_column(String(64))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    # The hash chain (registry/audit_chain.py, set at insert): sha256 over prev_hash and the event.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)  # review statistics by time


class IdempotencyKey(Base):
    """The online API's retries: the same key returns the same application."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Copied into a session at login and checked on each request: moved on when the account
    # is disabled, enabled or given a new password, which ends every session given before.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (CheckConstraint(one_of("role", ROLES), name="role"),)


class FileCounter(Base):
    """The last sequence number given per intake year and channel."""

    __tablename__ = "file_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer)


class Setting(Base):
    """A few facts about the registry itself (e.g. the hash of the draw seed in use)."""

    __tablename__ = "registry_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


applications = Application.__table__
queue_places = QueuePlace.__table__
envelopes = Envelope.__table__
pages = Page.__table__
field_values = FieldValue.__table__
audit_events = AuditEvent.__table__
idempotency_keys = IdempotencyKey.__table__
users = User.__table__
file_counters = FileCounter.__table__
settings = Setting.__table__
