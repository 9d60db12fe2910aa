"""The shared scan queue: many scanning stations and page-reading workers, one registry.

A station queues what a clerk scanned (`ScanQueue.enqueue`): one envelope (with its postmark)
or one stack (split at separator sheets later), its scanned files copied into the database
(so workers on other machines can read them, and the clerk's disk may fail after that), one
`scan_pages` row per page. Workers (`ScanQueue.work`) then, in a loop:

1. assemble: take a job whose pages are all read (`state = 'ready'`) with SELECT ... FOR
   UPDATE SKIP LOCKED, put its envelope(s) together with the scanner's own functions and
   register each with `Registry.register_mail`, mark the job done, commit;
2. otherwise read: take the next waiting page with SELECT ... FOR UPDATE SKIP LOCKED, read
   it, store the reading, and in the same transaction, holding the job's row lock, mark the
   job ready if that was its last page; commit.

Why this loses nothing and does nothing twice: a page or job is held by a row lock of an
open transaction, not by a flag. A worker that dies (kill -9, a lost connection) takes its
transaction with it: PostgreSQL rolls it back, the lock goes, and the next worker takes the
page or job where it was. Two workers never hold the same row (SKIP LOCKED), a page's
reading is committed once, and the job lock serialises "was that the last page?" so exactly
one worker sees the job become ready. Registration itself is idempotent (the envelope's
fingerprint is unique), so an assembly redone after a crash finds the envelopes it had
registered and registers the rest. Every claim is also written to `scan_claims` on a
separate connection (committed at once), which is how a test counts reads.

This module holds no scanner code (registry/ stays free of opencv): the worker is handed
the scanner's pure functions (scan/worker.py) by its caller, cli.py. The queue needs
PostgreSQL (row locks with SKIP LOCKED, many writers); on SQLite use `scan ingest` /
`scan batch` at one station.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy import exc as sa_exc

from errors import BadArguments, CsqError, DatabaseError, InputFileError
from registry.models import NAMING, UTCDateTime

# Scans larger than this are refused at the station (PostgreSQL's bytea holds 1 GB; a stack
# of 200 sheets at 300 dpi grey is about 150 MB).
MAX_FILE_BYTES = 512 * 1024 * 1024
POLL_SECONDS = 0.5

queue_metadata = MetaData(naming_convention=NAMING)
scan_jobs = Table(
    "scan_jobs", queue_metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(8), nullable=False),  # envelope | stack
    Column("state", String(8), nullable=False),  # reading | ready | done | failed
    Column("input_sha256", String(64), nullable=False, unique=True),
    Column("station", String(64), nullable=False),
    Column("postmark", Date),
    Column("postmark_illegible", Boolean, nullable=False),
    Column("received", Date),
    Column("envelope_image", LargeBinary),
    Column("page_count", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("assembled_by", String(64)),
    Column("result", Text),  # JSON: the intake result of each envelope registered
    Column("error", Text),
)
scan_files = Table(
    "scan_files", queue_metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", ForeignKey("scan_jobs.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", Text, nullable=False),  # as the station named it: kept as the pages' source_file
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary),  # dropped once the job is done
)
scan_pages = Table(
    "scan_pages", queue_metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", ForeignKey("scan_jobs.id"), nullable=False),
    Column("sequence", Integer, nullable=False),  # position in the whole scan, 0-based
    Column("file_id", ForeignKey("scan_files.id"), nullable=False),
    Column("page_index", Integer, nullable=False),  # page within its file, 0-based
    Column("state", String(8), nullable=False),  # waiting | read | failed
    Column("read_by", String(64)),
    Column("read_at", UTCDateTime),
    Column("reading", Text),  # the page reading as JSON (scan/worker.py), dropped once the job is done
    Column("image_png", LargeBinary),
    Column("error", Text),
)
scan_claims = Table(
    "scan_claims", queue_metadata,
    Column("id", Integer, primary_key=True),
    Column("page_id", ForeignKey("scan_pages.id"), nullable=False, index=True),
    Column("worker", String(64), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


@dataclass(frozen=True)
class Enqueued:
    job: int
    kind: str
    pages: int
    created: bool  # False: the same scan was queued before (nothing new written)
    state: str

    def to_json(self) -> dict:
        return {"job": self.job, "kind": self.kind, "pages": self.pages, "created": self.created, "state": self.state}


@dataclass(frozen=True)
class Scanner:
    """The scanner's pure functions the worker calls (scan/worker.py)."""

    read_page: Callable[..., tuple[str, bytes]]  # (path, index, sequence, source_name=) -> (reading JSON, PNG)
    envelope: Callable[..., object]  # (pages, envelope_image=, today=) -> EnvelopeReading
    stack: Callable[..., Iterator[object]]  # (pages, files, today=) -> EnvelopeReadings


