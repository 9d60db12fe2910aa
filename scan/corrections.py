"""What staff corrections teach the reader: the comb cells of fields a person saved, cut from
the stored page image exactly as the reader cuts them, each labelled with the person's character.

queXF lets an office train its ICR on its own verified data; vendors put handprint accuracy
around 70 % and plan for doubt. Every field a reviewer typed or confirmed is a labelled example
of a real pen on a real scanner, which no synthetic font is. `export_cells` writes them for
scripts/train_icr.py (`--corrections DIR`); nothing is retrained on its own: a person rebuilds
the model, measures it on the held-out hands, and commits it.

The registry gives the corrected fields (Registry.corrected_readings); scan/ never reads the
database. A field is used only when its value lines up with its written boxes (one character
per box, left to right, a space for an empty box): a value typed differently from how it was
written (a date, a value too long for its boxes) teaches nothing safe and is skipped, counted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from errors import CsqError, StorageError
from scan import icr
from scan.load import encode_png
from scan.read import locate
from scan.render import render
from templates.spec import load_form

# Box-per-character types; a date is typed YYYY-MM-DD but written in the boxes of its layout.
CELL_ALIGNED_TYPES = ("text", "digits")
LABELS_NAME = "labels.jsonl"


@dataclass(frozen=True)
class CorrectedField:
    """A field a person saved over the machine's handwritten reading (Registry.corrected_readings)."""

    file_no: str
    field: str
    value: str
    machine_value: str | None
    image: Path  # the stored file the page is kept in: the scan as received, or (older registries) its aligned PNG
    form_id: str
    form_version: str
    page_no: int
    view: str | None = None  # with the scan as received: how the reader saw the page (scan/render.py)


@dataclass(frozen=True)
class TrainingCell:
    file_no: str
    field: str
    index: int  # the box, from 0
    char: str  # what the person says is written there
    machine: str  # what the reader had read there ('' for nothing)
    crop: np.ndarray  # the box as the reader crops it, lines included


def cells_of(corrected: CorrectedField, page_image: np.ndarray) -> tuple[list[TrainingCell], str | None]:
    """The written boxes of one field with their labels, or ([], why it was skipped)."""
    form = load_form(corrected.form_id, corrected.form_version)
    try:
        spec = form.field(corrected.field)
    except KeyError:
        return [], "not a field of its form"
    if spec.type not in CELL_ALIGNED_TYPES or not spec.cells:
        return [], f"a {spec.type} field is not written one character per box"
    value = corrected.value
    if len(value) > len(spec.cells):
        return [], "the value is longer than its boxes"
    page = form.pages[corrected.page_no - 1]
    boxes, _ = locate(page_image, page, spec.cells)
    crops = [np.ascontiguousarray(page_image[max(0, y0):y1 + 1, max(0, x0):x1 + 1]) for x0, y0, x1, y1 in boxes]
    written = [i for i, crop in enumerate(crops) if not icr.is_cell_empty(crop)[0]]
    typed = [i for i, ch in enumerate(value) if ch != " "]
    if written != typed:
        return [], "the value does not line up with the written boxes"
    machine = (corrected.machine_value or "").ljust(len(spec.cells))
    return [TrainingCell(corrected.file_no, corrected.field, i, value[i], machine[i].strip(), crops[i]) for i in written], None


def _page_image(corrected: CorrectedField) -> np.ndarray | None:
    """The aligned page the field was read on, rendered as the station renders it; None if lost."""
    if not corrected.view:
        return cv2.imread(str(corrected.image), cv2.IMREAD_GRAYSCALE)
    try:
        return render(corrected.image, corrected.view)
    except (CsqError, ValueError):
        return None


def export_cells(fields: Iterable[CorrectedField], out: Path) -> dict:
    """Write each usable field's cells as PNG under out/cells/ and one line per cell in
    out/labels.jsonl (written anew: running again gives the same folder). Returns a summary."""
    try:
        return _export(fields, out)
    except OSError as exc:
        raise StorageError(f"cannot write the training cells ({exc.strerror}): choose a writable --out folder",
                           path=str(exc.filename or out)) from exc


def _export(fields: Iterable[CorrectedField], out: Path) -> dict:
    cells_dir = out / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    used, skipped, chars = 0, Counter(), Counter()
    changed_cells = 0
    lines = []
    pages: dict[tuple[Path, str | None], np.ndarray | None] = {}
    for corrected in fields:
        key = (corrected.image, corrected.view)
        if key not in pages:
            pages[key] = _page_image(corrected)
        image = pages[key]
        if image is None:
            skipped["page image missing or unreadable"] += 1
            continue
        cells, why = cells_of(corrected, image)
        if why is not None:
            skipped[why] += 1
            continue
        used += 1
        for cell in cells:
            name = f"{cell.file_no}-{cell.field}-{cell.index:02d}.png"
            (cells_dir / name).write_bytes(encode_png(cell.crop))
            lines.append(json.dumps({"png": f"cells/{name}", "char": cell.char, "machine": cell.machine,
                                     "file_no": cell.file_no, "field": cell.field}, ensure_ascii=False))
            chars[cell.char] += 1
            changed_cells += cell.char != cell.machine
    tmp = out / (LABELS_NAME + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(out / LABELS_NAME)
    return {"fields_used": used, "fields_skipped": dict(skipped), "cells": len(lines),
            "cells_the_reader_had_wrong": changed_cells, "characters": dict(sorted(chars.items())), "out": str(out)}


def load_cells(folder: Path) -> list[tuple[np.ndarray, str]]:
    """(crop, character) of every cell an export wrote (for scripts/train_icr.py)."""
    out = []
    for line in (folder / LABELS_NAME).read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        crop = cv2.imread(str(folder / item["png"]), cv2.IMREAD_GRAYSCALE)
        if crop is not None:
            out.append((crop, item["char"]))
    return out
