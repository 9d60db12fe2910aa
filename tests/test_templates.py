"""The template as data and its layout: every field of the contract, sane geometry."""

import itertools
import json
import re
from pathlib import Path

import pytest

from errors import TemplateError
from templates import geometry as g
from templates.spec import COMB_TYPES, CURRENT_VERSION, FIELD_TYPES, form_layout, load_form, load_separator, registered_versions

INTERFACE = Path(__file__).resolve().parents[1] / "docs" / "interface.md"
MM = 72 / 25.4


def contract_field_names() -> list[str]:
    """The field names docs/interface.md says the form carries (read from the doc itself)."""
    text = INTERFACE.read_text(encoding="utf-8")
    block = text.split("The form carries at least these field names")[1].split("##")[0]
    return re.findall(r"[a-z_]+(?=[,.])", block.split(":", 1)[1])


def test_contract_lists_fields():
    names = contract_field_names()
    assert "family_name" in names and "signature_date" in names and len(names) >= 29


@pytest.mark.parametrize("name", contract_field_names())
def test_every_contract_field_is_on_the_form(name):
    assert name in load_form().field_names


def test_form_has_at_least_four_pages_and_sections_in_order():
    form = load_form()
    assert len(form.pages) >= 4
    titles = [t.text.fr for p in form.pages for t in p.texts if t.bold]
    numbers = [int(t.split(".")[0]) for t in titles]
    assert numbers == sorted(numbers) and numbers[0] == 1


def test_field_types_are_the_contract_types():
    for f in load_form().fields:
        assert f.type in FIELD_TYPES
        if f.type == "date":
            assert len(f.cells) == 8
        if f.type in COMB_TYPES:
            assert f.cells and not f.options
        if f.type == "choice":
            assert len(f.options) >= 2
        if f.type in ("checkbox", "signature"):
            assert f.box is not None


def _all_boxes(page):
    for f in page.fields:
        for c in f.cells:
            yield f.name, c
        for o in f.options:
            yield f.name, o.box
        if f.box:
            yield f.name, f.box


def _overlap(a, b) -> bool:
    return a[0] < b[2] - 0.01 and b[0] < a[2] - 0.01 and a[1] < b[3] - 0.01 and b[1] < a[3] - 0.01


@pytest.mark.parametrize("page_index", range(len(load_form().pages)))
def test_boxes_do_not_overlap_and_stay_in_the_body(page_index):
    page = load_form().pages[page_index]
    boxes = list(_all_boxes(page))
    for (n1, a), (n2, b) in itertools.combinations(boxes, 2):
        assert not _overlap(a, b), f"{n1} and {n2} overlap"
    for name, b in boxes:
        assert g.BODY_LEFT_PT <= b[0] and b[2] <= g.BODY_RIGHT_PT + 0.01, name
        assert g.BODY_BOTTOM_PT <= b[1] and b[3] <= g.BODY_TOP_PT, name
    for m in page.markers:
        for name, b in boxes:
            assert not _overlap(m.box, b), name
    for code in page.code_boxes:
        for name, b in boxes:
            assert not _overlap(code, b), name


def test_comb_cells_are_big_enough_for_a_pen():
    for f in load_form().fields:
        for c in f.cells:
            assert c[2] - c[0] >= 5 * MM - 0.01
            assert c[3] - c[1] >= 6 * MM


def test_fingerprints_differ_by_page_and_are_stable():
    form = load_form()
    prints = [p.fingerprint for p in form.pages]
    assert len(set(prints)) == len(prints)
    load_form.cache_clear()
    assert [p.fingerprint for p in load_form().pages] == prints


def test_separator_has_postmark_date():
    sep = load_separator()
    f = sep.field("postmark_date")
    assert f.type == "date" and len(f.cells) == 8
    assert {m.aruco_id for m in sep.pages[0].markers}.isdisjoint({m.aruco_id for m in load_form().pages[0].markers})