@dataclass
class WorkerStats:
    worker: str
    pages_read: int = 0
    pages_failed: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    registered: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"worker": self.worker, "pages_read": self.pages_read, "pages_failed": self.pages_failed,
                "jobs_done": self.jobs_done, "jobs_failed": self.jobs_failed, "registered": self.registered,
                "seconds": round(self.seconds, 2)}


def require_postgresql(db_url: str) -> None:
    """Refuse a registry the queue cannot work on, before anything is opened or created."""
    from sqlalchemy.engine import make_url

    from registry.db import masked

    try:
        backend = make_url(db_url).get_backend_name()
    except sa_exc.ArgumentError:
        backend = None
    if backend != "postgresql":
        raise BadArguments(
            f"the shared scan queue needs PostgreSQL (--db postgresql+psycopg://...), not {masked(db_url)}: "
            "with SQLite read scans at one station with `csq scan ingest` or `csq scan batch`"
        )


class ScanQueue:
    def __init__(self, registry):
        require_postgresql(registry.db.url)
        self.registry = registry
        self.db = registry.db

    # ================================================================== stations

    def enqueue(
        self,
        files: list[Path],
        pages: list[tuple[str, int]],
        *,
        kind: str,
        postmark: date | None = None,
        received: date | None = None,
        envelope_image: bytes | None = None,
        station: str | None = None,
    ) -> Enqueued:
        """Queue one envelope (`kind="envelope"`, its postmark; None = illegible) or one stack.
        `pages` lists (file, page index) in scan order (scan.worker.list_pages checked them).
        The same scan queued again returns the job already there; a failed one is retried."""
        if kind not in ("envelope", "stack"):
            raise BadArguments(f"kind {kind!r}: envelope or stack")
        contents = [(str(path), _read_scan(Path(path))) for path in files]
        shas = [hashlib.sha256(data).hexdigest() for _, data in contents]
        identity = json.dumps({"kind": kind, "postmark": postmark.isoformat() if postmark else None,
                               "received": received.isoformat() if received else None, "files": shas,
                               "envelope": hashlib.sha256(envelope_image).hexdigest() if envelope_image else None})
        input_sha = hashlib.sha256(identity.encode()).hexdigest()
        already = self._existing(input_sha)
        if already is not None:
            return already
        try:
            with self.db.write() as conn:
                job = conn.execute(scan_jobs.insert().values(
                    kind=kind, state="reading", input_sha256=input_sha, station=(station or socket.gethostname())[:64],
                    postmark=postmark, postmark_illegible=kind == "envelope" and postmark is None, received=received,
                    envelope_image=envelope_image, page_count=len(pages), created_at=_now(),
                ).returning(scan_jobs.c.id)).scalar_one()
                file_ids = {}
                for position, ((name, data), sha) in enumerate(zip(contents, shas)):
                    file_ids[name] = conn.execute(scan_files.insert().values(
                        job_id=job, position=position, name=name, sha256=sha, size=len(data), content=data,
                    ).returning(scan_files.c.id)).scalar_one()
                conn.execute(scan_pages.insert(), [
                    {"job_id": job, "sequence": k, "file_id": file_ids[str(path)], "page_index": index, "state": "waiting"}
                    for k, (path, index) in enumerate(pages)
                ])
        except sa_exc.IntegrityError:  # the same scan queued by another station a moment ago
            already = self._existing(input_sha)
            if already is None:
                raise
            return already
        return Enqueued(job, kind, len(pages), True, "reading")

    def _existing(self, input_sha: str) -> Enqueued | None:
        with self.db.write() as conn:
            row = conn.execute(select(scan_jobs.c.id, scan_jobs.c.kind, scan_jobs.c.page_count, scan_jobs.c.state)
                               .where(scan_jobs.c.input_sha256 == input_sha).with_for_update()).first()
            if row is None:
                return None
            state = row.state
            if state == "failed":  # queued again after a failure: read it again
                conn.execute(update(scan_pages).where(scan_pages.c.job_id == row.id)
                             .values(state="waiting", reading=None, image_png=None, error=None, read_by=None, read_at=None))
                conn.execute(update(scan_jobs).where(scan_jobs.c.id == row.id)
                             .values(state="reading", error=None, result=None, finished_at=None, assembled_by=None))
                state = "reading"
            return Enqueued(row.id, row.kind, row.page_count, False, state)

    def jobs(self, ids: Iterable[int] | None = None) -> list[dict]:
        """The queued jobs, oldest first, with how far each has come."""
        j, p = scan_jobs, scan_pages
        read = (select(func.count()).where(p.c.job_id == j.c.id, p.c.state != "waiting").scalar_subquery())
        query = select(j.c.id, j.c.kind, j.c.state, j.c.station, j.c.page_count, read.label("pages_done"), j.c.created_at,
                       j.c.finished_at, j.c.assembled_by, j.c.result, j.c.error).order_by(j.c.id)
        if ids is not None:
            query = query.where(j.c.id.in_(list(ids)))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [{"job": r.id, "kind": r.kind, "state": r.state, "station": r.station, "pages": r.page_count,
                 "pages_done": r.pages_done, "created_at": r.created_at.isoformat(),
                 "finished_at": r.finished_at.isoformat() if r.finished_at else None, "assembled_by": r.assembled_by,
                 "applications": json.loads(r.result) if r.result else [], "error": r.error} for r in rows]

    # ==================================================================== workers

    def work(
        self,
        scanner: Scanner,
        *,
        once: bool = False,
        idle_exit: float | None = None,
        name: str | None = None,
        log: Callable[[str], None] = lambda line: None,
        poll: float = POLL_SECONDS,
    ) -> WorkerStats:
        """Assemble ready jobs and read waiting pages until there is nothing left (`once`) or
        nothing came for `idle_exit` seconds (None: run until stopped)."""
        stats = WorkerStats(name or worker_name())
        start = idle_since = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="csq-worker-") as cache:
            while True:
                try:
                    busy = self.assemble_one(scanner, stats, log) or self.read_one(scanner, stats, Path(cache))
                except DatabaseError as exc:  # the server restarted, a connection dropped: wait, try again
                    log(f"worker {stats.worker}: {exc}; trying again in 5 s")
                    time.sleep(5)
                    continue
                now = time.monotonic()
                if busy:
                    idle_since = now
                    continue
                if once or (idle_exit is not None and now - idle_since >= idle_exit):
                    break
                time.sleep(poll)
        stats.seconds = time.monotonic() - start
        return stats

    def read_one(self, scanner: Scanner, stats: WorkerStats, cache: Path) -> bool:
        """Read the next waiting page, holding its row lock until the reading is committed."""
        p, j = scan_pages, scan_jobs
        with self.db.errors(), self.db.engine.connect() as conn, conn.begin():
            page = conn.execute(
                select(p.c.id, p.c.job_id, p.c.sequence, p.c.file_id, p.c.page_index).where(p.c.state == "waiting")
                .order_by(p.c.job_id, p.c.sequence).limit(1).with_for_update(skip_locked=True, key_share=True)
            ).first()
            if page is None:
                return False
            self._record_claim(page.id, stats.worker)
            path, name = self._local_copy(conn, page.file_id, cache)
            try:
                reading, image = scanner.read_page(str(path), page.page_index, page.sequence, source_name=name)
                values = {"state": "read", "reading": reading, "image_png": image}
                stats.pages_read += 1
            except CsqError as exc:  # a page that cannot be decoded: the job fails as `scan ingest` would
                values = {"state": "failed", "error": str(exc).replace(str(path), name)}
                stats.pages_failed += 1
            except Exception as exc:  # noqa: BLE001 - a bug on one page must not stop every worker in turn
                values = {"state": "failed", "error": _internal(exc, f"{name}, page {page.page_index + 1}")}
                stats.pages_failed += 1
            conn.execute(update(p).where(p.c.id == page.id).values(read_by=stats.worker, read_at=_now(), **values))
            conn.execute(select(j.c.id).where(j.c.id == page.job_id).with_for_update(key_share=True))  # one "last page" at a time
            waiting = conn.execute(select(func.count()).where(p.c.job_id == page.job_id, p.c.state == "waiting")).scalar_one()
            if waiting == 0:
                conn.execute(update(j).where(j.c.id == page.job_id, j.c.state == "reading").values(state="ready"))
        return True

    def _record_claim(self, page_id: int, worker: str) -> None:
        """Every claim on the record at once (its own connection: it stays even if the reading
        is rolled back, so a page read twice after a crash shows as two claims)."""
        with self.db.engine.connect() as other, other.begin():
            other.execute(scan_claims.insert().values(page_id=page_id, worker=worker, claimed_at=_now()))

    def _local_copy(self, conn, file_id: int, cache: Path) -> tuple[Path, str]:
        f = scan_files
        row = conn.execute(select(f.c.name, f.c.sha256).where(f.c.id == file_id)).one()
        local = cache / f"{row.sha256}{Path(row.name).suffix.lower()[:8]}"
        if not local.exists():
            data = conn.execute(select(f.c.content).where(f.c.id == file_id)).scalar_one()
            if data is None:
                raise DatabaseError(f"the scan {row.name} of this job is no longer in the queue: queue it again")
            tmp = local.with_name(local.name + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, local)
        return local, row.name

    def assemble_one(self, scanner: Scanner, stats: WorkerStats, log: Callable[[str], None]) -> bool:
        """Put one ready job's envelope(s) together and register them, holding the job's row lock."""
        j, p, f = scan_jobs, scan_pages, scan_files
        with self.db.errors(), self.db.engine.connect() as conn, conn.begin():
            job = conn.execute(select(j).where(j.c.state == "ready").order_by(j.c.id).limit(1)
                               .with_for_update(skip_locked=True, key_share=True)).first()
            if job is None:
                return False
            pages = conn.execute(select(p.c.state, p.c.reading, p.c.image_png, p.c.error)
                                 .where(p.c.job_id == job.id).order_by(p.c.sequence)).all()
            scanned = conn.execute(select(f.c.name, f.c.content).where(f.c.job_id == job.id).order_by(f.c.position)).all()
            files = [r.name for r in scanned]
            # The registry keeps each scan as received: from the queue, since the station's files
            # need not be on this worker's machine.
            scans = {r.name: bytes(r.content) for r in scanned if r.content is not None}
            results, error = [], None
            failed = [r.error for r in pages if r.state == "failed"]
            if failed:
                error = failed[0]
            else:
                try:
                    for reading in self._envelopes(scanner, job, [(r.reading, r.image_png) for r in pages], files):
                        results.append(self._register(job, reading, scans))
                except DatabaseError:
                    raise  # the registry is unreachable: roll back, the job stays ready for a later try
                except CsqError as exc:  # an incomplete stack, dates that contradict: the clerk must act
                    error = str(exc)
                except Exception as exc:  # noqa: BLE001 - a job no worker can assemble must not stop them all
                    error = _internal(exc, f"job {job.id}")
            done = {"state": "failed" if error else "done", "finished_at": _now(), "assembled_by": stats.worker,
                    "result": json.dumps(results), "error": error}
            conn.execute(update(j).where(j.c.id == job.id).values(**done))
            if not error:  # what was read is registered: the queue need not keep the scans
                conn.execute(update(f).where(f.c.job_id == job.id).values(content=None))
                conn.execute(update(p).where(p.c.job_id == job.id).values(reading=None, image_png=None))
        stats.registered += [r["file_no"] for r in results]
        if error:
            stats.jobs_failed += 1
            log(f"job {job.id} ({job.kind}, station {job.station}): {error}")
        else:
            stats.jobs_done += 1
            log(f"job {job.id} ({job.kind}, station {job.station}): registered {', '.join(r['file_no'] for r in results) or 'nothing'}")
        return True

    def _envelopes(self, scanner: Scanner, job, pages: list[tuple[str, bytes]], files: list[str]) -> Iterator[object]:
        today = job.created_at.astimezone().date()  # the station's day, as if read there and then
        if job.kind == "envelope":
            yield scanner.envelope(pages, envelope_image=job.envelope_image, today=today)
        else:
            yield from scanner.stack(pages, files, today=today)

    def _register(self, job, reading, scans: dict[str, bytes]) -> dict:
        received = job.received or job.created_at.astimezone().date()
        return self.registry.register_mail(reading, postmark=job.postmark, received=received, scans=scans).to_json()


def _internal(exc: Exception, where: str) -> str:
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{where}: internal error ({type(exc).__name__}: {first}); queue the scan again, and report it if it happens again"


def _read_scan(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputFileError(f"is {size // 2**20} MB, more than the queue takes ({MAX_FILE_BYTES // 2**20} MB): "
                                 "split the stack into smaller scans", path=str(path))
        return path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read it ({exc.strerror}): check the path", path=str(path)) from None
