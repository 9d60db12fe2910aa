"""Acknowledgment letters: one bilingual page (French first) per registration, for the mail.

A candidate without Internet learns by this letter that the application arrived, its file
number, the date that decides its place and, when something is missing, exactly what to fix
(the validator's own messages). The letter is drawn straight on a reportlab canvas with the
built-in Helvetica (no font files to load): it is written inside every intake and must cost
a few milliseconds. A name or an address Helvetica cannot say (ŁUKASIEWICZ, NGUYỄN) is set in
DejaVu Sans instead (forms.fonts.text_font), that line only. Nothing here touches the database:
the service hands a `LetterContent`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterable

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.units import inch
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

from errors import StorageError
from forms.fonts import text_font
from registry.store import write_atomically

PAGE_WIDTH, PAGE_HEIGHT = LETTER  # North-American letter paper, folded in three

# The recipient's address sits where a #10 window envelope shows it once the page is folded
# in three: that window (4 1/2 x 1 1/8 in) lies 7/8 in from the envelope's left edge and
# 1/2 in from its bottom, which on the top third of the page is about 2.05 to 3.15 in from
# the top edge. The block starts a little inside it (margin for the page sliding in the
# envelope) and holds at most five lines.
ADDRESS_LEFT = 1.0 * inch
ADDRESS_TOP = PAGE_HEIGHT - 2.2 * inch
ADDRESS_WIDTH = 4.0 * inch
ADDRESS_LINES = 5
ADDRESS_LEADING = 11.0

MARGIN = 0.9 * inch
BODY_WIDTH = PAGE_WIDTH - 2 * MARGIN

SENDER = (
    "Gouvernement du Québec — Certificat de sélection du Québec (CSQ)",
    "Government of Québec — Québec Selection Certificate (CSQ)",
    "Réception des demandes / Application intake",
)

CHANNEL_TEXT = {"mail": ("par la poste", "by mail"), "online": ("en ligne", "online")}

STATUS_TEXT = {
    "received": ("Reçue ; sa lecture reste à faire.", "Received; it is yet to be read."),
    "in_review": ("En vérification : un agent confirme les renseignements lus. Votre place est conservée.",
                  "Being verified: an officer confirms what was read. Your place is kept."),
    "complete": ("Complète.", "Complete."),
    "incomplete": ("Incomplète : corrigez les points ci-dessous.", "Incomplete: fix the points below."),
    "premature": ("Reçue avant l'ouverture de la période de dépôt : non admissible, elle vous est retournée.",
                  "Received before the intake opened: not eligible, it is returned to you."),
    "late": ("Reçue après la clôture de la période de dépôt : non admissible.",
             "Received after the intake closed: not eligible."),
    "ranked": ("Complète et retenue dans le nombre de places.", "Complete and within the number of places."),
    "beyond_cap": ("Complète, au-delà du nombre de places.", "Complete, beyond the number of places."),
    "withdrawn": ("Retirée.", "Withdrawn."),
    "duplicate": ("Vous avez déjà une demande : celle-ci y est jointe comme doublon.",
                  "You already have an application: this one is joined to it as a duplicate."),
}

RULE_TEXT = {
    "postmark": ("date du cachet postal", "postmark date"),
    "separator_postmark": ("date du cachet postal", "postmark date"),
    "postmark_set_by_supervisor": ("date du cachet postal (vérifiée)", "postmark date (verified)"),
    "illegible_postmark:received_date": ("cachet illisible ou absent : date de réception",
                                         "postmark illegible or missing: date received"),
    "submitted_at": ("date de transmission en ligne (heure du Québec)", "date submitted online (Québec time)"),
}


@dataclass(frozen=True)
class LetterProblem:
    fr: str
    en: str


@dataclass(frozen=True)
class LetterContent:
    file_no: str
    channel: str
    status: str
    issued_on: date
    received_date: date | None
    postmark_date: date | None
    postmark_illegible: bool
    submitted_at: str | None  # already in Québec time, e.g. '2026-02-16 09:30'
    priority_date: date
    priority_rule: str
    recipient: tuple[str, ...]  # name then address lines, as read
    problems: tuple[LetterProblem, ...] = ()
    duplicate_of: str | None = None


def _fmt(day: date | None) -> str:
    return day.isoformat() if day else "—"


def _facts(c: LetterContent) -> list[tuple[str, str, str]]:
    """(French label, English label, value) lines of the letter's summary."""
    rule_fr, rule_en = RULE_TEXT.get(c.priority_rule, (c.priority_rule, c.priority_rule))
    channel_fr, channel_en = CHANNEL_TEXT[c.channel]
    facts = [
        ("Numéro de dossier", "File number", c.file_no),
        ("Reçue", "Received", f"{channel_fr} / {channel_en}"),
    ]
    if c.channel == "mail":
        facts.append(("Date de réception", "Date received", _fmt(c.received_date)))
        postmark = "illisible ou absent / illegible or missing" if c.postmark_illegible else _fmt(c.postmark_date)
        facts.append(("Cachet postal", "Postmark", postmark))
    else:
        facts.append(("Transmise le", "Submitted on", c.submitted_at or "—"))
    facts.append(("Date de priorité", "Priority date", f"{_fmt(c.priority_date)} ({rule_fr} / {rule_en})"))
    return facts


