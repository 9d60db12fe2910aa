"""scan/calibrate.py: the confidence model's fit and the choice of thresholds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scan import thresholds as t
from scan.calibrate import MODEL_FEATURES, choose_threshold, fit_confidence_model, fit_logistic


def _synthetic(weights, intercept, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(weights))) * rng.uniform(0.5, 3.0, size=len(weights))
    p = 1 / (1 + np.exp(-(intercept + x @ np.asarray(weights))))
    return x, (rng.uniform(size=n) < p).astype(float)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1.5, 1.5), min_size=1, max_size=4), st.floats(-1.0, 1.0), st.integers(0, 10_000))
def test_logistic_fit_recovers_known_weights(weights, intercept, seed):
    x, y = _synthetic(weights, intercept, 6000, seed)
    a, w = fit_logistic(x, y, l2=0.01)
    assert abs(a - intercept) < 0.2
    assert np.allclose(w, weights, atol=0.2)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.5, 2.0), st.floats(0.5, 2.0), st.integers(0, 10_000))
def test_a_weight_held_to_its_sign_is_zero_when_the_data_want_the_other(good, bad, seed):
    x, y = _synthetic([good, -bad], 0.0, 4000, seed)
    _, free = fit_logistic(x, y, l2=0.01)
    _, held = fit_logistic(x, y, l2=0.01, signs=[+1, +1])
    assert free[1] < 0
    assert held[1] == 0.0 and held[0] > 0


def _row(confidence, correct, *, decided=True, final=False, kind="text", reasons=()):
    return {"confidence": confidence, "correct": correct, "features": {"logit_p": 0.0} if decided else None,
            "other_reasons": list(reasons), "final": final, "kind_of_confidence": kind}


def test_threshold_counts_the_fields_it_cannot_touch_as_they_were_judged():
    # 996 empty fields final whatever the threshold, all right; 4 readings, the one at 0.95 wrong.
    empties = [_row(0.995, True, decided=False, final=True) for _ in range(996)]
    readings = [_row(0.99, True), _row(0.97, True), _row(0.95, False), _row(0.9, True)]
    choice = choose_threshold(empties + readings, 0.0025)
    # 0.9 would make 1,000 final with 1 wrong (0.1 %): allowed. The empties at 0.995 are final
    # even though a threshold above them would not take them.
    assert choice["threshold"] == 0.9 and choice["final"] == 1000 and choice["wrong_final"] == 1
    tight = choose_threshold(empties[:100] + readings, 0.0025)
    assert tight["threshold"] == 0.97 and tight["wrong_final"] == 0


def test_when_the_untouchable_fields_already_spend_the_budget_no_wrong_reading_is_added():
    empties = [_row(0.995, True, decided=False, final=True) for _ in range(98)] + [_row(0.995, False, decided=False, final=True)] * 2
    readings = [_row(0.99, True), _row(0.98, True), _row(0.96, False), _row(0.9, True)]
    choice = choose_threshold(empties + readings, 0.0025)
    assert choice["threshold"] == 0.98 and choice["wrong_final"] == 2


def test_fields_sent_to_a_person_for_other_reasons_do_not_move_the_threshold():
    rows = [_row(0.995, True, decided=False, final=True) for _ in range(500)]
    rows += [_row(0.999, False, reasons=["correction"]), _row(0.97, True), _row(0.96, True)]
    assert choose_threshold(rows, 0.0025)["threshold"] == 0.96


def test_the_model_in_force_keeps_every_weight_to_its_sign():
    """The monotonicity the judge's tests rely on is what the calibration guarantees: check that
    what is committed in thresholds.py was fitted so (or edited within the signs)."""
    for kind, model in t.CONFIDENCE_MODEL.items():
        for name, w in model["weights"].items():
            assert name in MODEL_FEATURES, (kind, name)
            assert MODEL_FEATURES[name] * w >= 0, (kind, name, w)


def test_a_kind_with_too_few_wrong_fields_keeps_its_posterior():
    rows = [{"kind_of_confidence": "listed", "features": {n: 0.5 for n in MODEL_FEATURES}, "other_reasons": [],
             "correct": k != 3, "envelope": "e"} for k in range(300)]
    model = fit_confidence_model(rows)
    assert model["listed"]["weights"] == {"logit_p": 1.0} and model["listed"]["intercept"] == 0.0


def test_out_of_fold_scores_never_see_their_own_envelope():
    """Flipping the truth of every field of one envelope changes the model fitted on all, never the
    confidence that envelope's fields get out of fold."""
    from scan.calibrate import out_of_fold

    rng = np.random.default_rng(3)
    rows = []
    for k in range(400):
        x = rng.normal(size=2)
        rows.append({"kind_of_confidence": "text", "envelope": f"e{k % 20}", "other_reasons": [],
                     "features": {**dict.fromkeys(MODEL_FEATURES, 0.0), "logit_p": float(x[0]), "doubt_disagree": float(abs(x[1]))},
                     "correct": bool(rng.uniform() < 1 / (1 + np.exp(-(0.5 + x[0] - abs(x[1])))))})
    flipped = [{**r, "correct": not r["correct"]} if r["envelope"] == "e7" else r for r in rows]
    before, after = out_of_fold(rows), out_of_fold(flipped)
    for r, a, b in zip(rows, before, after):
        if r["envelope"] == "e7":
            assert a["confidence"] == b["confidence"]
    assert any(a["confidence"] != b["confidence"] for r, a, b in zip(rows, before, after) if r["envelope"] != "e7")
    assert fit_confidence_model(rows)["text"] != fit_confidence_model(flipped)["text"]


