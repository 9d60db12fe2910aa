"""Load: online submissions through the API while a stack is scanned into the same registry.

`csq bench load` (issue 6): the 2016 portal held 150 users; here `clients` concurrent
connections (2,000 by default) post online applications to `POST /api/applications` (uvicorn
in a subprocess, `workers` processes) while `csq scan batch` (another subprocess) reads a
generated stack of envelopes behind separator sheets into the SAME registry. Then the
registry is checked against what each side was told:

- online: every submission answered 200/201 (none left without an answer after its retries,
  each retry with the same Idempotency-Key), every accepted key has exactly one file ("lost":
  a file number told to a client that the registry does not hold; "duplicated": online files
  beyond one per accepted key), a replayed key gets the same file (bench.station.online_accounting);
- mail: every envelope of the stack is registered exactly once (the batch's file numbers
  are the registry's mail files, one per envelope generated).

Figures: submissions/s and latency p50/p99/max (each HTTP attempt, as bench.station.bench_api
measures), pages/min of the batch under that load (its wall time, start-up included), how
long the two ran at the same time, the load average and the cores. A benchmark, not a test:
a shared machine gives noisy figures, hence the load average beside them. Bounded in time:
after `time_limit_s` no new submission is sent, and a request waits at most `timeout_s` for
its answer (generous: 2,000 clients queue behind the registry, and while a stack is read
beside them the last ones wait many seconds).

The registry is never the one you work with: a throw-away PostgreSQL database (created and
dropped) when the server answers, else SQLite in a temporary folder; or a URL you give, which
must be empty (every file in it is counted).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from errors import BadArguments
from bench import live
from bench import station as bench
from bench.ranking import bench_registry

ROOT = Path(__file__).resolve().parent.parent
def _quiet(_line: str) -> None:
    pass


def generate_stack(folder: Path, envelopes: int, seed: int) -> dict:
    """One stack file of `envelopes` sample envelopes, each behind its separator sheet (as the
    clerk scans the day's mail: samples.generate, holdout hands, mixed damage, some prefilled)."""
    from samples.generate import generate_corpus

    samples = generate_corpus(folder, count=envelopes, seed=seed, stack=True, stack_size=(envelopes, envelopes))
    files = {s.files for s in samples}
    assert len(files) == 1, files  # stack_size = (n, n): one stack
    return {"files": [str(f) for f in samples[0].files], "envelopes": len(samples),
            "pages": sum(s.truth["stack"]["page_count"] for s in samples),
            "received": samples[0].truth["received_date"]}


def start_batch(db_url: str, data_dir: Path, stack: dict, folder: Path) -> subprocess.Popen:
    """`csq scan batch` on the stack, as a clerk runs it: its own process, its own pool of readers."""
    env = {**os.environ, "CSQ_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("CSQ_DATABASE_URL", None)
    with open(folder / "batch.out", "wb") as out, open(folder / "batch.err", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "--db", db_url, "scan", "batch", *stack["files"], "--received", stack["received"], "--json"],
            cwd=folder, env=env, stdout=out, stderr=err)


def _load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def run_load_bench(*, clients: int = 2000, submissions: int | None = None, workers: int = 2, db: str = "auto",
                   stack_envelopes: int = 5, seed: int = 1, time_limit_s: float = 900, timeout_s: float = 600,
                   workdir: Path | None = None, say: Callable[[str], None] = _quiet) -> dict:
    """The run described in the module's docstring; returns the report (see `report_rows`)."""
    if clients < 1 or stack_envelopes < 1:
        raise BadArguments("--clients and --stack-envelopes must be 1 or more")
    submissions = clients if submissions is None else submissions
    with tempfile.TemporaryDirectory(prefix="csq-load-", dir=workdir) as tmp:
        folder = Path(tmp)
        data_dir = folder / "data"
        with bench_registry(db, folder) as (db_url, db_how):
            before = bench.registry_files(db_url, data_dir)  # opening it migrates it, once, before two processes race to
            if before["online"] or before["mail"]:
                raise BadArguments(f"--db {db_url}: the registry holds {len(before['online']) + len(before['mail'])} "
                                   "application(s); the benchmark counts every file in it: give an empty one")
            say(f"registry: {db_how}")
            say(f"generating a stack of {stack_envelopes} envelope(s) behind separator sheets")
            stack = generate_stack(folder / "stack", stack_envelopes, seed)
            port = live.free_port()
            server = bench.start_server(db_url, data_dir, port, workers)
            load_before = _load_average()
            batch = None
            try:
                say(f"scan batch on {stack['pages']} page(s) while {clients} client(s) send {submissions} submission(s)")
                batch, batch_ended = start_batch(db_url, data_dir, stack, folder), []
                batch_started = time.monotonic()
                # A thread notes the batch's end to the second, while the clients still run.
                waiter = threading.Thread(target=lambda: (batch.wait(), batch_ended.append(time.monotonic())), daemon=True)
                waiter.start()
                load_started = time.monotonic()
                run = asyncio.run(bench.run_clients("127.0.0.1", port, submissions, clients, time_limit_s, timeout_s))
                load_ended = time.monotonic()
                load_after = _load_average()
                replays, replayed = bench.replay_some(port, run, timeout_s)
                if batch.poll() is None:
                    say("load done; waiting for the batch to finish")
                waiter.join(timeout=max(time_limit_s, 600))  # bounded: a batch that never ends is killed and reported
            finally:
                if batch is not None and batch.poll() is None:
                    batch.kill()
                    batch.wait()
                server.terminate()
                server.wait(timeout=60)
            waiter.join(timeout=10)
            files = bench.registry_files(db_url, data_dir)
        batch_out = (folder / "batch.out").read_text(encoding="utf-8")
        batch_err = (folder / "batch.err").read_text(encoding="utf-8").strip()
    try:
        batch_files = [a["file_no"] for a in json.loads(batch_out)["applications"]]
    except (ValueError, KeyError, TypeError):
        batch_files = []
    batch_s = (batch_ended[0] if batch_ended else time.monotonic()) - batch_started
    overlap_s = max(0.0, min(batch_started + batch_s, load_ended) - max(batch_started, load_started))
    online = bench.online_accounting(run, files["online"], replays, replayed)
    mail = files["mail"]
    stack_report = {
        "envelopes": stack["envelopes"], "pages": stack["pages"], "batch_exit_code": batch.returncode,
        "batch_error": batch_err.splitlines()[-1] if batch.returncode and batch_err else None,
        # Only the batch writes mail files into this registry: one per envelope, or some lost or doubled.
        "registered": len(mail), "lost": max(0, stack["envelopes"] - len(mail)), "duplicated": max(0, len(mail) - stack["envelopes"]),
        "batch_files_are_registry_files": sorted(batch_files) == sorted(mail),
        "batch_s": round(batch_s, 1), "pages_per_min": round(stack["pages"] / batch_s * 60, 1) if batch_s else None,
        "under_load_s": round(overlap_s, 1),
    }
    report = {
        "database": db_url.split(":", 1)[0].split("+")[0], "database_choice": db_how,
        "clients": clients, "workers": workers, "submissions_sent": submissions,
        "unanswered": submissions - online["accepted"],
        "online": online, "stack": stack_report,
        "load_average": {"before": load_before, "after_load": load_after}, "cpus": os.cpu_count(),
    }
    report["ok"] = (report["unanswered"] == 0 and online["lost"] == 0 and online["duplicated"] == 0 and online["distinct_files_for_distinct_keys"]
                    and online["registry_online_files"] == online["accepted"] and online["replayed_keys_same_file"]
                    and stack_report["batch_exit_code"] == 0 and stack_report["lost"] == 0 and stack_report["duplicated"] == 0
                    and stack_report["batch_files_are_registry_files"] and stack_report["registered"] == stack["envelopes"])
    return report


def report_rows(report: dict) -> list[tuple[str, str]]:
    """The report as (what, figure) lines, in the order a person reads them."""
    online, stack, lat = report["online"], report["stack"], report["online"]["latency"]

    def yes(flag: bool) -> str:
        return "yes" if flag else "NO"

    errors = ", ".join(f"{k} {v}" for k, v in sorted(online["errors"].items())) or "none"
    return [
        ("registry", report["database_choice"]),
        ("clients / uvicorn workers", f"{report['clients']} / {report['workers']}"),
        ("online: sent, accepted", f"{report['submissions_sent']}, {online['accepted']} ({report['unanswered']} without a 2xx)"),
        ("online: lost, duplicated", f"{online['lost']}, {online['duplicated']}"),
        ("online files in the registry = accepted", yes(online["registry_online_files"] == online["accepted"])),
        ("one file per Idempotency-Key, replay same file", f"{yes(online['distinct_files_for_distinct_keys'])}, {yes(online['replayed_keys_same_file'])}"),
        ("latency p50 / p99 / max", f"{lat['p50_ms']} / {lat['p99_ms']} / {lat['max_ms']} ms ({lat['n']} attempts)"),
        ("submissions/s", f"{online['per_s']} over {online['elapsed_s']} s"),
        ("retried on errors", errors),
        ("stack: envelopes, pages", f"{stack['envelopes']}, {stack['pages']}"),
        ("stack: registered once (lost, duplicated)", f"{yes(stack['registered'] == stack['envelopes'] and stack['batch_files_are_registry_files'])} ({stack['lost']}, {stack['duplicated']})"),
        ("scan batch exit code", str(stack["batch_exit_code"]) + (f": {stack['batch_error']}" if stack["batch_error"] else "")),
        ("scan batch pages/min (start-up included)", f"{stack['pages_per_min']} over {stack['batch_s']} s, {stack['under_load_s']} s of it under load"),
        ("load average before / after", f"{report['load_average']['before']} / {report['load_average']['after_load']}"),
        ("cpus", str(report["cpus"])),
        ("all checks", "passed" if report["ok"] else "FAILED"),
    ]


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="csq bench load: online submissions while a stack is scanned")
    table.add_column("what")
    table.add_column("figure")
    for what, figure in report_rows(report):
        table.add_row(what, figure, style=None if "NO" not in figure.split() and figure != "FAILED" else "bold red")
    Console().print(table)
