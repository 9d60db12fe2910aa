"""A consume folder: the scanner writes each stack into DIR; each file becomes applications.

`csq scan watch DIR [--once] [--json]`, as paperless-ngx's consume folder or a capture
product's hot folder. For each PDF, TIFF, PNG or JPEG at the top of DIR that has stopped
growing:

1. it is claimed by an atomic rename into `DIR/.processing/` (the name carries the host and
   the process): of several watchers on one folder, exactly one gets each file;
2. its pages are read once; if a separator sheet is among them, separators start envelopes
   and each postmark is the one written on its separator (as `csq scan batch`); otherwise the
   file is ONE envelope whose postmark date starts its name (`2026-02-18-anything.pdf`, or
   `2026-02-18-illegible-….pdf` for a postmark nobody can read) — without one it fails, with
   that reason;
3. its envelopes are registered (each in its own transaction; the same envelope again is
   recognised by its fingerprint and never registered twice);
4. then the file moves to `DIR/done/`; a file that cannot be read moves to `DIR/failed/`,
   beside `DIR/failed/NAME.txt` holding the one-line reason. A database that fails leaves the
   file where it was, for the next pass.

After a kill -9 the claimed file is still in `.processing/`: a watcher that starts on the same
host takes back the files whose process is gone and reads them again; the envelopes already
registered are recognised, none is lost or doubled.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from errors import CsqError, DatabaseError, StorageError
from registry import mailroom_day

SCAN_SUFFIXES = (".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
PROCESSING_DIR = ".processing"
DONE_DIR = "done"
FAILED_DIR = "failed"
# A file is taken once its size and modification time have not changed for this long: the
# scanner may still be writing it. Half a second keeps an envelope's whole trip under 2 s; a
# scanner writing over a slow share should write under a temporary (dot) name and rename.
SETTLE_S = 0.5
POLL_S = 0.25
NAME_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[-_ .]|$)")
NAME_ILLEGIBLE = re.compile(r"^\d{4}-\d{2}-\d{2}[-_ ]illegible(?:[-_ .]|$)", re.IGNORECASE)


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file of the folder: `done` (its applications), `failed` (the reason)
    or `retry` (the database failed: the file is back in the folder)."""

    name: str
    status: str
    applications: tuple = ()
    reason: str | None = None
    pages: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"file": self.name, "status": self.status, "pages": self.pages, "seconds": round(self.seconds, 2),
                "applications": [a.to_json() for a in self.applications], "reason": self.reason}


@dataclass
class Folder:
    """The consume folder and its three subfolders."""

    root: Path
    host: str = field(default_factory=socket.gethostname)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise StorageError("not a folder: give the folder the scanner writes into", path=str(self.root))
        for sub in (PROCESSING_DIR, DONE_DIR, FAILED_DIR):
            try:
                (self.root / sub).mkdir(exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create {sub}/ in it ({exc.strerror}): check that the folder is writable",
                                   path=str(self.root)) from None

    def waiting(self) -> list[Path]:
        """The scans at the top of the folder, oldest first (the order the scanner wrote them)."""
        try:
            entries = [p for p in self.root.iterdir() if p.is_file() and p.suffix.lower() in SCAN_SUFFIXES
                       and not p.name.startswith(".")]
        except OSError as exc:
            raise StorageError(f"cannot list the folder ({exc.strerror})", path=str(self.root)) from None
        return sorted(entries, key=lambda p: (_mtime(p), p.name))

    def claim(self, path: Path) -> Path | None:
        """Move the file into .processing/ under a name that says who holds it; None when
        another watcher took it first (the rename is atomic: one of them wins)."""
        return self._take(path, path.name)

    def orphans(self) -> list[Path]:
        """Files claimed on this host by a process that is gone (a kill -9, a power cut)."""
        found = []
        for p in (self.root / PROCESSING_DIR).iterdir():
            name, _, owner = p.name.rpartition("@")
            original, _, host = name.rpartition("@")
            if host == self.host and owner.isdigit() and not _alive(int(owner)) and original:
                found.append(p)
        return sorted(found, key=lambda p: (_mtime(p), p.name))

    def reclaim(self, orphan: Path) -> Path | None:
        """An orphan taken over by this process (another watcher may take it first)."""
        return self._take(orphan, self.original_name(orphan))

    def _take(self, source: Path, original: str) -> Path | None:
        claimed = self.root / PROCESSING_DIR / f"{original}@{self.host}@{os.getpid()}"
        try:
            os.rename(source, claimed)
        except FileNotFoundError:
            return None
        return claimed

    @staticmethod
    def original_name(claimed: Path) -> str:
        return claimed.name.rsplit("@", 2)[0]

    def release(self, claimed: Path) -> None:
        """Back to the top of the folder (the database failed: the next pass tries again)."""
        os.rename(claimed, _free_name(self.root, self.original_name(claimed)))

    def finish(self, claimed: Path, outcome: str, reason: str | None = None) -> Path:
        target = _free_name(self.root / (DONE_DIR if outcome == "done" else FAILED_DIR), self.original_name(claimed))
        if reason is not None:  # the reason first: a failed file is never without its reason
            _write_text(target.with_name(target.name + ".txt"), reason + "\n")
        os.rename(claimed, target)
        return target