def _scored(k: int, *, kind: str, shift: float, rng) -> dict:
    """A comb field row as field_records gives it: confidence features, truth, verdict as judged."""
    x = float(rng.normal())
    right = bool(rng.uniform() < 1 / (1 + np.exp(-(shift + 2.5 * x))))
    return {"field": f"f{k % 30}", "type": "text", "filled": True, "kind_of_confidence": kind, "envelope": f"e{k % 25}",
            "recognizer": "icr", "other_reasons": [], "reasons": [], "confidence": 0.99, "final": True,
            "features": {**dict.fromkeys(MODEL_FEATURES, 0.0), "logit_p": x}, "p_read": 0.9, "correct": right,
            "want": "JEAN", "got": "JEAN" if right else "JEAN-"}


def test_transfer_reports_the_other_corpora_with_what_was_fitted_on_the_first_alone():
    """Fit on one corpus, report on another never fitted on: the report's final fields are the ones
    the first corpus's model and thresholds make final, and its final-and-wrong fields are counted
    per kind of error; the figures in force are the rows as judged."""
    from scan.calibrate import transfer, with_thresholds, rescored

    rng = np.random.default_rng(5)
    fit_rows = [_scored(k, kind="text", shift=1.0, rng=rng) for k in range(3000)]
    report_rows = [_scored(k, kind="text", shift=-1.0, rng=rng) for k in range(1500)]  # read worse: fewer right
    out = transfer(fit_rows, report_rows, target=0.01)
    threshold = out["final_min_confidence"]["text"]
    expected = with_thresholds(rescored(report_rows, out["confidence_model"]), out["final_min_confidence"])
    finals = [r for r in expected if r["final"]]
    assert 0 < len(finals) < len(report_rows) and all(r["confidence"] >= threshold for r in finals)
    moved = out["report_transferred"]
    assert moved["automation"] == round(len(finals) / len(report_rows), 4)
    assert moved["final_and_wrong"] == sum(not r["correct"] for r in finals) == moved["final_and_wrong_by_kind"].get("word", 0)
    assert out["report_in_force"]["automation"] == 1.0  # every row final as judged
    assert out["report_in_force"]["final_and_wrong"] == sum(not r["correct"] for r in report_rows)


def test_corpora_are_named_by_generator_and_seeds():
    import argparse

    import pytest

    from scan.calibrate import corpora_spec

    assert corpora_spec("other:4,5,6") == ("other", [4, 5, 6], None) and corpora_spec("ours:11/60") == ("ours", [11], 60)
    with pytest.raises(argparse.ArgumentTypeError):
        corpora_spec("mine:1")
    with pytest.raises(argparse.ArgumentTypeError):
        corpora_spec("ours:x")


def test_readings_are_cached_per_icr_model(monkeypatch):
    """A corpus read with a model tried through CSQ_ICR_MODEL is cached apart: its readings are
    never taken for the model in force's, nor the other way (a comparison would compare a model
    with itself)."""
    from scan import icr
    from scan.calibrate import cache_name

    monkeypatch.delenv("CSQ_ICR_MODEL", raising=False)
    monkeypatch.delenv("CSQ_ICR_DIGIT_MODEL", raising=False)
    in_force = cache_name()
    assert icr.MODEL_PATH.stem in in_force and icr.DIGIT_MODEL_PATHS[0].stem in in_force
    monkeypatch.setenv("CSQ_ICR_DIGIT_MODEL", "/elsewhere/icr-v8.onnx")
    digits_on_trial = cache_name()
    assert digits_on_trial != in_force and "icr-v8" in digits_on_trial
    monkeypatch.delenv("CSQ_ICR_DIGIT_MODEL")
    monkeypatch.setenv("CSQ_ICR_MODEL", "/elsewhere/icr-v9.onnx")
    assert cache_name() not in (in_force, digits_on_trial) and "icr-v9" in cache_name()
