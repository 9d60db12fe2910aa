"""The registry on both backends: a SQLite file in tmp_path and the real PostgreSQL (a
throw-away database per test session, a fresh schema per test).

The scanner's output is the registry's input contract (scan/model.py), so the envelopes
here are hand-built EnvelopeReadings with tiny real PNGs.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import zlib
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from errors import BadArguments, ConflictError, DatabaseError, InvalidData, NotFound
from registry import db as registry_db
from registry import models
from registry.filenumber import format_file_no, parse_file_no
from registry.priority import Placed, PriorityPolicy, draw_key, priority_order
from registry.service import Registry
from scan.model import EnvelopeReading, FieldReading, PageRecord, SeparatorReading
from templates.spec import load_form

# The PostgreSQL fixtures live in conftest.py; other test modules import them from here.
from conftest import pg_database, pg_url  # noqa: F401


POLICY = PriorityPolicy(
    opening_date=date(2026, 1, 5),
    closing_date=date(2026, 3, 31),
    draw_seed="test-seed-published-2026-01-05",
    source="tests",
)

# ----------------------------------------------------------------------------- inputs


def tiny_png(shade: int) -> bytes:
    """A real 4x4 grey PNG, different for each shade."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes([shade % 256]) * 4 for _ in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def person(n: int = 1, **changes) -> dict:
    """A valid application of a single person without children; `n` makes another person."""
    fields = {
        "family_name": "TREMBLAY" if n == 1 else f"NGUYEN {chr(64 + (n % 26 or 26))}",
        "given_names": "ÉLODIE",
        "birth_date": "1991-06-30",
        "sex": "F",
        "country_of_birth": "BELGIQUE",
        "citizenship": "BELGIQUE",
        "passport_number": f"EH{n:07d}",
        "passport_expiry": "2031-01-15",
        "marital_status": "SINGLE",
        "address_line": "4 AVENUE LOUISE",
        "city": "BRUXELLES",
        "postal_code": "1050",
        "country_of_residence": "BELGIQUE",
        "phone": "3225550199",
        "children_count": "0",
        "education_level": "BACHELOR",
        "field_of_study": "INFORMATIQUE",
        "diploma_year": "2013",
        "occupation": "ANALYSTE",
        "work_experience_months": "60",
        "french_level": "ADVANCED",
        "english_level": "BASIC",
        "quebec_family": "NONE",
        "settlement_region": "QUEBEC",
        "funds_available": "18000",
        "financial_contract_signed": True,
        "declaration_signed": True,
        "signature_date": "2026-01-20",
    }
    fields.update(changes)
    return {"fields": fields}


def sha(text_: str) -> str:
    return hashlib.sha256(text_.encode()).hexdigest()


def machine_reading(name: str, value, *, doubtful: bool = False, source: str = "ocr") -> FieldReading:
    return FieldReading(
        name=name, value=value, raw=str(value), source=source, confidence=0.55 if doubtful else 0.995,
        needs_review=doubtful, reasons=("low_confidence",) if doubtful else (), page_no=1,
        box=(40.0, 600.0, 300.0, 620.0), evidence=json.dumps({"cells": [0.9, 0.8]}),
    )


def envelope(doc: dict | None = None, *, tag: str = "a", doubtful: tuple[str, ...] = (), page_count: int = 2,
             separator: SeparatorReading | None = None, shade: int = 0) -> EnvelopeReading:
    """What the scanner would hand over for one envelope holding `doc` on paper."""
    doc = doc if doc is not None else person()
    form = load_form()
    fields = tuple(
        machine_reading(f.name, doc["fields"].get(f.name), doubtful=f.name in doubtful,
                        source="omr" if f.type in ("choice", "checkbox", "signature") else "ocr")
        for f in form.fields
    )
    page_records = tuple(
        PageRecord(sequence=i, source_file=f"{tag}.pdf", source_page=i, kind="form",
                   pixels_sha256=sha(f"{tag}-page-{i}"), image_png=tiny_png(shade + i),
                   form_id=form.form_id, version=form.version, page_no=i + 1)
        for i in range(page_count)
    )
    fingerprint = sha("".join(sorted(p.pixels_sha256 for p in page_records)))
    return EnvelopeReading(fingerprint=fingerprint, pages=page_records, fields=fields, form_id=form.form_id,
                           version=form.version, separator=separator)


def separator_sheet(postmark: str | None, *, doubtful: bool = False, illegible: bool = False) -> SeparatorReading:
    page = PageRecord(sequence=0, source_file="stack.pdf", source_page=0, kind="separator",
                      pixels_sha256=sha(f"separator-{postmark}-{doubtful}-{illegible}"), image_png=tiny_png(200),
                      form_id="csq-sep", version="2026.1", page_no=1)
    return SeparatorReading(
        serial="SEP-000042",
        postmark_date=machine_reading("postmark_date", postmark, doubtful=doubtful),
        postmark_illegible=machine_reading("postmark_illegible", illegible, source="omr"),
        received_date=machine_reading("received_date", None),
        page=page,
    )


# ---------------------------------------------------------------------------- backends


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'registry.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def registry(db_url, tmp_path):
    reg = Registry.open(db_url, tmp_path / "data", policy=POLICY)
    yield reg
    reg.close()


