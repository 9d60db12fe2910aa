"""Hostile and broken input through the command line (`scan ingest`, `scan batch`, `online
submit`, `forms prefill`): every case is a real `python -m cli` process on its own copy of a
registry that already holds one application.

A refusal must be: the exit code of its kind (errors.ExitCode), ONE line on stderr naming
the file (and page where there is one) and saying what to do, no traceback, and the
registry exactly as it was (every table dumped, every stored file hashed, before and after).

Some input is not an error: a duplicated page, pages of two applicants, pages of another
form version, blank pages, a fax-quality scan, a PDF carrying JavaScript. The envelope still
arrived and its postmark counts, so it is registered, with the problem flagged for a person
(`problems`, fields to review); those cases say so and check the flag instead.

The security checks are here too: no personal data in what an ingest writes on stderr, and
no file path taken from input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from errors import ExitCode
from registry.service import Registry
from test_cli import ROOT
from test_registry import person

RECEIVED = "2026-03-02"
# A transient state of the development machine (the ICR model is being retrained): the
# scanner warns once per process. Not an error line; everything else on stderr counts.
TRANSIENT = ("csq scan: warning: handprint recognizer unavailable",)


# ------------------------------------------------------------------------------ inputs


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, idat: bytes, *, crc_ok: bool = True) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = _chunk(b"IDAT", idat)
    if not crc_ok:
        body = body[:-4] + b"\x00\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + body + _chunk(b"IEND", b"")


def bomb_png(width: int, height: int) -> bytes:
    """Huge dimensions, a few KB on disk: rows of zeros compress ~1000:1 (only the start is there)."""
    co = zlib.compressobj(9)
    return png_bytes(width, height, co.compress(b"\x00" * (width + 1) * 16) + co.flush())


def tiff_with_bad_tags() -> bytes:
    """A TIFF whose strip lies far outside the file."""
    entries = [(256, 4, 1, 100), (257, 4, 1, 100), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 0xFFFFFF00), (278, 4, 1, 100), (279, 4, 1, 10000)]
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    out += b"".join(struct.pack("<HHII", *e) for e in entries)
    return out + struct.pack("<I", 0)


def tiff_bomb() -> bytes:
    """A TIFF whose tags say 200,000 x 200,000 pixels."""
    entries = [(256, 4, 1, 200_000), (257, 4, 1, 200_000), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 122), (278, 4, 1, 1), (279, 4, 1, 200_000)]
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    out += b"".join(struct.pack("<HHII", *e) for e in entries)
    return out + struct.pack("<I", 0) + b"\x00" * 64


def raw_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF written by hand, with a correct cross-reference table."""
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def javascript_pdf() -> bytes:
    """A page with text, an AcroForm field, JavaScript run on opening and on the field."""
    content = b"BT /F1 24 Tf 72 700 Td (Please open me) Tj ET"
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /AcroForm << /Fields [6 0 R] /NeedAppearances true >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Annots [6 0 R]"
        b" /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /S /JavaScript /JS (app.alert('csq'); this.submitForm('http://127.0.0.1:9/x');) >>",
        b"<< /FT /Tx /T (name) /Rect [72 600 300 620] /Subtype /Widget /P 3 0 R"
        b" /AA << /K << /S /JavaScript /JS (app.launchURL('http://127.0.0.1:9/');) >> >> >>",
    ])


def pdf_pages(sources: list[tuple[Path, int]], out: Path) -> Path:
    """A PDF of the given (pdf, page index) pages, in that order."""
    new = pdfium.PdfDocument.new()
    opened = {}
    for path, index in sources:
        if path not in opened:
            opened[path] = pdfium.PdfDocument(str(path))
        new.import_pages(opened[path], [index])
    new.save(str(out))
    new.close()
    for doc in opened.values():
        doc.close()
    return out


def foreign_version_page(out: Path) -> Path:
    """Page 2 of the form as another version of it would print (its page code says 2025.9)."""
    from reportlab.pdfgen.canvas import Canvas

    from forms import draw
    from templates.codes import PageCode
    from templates.spec import load_form

    form = load_form()
    page = form.pages[1]
    c = Canvas(str(out), pagesize=(page.width_pt, page.height_pt), invariant=1)
    draw.draw_page(c, form, page, "fr", PageCode(form.form_id, "2025.9", 2, page.page_count, page.fingerprint).encode())
    c.showPage()
    c.save()
    return out


