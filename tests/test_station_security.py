"""What a black-box probe of the station found (issue 13), each attack replayed: the session
key, logout, body sizes, 500s, login throttling, forwarded headers, who looked."""

from __future__ import annotations

import multiprocessing
import os
import re

import pytest

from errors import StorageError
from station import auth, limits
import station_fixtures as T
from test_station import app, client_for, csrf_of, logged_in, mail_file, registry, staff_db  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


# ------------------------------------------------------------------------ session key


def _load_key_at(folder: str, barrier, out) -> None:
    barrier.wait()
    try:
        out.put(auth.load_secret_key(folder))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a failure
        out.put(f"ERROR {exc}")


def test_two_processes_starting_at_once_get_one_full_key(tmp_path, monkeypatch):
    """The attack: the key file was created empty, then written; a second process starting at
    that moment read it empty (62 of 200 tries) and signed cookies with an empty key."""
    monkeypatch.delenv("CSQ_SECRET_KEY", raising=False)
    ctx = multiprocessing.get_context("fork")
    for attempt in range(40):
        folder = tmp_path / f"d{attempt}"
        barrier, out = ctx.Barrier(2), ctx.Queue()
        workers = [ctx.Process(target=_load_key_at, args=(str(folder), barrier, out)) for _ in range(2)]
        for w in workers:
            w.start()
        keys = [out.get(timeout=30) for _ in workers]
        for w in workers:
            w.join(timeout=30)
        assert keys[0] == keys[1], keys
        assert len(keys[0]) >= limits.SECRET_KEY_MIN_CHARS and not keys[0].startswith("ERROR")
        assert (folder / limits.SECRET_KEY_FILE).read_text().strip() == keys[0]
        assert [p.name for p in folder.iterdir()] == [limits.SECRET_KEY_FILE]  # no temporary file left


def test_an_empty_or_short_key_is_refused_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("CSQ_SECRET_KEY", raising=False)
    (tmp_path / limits.SECRET_KEY_FILE).write_text("")
    with pytest.raises(StorageError, match="empty.*delete the file"):
        auth.load_secret_key(tmp_path)
    (tmp_path / limits.SECRET_KEY_FILE).write_text("short\n")
    with pytest.raises(StorageError, match="too short"):
        auth.load_secret_key(tmp_path)
    for short in ("", "  ", "x" * (limits.SECRET_KEY_MIN_CHARS - 1)):
        monkeypatch.setenv("CSQ_SECRET_KEY", short)
        with pytest.raises(StorageError, match="CSQ_SECRET_KEY"):
            auth.load_secret_key(tmp_path / "other")
    monkeypatch.setenv("CSQ_SECRET_KEY", "k" * limits.SECRET_KEY_MIN_CHARS)
    assert auth.load_secret_key(tmp_path / "other") == "k" * limits.SECRET_KEY_MIN_CHARS


