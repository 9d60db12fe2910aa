"""Many stations, one registry (registry/work_queue.py, scan/worker.py): scans queued in
PostgreSQL are read by worker processes claiming pages with SELECT ... FOR UPDATE SKIP
LOCKED; the envelope whose pages are all read is assembled and registered by one of them.

Real processes (`python -m cli scan worker`), a real PostgreSQL schema per test, generated
scans. Four workers read every page exactly once (the claims table counts every claim) and
register exactly what one station's `scan batch` / `scan ingest` registers; a worker killed
in the middle of a page loses nothing (its page is read again by another, still registered
once)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from registry.service import Registry
from samples.generate import generate_corpus
from scan import worker as scan_worker
from scan.worker import FORMAT
from test_cli import ROOT, csq
from test_registry import POLICY, pg_database, pg_url  # noqa: F401 - fixtures: a throw-away PostgreSQL schema

pytestmark = pytest.mark.postgres
RECEIVED = "2026-03-02"
ENVELOPE = ROOT / "samples" / "corpus" / "env-0003-prefilled-pdf"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Path:
    """Three envelopes behind separator sheets in one PDF: handwritten and prefilled."""
    out = tmp_path_factory.mktemp("stack")
    samples = generate_corpus(out, count=3, seed=61, stack=True, stack_size=(3, 3), prefilled_share=0.4)
    assert len({s.files for s in samples}) == 1
    return samples[0].files[0]


def personal_data(stack_file: Path) -> list[str]:
    """Names and passport numbers of the people in the stack (from the truth beside it)."""
    out = []
    for truth in stack_file.parent.glob("env-*.truth.json"):
        fields = json.loads(truth.read_text(encoding="utf-8"))["fields"]
        out += [fields[k] for k in ("family_name", "passport_number") if fields.get(k)]
    return out


def comparable(rows: list[dict]) -> list[str]:
    """The export without what depends on the order of registration (file numbers, the draw
    keys made from them, duplicates named by file number): sorted, as text."""
    out = []
    for row in rows:
        row = {k: v for k, v in row.items() if k not in ("file_no", "draw_key", "rank", "duplicate_of")}
        out.append(json.dumps(row, sort_keys=True, ensure_ascii=False))
    return sorted(out)


def exported(db_url: str, data_dir: Path) -> list[dict]:
    with Registry.open(db_url, data_dir) as reg:
        return list(reg.export_rows())


def start_worker(db_url: str, data_dir: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "CSQ_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("CSQ_DATABASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "cli", "--db", db_url, "scan", "worker", "--json", *args],
                            cwd=data_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def queue_rows(db_url: str, sql: str) -> list:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).all()
    finally:
        engine.dispose()


def test_four_workers_read_each_page_once_and_register_what_one_station_does(stack, pg_url, tmp_path):
    # One station, the classic way (SQLite): the stack and one envelope.
    one = tmp_path / "one"
    one.mkdir()
    single_url = f"sqlite:///{one / 'registry.db'}"
    proc = csq("--db", single_url, "scan", "batch", str(stack), "--received", RECEIVED, "--json", cwd=one)
    assert proc.returncode == 0, proc.stderr
    proc = csq("--db", single_url, "scan", "ingest", str(ENVELOPE / "env-0003.pdf"), "--postmark", "2026-02-20",
               "--received", RECEIVED, "--json", cwd=one)
    assert proc.returncode == 0, proc.stderr

    # Two stations queue the same scans; four workers read them.
    many = tmp_path / "many"
    many.mkdir()
    # The station's copy of the stack is gone before the workers run (they may be on another
    # machine): the registry keeps the scan as received from the queue.
    station_copy = many / f"stack{stack.suffix}"
    shutil.copyfile(stack, station_copy)
    proc = csq("--db", pg_url, "scan", "enqueue", str(station_copy), "--stack", "--received", RECEIVED, "--station", "mailroom-1",
               "--json", cwd=many)
    assert proc.returncode == 0, proc.stderr
    queued = json.loads(proc.stdout)
    assert queued["created"] and queued["kind"] == "stack"
    proc = csq("--db", pg_url, "scan", "enqueue", str(ENVELOPE / "env-0003.pdf"), "--postmark", "2026-02-20",
               "--received", RECEIVED, "--station", "mailroom-2", "--json", cwd=many)
    assert proc.returncode == 0, proc.stderr
    total_pages = queued["pages"] + json.loads(proc.stdout)["pages"]
    again = csq("--db", pg_url, "scan", "enqueue", str(station_copy), "--stack", "--received", RECEIVED, "--json", cwd=many)
    assert json.loads(again.stdout) == {**queued, "created": False}  # queued twice: one job
    station_copy.unlink()

    data = many / "csq-data"
    workers = [start_worker(pg_url, data, "--once") for _ in range(4)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0] * 4, [e for _, e in outputs]
    stats = [json.loads(out) for out, _ in outputs]
    secrets_ = personal_data(stack)
    assert len(secrets_) == 6 and not [x for _, err in outputs for x in secrets_ if x in err]  # workers' logs: file numbers only
    assert sum(s["pages_read"] for s in stats) == total_pages
    assert sum(s["jobs_done"] for s in stats) == 2

    claims = queue_rows(pg_url, "SELECT page_id, count(*) FROM scan_claims GROUP BY page_id")
    assert len(claims) == total_pages and {n for _, n in claims} == {1}  # every page claimed exactly once
    readers = queue_rows(pg_url, "SELECT read_by, count(*) FROM scan_pages WHERE state = 'read' GROUP BY read_by")
    assert sum(n for _, n in readers) == total_pages and len(readers) >= 2  # the work was shared
    jobs = queue_rows(pg_url, "SELECT state, assembled_by, result FROM scan_jobs ORDER BY id")
    assert [j.state for j in jobs] == ["done", "done"]
    assert [len(json.loads(j.result)) for j in jobs] == [3, 1]
    # The scans are not kept in the queue once registered, but in the registry, once each, as received.
    assert queue_rows(pg_url, "SELECT count(*) FROM scan_files WHERE content IS NOT NULL")[0][0] == 0
    kept = sorted(p.read_bytes() for p in (data / "images").rglob("*") if p.is_file())
    assert kept == sorted([stack.read_bytes(), (ENVELOPE / "env-0003.pdf").read_bytes()])

    mine, theirs = exported(pg_url, data), exported(single_url, one / "csq-data")
    assert len(mine) == 4
    assert comparable(mine) == comparable(theirs)
    registered = queue_rows(pg_url, "SELECT count(*) FROM audit_events WHERE action = 'registered'")[0][0]
    assert registered == 4  # each envelope registered once, not once per worker
    proc = csq("--db", pg_url, "scan", "jobs", "--json", cwd=many)
    assert [j["state"] for j in json.loads(proc.stdout)] == ["done", "done"]
    proc = csq("--db", pg_url, "registry", "check", "--json", cwd=many, env={"CSQ_DATA_DIR": str(data)})
    assert proc.returncode == 0 and json.loads(proc.stdout)["ok"], proc.stdout + proc.stderr


def test_a_worker_killed_in_the_middle_of_a_page_loses_nothing(stack, pg_url, tmp_path):
    data = tmp_path / "csq-data"
    proc = csq("--db", pg_url, "scan", "enqueue", str(stack), "--stack", "--received", RECEIVED, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pages = json.loads(proc.stdout)["pages"]
    victim = start_worker(pg_url, data)
    # Kill it -9 once it holds its third page (claims are committed at once, readings later).
    deadline = time.monotonic() + 300
    while queue_rows(pg_url, "SELECT count(*) FROM scan_claims")[0][0] < 3:
        assert victim.poll() is None and time.monotonic() < deadline, victim.stderr.read() if victim.poll() is not None else "too slow"
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    held = queue_rows(pg_url, "SELECT page_id FROM scan_claims ORDER BY id DESC LIMIT 1")[0][0]
    assert queue_rows(pg_url, f"SELECT state FROM scan_pages WHERE id = {held}")[0][0] == "waiting"  # its reading rolled back

    rest = [start_worker(pg_url, data, "--once") for _ in range(2)]
    for w in rest:
        _, err = w.communicate(timeout=600)
        assert w.returncode == 0, err
    claims = dict(queue_rows(pg_url, "SELECT page_id, count(*) FROM scan_claims GROUP BY page_id"))
    assert len(claims) == pages and claims[held] == 2 and sum(claims.values()) == pages + 1
    assert queue_rows(pg_url, "SELECT state FROM scan_jobs")[0][0] == "done"
    assert len(exported(pg_url, data)) == 3
    assert queue_rows(pg_url, "SELECT count(*) FROM audit_events WHERE action = 'registered'")[0][0] == 3


def test_page_readings_travel_as_json_exactly(stack):
    """What a worker stores is what the station would have had in hand (no pickle)."""
    from scan.pipeline import PageTask, process_page

    kinds = set()
    for index in range(6):
        result = process_page(PageTask(str(stack), index, index))
        text_, png = scan_worker.encode(result)
        assert scan_worker.decode(text_, png) == result
        kinds.add(result.record.kind)
    assert {"separator", "form"} <= kinds


def test_the_queue_refuses_sqlite_before_touching_anything(tmp_path):
    db = tmp_path / "registry.db"
    for args in (["scan", "worker", "--once"], ["scan", "enqueue", str(ENVELOPE / "env-0003.pdf"), "--postmark", "2026-02-20"],
                 ["scan", "jobs"]):
        proc = csq("--db", f"sqlite:///{db}", *args, cwd=tmp_path)
        assert proc.returncode == 2 and "needs PostgreSQL" in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not db.exists()


def test_a_job_no_worker_can_assemble_fails_alone_and_can_be_queued_again(pg_url, tmp_path):
    """A stored reading that cannot be decoded (a damaged row, a bug): the job fails with one
    line saying so, the worker goes on; queueing the scan again reads it again."""
    scan = str(ENVELOPE / "env-0003.pdf")
    enqueue = ("scan", "enqueue", scan, "--postmark", "2026-02-20", "--received", RECEIVED, "--json")
    job = json.loads(csq("--db", pg_url, *enqueue, cwd=tmp_path).stdout)["job"]
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE scan_pages SET state = 'read', reading = '{{\"format\": {FORMAT}, \"task\": 7}}', image_png = ''"))
        conn.execute(text("UPDATE scan_jobs SET state = 'ready'"))
    engine.dispose()
    proc = start_worker(pg_url, tmp_path / "csq-data", "--once")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and json.loads(out)["jobs_failed"] == 1, err
    (row,) = json.loads(csq("--db", pg_url, "scan", "jobs", str(job), "--json", cwd=tmp_path).stdout)
    assert row["state"] == "failed" and row["error"].startswith(f"job {job}: internal error (KeyError") and "queue the scan again" in row["error"]
    assert queue_rows(pg_url, "SELECT count(*) FROM applications")[0][0] == 0

    again = json.loads(csq("--db", pg_url, *enqueue, cwd=tmp_path).stdout)
    assert again == {"job": job, "kind": "envelope", "pages": row["pages"], "created": False, "state": "reading"}
    proc = start_worker(pg_url, tmp_path / "csq-data", "--once")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and json.loads(out)["jobs_done"] == 1, err
    assert len(exported(pg_url, tmp_path / "csq-data")) == 1
