"""Staff sessions kept on the server: one row per login, ended by logout or by time.

The station's cookie carries a random session id; the registry keeps only its SHA-256, the
account's name, when it started and when it expires (login + the session's lifetime, never
moved on by use). `account()` is what a request's session is worth now: the account's name,
role and session generation while the session is neither ended nor expired and the account
is active. Ending one session (logout) leaves that person's other sessions, on other
stations, as they are.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import Column, Index, MetaData, String, Table, and_, delete, select, update

from registry.models import UTCDateTime, users
from registry.staff import StaffLogin

metadata = MetaData()
staff_sessions = Table(
    "staff_sessions", metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Index("ix_staff_sessions_expires_at", "expires_at"),
)

# Rows of sessions that ended or expired this long ago are deleted at the next login.
KEEP_ENDED = timedelta(days=1)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def start(db, name: str, lifetime: timedelta, *, now: datetime | None = None) -> str:
    """A new session of `name`, valid for `lifetime` from now; returns its id (for the cookie)."""
    now = now or datetime.now(timezone.utc)
    session_id = secrets.token_urlsafe(32)
    with db.write() as conn:
        conn.execute(delete(staff_sessions).where(staff_sessions.c.expires_at < now - KEEP_ENDED))
        conn.execute(staff_sessions.insert().values(id_sha256=_digest(session_id), user_name=name, started_at=now,
                                                    expires_at=now + lifetime, ended_at=None))
    return session_id


def account(db, session_id: str, *, now: datetime | None = None) -> StaffLogin | None:
    """The active account of a live session (None: ended, expired, unknown, or account disabled)."""
    now = now or datetime.now(timezone.utc)
    s = staff_sessions
    with db.read() as conn:
        row = conn.execute(
            select(users.c.name, users.c.role, users.c.session_generation)
            .select_from(s.join(users, users.c.name == s.c.user_name))
            .where(s.c.id_sha256 == _digest(session_id), s.c.ended_at.is_(None), s.c.expires_at > now,
                   users.c.active.is_(True))
        ).first()
    return StaffLogin(row.name, row.role, row.session_generation) if row is not None else None


def end(db, session_id: str, *, now: datetime | None = None) -> None:
    """Logout: this session is over, whoever holds a copy of its cookie."""
    with db.write() as conn:
        conn.execute(update(staff_sessions).where(and_(staff_sessions.c.id_sha256 == _digest(session_id),
                                                       staff_sessions.c.ended_at.is_(None)))
                     .values(ended_at=now or datetime.now(timezone.utc)))
