"""File numbers: what a candidate copies onto every letter and phone call, so a slip is caught.

Format `YYC-NNNNNN-K`, e.g. `26M-000123-5`:
  YY      the last two digits of the intake year (the year the envelope was received or the
          online form submitted);
  C       the channel: M (mail, courrier) or O (online, en ligne);
  NNNNNN  a sequence per year and channel, six digits (more only past 999,999);
  K       a Damm check digit over the digits YY, the channel's code digit and NNNNNN.

Why Damm: like mod 11 and Verhoeff it detects every single wrong digit and every swap of
two adjacent digits (Luhn misses 09<->90), and unlike mod 11 it never needs an 11th symbol
('X'). The channel letter takes part through its code digit, so M typed for O is caught too.
People often write the letter O as a zero: `parse_file_no` reads a 0 in the letter's place
as O, which is safe because the check digit still has to agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from errors import BadArguments

# The totally anti-symmetric quasigroup of order 10 from H. Michael Damm (2004), as published.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

CHANNEL_LETTERS = {"mail": "M", "online": "O"}
# The digit each channel letter stands for inside the check-digit computation.
_LETTER_CODE = {"M": "1", "O": "2"}

_PATTERN = re.compile(r"(\d{2})([A-Z0-9])-?(\d{6,9})-?(\d)")


def damm_check_digit(digits: str) -> str:
    """The digit that, appended to `digits`, makes the Damm checksum zero."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return str(interim)


def damm_is_valid(digits_with_check: str) -> bool:
    return damm_check_digit(digits_with_check) == "0"


@dataclass(frozen=True)
class FileNumber:
    year: int  # two digits, 0..99
    channel: str  # mail | online
    sequence: int

    @property
    def letter(self) -> str:
        return CHANNEL_LETTERS[self.channel]

    @property
    def payload_digits(self) -> str:
        """The digits the check digit protects."""
        return f"{self.year:02d}{_LETTER_CODE[self.letter]}{self.sequence:06d}"

    def __str__(self) -> str:
        return f"{self.year:02d}{self.letter}-{self.sequence:06d}-{damm_check_digit(self.payload_digits)}"


def format_file_no(year: int, channel: str, sequence: int) -> str:
    """`format_file_no(2026, 'mail', 123)` -> '26M-000123-5'."""
    if channel not in CHANNEL_LETTERS:
        raise ValueError(f"unknown channel {channel!r}")
    if sequence < 1:
        raise ValueError("file number sequences start at 1")
    return str(FileNumber(year % 100, channel, sequence))


def parse_file_no(text: str) -> FileNumber:
    """The file number a person typed, checked; BadArguments says what is wrong with it."""
    cleaned = "".join(str(text).split()).upper()
    m = _PATTERN.fullmatch(cleaned)
    if not m:
        raise BadArguments(f"{text!r} is not a file number: it looks like 26M-000123-5 (year, M or O, six digits, check digit)")
    yy, letter, seq, check = m.groups()
    if letter == "0":  # a zero written for the letter O
        letter = "O"
    if letter not in _LETTER_CODE:
        raise BadArguments(f"{text!r}: the letter after the year must be M (mail) or O (online)")
    channel = {v: k for k, v in CHANNEL_LETTERS.items()}[letter]
    number = FileNumber(int(yy), channel, int(seq))
    if not damm_is_valid(number.payload_digits + check):
        raise BadArguments(f"{text!r}: the check digit does not match; a digit was probably mistyped or two were swapped")
    return number


def normalize_file_no(text: str) -> str:
    """The canonical spelling of a typed file number (raises BadArguments if it is not one)."""
    return str(parse_file_no(text))