def fax_scan(pdf: Path, out: Path) -> Path:
    """Page 1 as a fax sends it: 100 dpi, black and white, slightly skewed, G4 TIFF."""
    with pdfium.PdfDocument(str(pdf)) as doc:
        grey = doc[0].render(scale=100 / 72, grayscale=True).to_pil().convert("L")
    bw = grey.rotate(0.8, expand=False, fillcolor=255).point(lambda v: 255 if v > 150 else 0).convert("1")
    bw.save(out, compression="group4", dpi=(100, 100))
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    from forms.render import prefill_pdf, separator_pdf
    from samples.paper import seeded_separator_serial

    d = tmp_path_factory.mktemp("inputs")
    w = lambda name, data: (d / name).write_bytes(data) and d / name  # noqa: E731
    good_pdf = io.BytesIO()
    from reportlab.pdfgen.canvas import Canvas

    c = Canvas(good_pdf, pagesize=(612, 792), invariant=1)
    c.drawString(72, 700, "a supporting document")
    c.showPage()
    c.save()
    good = good_pdf.getvalue()
    w("empty.pdf", b"")
    w("truncated.pdf", good[: len(good) // 2])
    from reportlab.lib import pdfencrypt

    for name, user in (("encrypted.pdf", "secret"), ("owner-only.pdf", "")):
        buf = io.BytesIO()
        c = Canvas(buf, pagesize=(612, 792), encrypt=pdfencrypt.StandardEncryption(user, ownerPassword="owner", canPrint=0))
        c.drawString(72, 700, "locked")
        c.showPage()
        c.save()
        w(name, buf.getvalue())
    w("zero-pages.pdf", raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]))
    w("huge-page.pdf", raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] >>"]))
    w("javascript.pdf", javascript_pdf())
    w("bomb.png", bomb_png(100_000, 100_000))
    w("bomb-just-over.png", bomb_png(15_000, 14_000))  # 210 Mpx: over the 200 Mpx limit, under Pillow's own 2x
    w("bad-crc.png", png_bytes(8, 8, zlib.compress(b"\x00\xff" * 36), crc_ok=False))
    w("bad-tags.tif", tiff_with_bad_tags())
    Image.new("L", (40, 60), 255).save(d / "icon-40x60.png")  # issue 11: not a page at any resolution
    Image.new("1", (143, 900), 1).save(d / "strip-143px.tif", compression="group4")
    w("label-1x1.5in.pdf", raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 108] >>"]))
    w("bomb.tif", tiff_bomb())
    w("text.jpg", b"this is not a picture\n")
    w("picture.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    white = Image.new("L", (1700, 2200), 255)
    for k in (1, 2):
        white.save(d / f"blank-{k}.png", dpi=(200, 200))
    buf = io.BytesIO()
    Image.new("L", (1700, 2200), 128).save(buf, "JPEG", dpi=(200, 200))
    w("truncated.jpg", buf.getvalue()[:600])
    w("png-named.pdf", (d / "blank-1.png").read_bytes())
    (d / "a-folder").mkdir()

    a = prefill_pdf(person(1), d / "person-a.pdf")
    b = prefill_pdf(person(2, family_name="BOUCHARD", passport_number="EH7654321"), d / "person-b.pdf")
    rng = np.random.default_rng(6)
    separator_pdf(d / "separators.pdf", serials=[seeded_separator_serial(rng) for _ in range(2)])
    pdf_pages([(a, 0), (a, 1), (a, 1)], d / "duplicated-page.pdf")
    pdf_pages([(a, 0), (b, 1)], d / "two-applicants.pdf")
    foreign_version_page(d / "foreign-page.pdf")
    pdf_pages([(a, 0), (d / "foreign-page.pdf", 0)], d / "foreign-version.pdf")
    fax_scan(a, d / "fax-100dpi.tif")
    pdf_pages([(a, 0), (d / "separators.pdf", 0)], d / "stack-without-separator-first.pdf")
    pdf_pages([(d / "separators.pdf", 0), (a, 0), (d / "separators.pdf", 1)], d / "stack-last-separator-empty.pdf")
    # Data documents
    (d / "invalid.json").write_text('{"fields": {"family_name": "TREMBLAY",}}', encoding="utf-8")
    (d / "empty.json").write_text("", encoding="utf-8")
    (d / "latin1.json").write_bytes('{"fields": {"family_name": "GAGNÉ"}}'.encode("latin-1"))
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (d / "huge-number.json").write_text('{"fields": {"children_count": ' + "9" * 5000 + "}}", encoding="utf-8")
    (d / "list.json").write_text("[1, 2, 3]", encoding="utf-8")
    (d / "unknown.json").write_text(json.dumps({"fields": {**person(3)["fields"], "favourite_colour": "BLUE"}}), encoding="utf-8")
    (d / "ten-mb.json").write_text(json.dumps({"fields": {f"k{i:06d}": "x" * 20 for i in range(350_000)}}), encoding="utf-8")
    (d / "ten-mb-value.json").write_text(json.dumps({"fields": {**person(4)["fields"], "family_name": "A" * 10_000_000}}), encoding="utf-8")
    (d / "ten-mb-key.json").write_text(json.dumps({"fields": {"A" * 10_000_000: 1}}), encoding="utf-8")
    (d / "good.json").write_text(json.dumps(person(5)), encoding="utf-8")
    return d


# ------------------------------------------------------------------------------ registry


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A registry holding one application, copied for every case."""
    d = tmp_path_factory.mktemp("template")
    with Registry.open(f"sqlite:///{d / 'registry.db'}", d / "data") as reg:  # the rules the command itself uses
        reg.submit_online(person(9), submitted_at=datetime(2026, 2, 2, 15, tzinfo=timezone.utc))
    return d


@pytest.fixture
def station(template, tmp_path) -> Path:
    folder = tmp_path / "station"
    shutil.copytree(template, folder)
    return folder


def snapshot(folder: Path) -> tuple:
    """Every row of every table, every stored file with its hash."""
    db = folder / "registry.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        dump = tuple(conn.iterdump())
    files = tuple(sorted((str(p.relative_to(folder)), hashlib.sha256(p.read_bytes()).hexdigest())
                         for p in (folder / "data").rglob("*") if p.is_file()))
    return dump, files


def csq(folder: Path, *args: str, db: str | None = None, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full = {**os.environ, "CSQ_DATA_DIR": str(folder / "data"), "PYTHONPATH": str(ROOT), "CSQ_SCAN_WORKERS": "1", **(env or {})}
    full.pop("CSQ_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "cli", "--db", db or f"sqlite:///{folder / 'registry.db'}", *args],
                          cwd=folder, env=full, capture_output=True, text=True, timeout=timeout)


def error_line(proc: subprocess.CompletedProcess, code: ExitCode) -> str:
    """The one line a refusal prints (its exit code checked), with no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(TRANSIENT)]
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("csq: error: ") and len(lines[0]) < 2000, lines[0][:3000]
    return lines[0]


