"""The `csq` command as external tools drive it (docs/interface.md): real processes, exit
codes, one JSON document on stdout, one line on stderr for every failure."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

import cli

ROOT = Path(__file__).resolve().parents[1]


def csq(*args: str, cwd: Path, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "CSQ_DATA_DIR": str(cwd / "csq-data"), **(env or {})}
    full_env.pop("CSQ_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=cwd, env={**full_env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, input=input, timeout=300
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_help_lists_the_contract_commands(tmp_path):
    proc = csq("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for name in ("forms", "scan", "online", "registry", "review", "serve"):
        assert name in proc.stdout


def test_forms_blank_and_layout(tmp_path):
    proc = csq("forms", "blank", "--out", "out/blank.pdf", "--lang", "en", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out/blank.pdf").read_bytes()[:5] == b"%PDF-"
    proc = csq("forms", "layout", "--json", cwd=tmp_path)
    doc = json.loads(proc.stdout)  # exactly one JSON document
    assert doc["form"] == "csq-rtq" and doc["pages"] and doc["separator"]["fields"]


def test_forms_prefill_good_and_bad(tmp_path):
    good = ROOT / "samples" / "prefill-example.json"
    proc = csq("forms", "prefill", str(good), "--out", "p.pdf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fields": {"family_name": "x", "email": "nope"}}), encoding="utf-8")
    proc = csq("forms", "prefill", str(bad), "--out", "q.pdf", cwd=tmp_path)
    assert_one_line_error(proc, "bad.json", "problem", "email")
    assert proc.returncode == 4
    assert not (tmp_path / "q.pdf").exists()


@pytest.mark.parametrize(
    "content,needle",
    [("", "empty"), ("{not json", "not valid JSON"), (b"\xff\xfe\x00bad", "UTF-8")],
)
def test_bad_data_files_get_one_line(tmp_path, content, needle):
    path = tmp_path / "data.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    proc = csq("forms", "prefill", str(path), "--out", "x.pdf", cwd=tmp_path)
    assert_one_line_error(proc, "data.json", needle)
    assert proc.returncode == 3


def test_missing_file_and_bad_options(tmp_path):
    proc = csq("forms", "prefill", "nowhere.json", "--out", "x.pdf", cwd=tmp_path)
    assert_one_line_error(proc, "nowhere.json", "no such file")
    proc = csq("forms", "blank", "--out", "x.pdf", "--lang", "de", cwd=tmp_path)
    assert_one_line_error(proc, "--lang")
    assert proc.returncode == 2


def test_separator_sheets(tmp_path):
    proc = csq("forms", "separator", "--out", "sep.pdf", "--count", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sep.pdf").exists()


@pytest.mark.parametrize(
    "args,needles",
    [
        (["registry", "queue", "--jsn"], ["--jsn", "did you mean --json?", "Usage: csq registry queue [OPTIONS]"]),
        (["registry", "nosuch"], ["No such command 'nosuch'", "Usage: csq registry"]),
        (["forms", "prefill"], ["Missing argument", "Usage: csq forms prefill"]),
    ],
)
def test_a_usage_mistake_is_exit_2_with_the_usage_line_through_main(args, needles):
    """The `csq` entry point (cli.main), captured by typer's CliRunner: a mistyped option is a
    usage mistake, not an 'unexpected' crash (exit 15)."""
    from typer.testing import CliRunner

    with CliRunner().isolation() as (stdout, stderr, _):
        with pytest.raises(SystemExit) as exit_:
            cli.main(args)
        sys.stderr.flush()  # the isolation's text wrapper buffers
        err = stderr.getvalue().decode()
    assert exit_.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "unexpected" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_mistyped_option_of_the_installed_csq_names_the_option_meant(tmp_path):
    installed = Path(sys.executable).with_name("csq")  # the venv's console script, as a clerk runs it
    if not installed.exists():
        pytest.skip(f"{installed} is not installed (make install)")
    env = {**os.environ, "CSQ_DATA_DIR": str(tmp_path / "csq-data")}
    env.pop("CSQ_DATABASE_URL", None)
    proc = subprocess.run([str(installed), "registry", "queue", "--jsn"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc, "--jsn", "--json", "Usage: csq registry queue")
    assert not proc.stdout and not (tmp_path / "csq-data" / "registry.db").exists()


def _commands(group, prefix: str = ""):
    # typer's groups are not click.Group instances: walk anything that has sub-commands
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_every_command_is_documented_in_the_readme():
    """datasette's test_docs idea: a command nobody can find is a command nobody uses."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    group = typer.main.get_command(cli.app)
    names = [name for name, _ in _commands(group)]
    assert "scan ingest" in names and "registry export" in names
    missing = [name for name in names if f"csq {name}" not in readme]
    assert not missing, f"commands missing from README.md: {missing}"


