"""Names as passports print them: every Latin capital is accepted, the rest refused truthfully,
values stored NFC, and one folding to compare spellings with and without accents."""

import unicodedata
from datetime import date

import pytest

from templates.alphabet import as_written, fold, is_latin_capital, refused_characters
from templates.spec import TEXT_CHARSET, load_form
from templates.validation import check_field, normalize_document, normalize_value, validate

TODAY = date(2026, 11, 23)
FORM = load_form()

# The eight people (issue 14): family name, given names, city.
PEOPLE = [
    ("GARCÍA LÓPEZ", "JOSÉ MARÍA", "BOGOTÁ"),
    ("CONCEIÇÃO", "JOÃO", "SÃO PAULO"),
    ("ŁUKASIEWICZ", "MAŁGORZATA", "ŁÓDŹ"),
    ("ÇAĞLAYAN", "AYŞE", "İSTANBUL"),
    ("ØSTERGÅRD", "SØREN", "ÅRHUS"),
    ("NGUYỄN", "THỊ HẰNG", "HÀ NỘI"),
    ("MÜLLER-LÜDENSCHEIDT", "JÜRGEN", "MÜNCHEN"),
    ("NÚÑEZ", "ÍÑIGO", "CÓRDOBA"),
]

# Latin-1 Supplement, Latin Extended-A, Latin Extended-B, Latin Extended Additional.
BLOCKS = [(0x00C0, 0x00FF), (0x0100, 0x017F), (0x0180, 0x024F), (0x1E00, 0x1EFF)]
BLOCK_CAPITALS = [chr(c) for lo, hi in BLOCKS for c in range(lo, hi + 1) if unicodedata.category(chr(c)) == "Lu"]


def test_every_capital_of_the_four_latin_blocks_is_a_letter_a_field_accepts():
    assert len(BLOCK_CAPITALS) > 300
    refused = [ch for ch in BLOCK_CAPITALS if refused_characters(ch, "text")]
    assert refused == []
    assert not [p for ch in BLOCK_CAPITALS for p in check_field(FORM.field("family_name"), ch, today=TODAY)]


@pytest.mark.parametrize("family, given, city", PEOPLE)
def test_the_eight_names_are_valid_as_written(family, given, city):
    for name, value in (("family_name", family), ("given_names", given), ("city", city), ("spouse_family_name", family)):
        assert check_field(FORM.field(name), value, today=TODAY) == [], (name, value)


@pytest.mark.parametrize("family, given, city", PEOPLE)
def test_lower_case_is_uppercased_and_a_decomposed_accent_stored_as_one_letter(family, given, city):
    for name, value in (("family_name", family), ("given_names", given), ("city", city)):
        given_as = unicodedata.normalize("NFD", value.lower())  # a keyboard that sends a + combining acute
        stored = normalize_value(FORM.field(name), given_as)
        assert stored == value
        assert unicodedata.is_normalized("NFC", stored)


@pytest.mark.parametrize("value, refused", [
    ("ИВАНОВ", "ВИНО"),  # Cyrillic looks Latin, is not: a person would type it again
    ("ΠΑΠΑΣ", "ΑΠΣ"),  # Greek
    ("ＧＡＲＣＩＡ", "ＡＣＧＩＲ"),  # full-width forms
    ("O’BRIEN", "’"),  # the typographic apostrophe: the form's is '
    ("JOSÉ😀", "😀"),
    ("ªº", "ªº"),  # letters of Latin-1 that are not capitals
    ("gagné", "agégn"),  # lower case reaches check_field only if nobody normalized it
])
def test_what_is_not_a_latin_capital_a_digit_or_the_punctuation_is_refused(value, refused):
    (problem,) = check_field(FORM.field("family_name"), value, today=TODAY)
    assert problem.code == "charset"
    assert "".join(sorted(set(refused))) in problem.message.fr and "".join(sorted(set(refused))) in problem.message.en


def test_the_refusal_says_truthfully_what_is_allowed_in_both_languages():
    (problem,) = check_field(FORM.field("family_name"), "ИВАНОВ", today=TODAY)
    assert "alphabet latin, accents compris" in problem.message.fr and "Latin alphabet, accents included" in problem.message.en
    for shown in "ÉÁÑŁØŞỄ":  # every letter the message gives as an example is one it accepts
        assert check_field(FORM.field("family_name"), shown, today=TODAY) == []
    (digits,) = check_field(FORM.field("phone"), "33É12345678", today=TODAY)
    assert digits.code == "charset" and "0 à 9" in digits.message.fr


def test_a_data_document_with_the_eight_people_is_valid_through_the_one_validator():
    from tests.test_validation import valid_document

    for family, given, city in PEOPLE:
        doc = valid_document()
        doc["fields"].update(family_name=family.lower(), given_names=given, city=city, spouse_given_names=given)
        normalized = normalize_document(doc, FORM)
        assert validate(normalized, FORM, today=TODAY) == []
        assert normalized["fields"]["family_name"] == family


def test_the_reader_keeps_a_finite_set_inside_what_validation_accepts():
    """The ICR's classes and Tesseract's whitelist (TEXT_CHARSET) stay finite; every character
    they can name is one a field accepts."""
    assert refused_characters(TEXT_CHARSET, "text") == []
    assert all(is_latin_capital(ch) for ch in TEXT_CHARSET if ch.isalpha())


@pytest.mark.parametrize("written, folded", [
    ("GARCÍA LÓPEZ", "GARCIA LOPEZ"), ("CONCEIÇÃO", "CONCEICAO"), ("ŁUKASIEWICZ", "LUKASIEWICZ"),
    ("MAŁGORZATA", "MALGORZATA"), ("ŁÓDŹ", "LODZ"), ("ÇAĞLAYAN", "CAGLAYAN"), ("İSTANBUL", "ISTANBUL"),
    ("ØSTERGÅRD", "OSTERGARD"), ("NGUYỄN THỊ HẰNG", "NGUYEN THI HANG"), ("HÀ NỘI", "HA NOI"),
    ("MÜLLER-LÜDENSCHEIDT", "MULLER-LUDENSCHEIDT"), ("NÚÑEZ ÍÑIGO", "NUNEZ INIGO"),
    ("ÆRØ", "AERO"), ("ŒUVRE", "OEUVRE"), ("STRAẞE", "STRASSE"), ("straße", "STRASSE"), ("ĐORĐEVIĆ", "DORDEVIC"),
    ("ÞÓR", "THOR"), ("ĦAMRUN", "HAMRUN"), ("garcía", "GARCIA"), ("19AB12345", "19AB12345"),
])
def test_fold_takes_off_accents_and_special_letters(written, folded):
    assert fold(written) == folded
    assert fold(folded) == folded


def test_every_latin_capital_folds_to_something_a_person_writes_without_accents():
    leftover = {ch for ch in BLOCK_CAPITALS if not fold(ch).isascii()}
    # The few letters with no base letter of their own (schwa, open O, ezh...) stay themselves.
    assert len(leftover) < 40, sorted(leftover)
    assert not leftover & set("ÁÍÓÚÑÃÕÅØÆŁŞĞİČŘŠŽŐŰĐÐÞẞỄẰỘỊ")


def test_as_written_composes_what_upper_case_takes_apart():
    assert as_written("ǰ") == unicodedata.normalize("NFC", "J\u030c")
    assert as_written("josé") == "JOSÉ"
