"""Page codes and prefill data codes: what is encoded is what is decoded, damage is caught."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from errors import UnreadablePage
from templates.codes import (
    B45,
    PageCode,
    PageData,
    b45decode,
    b45encode,
    decode_page_data,
    document_id,
    encode_page_data,
    is_data_code,
)


@given(st.binary(max_size=600))
def test_base45_round_trip(data):
    text = b45encode(data)
    assert set(text) <= set(B45)
    assert b45decode(text) == data


def test_base45_known_vectors():
    # RFC 9285 section 4.3
    assert b45encode(b"AB") == "BB8"
    assert b45encode(b"Hello!!") == "%69 VD92EX0"
    assert b45decode("QED8WEX0") == b"ietf!"


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", min_size=1, max_size=12))
def test_base45_rejects_or_round_trips_any_text(text):
    try:
        data = b45decode(text)
    except ValueError:
        return
    assert b45decode(b45encode(data)) == data


@given(
    page_no=st.integers(1, 99),
    count=st.integers(1, 99),
    fp=st.text(alphabet="0123456789abcdef", min_size=10, max_size=10),
    doc=st.none() | st.text(alphabet="0123456789ABCDEF", min_size=8, max_size=8),
)
def test_page_code_round_trip(page_no, count, fp, doc):
    code = PageCode("csq-rtq", "2026.1", page_no, count, fp, doc)
    assert PageCode.decode(code.encode()) == code


def test_separator_code_carries_serial():
    code = PageCode("csq-sep", "2026.1", 1, 1, "abcdef0123", serial="7K3M9Q2XA")
    assert PageCode.decode(code.encode()).serial == "7K3M9Q2XA"


@pytest.mark.parametrize("text", ["", "hello", "CSQ1|x", "CSQ1|csq-rtq|2026.1|one|fp"])
def test_foreign_codes_are_refused(text):
    with pytest.raises(UnreadablePage):
        PageCode.decode(text)


field_values = st.dictionaries(
    st.sampled_from(["family_name", "given_names", "birth_date", "sex", "email", "declaration_signed"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZÉÈÇ -'.@/0123456789", max_size=36) | st.booleans(),
    max_size=6,
)


@settings(max_examples=60)
@given(fields=field_values, page_no=st.integers(1, 6))
def test_page_data_round_trip(fields, page_no):
    data = PageData("csq-rtq", "2026.1", page_no, document_id(fields), fields)
    texts = encode_page_data(data)
    assert all(is_data_code(t) for t in texts)
    assert decode_page_data(list(reversed(texts))) == data


def test_long_page_data_is_split_and_needs_every_part():
    import random

    rng = random.Random(7)  # values that zlib cannot shrink much, like real names and dates
    fields = {f"f{i}": "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(30)) for i in range(40)}
    data = PageData("csq-rtq", "2026.1", 1, document_id(fields), fields)
    texts = encode_page_data(data)
    assert len(texts) > 1
    assert decode_page_data(texts).fields == fields
    with pytest.raises(UnreadablePage, match="data codes could be read"):
        decode_page_data(texts[:-1])


def test_damaged_payload_never_yields_a_value():
    fields = {"family_name": "GAGNÉ-TREMBLAY", "birth_date": "1990-04-17"}
    (text,) = encode_page_data(PageData("csq-rtq", "2026.1", 1, document_id(fields), fields))
    # flip one payload character to another base45 character
    i = len(text) - 5
    other = B45[(B45.index(text[i]) + 1) % 45]
    with pytest.raises(UnreadablePage):
        decode_page_data([text[:i] + other + text[i + 1 :]])


def test_document_id_depends_on_values_only():
    a = document_id({"a": "1", "b": "2"})
    assert a == document_id({"b": "2", "a": "1"})
    assert a != document_id({"a": "1", "b": "3"})
