"""scripts/train_icr.py: the resumable training makes progress whatever the machine's load."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.mark.slow
def test_a_run_whose_budget_is_spent_still_trains_an_epoch(train_icr, tmp_path, monkeypatch):
    # An epoch that outlasts JOB_BUDGET_MIN (the machine shared with other jobs) made every
    # later run stop before training anything: exit 75 for ever, no progress.
    monkeypatch.setattr(train_icr, "CACHE_DIR", tmp_path)
    rng = np.random.default_rng(1)
    n = 2 * train_icr.BATCH
    x = rng.integers(0, 255, size=(n, train_icr.icr.INPUT_SIZE, train_icr.icr.INPUT_SIZE), dtype=np.uint8)
    y = rng.integers(0, len(train_icr.CLASSES), size=n).astype(np.int16)
    spent = time.time() - 1
    assert train_icr.train(x, y, epochs=2, deadline=spent) is None  # one epoch done, then it stops
    assert train_icr.train(x, y, epochs=2, deadline=spent) is not None  # the next run finishes


def test_every_class_has_a_way_to_be_drawn(train_icr):
    # A letter beyond French is drawn by the font when it has the glyph, else as its base
    # letter plus hand strokes: never the font's empty box.
    for char in train_icr.OTHER_LATIN_CLASSES:
        base, marks = train_icr.hand_marks(char)
        assert marks and base in train_icr.FRENCH_CLASSES, char
    assert set(train_icr.FRENCH_CLASSES) <= set(train_icr.CLASSES)
    assert len(set(train_icr.CLASSES)) == len(train_icr.CLASSES)
