"""The audit trail as a hash chain: an event changed, removed or slipped in afterwards shows.

Every audit event carries `prev_hash` (the `hash` of the event before it; 64 zeros for the
first) and `hash` = sha256(prev_hash, newline, the event's canonical serialization). The
canonical serialization is compact JSON of the event's own columns (`CHAIN_FIELDS`) with
sorted keys, `at` written as UTC ISO-8601 with microseconds.

Where the hash is computed: in one place, `_chain_insert`, a SQLAlchemy `before_execute`
listener that `install(engine)` puts on the registry's engine (registry/db.py). Every
INSERT into audit_events through that engine gets its `prev_hash` and `hash` there, in the
inserting transaction, whoever calls it; the service's code does not know about the chain.
The chain stays one chain under concurrent writers: on PostgreSQL the listener takes a
transaction-level advisory lock before reading the last hash (held until commit, so the
next writer reads this one's hash); SQLite has one writer at a time (BEGIN IMMEDIATE), and a
stale reader cannot write.

`verify(conn)` walks the chain in id order and returns the first broken event: its stored
hash does not match its content (it was changed), or its prev_hash does not match the event
before it (an event was removed or inserted, or the one before was rewritten along with its
hash).

A chain recomputed whole by someone with write access to the database would pass that walk;
anchors catch it. `csq audit verify` appends the head it verified (event count, hash, time)
to `audit-anchors.jsonl` in the data folder, outside the database, and checks every earlier
anchor: the chain must still hold that hash at that position, and at least that many
events. Copy the file (or the printed head) somewhere the database's administrators cannot
write, such as the day's mailroom log, and the anchors hold against them too.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, bindparam, event, select, text
from sqlalchemy.sql.dml import Insert

from errors import StorageError
from registry.models import UTCDateTime

GENESIS = "0" * 64
TABLE = "audit_events"
CHAIN_FIELDS = ("at", "actor", "action", "file_no", "field", "old", "new", "detail")
# pg_advisory_xact_lock key of the chain ("csqa"); the migrations use 0x637371 ("csq").
PG_CHAIN_LOCK_ID = 0x63737161
VERIFY_BATCH = 5_000
ANCHORS_FILE = "audit-anchors.jsonl"  # in the data folder: one verified head per line

# The columns the chain reads, as a table of its own (the migration that adds the chain
# uses it too, so it must not depend on later changes to registry/models.py).
_events = Table(
    TABLE,
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime),
    Column("actor", String(64)),
    Column("action", String(32)),
    Column("file_no", String(16)),
    Column("field", String(64)),
    Column("old", Text),
    Column("new", Text),
    Column("detail", Text),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
)


def _utc_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # a driver that hands back text: parse it as the column type would
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"audit event time {value!r} is not a datetime")
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event_row) -> bytes:
    """The event's chained columns as compact, sorted JSON (a mapping or a row)."""
    get = event_row.get if hasattr(event_row, "get") else lambda k: getattr(event_row, k)
    doc = {k: get(k) for k in CHAIN_FIELDS}
    doc["at"] = _utc_text(doc["at"])
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_hash(prev_hash: str, event_row) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(event_row)).hexdigest()


# ------------------------------------------------------------------------------ writing


def install(engine: Engine) -> None:
    """Chain every audit event inserted through `engine` (idempotent)."""
    if not event.contains(engine, "before_execute", _chain_insert):
        event.listen(engine, "before_execute", _chain_insert, retval=True)


