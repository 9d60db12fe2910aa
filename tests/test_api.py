"""The online channel's API in process: valid, invalid, idempotent, oversized, wrong content
type, the optional token, and the status of a file."""

from __future__ import annotations

import json

import pytest

from station import limits
import station_fixtures as T
from station.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.delenv("CSQ_API_TOKEN", raising=False)
    application = create_app(f"sqlite:///{tmp_path}/registry.db", tmp_path / "data")
    yield application
    application.state.station.registry.close()


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)


def post(client, doc, *, key=None, headers=None):
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key:
        sent["Idempotency-Key"] = key
    return client.post("/api/applications", content=json.dumps(doc).encode(), headers=sent)


def test_a_valid_application_is_registered(client, app):
    r = post(client, T.sample_document())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["file_no"].startswith(("26O-", "25O-", "27O-")) or "O-" in body["file_no"]
    assert r.headers["location"] == f"/api/applications/{body['file_no']}"
    row = next(row for row in app.state.station.registry.export_rows() if row["file_no"] == body["file_no"])
    assert row["channel"] == "online" and row["fields"]["family_name"]["source"] == "online"


def test_submitted_at_sets_the_priority_date(client):
    doc = {**T.sample_document(), "submitted_at": "2026-10-05T23:30:00-04:00"}
    file_no = post(client, doc).json()["file_no"]
    status = client.get(f"/api/applications/{file_no}").json()
    assert status["priority_date"] == "2026-10-05" and status["submitted_at"].startswith("2026-10-06T03:30")


def test_submitted_at_needs_an_offset(client):
    r = post(client, {**T.sample_document(), "submitted_at": "2026-10-05 12:00"})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "submitted_at"


def test_an_invalid_application_gets_every_problem_in_both_languages(client, app):
    doc = T.sample_document()
    del doc["fields"]["family_name"]
    doc["fields"]["birth_date"] = "1990-02-31"
    r = post(client, doc)
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert {p["field"] for p in problems} >= {"family_name", "birth_date"}
    assert all(p["message_fr"] and p["message_en"] for p in problems)
    assert list(app.state.station.registry.export_rows()) == []


def test_not_a_document(client):
    assert post(client, [1, 2]).status_code == 422
    assert post(client, {"nope": 1}).status_code == 422
    r = client.post("/api/applications", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_the_same_idempotency_key_gives_the_same_file_once(client, app):
    first = post(client, T.sample_document(), key="portal-batch-7-item-1")
    again = post(client, T.sample_document(), key="portal-batch-7-item-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["file_no"] == again.json()["file_no"]
    assert len(list(app.state.station.registry.export_rows())) == 1


def test_an_idempotency_key_reused_for_another_document_is_a_conflict(client):
    post(client, T.sample_document(), key="k-1")
    other = T.sample_document()
    other["fields"]["given_names"] = "JEAN"
    assert post(client, other, key="k-1").status_code == 409


def test_a_malformed_idempotency_key_is_refused(client):
    assert post(client, T.sample_document(), key="has spaces in it").status_code == 400


def test_an_oversized_body_is_refused_before_reading_it(client):
    doc = T.sample_document()
    doc["fields"]["padding"] = "x" * (limits.API_MAX_BODY_BYTES + 1)
    r = post(client, doc)
    assert r.status_code == 413


def test_an_oversized_chunked_body_is_refused_too(client):
    def chunks():
        for _ in range(limits.API_MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    r = client.post("/api/applications", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_wrong_content_type(client):
    r = client.post("/api/applications", data={"fields": "x"})
    assert r.status_code == 415
    r = client.post("/api/applications", content=json.dumps(T.sample_document()), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/api/applications", content=json.dumps(T.sample_document()).encode(),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201


def test_no_csrf_and_no_cookie_needed_but_a_token_when_configured(client, monkeypatch):
    assert post(client, T.sample_document()).status_code == 201
    monkeypatch.setenv("CSQ_API_TOKEN", "s3cret-token")
    assert post(client, T.sample_document()).status_code == 401
    assert post(client, T.sample_document(), headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = post(client, T.sample_document(), headers={"Authorization": "Bearer s3cret-token"})
    assert r.status_code == 201
    assert client.get(f"/api/applications/{r.json()['file_no']}").status_code == 401


def test_status_of_an_application(client):
    file_no = post(client, T.sample_document()).json()["file_no"]
    status = client.get(f"/api/applications/{file_no}").json()
    assert status["file_no"] == file_no and status["channel"] == "online"
    assert set(status) >= {"status", "priority_date", "rank"}
    assert "fields" not in status  # no personal data through the status call


def test_status_of_an_unknown_application_is_404_json(client):
    from registry.filenumber import format_file_no

    r = client.get(f"/api/applications/{format_file_no(2026, 'online', 999_999)}")
    assert r.status_code == 404 and "error" in r.json()
    wrong_check_digit = format_file_no(2026, "online", 999_999)[:-1] + "X"
    assert client.get(f"/api/applications/{wrong_check_digit}").status_code == 400


def test_concurrent_retries_with_one_key_make_one_file(app):
    """The portal's import job retries on timeouts, sometimes while the first try is still
    running: over real HTTP on 127.0.0.1, eight racing requests with one key make one file."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    body = json.dumps(T.sample_document()).encode()
    with T.LiveServer(app) as server:
        def submit(_):
            return httpx.post(f"{server.url}/api/applications", content=body, timeout=60,
                              headers={"Content-Type": "application/json", "Idempotency-Key": "retry-storm-1"})

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(submit, range(8)))
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
    assert len({r.json()["file_no"] for r in answers}) == 1
    assert len(list(app.state.station.registry.export_rows())) == 1


def test_status_shows_the_rank_once_ranked(client, app):
    file_no = post(client, T.sample_document()).json()["file_no"]
    assert client.get(f"/api/applications/{file_no}").json()["rank"] is None
    app.state.station.registry.rank()
    status = client.get(f"/api/applications/{file_no}").json()
    assert status["rank"] == 1 and status["status"] == "ranked"
