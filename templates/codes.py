"""What the barcodes on our paper say, and how to read it back.

Two kinds of codes, both QR:
- the page code, printed twice on every page: which form, version, page, the geometry
  fingerprint, and for a prefilled form the id of its data document (so that pages of two
  applicants mixed in one envelope can be told apart); on a separator, the sheet's serial;
- the data codes of a prefilled page: that page's field values, compressed, with the
  document id and a CRC, in QR alphanumeric mode (base45, RFC 9285) to keep symbols small.

forms/ encodes, scan/ decodes; both through this module only.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass

from errors import UnreadablePage

PAGE_CODE_PREFIX = "CSQ1"
DATA_CODE_PREFIX = "CSQD1"
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
# One data symbol carries at most this many characters; more is split into several symbols.
MAX_DATA_CHARS_PER_SYMBOL = 420


def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = n % 45, n // 45
        d, e = n % 45, n // 45
        out += [B45[c], B45[d], B45[e]]
    if len(data) % 2:
        n = data[-1]
        out += [B45[n % 45], B45[n // 45]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    try:
        values = [B45.index(ch) for ch in text]
    except ValueError as exc:
        raise ValueError("not base45") from exc
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 2025
            if n > 0xFFFF:
                raise ValueError("base45 triple out of range")
            out += bytes([n // 256, n % 256])
        elif len(chunk) == 2:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise ValueError("base45 pair out of range")
            out.append(n)
        else:
            raise ValueError("base45 length")
    return bytes(out)


@dataclass(frozen=True)
class PageCode:
    form_id: str
    version: str
    page_no: int  # 1-based, as printed
    page_count: int
    fingerprint: str
    document_id: str | None = None  # prefilled forms only
    serial: str | None = None  # separator sheets only

    def encode(self) -> str:
        parts = [PAGE_CODE_PREFIX, self.form_id, self.version, f"{self.page_no}/{self.page_count}", self.fingerprint]
        if self.document_id:
            parts.append(f"D{self.document_id}")
        if self.serial:
            parts.append(f"S{self.serial}")
        return "|".join(parts)

    @classmethod
    def decode(cls, text: str) -> "PageCode":
        parts = text.split("|")
        if len(parts) < 5 or parts[0] != PAGE_CODE_PREFIX:
            raise UnreadablePage(f"this code is not a csq-intake page code: {text[:40]!r}")
        try:
            page_no, page_count = (int(v) for v in parts[3].split("/"))
        except ValueError as exc:
            raise UnreadablePage(f"damaged page number in page code {text[:40]!r}") from exc
        extra = {p[0]: p[1:] for p in parts[5:] if p}
        return cls(parts[1], parts[2], page_no, page_count, parts[4], extra.get("D"), extra.get("S"))


def document_id(fields: dict) -> str:
    """A short id of a data document: the same values always give the same id."""
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:8].upper()


@dataclass(frozen=True)
class PageData:
    form_id: str
    version: str
    page_no: int
    document_id: str
    fields: dict


def encode_page_data(data: PageData) -> list[str]:
    """The texts of the data symbols for one prefilled page (usually one, more if long)."""
    body = json.dumps(data.fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    packed = zlib.compress(body, 9)
    crc = zlib.crc32(body)
    payload = b45encode(packed + crc.to_bytes(4, "big"))
    head = f"{DATA_CODE_PREFIX}:{data.form_id.upper()}:{data.version}:{data.page_no}:{data.document_id}"
    size = MAX_DATA_CHARS_PER_SYMBOL
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [""]
    n = len(chunks)
    return [f"{head}:{k + 1}/{n}:{chunk}" for k, chunk in enumerate(chunks)]


def is_data_code(text: str) -> bool:
    return text.startswith(DATA_CODE_PREFIX + ":")


def decode_page_data(texts: list[str]) -> PageData:
    """Join and check the data symbols of one page. Raises UnreadablePage if any is missing
    or the CRC does not match: a damaged barcode must never yield a wrong value."""
    parsed = {}
    head = None
    total = None
    for text in texts:
        parts = text.split(":", 6)
        if len(parts) != 7 or parts[0] != DATA_CODE_PREFIX:
            raise UnreadablePage(f"not a csq-intake data code: {text[:40]!r}")
        this_head = tuple(parts[1:5])
        k, n = (int(v) for v in parts[5].split("/"))
        if head is not None and (this_head != head or n != total):
            raise UnreadablePage("data codes of two different pages or documents were mixed")
        head, total = this_head, n
        parsed[k] = parts[6]
    if head is None or total is None or sorted(parsed) != list(range(1, total + 1)):
        raise UnreadablePage(f"only {len(parsed)} of {total or '?'} data codes could be read")
    raw = b45decode("".join(parsed[k] for k in range(1, total + 1)))
    try:
        body = zlib.decompress(raw[:-4])
    except zlib.error as exc:
        raise UnreadablePage("data code damaged (cannot decompress)") from exc
    if zlib.crc32(body) != int.from_bytes(raw[-4:], "big"):
        raise UnreadablePage("data code damaged (checksum mismatch)")
    form_id, version, page_no, doc = head
    return PageData(form_id.lower(), version, int(page_no), doc, json.loads(body.decode()))
