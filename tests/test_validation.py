"""The one validator: every rule with its message, and property tests over random input."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from templates.spec import DIGIT_CHARSET, LETTER_CHARSET, TEXT_CHARSET, load_form
from templates.validation import check_field, normalize_document, normalize_value, parse_date, validate

TODAY = date(2026, 11, 23)


def valid_document() -> dict:
    return {
        "fields": {
            "family_name": "GAGNÉ-TREMBLAY",
            "given_names": "MARIE-ÈVE",
            "birth_date": "1990-04-17",
            "sex": "F",
            "country_of_birth": "FRANCE",
            "citizenship": "FRANCE",
            "passport_number": "19AB12345",
            "passport_expiry": "2030-05-01",
            "marital_status": "MARRIED",
            "address_line": "12 RUE DES LILAS",
            "city": "LYON",
            "postal_code": "69003",
            "country_of_residence": "FRANCE",
            "phone": "33612345678",
            "email": "MEGAGNE@EXEMPLE.FR",
            "spouse_family_name": "OUÉDRAOGO",
            "spouse_given_names": "ISSA",
            "spouse_birth_date": "1988-12-02",
            "children_count": "2",
            "child1_given_names": "LÉA",
            "child1_birth_date": "2016-03-09",
            "child2_given_names": "NOÉ",
            "child2_birth_date": "2019-07-21",
            "education_level": "MASTER",
            "field_of_study": "GÉNIE CIVIL",
            "diploma_year": "2014",
            "occupation": "INGÉNIEURE CIVILE",
            "work_experience_months": "96",
            "french_level": "ADVANCED",
            "english_level": "INTERMEDIATE",
            "quebec_family": "NONE",
            "settlement_region": "MONTREAL",
            "funds_available": "25000",
            "financial_contract_signed": True,
            "declaration_signed": True,
            "signature_date": "2026-11-02",
        }
    }


def problems_of(doc) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in validate(doc, today=TODAY):
        out.setdefault(p.field, []).append(p.code)
    return out


def with_fields(**changes) -> dict:
    doc = valid_document()
    for k, v in changes.items():
        if v is None:
            doc["fields"].pop(k, None)
        else:
            doc["fields"][k] = v
    return doc


def test_the_valid_document_is_valid():
    assert validate(valid_document(), today=TODAY) == []


def test_not_a_document():
    (p,) = validate(["nope"], today=TODAY)
    assert p.field == "fields" and '{"fields"' in p.message.en


def test_required_fields_each_get_a_bilingual_message():
    problems = validate({"fields": {}}, today=TODAY)
    required = {f.name for f in load_form().fields if f.required}
    assert {p.field for p in problems if p.code == "required"} == required
    family = next(p for p in problems if p.field == "family_name")
    assert "Nom de famille" in family.message.fr and "obligatoire" in family.message.fr
    assert "Family name" in family.message.en and "required" in family.message.en


def test_unknown_field_is_named():
    (p,) = validate(with_fields(favourite_colour="BLEU"), today=TODAY)
    assert p.code == "unknown_field" and "favourite_colour" in p.message.en


@pytest.mark.parametrize(
    "field,value,code",
    [
        ("email", "MEGAGNE.EXEMPLE.FR", "pattern"),
        ("passport_number", "AB1", "pattern"),
        ("phone", "12345", "pattern"),
        ("phone", "33A12345678", "charset"),
        ("family_name", "gagné", "charset"),
        ("family_name", "X" * 31, "length"),
        ("birth_date", "1990-02-30", "date"),
        ("birth_date", "17/04/1990", "date"),
        ("birth_date", "2015-01-01", "range"),
        ("birth_date", "1900-01-01", "range"),
        ("children_count", "16", "range"),
        ("diploma_year", "1930", "range"),
        ("sex", "Q", "choice"),
        ("declaration_signed", "yes", "type"),
    ],
)
def test_field_rules(field, value, code):
    assert code in problems_of(with_fields(**{field: value})).get(field, [])


def test_spouse_required_when_married():
    doc = with_fields(spouse_family_name=None, spouse_given_names=None)
    probs = [p for p in validate(doc, today=TODAY) if p.code == "rule:spouse_required"]
    assert {p.field for p in probs} == {"spouse_family_name", "spouse_given_names"}
    assert "section 3" in probs[0].message.fr and "section 3" in probs[0].message.en


def test_spouse_unexpected_when_single():
    probs = problems_of(with_fields(marital_status="SINGLE"))
    assert "rule:spouse_unexpected" in probs["spouse_family_name"]


def test_passport_must_be_valid_at_signature():
    probs = validate(with_fields(passport_expiry="2026-10-01"), today=TODAY)
    (p,) = [p for p in probs if p.code == "rule:passport_valid_at_signature"]
    assert p.field == "passport_expiry" and "expir" in p.message.en


def test_children_count_matches_children_listed():
    assert "rule:children_listed" in problems_of(with_fields(children_count="3"))["children_count"]
    assert "rule:children_listed" in problems_of(with_fields(children_count="1"))["children_count"]
    # more than three children: the three rows are full, the rest on an attached sheet
    doc = with_fields(children_count="5", child3_given_names="ALI", child3_birth_date="2020-01-01")
    assert "children_count" not in problems_of(doc)


def test_each_listed_child_needs_a_birth_date():
    probs = problems_of(with_fields(child2_birth_date=None))
    assert "rule:child_birth_date" in probs["child2_birth_date"]


def test_job_and_stay_dates_in_order():
    assert "rule:job_dates_order" in problems_of(with_fields(job1_from="2020-01-01", job1_to="2019-01-01"))["job1_to"]
    assert "rule:stay_dates_order" in problems_of(with_fields(quebec_stay_from="2020-01-01", quebec_stay_to="2020-01-01"))["quebec_stay_to"]


def test_signature_date_not_in_future_and_declaration_signed():
    assert "rule:signature_not_future" in problems_of(with_fields(signature_date="2026-12-01"))["signature_date"]
    probs = problems_of(with_fields(declaration_signed=False))
    assert "rule:declaration_signed" in probs["declaration_signed"]


def test_normalize_document_makes_capitals_and_iso_dates():
    doc = normalize_document({"fields": {"family_name": "  gagné   tremblay ", "birth_date": "19900417", "sex": "f"}})
    assert doc["fields"] == {"family_name": "GAGNÉ TREMBLAY", "birth_date": "1990-04-17", "sex": "F"}


# ----------------------------------------------------------------- property tests

FORM = load_form()
COMB = [f for f in FORM.fields if f.type in ("text", "digits")]


@settings(max_examples=200)
@given(st.sampled_from(COMB), st.data())
def test_any_in_charset_value_of_right_length_passes_charset_and_length(f, data):
    value = data.draw(st.text(alphabet=f.charset, min_size=1, max_size=len(f.cells)))
    value = normalize_value(f, value)
    codes = {p.code for p in check_field(f, value, today=TODAY)}
    assert not codes & {"charset", "length", "type"}


LETTER_FIELDS = [f for f in COMB if f.charset_name == "letters"]


def test_words_only_fields_are_letters_and_the_others_keep_the_type_set():
    assert {"given_names", "spouse_family_name", "city", "occupation", "field_of_study", "mother_tongue", "citizenship"} <= {f.name for f in LETTER_FIELDS}
    for name in ("passport_number", "postal_code", "email", "address_line", "institution", "job1_employer"):
        assert FORM.field(name).charset == TEXT_CHARSET
    assert FORM.field("phone").charset == DIGIT_CHARSET
    assert not set(LETTER_CHARSET) & set("0123456789/@")


@settings(max_examples=200)
@given(st.sampled_from(LETTER_FIELDS), st.data())
def test_a_words_only_field_still_accepts_what_its_type_allows(f, data):
    """`charset: letters` guides the reader; the contract (docs/interface.md) lets any text
    field hold digits, '/' and '@', so a program's document is not refused for them."""
    word = data.draw(st.text(alphabet=LETTER_CHARSET.replace(" ", ""), min_size=0, max_size=len(f.cells) - 1))
    other = data.draw(st.sampled_from("0123456789/@"))
    at = data.draw(st.integers(0, len(word)))
    assert not [p for p in check_field(f, word[:at] + other + word[at:], today=TODAY) if p.code == "charset"]
    assert other not in f.charset  # ...though the reader never chooses it there


