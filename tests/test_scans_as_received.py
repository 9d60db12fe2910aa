"""Scans kept as received (issue 15.4): a G4 TIFF envelope is stored once, byte for byte, under
its SHA-256; no page PNG is written; the station renders the page and a field's crop from the
file (compared with what the old per-page PNG gave, by a measured similarity); an old-style
page stored as a PNG still shows; `registry check` knows the stored file."""

from __future__ import annotations

import hashlib
import io
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import station_fixtures as T
from test_station import app, staff_db  # noqa: F401 (the station with its test accounts)

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

ROOT = Path(__file__).resolve().parent.parent
G4_ENVELOPE = ROOT / "samples" / "corpus" / "env-0002-handwritten-tiff-g4" / "env-0002.tif"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """The G4 envelope as the scanner left it, its reading, and each page as the old reader
    stored it (the aligned page, or the upright supporting page, encoded as PNG)."""
    from scan.load import encode_png
    from scan.pipeline import PageContext, PageTask, read_envelope, stage_align, stage_identify, stage_load

    path = tmp_path_factory.mktemp("mailroom") / "envelope.tif"
    shutil.copyfile(G4_ENVELOPE, path)
    reading = read_envelope([path], workers=1, today=date(2026, 3, 10))
    old_pngs = []
    for page in reading.pages:
        ctx = stage_load(PageContext(PageTask(str(path), page.source_page, 0)))
        ctx = stage_align(stage_identify(ctx))
        shown = ctx.aligned if ctx.aligned is not None else ctx.upright
        old_pngs.append(encode_png(shown))
    return path, reading, old_pngs


def _client(app):
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="http://testserver")
    client.csrf = T.login_csrf(client, "clara")
    return client


def _stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "images").rglob("*") if p.is_file())


def _grey(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)


