"""Priority and the queue: the ranking and the queue in priority order.

`rank` writes every queued application's place (1..n) and cap verdict into queue_places
(a narrow table: ranking a million applications rewrites no application row); `iter_queue`
streams the queue in priority order with those ranks. The order is priority.priority_order's:
priority date, then draw key, then file number. Who is queued: records.eligible.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, cast, delete, func, insert, select, text, true, type_coerce

from errors import BadArguments, DatabaseError
from registry.models import applications, queue_places
from registry.priority import PENDING_STATES
from registry.records import STREAM_BATCH, RegistryParts, eligible, write_audit

# Queue order, the same as priority.priority_order: date, then draw key, then file number.
ORDER = (applications.c.priority_date, applications.c.draw_key, applications.c.file_no)

# The statuses of applications out of the queue, counted in the rank summary.
NOT_RANKED = ("incomplete", "premature", "late", "duplicate", "withdrawn")


@dataclass(frozen=True)
class _Tally:
    """What a ranking wrote: places 1..queued, and the places held by applications being verified."""

    queued: int
    first: int | None
    last: int | None
    pending_within: int
    pending_beyond: int


def rank(registry: RegistryParts, cap: int | None = None) -> dict:
    """Rank the queue by (priority date, draw key): ranks 1..n; the first `cap` places
    are within the cap (None: all). Complete applications read `ranked` or
    `beyond_cap`; those still being verified keep their place (counted in the cap) and
    their status, and read ranked or beyond_cap as soon as they are complete."""
    if cap is not None and cap < 0:
        raise BadArguments(f"cap {cap}: give a number of places, 0 or more")
    t = applications
    with registry.db.write() as conn:
        tally = _write_places(registry, conn, cap)
        if tally.queued and (tally.first, tally.last) != (1, tally.queued):
            raise DatabaseError(f"the ranking of {registry.db.shown_url} came out as {tally.first}..{tally.last} for {tally.queued} places; nothing was changed")
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
            "draw_seed_sha256": registry.policy.seed_sha256,
        }
        write_audit(conn, actor="rank", action="rank", detail=json.dumps(summary))
    return summary


def _write_places(registry: RegistryParts, conn: Connection, cap: int | None) -> _Tally:
    """queue_places := every queued application, its rank (1..n) and cap verdict; returns
    the counts the summary needs.

    Both ways read the queue from its covering index in priority order. SQLite buffers a
    window function's whole partition, so there the rank comes from the row ids of a
    temporary table filled in priority order; the places are then written in application
    order (appended, not inserted here and there)."""
    t, p = applications, queue_places
    within = (lambda rank: rank <= cap) if cap is not None else (lambda rank: true())
    if registry.db.dialect == "postgresql":
        # The table is refilled without its primary key, which is then built in one sort:
        # a million index inserts cost twice as much. TRUNCATE holds the table's lock
        # until commit, so nobody sees it without its key.
        conn.execute(text("TRUNCATE queue_places"))
        conn.execute(text("ALTER TABLE queue_places DROP CONSTRAINT pk_queue_places"))
        ordered = select(t.c.id.label("app_id"), func.row_number().over(order_by=ORDER).label("place")).where(eligible(registry.policy)).subquery()
        # Written in rank order: iter_queue reads the ranks in that order (_with_ranks).
        queued = conn.execute(insert(p).from_select(["application_id", "rank", "within_cap"],
                                                    select(ordered.c.app_id, ordered.c.place, within(ordered.c.place))),
                              execution_options={"preserve_rowcount": True}).rowcount
        # More memory for the key's sort: PostgreSQL gives each parallel worker 32 MB or
        # more, so the default 64 MB allows one. Measured: 0.6-0.75 s instead of 0.85-1.0.
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        conn.execute(text("ALTER TABLE queue_places ADD CONSTRAINT pk_queue_places PRIMARY KEY (application_id)"))
        # row_number() numbers the rows it is given 1..n: no scan of the places to check it.
        return _Tally(queued, 1 if queued else None, queued or None, *_pending_places(conn))
    in_order = select(t.c.id).where(eligible(registry.policy)).order_by(*ORDER)
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
    return _Tally(queued, first, last, *_pending_places(conn))


def _pending_places(conn: Connection) -> tuple[int, int]:
    """How many places within and beyond the cap are held by applications being verified."""
    t, p = applications, queue_places
    # The few applications being verified, each looked up in the places (a join would
    # make PostgreSQL hash all million places).
    place = select(p.c.within_cap).where(p.c.application_id == t.c.id).scalar_subquery().label("within")
    pending = dict(conn.execute(select(place, func.count()).where(t.c.status.in_(PENDING_STATES)).group_by(place)).all())
    return pending.get(True, 0), pending.get(False, 0)


def iter_queue(registry: RegistryParts) -> Iterator[dict]:
    """The queue in priority order, streamed: `{file_no, rank, priority_date, channel}`.
    `rank` is that of the last `rank` run (None for applications queued since)."""
    t, p = applications, queue_places
    if registry.db.dialect != "postgresql":
        # SQLite stores dates as ISO text: taken as they are, not parsed and printed again.
        query = select(t.c.id, t.c.file_no, type_coerce(t.c.priority_date, String), t.c.channel).where(eligible(registry.policy)).order_by(*ORDER)
        with registry.db.read() as conn:
            # One sequential read of the ranks costs less than a lookup for each application.
            ranks = dict(registry.db.raw_rows(conn, select(p.c.application_id, p.c.rank), batch=STREAM_BATCH))
            for app_id, file_no, day, channel in registry.db.raw_rows(conn, query, batch=STREAM_BATCH):
                yield {"file_no": file_no, "rank": ranks.get(app_id), "priority_date": day, "channel": channel}
        return
    import psycopg  # the PostgreSQL driver, only needed here

    query = select(t.c.id, t.c.file_no, cast(t.c.priority_date, Text), t.c.channel).where(eligible(registry.policy)).order_by(*ORDER)
    with registry.db.read() as conn:
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
                rows = registry.db.raw_rows(conn, query, batch=STREAM_BATCH)
            try:
                yield from _with_ranks(rows, place_ids, place_ranks)
            finally:  # a reader that stops early: the query ends inside the transaction
                rows.close()


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
