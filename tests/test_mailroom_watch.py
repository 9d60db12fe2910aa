"""The consume folder (`csq scan watch`, mailroom/watch.py) on the committed sample scans: a
stack split at its separators, an envelope dated by its file name, a file that fails with its
reason beside it, a file claimed by only one of two watchers, a watcher killed mid-file whose
successor neither loses nor doubles it, and SIGTERM."""

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
from typer.testing import CliRunner

import cli
from mailroom.watch import Folder, postmark_from_name, watch
from registry.service import Registry

CORPUS = Path(__file__).resolve().parent.parent / "samples" / "corpus"
STACK = CORPUS / "stack-001-tiff-g4" / "stack-001.tif"
SINGLE = CORPUS / "env-0002-handwritten-tiff-g4" / "env-0002.tif"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def registry(tmp_path):
    with Registry.open(f"sqlite:///{tmp_path}/registry.db", tmp_path / "data") as reg:
        yield reg


def _old(path: Path) -> Path:
    """A file the scanner finished writing a while ago."""
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


def test_the_postmark_a_name_starts_with():
    from datetime import date

    assert postmark_from_name("2026-02-18-smith.pdf") == date(2026, 2, 18)
    assert postmark_from_name("2026-02-18.tif") == date(2026, 2, 18)
    assert postmark_from_name("2026-02-18-illegible-envelope7.pdf") is None
    assert "does not start with the postmark date" in postmark_from_name("scan0001.pdf")
    assert "not a date" in postmark_from_name("2026-02-31-x.pdf")


def test_a_stack_and_a_dated_envelope_become_applications_and_move_to_done(tmp_path, registry):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _old(Path(shutil.copy(STACK, inbox / "stack-001.tif")))
    _old(Path(shutil.copy(SINGLE, inbox / "2026-02-18-env-0002.tif")))
    outcomes = watch(inbox, registry, once=True, settle_s=0.05)
    by_name = {o.name: o for o in outcomes}
    assert {o.status for o in outcomes} == {"done"}
    stack, single = by_name["stack-001.tif"], by_name["2026-02-18-env-0002.tif"]
    assert len(stack.applications) == 2  # split at its two separator sheets
    # each postmark is the separator's: one ticked illegible, one written 2026-02-25 (read for
    # sure, or waiting for a person as field postmark_date: never the file's name or today)
    waiting = {item["file_no"] for item in registry.review_list() if item["field"] == "postmark_date"}
    for app in stack.applications:
        assert app.postmark_date is None or str(app.postmark_date) == "2026-02-25"
    assert any(str(a.postmark_date) == "2026-02-25" or a.file_no in waiting for a in stack.applications)
    assert [str(a.postmark_date) for a in single.applications] == ["2026-02-18"]  # the date the name starts with
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["2026-02-18-env-0002.tif", "stack-001.tif"]
    assert not [p for p in inbox.iterdir() if p.is_file()] and not list((inbox / ".processing").iterdir())
    assert len(registry.queue()) == 3
    # the same scan dropped again: nothing new registered, the copy kept beside the first
    _old(Path(shutil.copy(SINGLE, inbox / "2026-02-18-env-0002.tif")))
    [again] = watch(inbox, registry, once=True, settle_s=0.05)
    assert again.status == "done" and not again.applications[0].created
    assert (inbox / "done" / "2026-02-18-env-0002 (2).tif").exists() and len(registry.queue()) == 3


def test_a_file_without_separator_or_date_fails_with_its_reason(tmp_path, registry):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _old(Path(shutil.copy(SINGLE, inbox / "scan0001.tif")))
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    _old(inbox / "broken.pdf")
    (inbox / "notes.txt").write_text("not a scan")
    outcomes = {o.name: o for o in watch(inbox, registry, once=True, settle_s=0.05)}
    assert outcomes["scan0001.tif"].status == "failed" and outcomes["broken.pdf"].status == "failed"
    reason = (inbox / "failed" / "scan0001.tif.txt").read_text()
    assert "does not start with the postmark date" in reason and reason.count("\n") == 1
    assert (inbox / "failed" / "broken.pdf").exists()
    assert "broken.pdf" in (inbox / "failed" / "broken.pdf.txt").read_text()
    assert (inbox / "notes.txt").exists()  # not a scan: left alone
    assert registry.queue() == []


