"""The review station in process (FastAPI's TestClient): sessions, CSRF, roles, the review
loop, crops, optimistic locking, claims, postmarks, history. Registry data is built through
the registry's public API (tests/station_fixtures.py)."""

from __future__ import annotations

import io
import json
import os
import stat
from datetime import date, datetime, timedelta, timezone

import pytest
from PIL import Image

from registry import review_claims
from station import auth, limits
import station_fixtures as T
from station.app import create_app
from station.images import crop_rect_px

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

@pytest.fixture(scope="session")
def staff_db(tmp_path_factory):
    return T.staff_database(tmp_path_factory.mktemp("staff") / "registry.db")


@pytest.fixture
def app(tmp_path, monkeypatch, staff_db):
    monkeypatch.delenv("CSQ_SECRET_KEY", raising=False)
    monkeypatch.delenv("CSQ_TEMPLATE_DIR", raising=False)
    application = create_app(T.copy_database(staff_db, tmp_path / "db"), tmp_path / "data")
    yield application
    application.state.station.registry.close()


@pytest.fixture
def registry(app):
    return app.state.station.registry


@pytest.fixture
def mail_file(registry):
    """One mail application with three fields flagged (family_name, birth_date, sex)."""
    return T.register_mail_envelope(registry, 1)


def client_for(app):
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://testserver")


def csrf_of(client) -> str:
    return T.CSRF_INPUT.search(client.get("/login").text).group(1)


def logged_in(app, name: str):
    client = client_for(app)
    client.csrf = T.login_csrf(client, name)
    return client


def field_version(registry, file_no: str, field: str) -> int:
    return registry.application(file_no)["fields"][field]["version"]


# ----------------------------------------------------------------------------- sessions


def test_pages_need_a_login_and_redirect_to_it(app):
    client = client_for(app)
    r = client.get("/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fqueue")
    assert client.get("/queue", headers={"Accept": "application/json"}).status_code == 401


