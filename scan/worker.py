"""The scanner's side of the shared scan queue: pure functions, no database.

Many stations feed one registry: a clerk's station puts the pages of an envelope (or a
stack) in a queue, and worker processes on any machine read them one page at a time
(registry/work_queue.py claims the pages and stores what comes back). This module is what
those workers run, and what turns the stored page readings back into envelopes:

- `list_pages(files)`: every (file, page) of a scan, checked as `scan ingest` checks it (a
  file we cannot open fails here, at the station, before anything is queued);
- `read_page(path, index, sequence)`: one page through every page stage
  (scan.pipeline.process_page), as (JSON text, page image PNG) to store;
- `envelope(pages)` / `stack(pages, files)`: page readings back to EnvelopeReadings, with
  scan.pipeline's own `assemble` and stack split, so a queued envelope reads exactly as
  `scan ingest` / `scan batch` would read it.

A page reading travels as JSON, not pickle: the queue is shared by machines, and
unpickling what another machine wrote would let that machine run code here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path

from errors import InputFileError
from scan.model import EnvelopeReading, PageRecord

FORMAT = 3  # of the stored page reading; bumped when its shape changes (2: Mark.around, RawField.marks_above; 3: Mark.encircled, Mark.solid, RawField.marks_below, joined_above, joined_below)


# ------------------------------------------------------------------------------ pages


def list_pages(files: Iterable[Path]) -> list[tuple[str, int]]:
    """(path, page index) of every page of every file, in scan order."""
    from scan.load import count_pages

    pages = [(str(path), index) for path in files for index in range(count_pages(Path(path)))]
    if not pages:
        raise InputFileError("no pages to read: give at least one scanned file")
    return pages


_engines_ready = False


def prepare() -> None:
    """Once per worker process: one thread, engines loaded before the first page (as the
    pipeline's own pool workers do)."""
    global _engines_ready
    if not _engines_ready:
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        from scan.pipeline import _init_worker

        _init_worker()
        _engines_ready = True


def read_page(path: str, index: int, sequence: int, *, source_name: str | None = None) -> tuple[str, bytes]:
    """One page read by every page stage: (reading as JSON text, page image PNG: empty since the
    registry keeps the scan as received and the reading says how to show the page).

    `source_name` is the file name the station gave (the worker reads a local copy). A page
    that cannot be decoded raises InputFileError, as in `scan ingest`."""
    from scan.pipeline import PageTask, process_page

    prepare()
    result = process_page(PageTask(path, index, sequence))
    if source_name is not None:
        result = replace(result, task=replace(result.task, path=source_name), record=replace(result.record, source_file=source_name))
    return encode(result)


# ------------------------------------------------------------------------------ codec


def _plain(value):
    """JSON-able form of the values a page reading holds (tuples as lists, numpy scalars as numbers)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        return value.item()
    return value


def _tuples(value):
    """Lists back to tuples, all the way down (the dataclasses hold tuples)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def encode(result) -> tuple[str, bytes]:
    """A scan.pipeline.PageResult as (JSON text, page image PNG)."""
    record = asdict(result.record)
    image = record.pop("image_png")
    doc = {
        "format": FORMAT,
        "task": asdict(result.task),
        "record": record,
        "raw_fields": [asdict(raw) for raw in result.raw_fields],
        "page_code": asdict(result.page_code) if result.page_code is not None else None,
        "alignment": result.alignment,
        "timings": result.timings,
    }
    return json.dumps(_plain(doc), ensure_ascii=False, separators=(",", ":")), bytes(image)


def decode(text: str, image_png: bytes):
    """(JSON text, PNG) back to the scan.pipeline.PageResult that was stored."""
    from scan.engines import CharGuess
    from scan.pipeline import PageResult, PageTask
    from scan.read import Mark, RawField
    from templates.codes import PageCode

    doc = json.loads(text)
    if doc.get("format") != FORMAT:
        raise InputFileError(f"a page reading of format {doc.get('format')!r}, this program reads format {FORMAT}: "
                             "run workers of the same csq-intake version as the stations")

    def raw_field(d: dict) -> RawField:
        d = {k: _tuples(v) for k, v in d.items()}
        d["cells"] = tuple(None if c is None else CharGuess(c["best"], c["p"], _tuples(c["alternatives"])) for c in d["cells"])
        d["marks"] = tuple(Mark(**m) for m in d["marks"])
        return RawField(**d)

    record = {k: _tuples(v) for k, v in doc["record"].items()}
    return PageResult(
        task=PageTask(**doc["task"]),
        record=PageRecord(**record, image_png=bytes(image_png)),
        raw_fields=tuple(raw_field(d) for d in doc["raw_fields"]),
        page_code=PageCode(**doc["page_code"]) if doc["page_code"] is not None else None,
        alignment=doc["alignment"],
        timings=_tuples(doc["timings"]),
    )


# ------------------------------------------------------------------------------ envelopes


def envelope(pages: list[tuple[str, bytes]], *, envelope_image: bytes | None = None, today: date | None = None) -> EnvelopeReading:
    """The page readings of ONE envelope (scan order) as its reading, as `scan ingest` makes it."""
    from scan.pipeline import assemble

    return assemble([decode(t, png) for t, png in pages], envelope_image=envelope_image, today=today)


def stack(pages: list[tuple[str, bytes]], files: list[str], *, today: date | None = None) -> Iterator[EnvelopeReading]:
    """The page readings of a stack (scan order) split at its separator sheets, as `scan batch`
    splits it: envelopes yielded in order, then IncompleteStack if a separator has no pages."""
    from scan.pipeline import split_stack

    yield from split_stack((decode(t, png) for t, png in pages), files=[Path(f) for f in files], today=today)