def test_the_generated_applicants_fit_their_fields_charsets():
    """The sample generator's truth (and so the corpus) never breaks a field's characters."""
    from samples.people import break_document, make_people
    import numpy as np

    rng = np.random.default_rng(5)
    for a in make_people(300, seed=3):
        for doc in (a, break_document(a, rng)):
            for name, value in doc.fields.items():
                f = FORM.field(name)
                if f.type in ("text", "digits") and isinstance(value, str):
                    assert not [p for p in check_field(f, value, today=TODAY) if p.code == "charset"], (name, value)


@settings(max_examples=200)
@given(st.sampled_from(FORM.fields), st.one_of(st.none(), st.text(max_size=50), st.integers(), st.booleans(), st.floats()))
def test_check_field_never_crashes_and_messages_are_bilingual(f, value):
    for p in check_field(f, value, today=TODAY):
        assert p.field == f.name and p.message.fr and p.message.en


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_parse_date_accepts_every_real_date(d):
    assert parse_date(d.isoformat()) == d
    assert normalize_value(FORM.field("birth_date"), d.strftime("%Y%m%d")) == d.isoformat()


@given(st.text(max_size=12))
def test_parse_date_rejects_non_dates(text):
    d = parse_date(text)
    assert d is None or d.isoformat() == text


@settings(max_examples=100)
@given(st.dictionaries(st.sampled_from(FORM.field_names), st.text(max_size=10) | st.booleans(), max_size=10))
def test_validate_never_crashes(fields):
    for p in validate({"fields": fields}, today=TODAY):
        assert p.message.fr and p.message.en
