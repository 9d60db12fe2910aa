"""Stage 6, the envelope: pages read in parallel, then put together into one application.

Page stages are plain functions over a frozen `PageContext` (OCRmyPDF chains its page stages
the same way; its context is mutable, ours is not): load -> identify -> align -> read. Pages
are independent, so a pool of one process per core reads them (each with its own Tesseract
and ICR, loaded once; reading-notes: never share an engine, never let OpenMP add threads);
workers get a file path and a page number, not pixels. The envelope stage (judge, page
checks, rules) runs in the calling process.

`read_envelope(files)`: the pages of ONE envelope -> one EnvelopeReading.
`read_stack(files)`: a stack split at separator sheets -> one EnvelopeReading per envelope,
each yielded as soon as its last page is read, each carrying its own separator's reading
(postmark date, serial) and nothing of its neighbours'.

Stack edge cases, decided:
- the first page (blank pages aside) is not a separator: IncompleteStack before anything is
  yielded (we cannot know which envelope those pages belong to);
- a separator followed directly by another separator (or ending the stack): its envelope is
  empty; the other envelopes are yielded, then IncompleteStack names every empty separator,
  so the clerk rescans that envelope and runs the stack again (envelopes already registered
  are recognised by their fingerprint and not registered twice);
- the same separator sheet scanned twice in a row (a double feed): the second copy is kept as
  a page of the envelope's record with a problem, it does not start an empty envelope;
- a separator whose code is unreadable still splits (its corner marks and layout say what it
  is); its serial is then empty and the envelope carries the problem;
- the same serial on two separators further apart (a reused sheet): both split, both
  envelopes carry the problem; neither blocks the other.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from errors import CsqError, IncompleteStack, InputFileError, UnreadablePage
from scan import thresholds as t
from scan.model import EnvelopeReading, FieldReading, PageRecord, SeparatorReading
from scan.read import RawField
from scan.render import PageView, aligned_view
from templates.codes import PageCode
from templates.spec import CURRENT_VERSION, FORM_ID, SEPARATOR_ID, FormSpec, load_form

Progress = Callable[[int, "int | None", str], None]


@dataclass(frozen=True)
class PageTask:
    path: str
    index: int  # page within the file, 0-based
    sequence: int  # position in the whole scan (all files), 0-based


@dataclass(frozen=True, eq=False)
class PageContext:
    """What the stages know about one page; each stage returns a new context."""

    task: PageTask
    pixels: np.ndarray | None = None  # as loaded (grey, <= 200 dpi), read-only
    dpi: float = 0.0
    pixels_sha256: str = ""
    identity: object | None = None  # scan.identify.Identity
    upright: np.ndarray | None = None
    alignment: object | None = None  # scan.align.Alignment
    aligned: np.ndarray | None = None
    prefilled: dict | None = None  # the page's values from its data codes
    raw_fields: tuple[RawField, ...] = ()
    problems: tuple[str, ...] = ()
    unreadable: str = ""  # why the page could not be identified or aligned
    timings: tuple[tuple[str, float], ...] = ()

    def timed(self, stage: str, start: float, **changes) -> "PageContext":
        return replace(self, timings=self.timings + ((stage, (time.perf_counter() - start) * 1000),), **changes)


@dataclass(frozen=True)
class PageResult:
    """What a worker sends back: small values only (no pixels: the page is shown from its file)."""

    task: PageTask
    record: PageRecord
    raw_fields: tuple[RawField, ...]
    page_code: PageCode | None
    alignment: dict | None
    timings: tuple[tuple[str, float], ...]


@dataclass
class StageTimes:
    """Milliseconds per stage, summed over pages (for the benchmark)."""

    total_ms: dict = field(default_factory=lambda: defaultdict(float))
    pages: int = 0

    def add(self, timings) -> None:
        self.pages += 1
        for stage, ms in timings:
            self.total_ms[stage] += ms

    def per_page(self) -> dict:
        return {k: round(v / max(1, self.pages), 1) for k, v in self.total_ms.items()}


# ------------------------------------------------------------------------------ page stages


def stage_load(ctx: PageContext) -> PageContext:
    from scan.load import load_page

    start = time.perf_counter()
    page = load_page(Path(ctx.task.path), ctx.task.index)
    digest = hashlib.sha256(f"{page.pixels.shape}".encode() + page.pixels.tobytes()).hexdigest()
    return ctx.timed("load", start, pixels=page.pixels, dpi=page.dpi, pixels_sha256=digest)


def stage_identify(ctx: PageContext) -> PageContext:
    from scan.identify import identify, upright

    start = time.perf_counter()
    identity = identify(ctx.pixels)
    turned = upright(ctx.pixels, identity.quarter_turns)
    problems = ctx.problems + identity.problems
    unreadable = "; ".join(identity.problems) if identity.kind == "unreadable" else ""
    return ctx.timed("identify", start, identity=identity, upright=turned, problems=problems, unreadable=unreadable)


def stage_align(ctx: PageContext) -> PageContext:
    from scan.align import align, warp
    from scan.identify import template_page
    from scan.reference import blank_page

    identity = ctx.identity
    if identity.kind not in ("form", "separator") or identity.page_code is None:
        return ctx
    start = time.perf_counter()
    page = template_page(identity.page_code)
    codes = tuple(
        (box, code.corners)
        for code in identity.codes
        if code.text.startswith("CSQ1|")
        for box in [_code_box(page, code)]
        if box is not None
    )
    try:
        alignment = align(
            ctx.upright,
            page,
            codes=codes,
            template=lambda: blank_page(page.form_id, page.version, page.index),
        )
    except UnreadablePage as exc:
        return ctx.timed("align", start, unreadable=str(exc), problems=ctx.problems + (str(exc),))
    return ctx.timed("align", start, alignment=alignment, aligned=warp(ctx.upright, alignment, page))


def _code_box(page, code) -> tuple | None:
    """Which of the page's two page-code boxes a detected code sits in (by its centre)."""
    from scan.align import to_canonical_px

    cx = sum(x for x, _ in code.corners) / 4
    cy = sum(y for _, y in code.corners) / 4
    best, best_d = None, float("inf")
    for box in page.code_boxes:
        bx, by = to_canonical_px(page, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        d = (bx - cx) ** 2 + (by - cy) ** 2
        if d < best_d:
            best, best_d = box, d
    return best if best_d < (t.WORKING_DPI * 1.5) ** 2 else None


def stage_read(ctx: PageContext) -> PageContext:
    from scan.engines import cell_recognizer, tesseract
    from scan.identify import template_page
    from scan.read import read_page
    from scan.reference import printed_mask
    from templates.codes import decode_page_data

    if ctx.aligned is None:
        return ctx
    start = time.perf_counter()
    identity = ctx.identity
    page = template_page(identity.page_code)
    problems = list(ctx.problems)
    prefilled = None
    if identity.data_texts:
        try:
            data = decode_page_data(list(identity.data_texts))
            if identity.page_code.document_id and data.document_id != identity.page_code.document_id:
                problems.append(f"data codes of document {data.document_id} on a page of document {identity.page_code.document_id}")
            elif data.page_no != page.index + 1:
                problems.append(f"data codes of page {data.page_no} on page {page.index + 1}")
            else:
                prefilled = data.fields
        except UnreadablePage as exc:
            problems.append(f"prefilled page whose data codes cannot be read ({exc}): typed text read instead")
    elif identity.page_code.document_id and page.fields:
        problems.append("prefilled page whose data codes cannot be read: typed text read instead")
    typed_without_codes = identity.page_code.document_id is not None and prefilled is None
    raws = read_page(
        ctx.aligned,
        page,
        icr=None if typed_without_codes else cell_recognizer(),
        ocr=tesseract(),
        prefilled=prefilled,
        printed=printed_mask(page.form_id, page.version, page.index),
    )
    seen = [r.line_visibility for r in raws if r.type in ("text", "digits", "date")]
    if seen and float(np.median(seen)) < t.LINE_VISIBLE_MIN:
        problems.append(
            f"the printed boxes barely show on this scan ({float(np.median(seen)):.0%} of their lines): light ink may be lost; "
            "rescan it in grey or with a higher threshold"
        )
    return ctx.timed("read", start, raw_fields=raws, prefilled=prefilled, problems=tuple(problems))


def page_record(ctx: PageContext) -> PageRecord:
    """The page as the registry keeps it: no pixels, only how to show it again from the file as
    received (scan/render.py): the page number, the turn, the alignment or the downscale."""
    identity = ctx.identity
    code = identity.page_code if identity is not None else None
    if ctx.aligned is not None:
        from scan.align import canonical_size
        from scan.identify import template_page

        kind = identity.kind
        view = aligned_view(ctx.task.index, identity.quarter_turns, ctx.alignment.matrix,
                            canonical_size(template_page(identity.page_code)))
    else:
        kind = "unreadable" if ctx.unreadable else (identity.kind if identity is not None else "unreadable")
        turns = identity.quarter_turns if identity is not None and ctx.upright is not None else 0
        view = PageView(ctx.task.index, turns, scale=_downscale(ctx.dpi))
    return PageRecord(
        sequence=ctx.task.sequence,
        source_file=ctx.task.path,
        source_page=ctx.task.index,
        kind=kind,
        pixels_sha256=ctx.pixels_sha256,
        form_id=code.form_id if code else None,
        version=code.version if code else None,
        page_no=code.page_no if code else None,
        document_id=code.document_id if code else None,
        rotation=identity.rotation if identity is not None else 0,
        problems=tuple(dict.fromkeys(ctx.problems)),
        view=view.to_json(),
    )


def _downscale(dpi: float) -> float | None:
    """Supporting documents are shown at most at SUPPORTING_MAX_DPI (a 600 dpi photo need not be)."""
    if not dpi or dpi <= t.SUPPORTING_MAX_DPI:
        return None
    return t.SUPPORTING_MAX_DPI / dpi


def process_page(task: PageTask) -> PageResult:
    """Every page stage for one page (what a worker runs). Bad input raises InputFileError; a
    page we cannot identify or align comes back as an 'unreadable' page with the reason."""
    ctx = stage_load(PageContext(task))
    try:
        for stage in (stage_identify, stage_align, stage_read):
            ctx = stage(ctx)
    except CsqError as exc:
        ctx = replace(ctx, unreadable=str(exc), problems=ctx.problems + (str(exc),), aligned=None)
    except Exception as exc:  # a bug must not stop the mailroom: the page goes to a person
        message = f"internal error while reading this page ({type(exc).__name__}: {exc}); please report it"
        print(f"csq scan: {task.path}, page {task.index + 1}: {message}", file=sys.stderr)
        ctx = replace(ctx, unreadable=message, problems=ctx.problems + (message,), aligned=None, raw_fields=())
    record = page_record(ctx)
    alignment = None
    if ctx.alignment is not None:
        a = ctx.alignment
        alignment = {"method": a.method, "residual_px": round(a.residual_px, 3), "check_px": None if a.check_px is None else round(a.check_px, 3), "sharpness": round(a.sharpness, 1), "markers": list(a.markers_found)}
    code = ctx.identity.page_code if ctx.identity is not None and record.kind in ("form", "separator") else None
    return PageResult(task, record, ctx.raw_fields, code, alignment, ctx.timings)


# ------------------------------------------------------------------------------ workers


def _init_worker() -> None:
    """Once per worker process: one thread per process, engines loaded before the first page."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    cv2.setNumThreads(1)
    from scan.engines import barcodes, cell_recognizer, tesseract

    tesseract()
    cell_recognizer()
    barcodes()


def _default_workers(pages: int) -> int:
    env = os.environ.get("CSQ_SCAN_WORKERS")
    if env and env.isdigit():
        return max(1, int(env))
    if pages < t.MIN_PAGES_FOR_POOL and _POOL is None:
        return 1  # starting processes costs more than a few pages take
    return max(1, os.cpu_count() or 1)


_POOL: tuple[int, object] | None = None  # (workers, multiprocessing pool), kept for the next call


def _shared_pool(workers: int):
    """The process's pool of page readers: started once, reused by every later envelope (a batch
    or the benchmark reads many), closed at exit."""
    global _POOL
    if _POOL is not None and _POOL[0] == workers:
        return _POOL[1]
    close_pool()
    # spawn, not fork: a forked child would inherit the parent's opencv threads and engines.
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker)
    _POOL = (workers, pool)
    atexit.register(close_pool)
    return pool


def close_pool() -> None:
    global _POOL
    if _POOL is not None:
        _POOL[1].terminate()
        _POOL[1].join()
        _POOL = None


def _tasks(files: Iterable[Path]) -> list[PageTask]:
    """Every page of every file, in scan order; a file we cannot open fails here, before any work."""
    from scan.load import count_pages

    tasks: list[PageTask] = []
    for path in files:
        for index in range(count_pages(Path(path))):
            tasks.append(PageTask(str(path), index, len(tasks)))
    if not tasks:
        raise InputFileError("no pages to read: give at least one scanned file")
    return tasks


def run_pages(tasks: list[PageTask], *, workers: int | None = None, progress: Progress | None = None, stats: StageTimes | None = None) -> Iterator[PageResult]:
    """The page results in scan order, as soon as each is ready (a pool, or in-process with workers=1)."""
    workers = _default_workers(len(tasks)) if workers is None else workers
    total = len(tasks)
    if workers <= 1:
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        results: Iterable[PageResult] = map(process_page, tasks)
    else:
        results = _shared_pool(workers).imap(process_page, tasks, chunksize=1)
    finished = False
    try:
        for done, result in enumerate(results, start=1):
            if stats is not None:
                stats.add(result.timings)
            if progress is not None:
                progress(done, total, f"{Path(result.task.path).name} p{result.task.index + 1}: {result.record.kind}")
            yield result
        finished = True
    finally:
        if workers > 1 and not finished:
            close_pool()  # pages still queued for an abandoned reading must not delay the next one


# ------------------------------------------------------------------------------ envelope


def envelope_fingerprint(pages: Iterable[PageRecord]) -> str:
    """sha256 over the sorted page pixel hashes: the same scan read again gives the same value,
    whatever the order of its files."""
    return hashlib.sha256("\n".join(sorted(p.pixels_sha256 for p in pages)).encode()).hexdigest()


def _ranges(numbers: Iterable[int]) -> str:
    return ", ".join(str(n) for n in sorted(numbers))


def _form_of(results: list[PageResult]) -> FormSpec:
    versions = Counter((r.page_code.form_id, r.page_code.version) for r in results if r.page_code and r.record.kind == "form")
    if not versions:
        return load_form(FORM_ID, CURRENT_VERSION)
    (form_id, version), _ = versions.most_common(1)[0]
    return load_form(form_id, version)


def assemble(
    results: list[PageResult],
    *,
    separator: SeparatorReading | None = None,
    envelope_image: bytes | None = None,
    today: date | None = None,
) -> EnvelopeReading:
    """One envelope from its pages' results: page checks, every field judged, the rules."""
    from scan.judge import apply_rules, judge_field, missing_field
    from scan.settle import settle_faint_empties

    today = today or date.today()
    pages = tuple(replace(r.record, sequence=k) for k, r in enumerate(results))
    form = _form_of(results)
    problems: list[str] = []
    by_no: dict[int, list[tuple[int, PageResult]]] = defaultdict(list)
    for k, r in enumerate(results):
        if r.record.kind == "form" and r.page_code and r.page_code.form_id == form.form_id:
            by_no[r.page_code.page_no].append((k, r))

    def seq(k: int) -> str:
        return f"scan page {k + 1}"

    for kind, label in (("blank", "blank page"), ("foreign", "page of another form or version"), ("unreadable", "unreadable page"), ("separator", "separator sheet inside the envelope")):
        hits = [(k, r) for k, r in enumerate(results) if r.record.kind == kind]
        for k, r in hits:
            detail = f" ({'; '.join(r.record.problems)})" if r.record.problems and kind in ("foreign", "unreadable") else ""
            problems.append(f"{label}: {seq(k)}{detail}")
    if not by_no:
        problems.append("no page of the application form was found in the envelope")
    count = max((r.page_code.page_count for rs in by_no.values() for _, r in rs), default=len(form.pages))
    missing = [n for n in range(1, count + 1) if n not in by_no]
    if missing and by_no:
        problems.append(f"missing page(s) {_ranges(missing)} of {count}")
    versions = {(r.page_code.form_id, r.page_code.version) for rs in by_no.values() for _, r in rs}
    other_versions = [r for r in results if r.record.kind == "form" and r.page_code and (r.page_code.form_id, r.page_code.version) != (form.form_id, form.version)]
    if other_versions:
        problems.append(f"pages of two form versions: {', '.join(sorted(v for _, v in versions | {(x.page_code.form_id, x.page_code.version) for x in other_versions}))}")
    documents: dict[str | None, list[int]] = defaultdict(list)
    for n, rs in sorted(by_no.items()):
        for _, r in rs:
            documents[r.page_code.document_id].append(n)
    prefilled_docs = [d for d in documents if d]
    if len(prefilled_docs) > 1:
        problems.append("pages of two different prefilled applications: " + "; ".join(f"document {d}: page(s) {_ranges(set(documents[d]))}" for d in sorted(prefilled_docs)))
    elif prefilled_docs and None in documents:
        problems.append(f"page(s) {_ranges(set(documents[None]))} are not prefilled while the others are (document {prefilled_docs[0]}): two applications mixed?")

    readings: dict[str, FieldReading] = {}
    for n, rs in sorted(by_no.items()):
        if len(rs) > 1:
            problems.append(f"page {n} scanned {len(rs)} times ({', '.join(seq(k) for k, _ in rs)})")
        per_copy = []
        for _, r in rs:
            page = load_form(r.page_code.form_id, r.page_code.version).pages[n - 1]
            specs = {f.name: f for f in page.fields}
            per_copy.append({raw.name: judge_field(raw, specs[raw.name], today=today) for raw in r.raw_fields if raw.name in specs})
        for name in per_copy[0]:
            copies = [c[name] for c in per_copy if name in c]
            best = max(copies, key=lambda c: (not c.needs_review, c.confidence))
            if len({repr(c.value) for c in copies}) > 1:
                best = replace(best, needs_review=True, reasons=best.reasons + ("duplicate_page_disagrees",))
            readings[name] = best
    unreadable_pages = [r for r in results if r.record.kind == "unreadable"]
    fields: list[FieldReading] = []
    for f in form.fields:
        if f.name in readings:
            fields.append(readings[f.name])
        else:
            reason = "page_unreadable" if unreadable_pages and (f.page_index + 1) in missing else "page_missing"
            fields.append(missing_field(f, reason))
    raws = [raw for rs in by_no.values() for _, r in rs for raw in r.raw_fields]
    judged = apply_rules(settle_faint_empties({r.name: r for r in fields}, raws, form), form, today=today)
    fields = [judged[f.name] for f in form.fields]
    if separator is not None and separator.page.problems:
        problems += [f"separator: {p}" for p in separator.page.problems]
    return EnvelopeReading(
        fingerprint=envelope_fingerprint(pages),
        pages=pages,
        fields=tuple(fields),
        form_id=form.form_id if by_no else None,
        version=form.version if by_no else None,
        problems=tuple(dict.fromkeys(problems)),
        separator=separator,
        envelope_image_png=envelope_image,
    )


