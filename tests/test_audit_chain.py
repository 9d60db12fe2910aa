"""The audit trail is a hash chain (registry/audit_chain.py, migration 0003): a correction keeps
it intact; an event changed, removed or written around the registry afterwards is named by
`csq audit verify`; concurrent writers on PostgreSQL still make one chain; a registry from
before the chain gets its old events chained by the migration.

Tampering needs the append-only trigger out of the way first, as it would for an intruder
with the database owner's password: that is exactly the case the chain is for."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from registry import audit_chain
from registry.db import Database
from registry.service import Registry
from test_cli import csq
# Fixtures of the registry's tests: `registry` on a SQLite file and on a throw-away PostgreSQL schema.
from test_registry import POLICY, db_url, head_revision, person, registry  # noqa: F401 - fixtures (PostgreSQL ones: conftest.py)

SUBMITTED = datetime(2026, 2, 2, 15, tzinfo=timezone.utc)


def verify(reg: Registry) -> audit_chain.ChainReport:
    with reg.db.read() as conn:
        return audit_chain.verify(conn)


def events(reg: Registry) -> list:
    with reg.db.read() as conn:
        return conn.execute(text("SELECT id, action, file_no, field, new, prev_hash, hash FROM audit_events ORDER BY id")).all()


def lift_append_only(reg: Registry, conn) -> None:
    """What an intruder with the owner's rights does first."""
    if reg.db.dialect == "postgresql":
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    else:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("DROP TRIGGER audit_events_no_delete"))


def corrected(reg: Registry) -> str:
    """An application and a reviewer's correction of it: a few audit events."""
    file_no = reg.submit_online(person(), submitted_at=SUBMITTED).file_no
    reg.review_set(file_no, "city", "LIÈGE", by="reviewer1")
    return file_no


def test_a_correction_keeps_the_chain(registry, db_url, tmp_path):
    file_no = corrected(registry)
    rows = events(registry)
    assert [r.action for r in rows if r.file_no == file_no][:2] == ["registered", "status"]
    assert "review_set" in [r.action for r in rows]
    assert rows[0].prev_hash == audit_chain.GENESIS
    assert all(r.prev_hash == before.hash for before, r in zip(rows, rows[1:]))
    report = verify(registry)
    assert report.ok and report.events == len(rows) and report.head == rows[-1].hash
    proc = csq("--db", db_url, "audit", "verify", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = events(registry)  # (the command's default rules differ from the tests': their change is an event too)
    assert json.loads(proc.stdout) == {"ok": True, "events": len(rows), "head": rows[-1].hash, "broken": None}


def test_an_old_event_changed_with_raw_sql_is_named(registry, db_url, tmp_path):
    file_no = corrected(registry)
    target = next(r for r in events(registry) if r.action == "review_set")
    registry.submit_online(person(2), submitted_at=SUBMITTED)  # the changed event is not the last one
    with registry.db.write() as conn:
        lift_append_only(registry, conn)
        conn.execute(text("UPDATE audit_events SET new = 'NAMUR' WHERE id = :id"), {"id": target.id})
    report = verify(registry)
    assert not report.ok and report.broken.id == target.id and "changed after it was written" in report.broken.problem
    proc = csq("--db", db_url, "audit", "verify", cwd=tmp_path)
    assert proc.returncode == 7 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"audit event #{target.id} (review_set, file {file_no}, field city" in lines[0]
    # --json: the report on stdout, still the exit code and the line.
    proc = csq("--db", db_url, "audit", "verify", "--json", cwd=tmp_path)
    assert proc.returncode == 7 and json.loads(proc.stdout)["broken"]["id"] == target.id


def test_a_rewritten_hash_or_a_removed_event_breaks_the_next_link(registry):
    corrected(registry)
    rows = events(registry)
    victim, after = rows[1], rows[2]
    with registry.db.write() as conn:
        lift_append_only(registry, conn)
        # The intruder recomputes the changed event's own hash: the next event's link still tells.
        forged = {**conn.execute(text("SELECT * FROM audit_events WHERE id = :id"), {"id": victim.id}).mappings().one(), "new": "forged"}
        conn.execute(text("UPDATE audit_events SET new = 'forged', hash = :h WHERE id = :id"),
                     {"h": audit_chain.event_hash(victim.prev_hash, forged), "id": victim.id})
    report = verify(registry)
    assert report.broken.id == after.id and "link to the event before it" in report.broken.problem
    with registry.db.write() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": victim.id})
    assert verify(registry).broken.id == after.id


def test_an_event_written_around_the_registry_is_named(registry):
    corrected(registry)
    from sqlalchemy import create_engine

    engine = create_engine(registry.db.url)  # not the registry's engine: no chain listener on it
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_events (at, actor, action, detail) VALUES (:at, 'mallory', 'review_set', '')"),
                     {"at": datetime(2026, 2, 3, tzinfo=timezone.utc).replace(tzinfo=None)})
        slipped = conn.execute(text("SELECT max(id) FROM audit_events")).scalar_one()
    engine.dispose()
    report = verify(registry)
    assert report.broken.id == slipped and "written around the registry" in report.broken.problem


