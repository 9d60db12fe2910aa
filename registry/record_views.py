"""Who looked: one row per staff view of an application's data or images.

The station records each page, card or image of a file a person opened (who, when, which
file, what: "application", "history", "field:birth_date", "page:1", "envelope"...). Rows
are kept apart from the audit trail (which records changes and is hash-chained) and are
cheap: `ViewLog` gathers them in memory and writes them in one statement at most once a
second (and before anything reads them, and when the station stops), so that looking at a
file never waits for a disk flush of its own. A crash loses at most that last second.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, select

from registry.models import UTCDateTime

FLUSH_EVERY_S = 1.0
FLUSH_ROWS = 500
LIST_LIMIT = 5_000  # at most this many rows per listing, newest first

metadata = MetaData()
record_views = Table(
    "record_views", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("file_no", String(16), nullable=False),
    Column("what", String(80), nullable=False),
    Index("ix_record_views_actor_at", "actor", "at"),
    Index("ix_record_views_file_no_at", "file_no", "at"),
)


class ViewLog:
    def __init__(self, db, *, clock=time.monotonic):
        self.db = db
        self._clock = clock
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._flushed_at = clock()

    def saw(self, actor: str, file_no: str, what: str) -> None:
        """`actor` was shown `what` of application `file_no`, now."""
        row = {"at": datetime.now(timezone.utc), "actor": actor[:64], "file_no": file_no[:16], "what": what[:80]}
        with self._lock:
            self._rows.append(row)
            due = len(self._rows) >= FLUSH_ROWS or self._clock() - self._flushed_at >= FLUSH_EVERY_S
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
            self._flushed_at = self._clock()
        if rows:
            try:
                with self.db.write() as conn:
                    conn.execute(record_views.insert(), rows)
            except Exception:
                with self._lock:  # kept for the next flush: a busy database must not lose them
                    self._rows = rows + self._rows
                raise

    def of_file(self, file_no: str) -> list[dict]:
        """Who looked at this file, newest first."""
        self.flush()
        return _rows(self.db, record_views.c.file_no == file_no)

    def by(self, actor: str) -> list[dict]:
        """What this person looked at, newest first."""
        self.flush()
        return _rows(self.db, record_views.c.actor == actor)


def _rows(db, condition) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute(select(record_views).where(condition)
                            .order_by(record_views.c.at.desc(), record_views.c.id.desc()).limit(LIST_LIMIT)).all()
    return [{"at": r.at.isoformat(), "actor": r.actor, "file_no": r.file_no, "what": r.what} for r in rows]


def viewed_by(db, actor: str) -> list[dict]:
    """What `actor` looked at, newest first (for `csq audit views`: another process's ViewLog
    has written its rows within a second)."""
    return _rows(db, record_views.c.actor == actor)
