"""Benchmark of the registry at intake scale (`csq bench queue`): rank and list a million applications.

Not a test: `bench_queue(db_url, n)` fills an EMPTY registry with `n` synthetic
applications by the fastest path each backend has (executemany on SQLite, COPY on
PostgreSQL; this part is not timed), then times what staff run on intake day: `rank(cap)`
and reading the whole queue in priority order. Target: rank + queue under 5 s at 1,000,000.

`bench_registry(db, folder)`: the throw-away registry each registry benchmark (queue, api,
load) runs in, a PostgreSQL database created and dropped or SQLite in a temporary folder.
"""

from __future__ import annotations

import os
import random
import secrets
import tempfile
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import func, select

from errors import BadArguments, DatabaseError
from registry.filenumber import format_file_no
from registry.models import applications
from registry.priority import PriorityPolicy, draw_key, load_policy
from registry.service import Registry

# The maintenance database of the local server, where throw-away databases are created from.
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
DB_CHOICES = ("auto", "postgres", "sqlite")

TARGET_SECONDS = 5.0
# The share of synthetic applications still being verified, and incomplete, at ranking time.
IN_REVIEW_SHARE = 0.05
INCOMPLETE_SHARE = 0.02

COLUMNS = (
    "file_no", "channel", "status", "review_state", "postmark_date", "postmark_illegible", "postmark_needs_review",
    "received_date", "submitted_at", "own_priority_date", "priority_date", "priority_rule", "draw_key",
    "form_id", "form_version", "registered_at", "registered_by", "updated_at", "problems",
)


def synthetic_rows(n: int, policy: PriorityPolicy, *, seed: int = 2016):
    """`n` applications, half by mail, half online, spread over the intake window."""
    rnd = random.Random(seed)
    opening = policy.opening_date or date(2026, 1, 5)
    span = max(((policy.closing_date or opening + timedelta(days=86)) - opening).days, 1)
    now = datetime.now(timezone.utc)
    sequences = {"mail": 0, "online": 0}
    for i in range(n):
        channel = "mail" if i % 2 == 0 else "online"
        sequences[channel] += 1
        file_no = format_file_no(2026, channel, sequences[channel])
        day = opening + timedelta(days=int(rnd.random() * rnd.random() * span))  # most arrive early
        roll = rnd.random()
        state = "in_review" if roll < IN_REVIEW_SHARE else "incomplete" if roll < IN_REVIEW_SHARE + INCOMPLETE_SHARE else "complete"
        yield (
            file_no, channel, state, state,
            day if channel == "mail" else None, False, False,
            day + timedelta(days=3) if channel == "mail" else day,
            datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=15) if channel == "online" else None,
            day, day, "postmark" if channel == "mail" else "submitted_at", draw_key(policy.draw_seed, file_no),
            "csq-rtq", "2026.1", now, "bench", now, "",
        )


def _fill_sqlite(registry: Registry, rows) -> None:
    def stored(value):  # SQLAlchemy's own storage format for SQLite dates and times
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(value, date):
            return value.isoformat()
        return value

    raw = registry.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        cursor.executemany(
            f"INSERT INTO applications ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            (tuple(stored(v) for v in row) for row in rows),
        )
        cursor.execute("COMMIT")
    finally:
        raw.close()


def _fill_postgresql(registry: Registry, rows) -> None:
    raw = registry.db.engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY applications ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        raw.driver_connection.commit()
        # What autovacuum does soon after a bulk load in service: statistics for the planner,
        # and the visibility map that lets the queue be read from its index alone.
        raw.driver_connection.autocommit = True
        with raw.driver_connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE applications")
        raw.driver_connection.autocommit = False
    finally:
        raw.close()


def bench_queue(db_url: str, n: int = 1_000_000, *, data_dir: Path | None = None, policy: PriorityPolicy | None = None) -> dict:
    """Fill an empty registry with `n` applications; time `rank` and the full queue."""
    policy = policy or load_policy()
    registry = Registry.open(db_url, data_dir or Path(tempfile.mkdtemp(prefix="csq-bench-")), policy=policy)
    try:
        with registry.db.read() as conn:
            if conn.execute(select(func.count()).select_from(applications)).scalar_one():
                raise BadArguments(f"{registry.db.shown_url} already holds applications: benchmark an empty registry")
        started = time.perf_counter()
        fill = _fill_postgresql if registry.db.dialect == "postgresql" else _fill_sqlite
        fill(registry, synthetic_rows(n, policy))
        filled, filled_cpu = time.perf_counter(), time.process_time()
        summary = registry.rank(n // 2)
        ranked, ranked_cpu = time.perf_counter(), time.process_time()
        listed = sum(1 for _ in registry.iter_queue())
        done, done_cpu = time.perf_counter(), time.process_time()
        rerank_start = time.perf_counter()
        registry.rank(n // 2)  # the next day: the same work again
        rerank = time.perf_counter() - rerank_start
    finally:
        registry.close()
    return {
        "backend": registry.db.dialect,
        "n": n,
        "insert_s": round(filled - started, 2),
        "rank_s": round(ranked - filled, 2),
        "queue_s": round(done - ranked, 2),
        "rank_plus_queue_s": round(done - filled, 2),
        "rerank_s": round(rerank, 2),
        # CPU time of this process: all the work on SQLite, the client's share on PostgreSQL.
        "rank_cpu_s": round(ranked_cpu - filled_cpu, 2),
        "queue_cpu_s": round(done_cpu - ranked_cpu, 2),
        # Other programs' load skews wall times on a shared machine: said with the figures.
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "target_s": TARGET_SECONDS,
        "within_target": done - filled < TARGET_SECONDS,
        "queued": listed,
        "ranked": summary["ranked"],
        "beyond_cap": summary["beyond_cap"],
        "being_verified": summary["being_verified"],
        "being_verified_within_cap": summary["being_verified_within_cap"],
    }


@contextmanager
def bench_registry(db: str, folder: Path, pg_admin: str = PG_ADMIN) -> Iterator[tuple[str, str]]:
    """(URL, how it was chosen) of an empty registry for one run, removed afterwards unless
    it is a URL the caller gave. `db`: auto, postgres, sqlite, or a registry URL."""
    if db not in DB_CHOICES:
        if not db.startswith(("sqlite:", "postgresql")):
            raise BadArguments(f"--db {db!r}: use auto, postgres, sqlite or a registry URL (sqlite:///... or postgresql+psycopg://...)")
        yield db, "the registry URL given (must be empty)"
        return
    admin = None
    if db in ("auto", "postgres"):
        import psycopg

        try:
            admin = psycopg.connect(pg_admin, autocommit=True)
        except psycopg.OperationalError as exc:
            if db == "postgres":
                raise DatabaseError(f"PostgreSQL does not answer ({pg_admin}): start it, or run with --db sqlite "
                                    f"({str(exc).strip().splitlines()[0]})") from None
    if admin is None:
        why = "asked for" if db == "sqlite" else "PostgreSQL did not answer on 127.0.0.1:5432"
        yield f"sqlite:///{folder / 'registry.db'}", f"SQLite in a temporary folder ({why})"
        return
    name = f"csq_load_{secrets.token_hex(5)}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_URL.format(database=name), f"throw-away PostgreSQL database {name} (dropped afterwards)"
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