def read_pages(files: list[Path], *, workers: int | None = None, progress: Progress | None = None,
               stats: StageTimes | None = None) -> list[PageResult]:
    """Every page of these files read, in scan order, not yet split or assembled: for a caller
    that decides from the pages what they are (the mailroom's folder: a stack or one envelope)."""
    tasks = _tasks(files)
    if progress is not None:
        progress(0, len(tasks), "reading")
    return list(run_pages(tasks, workers=workers, progress=progress, stats=stats))


def read_envelope(
    files: list[Path],
    *,
    progress: Progress | None = None,
    envelope_image: bytes | None = None,
    workers: int | None = None,
    stats: StageTimes | None = None,
    today: date | None = None,
) -> EnvelopeReading:
    """The scanned pages of ONE envelope (any order, orientation, files) as one reading."""
    results = read_pages(files, workers=workers, progress=progress, stats=stats)
    return assemble(results, envelope_image=envelope_image, today=today)


# ------------------------------------------------------------------------------ stacks


def read_separator(result: PageResult, *, today: date | None = None) -> SeparatorReading:
    """The clerk's entries on a separator sheet, judged like any field, with the sheet's own checks:
    a postmark both written and marked illegible, or neither, or after the day received."""
    from scan.judge import judge_field, missing_field
    from templates.validation import parse_date

    today = today or date.today()
    form = load_form(SEPARATOR_ID, result.page_code.version if result.page_code else CURRENT_VERSION)
    page = form.pages[0]
    raws = {raw.name: raw for raw in result.raw_fields}
    fields = {}
    for f in page.fields:
        if f.name in raws:
            fields[f.name] = judge_field(raws[f.name], f, today=today)
        else:
            fields[f.name] = missing_field(f, "page_unreadable" if result.record.kind == "unreadable" else "page_missing")
    postmark, illegible, received = fields["postmark_date"], fields["postmark_illegible"], fields["received_date"]

    def flag(r: FieldReading, reason: str) -> FieldReading:
        return r if reason in r.reasons else replace(r, needs_review=True, reasons=tuple(x for x in r.reasons if x != "empty_required") + (reason,))

    if postmark.value is not None and illegible.value is True:
        postmark, illegible = flag(postmark, "rule:postmark_and_illegible"), flag(illegible, "rule:postmark_and_illegible")
    if postmark.value is None and illegible.value is False and not postmark.needs_review:
        postmark = flag(postmark, "missing")
    p, r = parse_date(postmark.value), parse_date(received.value)
    if p and r and p > r:
        postmark = flag(postmark, "rule:postmark_after_received")
    if p and p > today:
        postmark = flag(postmark, "rule:postmark_in_future")
    serial = (result.page_code.serial or "") if result.page_code else ""
    return SeparatorReading(serial, postmark, illegible, received, result.record)