def test_layout_json_shape_matches_contract():
    doc = json.loads(json.dumps(form_layout()))
    assert doc["form"] == "csq-rtq" and doc["version"] == CURRENT_VERSION
    page = doc["pages"][0]
    assert page["width_pt"] == 612.0 and page["height_pt"] == 792.0
    fam = next(f for f in page["fields"] if f["name"] == "family_name")
    assert fam["type"] == "text" and fam["label"].startswith("Nom de famille / Family name")
    assert all(len(c) == 4 and c[0] < c[2] and c[1] < c[3] for c in fam["cells"])
    sex = next(f for f in page["fields"] if f["name"] == "sex")
    assert [o["value"] for o in sex["options"]] == ["F", "M", "X"]
    sig = next(f for p in doc["pages"] for f in p["fields"] if f["name"] == "declaration_signed")
    assert sig["type"] == "signature" and len(sig["box"]) == 4
    sep = doc["separator"]
    assert {"width_pt", "height_pt", "fields"} <= set(sep)
    assert any(f["name"] == "postmark_date" and f["type"] == "date" for f in sep["fields"])


def test_layout_geometry_does_not_depend_on_language():
    fr, en = form_layout("fr"), form_layout("en")

    def geometry(doc):
        return [[{k: v for k, v in f.items() if k != "label" and k != "options"} for f in p["fields"]] for p in doc["pages"]]

    assert geometry(fr) == geometry(en)
    assert fr["pages"][0]["fields"][0]["label"] == "Nom de famille / Family name"
    assert en["pages"][0]["fields"][0]["label"] == "Family name / Nom de famille"


def test_unknown_version_is_a_clear_error():
    with pytest.raises(TemplateError, match="no template for form csq-rtq version 1999.9"):
        load_form("csq-rtq", "1999.9")
    assert CURRENT_VERSION in registered_versions()


def _refused(tmp_path, monkeypatch, row: str, match: str) -> None:
    """A one-row template version 9999.1 made of `row` (YAML) is refused with `match`."""
    import templates.spec as spec

    bad = tmp_path / "csq-rtq-9999.1.yaml"
    bad.write_text(
        'form: csq-rtq\nversion: "9999.1"\ntitle: {fr: T, en: T}\npages:\n  - sections:\n'
        "      - title: {fr: S, en: S}\n        rows:\n" + row,
        encoding="utf-8",
    )
    monkeypatch.setattr(spec, "TEMPLATE_DIR", tmp_path)
    spec.load_form.cache_clear()
    try:
        with pytest.raises(TemplateError, match=match):
            spec.load_form("csq-rtq", "9999.1")
    finally:
        spec.load_form.cache_clear()


def test_a_field_too_wide_for_its_row_is_refused(tmp_path, monkeypatch):
    _refused(tmp_path, monkeypatch,
             "          - - {name: a, type: text, cells: 30, label: {fr: A, en: A}}\n"
             "            - {name: b, type: text, cells: 30, label: {fr: B, en: B}}\n", "does not fit its row")


@pytest.mark.parametrize("field", ["{name: a, type: text, cells: 10, charset: symbols, label: {fr: A, en: A}}",
                                   "{name: a, type: digits, cells: 4, charset: letters, label: {fr: A, en: A}}"])
def test_a_charset_the_field_cannot_have_is_refused(tmp_path, monkeypatch, field):
    _refused(tmp_path, monkeypatch, f"          - - {field}\n", "charset")


@pytest.mark.parametrize("field", ["{name: a, type: text, cells: 10, shapes: no-such-list, label: {fr: A, en: A}}",
                                   "{name: a, type: text, cells: 10, domains: no-such-list, label: {fr: A, en: A}}",
                                   "{name: a, type: digits, cells: 4, shapes: postal-code-shapes, label: {fr: A, en: A}}",
                                   "{name: a, type: date, prefixes: calling-codes, label: {fr: A, en: A}}"])
def test_a_prior_list_that_weighs_nothing_is_refused(tmp_path, monkeypatch, field):
    """A list the reader cannot weigh (no such file, or a field it cannot apply to) is a template error."""
    _refused(tmp_path, monkeypatch, f"          - - {field}\n", "no list of templates/vocabularies/")


def test_the_charset_is_not_geometry():
    """Adding `charset:` to a field leaves the page fingerprints (and so old scans) as they were."""
    import dataclasses

    import templates.spec as spec

    form = load_form()
    page = form.pages[0]
    plain = [dataclasses.replace(f, charset_name=None) for f in page.fields]
    assert spec._geometry_of(plain) == spec._geometry_of(list(page.fields))