def refused(station: Path, code: ExitCode, needles: tuple[str, ...], *args: str, **kw) -> str:
    before = snapshot(station)
    proc = csq(station, *args, **kw)
    line = error_line(proc, code)
    for needle in needles:
        assert needle in line, line
    assert snapshot(station) == before, "the registry changed"
    return line


# ----------------------------------------------------------------------- refused scans

I = ExitCode.input_file
U = ExitCode.unreadable_page
SCAN_REFUSALS = [
    # (case, file, exit code, what the line must say)
    ("empty file", "empty.pdf", I, ("empty.pdf", "empty", "scan it again")),
    ("missing file", "nowhere.pdf", I, ("nowhere.pdf", "no such file", "check the path")),
    ("a folder", "a-folder", I, ("a-folder", "folder", "name the files in it")),
    ("truncated PDF", "truncated.pdf", I, ("truncated.pdf", "damaged or truncated", "scan it again")),
    ("encrypted PDF", "encrypted.pdf", I, ("encrypted.pdf", "password", "decrypt it first")),
    ("PDF without pages", "zero-pages.pdf", I, ("zero-pages.pdf", "no pages", "scan it again")),
    ("PDF page of 200 inches", "huge-page.pdf", I, ("huge-page.pdf, page 1", "Mpixel", "rescan it")),
    ("decompression bomb PNG", "bomb.png", I, ("bomb.png", "Mpixel", "rescan it")),
    ("PNG just over the pixel limit", "bomb-just-over.png", I, ("bomb-just-over.png", "Mpixel", "rescan it")),
    ("PNG with a bad checksum", "bad-crc.png", I, ("bad-crc.png", "scan it again")),
    ("TIFF with bad tags", "bad-tags.tif", I, ("bad-tags.tif, page 1", "scan it again")),
    ("TIFF claiming 200,000 pixels square", "bomb.tif", I, ("bomb.tif", "Mpixel", "rescan it")),
    ("truncated JPEG", "truncated.jpg", I, ("truncated.jpg", "scan it again")),
    ("text named .jpg", "text.jpg", I, ("text.jpg", "not a PDF, TIFF, PNG or JPEG", "export the scan")),
    ("a GIF", "picture.gif", I, ("picture.gif", "not a PDF, TIFF, PNG or JPEG")),
    # far too small to be a scanned page (shorter side under a business card's at 72 dpi): unreadable
    ("a 40x60 px picture", "icon-40x60.png", U, ("icon-40x60.png", "40x60 pixels", "not a scanned page", "scan the sheet again")),
    ("a TIFF strip 143 px wide", "strip-143px.tif", U, ("strip-143px.tif, page 1", "143x900 pixels", "not a scanned page")),
    ("a PDF page of 1x1.5 inches", "label-1x1.5in.pdf", U, ("label-1x1.5in.pdf, page 1", "inches", "not a scanned page")),
]


