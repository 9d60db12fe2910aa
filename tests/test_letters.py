"""Acknowledgment letters: written at every registration, read back with pdfplumber."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pdfplumber
import pytest

from errors import NotFound
from registry import acknowledgments, letters
from registry.service import Registry
from test_registry import POLICY, envelope, person

INCH = 72.0


@pytest.fixture
def registry(tmp_path):
    reg = Registry.open(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "data", policy=POLICY)
    yield reg
    reg.close()


def pdf_text(path) -> str:
    with pdfplumber.open(path) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def test_letter_of_a_complete_mail_application(registry):
    result = registry.register_mail(envelope(), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    path = registry.letter_path(result.file_no)
    assert path.exists()
    content = pdf_text(path)
    assert result.file_no in content
    assert "Accusé de réception" in content and "Acknowledgment of receipt" in content
    assert content.index("Accusé de réception") < content.index("Acknowledgment of receipt")  # French first
    assert "Cachet postal / Postmark 2026-02-03" in content and "Date de réception / Date received 2026-02-09" in content
    assert "2026-02-03 (date du cachet postal / postmark date)" in content
    assert "Complète" in content and "À corriger" not in content


def test_letter_lists_what_to_fix(registry):
    result = registry.register_mail(envelope(person(phone=None, declaration_signed=False)),
                                    postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    assert result.status == "in_review"  # read empty: a person confirms it before it costs a place
    assert registry.confirm_empty(result.file_no, by="rita", reason="left_empty")["status"] == "incomplete"
    content = " ".join(pdf_text(registry.write_letter(result.file_no)).split())
    assert "Incomplète" in content and "À corriger" in content and "To fix" in content
    assert "« Téléphone (indicatif du pays compris) » : ce champ est obligatoire." in content
    assert "“Telephone (with country code)”: this field is required." in content
    assert "La déclaration n'est pas signée : signez la section 11." in content


def test_online_letter(registry):
    result = registry.submit_online(person(), submitted_at=datetime(2026, 2, 11, 3, 59, tzinfo=timezone.utc))
    content = pdf_text(registry.letter_path(result.file_no))
    assert "Transmise le / Submitted on 2026-02-10 22:59" in content
    assert "en ligne / online" in content and "Cachet postal" not in content


def test_address_sits_in_the_envelope_window(registry):
    result = registry.register_mail(envelope(), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    with pdfplumber.open(registry.letter_path(result.file_no)) as pdf:
        words = pdf.pages[0].extract_words()
    lines = {w["text"]: w for w in words if w["text"] in ("ÉLODIE", "LOUISE", "BRUXELLES", "BELGIQUE")}
    assert set(lines) == {"ÉLODIE", "LOUISE", "BRUXELLES", "BELGIQUE"}
    for w in lines.values():  # a #10 window: 7/8 in from the left, about 2.05 to 3.15 in from the top
        assert w["x0"] >= 0.875 * INCH and w["x1"] <= (0.875 + 4.5) * INCH
        assert 2.05 * INCH <= w["top"] and w["bottom"] <= 3.15 * INCH


def test_a_name_beyond_winansi_is_printed_in_a_font_that_has_its_letters(registry):
    doc = person(family_name="NGUYỄN", given_names="THỊ HẰNG", address_line="12 ULICA ŁĄKOWA", city="ŁÓDŹ")
    result = registry.submit_online(doc, submitted_at=datetime(2026, 2, 11, 15, tzinfo=timezone.utc))
    with pdfplumber.open(registry.letter_path(result.file_no)) as pdf:
        page = pdf.pages[0]
        text = page.extract_text()
        fonts = {ch["text"]: ch["fontname"] for ch in page.chars}
    assert "THỊ HẰNG NGUYỄN" in text and "12 ULICA ŁĄKOWA" in text and "ŁÓDŹ" in text
    assert all(fonts[ch].endswith("+DejaVuSans") for ch in "ỄỊẰŁĄŹ"), fonts  # embedded (subset): no missing glyphs
    assert "Helvetica" in fonts["A"]  # ...while the letter's own text keeps the built-in font


def test_many_problems_continue_on_a_second_page():
    content = letters.LetterContent(
        file_no="26M-000123-5", channel="mail", status="incomplete", issued_on=date(2026, 2, 9),
        received_date=date(2026, 2, 9), postmark_date=None, postmark_illegible=True, submitted_at=None,
        priority_date=date(2026, 2, 9), priority_rule="illegible_postmark:received_date",
        recipient=("ÉLODIE TREMBLAY",),
        problems=tuple(letters.LetterProblem(f"problème numéro {i}", f"problem number {i}") for i in range(60)),
    )
    pdf = letters.render_letter(content)
    with pdfplumber.open(__import__("io").BytesIO(pdf)) as doc:
        assert len(doc.pages) >= 2
        text = "\n".join(p.extract_text() for p in doc.pages)
    assert "problem number 59" in text and "(suite / continued)" in text


def test_a_failed_letter_does_not_undo_the_registration(registry, monkeypatch):
    monkeypatch.setattr(letters, "render_letter", lambda content: (_ for _ in ()).throw(OSError("printer spool full")))
    result = registry.register_mail(envelope(), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    assert result.created and not registry.letter_path(result.file_no).exists()
    monkeypatch.undo()
    out = registry.letters_print(date(2026, 1, 1), registry.data_dir / "batch.pdf")
    assert registry.letter_path(result.file_no).exists()
    assert result.file_no in pdf_text(out)


def test_letters_print_gathers_the_day(registry, tmp_path):
    a = registry.register_mail(envelope(), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    b = registry.submit_online(person(2), submitted_at=datetime(2026, 2, 4, 12, tzinfo=timezone.utc))
    held = registry.register_mail(envelope(person(3), tag="c", doubtful=("address_line",)), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    today = POLICY.today()
    out = registry.letters_print(today, tmp_path / "mailroom.pdf")
    with pdfplumber.open(out) as pdf:
        texts = [p.extract_text() for p in pdf.pages]
    assert len(texts) == 2 and a.file_no in texts[0] and b.file_no in texts[1]
    assert registry.letters_held_back(today) == [held.file_no]

    registry.review_set(held.file_no, "address_line", "8 RUE NEUVE", by="rita")
    out = registry.letters_print(today, tmp_path / "mailroom.pdf")
    texts = [p.extract_text() for p in pdfplumber.open(out).pages]
    assert len(texts) == 3 and "8 RUE NEUVE" in texts[2]  # the letter is rewritten with the corrected address

    with pytest.raises(NotFound, match="no letters"):
        registry.letters_print(date(2099, 1, 1), tmp_path / "none.pdf")


def test_letter_is_cheap(registry):
    import time

    result = registry.register_mail(envelope(), postmark=date(2026, 2, 3), received=date(2026, 2, 9))
    with registry.db.read() as conn:
        content = acknowledgments.letter_content(registry, conn, result.file_no)
    start = time.perf_counter()
    for _ in range(10):
        letters.render_letter(content)
    assert (time.perf_counter() - start) / 10 < 0.05