def row_counts(reg: Registry) -> dict[str, int]:
    with reg.db.read() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in models.Base.metadata.sorted_tables}


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(registry_db.MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def status_of(reg: Registry, file_no: str) -> str:
    return reg.application(file_no)["status"]


# --------------------------------------------------------------------------- migrations


def test_migrate_blank_database(registry):
    with registry.db.read() as conn:
        tables = set(inspect(conn).get_table_names())
        assert {"applications", "queue_places", "envelopes", "pages", "field_values", "audit_events", "idempotency_keys",
                "users", "file_counters", "registry_settings", "alembic_version"} <= tables
        columns = {c["name"] for c in inspect(conn).get_columns("applications")}
        assert {"file_no", "channel", "status", "postmark_date", "postmark_illegible", "received_date", "submitted_at",
                "priority_date", "draw_key", "form_version", "person_key", "duplicate_of"} <= columns
        # The migrations and the models describe the same schema (tables that other parts
        # of the project keep in the same database are theirs to check).
        ours = set(models.Base.metadata.tables)
        context = MigrationContext.configure(conn, opts={
            "include_name": lambda name, kind, parent: kind != "table" or name in ours})
        assert compare_metadata(context, models.Base.metadata) == []
    assert registry.db.current_revision() == head_revision()


def test_migrate_is_repeatable_and_reversible(registry, db_url, tmp_path):
    registry.submit_online(person(), submitted_at=datetime(2026, 2, 2, 15, tzinfo=timezone.utc))
    again = Registry.open(db_url, tmp_path / "data", policy=POLICY)  # second open: nothing to do, data kept
    assert len(again.queue()) == 1
    again.close()
    from alembic import command

    with registry.db.write() as conn:
        command.downgrade(registry.db.alembic_config(conn), "base")
    with registry.db.read() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    assert registry.db.migrate() == head_revision()
    assert registry.queue() == []


def test_migrate_from_a_0001_registry(db_url, tmp_path):
    """A registry ranked under revision 0001 (rank and within_cap on applications) keeps
    its ranks and statuses through 0002 (a narrow queue_places table)."""
    from alembic import command

    from registry.db import Database

    db = Database(db_url)
    with db.write() as conn:
        command.upgrade(db.alembic_config(conn), "0001")
        now = datetime(2026, 2, 20, tzinfo=timezone.utc)
        for i, (status, rank, within) in enumerate([("ranked", 1, True), ("beyond_cap", 2, False), ("incomplete", None, None)]):
            file_no = format_file_no(2026, "online", i + 1)
            conn.execute(text(
                "INSERT INTO applications (file_no, channel, status, review_state, postmark_illegible, postmark_needs_review,"
                " received_date, own_priority_date, priority_date, priority_rule, draw_key, rank, within_cap,"
                " registered_at, registered_by, updated_at, problems) VALUES (:f, 'online', :s, :r, false, false,"
                " :d, :d, :d, 'submitted_at', :k, :rank, :w, :now, 'old', :now, '')"),
                {"f": file_no, "s": status, "r": "incomplete" if status == "incomplete" else "complete", "d": date(2026, 2, 2),
                 "k": draw_key(POLICY.draw_seed, file_no), "rank": rank, "w": within, "now": now})
    db.dispose()
    with Registry.open(db_url, tmp_path / "data", policy=POLICY) as reg:
        assert reg.db.current_revision() == head_revision()
        exported = {r["file_no"][-3]: (r["status"], r["rank"]) for r in reg.export_rows()}
        assert list(exported.values()) == [("ranked", 1), ("beyond_cap", 2), ("incomplete", None)]
        assert [q["rank"] for q in reg.queue()] == [1, 2]
        with reg.db.read() as conn:
            assert conn.execute(text("SELECT DISTINCT status FROM applications ORDER BY status")).scalars().all() == ["complete", "incomplete"]


def test_newer_schema_is_refused(registry, db_url, tmp_path):
    with registry.db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(DatabaseError, match="newer than this program"):
        Registry.open(db_url, tmp_path / "data", policy=POLICY)


def test_audit_trail_is_append_only(registry):
    registry.submit_online(person(), submitted_at=datetime(2026, 2, 2, 15, tzinfo=timezone.utc))
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"):
            with registry.db.write() as conn:
                conn.execute(text(statement))
    assert {e["actor"] for e in registry.audit_trail()} == {"online-intake"}


# ------------------------------------------------------------------------- mail intake


def test_mail_intake_stores_the_envelope(registry, tmp_path):
    reading = envelope(doubtful=("city",))
    result = registry.register_mail(reading, postmark=date(2026, 2, 3), received=date(2026, 2, 9),
                                    envelope_image=tiny_png(99))
    assert result.created and result.status == "in_review" and result.pages == 2
    assert result.needs_review == ["city"]
    assert result.postmark_date == date(2026, 2, 3)
    number = parse_file_no(result.file_no)
    assert (number.year, number.channel, number.sequence) == (26, "mail", 1)

    app = registry.application(result.file_no)
    assert app["priority_date"] == "2026-02-03" and app["priority_rule"] == "postmark"
    assert app["received_date"] == "2026-02-09" and not app["postmark_illegible"]
    assert app["fields"]["city"]["needs_review"] and app["fields"]["city"]["box"] == [40.0, 600.0, 300.0, 620.0]
    assert app["fields"]["declaration_signed"]["value"] is True
    assert json.loads(app["fields"]["city"]["evidence"]) == {"cells": [0.9, 0.8]}
    for page, source in zip(app["pages"], reading.pages):
        stored = Path(page["image_path"])
        assert stored.read_bytes() == source.image_png
        assert stored.stat().st_mode & 0o777 == 0o640  # the group may read, nobody else
        assert stored.name == f"{hashlib.sha256(source.image_png).hexdigest()}.png"
        assert stored.parent.parent.parent == tmp_path / "data" / "images"
    assert Path(app["envelope"]["image_path"]).read_bytes() == tiny_png(99)
    assert app["envelope"]["fingerprint"] == reading.fingerprint
    assert [e["action"] for e in app["audit"]][:2] == ["registered", "status"]
    assert app["letter"] and Path(app["letter"]).exists()


def test_same_envelope_again_writes_nothing(registry):
    reading = envelope()
    first = registry.register_mail(reading, postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    before = row_counts(registry)
    again = registry.register_mail(reading, postmark=date(2026, 2, 4), received=date(2026, 2, 10))
    assert again.created is False
    assert (again.file_no, again.status, again.pages, again.postmark_date) == (first.file_no, first.status, 2, date(2026, 2, 3))
    assert row_counts(registry) == before


def test_images_are_stored_once(registry, tmp_path):
    a = envelope(tag="a")
    b = envelope(person(2), tag="b")  # other pages, same picture bytes
    registry.register_mail(a, postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    registry.register_mail(b, postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    stored = [p for p in (tmp_path / "data" / "images").rglob("*") if p.is_file()]
    assert len(stored) == 2
    assert not [p for p in (tmp_path / "data").rglob("*.tmp")]


def test_failure_half_way_leaves_no_rows(registry, monkeypatch):
    before = row_counts(registry)

    def broken(*args, **kwargs):
        raise RuntimeError("disk pulled out mid-intake")

    from registry import intake

    monkeypatch.setattr(intake, "_insert_fields", broken)
    with pytest.raises(RuntimeError):
        registry.register_mail(envelope(), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    assert row_counts(registry) == before
    monkeypatch.undo()
    retried = registry.register_mail(envelope(), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    assert parse_file_no(retried.file_no).sequence == 1  # the failed attempt used no number


def test_postmark_after_received_is_refused(registry):
    with pytest.raises(BadArguments, match="after the date received"):
        registry.register_mail(envelope(), postmark=date(2026, 2, 10), received=date(2026, 2, 9))
    assert row_counts(registry)["applications"] == 0


def test_illegible_postmark_uses_received_date(registry):
    result = registry.register_mail(envelope(), postmark=None, received=date(2026, 2, 9))
    app = registry.application(result.file_no)
    assert app["postmark_illegible"] and app["postmark_date"] is None
    assert app["priority_date"] == "2026-02-09" and app["priority_rule"] == "illegible_postmark:received_date"
    assert result.status == "complete"


def test_separator_postmark(registry):
    sure = registry.register_mail(envelope(separator=separator_sheet("2026-02-02")), received=date(2026, 2, 9))
    assert registry.application(sure.file_no)["priority_date"] == "2026-02-02"
    assert registry.application(sure.file_no)["priority_rule"] == "separator_postmark"

    unsure = registry.register_mail(envelope(person(2), tag="b", separator=separator_sheet("2026-02-01", doubtful=True)),
                                    received=date(2026, 2, 9))
    assert unsure.status == "in_review" and unsure.needs_review == ["postmark_date"]
    app = registry.application(unsure.file_no)
    assert app["priority_date"] == "2026-02-09" and app["postmark_needs_review"]  # received date until confirmed
    assert registry.review_list() == [{"file_no": unsure.file_no, "field": "postmark_date", "value": "2026-02-01",
                                       "reason": "postmark_uncertain, low_confidence"}]
    registry.review_set(unsure.file_no, "postmark_date", "20260201", by="rita")
    app = registry.application(unsure.file_no)
    assert (app["priority_date"], app["status"], app["postmark_needs_review"]) == ("2026-02-01", "complete", False)
    assert "postmark_reviewed" in [e["action"] for e in app["audit"]]


def test_separator_marked_illegible(registry):
    result = registry.register_mail(envelope(separator=separator_sheet(None, illegible=True)), received=date(2026, 2, 9))
    app = registry.application(result.file_no)
    assert app["postmark_illegible"] and not app["postmark_needs_review"] and result.status == "complete"
    assert app["pages"][0]["kind"] == "separator" and len(app["pages"]) == 3 and result.pages == 2


@pytest.fixture(scope="module")
def scanned_stack(tmp_path_factory):
    """A real stack: two prefilled envelopes, each behind a handwritten separator sheet,
    generated by samples/, written to one file and read by the scanner as `csq scan batch` does."""
    from samples.generate import generate_corpus
    from scan.pipeline import read_stack

    out = tmp_path_factory.mktemp("stack")
    samples = generate_corpus(out, count=2, seed=77, stack=True, kinds=("prefilled",), damage="none", stack_size=(2, 2))
    readings = list(read_stack([Path(f) for f in samples[0].files], workers=1, today=date(2026, 11, 23)))
    assert len(readings) == 2 and all(r.separator is not None for r in readings)
    return readings


def test_batch_pages_are_numbered_once_separator_first(registry, scanned_stack):
    """Each envelope of a stack keeps every page: the separator is page 0, the envelope's own
    pages follow in the order scanned (the scanner numbers the first separator 0, as it does
    the envelope's first page)."""
    for reading in scanned_stack:
        file_no = registry.register_mail(reading, received=date(2026, 11, 23)).file_no
        stored = registry.application(file_no)["pages"]
        assert [p["sequence"] for p in stored] == list(range(len(reading.pages) + 1))
        assert [p["kind"] for p in stored] == ["separator"] + [p.kind for p in reading.pages]
        assert [p["pixels_sha256"] for p in stored] == [reading.separator.page.pixels_sha256] + [p.pixels_sha256 for p in reading.pages]
        # One stacked file, kept once as received: every page is a different page of it.
        assert len({(p["image_path"], p["source_page"]) for p in stored}) == len(stored)
        assert {p["stored_as"] for p in stored} == {"received"}
        assert {p["image_sha256"] for p in stored} == {hashlib.sha256(Path(reading.pages[0].source_file).read_bytes()).hexdigest()}


# ------------------------------------------------------------------------ online intake


def test_online_submission(registry):
    result = registry.submit_online(person(given_names="élodie  "), submitted_at=datetime(2026, 2, 10, 14, 30, tzinfo=timezone.utc))
    assert result.created and result.status == "complete" and result.pages == 0 and result.needs_review == []
    app = registry.application(result.file_no)
    assert parse_file_no(result.file_no).channel == "online"
    assert app["submitted_at"] == "2026-02-10T14:30:00+00:00" and app["postmark_date"] is None
    assert app["fields"]["given_names"] == {**app["fields"]["given_names"], "value": "ÉLODIE", "source": "online",
                                            "confidence": 1.0, "needs_review": False}
    assert app["fields"]["email"]["value"] is None  # every form field is present, empty ones as null


def test_online_date_is_the_montreal_day(registry):
    late_evening = registry.submit_online(person(), submitted_at=datetime(2026, 2, 11, 3, 59, tzinfo=timezone.utc))
    naive_local = registry.submit_online(person(2), submitted_at=datetime(2026, 2, 11, 23, 59))
    assert registry.application(late_evening.file_no)["priority_date"] == "2026-02-10"
    assert registry.application(naive_local.file_no)["priority_date"] == "2026-02-11"


def test_invalid_online_submission_lists_every_problem(registry):
    doc = person(birth_date="1991-02-30", sex="Q")
    del doc["fields"]["city"]
    with pytest.raises(InvalidData) as caught:
        registry.submit_online(doc)
    assert {p.field for p in caught.value.problems} == {"birth_date", "sex", "city"}
    assert row_counts(registry)["applications"] == 0
    with pytest.raises(InvalidData, match="JSON object"):
        registry.submit_online(["not", "a", "document"])


def test_online_idempotency_key(registry):
    first = registry.submit_online(person(), idempotency_key="portal-123")
    again = registry.submit_online(person(), idempotency_key="portal-123")
    assert (again.file_no, again.created) == (first.file_no, False)
    with pytest.raises(ConflictError, match="another document"):
        registry.submit_online(person(2), idempotency_key="portal-123")
    assert row_counts(registry)["applications"] == 1


def test_concurrent_intake_numbers_are_unique(registry):
    numbers, errors = [], []

    def submit(k: int) -> None:
        try:
            for i in range(4):
                numbers.append(registry.submit_online(person(10 * k + i + 1), submitted_at=datetime(2026, 2, 2, 15, tzinfo=timezone.utc)).file_no)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(parse_file_no(n).sequence for n in numbers) == list(range(1, 13))


# ------------------------------------------------------------------------------- export


EXPORT_KEYS = {"file_no", "channel", "status", "postmark_date", "received_date", "submitted_at", "priority_date", "rank", "fields"}


def test_export_shape(registry):
    mail = registry.register_mail(envelope(doubtful=("city",)), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    online = registry.submit_online(person(2), submitted_at=datetime(2026, 2, 4, 12, tzinfo=timezone.utc))
    rows = {r["file_no"]: r for r in registry.export_rows()}
    assert set(rows) == {mail.file_no, online.file_no}
    for row in rows.values():
        json.dumps(row)  # one JSON line each
        assert EXPORT_KEYS <= set(row) and "duplicate_of" in row
        assert row["channel"] in ("mail", "online")
        for name, f in row["fields"].items():
            assert set(f) == {"value", "source", "confidence", "needs_review"}, name
            assert f["source"] in ("ocr", "omr", "barcode", "manual", "online")
            assert isinstance(f["confidence"], float) and isinstance(f["needs_review"], bool)
        assert set(row["fields"]) == set(load_form().field_names)
    m, o = rows[mail.file_no], rows[online.file_no]
    assert (m["channel"], m["status"], m["postmark_date"], m["received_date"], m["submitted_at"], m["priority_date"], m["rank"]) == (
        "mail", "in_review", "2026-02-03", "2026-02-09", None, "2026-02-03", None)
    assert (o["channel"], o["postmark_date"], o["submitted_at"], o["priority_date"]) == ("online", None, "2026-02-04T12:00:00+00:00", "2026-02-04")
    assert m["fields"]["city"] == {"value": "BRUXELLES", "source": "ocr", "confidence": 0.55, "needs_review": True}
    assert m["fields"]["sex"]["source"] == "omr" and o["fields"]["declaration_signed"]["value"] is True


def test_export_csv(registry):
    import csv
    import io

    registry.register_mail(envelope(doubtful=("city", "phone")), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    out = io.StringIO()
    registry.export_csv(out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 1
    assert rows[0]["family_name"] == "TREMBLAY" and rows[0]["declaration_signed"] == "true"
    assert rows[0]["needs_review"] == "city phone" and rows[0]["rank"] == "" and rows[0]["postmark_illegible"] == "false"
    assert rows[0]["postmark_date"] == "2026-02-03" and rows[0]["email"] == ""


# ------------------------------------------------------------------------ priority, rank


def test_queue_is_in_priority_order(registry):
    registered = []
    for i, postmark in enumerate([date(2026, 2, 5), date(2026, 2, 3), date(2026, 2, 3), None, date(2026, 2, 4)]):
        registered.append(registry.register_mail(envelope(person(i + 1), tag=f"m{i}"), postmark=postmark, received=date(2026, 2, 6)))
    for i, hour in enumerate([14, 20]):
        registry.submit_online(person(20 + i), submitted_at=datetime(2026, 2, 3, hour, tzinfo=timezone.utc))
    queue = registry.queue()
    assert [set(q) for q in queue] == [{"file_no", "rank", "priority_date", "channel"}] * 7
    apps = [registry.application(q["file_no"]) for q in queue]
    expected = priority_order(Placed(date.fromisoformat(a["priority_date"]), a["draw_key"], a["file_no"]) for a in apps)
    assert [q["file_no"] for q in queue] == [p.file_no for p in expected]
    assert [q["priority_date"] for q in queue] == ["2026-02-03"] * 4 + ["2026-02-04", "2026-02-05", "2026-02-06"]
    assert {q["channel"] for q in queue[:4]} == {"mail", "online"}


def test_intake_window(registry):
    early = registry.register_mail(envelope(tag="early"), postmark=date(2026, 1, 4), received=date(2026, 1, 6))
    first_day = registry.register_mail(envelope(person(2), tag="first"), postmark=date(2026, 1, 5), received=date(2026, 1, 7))
    late = registry.submit_online(person(3), submitted_at=datetime(2026, 4, 1, 4, 30, tzinfo=timezone.utc))
    last_day = registry.submit_online(person(4), submitted_at=datetime(2026, 4, 1, 3, 30, tzinfo=timezone.utc))  # 23:30 in Montreal
    assert (early.status, first_day.status, late.status, last_day.status) == ("premature", "complete", "late", "complete")
    assert [q["file_no"] for q in registry.queue()] == [first_day.file_no, last_day.file_no]
    summary = registry.rank(None)
    assert summary["not_ranked"]["premature"] == 1 and summary["not_ranked"]["late"] == 1
    assert registry.application(early.file_no)["rank"] is None


def test_rank_and_cap(registry):
    files = []
    for i, day in enumerate([3, 4, 5, 6]):
        doubtful = ("phone",) if day == 4 else ()
        files.append(registry.register_mail(envelope(person(i + 1), tag=f"c{i}", doubtful=doubtful),
                                            postmark=date(2026, 2, day), received=date(2026, 2, 9)).file_no)
    incomplete = registry.register_mail(envelope(person(9, city=None), tag="inc"), postmark=date(2026, 2, 1), received=date(2026, 2, 9))
    assert incomplete.status == "in_review"  # the city read empty: a person confirms it
    assert registry.confirm_empty(incomplete.file_no, by="rita", reason="left_empty")["status"] == "incomplete"

    summary = registry.rank(3)
    assert (summary["queued"], summary["ranked"], summary["beyond_cap"], summary["being_verified_within_cap"]) == (4, 2, 1, 1)
    assert [q["rank"] for q in registry.queue()] == [1, 2, 3, 4]
    assert [status_of(registry, f) for f in files] == ["ranked", "in_review", "ranked", "beyond_cap"]
    assert registry.application(incomplete.file_no)["rank"] is None

    # The place held during review is kept: once verified, the file is ranked at once.
    registry.review_set(files[1], "phone", "3225550199", by="rita")
    assert status_of(registry, files[1]) == "ranked"
    assert registry.rank(3) | {"draw_seed_sha256": None} == summary | {"ranked": 3, "being_verified_within_cap": 0, "being_verified": 0, "draw_seed_sha256": None}

    everyone = registry.rank(None)
    assert everyone["ranked"] == 4 and everyone["beyond_cap"] == 0
    assert registry.rank(0)["beyond_cap"] == 4
    assert [e["action"] for e in registry.audit_trail() if e["action"] == "rank"] == ["rank"] * 4


def test_draw_is_reproducible(db_url, tmp_path):
    """Same file numbers and seed: the same order, in any registry; a new seed: a new order."""

    def fill(reg: Registry) -> None:
        for i in range(8):  # four letters and four web forms, all of the same day
            if i % 2:
                reg.submit_online(person(i + 1), submitted_at=datetime(2026, 2, 3, 15, tzinfo=timezone.utc))
            else:
                reg.register_mail(envelope(person(i + 1), tag=f"d{i}"), postmark=date(2026, 2, 3), received=date(2026, 2, 6))

    def ranked(url: str, policy: PriorityPolicy) -> list[str]:
        with Registry.open(url, tmp_path / "data", policy=policy) as reg:
            if not reg.queue():
                fill(reg)
            reg.rank(None)
            return [q["file_no"] for q in reg.queue()]

    first = ranked(db_url, POLICY)
    assert ranked(f"sqlite:///{tmp_path / 'other.db'}", POLICY) == first
    reseeded = replace(POLICY, draw_seed="another-published-seed-2027")
    assert ranked(db_url, reseeded) != first
    with Registry.open(db_url, tmp_path / "data", policy=reseeded) as reg:
        changes = [e for e in reg.audit_trail() if e["action"] == "rules_changed"]  # the change is audited
    assert len(changes) == 1
    assert json.loads(changes[0]["old"])["draw_seed_sha256"] == POLICY.seed_sha256
    assert json.loads(changes[0]["new"])["draw_seed_sha256"] == reseeded.seed_sha256


def ranks_one_by_one(reg: Registry) -> dict[str, int | None]:
    """Each queued application's rank as its own record gives it (not through the listing)."""
    return {q["file_no"]: reg.application(q["file_no"])["rank"] for q in reg.queue()}


def test_queue_listing_after_the_queue_changed(registry):
    """The listing follows the places in the order of the last ranking; since then
    applications moved (a postmark set), left (withdrawn) or came (no place yet): each row
    still carries that application's own rank, in the queue's current order."""
    files = [registry.register_mail(envelope(person(i + 1), tag=f"q{i}"), postmark=date(2026, 2, 3 + i), received=date(2026, 2, 20)).file_no
             for i in range(6)]
    registry.rank(None)
    assert [(q["file_no"], q["rank"]) for q in registry.queue()] == [(f, i + 1) for i, f in enumerate(files)]

    registry.set_postmark(files[4], date(2026, 2, 1), by="sue", reason="postmark read under UV light")  # moves to the front
    registry.withdraw(files[1], by="sue", reason="the candidate wrote to withdraw")  # its place is given up
    newcomer = registry.register_mail(envelope(person(9), tag="q9"), postmark=date(2026, 2, 4), received=date(2026, 2, 21)).file_no
    queue = registry.queue()
    apps = [registry.application(q["file_no"]) for q in queue]
    expected = priority_order(Placed(date.fromisoformat(a["priority_date"]), a["draw_key"], a["file_no"]) for a in apps)
    assert [q["file_no"] for q in queue] == [e.file_no for e in expected]
    assert files[1] not in [q["file_no"] for q in queue] and queue[0]["file_no"] == files[4]
    assert {q["file_no"]: q["rank"] for q in queue} == ranks_one_by_one(registry)
    assert {q["file_no"]: q["rank"] for q in queue}[newcomer] is None and queue[0]["rank"] == 5

    registry.rank(None)  # ranked again: 1..n in the new order
    assert [q["rank"] for q in registry.queue()] == list(range(1, 7))


def test_queue_listing_stopped_early_leaves_the_registry_usable(registry, monkeypatch):
    for i in range(3):
        registry.register_mail(envelope(person(i + 1), tag=f"s{i}"), postmark=date(2026, 2, 3 + i), received=date(2026, 2, 20))
    registry.rank(2)
    listing = registry.iter_queue()
    assert next(listing)["rank"] == 1
    listing.close()  # the query ends inside the read transaction
    listed = registry.queue()
    assert [q["rank"] for q in listed] == [1, 2, 3]
    assert registry.rank(2)["queued"] == 3
    if registry.db.dialect == "postgresql":  # a libpq that cannot stream in chunks: the same listing
        import psycopg

        monkeypatch.setattr(psycopg.pq, "version", lambda: 160000)
        assert registry.queue() == listed


def test_cli_queue_prints_the_contract_json(registry, db_url, tmp_path):
    """`csq registry queue --json` streams its rows and prints what one json.dumps of the whole
    list printed (docs/interface.md); the text listing too, one line per application."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]

    def csq(*args: str) -> str:
        env = {"PATH": "/usr/bin:/bin", "CSQ_DATA_DIR": str(tmp_path / "cli-data"), "PYTHONPATH": str(root)}
        proc = subprocess.run([sys.executable, "-m", "cli", "--db", db_url, "registry", "queue", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert csq("--json") == "[]\n" and csq() == "the queue is empty\n"
    registry.register_mail(envelope(person(1), tag="j1"), postmark=date(2026, 2, 4), received=date(2026, 2, 20))
    registry.submit_online(person(2, family_name="GAGNÉ"), submitted_at=datetime(2026, 2, 3, 15, tzinfo=timezone.utc))
    registry.rank(1)
    registry.register_mail(envelope(person(3), tag="j3"), postmark=date(2026, 2, 5), received=date(2026, 2, 20))  # no rank yet
    queue = registry.queue()
    assert [q["rank"] for q in queue] == [1, 2, None]
    assert csq("--json") == json.dumps(queue, ensure_ascii=False) + "\n"
    assert csq().splitlines() == [f"{q['rank'] or '-':>6}  {q['priority_date']}  {q['channel']:<6}  {q['file_no']}" for q in queue]


# --------------------------------------------------------------------------- duplicates


def test_duplicates_are_linked(registry):
    online = registry.submit_online(person(), submitted_at=datetime(2026, 2, 10, 15, tzinfo=timezone.utc))
    mail = registry.register_mail(envelope(person()), postmark=date(2026, 2, 4), received=date(2026, 2, 12))
    assert mail.status == "duplicate"
    kept = registry.application(online.file_no)
    assert kept["duplicates"] == [mail.file_no]
    assert kept["priority_date"] == "2026-02-04" and kept["own_priority_date"] == "2026-02-10"  # the person's earliest
    rows = {r["file_no"]: r for r in registry.export_rows()}
    assert rows[mail.file_no]["duplicate_of"] == online.file_no and rows[online.file_no]["duplicate_of"] is None
    assert [q["file_no"] for q in registry.queue()] == [online.file_no]
    assert any(e["action"] == "duplicate_linked" and e["new"] == online.file_no for e in registry.audit_trail(mail.file_no))

    registry.withdraw(online.file_no, by="sam", reason="candidate asked by phone")
    assert status_of(registry, online.file_no) == "withdrawn"
    promoted = registry.application(mail.file_no)
    assert (promoted["status"], promoted["duplicate_of"], promoted["priority_date"]) == ("complete", None, "2026-02-04")


def test_same_person_at_the_same_moment(registry):
    """A letter and a web form of one person registered at the same moment (each channel
    numbers its files on its own, so nothing else makes them wait): one kept, one duplicate."""
    for round_ in range(3):
        barrier, results = threading.Barrier(2), []

        def online() -> None:
            barrier.wait()
            results.append(registry.submit_online(person(round_ + 1), submitted_at=datetime(2026, 2, 10, 15, tzinfo=timezone.utc)))

        def mail() -> None:
            reading = envelope(person(round_ + 1), tag=f"race{round_}")
            barrier.wait()
            results.append(registry.register_mail(reading, postmark=date(2026, 2, 9), received=date(2026, 2, 12)))

        threads = [threading.Thread(target=online), threading.Thread(target=mail)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(status_of(registry, r.file_no) for r in results) == ["complete", "duplicate"]


def test_doubtful_passport_links_nobody(registry):
    registry.submit_online(person(), submitted_at=datetime(2026, 2, 10, 15, tzinfo=timezone.utc))
    unsure = registry.register_mail(envelope(doubtful=("passport_number",)), postmark=date(2026, 2, 4), received=date(2026, 2, 12))
    assert unsure.status == "in_review"
    held = registry.review_set(unsure.file_no, "passport_number", "EH0000001", by="rita")
    # It links another file (and gives it this earlier postmark): four eyes (registry/identity_changes.py).
    assert held["held"] is True and status_of(registry, unsure.file_no) == "in_review"
    from registry import identity_changes

    registry.add_user("sam", "supervisor", "a long enough password")
    identity_changes.confirm(registry, held["identity_change"], by="sam")
    assert status_of(registry, unsure.file_no) == "duplicate"


def test_premature_try_does_not_block_the_real_one(registry):
    early = registry.register_mail(envelope(tag="early"), postmark=date(2026, 1, 2), received=date(2026, 1, 6))
    real = registry.submit_online(person(), submitted_at=datetime(2026, 2, 10, 15, tzinfo=timezone.utc))
    assert (status_of(registry, early.file_no), real.status) == ("premature", "complete")
    assert registry.application(real.file_no)["priority_date"] == "2026-02-10"


# ------------------------------------------------------------------------------- review


def test_review_set(registry):
    result = registry.register_mail(envelope(doubtful=("city", "birth_date")), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    listed = registry.review_list()
    assert [(r["field"], r["value"], r["reason"]) for r in listed] == [("birth_date", "1991-06-30", "low_confidence"), ("city", "BRUXELLES", "low_confidence")]

    with pytest.raises(InvalidData, match="Ville"):
        registry.review_set(result.file_no, "city", "BRUXELLES!", by="rita")
    with pytest.raises(NotFound, match="no field"):
        registry.review_set(result.file_no, "favourite_colour", "BLEU", by="rita")
    with pytest.raises(NotFound):
        registry.review_set(format_file_no(2026, "mail", 999), "city", "X", by="rita")

    done = registry.review_set(result.file_no.lower().replace("-", " "), "city", "ixelles", by="rita")
    assert (done["value"], done["version"], done["machine_value"], done["status"], done["needs_review"]) == (
        "IXELLES", 2, "BRUXELLES", "in_review", ["birth_date"])
    registry.review_set(result.file_no, "birth_date", "19910630", by="rita")
    app = registry.application(result.file_no)
    assert app["status"] == "complete" and registry.review_list() == []
    city = app["fields"]["city"]
    assert (city["value"], city["source"], city["needs_review"], city["machine_value"], city["machine_source"], city["updated_by"]) == (
        "IXELLES", "manual", False, "BRUXELLES", "ocr", "rita")
    assert [(e["action"], e["field"], e["old"], e["new"]) for e in app["audit"] if e["action"] == "review_set"] == [
        ("review_set", "city", "BRUXELLES", "IXELLES"), ("review_set", "birth_date", "1991-06-30", "1991-06-30")]
    assert ("in_review", "complete") in [(e["old"], e["new"]) for e in app["audit"] if e["action"] == "status"]

    registry.review_set(result.file_no, "city", "LIÈGE", by="sam")  # a second correction keeps the machine's value
    assert registry.application(result.file_no)["fields"]["city"]["machine_value"] == "BRUXELLES"


def test_review_ends_incomplete_when_the_paper_is_incomplete(registry):
    result = registry.register_mail(envelope(person(phone=None), doubtful=("city",)), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    assert result.status == "in_review"
    done = registry.review_set(result.file_no, "city", "BRUXELLES", by="rita")
    # The phone read empty is the machine's reading: it waits for a person, it does not exclude.
    assert done["status"] == "in_review" and done["needs_review"] == ["phone"]
    assert [(r["field"], r["reason"]) for r in registry.review_list()] == [("phone", "empty_required")]
    done = registry.review_set(result.file_no, "phone", "", by="rita")  # left empty on the paper: confirmed so
    assert done["status"] == "incomplete" and done["confirmed"] == ["phone"] and done["needs_review"] == []
    trail = registry.application(result.file_no)["audit"]
    assert [(e["action"], e["field"], e["actor"]) for e in trail if e["action"] == "empty_confirmed"] == [("empty_confirmed", "phone", "rita")]
    assert [(e["new"], e["actor"]) for e in trail if e["action"] == "review_state"][-1] == ("incomplete", "rita")
    assert [p["field"] for p in registry.application(result.file_no)["validation"]] == ["phone"]
    assert registry.queue() == []
    registry.review_set(result.file_no, "phone", "3225550199", by="rita")  # the candidate's answer, keyed in
    assert status_of(registry, result.file_no) == "complete"


def test_a_blank_envelope_waits_for_a_person_then_one_action_confirms_it(registry):
    """A blank form read as all empty: not `incomplete` on the machine's word (issue 12). The
    readings here are final and empty, as an older reader or another's would hand them over."""
    blank = {"fields": {}}
    result = registry.register_mail(envelope(blank, tag="blank"), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    required = [f.name for f in load_form().fields if f.required]
    assert result.status == "in_review" and set(result.needs_review) == set(required)
    listed = [r for r in registry.review_list() if r["file_no"] == result.file_no]
    assert {r["reason"] for r in listed} == {"empty_required"}
    exported = registry.application(result.file_no)["fields"]
    assert all(exported[name]["needs_review"] for name in required)
    assert [q["file_no"] for q in registry.queue()] == [result.file_no]  # it keeps its place while a person looks

    with pytest.raises(BadArguments, match="--reason"):
        registry.confirm_empty(result.file_no, by="rita", reason="because")
    done = registry.confirm_empty(result.file_no, by="rita", reason="blank_page")
    assert sorted(done["confirmed"]) == sorted(required) and done["left"] == [] and done["status"] == "incomplete"
    app = registry.application(result.file_no)
    assert {app["fields"][n]["source"] for n in required} == {"manual"} and {app["fields"][n]["machine_source"] for n in required} <= {"ocr", "omr"}
    events = [e for e in app["audit"] if e["action"] == "empty_confirmed"]
    assert len(events) == len(required) and all(e["actor"] == "rita" and '"blank_page"' in e["detail"] for e in events)
    assert ("incomplete", "rita") in [(e["new"], e["actor"]) for e in app["audit"] if e["action"] == "review_state"]
    assert registry.queue() == []


def test_confirm_empty_leaves_fields_with_ink_to_be_decided_one_by_one(registry):
    doc = person(phone=None, city=None)
    env = envelope(doc, tag="ink")
    inked = tuple(replace(f, needs_review=True, reasons=("missing",)) if f.name == "city" else f for f in env.fields)
    result = registry.register_mail(replace(env, fields=inked), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    done = registry.confirm_empty(result.file_no, by="rita", reason="left_empty")
    assert (done["confirmed"], done["left"], done["status"]) == (["phone"], ["city"], "in_review")
    with pytest.raises(BadArguments, match="not a required field"):
        registry.confirm_empty(result.file_no, by="rita", reason="left_empty", fields=("mother_tongue",))
    done = registry.confirm_empty(result.file_no, by="rita", reason="left_empty", fields=("city",))
    assert done["confirmed"] == ["city"] and done["status"] == "incomplete"


def test_a_person_may_empty_a_required_field_the_machine_read_a_value_in(registry):
    """A circled box offered as the answer, and the person sees no answer there: set empty."""
    env = envelope(person(), tag="circled")
    offered = tuple(replace(f, needs_review=True, reasons=("ink_around_box",)) if f.name == "marital_status" else f for f in env.fields)
    result = registry.register_mail(replace(env, fields=offered), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    done = registry.review_set(result.file_no, "marital_status", "", by="rita")
    assert done["confirmed"] == ["marital_status"] and done["status"] == "incomplete"
    field = registry.application(result.file_no)["fields"]["marital_status"]
    assert (field["value"], field["source"], field["machine_source"]) == (None, "manual", "omr")
    assert field["machine_value"] == person()["fields"]["marital_status"]


def test_cli_confirm_empty(registry, db_url, tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]

    def csq(*args: str) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/bin:/bin", "CSQ_DATA_DIR": str(tmp_path / "cli-data"), "PYTHONPATH": str(root)}
        return subprocess.run([sys.executable, "-m", "cli", "--db", db_url, "review", "confirm-empty", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    result = registry.register_mail(envelope(person(phone=None), tag="cli"), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    registry.add_user("rita", "reviewer", "correct-horse-battery")
    refused = csq(result.file_no, "--by", "rita", "--reason", "tired")
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1 and "--reason 'tired'" in refused.stderr
    proc = csq(result.file_no, "--by", "rita", "--reason", "left_empty", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["confirmed"] == ["phone"] and status_of(registry, result.file_no) == "incomplete"


def test_checkbox_values_from_text(registry):
    result = registry.register_mail(envelope(person(declaration_signed=False), doubtful=("declaration_signed",)),
                                    postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    assert registry.review_set(result.file_no, "declaration_signed", "oui", by="rita")["value"] is True
    with pytest.raises(InvalidData, match="true or false"):
        registry.review_set(result.file_no, "declaration_signed", "maybe", by="rita")


def test_optimistic_lock(registry):
    result = registry.register_mail(envelope(doubtful=("city",)), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    seen = registry.application(result.file_no)["fields"]["city"]["version"]
    registry.review_set(result.file_no, "city", "NAMUR", by="rita", expected_version=seen)
    with pytest.raises(ConflictError, match="changed by rita"):
        registry.review_set(result.file_no, "city", "LIÈGE", by="sam", expected_version=seen)
    assert registry.application(result.file_no)["fields"]["city"]["value"] == "NAMUR"


def test_supervisor_sets_the_postmark(registry):
    result = registry.register_mail(envelope(), postmark=None, received=date(2026, 2, 9))
    with pytest.raises(BadArguments, match="reason"):
        registry.set_postmark(result.file_no, date(2026, 2, 2), by="sue", reason=" ")
    changed = registry.set_postmark(result.file_no, date(2026, 2, 2), by="sue", reason="postmark legible under UV light")
    assert changed["priority_date"] == "2026-02-02" and changed["priority_rule"] == "postmark_set_by_supervisor"
    event = [e for e in registry.audit_trail(result.file_no) if e["action"] == "set_postmark"][0]
    assert (event["actor"], event["old"], event["new"], event["detail"]) == ("sue", "illegible", "2026-02-02", "postmark legible under UV light")
    assert registry.set_postmark(result.file_no, None, by="sue", reason="second look")["priority_date"] == "2026-02-09"
    online = registry.submit_online(person(2))
    with pytest.raises(BadArguments, match="online"):
        registry.set_postmark(online.file_no, date(2026, 2, 2), by="sue", reason="x")


# -------------------------------------------------------------------------------- users


def test_users(registry, monkeypatch):
    from argon2 import PasswordHasher

    from registry import staff

    # Light argon2 parameters keep the suite fast; the real ones are argon2-cffi's defaults.
    monkeypatch.setattr(staff, "_password_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    registry.add_user("rita", "reviewer", "correct horse battery")
    account = registry.verify_user("rita", "correct horse battery")
    assert (account.name, account.role) == ("rita", "reviewer")
    assert registry.staff_session("rita") == account
    assert registry.verify_user("rita", "wrong password!") is None
    assert registry.verify_user("nobody", "correct horse battery") is None
    with pytest.raises(ConflictError):
        registry.add_user("rita", "clerk", "another long one")
    with pytest.raises(BadArguments):
        registry.add_user("tim", "admin", "long enough password")
    with pytest.raises(BadArguments):
        registry.add_user("tim", "clerk", "short")
    registry.set_user_active("rita", False, by="sue")
    assert registry.verify_user("rita", "correct horse battery") is None
    assert registry.staff_session("rita") is None
    registry.set_user_active("rita", True, by="sue")  # back, but not with the sessions of before
    assert registry.staff_session("rita").session_generation > account.session_generation
    with pytest.raises(BadArguments):
        registry.set_user_password("rita", "short", by="sue")
    with pytest.raises(NotFound):
        registry.set_user_role("nobody", "clerk", by="sue")
    with pytest.raises(BadArguments):
        registry.set_user_role("rita", "admin", by="sue")
    registry.set_user_active("rita", False, by="sue")
    with registry.db.read() as conn:
        stored = conn.execute(select(models.users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


# ------------------------------------------------------------------------------ failures


def test_unreachable_database():
    with pytest.raises(DatabaseError) as caught:
        Registry.open("postgresql+psycopg://clerk:s3cret@127.0.0.1:1/x", Path("unused"), policy=POLICY)
    message = str(caught.value)
    assert "s3cret" not in message and "***" in message and "start the PostgreSQL server" in message
    assert "\n" not in message


def test_locked_sqlite(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    reg = Registry.open(url, tmp_path / "data", policy=POLICY)
    import sqlite3

    other = sqlite3.connect(tmp_path / "registry.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        with pytest.raises(DatabaseError, match="locked by another program"):
            reg.submit_online(person())
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert reg.submit_online(person()).created
    reg.close()


def test_bad_database_url():
    with pytest.raises(BadArguments):
        Registry.open("not a url", Path("unused"), policy=POLICY)


# ------------------------------------------------------------------------------- rules


def test_new_rules_apply_to_every_application(db_url, tmp_path):
    with Registry.open(db_url, tmp_path / "data", policy=POLICY) as reg:
        march = reg.submit_online(person(), submitted_at=datetime(2026, 3, 20, 15, tzinfo=timezone.utc))
        illegible = reg.register_mail(envelope(person(2)), postmark=None, received=date(2026, 2, 9))
        reg.rank(None)
        assert status_of(reg, march.file_no) == "ranked"
    shorter = replace(POLICY, closing_date=date(2026, 3, 15), illegible_postmark_offset_days=10)
    with Registry.open(db_url, tmp_path / "data", policy=shorter) as reg:
        assert status_of(reg, march.file_no) == "late"
        assert reg.application(illegible.file_no)["priority_date"] == "2026-01-30"
        assert [q["rank"] for q in reg.queue()] == [None]  # the last ranking is void
        change = [e for e in reg.audit_trail() if e["action"] == "rules_changed"]
        assert len(change) == 1 and json.loads(change[0]["new"])["closing_date"] == "2026-03-15"


def test_bench_queue_runs(db_url, tmp_path):
    from bench.ranking import bench_queue

    figures = bench_queue(db_url, 600, data_dir=tmp_path / "bench", policy=POLICY)
    assert figures["n"] == 600 and figures["backend"] in db_url
    assert figures["ranked"] + figures["beyond_cap"] + figures["being_verified"] == figures["queued"]
    assert figures["ranked"] + figures["being_verified_within_cap"] == 300  # the cap is n // 2 places
    with Registry.open(db_url, tmp_path / "bench", policy=POLICY) as reg:
        queue = reg.queue()
        assert [q["rank"] for q in queue] == list(range(1, len(queue) + 1)) and len(queue) == figures["queued"]
        rows = list(reg.export_rows())
        assert {r["status"] for r in rows} <= {"ranked", "beyond_cap", "in_review", "incomplete"}
    with pytest.raises(BadArguments, match="empty registry"):
        bench_queue(db_url, 10, data_dir=tmp_path / "bench", policy=POLICY)