@pytest.mark.parametrize("case, name, code, needles", SCAN_REFUSALS, ids=[c[0] for c in SCAN_REFUSALS])
def test_scan_ingest_refuses(case, name, code, needles, inputs, station):
    refused(station, code, needles, "scan", "ingest", str(inputs / name), "--postmark", "2026-02-20", "--received", RECEIVED)


def test_one_bad_file_refuses_the_whole_envelope(inputs, station):
    """A good page and a truncated file: nothing of the envelope is registered."""
    refused(station, I, ("truncated.pdf", "damaged or truncated"),
            "scan", "ingest", str(inputs / "person-a.pdf"), str(inputs / "truncated.pdf"), "--postmark", "2026-02-20")


def test_a_picture_too_small_for_a_page_refuses_the_whole_envelope(inputs, station):
    refused(station, U, ("icon-40x60.png", "not a scanned page"),
            "scan", "ingest", str(inputs / "person-a.pdf"), str(inputs / "icon-40x60.png"), "--postmark", "2026-02-17")


@pytest.mark.parametrize("case, args, needles", [
    ("postmark not a date", ["--postmark", "20-02-2026"], ("--postmark", "YYYY-MM-DD")),
    ("received not a date", ["--postmark", "2026-02-20", "--received", "yesterday"], ("--received", "YYYY-MM-DD")),
    ("postmark after received", ["--postmark", "2026-03-05", "--received", RECEIVED], ("after the date received", "check both dates")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_scan_ingest_refuses_bad_dates(case, args, needles, inputs, station):
    refused(station, ExitCode.bad_args, needles, "scan", "ingest", str(inputs / "blank-1.png"), *args)


def test_an_empty_envelope_picture_is_refused(inputs, station):
    refused(station, I, ("empty.pdf", "empty"), "scan", "ingest", str(inputs / "blank-1.png"), "--postmark", "2026-02-20",
            "--envelope", str(inputs / "empty.pdf"))


# ----------------------------------------------------------------------------- stacks


def test_a_stack_not_starting_with_a_separator(inputs, station):
    refused(station, ExitCode.incomplete_stack, ("stack-without-separator-first.pdf, page 1", "does not start with a separator",
                                                 "put a separator sheet in front of each envelope"),
            "scan", "batch", str(inputs / "stack-without-separator-first.pdf"), "--received", RECEIVED)


def test_a_stack_whose_last_separator_has_no_envelope(inputs, station):
    """Not nothing: the envelope before it is registered (and a second run does not register it
    again); the empty separator is named, exit 6."""
    before = Registry.open(f"sqlite:///{station / 'registry.db'}", station / "data")
    count = len(before.queue())
    before.close()
    for attempt in range(2):
        proc = csq(station, "scan", "batch", str(inputs / "stack-last-separator-empty.pdf"), "--received", RECEIVED)
        line = error_line(proc, ExitCode.incomplete_stack)
        assert "stack-last-separator-empty.pdf" in line and "page 3" in line and "no pages after" in line
        assert "scan the missing envelope contents behind their separator and run the stack again" in line
        with Registry.open(f"sqlite:///{station / 'registry.db'}", station / "data") as reg:
            assert len(reg.queue()) == count + 1


def test_a_batch_of_an_empty_file(inputs, station):
    refused(station, I, ("empty.pdf", "empty"), "scan", "batch", str(inputs / "empty.pdf"))


# ------------------------------------------------------------------ database and disk


def test_database_down(inputs, station):
    refused(station, ExitCode.database, ("cannot reach the registry", "127.0.0.1:1", "start the PostgreSQL server"),
            "scan", "ingest", str(inputs / "blank-1.png"), "--postmark", "2026-02-20",
            db="postgresql+psycopg://clerk:s3cret@127.0.0.1:1/x")
    proc = csq(station, "online", "submit", str(inputs / "good.json"), db="postgresql+psycopg://clerk:s3cret@127.0.0.1:1/x")
    assert "s3cret" not in error_line(proc, ExitCode.database)  # the password is never shown


@pytest.mark.slow
def test_database_locked(inputs, station):
    """Another program holds the SQLite registry's exclusive lock: the command waits its 30 s,
    then says so and writes nothing."""
    holder = sqlite3.connect(station / "registry.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        before_files = sorted(p.name for p in (station / "data").rglob("*"))
        proc = csq(station, "scan", "ingest", str(inputs / "blank-1.png"), "--postmark", "2026-02-20")
        line = error_line(proc, ExitCode.database)
        assert "is locked by another program" in line and "run the command again" in line
        assert sorted(p.name for p in (station / "data").rglob("*")) == before_files
    finally:
        holder.rollback()
        holder.close()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KB tmpfs: a disk that fills up (root can mount one; otherwise skipped)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_data_folder_full(inputs, station, tiny_disk):
    """The page images do not fit: refused before the registration, which stays undone."""
    before = snapshot(station)
    proc = csq(station, "scan", "ingest", str(inputs / "person-a.pdf"), "--postmark", "2026-02-20",
               env={"CSQ_DATA_DIR": str(tiny_disk)})
    line = error_line(proc, ExitCode.storage)
    assert str(tiny_disk) in line and "No space left" in line and "the disk has room" in line
    assert snapshot(station) == before
    assert not [p for p in tiny_disk.rglob("*") if p.is_file()]  # no half-written image left behind


def test_data_folder_read_only(inputs, station, tiny_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    refused(station, ExitCode.storage, (str(tiny_disk), "writable"),
            "scan", "ingest", str(inputs / "blank-1.png"), "--postmark", "2026-02-20", env={"CSQ_DATA_DIR": str(tiny_disk)})


def test_registry_on_a_full_disk(inputs, station, tiny_disk):
    proc = csq(station, "online", "submit", str(inputs / "good.json"), db=f"sqlite:///{tiny_disk / 'registry.db'}")
    line = error_line(proc, ExitCode.database)
    assert str(tiny_disk / "registry.db") in line and "room" in line


# ----------------------------------------------------------------------- data documents

JSON_REFUSALS = [
    ("invalid JSON", "invalid.json", I, ("invalid.json", "not valid JSON", "line 1", "fix the file")),
    ("empty JSON file", "empty.json", I, ("empty.json", "empty")),
    ("not UTF-8", "latin1.json", I, ("latin1.json", "UTF-8")),
    ("nested 100,000 deep", "deep.json", I, ("deep.json", "fix the file")),
    ("a 5,000-digit number", "huge-number.json", I, ("huge-number.json", "fix the file")),
    ("a list, not an object", "list.json", ExitCode.invalid_data, ("list.json", '{"fields"')),
    ("unknown field", "unknown.json", ExitCode.invalid_data, ("unknown.json", "favourite_colour", "nothing registered")),
    ("10 MB of unknown fields", "ten-mb.json", ExitCode.invalid_data, ("ten-mb.json", "k000000", "more")),
    ("a 10 MB value", "ten-mb-value.json", ExitCode.invalid_data, ("ten-mb-value.json", "family_name")),
    ("a 10 MB field name", "ten-mb-key.json", ExitCode.invalid_data, ("ten-mb-key.json",)),
]


@pytest.mark.parametrize("case, name, code, needles", JSON_REFUSALS, ids=[c[0] for c in JSON_REFUSALS])
def test_online_submit_refuses(case, name, code, needles, inputs, station):
    refused(station, code, needles, "online", "submit", str(inputs / name))


@pytest.mark.parametrize("case, name, code, needles", [c for c in JSON_REFUSALS if c[1] != "unknown.json"],
                         ids=[c[0] for c in JSON_REFUSALS if c[1] != "unknown.json"])
def test_forms_prefill_refuses(case, name, code, needles, inputs, station):
    needles = tuple(n for n in needles if n != "nothing registered")
    refused(station, code, needles, "forms", "prefill", str(inputs / name), "--out", "prefilled.pdf")
    assert not (station / "prefilled.pdf").exists()


def test_online_submit_bad_time(inputs, station):
    refused(station, ExitCode.bad_args, ("--submitted-at", "ISO-8601"), "online", "submit", str(inputs / "good.json"),
            "--submitted-at", "tuesday")


# ------------------------------------------------------- registered, with the problem flagged


def registered(station: Path, *args: str) -> dict:
    """The command succeeds and registers one application: what the registry holds of it."""
    proc = csq(station, *args, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    with Registry.open(f"sqlite:///{station / 'registry.db'}", station / "data") as reg:
        return result | {"application": reg.application(result["file_no"])}


def test_duplicated_page_is_flagged(inputs, station):
    r = registered(station, "scan", "ingest", str(inputs / "duplicated-page.pdf"), "--postmark", "2026-02-20", "--received", RECEIVED)
    assert any("page 2 scanned 2 times" in p for p in r["problems"]), r["problems"]
    assert r["status"] in ("in_review", "incomplete")


def test_pages_of_two_applicants_are_flagged(inputs, station):
    r = registered(station, "scan", "ingest", str(inputs / "two-applicants.pdf"), "--postmark", "2026-02-20", "--received", RECEIVED)
    assert any("two different prefilled applications" in p for p in r["problems"]), r["problems"]


def test_a_page_of_another_form_version_is_flagged(inputs, station):
    r = registered(station, "scan", "ingest", str(inputs / "foreign-version.pdf"), "--postmark", "2026-02-20", "--received", RECEIVED)
    assert any("page of another form or version" in p and "2025.9" in p for p in r["problems"]), r["problems"]
    assert [p["kind"] for p in r["application"]["pages"]] == ["form", "foreign"]


def test_blank_pages_only_are_flagged(inputs, station):
    r = registered(station, "scan", "ingest", str(inputs / "blank-1.png"), str(inputs / "blank-2.png"), "--postmark", "2026-02-20")
    assert "blank page: scan page 1" in r["problems"] and "blank page: scan page 2" in r["problems"]
    assert "no page of the application form was found in the envelope" in r["problems"]
    assert r["status"] in ("received", "in_review")  # a person keys the form in (or asks the candidate)


def test_a_100_dpi_fax_is_read_or_sent_to_review(inputs, station):
    """Never silently accepted: what the machine is not sure of waits for a person."""
    r = registered(station, "scan", "ingest", str(inputs / "fax-100dpi.tif"), "--postmark", "2026-02-20")
    app = r["application"]
    assert app["pages"][0]["kind"] in ("form", "unreadable")
    truth = person(1)["fields"]
    for name, f in app["fields"].items():
        if not f["needs_review"] and f["source"] != "manual" and name in truth and f["value"] is not None:
            assert f["value"] == truth[name], (name, f["value"], truth[name])  # final values are right
    assert r["status"] in ("in_review", "incomplete", "received")


def test_a_pdf_with_javascript_and_a_form_is_read_as_pixels(inputs, station):
    """Its scripts are never run (nothing listens on 127.0.0.1:9, and nothing is needed): the
    page is a supporting document, the envelope waits for its form."""
    r = registered(station, "scan", "ingest", str(inputs / "javascript.pdf"), "--postmark", "2026-02-20")
    assert [p["kind"] for p in r["application"]["pages"]] == ["supporting"]
    assert "no page of the application form was found in the envelope" in r["problems"]


def test_a_file_lying_about_its_type_is_read_by_its_content(inputs, station):
    r = registered(station, "scan", "ingest", str(inputs / "png-named.pdf"), "--postmark", "2026-02-20")
    assert r["application"]["pages"][0]["kind"] == "blank"
    stored = r["application"]["pages"][0]["image_path"]
    assert stored.endswith(".png")


def test_a_pdf_locked_only_against_printing_is_read(inputs, station):
    r = registered(station, "scan", "ingest", str(inputs / "owner-only.pdf"), "--postmark", "2026-02-20")
    assert r["pages"] == 1


# ---------------------------------------------------------------------------- security


def test_no_personal_data_on_stderr_during_an_ingest(station):
    """The clerk's terminal, the station's logs and the workers' logs see file numbers, never
    names or passport numbers, even with --verbose."""
    env = ROOT / "samples" / "corpus" / "env-0003-prefilled-pdf"
    truth = json.loads((env / "truth.json").read_text(encoding="utf-8"))["fields"]
    secrets_ = [truth["family_name"], truth["passport_number"], truth["given_names"].split()[0], truth["birth_date"]]
    # A refusal of that envelope (the dates contradict) says nothing of its content.
    proc = csq(station, "scan", "ingest", str(env / "env-0003.pdf"), "--postmark", "2026-03-09", "--received", RECEIVED)
    line = error_line(proc, ExitCode.bad_args)
    assert not [s for s in secrets_ if s in proc.stderr], line
    for extra in (["--json"], ["--verbose"]):
        global_, local = (extra, []) if extra == ["--verbose"] else ([], extra)
        proc = csq(station, *global_, "scan", "ingest", str(env / "env-0003.pdf"), "--postmark", "2026-02-20",
                   "--received", RECEIVED, *local)
        assert proc.returncode == 0, proc.stderr[-2000:]
        for secret in secrets_:
            assert secret not in proc.stderr, f"{secret!r} on stderr"


def test_file_paths_are_never_taken_from_input(inputs, station):
    """A name that is a path (the form's charset has '.' and '/') stays a value: no file is
    written where it points, in the registry's folder, the working folder or above."""
    doc = person(6, family_name="../../ETC/PASSWD", given_names="../../../TMP/X", city="/ETC/SHADOW")
    (station / "path.json").write_text(json.dumps(doc), encoding="utf-8")
    seen_before = {p for p in station.parent.rglob("*")}
    proc = csq(station, "online", "submit", str(station / "path.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    file_no = json.loads(proc.stdout)["file_no"]
    proc = csq(station, "forms", "prefill", str(station / "path.json"), "--out", "out/prefilled.pdf")
    assert proc.returncode == 0, proc.stderr
    new = {p for p in station.parent.rglob("*")} - seen_before
    names = {str(p.relative_to(station)) for p in new if p.is_file()}
    assert names == {f"data/letters/{file_no}.pdf", "out/prefilled.pdf"}, names
    assert not any("PASSWD" in str(p).upper() or "SHADOW" in str(p).upper() for p in new)
    assert not Path("/etc/PASSWD").exists() and not Path("/TMP/X").exists()
    with Registry.open(f"sqlite:///{station / 'registry.db'}", station / "data") as reg:
        assert reg.application(file_no)["fields"]["family_name"]["value"] == "../../ETC/PASSWD"


def test_a_json_file_saved_with_a_byte_order_mark_is_read(station):
    """A lawyer's office saves the data document with Windows Notepad: UTF-8 with a BOM."""
    doc = person(7, family_name="GAGNÉ-TREMBLAY")
    (station / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(doc, ensure_ascii=False).encode("utf-8"))
    proc = csq(station, "online", "submit", str(station / "bom.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    file_no = json.loads(proc.stdout)["file_no"]
    with Registry.open(f"sqlite:///{station / 'registry.db'}", station / "data") as reg:
        assert reg.application(file_no)["fields"]["family_name"]["value"] == "GAGNÉ-TREMBLAY"
    proc = csq(station, "forms", "prefill", str(station / "bom.json"), "--out", "out/bom.pdf")
    assert proc.returncode == 0 and (station / "out" / "bom.pdf").stat().st_size > 0, proc.stderr
