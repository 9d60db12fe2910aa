"""The candidates' pages (station/public.py) in process: the forms page, the blank and
prefilled PDFs read back by the scanner, the same validator's problems beside each field, the
status look-up that tells nothing to a wrong guess, its throttle, and `--public` mode."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pypdfium2
import pytest
from fastapi.testclient import TestClient

from registry import status_lookup
from station import limits
import station_fixtures as T
from station.app import create_app
from station.public import LookupThrottle, PrefillGate
from templates.spec import load_form

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def site(tmp_path):
    app = create_app(f"sqlite:///{tmp_path}/registry.db", tmp_path / "data")
    with TestClient(app) as client:
        yield client, app.state.station.registry


def form_of(document: dict) -> dict:
    """The sample data document as a browser posts it: checkboxes present when true."""
    return {k: ("on" if v is True else v) for k, v in document["fields"].items() if v is not False}


def test_the_forms_page_asks_every_field_of_the_paper_form(site):
    client, _ = site
    page = client.get("/forms")
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    for f in load_form().fields:
        assert f'name="{f.name}"' in page.text, f.name
    assert 'href="/forms/blank.pdf?lang=fr"' in page.text and 'href="/forms/blank.pdf?lang=en"' in page.text
    assert "Rien n'est conservé sur le serveur" in page.text and "Nothing is stored on the server" in page.text
    assert "accents compris" in page.text and "accents included" in page.text


@pytest.mark.parametrize("lang, first", [("fr", "Demande de certificat"), ("en", "Application for a Québec")])
def test_the_blank_form_in_each_language(site, lang, first):
    client, _ = site
    answer = client.get(f"/forms/blank.pdf?lang={lang}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    pdf = pypdfium2.PdfDocument(answer.content)
    assert len(pdf) == len(load_form().pages)
    assert pdf[0].get_textpage().get_text_range().lstrip().startswith(first)


def test_a_valid_form_gives_the_prefilled_pdf_the_scanner_reads_back(site, tmp_path):
    from scan.pipeline import read_envelope

    client, registry = site
    document = T.sample_document()
    answer = client.post("/forms/prefill", data=form_of(document))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert "attachment" in answer.headers["content-disposition"]
    pdf = tmp_path / "prefilled.pdf"
    pdf.write_bytes(answer.content)
    reading = read_envelope([pdf], workers=1)
    read = {f.name: f.value for f in reading.fields if f.source == "barcode"}
    signed = {f.name: f.value for f in reading.fields}["declaration_signed"]
    assert not signed  # the signature is read from the paper: the candidate signs by hand after printing
    for name, value in document["fields"].items():
        if name == "declaration_signed":
            continue
        assert read.get(name) == value or (value is False and not read.get(name)), name
    assert registry.queue() == []  # nothing stored: the candidate mails the paper


def test_a_wrong_form_comes_back_with_each_problem_beside_its_field(site):
    client, registry = site
    posted = form_of(T.sample_document())
    posted.pop("family_name")
    posted["birth_date"] = "1990-13-45"
    posted["given_names"] = "marie-ève"
    answer = client.post("/forms/prefill", data=posted)
    assert answer.status_code == 422
    html = answer.text
    for name in ("family_name", "birth_date"):
        assert f'id="e-{name}"' in html and f'aria-describedby="e-{name}"' in html
        field_input = re.search(rf'<input id="f-{name}"[^>]*>', html, re.S).group(0)
        assert 'aria-invalid="true"' in field_input
    error = re.search(r'<p class="error" id="e-birth_date">(.*?)</p>', html, re.S).group(1)
    assert "Date de naissance" in error and "Date of birth" in error  # both languages, beside the field
    assert 'value="marie-ève"' in html and 'value="1990-13-45"' in html  # what was typed is kept
    assert 'href="#f-family_name"' in html  # the summary links to each field
    assert registry.queue() == []


def test_the_pages_take_only_a_plain_form(site):
    client, _ = site
    answer = client.post("/forms/prefill", files={"family_name": ("a.txt", b"X")})
    assert answer.status_code == 415
    assert client.post("/status", json={"file_no": "x"}).status_code == 415


def test_a_rush_past_the_limit_is_told_to_come_back_with_the_answers_kept(site, monkeypatch):
    client, _ = site
    gate: PrefillGate = client.app.state.prefill_gate
    monkeypatch.setattr(limits, "PREFILL_MAX_WAIT_S", 0.0)
    monkeypatch.setattr(gate, "_in_line", 5)  # five PDFs already in line: more than 0 s of wait
    answer = client.post("/forms/prefill", data=form_of(T.sample_document()))
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) >= 1
    assert "réessayez dans" in answer.text and "try again in" in answer.text
    assert 'value="GAGNÉ-TREMBLAY"' in answer.text


def test_the_gate_admits_while_the_wait_is_short():
    gate = PrefillGate()
    admitted = 0
    while gate.admit():
        admitted += 1
        assert admitted < 10_000
    # what it let in is what PREFILL_MAX_WAIT_S of work at the estimated pace allows
    expected = limits.PREFILL_MAX_WAIT_S * limits.PREFILL_CONCURRENCY / limits.PREFILL_ESTIMATE_S
    assert abs(admitted - expected) <= 1
    assert gate.run(lambda: "pdf") == "pdf" and gate.admit()  # one done, one more may come


def _registered(registry) -> tuple[str, str]:
    mail_no = T.register_mail_envelope(registry, 1)
    online = registry.submit_online(T.sample_document() | {"fields": T.sample_document()["fields"] | {"passport_number": "ZX998877"}},
                                    submitted_at=datetime(2026, 10, 1, 14, 0, tzinfo=timezone.utc))
    return mail_no, online.file_no


def test_the_status_of_a_file_by_number_or_passport(site):
    client, registry = site
    mail_no, online_no = _registered(registry)
    birth = registry.application(mail_no)["fields"]["birth_date"]["value"]
    answer = client.post("/status", data={"file_no": mail_no, "birth_date": birth})
    assert answer.status_code == 200 and mail_no in answer.text
    assert "2026-10-06" in answer.text  # the postmark
    by_passport = client.post("/status", data={"passport_number": "zx 998-877", "birth_date": "19900417"})
    assert online_no in by_passport.text and "En ligne" in by_passport.text
    events = [e for e in registry.audit_trail(online_no) if e["action"] == status_lookup.LOOKUP_ACTION]
    assert len(events) == 1 and events[0]["actor"] == "public"  # each look-up counted, in the file's history


def test_a_wrong_number_and_a_wrong_date_get_the_same_answer(site):
    client, registry = site
    mail_no, _ = _registered(registry)
    birth = registry.application(mail_no)["fields"]["birth_date"]["value"]
    other_no = T.register_mail_envelope(registry, 2)
    wrong_date = client.post("/status", data={"file_no": mail_no, "birth_date": "1951-01-01"})
    wrong_number = client.post("/status", data={"file_no": "26M-999999-9", "birth_date": birth})
    not_a_number = client.post("/status", data={"file_no": "hello", "birth_date": birth})
    someone_else = client.post("/status", data={"passport_number": "NOPE12345", "birth_date": birth})
    assert {r.status_code for r in (wrong_date, wrong_number, not_a_number, someone_else)} == {200}
    texts = [re.sub(r'value="[^"]*"', "", r.text) for r in (wrong_date, wrong_number, not_a_number, someone_else)]
    assert len(set(texts)) == 1 and "Aucune demande trouvée" in texts[0]
    assert mail_no not in texts[0] and other_no not in texts[0]
    assert status_lookup.lookup_counts(registry.db) == {"found": 0, "not_found": 4}


def test_look_ups_are_throttled_per_client(site):
    client, _ = site
    for _ in range(limits.STATUS_LOOKUPS_PER_WINDOW):
        assert client.post("/status", data={"file_no": "26M-000001-0", "birth_date": "1990-01-01"}).status_code == 200
    refused = client.post("/status", data={"file_no": "26M-000001-0", "birth_date": "1990-01-01"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "réessayez dans" in refused.text and "try again in" in refused.text


def test_the_throttle_forgets_after_its_window():
    now = [0.0]
    throttle = LookupThrottle(clock=lambda: now[0])
    for _ in range(limits.STATUS_LOOKUPS_PER_WINDOW):
        assert throttle.wait_s("10.0.0.1") == 0
    assert throttle.wait_s("10.0.0.1") == pytest.approx(limits.STATUS_WINDOW_S)
    assert throttle.wait_s("10.0.0.2") == 0  # another client is not held
    now[0] += limits.STATUS_WINDOW_S + 1
    assert throttle.wait_s("10.0.0.1") == 0


def test_public_mode_serves_the_candidates_pages_only(tmp_path):
    app = create_app(f"sqlite:///{tmp_path}/registry.db", tmp_path / "data", public_only=True)
    with TestClient(app) as client:
        assert client.get("/forms").status_code == 200
        assert client.get("/status").status_code == 200
        assert client.get("/forms/blank.pdf").status_code == 200
        for path in ("/login", "/review", "/queue", "/history", "/stats", "/applications/26M-000001-0",
                     "/images/26M-000001-0/pages/0.png", "/api/applications/26M-000001-0", "/api/openapi.json"):
            assert client.get(path).status_code == 404, path
        assert client.post("/api/applications", json={"fields": {}}).status_code == 404
        assert "set-cookie" not in client.get("/forms").headers  # no session on a public host


def test_csq_serve_has_a_public_mode():
    from typer.testing import CliRunner

    import cli

    result = CliRunner().invoke(cli.app, ["serve", "--help"])
    assert result.exit_code == 0 and "--public" in result.output


def test_status_lookup_in_the_registry_needs_both_keys(tmp_path):
    from registry.service import Registry

    with Registry.open(f"sqlite:///{tmp_path}/r.db", tmp_path / "d") as registry:
        number = T.register_mail_envelope(registry, 1, postmark=date(2026, 10, 6))
        birth = registry.application(number)["fields"]["birth_date"]["value"]
        assert status_lookup.look_up(registry.db, birth_date="", file_no=number) == []
        assert status_lookup.look_up(registry.db, birth_date=birth) == []
        [found] = status_lookup.look_up(registry.db, birth_date=birth, file_no=number.replace("-", ""))
        assert found.file_no == number and found.channel == "mail"
        assert not hasattr(found, "family_name")  # no personal data in the answer



def test_the_rush_benchmark_counts_every_answer(tmp_path):
    """`csq bench public` on a few clients: every form is answered, a PDF or 'busy' (behaviour
    only: the rate depends on the machine)."""
    from bench.public_pages import bench_public

    report = bench_public(clients=4, requests=6, workers=1, workdir=tmp_path)
    assert report["ok"], report
    assert report["pdfs"] + report["busy"] == 6 and report["pdfs"] >= 1
    assert report["pdf_bytes_mean"] > 20_000