def _similar(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels within 8 grey levels of each other (1.0: the same picture)."""
    assert a.shape == b.shape
    return float(np.mean(np.abs(a - b) <= 8))


def test_the_file_is_stored_once_as_received_and_no_page_png_is_written(app, scanned):
    path, reading, _ = scanned
    registry = app.state.station.registry
    received = path.read_bytes()
    sha = hashlib.sha256(received).hexdigest()
    assert all(p.image_png == b"" and p.view for p in reading.pages)

    result = registry.register_mail(reading, postmark=date(2026, 3, 2), received=date(2026, 3, 5))
    pages = registry.application(result.file_no)["pages"]
    assert len(pages) == len(reading.pages) == 7
    assert {p["image_sha256"] for p in pages} == {sha} and {p["stored_as"] for p in pages} == {"received"}
    assert [p["source_page"] for p in pages] == list(range(7))
    [stored] = _stored_files(registry.data_dir)  # the TIFF, and no PNG of any page
    assert stored.name == f"{sha}.tif" and stored.read_bytes() == received
    assert Path(pages[0]["image_path"]) == stored

    # the same file again (the same envelope, and the file stored by hand): still one copy
    assert registry.register_mail(reading, postmark=date(2026, 3, 2), received=date(2026, 3, 5)).created is False
    assert registry.images.put_file(path)[0] == sha
    assert _stored_files(registry.data_dir) == [stored]

    from registry.integrity import check

    report = check(registry, deep=True)
    assert report.files == 1 and not report.missing_files and not report.corrupt_files and not report.orphan_files


def test_the_station_renders_pages_and_crops_from_the_scan_like_the_old_pngs(app, scanned):
    path, reading, old_pngs = scanned
    registry = app.state.station.registry
    new = registry.register_mail(reading, postmark=date(2026, 3, 2), received=date(2026, 3, 5)).file_no
    # The same envelope as an older registry kept it: a PNG per page, no view.
    legacy = replace(reading, fingerprint="0" * 64,
                     pages=tuple(replace(p, view="", image_png=png) for p, png in zip(reading.pages, old_pngs)))
    old = registry.register_mail(legacy, postmark=date(2026, 3, 2), received=date(2026, 3, 5)).file_no
    assert {p["stored_as"] for p in registry.application(old)["pages"]} == {"png"}
    client = _client(app)

    for sequence in range(len(reading.pages)):  # form pages aligned, the supporting page upright
        got = client.get(f"/images/{new}/pages/{sequence}.png")
        was = client.get(f"/images/{old}/pages/{sequence}.png")
        assert got.status_code == was.status_code == 200 and got.headers["content-type"] == "image/png"
        assert _similar(_grey(got.content), _grey(was.content)) > 0.999, sequence
        assert _similar(_grey(got.content), _grey(old_pngs[sequence])) > 0.999
        thumb = client.get(f"/images/{new}/pages/{sequence}.png?thumb=1")
        assert thumb.status_code == 200
    kinds = [p.kind for p in reading.pages]
    assert kinds.count("form") == 6 and kinds.count("supporting") == 1

    boxed = [n for n, f in registry.application(new)["fields"].items() if f["box"] and f["page_no"] == 2]
    assert len(boxed) >= 3
    first = client.get(f"/images/{new}/fields/{boxed[0]}.png").content
    for field in boxed[:3]:
        got = client.get(f"/images/{new}/fields/{field}.png")
        was = client.get(f"/images/{old}/fields/{field}.png")
        assert got.status_code == was.status_code == 200
        assert _similar(_grey(got.content), _grey(was.content)) > 0.99, field
        assert client.get(f"/images/{new}/fields/{field}/page.png").status_code == 200
    # served again from the station's cache, the same bytes
    assert client.get(f"/images/{new}/fields/{boxed[0]}.png").content == first
    assert list(app.state.station.images.cache_dir.glob("*.png"))


def test_an_old_style_page_still_shows_from_its_png(app, scanned):
    _, reading, old_pngs = scanned
    registry = app.state.station.registry
    legacy = replace(reading, pages=tuple(replace(p, view="", image_png=png) for p, png in zip(reading.pages, old_pngs)))
    file_no = registry.register_mail(legacy, postmark=date(2026, 3, 2), received=date(2026, 3, 5)).file_no
    page = registry.application(file_no)["pages"][0]
    assert page["stored_as"] == "png" and Path(page["image_path"]).read_bytes() == old_pngs[0]
    got = _client(app).get(f"/images/{file_no}/pages/0.png")
    assert got.status_code == 200 and got.content == old_pngs[0]


def test_a_lost_scan_is_a_404_that_names_it(app, scanned):
    _, reading, _ = scanned
    registry = app.state.station.registry
    file_no = registry.register_mail(reading, postmark=date(2026, 3, 2), received=date(2026, 3, 5)).file_no
    for stored in _stored_files(registry.data_dir):
        stored.unlink()
    r = _client(app).get(f"/images/{file_no}/pages/1.png")
    assert r.status_code == 404


def test_a_stacked_file_is_kept_once_and_its_separator_sheets_show(tmp_path):
    """A stack of two envelopes in one file: both applications refer to the one stored copy, and
    each separator sheet (page 0 of its application) is rendered aligned, as the reader saw it."""
    from registry import review_claims
    from registry.service import Registry
    from samples.generate import generate_corpus
    from scan.pipeline import read_stack
    from station.images import PageImages

    samples = generate_corpus(tmp_path / "stack", count=2, seed=77, stack=True, kinds=("prefilled",), damage="none",
                              stack_size=(2, 2))
    [stack_file] = {Path(f) for s in samples for f in s.files}
    readings = list(read_stack([stack_file], workers=1, today=date(2026, 11, 23)))
    with Registry.open(f"sqlite:///{tmp_path}/r.db", tmp_path / "data") as registry:
        file_nos = [registry.register_mail(r, received=date(2026, 11, 23)).file_no for r in readings]
        [stored] = _stored_files(registry.data_dir)
        assert stored.read_bytes() == stack_file.read_bytes()
        images = PageImages(registry.data_dir)
        for file_no in file_nos:
            page = registry.application(file_no)["pages"][0]
            assert page["kind"] == "separator" and Path(page["image_path"]) == stored
            separator = review_claims.page_image_path(registry.db, file_no, 0)
            shown = Image.open(io.BytesIO(images.full(separator)))
            assert shown.size == (1700, 2200) and np.asarray(shown.convert("L")).min() < 100


def test_a_registry_from_before_upgrades_and_its_png_pages_still_show(tmp_path, scanned):
    """A registry at revision 0006 (pages stored as PNGs, no view column) opened by this version:
    migration 0009 adds the column, its pages keep showing from their PNGs, new ones are kept as received."""
    from alembic import command

    from registry import review_claims
    from registry.service import Registry
    from station.images import PageImages
    from test_registry import head_revision

    path, reading, old_pngs = scanned
    url = f"sqlite:///{tmp_path}/old.db"
    legacy = replace(reading, fingerprint="1" * 64,
                     pages=tuple(replace(p, view="", image_png=png) for p, png in zip(reading.pages, old_pngs)))
    with Registry.open(url, tmp_path / "data") as registry:
        old = registry.register_mail(legacy, postmark=date(2026, 3, 2), received=date(2026, 3, 5)).file_no
        with registry.db.write() as conn:
            command.downgrade(registry.db.alembic_config(conn), "0006")
    with Registry.open(url, tmp_path / "data") as registry:
        assert registry.db.current_revision() == head_revision()
        new = registry.register_mail(reading, postmark=date(2026, 3, 2), received=date(2026, 3, 5)).file_no
        images = PageImages(registry.data_dir)
        shown_old = review_claims.page_image_path(registry.db, old, 0)
        assert shown_old.view is None and Path(images.full(shown_old)).read_bytes() == old_pngs[0]
        shown_new = images.full(review_claims.page_image_path(registry.db, new, 0))
        assert _similar(_grey(shown_new), _grey(old_pngs[0])) > 0.999