@pytest.mark.postgres
def test_concurrent_writers_make_one_chain(pg_url, tmp_path):
    """Eight threads registering and correcting at once: without the chain's lock two of them
    would read the same head and fork the chain."""
    reg = Registry.open(pg_url, tmp_path / "data", policy=POLICY)
    errors = []

    def write(k: int) -> None:
        try:
            for i in range(3):
                file_no = reg.submit_online(person(10 + 3 * k + i), submitted_at=SUBMITTED).file_no
                reg.review_set(file_no, "city", f"VILLE {k} {i}", by=f"reviewer{k}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    report = verify(reg)
    assert report.ok, report.broken
    assert report.events == len(events(reg)) >= 8 * 3 * 3
    reg.close()


def test_migration_chains_the_events_already_there(db_url, tmp_path):
    """A registry at revision 0002 with events of its own: 0003 chains them, oldest first."""
    from alembic import command

    db = Database(db_url)
    with db.write() as conn:
        command.upgrade(db.alembic_config(conn), "0002")
        for k, action in enumerate(["user_added", "rank", "user_added"]):
            conn.execute(text("INSERT INTO audit_events (at, actor, action, field, new, detail) VALUES (:at, 'admin', :a, 'role', :n, :d)"),
                         {"at": datetime(2026, 1, 5 + k, 9, 30, 0, 123456 * (k + 1) % 1000000), "a": action, "n": "clerk", "d": f"user{k}"})
    db.dispose()
    with Registry.open(db_url, tmp_path / "data", policy=POLICY) as reg:
        rows = events(reg)
        assert len(rows) == 3 and all(r.hash for r in rows)
        assert verify(reg).ok
        reg.add_user("clerk9", "clerk", "correct horse battery")  # new events go on from the chained ones
        rows = events(reg)
        assert rows[-1].prev_hash == rows[-2].hash and verify(reg).events == len(rows)
        # Down again (the columns go) and up again (chained again, same hashes: same content).
        with reg.db.write() as conn:
            command.downgrade(reg.db.alembic_config(conn), "0002")
        assert reg.db.migrate() == head_revision()
        assert [r.hash for r in events(reg)] == [r.hash for r in rows]


def test_canonical_form_is_stable():
    """The hash of an event is a published function of its content: pinned here."""
    event = {"at": datetime(2026, 2, 16, 14, 3, 7, 250000, tzinfo=timezone.utc), "actor": "reviewer1", "action": "review_set",
             "file_no": "26M-000001-1", "field": "city", "old": "LIEGE", "new": "LIÈGE", "detail": "{}"}
    assert audit_chain.canonical(event) == (
        '{"action":"review_set","actor":"reviewer1","at":"2026-02-16T14:03:07.250000Z","detail":"{}","field":"city",'
        '"file_no":"26M-000001-1","new":"LIÈGE","old":"LIEGE"}').encode()
    naive = {**event, "at": event["at"].replace(tzinfo=None)}  # SQLite hands back naive UTC
    assert audit_chain.event_hash(audit_chain.GENESIS, naive) == audit_chain.event_hash(audit_chain.GENESIS, event)


# --------------------------------------------------------------------------- anchors


def rewrite_chain_from(reg: Registry, conn, first_id: int, new_value: str) -> None:
    """What an intruder with write access and this source code does: change an event, then
    recompute every hash from there on, so that the walk alone finds nothing."""
    rows = conn.execute(text("SELECT * FROM audit_events ORDER BY id")).mappings().all()
    prev = audit_chain.GENESIS
    for row in rows:
        row = dict(row)
        if row["id"] == first_id:
            row["new"] = new_value
        if row["id"] >= first_id:
            digest = audit_chain.event_hash(prev, row)
            conn.execute(text("UPDATE audit_events SET new = :new, prev_hash = :p, hash = :h WHERE id = :id"),
                         {"new": row["new"], "p": prev, "h": digest, "id": row["id"]})
            row["hash"] = digest
        prev = row["hash"]


def test_anchors_catch_a_chain_recomputed_whole(registry, db_url, tmp_path):
    data = tmp_path / "csq-data"  # where the command records its anchors
    file_no = corrected(registry)
    proc = csq("--db", db_url, "audit", "verify", cwd=tmp_path, env={"CSQ_DATA_DIR": str(data)})
    assert proc.returncode == 0, proc.stderr
    anchors = audit_chain.read_anchors(data)
    assert len(anchors) == 1 and anchors[0].head == verify(registry).head and anchors[0].events == verify(registry).events
    proc = csq("--db", db_url, "audit", "verify", cwd=tmp_path, env={"CSQ_DATA_DIR": str(data)})
    assert proc.returncode == 0 and "1 earlier head(s) held" in proc.stdout
    target = next(r for r in events(registry) if r.action == "review_set" and r.file_no == file_no)
    registry.submit_online(person(2), submitted_at=SUBMITTED)  # the chain grows after the anchor
    with registry.db.write() as conn:
        lift_append_only(registry, conn)
        rewrite_chain_from(registry, conn, target.id, "NAMUR")
    assert verify(registry).ok  # the walk alone is fooled...
    with registry.db.read() as conn:
        report = audit_chain.verify(conn, audit_chain.read_anchors(data))
    assert not report.ok and "was rewritten" in report.broken.problem  # ...the anchor is not
    proc = csq("--db", db_url, "audit", "verify", cwd=tmp_path, env={"CSQ_DATA_DIR": str(data)})
    assert proc.returncode == 7 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "audit-anchors.jsonl" in proc.stderr and "rewritten" in proc.stderr
    assert len(audit_chain.read_anchors(data)) == 1  # the same head is not recorded twice; a broken chain never


def test_anchors_catch_events_cut_from_the_end(registry, db_url, tmp_path):
    data = tmp_path / "csq-data"
    corrected(registry)
    assert csq("--db", db_url, "audit", "verify", cwd=tmp_path, env={"CSQ_DATA_DIR": str(data)}).returncode == 0
    last = events(registry)[-1]
    with registry.db.write() as conn:
        lift_append_only(registry, conn)
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": last.id})
    assert verify(registry).ok  # a shorter chain is still a chain...
    proc = csq("--db", db_url, "audit", "verify", cwd=tmp_path, env={"CSQ_DATA_DIR": str(data)})
    assert proc.returncode == 7 and "events were removed from its end" in proc.stderr, proc.stderr


def test_a_damaged_anchors_file_is_named(registry, db_url, tmp_path):
    data = tmp_path / "csq-data"
    data.mkdir(exist_ok=True)
    (data / audit_chain.ANCHORS_FILE).write_text('{"events": 3, "head": "ab", "at": "2026-01-01T00:00:00Z"}\nnot json\n')
    proc = csq("--db", db_url, "audit", "verify", cwd=tmp_path, env={"CSQ_DATA_DIR": str(data)})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "audit-anchors.jsonl" in proc.stderr and "line 2" in proc.stderr