def test_a_file_still_growing_is_left_for_later(tmp_path, registry):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    growing = inbox / "2026-02-18-big.tif"
    growing.write_bytes(SINGLE.read_bytes()[:1000])

    import threading

    def keep_writing():
        with growing.open("ab") as out:
            for _ in range(10):
                out.write(b"\0" * 100)
                out.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    outcomes = watch(inbox, registry, once=True, settle_s=0.2)
    writer.join()
    assert outcomes == [] and growing.exists()


def test_of_two_watchers_only_one_claims_a_file(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    scan = _old(Path(shutil.copy(SINGLE, inbox / "2026-02-18-x.tif")))
    first, second = Folder(inbox), Folder(inbox)
    claims = [first.claim(scan), second.claim(scan)]
    assert claims[0] is not None and claims[1] is None


def test_a_watcher_killed_mid_file_is_resumed_without_loss_or_double(tmp_path, registry):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _old(Path(shutil.copy(SINGLE, inbox / "2026-02-18-env.tif")))
    # a process that claims the file, then dies before reading it (as a kill -9 would leave it)
    code = ("import sys; from pathlib import Path; from mailroom.watch import Folder; "
            "f = Folder(Path(sys.argv[1])); print(f.claim(next(iter(f.waiting()))))")
    dead = subprocess.run([sys.executable, "-c", code, str(inbox)], cwd=ROOT, capture_output=True, text=True, check=True)
    assert ".processing" in dead.stdout and not list(inbox.glob("*.tif"))
    outcomes = watch(inbox, registry, once=True, settle_s=0.05)
    assert [o.status for o in outcomes] == ["done"] and len(registry.queue()) == 1
    assert not list((inbox / ".processing").iterdir())


def test_csq_scan_watch_once_json(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _old(Path(shutil.copy(SINGLE, inbox / "2026-02-18-env.tif")))
    _old(Path(shutil.copy(SINGLE, inbox / "undated.tif")))
    env = {"CSQ_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(cli.app, ["--db", f"sqlite:///{tmp_path}/r.db", "scan", "watch", str(inbox), "--once", "--json"], env=env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    statuses = {f["file"]: f["status"] for f in payload["files"]}
    assert statuses == {"2026-02-18-env.tif": "done", "undated.tif": "failed"}


def test_csq_scan_watch_on_a_missing_folder_says_so(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cli", "--db", f"sqlite:///{tmp_path}/r.db", "scan", "watch",
                             str(tmp_path / "nope"), "--once"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "CSQ_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 12 and result.stdout == ""
    assert result.stderr.strip().endswith("nope: not a folder: give the folder the scanner writes into")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_running_watcher_handles_new_files_and_stops_on_sigterm(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = {**os.environ, "CSQ_DATA_DIR": str(tmp_path / "data"), "CSQ_SCAN_WORKERS": "1"}
    watcher = subprocess.Popen([sys.executable, "-m", "cli", "--db", f"sqlite:///{tmp_path}/r.db", "scan", "watch", str(inbox)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        shutil.copy(SINGLE, inbox / ".2026-02-18-env.tif.part")  # the scanner writes, then renames
        os.rename(inbox / ".2026-02-18-env.tif.part", inbox / "2026-02-18-env.tif")
        deadline = time.monotonic() + 120
        while not (inbox / "done" / "2026-02-18-env.tif").exists():
            assert time.monotonic() < deadline and watcher.poll() is None
            time.sleep(0.2)
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    assert "2026-02-18-env.tif: done" in out


def test_the_watch_benchmark_reports_both_figures(tmp_path):
    """`csq bench watch` small: a stack and an envelope through a running watcher, with the
    letter written (behaviour only: the figures depend on the machine)."""
    from bench.watch import bench_watch

    report = bench_watch(stack_envelopes=1, seed=3, workdir=tmp_path)
    assert report["stack"]["envelopes"] == 1 and report["stack"]["pages_per_min"] > 0
    assert report["envelope"]["letter_written"] and report["envelope"]["seconds"] > 0