def test_a_failed_write_leaves_no_key_file_behind(tmp_path, monkeypatch):
    """Before, a write that failed (disk full) left the key file empty for good."""
    monkeypatch.delenv("CSQ_SECRET_KEY", raising=False)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StorageError, match="No space left"):
        auth.load_secret_key(tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    monkeypatch.delenv("CSQ_SECRET_KEY", raising=False)
    assert len(auth.load_secret_key(tmp_path)) >= limits.SECRET_KEY_MIN_CHARS


def test_csq_serve_refuses_to_start_on_an_empty_key_in_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    data = tmp_path / "data"
    data.mkdir()
    (data / limits.SECRET_KEY_FILE).write_text("")
    env = {**os.environ, "CSQ_DATA_DIR": str(data), "CSQ_DATABASE_URL": f"sqlite:///{tmp_path}/r.db"}
    env.pop("CSQ_SECRET_KEY", None)
    done = subprocess.run([sys.executable, "-m", "cli", "serve", "--port", str(T.free_port())], env=env,
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("csq: error:") and "session key" in last and "Traceback" not in done.stderr


# ----------------------------------------------------------------------------- logout


def test_a_cookie_saved_before_logout_opens_nothing_after_it(app):
    client = logged_in(app, "remi")
    saved = dict(client.cookies)
    assert client.get("/queue", follow_redirects=False).status_code == 200
    assert client.post("/logout", data={"csrf_token": client.csrf}, follow_redirects=False).status_code == 303
    replay = client_for(app)
    replay.cookies.update(saved)
    r = replay.get("/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_logout_on_one_station_leaves_the_other_open(app):
    desk, laptop = logged_in(app, "remi"), logged_in(app, "remi")
    laptop.post("/logout", data={"csrf_token": laptop.csrf})
    assert desk.get("/queue", follow_redirects=False).status_code == 200
    assert laptop.get("/queue", follow_redirects=False).status_code == 303


def test_a_session_ends_its_lifetime_after_login_however_much_it_is_used(app, monkeypatch):
    import time

    monkeypatch.setattr(limits, "SESSION_MAX_AGE_S", 2)
    client = logged_in(app, "remi")
    time.sleep(1.0)
    assert client.get("/queue", follow_redirects=False).status_code == 200  # used: the cookie is re-issued
    time.sleep(1.3)
    assert client.get("/queue", follow_redirects=False).status_code == 303  # but the limit did not slide


# ------------------------------------------------------------------------- body sizes


def _asgi_post(app, path: str, chunks, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """POST `chunks` straight into the ASGI app; (status, how many chunks it pulled)."""
    import asyncio

    pulled, status = [0], []
    source = iter(chunks)

    async def receive():
        chunk = next(source, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled[0] += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    return status[0], pulled[0]


MEGABYTE = b"x" * (1 << 20)


def test_a_huge_login_form_is_refused_before_a_byte_is_read(app):
    """The attack: a 200 MB form to /login without a cookie was read whole before the 403."""
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    status, pulled = _asgi_post(app, "/login", (MEGABYTE for _ in range(200)), form + [(b"content-length", b"209715200")])
    assert (status, pulled) == (413, 0)


def test_a_huge_chunked_form_is_cut_off_at_the_limit(app):
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    chunks = (b"a" * 1024 for _ in range(200 * 1024))  # 200 MB, no Content-Length
    status, pulled = _asgi_post(app, "/login", chunks, form)
    assert status == 413 and pulled <= limits.FORM_MAX_BODY_BYTES // 1024 + 1


def test_multipart_is_refused_everywhere_but_a_small_form_still_works(app):
    status, pulled = _asgi_post(app, "/review/save", (MEGABYTE for _ in range(300)),
                                [(b"content-type", b"multipart/form-data; boundary=x")])
    assert (status, pulled) == (415, 0)
    client = client_for(app)
    r = client.post("/login", data={"username": "remi", "password": T.PASSWORD, "csrf_token": csrf_of(client)},
                    follow_redirects=False)
    assert r.status_code == 303  # the body under the limit reaches the login as it came
    r = client.post("/login", files={"f": ("a.txt", b"hello")})
    assert r.status_code == 415


def test_the_candidates_pages_keep_the_limit_and_still_take_their_small_forms(tmp_path):
    """The public-only app (no session, no API) has the same body limit and multipart refusal,
    while the candidates' own form posts (no login, no CSRF on purpose) still go through."""
    from fastapi.testclient import TestClient

    from station.app import create_app

    public = create_app(f"sqlite:///{tmp_path}/registry.db", tmp_path / "data", public_only=True)
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    assert _asgi_post(public, "/forms/prefill", (MEGABYTE for _ in range(200)),
                      form + [(b"content-length", b"209715200")]) == (413, 0)
    assert _asgi_post(public, "/status", (MEGABYTE for _ in range(300)),
                      [(b"content-type", b"multipart/form-data; boundary=x")]) == (415, 0)
    posted = {k: ("on" if v is True else v) for k, v in T.sample_document()["fields"].items() if v is not False}
    with TestClient(public) as client:
        answer = client.post("/forms/prefill", data=posted)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"


def test_the_apis_description_leaves_the_pages_out(app):
    paths = client_for(app).get("/api/openapi.json").json()["paths"]
    assert set(paths) == {"/api/applications", "/api/applications/{file_no}"}


# ------------------------------------------------------------------ identity: four eyes


def _victim_and_mail(registry):
    """A ranked online file of one candidate, and a mail file of another registered before it."""
    from datetime import datetime, timezone

    mail = T.register_mail_envelope(registry, 1, doubtful={})
    doc = T.sample_document()
    doc["fields"].update(passport_number="ZZ7654321", birth_date="1985-03-03", family_name="VICTIME")
    online = registry.submit_online(doc, submitted_at=datetime(2026, 10, 20, 15, tzinfo=timezone.utc)).file_no
    registry.rank()
    return mail, online


def _save(client, registry, file_no, field, value):
    version = registry.application(file_no)["fields"][field]["version"]
    return client.post("/review/save", data={"csrf_token": client.csrf, "file_no": file_no, "field": field,
                                             "value": value, "version": str(version)}, follow_redirects=False)


def test_a_reviewer_cannot_push_another_candidate_out_alone(app, registry):
    """The attack: passport_number and birth_date set on a mail file turned another
    candidate's ranked online file into a duplicate (rank gone)."""
    mail, online = _victim_and_mail(registry)
    assert registry.application(online)["status"] == "ranked"
    remi = logged_in(app, "remi")
    assert _save(remi, registry, mail, "passport_number", "ZZ7654321").status_code == 303  # alone: links nobody
    assert registry.application(mail)["fields"]["passport_number"]["value"] == "ZZ7654321"
    version = registry.application(mail)["fields"]["birth_date"]["version"]
    r = remi.post("/review/save", headers={"Accept": "application/json", "X-CSRF-Token": remi.csrf},
                  data={"file_no": mail, "field": "birth_date", "value": "1985-03-03", "version": str(version)})
    assert r.status_code == 200 and r.json()["saved"]["held"] is True  # the page says so (review.js)
    assert "Held for a supervisor" in r.json()["saved"]["message"] and online in r.json()["saved"]["message"]
    victim = registry.application(online)
    assert victim["status"] == "ranked" and victim["duplicate_of"] is None  # nothing moved
    assert registry.application(mail)["fields"]["birth_date"]["value"] != "1985-03-03"
    held = [e for e in registry.audit_trail(online) if e["action"] == "identity_change_held"]
    assert len(held) == 1 and mail in held[0]["detail"] and "remi" in held[0]["detail"]

    # The reviewer may not decide it, nor may a supervisor decide their own request.
    page = remi.get("/identity-changes", follow_redirects=False)
    assert page.status_code == 403
    sophie = logged_in(app, "sophie")
    page = sophie.get("/identity-changes").text
    assert mail in page and online in page
    change_id = int(re.search(r"/identity-changes/(\d+)/confirm", page).group(1))
    r = sophie.post(f"/identity-changes/{change_id}/confirm", data={"csrf_token": sophie.csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert registry.application(mail)["fields"]["birth_date"]["value"] == "1985-03-03"
    linked = {registry.application(online)["duplicate_of"], registry.application(mail)["duplicate_of"]}
    assert linked - {None}  # now one is the other's duplicate: the same person, two supervisors agreed
    why = [e for e in registry.audit_trail(online) if e["action"] == "identity_change_confirmed"]
    assert len(why) == 1 and "confirmed by sophie" in why[0]["detail"] and mail in why[0]["detail"]


def test_a_rejected_identity_change_is_never_applied_and_the_requester_cannot_decide(app, registry):
    from errors import PermissionDenied
    from registry import identity_changes

    mail, online = _victim_and_mail(registry)
    registry.review_set(mail, "passport_number", "ZZ7654321", by="sophie")
    held = registry.review_set(mail, "birth_date", "1985-03-03", by="sophie")
    assert held["held"] is True and held["affects"] == [online]
    again = registry.review_set(mail, "birth_date", "1985-03-03", by="sophie")
    assert again["identity_change"] == held["identity_change"]  # asked twice: one request
    with pytest.raises(PermissionDenied, match="four eyes"):
        identity_changes.confirm(registry, held["identity_change"], by="sophie")
    with pytest.raises(PermissionDenied, match="not an active supervisor"):
        identity_changes.confirm(registry, held["identity_change"], by="remi")
    registry.add_user("sam", "supervisor", T.PASSWORD)
    identity_changes.reject(registry.db, held["identity_change"], by="sam", reason="not the same person")
    assert identity_changes.pending(registry.db) == []
    assert registry.application(online)["status"] == "ranked"
    assert [e["action"] for e in registry.audit_trail(online)][-1] == "identity_change_rejected"


def test_an_identity_change_that_moves_no_other_file_is_applied_at_once(app, registry):
    mail = T.register_mail_envelope(registry, 1, doubtful={})
    result = registry.review_set(mail, "passport_number", "QQ1111111", by="remi")
    assert "held" not in result and registry.application(mail)["fields"]["passport_number"]["value"] == "QQ1111111"


def test_the_cli_lists_and_confirms_a_held_identity_change(tmp_path, app, registry):
    import json
    import subprocess
    import sys
    from pathlib import Path

    mail, online = _victim_and_mail(registry)
    registry.review_set(mail, "passport_number", "ZZ7654321", by="remi")
    held = registry.review_set(mail, "birth_date", "1985-03-03", by="remi")
    url = str(registry.db.engine.url)
    root = Path(__file__).resolve().parent.parent

    def csq(*args):
        return subprocess.run([sys.executable, "-m", "cli", "--db", url, *args], cwd=root, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "CSQ_DATA_DIR": str(tmp_path / "data")})

    listed = csq("review", "pending", "--json")
    assert listed.returncode == 0 and [c["id"] for c in json.loads(listed.stdout)] == [held["identity_change"]]
    refused = csq("review", "confirm", str(held["identity_change"]), "--by", "rachel")
    assert refused.returncode == 9 and "not an active supervisor" in refused.stderr
    done = csq("review", "confirm", str(held["identity_change"]), "--by", "sophie", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["confirmed_by"] == "sophie"
    assert registry.application(mail)["fields"]["birth_date"]["value"] == "1985-03-03"


# ------------------------------------------------------------------ 500s become 4xx


@pytest.mark.parametrize("path", ["/queue?page=99999999999999999999",
                                  "/history?before=99999999999999999999", "/history?before=-1",
                                  "/images/{mail}/pages/99999999999999999999.png", "/images/{mail}/pages/-1.png"])
def test_huge_numbers_in_urls_are_a_4xx_not_a_500(app, mail_file, path):
    r = logged_in(app, "sophie").get(path.format(mail=mail_file), follow_redirects=False)
    assert 400 <= r.status_code < 500, (path, r.status_code)


def test_the_api_answers_absurd_json_with_a_400(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from station.app import create_app

    monkeypatch.setenv("CSQ_API_TOKEN", "t" * 40)
    api = create_app(f"sqlite:///{tmp_path}/r.db", tmp_path / "data")
    try:
        client = TestClient(api, headers={"Authorization": "Bearer " + "t" * 40, "Content-Type": "application/json"})
        deep = b"[" * 20_000 + b"]" * 20_000
        assert client.post("/api/applications", content=deep).status_code == 400
        huge = b'{"fields": {"dependants": ' + b"9" * 5_000 + b"}}"
        r = client.post("/api/applications", content=huge)
        assert r.status_code == 400 and "error" in r.json()
    finally:
        api.state.station.registry.close()


# -------------------------------------------------------------------- login throttling


def _client_at(app, address: str):
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://testserver", client=(address, 40000))


def _attempt(client, name: str, password: str):
    return client.post("/login", data={"username": name, "password": password, "csrf_token": csrf_of(client)},
                       follow_redirects=False)


def test_a_stranger_cannot_lock_the_owner_out_of_their_usual_station(app):
    """The attack: five wrong passwords (also as `REMI`, `" remi "`) locked the account for 15 minutes."""
    now = [1000.0]
    app.state.station.logins = auth.LoginThrottle(clock=lambda: now[0])
    stranger, owner = _client_at(app, "203.0.113.66"), _client_at(app, "10.0.0.5")
    spellings = ["remi", "REMI", " remi ", "Remi"]
    for i in range(12):
        r = _attempt(stranger, spellings[i % 4], "wrong-password-x")
        assert r.status_code in (401, 429)
    assert _attempt(stranger, "remi", T.PASSWORD).status_code == 429  # the stranger waits, however it is spelt
    assert _attempt(owner, "remi", T.PASSWORD).status_code == 303  # the owner, at their station, does not


def test_the_wait_grows_with_each_failure_past_the_limit():
    now = [0.0]
    throttle = auth.LoginThrottle(clock=lambda: now[0])
    for _ in range(limits.LOGIN_MAX_FAILURES_PER_NAME):
        assert throttle.wait_s("rev2", "10.1.1.1") == 0
        throttle.failed(" REV2 ", "10.1.1.1")
    waits = []
    for _ in range(4):
        wait = throttle.wait_s("rev2", "10.1.1.1")
        waits.append(wait)
        now[0] += wait + 0.5
        assert throttle.wait_s("rev2", "10.1.1.1") == 0
        throttle.failed("Rev2", "10.1.1.1")
    assert waits == [limits.LOGIN_DELAY_BASE_S * 2 ** k for k in range(4)]
    assert throttle.wait_s("rev2", "10.9.9.9") == 0  # elsewhere: untouched


def test_guessing_one_name_from_many_addresses_waits_except_where_it_logged_in_before():
    now = [0.0]
    throttle = auth.LoginThrottle(clock=lambda: now[0])
    throttle.succeeded("remi", "10.0.0.5")  # the owner's usual station
    for i in range(limits.LOGIN_MAX_FAILURES_PER_NAME_ANYWHERE):
        throttle.failed("remi", f"198.51.100.{i % 250}")
    assert throttle.wait_s("remi", "192.0.2.1") > 0
    assert throttle.wait_s("remi", "10.0.0.5") == 0


# ------------------------------------------------------------------ forwarded headers


def _client_seen(options: dict, peer: str, forwarded: str) -> str:
    """The client address an app behind uvicorn, configured with `options`, sees."""
    import asyncio

    import uvicorn

    seen = []

    async def inner(scope, receive, send):
        seen.append(scope["client"][0])

    config = uvicorn.Config(inner, lifespan="off", **options)
    config.load()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "", "server": ("127.0.0.1", 8000),
             "client": (peer, 5555), "headers": [(b"x-forwarded-for", forwarded.encode())]}
    asyncio.run(config.loaded_app(scope, None, None))
    return seen[0]


def test_forwarded_headers_are_ignored_unless_the_proxy_is_configured():
    """The attack: uvicorn's default trusts X-Forwarded-For from localhost, so a client on the
    station's machine could pass for any address and dodge the per-address login limit."""
    from station.app import server_options

    assert _client_seen(server_options({}), "127.0.0.1", "203.0.113.9") == "127.0.0.1"
    proxied = server_options({"CSQ_TRUSTED_PROXIES": "10.0.0.2, 10.0.1.0/24"})
    assert _client_seen(proxied, "10.0.0.2", "203.0.113.9") == "203.0.113.9"
    assert _client_seen(proxied, "10.0.1.7", "203.0.113.9") == "203.0.113.9"
    assert _client_seen(proxied, "127.0.0.1", "203.0.113.9") == "127.0.0.1"  # not a configured proxy


def test_csq_serve_runs_uvicorn_with_those_options(monkeypatch, tmp_path):
    import uvicorn

    import cli

    called = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: called.update(kw))
    monkeypatch.setenv("CSQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CSQ_TRUSTED_PROXIES", raising=False)
    with pytest.raises(SystemExit) as done:
        cli.main(["--db", f"sqlite:///{tmp_path}/r.db", "serve"])
    assert done.value.code == 0 and called["proxy_headers"] is False


# ---------------------------------------------------------------------------- who looked


def test_every_view_of_a_file_is_recorded_shown_in_its_history_and_listed_per_person(app, registry, mail_file, tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    clara = logged_in(app, "clara")
    assert clara.get(f"/applications/{mail_file}").status_code == 200
    assert clara.get(f"/images/{mail_file}/pages/0.png?thumb=1").status_code == 200
    assert clara.get(f"/images/{mail_file}/envelope.png").status_code == 200
    assert clara.get(f"/images/{mail_file}/fields/family_name.png").status_code == 200
    remi = logged_in(app, "remi")
    assert mail_file in remi.get("/review").text  # a field card of the file

    history = logged_in(app, "sophie").get(f"/applications/{mail_file}/history").text
    assert history.count(">viewed<") >= 5 and "clara" in history and "remi" in history

    page = logged_in(app, "sophie").get("/audit/views?user=clara").text
    assert page.count(mail_file) >= 4 and "envelope" in page and "thumbnail:0" in page
    assert logged_in(app, "remi").get("/audit/views?user=clara", follow_redirects=False).status_code == 403

    app.state.station.views.flush()
    done = subprocess.run([sys.executable, "-m", "cli", "--db", str(registry.db.engine.url), "audit", "views", "--user", "clara",
                           "--json"], cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CSQ_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["what"] for r in rows} == {"application", "thumbnail:0", "envelope", "crop:family_name"}
    assert {r["file_no"] for r in rows} == {mail_file} and all(r["actor"] == "clara" for r in rows)


# ------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_sessions_four_eyes_and_views_on_postgresql(pg_url, tmp_path, monkeypatch):
    from registry import identity_changes
    from station.app import create_app

    monkeypatch.delenv("CSQ_SECRET_KEY", raising=False)
    application = create_app(pg_url, tmp_path / "data")
    registry = application.state.station.registry
    try:
        T.add_staff(registry)
        mail, online = _victim_and_mail(registry)
        remi = logged_in(application, "remi")
        _save(remi, registry, mail, "passport_number", "ZZ7654321")
        _save(remi, registry, mail, "birth_date", "1985-03-03")
        assert registry.application(online)["status"] == "ranked"
        [change] = identity_changes.pending(registry.db)
        identity_changes.confirm(registry, change["id"], by="sophie")
        assert {registry.application(online)["duplicate_of"], registry.application(mail)["duplicate_of"]} - {None}
        assert remi.get(f"/applications/{online}").status_code == 200
        assert [v["what"] for v in application.state.station.views.by("remi")][0] == "application"
        remi.post("/logout", data={"csrf_token": remi.csrf})
        assert remi.get("/queue", follow_redirects=False).status_code == 303
        from registry import audit_chain

        with registry.db.read() as conn:
            assert audit_chain.verify(conn).ok
    finally:
        registry.close()


def test_group_verification_holds_an_identity_change_that_would_move_another_file(app, registry):
    from datetime import datetime, timedelta, timezone

    from registry import review_claims
    from station.auth import Staff

    files = [T.register_mail_envelope(registry, n, doubtful={"birth_date": "1985-03-03", "passport_number": f"GV{n:07d}"})
             for n in (1, 2, 3)]
    doc = T.sample_document()
    doc["fields"].update(passport_number="GV0000002", birth_date="1985-03-03")  # file 2's reading, another channel
    other = registry.submit_online(doc, submitted_at=datetime(2026, 10, 20, 15, tzinfo=timezone.utc)).file_no
    for file_no in files:  # the passports confirmed first: only birth_date is left in doubt
        registry.review_set(file_no, "passport_number", registry.application(file_no)["fields"]["passport_number"]["value"],
                            by="remi")
    taken = review_claims.claim_group(registry.db, "remi", "birth_date", "1985-03-03",
                                      timeout=timedelta(seconds=limits.CLAIM_TIMEOUT_S), limit=10)
    outcome = app.state.station.desk.confirm_group(Staff("remi", "reviewer"), "birth_date", "1985-03-03",
                                                   [(i.file_no, str(i.version)) for i in taken], set(files))
    assert outcome["held"] == [files[1]] and sorted(outcome["saved"]) == sorted([files[0], files[2]])
    assert registry.application(other)["duplicate_of"] is None and registry.application(files[1])["duplicate_of"] is None


def test_a_held_field_is_not_offered_to_another_reviewer_meanwhile(app, registry):
    from datetime import datetime, timezone

    from station.auth import Staff

    mail = T.register_mail_envelope(registry, 1)  # birth_date read with doubt: no person key yet
    truth = T.sample_document()
    online = registry.submit_online(truth, submitted_at=datetime(2026, 10, 20, 15, tzinfo=timezone.utc)).file_no
    held = registry.review_set(mail, "birth_date", truth["fields"]["birth_date"], by="remi")
    assert held["held"] is True and held["affects"] == [online]
    desk, offered, postponed = app.state.station.desk, [], []
    while (card := desk.next_card(Staff("rachel", "reviewer"), postponed)) is not None:
        offered.append((card["file_no"], card["field"]))
        postponed.append((card["file_no"], card["field"]))
    assert (mail, "family_name") in offered and (mail, "birth_date") not in offered
