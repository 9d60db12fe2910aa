"""Serial numbers of separator sheets: 8 random Crockford base32 characters and a check character.

The serial tells one printed separator sheet from every other, so that a sheet scanned twice
or an envelope split wrongly can be noticed. Crockford's alphabet has no I, L, O or U, so a
clerk who copies a serial by hand cannot confuse letters with digits; the check character
(Luhn mod 32) catches any single wrong character and most swapped neighbours.
"""

from __future__ import annotations

import os

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_CHARS = 8  # 40 random bits: a collision is unlikely over millions of sheets
SERIAL_CHARS = BODY_CHARS + 1
# What a person may type for a Crockford character (the spec's decoding aliases).
_ALIASES = {"O": "0", "I": "1", "L": "1"}


def _luhn_sum(chars: str, first_factor: int) -> int:
    """Luhn mod N over the alphabet, factors 1 and 2 alternating from the right."""
    n = len(ALPHABET)
    total, factor = 0, first_factor
    for ch in reversed(chars):
        addend = factor * ALPHABET.index(ch)
        total += addend // n + addend % n
        factor = 3 - factor
    return total % n


def _check_char(body: str) -> str:
    return ALPHABET[(-_luhn_sum(body, 2)) % len(ALPHABET)]


def normalize_separator_serial(text: str) -> str:
    """The canonical serial of what a person typed: upper case, no spaces or hyphens, aliases
    O→0 and I/L→1 resolved. It is not checked here."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -")
    return "".join(_ALIASES.get(ch, ch) for ch in cleaned)


def new_separator_serial() -> str:
    value = int.from_bytes(os.urandom(5), "big")
    body = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(BODY_CHARS)))
    return body + _check_char(body)


def check_separator_serial(serial: str) -> bool:
    """True if `serial` (as printed, or as typed with spaces, hyphens or lower case) is well formed
    and its check character matches."""
    if not isinstance(serial, str):
        return False
    s = normalize_separator_serial(serial)
    if len(s) != SERIAL_CHARS or any(ch not in ALPHABET for ch in s):
        return False
    return _luhn_sum(s, 1) == 0


def grouped(serial: str) -> str:
    """The serial as printed for people: 'ABCD EFGH K'."""
    return f"{serial[:4]} {serial[4:8]} {serial[8:]}"
