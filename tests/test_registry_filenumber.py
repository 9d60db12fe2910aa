"""File numbers: format, parsing, and the check digit's guarantees (Damm)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from errors import BadArguments
from registry.filenumber import damm_check_digit, damm_is_valid, format_file_no, parse_file_no

numbers = st.builds(format_file_no, st.integers(2016, 2099), st.sampled_from(["mail", "online"]), st.integers(1, 999_999))


def digits_of(file_no: str) -> str:
    """The protected digit stream, check digit included, as parse_file_no checks it."""
    return parse_file_no(file_no).payload_digits + file_no[-1]


def test_format():
    assert format_file_no(2026, "mail", 123) == "26M-000123-5"
    assert format_file_no(2026, "online", 1) == "26O-000001-0"
    assert format_file_no(2027, "mail", 1_234_567).startswith("27M-1234567-")
    with pytest.raises(ValueError):
        format_file_no(2026, "fax", 1)


@given(numbers)
def test_round_trip_and_typing_variants(file_no):
    assert str(parse_file_no(file_no)) == file_no
    assert str(parse_file_no(" " + file_no.lower().replace("-", " ") + " ")) == file_no
    if file_no[2] == "O":
        assert str(parse_file_no(file_no[:2] + "0" + file_no[3:])) == file_no  # a zero written for the letter O


@given(digits=st.text("0123456789", min_size=1, max_size=12), position=st.data())
def test_every_single_digit_error_is_caught(digits, position):
    valid = digits + damm_check_digit(digits)
    i = position.draw(st.integers(0, len(valid) - 1))
    wrong = position.draw(st.sampled_from([d for d in "0123456789" if d != valid[i]]))
    assert damm_is_valid(valid)
    assert not damm_is_valid(valid[:i] + wrong + valid[i + 1:])


@given(digits=st.text("0123456789", min_size=1, max_size=12), position=st.data())
def test_every_adjacent_transposition_is_caught(digits, position):
    valid = digits + damm_check_digit(digits)
    i = position.draw(st.integers(0, len(valid) - 2))
    swapped = valid[:i] + valid[i + 1] + valid[i] + valid[i + 2:]
    assert swapped == valid or not damm_is_valid(swapped)


def test_the_luhn_blind_spot_is_covered():
    """Luhn cannot tell 09 from 90; Damm can."""
    assert damm_check_digit("09") != damm_check_digit("90")


@given(numbers, st.data())
def test_mistyped_file_numbers_are_refused(file_no, data):
    positions = [i for i, ch in enumerate(file_no) if ch.isdigit()]
    i = data.draw(st.sampled_from(positions))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != file_no[i]]))
    typo = file_no[:i] + wrong + file_no[i + 1:]
    with pytest.raises(BadArguments, match="check digit"):
        parse_file_no(typo)


@given(numbers)
def test_channel_letter_swap_is_refused(file_no):
    other = "O" if file_no[2] == "M" else "M"
    with pytest.raises(BadArguments, match="check digit"):
        parse_file_no(file_no[:2] + other + file_no[3:])


@pytest.mark.parametrize("text", ["", "26M", "26X-000001-3", "M26-000001-1", "26M-00001-1", "26M-000001-12"])
def test_not_a_file_number(text):
    with pytest.raises(BadArguments):
        parse_file_no(text)