class _Writer:
    """A cursor down the page that starts a new page when it runs out of room."""

    def __init__(self, pdf: canvas.Canvas, file_no: str):
        self.pdf = pdf
        self.file_no = file_no
        self.y = 0.0

    def need(self, height: float) -> None:
        if self.y - height < MARGIN:
            self.pdf.showPage()
            self.pdf.setFont("Helvetica", 8)
            self.pdf.drawString(MARGIN, PAGE_HEIGHT - 0.6 * inch, f"Dossier / File {self.file_no} (suite / continued)")
            self.y = PAGE_HEIGHT - 0.9 * inch

    def paragraph(self, text: str, *, font: str = "Helvetica", size: float = 9.5, indent: float = 0.0, gap: float = 2.0) -> None:
        font = text_font(text, font)  # a validator message may quote the letters of a name
        lines = simpleSplit(text, font, size, BODY_WIDTH - indent)
        leading = size * 1.25
        for line in lines:
            self.need(leading)
            self.pdf.setFont(font, size)
            self.y -= leading
            self.pdf.drawString(MARGIN + indent, self.y, line)
        self.y -= gap


def render_letter(c: LetterContent) -> bytes:
    """The letter as PDF bytes."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=LETTER, pageCompression=1)
    pdf.setTitle(f"Accusé de réception / Acknowledgment — {c.file_no}")
    pdf.setAuthor("csq-intake")

    pdf.setFont("Helvetica-Bold", 9)
    y = PAGE_HEIGHT - 0.6 * inch
    for i, line in enumerate(SENDER):
        pdf.setFont("Helvetica-Bold" if i < 2 else "Helvetica", 8.5)
        pdf.drawString(MARGIN, y, line)
        y -= 10.5
    pdf.setFont("Helvetica", 9)
    pdf.drawRightString(PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 0.6 * inch, f"Le / On {c.issued_on.isoformat()}")
    pdf.drawRightString(PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 0.6 * inch - 11, f"Dossier / File {c.file_no}")

    # Recipient, in the window of a #10 envelope (see ADDRESS_* above).
    y = ADDRESS_TOP
    for line in [r for r in c.recipient if r][:ADDRESS_LINES]:
        y -= ADDRESS_LEADING
        font = text_font(line)
        pdf.setFont(font, 10)
        pdf.drawString(ADDRESS_LEFT, y, simpleSplit(line, font, 10, ADDRESS_WIDTH)[0])

    w = _Writer(pdf, c.file_no)
    w.y = PAGE_HEIGHT - 3.6 * inch
    w.paragraph("Accusé de réception de votre demande de certificat de sélection du Québec", font="Helvetica-Bold", size=11.5, gap=0)
    w.paragraph("Acknowledgment of receipt of your application for a Québec Selection Certificate", font="Helvetica-Oblique", size=10, gap=8)
    for fr, en, value in _facts(c):
        w.need(13)
        pdf.setFont("Helvetica-Bold", 9.5)
        w.y -= 13
        pdf.drawString(MARGIN, w.y, f"{fr} / {en}")
        pdf.setFont("Helvetica", 9.5)
        pdf.drawString(MARGIN + 2.4 * inch, w.y, simpleSplit(value, "Helvetica", 9.5, BODY_WIDTH - 2.4 * inch)[0])
    w.y -= 8

    status_fr, status_en = STATUS_TEXT[c.status]
    if c.status == "duplicate" and c.duplicate_of:
        status_fr += f" (dossier {c.duplicate_of})"
        status_en += f" (file {c.duplicate_of})"
    w.paragraph(f"État de la demande : {status_fr}", font="Helvetica-Bold", size=10, gap=0)
    w.paragraph(f"Status: {status_en}", font="Helvetica-Oblique", size=9.5, gap=8)

    if c.problems:
        w.paragraph("À corriger — envoyez les renseignements manquants en indiquant votre numéro de dossier :", font="Helvetica-Bold", size=10, gap=0)
        w.paragraph("To fix — send the missing information, quoting your file number:", font="Helvetica-Oblique", size=9.5, gap=4)
        for problem in c.problems:
            w.paragraph(f"• {problem.fr}", size=9.5, indent=10, gap=0)
            w.paragraph(problem.en, font="Helvetica-Oblique", size=9, indent=18, gap=3)
        w.y -= 4

    w.paragraph(
        "Conservez ce numéro de dossier : il vous sera demandé pour toute communication. La date de priorité "
        "détermine votre place ; entre des demandes de même date, l'ordre est fixé par un tirage reproductible publié.",
        size=8.5, gap=1,
    )
    w.paragraph(
        "Keep this file number: you will be asked for it in every exchange. The priority date decides your place; "
        "among applications of the same date, the order is set by a published, reproducible draw.",
        font="Helvetica-Oblique", size=8.5,
    )
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def write_letter(path: Path, content: LetterContent) -> Path:
    write_atomically(path, render_letter(content))
    return path


def concatenate(paths: Iterable[Path], out: Path) -> Path:
    """One PDF with every page of `paths`, in order (written atomically)."""
    import pypdfium2 as pdfium

    combined = pdfium.PdfDocument.new()
    try:
        for path in paths:
            try:
                source = pdfium.PdfDocument(str(path))
            except (pdfium.PdfiumError, OSError) as exc:
                raise StorageError(f"cannot read the letter {path} ({exc}): run `csq letters print` again to rewrite it") from None
            try:
                combined.import_pages(source)
            finally:
                source.close()
        buffer = io.BytesIO()
        combined.save(buffer)
    finally:
        combined.close()
    write_atomically(Path(out), buffer.getvalue())
    return Path(out)
