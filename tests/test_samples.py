"""samples/: seeded applicants, generated envelopes and their truth, the committed corpus."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from samples.generate import generate_corpus, generate_envelope
from samples.paper import mrz_check_digit, passport_mrz, seeded_separator_serial
from samples.people import (
    DEFECTS,
    ORIGINS_BEYOND_FRENCH,
    PASSPORT_ORIGINS,
    break_document,
    make_applicant,
    make_people,
    to_form_text,
)
from samples.scanner import read_back
from templates.alphabet import as_written, refused_characters
from templates.codes import PageCode
from templates.spec import TEXT_CHARSET, load_form
from templates.validation import validate

CORPUS = Path(__file__).resolve().parent.parent / "samples" / "corpus"


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _corpus_truths() -> list[tuple[Path, dict]]:
    paths = sorted(CORPUS.glob("*/truth.json")) + sorted(CORPUS.glob("*/*.truth.json"))
    return [(p, json.loads(p.read_text(encoding="utf-8"))) for p in paths]


# --------------------------------------------------------------------------------- people


def test_transliteration_keeps_the_form_accents_and_drops_the_others():
    assert to_form_text("Gagné-Tremblay") == "GAGNÉ-TREMBLAY"
    assert to_form_text("HERNÁNDEZ") == "HERNANDEZ"
    assert to_form_text("Muñoz Peña") == "MUNOZ PENA"
    assert to_form_text("CONCEIÇÃO") == "CONCEIÇAO"
    assert to_form_text("LEBŒUF") == "LEBOEUF"
    assert to_form_text("N'DIAYE") == "N'DIAYE"


def test_people_are_seeded_valid_and_written_in_the_form_charset():
    first, again = make_people(40, seed=9), make_people(40, seed=9)
    assert [p.fields for p in first] == [p.fields for p in again]
    assert [p.fields for p in make_people(5, seed=10)] != [p.fields for p in first[:5]]
    form = load_form()
    for person in first:
        problems = validate(person.document)
        assert bool(problems) == bool(person.defect), (person.defect, [str(p) for p in problems])
        for name, value in person.fields.items():
            if form.field(name).type == "text":
                assert set(value) <= set(TEXT_CHARSET), (name, value)
                assert len(value) <= len(form.field(name).cells)


def test_origins_cover_accented_and_transliterated_names():
    people = make_people(150, seed=3, invalid_share=0.0)
    names = {p.fields["family_name"] for p in people}
    assert any(set(n) & set("ÉÈÊËÎÏÔÖÜÇ") for n in names)  # French accents kept
    assert any(p.transliterated for p in people)  # Á, Ñ, Ã... transliterated and recorded
    assert {p.origin for p in people} >= {"france", "maghreb", "west_africa", "latin_america", "asia"}


def test_people_as_in_the_passport_keep_every_latin_letter_and_are_valid():
    # What samples.generate writes: names, cities and institutions exactly as the passport
    # prints them, letters beyond French included, nothing transliterated.
    people = [make_applicant(np.random.default_rng([4, i, 1]), as_in_passport=True, origins=PASSPORT_ORIGINS)
              for i in range(300)]
    again = make_applicant(np.random.default_rng([4, 7, 1]), as_in_passport=True, origins=PASSPORT_ORIGINS)
    assert again.fields == people[7].fields
    form = load_form()
    beyond = set()
    for person in people:
        assert not validate(person.document), [str(p) for p in validate(person.document)]
        assert person.transliterated == {}
        for name, value in person.fields.items():
            if form.field(name).type == "text":
                assert value == as_written(value) and not refused_characters(value, "text"), (name, value)
                beyond |= set(value) - set(TEXT_CHARSET)
    assert beyond >= set("ÁÍÓÚÑÃÅØŁŞĞİČŘŠŽ"), "".join(sorted(beyond))
    assert {p.origin for p in people} >= {o.key for o in ORIGINS_BEYOND_FRENCH}


def test_the_default_spelling_is_unchanged_for_the_other_generator():
    # samples.othergen draws make_applicant(rng) and chooses the passport spelling itself: the
    # default still transliterates, with the same draws (a seed gives the same people).
    form_person = make_applicant(np.random.default_rng([2, 5, 71]))
    assert set("".join(v for v in form_person.fields.values() if isinstance(v, str))) <= set(TEXT_CHARSET) | set("_")


def test_our_envelopes_carry_names_as_in_the_passport(tmp_path):
    found = None
    for index in range(1, 40):
        person = make_applicant(np.random.default_rng([31, index, 1]), as_in_passport=True, origins=PASSPORT_ORIGINS)
        if set(person.fields["family_name"] + person.fields["given_names"]) - set(TEXT_CHARSET):
            found = index
            break
    assert found is not None
    sample = generate_envelope(tmp_path, found, seed=31, kind="handwritten", fmt="png", mode="grey", damage="none")
    assert sample.truth["fields"]["family_name"] == person.fields["family_name"]
    assert sample.truth["fields"]["given_names"] == person.fields["given_names"]
    assert sample.truth["transliterated"] == {}


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_deliberate_defect_breaks_validation(defect):
    rng = np.random.default_rng(5)
    broken = break_document(make_applicant(rng), rng, defect)
    assert broken.defect.startswith(defect)
    assert validate(broken.document), defect


def test_passport_mrz_check_digits_follow_icao_9303():
    # The specimen of ICAO Doc 9303 part 4: L898902C3 -> 6, 740812 -> 2, 120415 -> 9.
    assert mrz_check_digit("L898902C3") == "6"
    assert mrz_check_digit("740812") == "2"
    assert mrz_check_digit("120415") == "9"
    line1, line2 = passport_mrz({"family_name": "GAGNÉ-TREMBLAY", "given_names": "MARIE-ÈVE", "citizenship": "FRANCE",
                                 "passport_number": "19AB12345", "birth_date": "1990-04-17", "sex": "F",
                                 "passport_expiry": "2031-05-02"})
    assert len(line1) == len(line2) == 44
    assert line1.startswith("P<FRAGAGNE<TREMBLAY<<MARIE<EVE<")


def test_separator_serials_are_seeded_and_well_formed():
    from forms.serial import check_separator_serial

    a = [seeded_separator_serial(np.random.default_rng(1)) for _ in range(2)]
    assert a[0] == a[1] and check_separator_serial(a[0])


# ------------------------------------------------------------------------------ generator


def test_generation_is_deterministic_for_a_seed(tmp_path):
    # A handwritten envelope, plus a stack of two prefilled ones behind handwritten separator
    # sheets: the same seed gives the same bytes, whatever the day or the folder.
    for folder in ("a", "b"):
        generate_envelope(tmp_path / folder, 1, seed=77, kind="handwritten", fmt="jpeg", mode="grey", dpi=150, damage="mixed")
        generate_corpus(tmp_path / folder / "stacks", count=2, seed=77, stack=True, kinds=("prefilled",), damage="none")
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert first == second
    assert any(name.endswith("truth.json") for name in first)
    assert any(name.startswith("stacks/stack-001") for name in first)


def test_generated_envelope_matches_its_truth(tmp_path):
    sample = generate_envelope(tmp_path, 3, seed=12, kind="handwritten", fmt="pdf", mode="grey", damage="mixed")
    truth = json.loads(sample.truth_path.read_text(encoding="utf-8"))
    assert truth == sample.truth
    pages = [p for f in sample.files for p in read_back(f)]
    assert len(pages) == len(truth["pages"])
    assert truth["writer"]["fonts"] == "holdout"
    from samples.handprint import HOLDOUT_FONTS

    assert truth["writer"]["font"] in {f.name for f in HOLDOUT_FONTS}
    assert truth["postmark_date"] is None or truth["postmark_date"] <= truth["received_date"]


def test_train_fonts_flag(tmp_path):
    from samples.handprint import TRAIN_FONTS

    sample = generate_envelope(tmp_path, 1, seed=1, kind="prefilled", fonts="train", fmt="png", mode="bilevel", damage="none")
    assert sample.truth["writer"]["font"] in {f.name for f in TRAIN_FONTS}


# --------------------------------------------------------------------------------- corpus


def test_corpus_is_small_and_complete():
    size = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert size < 4_500_000
    truths = _corpus_truths()
    formats = {t["format"] for _, t in truths}
    assert {"jpeg", "tiff-g4", "pdf"} <= formats
    assert sum(1 for _, t in truths if t["stack"]) == 2
    assert any(t["kind"] == "prefilled" for _, t in truths)
    assert (CORPUS / "README.md").exists()


def test_corpus_truths_are_valid_or_labelled():
    for path, truth in _corpus_truths():
        problems = validate({"fields": truth["fields"]})
        assert truth["valid"] == (not problems), path
        if not truth["valid"]:
            assert truth["defect"], f"{path}: invalid without a label"
        for name in truth["fields"]:
            load_form().field(name)  # every key is a form field


def test_corpus_formats_load():
    for path, truth in _corpus_truths():
        for name in truth["files"]:
            f = path.parent / name
            with Image.open(f) if f.suffix != ".pdf" else open(f, "rb") as handle:
                if f.suffix == ".tif":
                    assert handle.info.get("compression") == "group4"
                    assert handle.mode == "1"
                elif f.suffix == ".jpg":
                    assert handle.format == "JPEG" and handle.info.get("dpi")
                else:
                    assert handle.read(5) == b"%PDF-"
        pages = [p for name in truth["files"] for p in read_back(path.parent / name)]
        in_files = {(p["file"], p["index"]) for p in truth["pages"]}
        assert len(in_files) == len(truth["pages"])
        if not truth["stack"]:
            assert len(pages) == len(truth["pages"]), path


def _codes(image: np.ndarray) -> list[PageCode]:
    return [PageCode.decode(r.text) for r in zxingcpp.read_barcodes(image) if r.text.startswith("CSQ1")]


def test_corpus_pages_carry_decodable_page_codes_except_supporting_pages():
    checked = 0
    for path, truth in _corpus_truths():
        images: dict[tuple[str, int], np.ndarray] = {}
        for name in truth["files"]:
            for i, image in enumerate(read_back(path.parent / name)):
                images[(name, i)] = image
        for page in truth["pages"]:
            codes = _codes(images[(page["file"], page["index"])])
            if page["kind"] == "form":
                assert codes and {c.page_no for c in codes} == {page["page_no"]}, (path, page["file"], page["index"])
            elif page["kind"] == "separator":
                assert codes and codes[0].serial == truth["stack"]["separator"]["serial"]
            else:
                assert not codes, (path, page)
            checked += 1
    assert checked >= 30