def test_login_logout(app):
    client = logged_in(app, "remi")
    assert "remi" in client.get("/queue").text
    r = client.post("/logout", data={"csrf_token": client.csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_a_disabled_account_loses_its_open_session_at_the_next_click(app, registry):
    client = logged_in(app, "remi")
    assert client.get("/queue", follow_redirects=False).status_code == 200
    registry.set_user_active("remi", False, by="sophie")
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert client.get("/queue", headers={"Accept": "application/json"}).status_code == 401
    # Enabled again, the old cookie stays worthless: the person logs in anew.
    registry.set_user_active("remi", True, by="sophie")
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert logged_in(app, "remi").get("/queue", follow_redirects=False).status_code == 200


def test_a_new_password_ends_the_sessions_opened_before_it(app, registry):
    before = logged_in(app, "remi")
    other = logged_in(app, "rachel")
    registry.set_user_password("remi", T.PASSWORD + "-new", by="sophie")
    assert before.get("/queue", follow_redirects=False).status_code == 303
    assert other.get("/queue", follow_redirects=False).status_code == 200  # only remi's sessions
    client = client_for(app)
    r = client.post("/login", data={"username": "remi", "password": T.PASSWORD, "csrf_token": csrf_of(client)})
    assert r.status_code == 401
    r = client.post("/login", data={"username": "remi", "password": T.PASSWORD + "-new", "csrf_token": csrf_of(client)},
                    follow_redirects=False)
    assert r.status_code == 303 and client.get("/queue", follow_redirects=False).status_code == 200


def test_a_role_change_applies_at_the_next_click(app, mail_file, registry):
    client = logged_in(app, "clara")  # a clerk: may look, not correct
    assert client.get("/review").status_code == 403
    registry.set_user_role("clara", "reviewer", by="sophie")
    assert client.get("/review").status_code == 200
    version = field_version(registry, mail_file, "sex")
    r = client.post("/review/save", data={"file_no": mail_file, "field": "sex", "value": "F", "version": str(version)},
                    headers={"X-CSRF-Token": client.csrf, "Accept": "application/json"})
    assert r.status_code == 200 and registry.application(mail_file)["fields"]["sex"]["value"] == "F"
    events = [e for e in registry.audit_trail() if e["action"] == "user_role"]
    assert (events[-1]["old"], events[-1]["new"], events[-1]["actor"]) == ("clerk", "reviewer", "sophie")


def test_wrong_password_is_refused_without_saying_which_part(app):
    client = client_for(app)
    r = client.post("/login", data={"username": "remi", "password": "nope-nope-nope", "csrf_token": csrf_of(client)})
    assert r.status_code == 401 and "Wrong name or password" in r.text
    r = client.post("/login", data={"username": "nobody", "password": T.PASSWORD, "csrf_token": csrf_of(client)})
    assert r.status_code == 401 and "Wrong name or password" in r.text


def test_login_does_not_redirect_off_site(app):
    client = client_for(app)
    r = client.post("/login", data={"username": "remi", "password": T.PASSWORD, "csrf_token": csrf_of(client),
                                    "next": "//evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_session_key_is_made_once_with_mode_0600(app, tmp_path):
    key_file = tmp_path / "data" / limits.SECRET_KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    from station.auth import load_secret_key

    assert load_secret_key(tmp_path / "data") == key_file.read_text().strip()  # kept across restarts


def test_security_headers(app):
    r = client_for(app).get("/login")
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


# --------------------------------------------------------------------------------- CSRF


def test_post_without_csrf_token_is_refused(app, mail_file, registry):
    client = logged_in(app, "remi")
    version = field_version(registry, mail_file, "family_name")
    form = {"file_no": mail_file, "field": "family_name", "value": "GAGNÉ-TREMBLAY", "version": str(version)}
    assert client.post("/review/save", data=form).status_code == 403
    assert client.post("/review/save", data={**form, "csrf_token": "forged"}).status_code == 403
    assert registry.application(mail_file)["fields"]["family_name"]["source"] == "ocr"
    assert client.post("/review/save", data={**form, "csrf_token": client.csrf}, follow_redirects=False).status_code == 303
    assert registry.application(mail_file)["fields"]["family_name"]["source"] == "manual"


def test_login_form_needs_csrf_too(app):
    r = client_for(app).post("/login", data={"username": "remi", "password": T.PASSWORD})
    assert r.status_code == 403


def test_csrf_header_works_for_fetch(app, mail_file, registry):
    client = logged_in(app, "remi")
    version = field_version(registry, mail_file, "sex")
    r = client.post("/review/save", data={"file_no": mail_file, "field": "sex", "value": "F", "version": str(version)},
                    headers={"X-CSRF-Token": client.csrf, "Accept": "application/json"})
    assert r.status_code == 200 and r.json()["saved"]["field"] == "sex"


# -------------------------------------------------------------------------------- roles


def test_clerk_may_view_but_not_correct(app, mail_file, registry):
    client = logged_in(app, "clara")
    assert client.get(f"/applications/{mail_file}").status_code == 200
    assert client.get("/queue").status_code == 200
    assert client.get(f"/images/{mail_file}/fields/family_name.png").status_code == 200
    assert client.get("/review").status_code == 403
    version = field_version(registry, mail_file, "family_name")
    r = client.post("/review/save", data={"file_no": mail_file, "field": "family_name", "value": "X",
                                          "version": str(version), "csrf_token": client.csrf})
    assert r.status_code == 403
    assert registry.application(mail_file)["fields"]["family_name"]["source"] == "ocr"
    page = client.get(f"/applications/{mail_file}").text
    assert "corriger</a>" not in page and "postmark-form" not in page


def test_reviewer_is_refused_a_supervisors_postmark_change(app, mail_file, registry):
    client = logged_in(app, "remi")
    r = client.post(f"/applications/{mail_file}/postmark",
                    data={"postmark_date": "2026-10-01", "reason": "read on the envelope", "csrf_token": client.csrf})
    assert r.status_code == 403
    assert registry.application(mail_file)["postmark_date"] == "2026-10-06"


def test_supervisor_changes_the_postmark_with_a_reason_audited(app, mail_file, registry):
    client = logged_in(app, "sophie")
    r = client.post(f"/applications/{mail_file}/postmark", data={"postmark_date": "2026-10-02", "reason": "",
                                                                   "csrf_token": client.csrf})
    assert r.status_code == 422  # the reason is required, said in both languages beside the form, the date kept
    assert "Motif obligatoire" in r.text and "A reason is required" in r.text and 'value="2026-10-02"' in r.text
    r = client.post(f"/applications/{mail_file}/postmark",
                    data={"postmark_date": "2026-10-02", "reason": "date read on the envelope under a lamp",
                          "csrf_token": client.csrf}, follow_redirects=False)
    assert r.status_code == 303
    app_data = registry.application(mail_file)
    assert app_data["postmark_date"] == "2026-10-02" and app_data["priority_date"] == "2026-10-02"
    event = [e for e in registry.audit_trail(mail_file) if e["action"] == "set_postmark"][-1]
    assert event["actor"] == "sophie" and "lamp" in event["detail"]
    r = client.post(f"/applications/{mail_file}/postmark",
                    data={"illegible": "1", "reason": "second look: illegible", "csrf_token": client.csrf})
    assert registry.application(mail_file)["postmark_illegible"] is True
    assert "second look: illegible" in client.get(f"/applications/{mail_file}/history").text


def test_a_date_typed_with_illegible_still_ticked_is_refused_not_dropped(app, registry):
    file_no = T.register_mail_envelope(registry, 11, postmark=None)  # the clerk found it illegible
    assert registry.application(file_no)["postmark_illegible"] is True
    client = logged_in(app, "sophie")
    page = client.get(f"/applications/{file_no}").text
    assert 'type="date"' not in page and 'placeholder="AAAA-MM-JJ"' in page and " required" not in page
    r = client.post(f"/applications/{file_no}/postmark", follow_redirects=False,
                    data={"postmark_date": "2026-10-02", "illegible": "1", "reason": "read under a lamp", "csrf_token": client.csrf})
    assert r.status_code == 422
    assert "décochez Illisible" in r.text and "untick Illegible" in r.text and "Postmark corrected" not in r.text
    assert 'value="2026-10-02"' in r.text and 'value="read under a lamp"' in r.text  # nothing typed is lost
    data = registry.application(file_no)
    assert data["postmark_illegible"] is True and data["postmark_date"] is None
    assert not [e for e in registry.audit_trail(file_no) if e["action"] == "set_postmark"]
    # illegible again on an illegible postmark is no correction either
    r = client.post(f"/applications/{file_no}/postmark", data={"illegible": "1", "reason": "still illegible",
                                                                 "csrf_token": client.csrf})
    assert r.status_code == 422 and "rien à corriger" in r.text and "nothing to correct" in r.text
    # unticked, the date is taken and the priority follows
    r = client.post(f"/applications/{file_no}/postmark", follow_redirects=False,
                    data={"postmark_date": "20261002", "reason": "read under a lamp", "csrf_token": client.csrf})
    assert r.status_code == 303
    data = registry.application(file_no)
    assert data["postmark_date"] == "2026-10-02" and data["priority_date"] == "2026-10-02"
    assert [(e["old"], e["new"]) for e in registry.audit_trail(file_no) if e["action"] == "set_postmark"] == [("illegible", "2026-10-02")]


def test_the_registry_does_not_log_an_unchanged_postmark_as_a_correction(registry):
    from errors import BadArguments

    file_no = T.register_mail_envelope(registry, 12, postmark=None)
    with pytest.raises(BadArguments, match="already illegible"):
        registry.set_postmark(file_no, None, by="sophie", reason="illegible")
    assert not [e for e in registry.audit_trail(file_no) if e["action"] == "set_postmark"]


def test_the_separator_sheets_written_date_is_shown_beside_the_postmark_form(app, registry):
    file_no = T.register_mail_envelope(registry, 13, doubtful={}, doubtful_separator=True)
    page = logged_in(app, "sophie").get(f"/applications/{file_no}").text
    assert f'src="/images/{file_no}/fields/postmark_date.png"' in page and "Written on the separator sheet" in page


def test_reviewer_cannot_confirm_a_postmark_through_the_review_loop(app, mail_file):
    client = logged_in(app, "remi")
    r = client.post("/review/save", data={"file_no": mail_file, "field": "postmark_date", "value": "2026-10-01",
                                          "version": "", "csrf_token": client.csrf})
    assert r.status_code == 403


def test_a_doubtful_separator_postmark_goes_to_a_supervisor_only(app, registry):
    file_no = T.register_mail_envelope(registry, 9, doubtful={}, doubtful_separator=True)
    assert [e["field"] for e in registry.review_list()] == ["postmark_date"]
    assert "Nothing to review right now" in logged_in(app, "remi").get("/review").text
    supervisor = logged_in(app, "sophie")
    page = supervisor.get("/review").text
    assert 'data-field="postmark_date"' in page and 'value="2026-10-07"' in page and "postmark read with doubt" in page
    crop = supervisor.get(f"/images/{file_no}/fields/postmark_date.png")
    assert crop.status_code == 200 and Image.open(io.BytesIO(crop.content)).convert("L").getextrema()[0] < 100
    r = supervisor.post("/review/save", data={**T.current_card(page), "value": "20261001", "csrf_token": supervisor.csrf},
                        headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    data = registry.application(file_no)
    assert data["postmark_date"] == "2026-10-01" and data["postmark_needs_review"] is False
    assert any(e["action"] == "postmark_reviewed" and e["actor"] == "sophie" for e in registry.audit_trail(file_no))


def test_a_postmark_after_the_date_received_comes_back_on_the_card(app, registry):
    file_no = T.register_mail_envelope(registry, 10, doubtful={}, doubtful_separator=True)
    supervisor = logged_in(app, "sophie")
    page = supervisor.get("/review").text
    r = supervisor.post("/review/save", data={**T.current_card(page), "value": "2026-10-20", "csrf_token": supervisor.csrf},
                        headers={"Accept": "application/json"})
    assert r.status_code == 422 and "after the date received" in r.json()["html"]
    assert registry.application(file_no)["postmark_needs_review"] is True


# ---------------------------------------------------------------------------- the loop


def test_review_page_shows_the_field_its_crop_reading_and_reasons(app, mail_file):
    client = logged_in(app, "remi")
    page = client.get("/review").text
    assert f'data-file-no="{mail_file}"' in page and 'data-field="family_name"' in page
    assert f'src="/images/{mail_file}/fields/family_name.png"' in page
    assert "GAGNE-TREMELAY" in page and "uncertain reading" in page
    assert 'id="value"' in page and 'value="GAGNE-TREMELAY"' in page
    # the next field's crop is named for prefetching
    assert f'data-upcoming-crop="/images/{mail_file}/fields/birth_date.png"' in page


def test_enter_on_the_reading_accepts_it_and_the_next_field_comes(app, mail_file, registry):
    client = logged_in(app, "remi")
    version = field_version(registry, mail_file, "family_name")
    r = client.post("/review/save", headers={"Accept": "application/json", "X-CSRF-Token": client.csrf},
                    data={"file_no": mail_file, "field": "family_name", "value": "GAGNÉ-TREMBLAY", "version": str(version)})
    body = r.json()
    assert r.status_code == 200 and body["saved"]["value"] == "GAGNÉ-TREMBLAY"
    assert 'data-field="birth_date"' in body["html"]
    row = next(row for row in registry.export_rows() if row["file_no"] == mail_file)
    assert row["fields"]["family_name"] == {"value": "GAGNÉ-TREMBLAY", "source": "manual", "confidence": 1.0,
                                            "needs_review": False}


def test_plain_form_post_falls_back_to_a_redirect(app, mail_file, registry):
    client = logged_in(app, "remi")
    version = field_version(registry, mail_file, "birth_date")
    r = client.post("/review/save", data={"file_no": mail_file, "field": "birth_date", "value": "19900417",
                                          "version": str(version), "csrf_token": client.csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/review?after={mail_file}"
    assert registry.application(mail_file)["fields"]["birth_date"]["value"] == "1990-04-17"


def test_an_invalid_value_comes_back_with_the_validators_message(app, mail_file, registry):
    client = logged_in(app, "remi")
    version = field_version(registry, mail_file, "birth_date")
    r = client.post("/review/save", headers={"Accept": "application/json", "X-CSRF-Token": client.csrf},
                    data={"file_no": mail_file, "field": "birth_date", "value": "1990-02-31", "version": str(version)})
    assert r.status_code == 422
    assert 'data-field="birth_date"' in r.json()["html"] and "flash-error" in r.json()["html"]
    assert registry.application(mail_file)["fields"]["birth_date"]["needs_review"] is True


def test_a_reopened_field_shows_the_persons_value_as_theirs(app, mail_file, registry):
    registry.review_set(mail_file, "family_name", "GAGNÉ-TREMBLAY", by="rachel",
                        expected_version=field_version(registry, mail_file, "family_name"))
    page = logged_in(app, "remi").get(f"/review?file_no={mail_file}&field=family_name").text
    assert "Value saved by rachel at" in page and "Valeur enregistrée par <b>rachel</b>" in page
    assert 'data-machine="GAGNÉ-TREMBLAY"' in page  # Esc brings back the stored value
    assert "Machine reading</small> : GAGNE-TREMELAY" in page  # the first reading beside it, not as the value
    assert "Machine reading</small> : <b" not in page


def test_a_refused_value_is_typed_again_but_esc_brings_back_the_reading(app, mail_file, registry):
    client = logged_in(app, "remi")
    version = field_version(registry, mail_file, "birth_date")
    r = client.post("/review/save", headers={"Accept": "application/json", "X-CSRF-Token": client.csrf},
                    data={"file_no": mail_file, "field": "birth_date", "value": "1990-02-31", "version": str(version)})
    html = r.json()["html"]
    assert 'value="1990-02-31"' in html and 'data-machine="1990-04-11"' in html


def test_the_count_on_each_card_is_fresh_after_every_save(app, mail_file, registry):
    client = logged_in(app, "remi")
    assert '<span class="remaining">3 à réviser' in client.get("/review").text
    registry.review_set(mail_file, "sex", "F", by="rachel", expected_version=field_version(registry, mail_file, "sex"))
    r = client.post("/review/save", headers={"Accept": "application/json", "X-CSRF-Token": client.csrf},
                    data={"file_no": mail_file, "field": "family_name", "value": "GAGNÉ-TREMBLAY",
                          "version": str(field_version(registry, mail_file, "family_name"))})
    assert '<span class="remaining">1 à réviser' in r.json()["html"]


def test_the_queue_counts_only_what_the_viewers_role_can_do(app, mail_file, registry):
    T.register_mail_envelope(registry, 14, doubtful={}, doubtful_separator=True)  # a postmark for a supervisor
    assert "3 champ(s) à réviser" in logged_in(app, "remi").get("/queue").text
    assert "4 champ(s) à réviser" in logged_in(app, "sophie").get("/queue").text


def test_postpone_moves_on_and_the_field_stays_waiting(app, mail_file, registry):
    client = logged_in(app, "remi")
    client.get("/review")
    r = client.post("/review/postpone", headers={"Accept": "application/json", "X-CSRF-Token": client.csrf},
                    data={"file_no": mail_file, "field": "family_name"})
    assert 'data-field="birth_date"' in r.json()["html"]
    assert any(e["field"] == "family_name" for e in registry.review_list())
    # a colleague gets it at once: postponing released the claim
    assert 'data-field="family_name"' in logged_in(app, "rachel").get("/review").text


def test_later_and_save_stay_within_the_file_while_a_field_of_it_waits(app, registry):
    early = T.register_mail_envelope(registry, 3, postmark=date(2026, 10, 1))
    late = T.register_mail_envelope(registry, 4, postmark=date(2026, 10, 5))
    client = logged_in(app, "remi")
    client.get(f"/review?file_no={late}&field=family_name")  # opened from the queue: not the best priority
    headers = {"Accept": "application/json", "X-CSRF-Token": client.csrf}
    r = client.post("/review/postpone", headers=headers, data={"file_no": late, "field": "family_name"})
    assert f'data-file-no="{late}" data-field="birth_date"' in r.json()["html"]
    r = client.post("/review/save", headers=headers, data={
        "file_no": late, "field": "birth_date", "value": "1990-04-11", "version": str(field_version(registry, late, "birth_date"))})
    assert f'data-file-no="{late}" data-field="sex"' in r.json()["html"]
    r = client.post("/review/postpone", headers=headers, data={"file_no": late, "field": "sex"})
    assert f'data-file-no="{early}" data-field="family_name"' in r.json()["html"]  # only postponed ones left there


def test_a_tick_is_typed_as_x_or_nothing(app, registry):
    file_no = T.register_mail_envelope(registry, 7, doubtful={"declaration_signed": False})
    client = logged_in(app, "remi")
    page = client.get("/review").text
    assert 'data-field="declaration_signed"' in page and 'value=""' in page
    version = field_version(registry, file_no, "declaration_signed")
    client.post("/review/save", data={"file_no": file_no, "field": "declaration_signed", "value": "x",
                                      "version": str(version), "csrf_token": client.csrf})
    assert registry.application(file_no)["fields"]["declaration_signed"]["value"] is True


def test_a_choice_takes_its_number_its_french_words_or_its_code_without_underscore(app, registry):
    files = [T.register_mail_envelope(registry, 20 + n, doubtful={"marital_status": "SINGLE"}) for n in range(4)]
    client = logged_in(app, "remi")
    page = client.get("/review").text
    assert '<kbd>5</kbd> Veuf(ve) / Widowed' in page
    for file_no, typed, stored in zip(files, ("MARIÉ", "common law", "5", "conjoint de fait"),
                                      ("MARRIED", "COMMON_LAW", "WIDOWED", "COMMON_LAW")):
        r = client.post("/review/save", headers={"Accept": "application/json", "X-CSRF-Token": client.csrf},
                        data={"file_no": file_no, "field": "marital_status", "value": typed,
                              "version": str(field_version(registry, file_no, "marital_status"))})
        assert r.status_code == 200, r.text
        assert registry.application(file_no)["fields"]["marital_status"]["value"] == stored


def test_a_choice_crop_shows_the_whole_row_of_options_with_their_words(app, registry):
    from templates.spec import load_form

    file_no = T.register_mail_envelope(registry, 25, doubtful={"marital_status": "SINGLE"})
    spec = load_form().field("marital_status")
    crop = Image.open(io.BytesIO(logged_in(app, "remi").get(f"/images/{file_no}/fields/marital_status.png").content))
    page_height = load_form().pages[spec.page_index].height_pt
    left, _, right, _ = crop_rect_px(spec.view_bounds, page_height_pt=page_height, image_size=(10**5, 10**5))
    assert crop.width == (right - left) * limits.CROP_SCALE
    last = spec.options[-1]
    assert spec.view_bounds[2] > last.label_x + 20 > last.box[2]  # "Veuf(ve) · Widowed" inside, not cut at its box


def test_an_unlikely_date_is_warned_of_then_saved_with_a_second_enter(app, registry):
    file_no = T.register_mail_envelope(registry, 26, doubtful={"job1_from": "2016-09-01"})  # signed 2026-10-05
    client = logged_in(app, "remi")
    headers = {"Accept": "application/json", "X-CSRF-Token": client.csrf}
    version = str(field_version(registry, file_no, "job1_from"))
    r = client.post("/review/save", headers=headers,
                    data={"file_no": file_no, "field": "job1_from", "value": "20270301", "version": version})
    assert r.status_code == 422 and r.json()["error"] == "plausibility warning"
    html = r.json()["html"]
    assert "après la date de signature du formulaire (2026-10-05)" in html and "after the date the form was signed" in html
    assert 'value="20270301"' in html and 'name="acknowledged" value="20270301"' in html
    assert registry.application(file_no)["fields"]["job1_from"]["needs_review"] is True  # nothing saved yet
    r = client.post("/review/save", headers=headers, data={"file_no": file_no, "field": "job1_from", "value": "1980-03-01",
                                                           "version": version, "acknowledged": "20270301"})
    assert r.status_code == 422 and "before the candidate was born (1990-04-17)" in r.json()["html"]  # another value: warned anew
    r = client.post("/review/save", headers=headers, data={"file_no": file_no, "field": "job1_from", "value": "2027-03-01",
                                                           "version": version, "acknowledged": "20270301"})
    assert r.status_code == 200 and registry.application(file_no)["fields"]["job1_from"]["value"] == "2027-03-01"


def test_plausibility_warnings_leave_alone_what_the_form_expects_later():
    from templates.plausibility import date_warnings
    from templates.spec import load_form

    form, others, today = load_form(), {"birth_date": "1990-04-17", "signature_date": "2026-01-10"}, date(2026, 3, 1)
    warned = lambda name, day: [w.en for w in date_warnings(form, form.field(name), day, others, today)]
    assert warned("passport_expiry", date(2031, 5, 1)) == []  # a rule wants it after the signature
    assert warned("spouse_birth_date", date(1985, 1, 1)) == []  # an adult's own birth date
    assert warned("job1_from", date(2016, 9, 1)) == []
    assert len(warned("job1_from", date(2027, 1, 4))) == 2  # in the future and after the signature
    assert warned("child1_birth_date", date(1980, 1, 1)) == ["1980-01-01 is before the candidate was born (1990-04-17)."]


def _date_cells(best: str, runners_up: dict[int, str]) -> str:
    """A reader's evidence for an 8-digit date: each cell's choice, and a runner-up where given."""
    cells = [[c, 0.55 if i in runners_up else 0.99, [[runners_up.get(i, "7"), 0.4 if i in runners_up else 0.001]]]
             for i, c in enumerate(best)]
    return json.dumps({"cells": cells})


def test_the_readers_other_readings_are_offered_best_first_and_valid():
    from scan.alternatives import other_readings
    from templates.spec import load_form

    spec = load_form().field("french_test_date")
    evidence = _date_cells("20730174", {1: "0", 2: "2", 6: "2"})  # 2073-01-74: 0 for 0, 2 for 7, 2 for 7
    offered = other_readings(spec, evidence, "2073-01-74")
    assert offered[0] == "2023-01-24" and "2073-01-74" not in offered
    assert all("2010" <= d[:4] <= "2030" for d in offered)  # the form's years only
    assert other_readings(spec, "", "2073-01-74") == [] and other_readings(spec, "{not json", "x") == []
    # a field with a list of words: the word the cells make likeliest comes first
    cells = [["R", 0.99, []], ["A", 0.99, []], ["D", 0.6, [["B", 0.3]]], ["D", 0.6, [["A", 0.3]]], ["I", 0.6, [["T", 0.3]]]]
    assert other_readings(load_form().field("city"), json.dumps({"cells": cells}), "RADDI")[0] == "RABAT"


def test_the_card_offers_the_readers_other_readings(app, registry):
    from dataclasses import replace

    reading = T.envelope_reading(28, doubtful={"french_test_date": "2073-01-74"})
    evidence = _date_cells("20730174", {2: "2", 6: "2"})
    reading = replace(reading, fields=tuple(replace(f, evidence=evidence) if f.name == "french_test_date" else f
                                            for f in reading.fields))
    registry.register_mail(reading, postmark=date(2026, 10, 6), received=date(2026, 10, 9))
    page = logged_in(app, "remi").get("/review").text
    assert 'data-field="french_test_date"' in page and '<button type="button" tabindex="-1" data-value="2023-01-24">' in page


def test_nothing_left_says_so(app):
    page = logged_in(app, "remi").get("/review").text
    assert "Nothing to review right now" in page


# ------------------------------------------------------------------------------- crops


def test_crop_endpoint_returns_a_png_of_the_fields_box_with_margin_scaled_2x(app, mail_file, registry):
    client = logged_in(app, "remi")
    r = client.get(f"/images/{mail_file}/fields/birth_date.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert "private" in r.headers["cache-control"]
    image = Image.open(io.BytesIO(r.content))
    x0, y0, x1, y1 = registry.application(mail_file)["fields"]["birth_date"]["box"]
    k = limits.PAGE_DPI / 72
    m = limits.CROP_MARGIN_PT
    expected_w = (int(-(-(x1 + m) * k // 1)) - int((x0 - m) * k // 1)) * limits.CROP_SCALE
    expected_h = (int(-(-(792 - (y0 - m)) * k // 1)) - int((792 - (y1 + m)) * k // 1)) * limits.CROP_SCALE
    assert image.size == (expected_w, expected_h)
    # it is the written field: dark ink inside, not a blank piece of page
    assert image.convert("L").getextrema()[0] < 100
    # the second request is served from the cache, byte for byte
    assert client.get(f"/images/{mail_file}/fields/birth_date.png").content == r.content
    assert list((tmp_cache := app.state.station.images.cache_dir).glob("*.png")), tmp_cache


def test_a_long_field_is_cropped_one_cell_after_the_writing(app, mail_file, registry):
    from templates.spec import load_form

    png = logged_in(app, "clara").get(f"/images/{mail_file}/fields/family_name.png").content
    cells = load_form().field("family_name").cells
    written = len("GAGNÉ-TREMBLAY")
    k = limits.PAGE_DPI / 72
    right_pt = cells[written][2] + limits.CROP_MARGIN_PT  # one blank cell kept after the last letter
    expected_w = (int(-(-right_pt * k // 1)) - int((cells[0][0] - limits.CROP_MARGIN_PT) * k // 1)) * limits.CROP_SCALE
    assert Image.open(io.BytesIO(png)).width == expected_w
    assert expected_w < (cells[-1][2] - cells[0][0]) * k * limits.CROP_SCALE / 1.5


def test_crop_rect_is_clipped_to_the_page():
    assert crop_rect_px((0, 0, 20, 20), page_height_pt=792, image_size=(1700, 2200)) == (0, 2127, 73, 2200)


def test_online_fields_have_no_crop(app, registry):
    file_no = registry.submit_online(T.sample_document()).file_no
    r = logged_in(app, "clara").get(f"/images/{file_no}/fields/family_name.png")
    assert r.status_code == 404


def test_page_images_thumbnails_and_field_page(app, mail_file):
    client = logged_in(app, "clara")
    full = Image.open(io.BytesIO(client.get(f"/images/{mail_file}/pages/0.png").content))
    thumb = Image.open(io.BytesIO(client.get(f"/images/{mail_file}/pages/0.png?thumb=1").content))
    assert full.size == (1700, 2200) and thumb.width == limits.THUMBNAIL_WIDTH_PX
    assert client.get(f"/images/{mail_file}/fields/sex/page.png").status_code == 200
    assert client.get(f"/images/{mail_file}/pages/99.png").status_code == 404


# ------------------------------------------------------------------ conflicts and claims


def test_a_stale_version_is_refused_with_what_changed(app, mail_file, registry):
    first, second = logged_in(app, "remi"), logged_in(app, "rachel")
    version = field_version(registry, mail_file, "family_name")
    form = {"file_no": mail_file, "field": "family_name", "version": str(version)}
    r = first.post("/review/save", data={**form, "value": "GAGNÉ-TREMBLAY", "csrf_token": first.csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = second.post("/review/save", data={**form, "value": "GAGNE", "csrf_token": second.csrf},
                    headers={"Accept": "application/json"})
    assert r.status_code == 409
    html = r.json()["html"]
    assert "Changed meanwhile" in html and "GAGNÉ-TREMBLAY" in html and "remi" in html
    assert f'name="version" value="{version + 1}"' in html  # deciding again applies on top of it
    assert registry.application(mail_file)["fields"]["family_name"]["value"] == "GAGNÉ-TREMBLAY"
    # the plain form gets the same card as a 409 page
    r = second.post("/review/save", data={**form, "value": "GAGNE", "csrf_token": second.csrf})
    assert r.status_code == 409 and "Changed meanwhile" in r.text


def test_two_reviewers_are_never_given_the_same_field(app, registry):
    T.register_mail_envelope(registry, 2, doubtful={"family_name": "GAGNE-TREMELAY"})
    first, second = logged_in(app, "remi"), logged_in(app, "rachel")
    page_1, page_2 = first.get("/review").text, second.get("/review").text
    assert 'data-field="family_name"' in page_1
    assert "Nothing to review right now" in page_2
    # a reload gives the first reviewer the same field back, not a new one
    assert 'data-field="family_name"' in first.get("/review").text


def test_a_claimed_field_opened_directly_shows_who_holds_it(app, mail_file):
    first, second = logged_in(app, "remi"), logged_in(app, "rachel")
    first.get("/review")
    page = second.get(f"/review?file_no={mail_file}&field=family_name").text
    assert "remi" in page and "is reviewing this field right now" in page and 'id="value"' in page and "disabled" in page


def test_claims_time_out(app, mail_file, registry):
    db = registry.db
    now = datetime.now(timezone.utc)
    timeout = timedelta(seconds=limits.CLAIM_TIMEOUT_S)
    first = review_claims.claim_next(db, "remi", timeout=timeout, now=now)
    second = review_claims.claim_next(db, "rachel", timeout=timeout, now=now)
    assert first.field == "family_name" and second.field == "birth_date"
    later = now + timeout + timedelta(seconds=1)
    third = review_claims.claim_next(db, "rachel", timeout=timeout, now=later, skip=[second.key])
    assert third.field == "family_name"  # remi's claim ran out


def test_queue_lists_waiting_fields_in_priority_order(app, registry):
    early = T.register_mail_envelope(registry, 3, postmark=date(2026, 10, 1))
    late = T.register_mail_envelope(registry, 4, postmark=date(2026, 10, 5))
    page = logged_in(app, "clara").get("/queue").text
    assert page.index(early) < page.index(late)
    assert "6 champ(s)" in page


# ---------------------------------------------------------- application view and history


def test_reasons_and_field_names_read_in_both_languages_on_the_queue(app, registry):
    from station.review import reason_text

    for code, fr in (("alternative", "autre lecture possible"), ("doubtful_ink", "encre douteuse"),
                     ("faint_scan", "numérisation pâle"), ("faint_mark", "coche pâle")):
        text = reason_text(code, {})
        assert text["fr"] == fr and text["en"] and text["fr"] != text["en"]
    T.register_mail_envelope(registry, 27, doubtful={"job1_hours_per_week": "35"})
    page = logged_in(app, "remi").get("/queue").text
    assert ">Heures/sem. <small>Hours/week</small></a>" in page and ">job1_hours_per_week<" not in page


def test_application_view_shows_fields_sources_pages_and_flags(app, mail_file, registry):
    page = logged_in(app, "sophie").get(f"/applications/{mail_file}").text
    assert "GAGNE-TREMELAY" in page and "source-ocr" in page and "41 %" in page
    assert page.count("/pages/") >= 2 * 6  # thumbnail and full image of each of the 6 pages
    assert "postmark-form" in page  # supervisors only


def test_envelope_image_is_shown_with_its_postmark(app, mail_file):
    client = logged_in(app, "clara")
    page = client.get(f"/applications/{mail_file}").text
    assert f'src="/images/{mail_file}/envelope.png"' in page and "2026-10-06" in page
    r = client.get(f"/images/{mail_file}/envelope.png")
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (900, 420)


def test_duplicates_are_linked(app, registry):
    first = registry.submit_online(T.sample_document()).file_no
    second = registry.submit_online(T.sample_document()).file_no
    page = logged_in(app, "clara").get(f"/applications/{second}").text
    assert f'href="/applications/{first}"' in page


def test_field_history_comes_from_the_audit_trail(app, mail_file, registry):
    client = logged_in(app, "remi")
    version = field_version(registry, mail_file, "sex")
    client.post("/review/save", data={"file_no": mail_file, "field": "sex", "value": "M", "version": str(version),
                                      "csrf_token": client.csrf})
    page = client.get(f"/applications/{mail_file}/fields/sex/history").text
    assert "review_set" in page and "remi" in page and ">M<" in page
    assert "review_set" in client.get("/history").text


def test_unknown_application_is_a_404_page(app):
    from registry.filenumber import format_file_no

    r = logged_in(app, "clara").get(f"/applications/{format_file_no(2026, 'mail', 999_999)}")
    assert r.status_code == 404 and "Introuvable" in r.text


def test_templates_can_be_overridden(tmp_path, monkeypatch):
    override = tmp_path / "override"
    override.mkdir()
    (override / "login.html").write_text("{% extends 'base.html' %}{% block main %}OVERRIDDEN LOGIN{% endblock %}")
    monkeypatch.setenv("CSQ_TEMPLATE_DIR", str(override))
    application = create_app(f"sqlite:///{tmp_path}/r.db", tmp_path / "data")
    try:
        assert "OVERRIDDEN LOGIN" in client_for(application).get("/login").text
    finally:
        application.state.station.registry.close()


# ------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_claims_queue_and_conflicts_on_postgresql(pg_url, tmp_path):
    application = create_app(pg_url, tmp_path / "data")
    registry = application.state.station.registry
    try:
        file_no = T.register_mail_envelope(registry, 1)
        db, timeout = registry.db, timedelta(seconds=limits.CLAIM_TIMEOUT_S)
        first = review_claims.claim_next(db, "remi", timeout=timeout)
        second = review_claims.claim_next(db, "rachel", timeout=timeout)
        assert (first.field, second.field) == ("family_name", "birth_date")
        assert review_claims.claim(db, file_no, "family_name", "rachel", timeout=timeout).claimed_by == "remi"
        assert review_claims.claim_next(db, "remi", timeout=timeout).field == "family_name"  # own claim back
        page = review_claims.queue_page(db, offset=0, limit=10)
        assert page.total_items == 3 and {f["claimed_by"] for f in page.rows[0]["fields"]} == {"remi", "rachel", None}
        desk = application.state.station.desk
        from station.auth import Staff

        remi = Staff("remi", "reviewer")
        assert desk.save(remi, file_no, "family_name", "GAGNÉ-TREMBLAY", str(first.version)).status == 200
        assert desk.save(remi, file_no, "family_name", "GAGNE", str(first.version)).status == 409
    finally:
        registry.close()


@pytest.mark.postgres
def test_group_verification_on_postgresql(pg_url, tmp_path):
    application = create_app(pg_url, tmp_path / "data")
    registry = application.state.station.registry
    try:
        files = _group_of(registry, "MAROC", range(1, 5))
        db, timeout = registry.db, timedelta(seconds=limits.CLAIM_TIMEOUT_S)
        assert review_claims.claim(db, files[0], "citizenship", "rachel", timeout=timeout) is None  # rachel's now
        groups = review_claims.waiting_groups(db, "remi", min_size=3, limit=10, skip=[(files[1], "citizenship")])
        assert groups == []  # four, one held by rachel, one set aside: two left, under the group size
        assert [(g.field, g.value, g.count) for g in review_claims.waiting_groups(db, "remi", min_size=3, limit=10)] == \
            [("citizenship", "MAROC", 3)]
        taken = review_claims.claim_group(db, "remi", "citizenship", "MAROC", timeout=timeout, limit=10)
        assert sorted(i.file_no for i in taken) == sorted(files[1:])
        rachel = review_claims.claim_group(db, "rachel", "citizenship", "MAROC", timeout=timeout, limit=10)
        assert [i.file_no for i in rachel] == [files[0]]  # her own claim; remi's three are not hers
        desk = application.state.station.desk
        from station.auth import Staff

        outcome = desk.confirm_group(Staff("remi", "reviewer"), "citizenship", "MAROC",
                                     [(i.file_no, str(i.version)) for i in taken], {taken[0].file_no, taken[1].file_no})
        assert sorted(outcome["saved"]) == sorted([taken[0].file_no, taken[1].file_no])
        assert outcome["set_aside"] == [taken[2].file_no] and outcome["changed"] == outcome["refused"] == []
    finally:
        registry.close()


def test_failed_logins_make_that_name_wait(app):
    """Five wrong passwords for one name: the sixth try, even the right one, waits for the
    window; other names still log in; when the window has passed the right one works."""
    now = [1000.0]
    app.state.station.logins = auth.LoginThrottle(clock=lambda: now[0])
    client = client_for(app)

    def attempt(name: str, password: str):
        return client.post("/login", data={"username": name, "password": password, "csrf_token": csrf_of(client)},
                           follow_redirects=False)

    for _ in range(limits.LOGIN_MAX_FAILURES_PER_NAME):
        assert attempt("remi", "nope-nope-nope").status_code == 401
    refused = attempt("REMI ", T.PASSWORD)  # the same name however it is typed
    assert refused.status_code == 429 and "Too many failed attempts" in refused.text and "réessayez dans" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= limits.LOGIN_WINDOW_S
    assert client.get("/queue", follow_redirects=False).status_code == 303  # not logged in
    assert attempt("rachel", T.PASSWORD).status_code == 303  # another reviewer is not locked out by it
    now[0] += limits.LOGIN_WINDOW_S + 1
    assert attempt("remi", T.PASSWORD).status_code == 303


def test_many_names_tried_from_one_address_make_it_wait(app):
    now = [50.0]
    app.state.station.logins = auth.LoginThrottle(clock=lambda: now[0])
    client = client_for(app)
    for i in range(limits.LOGIN_MAX_FAILURES_PER_ADDRESS):
        r = client.post("/login", data={"username": f"guess{i}", "password": "x" * 12, "csrf_token": csrf_of(client)})
        assert r.status_code == 401
    r = client.post("/login", data={"username": "remi", "password": T.PASSWORD, "csrf_token": csrf_of(client)})
    assert r.status_code == 429


# ------------------------------------------------------------------ group verification


def _group_of(registry, value: str, serials) -> list[str]:
    """Mail files of different people whose citizenship was read as `value`, with doubt."""
    return [T.register_mail_envelope(registry, n, doubtful={"citizenship": value, "passport_number": f"GV{n:07d}"})
            for n in serials]


def _confirm(client, field: str, value: str, page_html: str, untick: set[str] = frozenset()):
    shown = T.GROUP_SHOWN.findall(page_html)
    return client.post("/review/group/confirm", follow_redirects=False, data={
        "csrf_token": client.csrf, "field": field, "value": value, "shown": [f"{f}:{v}" for f, v in shown],
        "confirm": [f for f, _ in shown if f not in untick]})


def test_group_verification_confirms_the_ticked_and_leaves_the_unticked_to_the_loop(app, registry):
    files = _group_of(registry, "MAROC", range(1, 5))
    _group_of(registry, "MAROK", [9])  # alone: no group
    client = logged_in(app, "remi")
    listing = client.get("/review/groups").text
    assert "MAROC" in listing and "MAROK" not in listing
    page = client.get("/review/group", params={"field": "citizenship", "value": "MAROC"})
    assert page.status_code == 200
    assert sorted(f for f, _ in T.GROUP_SHOWN.findall(page.text)) == sorted(files)
    assert page.text.count("/images/") >= 4  # each field's crop, side by side
    r = _confirm(client, "citizenship", "MAROC", page.text, untick={files[2]})
    assert r.status_code == 303 and r.headers["location"] == "/review"
    for file_no in files:
        field = registry.application(file_no)["fields"]["citizenship"]
        if file_no == files[2]:
            assert field["needs_review"] and field["source"] == "ocr"
        else:
            assert not field["needs_review"] and field["value"] == "MAROC" and field["source"] == "manual"
    saves = [e for e in registry.audit_trail() if e["field"] == "citizenship" and e["actor"] == "remi"]
    assert len(saves) == 3
    # The unticked one comes next in the one-by-one loop (still this reviewer's claim) ...
    card = client.get("/review").text
    assert f'data-file-no="{files[2]}" data-field="citizenship"' in card
    # ... and is not offered in a group again this session.
    assert "MAROC" not in client.get("/review/groups").text


def test_a_group_never_overwrites_a_newer_save_nor_shows_a_colleagues_field(app, registry):
    files = _group_of(registry, "MAROC", range(1, 6))
    colleague = logged_in(app, "rachel")
    colleague.get("/review", params={"file_no": files[0], "field": "citizenship"})  # rachel holds it
    client = logged_in(app, "remi")
    page = client.get("/review/group", params={"field": "citizenship", "value": "MAROC"}).text
    shown = [f for f, _ in T.GROUP_SHOWN.findall(page)]
    assert files[0] not in shown and len(shown) == 4
    version = field_version(registry, files[1], "citizenship")
    registry.review_set(files[1], "citizenship", "MAROC", by="sophie", expected_version=version)  # meanwhile
    registry.review_set(files[2], "citizenship", "TUNISIE", by="sophie", expected_version=field_version(registry, files[2], "citizenship"))
    r = _confirm(client, "citizenship", "MAROC", page)
    assert r.status_code == 303 and r.headers["location"] == "/review/groups"
    assert registry.application(files[2])["fields"]["citizenship"]["value"] == "TUNISIE"  # not overwritten
    by_remi = {e["file_no"] for e in registry.audit_trail() if e["field"] == "citizenship" and e["actor"] == "remi"}
    assert by_remi == {files[3], files[4]}
    assert "changed meanwhile" in client.get("/review/groups").text  # the flash says what happened


def test_a_clerk_may_not_verify_groups(app, registry):
    files = _group_of(registry, "MAROC", range(1, 4))
    client = logged_in(app, "clara")
    assert client.get("/review/groups").status_code == 403
    page = logged_in(app, "remi").get("/review/group", params={"field": "citizenship", "value": "MAROC"}).text
    assert _confirm(client, "citizenship", "MAROC", page).status_code == 403
    assert all(registry.application(f)["fields"]["citizenship"]["needs_review"] for f in files)


# ------------------------------------------------------------------------- statistics


def test_review_statistics_per_person_and_per_field(app, registry):
    files = [T.register_mail_envelope(registry, n, doubtful={"citizenship": "MAROC", "passport_number": f"ST{n:07d}"})
             for n in range(1, 4)]
    for file_no in files[:2]:  # remi keeps two readings ...
        registry.review_set(file_no, "citizenship", "MAROC", by="remi", expected_version=field_version(registry, file_no, "citizenship"))
    registry.review_set(files[2], "citizenship", "TUNISIE", by="rachel",  # ... rachel changes one, then remi changes hers
                        expected_version=field_version(registry, files[2], "citizenship"))
    registry.review_set(files[2], "citizenship", "ALGÉRIE", by="remi", expected_version=field_version(registry, files[2], "citizenship"))
    stats = registry.review_stats(registry.policy.today())
    people = {p["name"]: p for p in stats["people"]}
    # Every save counts once, kept or changed: remi's change of rachel's value is a change.
    assert (people["remi"]["saved"], people["remi"]["kept_reading"], people["remi"]["changed_reading"]) == (3, 2, 1)
    assert (people["rachel"]["saved"], people["rachel"]["kept_reading"], people["rachel"]["changed_reading"]) == (1, 0, 1)
    assert people["remi"]["median_seconds_per_field"] is not None
    # Per field, each reading once, by the last word on it: 3 readings judged, 2 right.
    assert {f["field"]: (f["reviewed"], f["reading_right"]) for f in stats["fields"]} == {"citizenship": (3, 2)}
    # A reading accepted, then corrected, was not right.
    registry.review_set(files[0], "citizenship", "MAURITANIE", by="rachel",
                        expected_version=field_version(registry, files[0], "citizenship"))
    stats = registry.review_stats(registry.policy.today())
    assert {f["field"]: (f["reviewed"], f["reading_right"]) for f in stats["fields"]} == {"citizenship": (3, 1)}
    assert sum(p["saved"] for p in stats["people"]) == 5 == sum(p["kept_reading"] + p["changed_reading"] for p in stats["people"])
    page = logged_in(app, "sophie").get("/stats")
    assert page.status_code == 200 and "remi" in page.text and "Citoyenneté <small>Citizenship</small>" in page.text
    assert logged_in(app, "remi").get("/stats").status_code == 403


def test_review_pace_counts_sittings_not_breaks(registry, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from registry import records

    files = [T.register_mail_envelope(registry, n, doubtful={"citizenship": "MAROC", "passport_number": f"PC{n:07d}"})
             for n in range(1, 5)]
    t0 = datetime.now(timezone.utc).replace(microsecond=0)
    # Saves 4 s and 6 s apart, then one after a two-hour break: the pace is 5 s, not an hour.
    for file_no, offset in zip(files, (0, 4, 10, 7210)):
        monkeypatch.setattr(records, "now", lambda moment=t0 + timedelta(seconds=offset): moment)
        registry.review_set(file_no, "citizenship", "MAROC", by="remi", expected_version=field_version(registry, file_no, "citizenship"))
    remi = registry.review_stats(registry.policy.today() - timedelta(days=1))["people"][0]
    assert (remi["saved"], remi["median_seconds_per_field"]) == (4, 5.0)


def test_a_required_field_read_empty_is_confirmed_empty_by_saving_it_empty(app, registry):
    """Issue 12: the reader's "nothing there" never excludes a candidate by itself. The card says
    so; saving the field empty confirms it, in the reviewer's name, and only then is the file
    incomplete."""
    from dataclasses import replace

    reading = T.envelope_reading(7, doubtful={})  # sex read empty, final: as another reader might hand it over
    reading = replace(reading, fields=tuple(replace(f, value=None, raw="") if f.name == "sex" else f for f in reading.fields))
    file_no = registry.register_mail(reading, postmark=date(2026, 10, 6), received=date(2026, 10, 9)).file_no
    assert registry.application(file_no)["status"] == "in_review"
    client = logged_in(app, "remi")
    assert "confirm it (leave it empty and save)" in client.get("/review", params={"file_no": file_no, "field": "sex"}).text
    version = field_version(registry, file_no, "sex")
    r = client.post("/review/save", data={"file_no": file_no, "field": "sex", "value": "", "version": str(version)},
                    headers={"X-CSRF-Token": client.csrf, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    app_view = registry.application(file_no)
    assert app_view["status"] == "incomplete" and app_view["fields"]["sex"]["source"] == "manual"
    assert [(e["action"], e["actor"]) for e in app_view["audit"] if e["action"] == "empty_confirmed"] == [("empty_confirmed", "remi")]


def test_no_browser_wait_polls_with_eval():
    """playwright's page.wait_for_function runs its predicate with `eval`, which the station's CSP
    (`default-src 'self'`) forbids: such a wait errors out whenever its condition is not already
    true at the first check, i.e. on a loaded machine (issue 11). Waits are locators + expect."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted([*root.glob("tests/*.py"), *root.glob("station/*.py"), *root.glob("bench/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "wait_for_function":
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found, f"eval-based waits (use locators and expect): {found}"
