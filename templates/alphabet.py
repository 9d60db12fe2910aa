"""The characters a text field accepts, and names compared without their accents.

A text field holds what a passport prints: any capital letter of the Latin script (Latin-1
Supplement, Latin Extended-A and -B, Latin Extended Additional with the Vietnamese tone
marks...), digits 0-9 and a little punctuation. That is a rule over Unicode properties, not a
hand list, so ŁUKASIEWICZ, ÇAĞLAYAN and NGUYỄN are accepted like GAGNÉ. Values are kept NFC
(one code point per letter, as a comb box holds one letter).

What the reader (ICR, Tesseract) can name is a different, finite set: templates.spec's
TEXT_CHARSET and LETTER_CHARSET. A letter outside it is still valid; a person reads it.

`fold` is the one way to compare people's names and numbers without their accents
(GARCÍA LÓPEZ = GARCIA LOPEZ, ŁÓDŹ = LODZ, ØSTERGÅRD = OSTERGARD, STRAẞE = STRASSE).
"""

from __future__ import annotations

import re
import unicodedata

DIGITS = "0123456789"
# Besides letters and digits: space, hyphen, apostrophe, full stop, '@' and '/' (docs/interface.md).
TEXT_PUNCTUATION = " -'.@/"
# What a validation message calls the accepted characters (French, English).
TEXT_WORDS = (
    "lettres majuscules de l'alphabet latin, accents compris (É, Á, Ñ, Ł, Ø, Ş, Ễ…), chiffres, espace, - ' . @ /",
    "capital letters of the Latin alphabet, accents included (É, Á, Ñ, Ł, Ø, Ş, Ễ…), digits, space, - ' . @ /",
)
DIGIT_WORDS = ("chiffres 0 à 9", "digits 0 to 9")

# Latin letters that NFKD does not take apart, and the letters a person writes for them.
_FOLD_TABLE = {
    "ß": "SS", "ẞ": "SS", "Þ": "TH", "þ": "TH", "Ð": "D", "ð": "D", "ı": "I", "ĸ": "K",
    "Ŋ": "N", "ŋ": "N", "Ŀ": "L", "ŀ": "L", "ŉ": "N",
}
# Letters named after their base letter ('LATIN CAPITAL LETTER L WITH STROKE': Ł is an L;
# 'LATIN CAPITAL LETTER AE': Æ is AE; 'LATIN CAPITAL LIGATURE OE': Œ is OE).
_BASE_NAME = re.compile(r"LATIN (?:CAPITAL|SMALL) (?:LETTER|LIGATURE) ([A-Z]{1,2})(?: WITH .*)?")


def is_latin_capital(ch: str) -> bool:
    """One code point, an upper-case letter of the Latin script (A, É, Ł, Ø, Ş, Ễ, Ǆ...)."""
    if len(ch) != 1 or unicodedata.category(ch) != "Lu":
        return False
    # The script by the character's name: 'LATIN CAPITAL LETTER L WITH STROKE', 'LATIN LETTER YR';
    # not 'FULLWIDTH LATIN CAPITAL LETTER A' nor 'CYRILLIC CAPITAL LETTER A', which only look alike.
    return unicodedata.name(ch, "").startswith("LATIN ")


def text_character_allowed(ch: str) -> bool:
    """A character a text field may hold: a Latin capital, a digit 0-9 or TEXT_PUNCTUATION."""
    return ch in DIGITS or ch in TEXT_PUNCTUATION or is_latin_capital(ch)


def refused_characters(value: str, kind: str) -> list[str]:
    """The characters of `value` a field of this kind ('text' or 'digits') refuses, each once, sorted."""
    allowed = text_character_allowed if kind == "text" else DIGITS.__contains__
    return sorted({ch for ch in value if not allowed(ch)})


def as_written(value: str) -> str:
    """A text value as stored: NFC, upper case (the upper case of a letter can decompose, as ǰ
    gives J + caron: composed again)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).upper())


def _fold_char(ch: str) -> str:
    if ch.isascii():
        return ch
    m = _BASE_NAME.fullmatch(unicodedata.name(ch, ""))
    return m.group(1) if m else ch


def fold(text: str) -> str:
    """`text` without accents or special letters, upper case: what two spellings of one name
    share (GARCÍA LÓPEZ and GARCIA LOPEZ, MAŁGORZATA and MALGORZATA, SØREN and SOREN).
    Compatibility decomposition (NFKD) takes off the marks; letters that do not decompose
    (Ł, Ø, Æ, ß, Đ...) become their base letters."""
    decomposed = unicodedata.normalize("NFKD", "".join(_FOLD_TABLE.get(ch, ch) for ch in text))
    kept = "".join(_fold_char(ch) for ch in decomposed if not unicodedata.combining(ch))
    return kept.upper()
