"""bench/scan.py: scoring against truth, and a tiny end-to-end run through scan + registry."""

from __future__ import annotations

from bench.scan import machine, right_or_review, score_fields, summarize
from templates.spec import load_form


def _export(values: dict, review: set[str] = frozenset()) -> dict:
    return {name: {"value": v, "source": "ocr", "confidence": 0.9, "needs_review": name in review} for name, v in values.items()}


def test_scoring_counts_right_final_and_silent_errors():
    truth = {"family_name": "BÉLANGER", "birth_date": "1990-04-17", "children_count": "2", "sex": "F",
             "spouse_accompanies": False, "declaration_signed": True}
    read = {"family_name": "BELANGER", "birth_date": "19900417", "children_count": "02", "sex": "F",
            "spouse_accompanies": None, "declaration_signed": True}
    everything = {f.name: None for f in load_form().fields} | read  # the export lists every field
    rows = {r["field"]: r for r in score_fields(truth, _export(everything, review={"sex"}))}
    assert len(rows) == len(load_form().fields)
    assert not rows["family_name"]["correct"] and rows["family_name"]["final"]  # a silent error
    assert rows["birth_date"]["correct"]  # YYYYMMDD and ISO are the same date
    assert rows["children_count"]["correct"]  # '02' in a 2-box count is 2
    assert rows["spouse_accompanies"]["correct"]  # unticked and empty are the same
    assert rows["sex"]["correct"] and not rows["sex"]["final"]
    assert rows["given_names"]["correct"]  # empty on both sides
    figures = summarize(list(rows.values()))
    n = len(rows)
    assert figures["fields"] == n
    assert figures["field_accuracy"] == round((n - 1) / n, 4)
    assert figures["automation_rate"] == round((n - 1) / n, 4)
    assert figures["undetected_error_rate"] == round(1 / (n - 1), 4)
    assert figures["undetected_error_share_all"] == round(1 / n, 4)
    # Five fields written (the unticked box is nothing written), four of them final: sex is in review.
    assert sum(r["filled"] for r in rows.values()) == 5 and figures["automation_rate_filled"] == 0.8


def test_tick_boxes_right_or_sent_to_a_person():
    truth = {"sex": "F", "spouse_accompanies": True, "declaration_signed": True, "marital_status": "SINGLE"}
    read = {"sex": "M", "spouse_accompanies": None, "declaration_signed": True, "marital_status": "MARRIED"}
    form = load_form()
    ticks = [r for r in score_fields(truth, _export({f.name: None for f in form.fields} | read, review={"sex"}), form)
             if r["type"] in ("choice", "checkbox")]
    # sex: wrong but reviewed; spouse_accompanies, marital_status: wrong and final; the rest right.
    wrong_final = sum(not r["correct"] and r["final"] for r in ticks)
    assert wrong_final == 2
    assert right_or_review(ticks) == round((len(ticks) - 2) / len(ticks), 4)
    assert right_or_review([]) is None


def test_a_field_missing_from_the_export_is_wrong_and_not_final():
    rows = score_fields({"family_name": "DIALLO"}, {})
    row = next(r for r in rows if r["field"] == "family_name")
    assert not row["correct"] and not row["final"]


def test_machine_is_described():
    m = machine()
    assert m["cores"] and m["python"] and m["cpu"]


def test_tiny_end_to_end_bench(tmp_path):
    from bench.scan import run_scan_bench

    report = run_scan_bench(count=2, seed=5, db_url=f"sqlite:///{tmp_path / 'bench.db'}", data_dir=tmp_path / "data",
                            workdir=tmp_path, show=False)
    assert report["pages"] > 0 and report["envelopes"] == 2
    assert report["applications_created"] == 2
    for key in ("field_accuracy", "automation_rate", "undetected_error_rate", "undetected_error_share_all", "tick_box_accuracy",
                "tick_right_or_review"):
        assert report[key] is not None and 0.0 <= report[key] <= 1.0, key
    assert report["pages_per_minute"] > 0
    assert report["machine"]["cores"]


def test_the_bench_reads_each_envelope_on_the_day_it_arrived(tmp_path, monkeypatch):
    """The mailroom scans an envelope the day it arrives: the reader's rules of the day (a
    signature in the future) hold as of its received date, not the day the bench runs."""
    import json

    from bench.scan import run_scan_bench
    from scan import pipeline

    seen = []
    real = pipeline.read_envelope

    def recording(files, **kwargs):
        seen.append(kwargs.get("today"))
        return real(files, **kwargs)

    monkeypatch.setattr(pipeline, "read_envelope", recording)
    run_scan_bench(count=1, seed=5, db_url=f"sqlite:///{tmp_path / 'bench.db'}", data_dir=tmp_path / "data",
                   workdir=tmp_path, show=False)
    (truth,) = [json.loads(p.read_text()) for p in tmp_path.glob("bench-corpus-*/*/truth.json")]
    assert [str(d) for d in seen] == [truth["received_date"]]