def postmark_from_name(name: str) -> date | None | str:
    """The postmark date a file's name starts with: a date, None for `…-illegible…`, or the
    one-line reason it gives none."""
    if NAME_ILLEGIBLE.match(name):
        return None
    match = NAME_DATE.match(name)
    if not match:
        return ("no separator sheet in it and its name does not start with the postmark date: rename it "
                "YYYY-MM-DD-….pdf (or YYYY-MM-DD-illegible-….pdf) or scan the envelope behind a separator sheet")
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return f"its name starts with {match.group(1)}, which is not a date: rename it YYYY-MM-DD-…"


def read_and_register(path: Path, name: str, registry, *, received: date | None = None, workers: int | None = None) -> FileOutcome:
    """One claimed file read and its envelopes registered. A CsqError of the file (unreadable,
    a stack cut short, no postmark) is a `failed` outcome; a database error propagates."""
    from scan.pipeline import assemble, read_pages, split_stack

    started = time.perf_counter()
    registered: list = []
    pages = 0
    try:
        results = read_pages([path], workers=workers)
        pages = len(results)
        if any(r.record.kind == "separator" for r in results):
            # registered as each envelope is split off: a stack cut short keeps its good envelopes
            for reading in split_stack(results, files=[path]):
                registered.append(registry.register_mail(reading, postmark=None, received=received))
        else:
            postmark = postmark_from_name(name)
            if isinstance(postmark, str):
                return FileOutcome(name, "failed", reason=postmark, pages=pages, seconds=time.perf_counter() - started)
            registered.append(registry.register_mail(assemble(results), postmark=postmark, received=received))
    except DatabaseError:
        raise
    except CsqError as exc:
        return FileOutcome(name, "failed", tuple(registered), reason=str(exc).replace(str(path), name), pages=pages,
                           seconds=time.perf_counter() - started)
    return FileOutcome(name, "done", tuple(registered), pages=pages, seconds=time.perf_counter() - started)


def settled(folder: Folder, *, wait_s: float = SETTLE_S) -> list[Path]:
    """The waiting files whose size and time have not moved for `wait_s`."""
    before = {p: _stat(p) for p in folder.waiting()}
    if not before:
        return []
    time.sleep(wait_s)
    return [p for p, seen in before.items() if seen is not None and _stat(p) == seen]


class StopFlag:
    """Set by SIGTERM or SIGINT: the watcher finishes the file in hand, then stops."""

    def __init__(self) -> None:
        self.stopped = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)

    def _stop(self, *_args) -> None:
        self.stopped = True


def watch(root: Path, registry, *, once: bool = False, received: date | None = None, workers: int | None = None,
          stop: StopFlag | None = None, on_file: Callable[[FileOutcome], None] = lambda outcome: None,
          settle_s: float = SETTLE_S, poll_s: float = POLL_S) -> list[FileOutcome]:
    """Handle the folder's files until stopped (or, with `once`, what is there now)."""
    folder = Folder(root)
    stop = stop or StopFlag()
    outcomes: list[FileOutcome] = []
    for claimed in filter(None, (folder.reclaim(o) for o in folder.orphans())):
        outcomes.append(_handle(folder, claimed, registry, received, workers, on_file))
    while not stop.stopped:
        for path in settled(folder, wait_s=settle_s):
            if stop.stopped:
                break
            claimed = folder.claim(path)
            if claimed is not None:
                outcomes.append(_handle(folder, claimed, registry, received, workers, on_file))
        if once:
            break
        _sleep_unless_stopped(poll_s, stop)
    return outcomes


def _handle(folder: Folder, claimed: Path, registry, received, workers, on_file) -> FileOutcome:
    name = folder.original_name(claimed)
    try:
        outcome = read_and_register(claimed, name, registry, received=received, workers=workers)
    except DatabaseError as exc:
        folder.release(claimed)
        outcome = FileOutcome(name, "retry", reason=str(exc))
        on_file(outcome)
        raise
    folder.finish(claimed, outcome.status, outcome.reason)
    mailroom_day.record_file(registry.db, name=name, status=outcome.status, pages=outcome.pages,
                             file_nos=[a.file_no for a in outcome.applications], reason=outcome.reason,
                             actor=f"mailroom:{folder.host}")
    on_file(outcome)
    return outcome


def _sleep_unless_stopped(seconds: float, stop: StopFlag) -> None:
    deadline = time.monotonic() + seconds
    while not stop.stopped and time.monotonic() < deadline:
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def _free_name(folder: Path, name: str) -> Path:
    """`name` in `folder`, or `name` with ' (2)', ' (3)'… when a file of that name is there
    (a rescan of the same envelope keeps both)."""
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while target.exists():
        target = folder / f"{stem} ({n}){suffix}"
        n += 1
    return target


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