def last_hash(conn) -> str:
    """The head of the chain as this transaction sees it (after taking the chain's lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_CHAIN_LOCK_ID})
    head = conn.execute(select(_events.c.hash).where(_events.c.hash.is_not(None)).order_by(_events.c.id.desc()).limit(1)).scalar()
    return head or GENESIS


def _defaults(table) -> dict:
    """Scalar column defaults of the audit table (what the row will hold when a value is left out)."""
    out = {}
    for name in CHAIN_FIELDS:
        column = table.c.get(name)
        default = getattr(column, "default", None) if column is not None else None
        if default is not None and getattr(default, "is_scalar", False):
            out[name] = default.arg
    return out


def _complete(row: dict, defaults: dict) -> dict:
    return {k: (defaults.get(k) if row.get(k) is None else row.get(k)) for k in CHAIN_FIELDS}


def _chain_insert(conn, clauseelement, multiparams, params, execution_options):
    if not isinstance(clauseelement, Insert) or getattr(clauseelement.table, "name", None) != TABLE:
        return clauseelement, multiparams, params
    defaults = _defaults(clauseelement.table)
    prev = last_hash(conn)
    if multiparams or params:
        rows = [dict(r) for r in multiparams] if multiparams else [dict(params)]
        chained = []
        for row in rows:
            values = _complete(row, defaults)
            digest = event_hash(prev, values)
            chained.append({**row, **values, "prev_hash": prev, "hash": digest})
            prev = digest
        return (clauseelement, chained, {}) if multiparams else (clauseelement, [], chained[0])
    values = _complete(dict(clauseelement.compile().params), defaults)
    return clauseelement.values(**values, prev_hash=prev, hash=event_hash(prev, values)), multiparams, params


# ------------------------------------------------------------------------------ checking


@dataclass(frozen=True)
class Broken:
    """The first event where the chain does not hold."""

    id: int
    at: str | None
    action: str
    file_no: str | None
    field: str | None
    problem: str

    def describe(self) -> str:
        if self.id == 0:  # nothing left to name: the end of the chain is gone
            return f"its end: {self.problem}"
        what = f"audit event #{self.id} ({self.action}"
        what += f", file {self.file_no}" if self.file_no else ""
        what += f", field {self.field}" if self.field else ""
        what += f", {self.at})" if self.at else ")"
        return f"{what}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    events: int  # how many were checked (all of them when the chain holds)
    head: str  # the hash of the last event checked: record it elsewhere to anchor the chain
    broken: Broken | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def to_json(self) -> dict:
        return {"ok": self.ok, "events": self.events, "head": self.head, "broken": asdict(self.broken) if self.broken else None}


@dataclass(frozen=True)
class Anchor:
    """A head once verified: the chain held `events` events, the last one hashed `head`."""

    events: int
    head: str
    at: str  # when it was recorded, UTC ISO-8601


def verify(conn, anchors: Sequence[Anchor] = ()) -> ChainReport:
    """Walk the chain oldest first; stop at the first event where it breaks, or where it
    no longer holds the head an anchor recorded at that position."""
    prev, count = GENESIS, 0
    anchored = {a.events: a for a in anchors}
    result = conn.execution_options(yield_per=VERIFY_BATCH).execute(select(_events).order_by(_events.c.id))
    for row in result:
        problem = None
        anchor = anchored.get(count + 1)
        if anchor is not None and row.hash != anchor.head:
            problem = (f"it is not the event the chain held here on {anchor.at} ({ANCHORS_FILE}): the chain was "
                       "rewritten, hashes included, at this event or before it")
        elif row.hash is None or row.prev_hash is None:
            problem = "it has no hash: it was written around the registry (raw SQL), not by csq-intake"
        elif row.prev_hash != prev:
            problem = ("its link to the event before it does not match: an event before it was removed or inserted, "
                       "or the one before it was rewritten together with its hash")
        elif event_hash(row.prev_hash, row) != row.hash:
            problem = "its content does not match its hash: it was changed after it was written"
        if problem:
            result.close()
            return ChainReport(count, prev, Broken(row.id, _utc_text(row.at), row.action, row.file_no, row.field, problem))
        prev, count = row.hash, count + 1
    longest = max(anchored.values(), key=lambda a: a.events, default=None)
    if longest is not None and count < longest.events:
        return ChainReport(count, prev, Broken(0, None, "end of the chain", None, None,
                                               f"the chain ends after {count} event(s), but on {longest.at} it held {longest.events} "
                                               f"({ANCHORS_FILE}): events were removed from its end"))
    return ChainReport(count, prev, None)


def read_anchors(data_dir: Path) -> list[Anchor]:
    """The anchors recorded in the data folder (none if the file does not exist yet)."""
    path = Path(data_dir) / ANCHORS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError(f"cannot read the audit anchors ({exc.strerror}); check the file's permissions", path=str(path)) from exc
    anchors = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            anchors.append(Anchor(int(doc["events"]), str(doc["head"]), str(doc["at"])))
        except (ValueError, KeyError, TypeError):
            raise StorageError(f"line {number} is not an audit anchor; restore the file from its copy "
                               "(the mailroom log) or move it aside to start anchoring anew", path=str(path)) from None
    return anchors


def record_anchor(data_dir: Path, report: ChainReport, anchors: Sequence[Anchor]) -> Anchor | None:
    """Append the head of an intact chain to the anchors (not twice the same head)."""
    if not report.ok or report.events == 0 or any(a.events == report.events and a.head == report.head for a in anchors):
        return None
    anchor = Anchor(report.events, report.head, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    path = Path(data_dir) / ANCHORS_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(anchor), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise StorageError(f"cannot record the audit anchor ({exc.strerror}); free some space or fix the permissions, "
                           "then run the command again", path=str(path)) from exc
    return anchor


def chain_existing(conn) -> int:
    """Give the events of a registry from before the chain their prev_hash and hash (the
    migration that adds the chain calls this with the append-only triggers lifted)."""
    stmt = _events.update().where(_events.c.id == bindparam("b_id")).values(prev_hash=bindparam("b_prev"), hash=bindparam("b_hash"))
    prev, done, last_id = GENESIS, 0, 0
    while rows := conn.execute(select(_events).where(_events.c.id > last_id).order_by(_events.c.id).limit(VERIFY_BATCH)).all():
        batch = []
        for row in rows:
            digest = event_hash(prev, row)
            batch.append({"b_id": row.id, "b_prev": prev, "b_hash": digest})
            prev = digest
        conn.execute(stmt, batch)
        done, last_id = done + len(rows), rows[-1].id
    return done


def verify_and_anchor(db, data_dir: Path) -> tuple[ChainReport, int]:
    """`csq audit verify`: walk the chain of `db` (a registry.db.Database) against the data
    folder's anchors, and anchor its head if it holds. Returns the report and how many
    earlier anchors were checked."""
    anchors = read_anchors(data_dir)
    with db.read() as conn:
        report = verify(conn, anchors)
    record_anchor(data_dir, report, anchors)
    return report, len(anchors)
