"""What the scanner hands to the registry: plain frozen values, standard library only.

scan/ produces an `EnvelopeReading` per envelope; registry/ stores it. This module must
stay free of opencv and numpy so that registry/ can import it without pulling them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

Box = tuple[float, float, float, float]

SOURCES = ("ocr", "omr", "barcode")
PAGE_KINDS = ("form", "separator", "supporting", "blank", "foreign", "unreadable")


@dataclass(frozen=True)
class FieldReading:
    """One field as the machine read it, with its evidence and how sure it is."""

    name: str
    value: str | bool | None  # normalized: ISO date, option value, bool, upper-case text; None = empty
    raw: str  # what was read before parsing, e.g. '19900417', 'ticked:F', 'fill=0.31'
    source: str  # one of SOURCES
    confidence: float  # 0..1, calibrated: the chance the value is right
    needs_review: bool
    reasons: tuple[str, ...] = ()  # why a person must look: 'low_confidence', 'rule:<id>', 'pattern', ...
    page_no: int | None = None  # 1-based form page where it was read
    box: Box | None = None  # field bounds in PDF points on that page: the review station crops it
    evidence: str = ""  # raw metrics as compact JSON (per-cell probabilities, fill ratios)


@dataclass(frozen=True)
class PageRecord:
    """One scanned page of an envelope, identified and (for form pages) aligned."""

    sequence: int  # position in the envelope as scanned, 0-based
    source_file: str
    source_page: int  # 0-based page (or frame) within source_file
    kind: str  # one of PAGE_KINDS
    pixels_sha256: str  # hash of the decoded scan pixels: the same paper scanned twice hashes the same
    # Registries from before scans were kept as received, and made-up readings: the page as a PNG
    # (form pages aligned upright at 200 dpi; others upright, downscaled). The reader leaves it empty.
    image_png: bytes = b""
    form_id: str | None = None
    version: str | None = None
    page_no: int | None = None  # 1-based, from the page code
    document_id: str | None = None  # prefilled forms
    rotation: int = 0  # degrees the scan was turned to be upright
    problems: tuple[str, ...] = ()
    # How to show the page again from source_file as received (scan.render.PageView as JSON).
    view: str = ""


@dataclass(frozen=True)
class SeparatorReading:
    serial: str
    postmark_date: FieldReading  # value ISO date or None
    postmark_illegible: FieldReading  # value bool
    received_date: FieldReading
    page: PageRecord


@dataclass(frozen=True)
class EnvelopeReading:
    """Everything read from one envelope's pages: ONE application (plus supporting pages)."""

    fingerprint: str  # sha256 over the sorted pixels_sha256 of its pages: re-scans are recognised
    pages: tuple[PageRecord, ...]
    fields: tuple[FieldReading, ...]  # one per template field, empty ones included
    form_id: str | None = None
    version: str | None = None
    problems: tuple[str, ...] = ()  # envelope-level: missing / duplicated / foreign / blank pages
    separator: SeparatorReading | None = None  # batch scans only
    envelope_image_png: bytes | None = None

    def field(self, name: str) -> FieldReading | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def needs_review(self) -> list[str]:
        return [f.name for f in self.fields if f.needs_review]


@dataclass(frozen=True)
class IntakeResult:
    """What `csq scan ingest --json` prints for one envelope (docs/interface.md)."""

    file_no: str
    status: str
    pages: int
    needs_review: list[str] = field(default_factory=list)
    created: bool = True  # False when the same envelope had been registered before
    problems: list[str] = field(default_factory=list)
    postmark_date: date | None = None

    def to_json(self) -> dict:
        return {
            "file_no": self.file_no,
            "status": self.status,
            "pages": self.pages,
            "needs_review": list(self.needs_review),
            "created": self.created,
            "problems": list(self.problems),
            "postmark_date": self.postmark_date.isoformat() if self.postmark_date else None,
        }