# ---------------------------------------------------------------- benchmark commands
# Run small, as a user runs them: what is asserted is what they count, never how fast.


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_bench_queue_ranks_and_lists_every_application(db, tmp_path):
    proc = csq("bench", "queue", "--count", "3000", "--db", db, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["n"] == 3000 and report["backend"] == ("sqlite" if db == "sqlite" else "postgresql")
    # Every application in the window and not incomplete is queued and listed once; the cap splits them.
    assert report["queued"] == report["ranked"] + report["beyond_cap"] + report["being_verified"]
    assert 0 < report["queued"] <= 3000 and report["ranked"] > 0 and report["beyond_cap"] > 0
    assert not (tmp_path / "csq-data").exists()  # the user's registry was never touched


def test_bench_api_counts_every_submission_once(tmp_path):
    proc = csq("bench", "api", "--clients", "6", "--submissions", "15", "--workers", "1", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["accepted"] == 15 and report["registry_online_files"] == 15
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["replayed_keys_same_file"]


def test_bench_queue_refuses_an_unknown_database_choice(tmp_path):
    assert_one_line_error(csq("bench", "queue", "--count", "10", "--db", "oracle", cwd=tmp_path), "--db 'oracle'")


# ---------------------------------------------------------------- staff accounts


def test_users_commands_manage_accounts_and_say_what_went_wrong(tmp_path):
    env = {"CSQ_NEW_PASSWORD": "a long enough password"}
    assert csq("users", "add", "rita", "--role", "clerk", cwd=tmp_path, env=env).returncode == 0
    assert csq("users", "add", "sophie", "--role", "supervisor", cwd=tmp_path, env=env).returncode == 0
    proc = csq("users", "role", "rita", "--role", "reviewer", "--by", "sophie", cwd=tmp_path)
    assert proc.returncode == 0 and "reviewer" in proc.stdout
    assert csq("users", "disable", "rita", "--by", "sophie", cwd=tmp_path).returncode == 0
    listed = json.loads(csq("users", "list", "--json", cwd=tmp_path).stdout)
    assert [(u["name"], u["role"], u["active"]) for u in listed] == [("rita", "reviewer", False), ("sophie", "supervisor", True)]
    assert csq("users", "enable", "rita", "--by", "sophie", cwd=tmp_path).returncode == 0
    assert csq("users", "password", "rita", "--by", "sophie", cwd=tmp_path, env={"CSQ_NEW_PASSWORD": "another long password"}).returncode == 0
    assert "active" in csq("users", "list", cwd=tmp_path).stdout
    assert_one_line_error(csq("users", "disable", "nobody", "--by", "sophie", cwd=tmp_path), "no user nobody")
    assert_one_line_error(csq("users", "role", "rita", "--role", "admin", "--by", "sophie", cwd=tmp_path), "role 'admin'")
    assert_one_line_error(csq("users", "password", "rita", "--by", "sophie", "--password", "short", cwd=tmp_path), "at least")
    assert csq("audit", "verify", cwd=tmp_path).returncode == 0  # every change above is in the chained trail


def test_by_names_an_active_staff_account_or_the_system_user_is_recorded(tmp_path):
    """--by was free text: anyone could sign a change as anyone, or as nobody who exists."""
    env = {"CSQ_NEW_PASSWORD": "a long enough password"}
    assert csq("users", "add", "rita", "--role", "clerk", cwd=tmp_path, env=env).returncode == 0
    proc = csq("users", "role", "rita", "--role", "reviewer", "--by", "the-minister", cwd=tmp_path)
    assert proc.returncode == 2
    assert_one_line_error(proc, "--by 'the-minister' is not an active staff account", "csq users list")
    assert json.loads(csq("users", "list", "--json", cwd=tmp_path).stdout)[0]["role"] == "clerk"  # nothing changed
    assert csq("users", "role", "rita", "--role", "reviewer", cwd=tmp_path).returncode == 0
    assert csq("users", "disable", "rita", cwd=tmp_path).returncode == 0
    assert csq("users", "enable", "rita", "--by", "rita", cwd=tmp_path).returncode == 2  # disabled: not active
    from registry.service import Registry

    with Registry.open(f"sqlite:///{tmp_path}/csq-data/registry.db", tmp_path / "csq-data") as registry:
        actors = [e["actor"] for e in registry.audit_trail() if e["action"] in ("user_role", "user_active")]
    assert len(actors) == 2 and all(a.startswith("system:") and len(a) > len("system:") for a in actors)


def test_review_stats_from_the_cli(tmp_path):
    proc = csq("review", "stats", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["people"] == [] and stats["fields"] == []
    assert "0 field(s) saved" in csq("review", "stats", "--since", "2026-11-01", cwd=tmp_path).stdout
    assert_one_line_error(csq("review", "stats", "--since", "yesterday", cwd=tmp_path), "--since 'yesterday'")


def test_review_set_by_someone_who_is_no_staff_account_records_the_system_user(tmp_path):
    """The contract's `review set … --by USER` keeps working for a script, but the audit trail
    never names free text: an unknown --by is recorded as the system user, and stderr says so."""
    from datetime import date

    import station_fixtures as T
    from registry.service import Registry

    db = tmp_path / "csq-data" / "registry.db"
    with Registry.open(f"sqlite:///{db}", tmp_path / "csq-data") as registry:
        file_no = T.register_mail_envelope(registry, 1, postmark=date(2026, 10, 6))
    proc = csq("review", "set", file_no, "city", "MONTRÉAL", "--by", "the-minister", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "'the-minister' is not an active staff account" in proc.stderr and "recorded as system:" in proc.stderr
    with Registry.open(f"sqlite:///{db}", tmp_path / "csq-data") as registry:
        [event] = [e for e in registry.audit_trail(file_no) if e["action"] == "review_set" and e["field"] == "city"]
    assert event["actor"].startswith("system:") and event["actor"] != "system:"


@pytest.mark.slow
def test_bench_scan_again_in_its_workdir_reads_afresh(tmp_path):
    """`csq bench scan --workdir DIR` run twice keeps the generated envelopes but not the registry:
    a registry kept from the first run took the second run's envelopes for ones it had (same
    fingerprints) and reported the first run's readings (a model tried with CSQ_ICR_MODEL then
    looked exactly like the one before)."""
    import sqlite3

    work = tmp_path / "bench"
    first = csq("bench", "scan", "--count", "1", "--seed", "5", "--workdir", str(work), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(work / "bench-registry.db") as db:  # as if an older reader had read it otherwise
        db.execute("UPDATE field_values SET value = 'STALE', needs_review = 0 WHERE name = 'family_name'")
    again = csq("bench", "scan", "--count", "1", "--seed", "5", "--workdir", str(work), "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(work / "bench-registry.db") as db:
        values = [row[0] for row in db.execute("SELECT value FROM field_values WHERE name = 'family_name'")]
    assert values and "STALE" not in values
    assert json.loads(again.stdout)["field_accuracy"] == json.loads(first.stdout)["field_accuracy"]
