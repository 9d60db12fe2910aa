"""Nothing lost, nothing twice: `csq scan batch` killed -9 at random points, then run again.

One generated stack (four prefilled envelopes behind separator sheets) is read once cleanly to learn
when each envelope is registered; then the same command runs against another registry and
is killed (SIGKILL to its whole process group: the command and its page readers) at seeded
random moments: during start-up (imports, the first run's migration) and around each
envelope's registration (its page images written, its transaction, its letter), each run
started again on what the last one left. After every kill the registry must hold only whole
envelopes; at the end, exactly what the clean run registered, byte for byte in the export.

Page images are written by content (images/ab/cd/<sha256>.png) a moment before their
transaction: a run killed in between leaves files no row names yet. The design keeps them
and the next run re-uses them: at the end no image is unnamed, so none was written twice;
`csq registry check --clean` reports and removes what a kill left half-written (.tmp)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from registry import audit_chain
from registry.integrity import check
from registry.models import applications, envelopes, field_values, pages
from registry.service import Registry
from samples.generate import generate_corpus
from templates.spec import load_form
from test_cli import ROOT, csq

RECEIVED = "2026-03-02"
KILLS = 20
SEED = 20260302


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    out = tmp_path_factory.mktemp("stack")
    # Prefilled forms read fastest (their data codes): crash safety does not depend on how a page is read.
    samples = generate_corpus(out, count=4, seed=17, stack=True, stack_size=(4, 4), kinds=("prefilled",))
    assert len({s.files for s in samples}) == 1
    return samples[0].files[0], [s.truth["stack"]["page_count"] for s in samples]


def batch(folder: Path, stack_file: Path) -> subprocess.Popen:
    env = {**os.environ, "CSQ_DATA_DIR": str(folder / "data"), "PYTHONPATH": str(ROOT)}
    env.pop("CSQ_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "--db", f"sqlite:///{folder / 'registry.db'}", "scan", "batch", str(stack_file),
         "--received", RECEIVED, "--json"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def registered_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM applications").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or mid-migration
        return 0


def clean_run(folder: Path, stack_file: Path) -> None:
    proc = batch(folder, stack_file)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert len(json.loads(out)["applications"]) == 4


def kill_plan():
    """Seeded kills: what to wait for, then how long after it to kill.
    - "start": a moment of start-up (imports, the first run's migration, opening the registry);
    - "images": the first page image (or its temporary file) this run writes: the envelope's
      images are being written and its transaction is about to run;
    - "commit": an envelope more in the registry: its letter is being written, the next read."""
    rng = random.Random(SEED)
    while True:
        mode = rng.choices(("start", "images", "commit"), weights=(1, 2, 2))[0]
        # Half the "commit" kills come at once: the letter is written in the tens of milliseconds
        # after the commit, and since a scan is stored once as received (not a PNG per page before
        # each envelope) that is the window most worth hitting.
        commit_delay = rng.uniform(0.0, 0.5) if rng.random() < 0.5 else 0.0
        yield mode, {"start": rng.uniform(0.05, 2.5), "images": rng.uniform(0.0, 0.25), "commit": commit_delay}[mode]


def image_files(folder: Path) -> int:
    images = folder / "data" / "images"
    return sum(len(files) for _, _, files in os.walk(images)) if images.exists() else 0


def run_and_kill(folder: Path, stack_file: Path, mode: str, delay: float) -> bool:
    """Run the command, kill -9 its process group when the plan says; True if it was killed."""
    db = folder / "registry.db"
    images, registered = image_files(folder), registered_count(db)
    proc = batch(folder, stack_file)
    start = time.monotonic()
    fired = start if mode == "start" else None
    while proc.poll() is None:
        now = time.monotonic()
        if fired is None and ((mode == "images" and image_files(folder) > images) or registered_count(db) > registered):
            fired = now  # ("images" falls back on the commit: images a killed run left are not written again)
        if fired is not None and now - fired >= delay:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            return True
        time.sleep(0.005)
    assert proc.returncode == 0, proc.stderr.read()
    return False


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_whole(folder: Path, page_counts: list[int]) -> int:
    """Only whole envelopes: each with all its pages, fields, envelope row and files; file
    numbers without gaps (a rolled-back number is given again); the audit chain intact."""
    db = folder / "registry.db"
    if not db.exists():
        return 0
    reg = Registry.open(f"sqlite:///{db}", folder / "data")
    try:
        form_fields = len(load_form().fields)
        with reg.db.read() as conn:
            apps = conn.execute(select(applications.c.id, applications.c.file_no, applications.c.letter_written_at)
                                .order_by(applications.c.id)).all()
            for k, app in enumerate(apps):
                assert app.file_no.startswith("26M-") and int(app.file_no[4:10]) == k + 1, [a.file_no for a in apps]
                n_pages = conn.execute(select(func.count()).where(pages.c.application_id == app.id)).scalar_one()
                assert n_pages == page_counts[k], (app.file_no, n_pages, page_counts[k])
                n_fields = conn.execute(select(func.count()).where(field_values.c.application_id == app.id)).scalar_one()
                assert n_fields == form_fields
                assert conn.execute(select(func.count()).where(envelopes.c.application_id == app.id)).scalar_one() == 1
                if app.letter_written_at is not None:  # a letter said to be written is there
                    assert reg.letter_path(app.file_no).is_file()
            named = dict(conn.execute(select(pages.c.image_path, pages.c.image_sha256)).all())
            assert audit_chain.verify(conn).ok
            assert conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'registered'")).scalar_one() == len(apps)
        report = check(reg)
        assert report.ok, report.problems
        for rel, digest in named.items():  # every file a row names is complete
            assert sha_of(folder / "data" / rel) == digest
        for path in report.orphan_files:  # files no row names yet are whole too (content-addressed)
            assert path.name.startswith(sha_of(path))
        return len(apps)
    finally:
        reg.close()


def exports(folder: Path) -> list[dict]:
    with Registry.open(f"sqlite:///{folder / 'registry.db'}", folder / "data") as reg:
        return list(reg.export_rows())


def leftovers(folder: Path) -> tuple[int, int, int]:
    """What a kill left for later: image files no row names, half-written files, letters to write."""
    if not (folder / "registry.db").exists():
        return (0, 0, 0)
    with Registry.open(f"sqlite:///{folder / 'registry.db'}", folder / "data") as reg:
        report = check(reg)
        with reg.db.read() as conn:
            unwritten = conn.execute(select(func.count()).where(applications.c.letter_written_at.is_(None))).scalar_one()
    return (len(report.orphan_files), len(report.temp_files), unwritten)


@pytest.mark.slow
def test_batch_killed_at_random_points_loses_nothing_and_registers_nothing_twice(stack, tmp_path):
    stack_file, page_counts = stack
    clean = tmp_path / "clean"
    clean.mkdir()
    clean_run(clean, stack_file)

    # Rounds: kill, run again, kill... until the four envelopes are in; then compare with the
    # clean run and start a new round on an empty registry, until KILLS kills are done.
    rounds, kills, runs, plan = [], 0, 0, kill_plan()
    crashed = None
    while kills < KILLS:
        if crashed is None:
            crashed = tmp_path / f"round-{len(rounds)}"
            crashed.mkdir()
            rounds.append([])
        mode, delay = next(plan)
        killed = run_and_kill(crashed, stack_file, mode, delay)
        runs, kills = runs + 1, kills + killed
        registered = assert_whole(crashed, page_counts)
        rounds[-1].append((mode, round(delay, 2), registered, *leftovers(crashed)))
        assert [r[2] for r in rounds[-1]] == sorted(r[2] for r in rounds[-1])  # what was registered stays registered
        if registered == 4:
            assert exports(crashed) == exports(clean)
            crashed = None
    print(f"{kills} kills in {runs} runs, {len(rounds)} round(s); per run (trigger, delay, registered, unnamed images, "
          f".tmp files, letters not yet written): {rounds}")
    hit = [r for rnd in rounds for r in rnd if r[3] or r[4] or r[5]]
    assert hit, "no kill landed between an envelope's images and its letter"
    crashed = crashed or sorted(tmp_path.glob("round-*"))[-1]

    proc = batch(crashed, stack_file)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    again = json.loads(out)["applications"]
    assert len(again) == 4 and assert_whole(crashed, page_counts) == 4

    # Exactly what the clean run registered: same file numbers, same values, same statuses.
    assert exports(crashed) == exports(clean)
    with Registry.open(f"sqlite:///{clean / 'registry.db'}", clean / "data") as a, \
            Registry.open(f"sqlite:///{crashed / 'registry.db'}", crashed / "data") as b:
        with a.db.read() as ca, b.db.read() as cb:
            pages_of = lambda c: sorted(c.execute(select(pages.c.pixels_sha256, pages.c.image_sha256)).all())  # noqa: E731
            assert pages_of(cb) == pages_of(ca)  # every page stored once, the same image
        report = check(b)
    # Images written by killed runs were re-used by the final one: none is left unnamed.
    assert report.orphan_files == []
    # scans are kept as received (a stack's TIFF once), page PNGs only where no scan is kept
    stored = [p for p in (crashed / "data" / "images").rglob("*") if p.is_file() and not p.name.startswith(".")
              and p.suffix != ".tmp"]
    assert len(stored) == len({p.name for p in stored}) == report.files

    proc = csq("--db", f"sqlite:///{crashed / 'registry.db'}", "registry", "check", "--clean", "--min-age", "0", "--json",
               cwd=crashed, env={"CSQ_DATA_DIR": str(crashed / "data")})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["orphan_files"] == 0 and result["cleaned"] == result["temp_files"]
    assert not list((crashed / "data").rglob(".*.tmp"))


def test_registry_check_reports_and_cleans_what_a_crash_leaves(tmp_path):
    """The pieces a kill can leave, made by hand: an image no row names (its transaction never
    committed), a half-written temporary file, and a named image gone missing."""
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    reg = Registry.open(url, data)
    from test_registry import POLICY, envelope  # a hand-built EnvelopeReading with tiny real PNGs

    reg.policy = POLICY
    result = reg.register_mail(envelope(tag="x"), postmark=None, received=None)
    orphan_sha, orphan_rel = reg.images.put(b"\x89PNG\r\n\x1a\n" + b"never committed")
    half = data / "images" / ".abc.png.1234.tmp"
    half.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(data / orphan_rel, (old, old))
    report = check(reg)
    assert report.ok and [p.name for p in report.orphan_files] == [Path(orphan_rel).name] and report.temp_files == [half]
    fresh = check(reg, clean=True)  # the default min age keeps the fresh temp file (an intake may be writing it)
    assert fresh.cleaned == 1 and half.exists() and not (data / orphan_rel).exists()

    proc = csq("--db", url, "registry", "check", "--clean", "--min-age", "0", cwd=tmp_path, env={"CSQ_DATA_DIR": str(data)})
    assert proc.returncode == 0 and "1 removed" in proc.stdout and not half.exists(), proc.stdout + proc.stderr

    named = reg.application(result.file_no)["pages"][0]["image_path"]
    Path(named).unlink()
    proc = csq("--db", url, "registry", "check", cwd=tmp_path, env={"CSQ_DATA_DIR": str(data)})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 7 and len(lines) == 1 and "1 stored file(s) missing" in lines[0], proc.stderr
    reg.close()
