"""Staff corrections become training cells for the ICR: real generated envelopes are scanned
and registered, a reviewer saves the true values of the doubtful fields, and the exported
boxes carry the characters the person typed, cut where the reader cuts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scan import corrections
from scan.engines import cell_recognizer
from templates.spec import TEXT_CHARSET, load_form
from test_cli import assert_one_line_error, csq

ALIGNED_TYPES = {f.name for f in load_form().fields if f.type in corrections.CELL_ALIGNED_TYPES}


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """Two handwritten envelopes scanned and registered; every doubtful field then saved with its
    true value by a reviewer, as the review station does. (working folder, {file_no: truth})."""
    cwd = tmp_path_factory.mktemp("corrections")
    listing = json.loads(csq("samples", "generate", "--out", "env", "--count", "2", "--seed", "5", "--damage", "light",
                             "--json", cwd=cwd).stdout)
    truths = {}
    for envelope in listing["envelopes"]:
        truth = json.loads((cwd / envelope["truth"]).read_text(encoding="utf-8"))
        proc = csq("scan", "ingest", *envelope["files"], "--postmark", truth["postmark_date"], "--json", cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        truths[json.loads(proc.stdout)["file_no"]] = truth["fields"]
    waiting = json.loads(csq("review", "list", "--json", cwd=cwd).stdout)
    assert csq("users", "add", "remi", "--role", "reviewer", cwd=cwd, env={"CSQ_NEW_PASSWORD": "a long enough password"}).returncode == 0
    saved = 0
    for row in waiting:
        true = truths[row["file_no"]].get(row["field"])
        if row["field"] in ALIGNED_TYPES and isinstance(true, str) and true:
            proc = csq("review", "set", row["file_no"], row["field"], true, "--by", "remi", cwd=cwd)
            saved += proc.returncode == 0
    assert saved >= 5  # handwriting in held-out hands: several fields were doubtful
    return cwd, truths


def test_exported_cells_carry_the_persons_characters_where_the_reader_cuts(reviewed):
    cwd, truths = reviewed
    proc = csq("review", "export-cells", "--out", "cells", "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["fields_used"] >= 3 and summary["cells"] >= 15
    lines = [json.loads(line) for line in (cwd / "cells" / corrections.LABELS_NAME).read_text(encoding="utf-8").splitlines()]
    assert len(lines) == summary["cells"]
    by_field: dict[tuple[str, str], list[dict]] = {}
    for line in lines:
        by_field.setdefault((line["file_no"], line["field"]), []).append(line)
    for (file_no, field), cells in by_field.items():
        true = truths[file_no][field]
        assert "".join(c["char"] for c in cells) == true.replace(" ", "")  # each written box, in order, labelled
    # The cells are where the writing is: today's recognizer, which did not learn from them,
    # reads most of them as labelled (a box cut one cell off would read as garbage).
    pairs = corrections.load_cells(cwd / "cells")
    guesses = cell_recognizer().classify([crop for crop, _ in pairs], TEXT_CHARSET)
    right = sum(g.best == char for g, (_, char) in zip(guesses, pairs))
    assert right / len(pairs) >= 0.6, f"{right}/{len(pairs)}"
    # Running again gives the same folder.
    again = json.loads(csq("review", "export-cells", "--out", "cells", "--json", cwd=cwd).stdout)
    assert again == summary
    assert len((cwd / "cells" / corrections.LABELS_NAME).read_text(encoding="utf-8").splitlines()) == len(lines)


def test_a_value_that_does_not_line_up_with_its_boxes_is_skipped(reviewed, tmp_path):
    cwd, _ = reviewed
    from registry.service import Registry

    with Registry.open(f"sqlite:///{cwd / 'csq-data' / 'registry.db'}", cwd / "csq-data") as registry:
        rows = [r for r in registry.corrected_readings() if r["field"] in ALIGNED_TYPES]
    row = rows[0]
    shifted = corrections.CorrectedField(row["file_no"], row["field"], " " + row["value"], row["machine_value"],
                                         Path(row["image"]), row["form_id"], row["form_version"], row["page_no"])
    summary = corrections.export_cells([shifted], tmp_path / "out")
    assert summary["cells"] == 0 and summary["fields_skipped"] == {"the value does not line up with the written boxes": 1}
    missing = corrections.CorrectedField(row["file_no"], row["field"], row["value"], None, tmp_path / "gone.png",
                                         row["form_id"], row["form_version"], row["page_no"])
    assert corrections.export_cells([missing], tmp_path / "out")["fields_skipped"] == {"page image missing or unreadable": 1}


def test_an_unwritable_folder_is_a_one_line_error(reviewed, tmp_path):
    cwd, _ = reviewed
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_one_line_error(csq("review", "export-cells", "--out", str(blocker / "cells"), cwd=cwd), "writable --out")


def test_the_training_script_reads_the_export(reviewed):
    import importlib.util

    cwd, _ = reviewed
    assert csq("review", "export-cells", "--out", "cells", cwd=cwd).returncode == 0
    spec = importlib.util.spec_from_file_location("train_icr", Path(__file__).resolve().parents[1] / "scripts" / "train_icr.py")
    train_icr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_icr)
    x, y = train_icr.corrections_split(cwd / "cells")
    every = [json.loads(line)["char"] for line in (cwd / "cells" / corrections.LABELS_NAME).read_text(encoding="utf-8").splitlines()]
    # A letter the model has no class for (a Vietnamese tone mark: the reviewers' corrections hold
    # names as in the passport) is left out; every other cell is kept, in order.
    labels = [c for c in every if c in train_icr.CLASSES]
    assert labels and all(len(c) == 1 and c not in train_icr.CLASSES for c in every if c not in labels)
    assert x.shape[0] == len(labels) and x.shape[1:] == (train_icr.icr.INPUT_SIZE,) * 2
    assert "".join(train_icr.CLASSES[i] for i in y) == "".join(labels)