def read_stack(
    files: list[Path],
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    stats: StageTimes | None = None,
    today: date | None = None,
) -> Iterator[EnvelopeReading]:
    """Envelopes of a stack split at separator sheets, each yielded as soon as it is read."""
    tasks = _tasks(files)
    if progress is not None:
        progress(0, len(tasks), "reading")
    yield from split_stack(run_pages(tasks, workers=workers, progress=progress, stats=stats), files=files, today=today)


def split_stack(results: Iterable[PageResult], *, files: list[Path], today: date | None = None) -> Iterator[EnvelopeReading]:
    """A stack's page results (scan order, from run_pages or a shared queue's workers) split
    at separator sheets: each envelope yielded as soon as its last page comes in."""
    current: SeparatorReading | None = None
    pages: list[PageResult] = []
    empty: list[str] = []
    seen_serials: dict[str, str] = {}
    started = False

    def where(r: PageResult) -> str:
        return f"{r.task.path}, page {r.task.index + 1}"

    def finish() -> EnvelopeReading | None:
        if current is None:
            return None
        if not pages:
            empty.append(f"separator {current.serial or '(serial unreadable)'} at {where_of[id(current)]}")
            return None
        reading = assemble(pages, separator=current, today=today)
        extra = list(extra_problems)
        return replace(reading, problems=reading.problems + tuple(extra)) if extra else reading

    where_of: dict[int, str] = {}
    extra_problems: list[str] = []
    for result in results:
        kind = result.record.kind
        if not started:
            if kind == "blank":
                continue  # a blank sheet ahead of the first separator belongs to nobody
            if kind != "separator":
                raise IncompleteStack(
                    f"the stack does not start with a separator sheet (its first page is a {kind} page): "
                    "put a separator sheet in front of each envelope and scan the stack again",
                    path=result.task.path,
                    page=result.task.index + 1,
                )
            started = True
        if kind == "separator":
            serial = result.page_code.serial if result.page_code else None
            if current is not None and serial and serial == current.serial and not pages:
                # The same sheet twice in a row (a double feed or a rescan): not a new envelope.
                extra_problems.append(f"separator sheet {serial} scanned twice ({where(result)})")
                continue
            done = finish()
            if done is not None:
                yield done
            current = read_separator(result, today=today)
            where_of[id(current)] = where(result)
            pages, extra_problems = [], []
            if not serial:
                extra_problems.append(f"separator serial unreadable ({where(result)}): split by its layout")
            elif serial in seen_serials:
                extra_problems.append(f"separator serial {serial} was also used at {seen_serials[serial]}: a reused sheet?")
            if serial:
                seen_serials.setdefault(serial, where(result))
            continue
        pages.append(result)
    done = finish()
    if done is not None:
        yield done
    if empty:
        raise IncompleteStack(
            f"{len(empty)} separator sheet(s) with no pages after them: {'; '.join(empty)}. "
            "The other envelopes were read; scan the missing envelope contents behind their separator and run the stack again",
            path=str(files[0]) if len(files) == 1 else None,
        )
