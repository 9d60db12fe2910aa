"""The station's benchmark runs end to end on tiny counts (its figures come from
`python -m bench.station`; here only that it works and checks what it claims)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench import load as loadbench
from bench import ranking as registry_bench
from bench import station as bench
import station_fixtures as T
from test_cli import ROOT, assert_one_line_error

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def test_review_benchmark_runs_on_a_small_queue(tmp_path):
    result = bench.bench_review(pending_fields=20, requests=5, workdir=tmp_path)
    assert result["pending_fields"] == 20
    assert result["review_page"]["n"] == 5 and result["save_and_next"]["n"] == 5


def test_api_benchmark_counts_every_submission_once(tmp_path):
    result = bench.bench_api(clients=8, submissions=12, workers=1, timeout_s=120, workdir=tmp_path)
    assert result["accepted"] == 12 and result["registry_online_files"] == 12
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["replayed_keys_same_file"]
    assert result["server_cpu_ms_per_submission"] > 0  # the server's work was seen, whatever the machine's load


def test_percentiles():
    assert bench.percentile([5, 1, 3, 2, 4], 50) == 3
    assert bench.percentile(list(range(1, 101)), 99) == 99
    assert bench.percentile([], 50) != bench.percentile([], 50)  # NaN: nothing measured


# ------------------------------------------------------------------------------- load
# `csq bench load` run small, as a user runs it (a real process): online submissions through
# uvicorn while `csq scan batch` reads a generated stack into the same registry. What is
# asserted is what the benchmark checks and reports, never how fast it went.

LOAD_REPORT_KEYS = {"database", "database_choice", "clients", "workers", "submissions_sent", "unanswered", "online", "stack",
                    "load_average", "cpus", "ok"}


def csq(*args: str, cwd) -> subprocess.CompletedProcess:
    """The command as a user runs it; a generous timeout: the machine may be shared and slow."""
    env = {**os.environ, "CSQ_DATA_DIR": str(cwd / "csq-data"), "PYTHONPATH": str(ROOT)}
    env.pop("CSQ_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)


def run_bench_load(tmp_path, *db_args: str) -> dict:
    proc = csq("bench", "load", "--clients", "50", "--stack-envelopes", "2", "--json", *db_args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # exactly one JSON document: progress went to stderr


def assert_nothing_lost_or_doubled(report: dict) -> None:
    assert LOAD_REPORT_KEYS <= set(report)
    online, stack = report["online"], report["stack"]
    assert report["clients"] == report["submissions_sent"] == 50 and report["unanswered"] == 0
    assert online["accepted"] == online["registry_online_files"] == 50
    assert online["lost"] == 0 and online["duplicated"] == 0
    assert online["distinct_files_for_distinct_keys"] and online["replayed_keys_same_file"]
    assert {"p50_ms", "p99_ms", "max_ms"} <= set(online["latency"]) and online["latency"]["n"] >= 50
    assert online["per_s"] > 0
    assert stack["envelopes"] == 2 and stack["batch_exit_code"] == 0 and stack["batch_error"] is None
    assert stack["registered"] == 2 and stack["lost"] == 0 and stack["duplicated"] == 0
    assert stack["batch_files_are_registry_files"]
    assert stack["pages"] > 2 and stack["pages_per_min"] > 0 and stack["under_load_s"] > 0  # the two ran at once
    assert len(report["load_average"]["before"]) == 3 and report["cpus"] >= 1
    assert report["ok"]


@pytest.mark.slow
def test_bench_load_on_sqlite_loses_and_doubles_nothing(tmp_path, capsys):
    report = run_bench_load(tmp_path, "--db", "sqlite")
    assert report["database"] == "sqlite" and "SQLite" in report["database_choice"]
    assert_nothing_lost_or_doubled(report)
    # The table a person reads says the same.
    loadbench.print_report(report)
    table = capsys.readouterr().out
    assert "all checks" in table and "passed" in table and "p50 / p99 / max" in table


@pytest.mark.slow
@pytest.mark.postgres
def test_bench_load_on_a_throw_away_postgresql_database(tmp_path):
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(registry_bench.PG_ADMIN).close()
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    report = run_bench_load(tmp_path)  # --db auto: PostgreSQL when it answers
    assert report["database"] == "postgresql" and "throw-away PostgreSQL database" in report["database_choice"]
    assert_nothing_lost_or_doubled(report)
    name = report["database_choice"].split("database ")[1].split()[0]
    with psycopg.connect(registry_bench.PG_ADMIN) as admin:
        assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0  # dropped


def test_bench_load_refuses_a_registry_that_is_not_empty(tmp_path):
    from registry.service import Registry

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    with Registry.open(url, tmp_path / "data") as registry:
        registry.submit_online(T.sample_document())
    proc = csq("bench", "load", "--clients", "5", "--db", url, cwd=tmp_path)
    assert_one_line_error(proc, "holds 1 application", "give an empty one")
    assert proc.returncode == 2
