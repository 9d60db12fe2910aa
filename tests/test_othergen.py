"""samples/othergen: the second, independent generator. Seeded and deterministic, its truth
says what it drew, its corpus reads through `csq scan ingest`, and the bench's error kinds."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest

from samples.othergen import corpus, error_kind, marks, pen, wrong_final_by_kind
from samples.people import make_applicant
from templates.spec import load_form
from test_cli import csq


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_envelope_depends_only_on_its_index(tmp_path):
    a = corpus.generate_corpus(tmp_path / "a", count=2, seed=3)
    b = corpus.generate_envelope(tmp_path / "b", 2, seed=3)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert second and all(first[name] == data for name, data in second.items())
    other = corpus.generate_envelope(tmp_path / "c", 2, seed=4)
    assert other.files[0].read_bytes() != b.files[0].read_bytes()
    assert [s.truth["envelope"] for s in a] == ["env-0001", "env-0002"]


def test_truth_has_the_keys_the_calibration_and_bench_read(tmp_path):
    from samples.generate import generate_envelope as ours

    theirs = corpus.generate_envelope(tmp_path / "other", 1, seed=1).truth
    mine = ours(tmp_path / "ours", 1, seed=1).truth
    assert set(mine) <= set(theirs)
    assert set(mine["pages"][0]) <= set(theirs["pages"][0])
    assert set(mine["damage"]) <= set(theirs["damage"])
    folder = tmp_path / "other"
    truth = json.loads(next(folder.glob("*/truth.json")).read_text(encoding="utf-8"))
    assert all((next(folder.glob("*/truth.json")).parent / f).exists() for f in truth["files"])


def _ink_in(ink: np.ndarray, box, inset: float = 0.0) -> int:
    x0, y0, x1, y1 = box
    dx, dy = int((x1 - x0) * inset), int((y1 - y0) * inset)
    return int((ink[y0 + dy:y1 - dy, x0 + dx:x1 - dx] < 128).sum())


@pytest.mark.parametrize("seed", range(6))
def test_every_cell_with_a_character_holds_ink_and_the_others_none(seed):
    form = load_form()
    page = form.pages[0]
    rng = np.random.default_rng(seed)
    writer = dataclasses.replace(pen.sample_writer(rng), stray=0.0)  # no letter strays: each ink is its own cell's
    values = {"family_name": "SÁNCHEZ NÚÑEZ", "given_names": "ŁUKASZ JOÃO", "city": "ŁÓDŹ", "birth_date": "1971-07-17",
              "phone": "117", "country_of_birth": "SÉNÉGAL"}
    sheet = np.full((int(page.height_pt * 200 / 72), int(page.width_pt * 200 / 72)), 255, np.uint8)
    drawn = corpus.fill_page(sheet, page, values, 200, writer, rng, habit="cross", log=corpus.Log())
    for name, value in values.items():
        f = form.field(name)
        text = corpus._written_value(f, value)
        record = drawn[name]
        assert record["text"] == text
        cells = [corpus._px(c, 200, page.height_pt) for c in f.cells]
        written = record["cells"]
        for k, cell in enumerate(written):
            # An empty cell is judged in its middle: a slanted neighbour may lean into its edge.
            inside = _ink_in(sheet, cell, inset=0.15 if text[k] != " " else 0.3)
            assert (inside > 0) == (text[k] != " "), (name, k, text[k])
        for cell in cells[len(text):]:
            if cell not in written:
                assert _ink_in(sheet, cell, inset=0.3) == 0, (name, cell)
        for k, char in enumerate(record["chars"]):  # a mark drawn for every accent the truth has
            base, above, below, _ = pen.decompose(text[k])
            assert len(char["marks"]) == len(above) + len(below), (name, text[k])
            for mark in char["marks"]:
                assert _ink_in(sheet, [max(0, v) for v in mark["box"]]) > 0, (name, text[k], mark)


@pytest.mark.parametrize("style", marks.TICK_STYLES)
def test_a_tick_leaves_ink_at_its_box_and_not_at_the_others(style):
    form = load_form()
    page = form.pages[0]
    f = form.field("marital_status")
    sheet = np.full((int(page.height_pt * 200 / 72), int(page.width_pt * 200 / 72)), 255, np.uint8)
    writer = dataclasses.replace(pen.sample_writer(np.random.default_rng(1)), ink=20)
    corpus.fill_page(sheet, page, {"marital_status": "MARRIED"}, 200, writer, np.random.default_rng(2), habit=style,
                     log=corpus.Log())
    for option in f.options:
        x0, y0, x1, y1 = corpus._px(option.box, 200, page.height_pt)
        s = x1 - x0
        around = (x0 - s, y0 - s, x1 + s, y1 + s)
        if option.value == "MARRIED":
            assert _ink_in(sheet, around) > 0
        else:
            assert _ink_in(sheet, (x0, y0, x1, y1)) == 0, option.value


def test_every_letter_a_candidate_writes_can_be_drawn():
    combs = {f.name for f in load_form().fields if f.type in ("text", "digits", "date")}
    for k in range(150):
        rng = np.random.default_rng([k, 5])
        plan = corpus.plan_envelope(rng, kind="handwritten")
        values = corpus.handwritten_values(plan, make_applicant(rng))
        for name, value in values.items():
            if name in combs and isinstance(value, str):
                assert all(pen.has_glyph(c) for c in value), value
    for family, given, city, _ in corpus.LATIN_PEOPLE:
        assert all(pen.has_glyph(c) for c in family + given + city)


def test_error_kinds():
    row = lambda t, want, got: {"type": t, "want": want, "got": got, "final": True, "correct": False, "field": "x"}  # noqa: E731
    assert error_kind(row("text", "MEDELLÍN", "MEDELLIN")) == "accent_dropped"
    assert error_kind(row("text", "ŁÓDŹ", "LODZ")) == "accent_dropped"
    assert error_kind(row("text", "ALGÉRIE", "ALGERIA")) == "word"
    assert error_kind(row("text", "ENSEIGNANTE", "ENSEIGNANIE")) == "word"
    assert error_kind(row("digits", "117", "177")) == "digit"
    assert error_kind(row("date", "1971-01-02", "1977-01-02")) == "digit"
    assert error_kind(row("text", "W2817", "W2877")) == "digit"
    assert error_kind(row("choice", "MARRIED", None)) == "tick_read_empty"
    assert error_kind(row("checkbox", True, None)) == "tick_read_empty"
    assert error_kind(row("choice", "MARRIED", "SINGLE")) == "tick_other"
    assert error_kind(row("text", "DIOP", None)) == "read_empty"
    rows = [row("text", "BOGOTÁ", "BOGOTA"), {**row("text", "A", "B"), "final": False}, {**row("text", "A", "A"), "correct": True}]
    summary = wrong_final_by_kind(rows)
    assert summary["wrong_final"] == 1 and summary["counts"]["accent_dropped"] == 1 and summary["counts"]["word"] == 0
    assert summary["examples"]["accent_dropped"] == ["? x: 'BOGOTÁ' read 'BOGOTA'"]
    ticks = [{**row("choice", "MARRIED", None), "field": "marital_status", "envelope": "env-0001"},
             {**row("choice", None, None), "field": "sex", "envelope": "env-0001", "correct": True}]
    summary = wrong_final_by_kind(ticks, tick_styles={"env-0001": {"marital_status": "circle"}})
    assert summary["tick_read_empty_by_style"] == {"circle": 1}
    assert summary["required_final_empty"] == 2  # both required, both final and empty (one of them rightly)


def test_a_tiny_corpus_goes_through_csq_scan_ingest(tmp_path):
    proc = csq("samples", "generate", "--generator", "other", "--out", "env", "--count", "2", "--seed", "2", "--json",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert len(listing["envelopes"]) == 2
    for envelope in listing["envelopes"]:
        truth = json.loads((tmp_path / envelope["truth"]).read_text(encoding="utf-8"))
        assert truth["generator"] == "othergen"
        proc = csq("scan", "ingest", *envelope["files"], "--postmark", truth["postmark_date"], "--json", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["file_no"]


def test_the_cli_refuses_an_unknown_generator(tmp_path):
    proc = csq("samples", "generate", "--generator", "theirs", "--out", "env", cwd=tmp_path)
    assert proc.returncode != 0 and "--generator" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("bilevel", [True, False])
def test_pdf_writer_takes_bilevel_and_grey_pages_and_writes_the_same_bytes(tmp_path, bilevel):
    from samples.othergen import damage
    from scan.load import load_pages

    rng = np.random.default_rng(1)
    pages = [rng.random((660, 510)) > 0.3 if bilevel else (rng.random((660, 510)) * 255).astype(np.uint8) for _ in range(2)]
    one = damage.write_pdf(tmp_path / "a.pdf", pages, dpi=150, jpeg_quality=40).read_bytes()
    time.sleep(1.1)  # Pillow dates a PDF to the second unless told otherwise
    two = damage.write_pdf(tmp_path / "b.pdf", pages, dpi=150, jpeg_quality=40).read_bytes()
    assert one == two
    assert len(list(load_pages(tmp_path / "a.pdf"))) == 2


def test_the_calibration_reads_a_corpus_of_the_other_generator(tmp_path):
    from scan.calibrate import field_records, read_corpus

    corpus.generate_corpus(tmp_path / "other", count=1, seed=2)
    envelopes = read_corpus(tmp_path / "other", workers=1)
    assert [e.name for e in envelopes] == ["env-0001"]
    rows = field_records(envelopes)
    assert len(rows) == len(load_form().fields)
    assert sum(r["correct"] for r in rows) > len(rows) / 2  # it read the form, not nothing


def test_it_draws_nothing_with_our_generator_s_code(tmp_path):
    """Independent drawing code: generating an envelope loads none of samples.generate's drawing modules."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from samples.othergen import generate_envelope; "
            f"generate_envelope(Path({str(tmp_path)!r}), 1, seed=1); "
            "print(sorted(m for m in sys.modules if m in ('samples.handprint', 'samples.paper', 'samples.scanner', 'samples.generate')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_struck_letter_is_crossed_out_and_the_meant_one_written_above():
    form = load_form()
    page = form.pages[0]
    rng = np.random.default_rng(4)
    writer = dataclasses.replace(pen.sample_writer(rng), stray=0.0)
    sheet = np.full((int(page.height_pt * 200 / 72), int(page.width_pt * 200 / 72)), 255, np.uint8)
    log = corpus.Log()
    drawn = corpus.fill_page(sheet, page, {"family_name": "DUBOIS"}, 200, writer, rng, habit="cross", log=log,
                             struck_field="family_name")
    (fix,) = log.corrections
    k = fix["cell"]
    assert drawn["family_name"]["text"] == "DUBOIS" and fix["above"] == "DUBOIS"[k] and fix["struck"] != fix["above"]
    x0, y0, x1, y1 = drawn["family_name"]["cells"][k]
    assert _ink_in(sheet, (x0, y0 - int(0.8 * (y1 - y0)), x1, y0)) > 0  # the meant letter, above the box
