"""Online intake in batches (registry/online.py, station/online_intake.py).

A batch must register each document exactly as `Registry.submit_online` does one at a
time (a batch of one, its letter written): the same file numbers, statuses, duplicate
links, idempotent replays, conflicts, exported rows and audit events. (These tests were
first run against submit_online's own older, row-by-row code, which they matched.) Checked on chosen cases on both backends, on random
sequences (hypothesis), and through the API with many requests at once.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from errors import ConflictError, CsqError
from registry import db as registry_db
from registry import online
from registry.service import Registry
from station.app import create_app
from test_registry import POLICY, db_url, person  # noqa: F401 - db_url is a fixture (PostgreSQL ones: conftest.py)

API_TOKEN = "test-portal-token-0123456789"  # the API refuses every call without a configured token
FEB = datetime(2026, 2, 10, 15, 0, tzinfo=timezone.utc)


def one_at_a_time(registry: Registry, items) -> list:
    """What `submit_online` answers for each (doc, key, submitted_at): a result or the error class."""
    answers = []
    for doc, key, when in items:
        try:
            answers.append(registry.submit_online(doc, submitted_at=when, idempotency_key=key))
        except CsqError as exc:
            answers.append(type(exc))
    return answers


def in_batches(registry: Registry, items, sizes) -> list:
    prepared = [online.prepare(registry, doc, submitted_at=when, idempotency_key=key) for doc, key, when in items]
    answers, start = [], 0
    for size in sizes:
        for outcome in online.register_batch(registry, prepared[start:start + size]):
            answers.append(outcome.result if outcome.error is None else type(outcome.error))
        start += size
    assert start == len(items)
    return answers


def trail(registry: Registry) -> Counter:
    """The audit events, without times and order within a batch (each event once)."""
    return Counter((e["action"], e["file_no"], e["field"], e["old"], e["new"]) for e in registry.audit_trail())


def exported(registry: Registry) -> list[dict]:
    return list(registry.export_rows())


def assert_same_registries(single: Registry, batched: Registry, single_answers, batch_answers) -> None:
    assert batch_answers == single_answers
    assert exported(batched) == exported(single)
    assert trail(batched) == trail(single)
    assert batched.queue() == single.queue()


CASES = [
    (person(1), "k1", FEB),  # a
    (person(2), "k2", FEB),  # b
    (person(1, family_name="TREMBLAY-ROY"), "k3", FEB + timedelta(days=1)),  # a again: a duplicate of a
    (person(4), None, datetime(2025, 12, 20, 12, tzinfo=timezone.utc)),  # before the opening: premature
    (person(1), "k1", FEB),  # k1 again with a's document, in the same batch: a's file, not created
    (person(6), "k2", FEB),  # k2 with another document: a conflict
    (person(7), "k7", datetime(2026, 4, 2, 12, tzinfo=timezone.utc)),  # after the closing: late
    # --- second batch
    (person(1), "k1", FEB),  # a replay of an earlier batch's key
    (person(2, family_name="AUTRE"), "k9", FEB - timedelta(days=3)),  # b's person, an earlier date: b gets it
    (person(8), "k8", FEB),
]


def test_a_batch_registers_as_one_at_a_time_would(db_url, tmp_path):
    single = Registry.open(f"sqlite:///{tmp_path / 'single.db'}", tmp_path / "single", policy=POLICY)
    batched = Registry.open(db_url, tmp_path / "batched", policy=POLICY)
    try:
        single_answers = one_at_a_time(single, CASES)
        batch_answers = in_batches(batched, CASES, [7, 3])
        assert_same_registries(single, batched, single_answers, batch_answers)
        # The cases do what they say (so that the comparison above compares something).
        statuses = {r["file_no"]: r["status"] for r in exported(batched)}
        a, b, a_again, early, a_replay, conflict, late = batch_answers[:7]
        assert a.created and not a_replay.created and a_replay.file_no == a.file_no
        assert conflict is ConflictError
        assert statuses[a_again.file_no] == "duplicate" and statuses[early.file_no] == "premature"
        assert statuses[late.file_no] == "late"
        assert batch_answers[7].file_no == a.file_no and not batch_answers[7].created
        # The first registered is kept, with the earliest priority date of the person's files.
        assert statuses[b.file_no] == "complete" and statuses[batch_answers[8].file_no] == "duplicate"
        assert batched.application(b.file_no)["priority_date"] == (FEB - timedelta(days=3)).date().isoformat()
        with batched.db.read() as conn:
            from registry import audit_chain

            assert audit_chain.verify(conn).ok
    finally:
        single.close()
        batched.close()


def test_letters_are_left_to_the_writer(tmp_path):
    """register_batch writes no letter (the API's writer does); `letters print` writes the missing ones."""
    registry = Registry.open(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "data", policy=POLICY)
    try:
        outcomes = online.register_batch(registry, [online.prepare(registry, person(n), submitted_at=FEB) for n in (1, 2)])
        assert all(o.written for o in outcomes)
        assert not any(registry.letter_path(o.result.file_no).exists() for o in outcomes)
        out = registry.letters_print(FEB.date() - timedelta(days=400), tmp_path / "letters.pdf")
        assert out.exists() and all(registry.letter_path(o.result.file_no).exists() for o in outcomes)
    finally:
        registry.close()


@pytest.fixture(scope="module")
def empty_registry_file(tmp_path_factory) -> Path:
    """A migrated empty SQLite registry, copied for each hypothesis example (migrating takes a while)."""
    folder = tmp_path_factory.mktemp("empty")
    Registry.open(f"sqlite:///{folder / 'registry.db'}", folder / "data", policy=POLICY).close()
    return folder / "registry.db"


# A submission: (person 1..4, variant 0..1 of the document, key 0..4 or none, day offset).
submissions = st.lists(
    st.tuples(st.integers(1, 4), st.integers(0, 1), st.one_of(st.none(), st.integers(0, 4)), st.integers(-60, 80)),
    min_size=1, max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=submissions, cuts=st.lists(st.integers(1, 6), min_size=1, max_size=12))
def test_random_sequences_in_random_batches(items, cuts, empty_registry_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    for name in ("single.db", "batched.db"):
        shutil.copy(empty_registry_file, folder / name)
    cases = [
        (person(who, occupation="ANALYSTE" if variant == 0 else "PROGRAMMEUR"), None if key is None else f"key-{key}",
         FEB + timedelta(days=days))
        for who, variant, key, days in items
    ]
    sizes, left = [], len(cases)
    for cut in cuts:
        if left == 0:
            break
        sizes.append(min(cut, left))
        left -= sizes[-1]
    if left:
        sizes.append(left)
    single = Registry.open(f"sqlite:///{folder / 'single.db'}", folder / "single", policy=POLICY)
    batched = Registry.open(f"sqlite:///{folder / 'batched.db'}", folder / "batched", policy=POLICY)
    try:
        assert_same_registries(single, batched, one_at_a_time(single, cases), in_batches(batched, cases, sizes))
    finally:
        single.close()
        batched.close()


# ------------------------------------------------------------------------------- the API


def post_all(app, docs: list[tuple[dict, str]]) -> list[httpx.Response]:
    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://station") as client:
            return await asyncio.gather(*(
                client.post("/api/applications", content=json.dumps(doc).encode(),
                            headers={"Content-Type": "application/json", "Idempotency-Key": key,
                                     "Authorization": f"Bearer {API_TOKEN}"})
                for doc, key in docs))
    return asyncio.run(run())


def test_concurrent_requests_share_transactions_and_get_their_letters(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CSQ_API_TOKEN", API_TOKEN)
    app = create_app(db_url, tmp_path / "data")
    registry = app.state.station.registry
    try:
        docs = [({**person(n), "submitted_at": "2026-02-10T10:00:00-05:00"}, f"portal-{n}") for n in range(1, 61)]
        docs += docs[:5]  # five retries of requests already sent: the same files
        answers = post_all(app, docs)
        assert [r.status_code for r in answers[:60]] == [201] * 60, answers[0].text
        assert all(r.status_code in (200, 201) for r in answers[60:])
        by_key = {}
        for (_, key), r in zip(docs, answers):
            by_key.setdefault(key, set()).add(r.json()["file_no"])
        assert all(len(files) == 1 for files in by_key.values())
        rows = exported(registry)
        assert len(rows) == 60 and len({r["file_no"] for r in rows}) == 60
        with registry.db.read() as conn:
            from sqlalchemy import func, select

            from registry.models import audit_events

            commits = conn.execute(select(func.count()).select_from(audit_events)
                                   .where(audit_events.c.action == "registered")).scalar_one()
        assert commits == 60
        # Sixty requests at once went through fewer transactions than sixty: the batcher grouped them.
        assert app.state.station.intake.batches_committed < 60
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(registry.letter_path(r["file_no"]).exists() for r in rows):
            time.sleep(0.2)
        assert all(registry.letter_path(r["file_no"]).exists() for r in rows)
    finally:
        registry.close()


def test_a_locked_registry_answers_every_waiting_request_and_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CSQ_API_TOKEN", API_TOKEN)
    monkeypatch.setattr(registry_db, "SQLITE_BUSY_TIMEOUT_MS", 300)  # a short wait for the lock, for the test's sake
    path = tmp_path / "r.db"
    app = create_app(f"sqlite:///{path}", tmp_path / "data")
    registry = app.state.station.registry
    docs = [(person(n), f"k-{n}") for n in range(1, 6)]
    try:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        try:
            answers = post_all(app, docs)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert [r.status_code for r in answers] == [503] * 5
        assert all("locked" in r.json()["error"] and "run the command again" in r.json()["error"] for r in answers)
        assert exported(registry) == []
        again = post_all(app, docs)  # the portal retries the same keys: each registered once
        assert [r.status_code for r in again] == [201] * 5 and len(exported(registry)) == 5
    finally:
        registry.close()


def test_a_station_starting_writes_the_letters_an_earlier_run_left(tmp_path, monkeypatch):
    """Registered and answered, then the process stopped before the letter writer came to them."""
    from fastapi.testclient import TestClient

    monkeypatch.setenv("CSQ_API_TOKEN", API_TOKEN)
    url, data = f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "data"
    with Registry.open(url, data) as registry:
        today = datetime.now(timezone.utc)
        outcomes = online.register_batch(registry, [online.prepare(registry, person(n), submitted_at=today) for n in (1, 2, 3)])
        left = [o.result.file_no for o in outcomes]
        assert not any(registry.letter_path(n).exists() for n in left)
    app = create_app(url, data)
    registry = app.state.station.registry
    with TestClient(app):  # starting the app (its lifespan) queues them
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(registry.letter_path(n).exists() for n in left):
            time.sleep(0.2)
    assert all(registry.letter_path(n).exists() for n in left)
