"""The clerk's day and the rescan queue (registry/mailroom_day.py, GET /mailroom, csq scan
rescans) on a real envelope scanned with a page missing."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import cli
from registry import mailroom_day
import station_fixtures as T
from station.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
SINGLE = Path(__file__).resolve().parent.parent / "samples" / "corpus" / "env-0002-handwritten-tiff-g4" / "env-0002.tif"


def without_page(tmp_path: Path, page_index: int) -> Path:
    """The envelope's G4 TIFF with one sheet left out (the feeder took two at once)."""
    from PIL import Image, ImageSequence

    out = tmp_path / "env-0002-short.tif"
    with Image.open(SINGLE) as tif:
        kept = [frame.copy() for i, frame in enumerate(ImageSequence.Iterator(tif)) if i != page_index]
    kept[0].save(out, save_all=True, append_images=kept[1:], compression="group4", dpi=(200, 200))
    return out


def form_page_index(truth: dict, page_no: int) -> int:
    return next(p["index"] for p in truth["pages"] if p["kind"] == "form" and p["page_no"] == page_no)


@pytest.fixture(scope="module")
def short_envelope(tmp_path_factory):
    from scan.pipeline import read_envelope

    folder = tmp_path_factory.mktemp("short")
    truth = json.loads((SINGLE.parent / "truth.json").read_text())
    return read_envelope([without_page(folder, form_page_index(truth, 3))], workers=1)


def test_pages_wanted_are_read_from_the_problems():
    assert mailroom_day.pages_wanted("missing page(s) 3 of 6") == ((3,), 6)
    assert mailroom_day.pages_wanted("page 2 scanned 2 times\nmissing page(s) 1, 4 of 6") == ((1, 4), 6)
    assert mailroom_day.pages_wanted("") == ((), None)


def test_the_rescan_queue_names_the_page_wanted_best_priority_first(tmp_path, short_envelope):
    from registry.service import Registry

    with Registry.open(f"sqlite:///{tmp_path}/r.db", tmp_path / "d") as registry:
        late = registry.register_mail(short_envelope, postmark=date(2026, 3, 2), received=date(2026, 3, 5))
        complete = T.register_mail_envelope(registry, 7)
        queue = mailroom_day.rescan_queue(registry.db)
        assert [i.file_no for i in queue] == [late.file_no] and complete not in {i.file_no for i in queue}
        assert queue[0].pages_wanted == (3,) and queue[0].page_count == 6 and queue[0].why == "missing"
        report = mailroom_day.day_report(registry, registry.policy.today())
        assert report["envelopes"] == 2 and report["pages"] >= 5
        assert any("missing page(s) 3 of 6" in line for p in report["problems"] for line in p["problems"])


def test_the_clerks_page_shows_the_day_and_the_rescan_queue(tmp_path, short_envelope):
    app = create_app(f"sqlite:///{tmp_path}/r.db", tmp_path / "data")
    registry = app.state.station.registry
    T.add_staff(registry)
    result = registry.register_mail(short_envelope, postmark=date(2026, 3, 2), received=date(2026, 3, 5))
    mailroom_day.record_file(registry.db, name="scan-0042.pdf", status="failed", pages=0, file_nos=[],
                             reason="no separator sheet in it and its name does not start with the postmark date",
                             actor="mailroom:test")
    with TestClient(app) as client:
        T.login_csrf(client, "clara")  # a clerk
        page = client.get("/mailroom")
        assert page.status_code == 200
        assert result.file_no in page.text and "Rescan queue" in page.text
        assert "scan-0042.pdf" in page.text and "does not start with the postmark date" in page.text
        assert client.get("/mailroom?day=2026-13-01").status_code == 400
    registry.close()


def test_csq_scan_rescans_json(tmp_path, short_envelope):
    from registry.service import Registry

    url = f"sqlite:///{tmp_path}/r.db"
    with Registry.open(url, tmp_path / "data") as registry:
        registry.register_mail(short_envelope, postmark=date(2026, 3, 2), received=date(2026, 3, 5))
    result = CliRunner().invoke(cli.app, ["--db", url, "scan", "rescans", "--json"], env={"CSQ_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    assert item["pages_wanted"] == [3]
