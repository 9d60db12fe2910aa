"""Files beside the database: scanned files by content, letters by file number.

A scanned file is stored once, byte for byte as the scanner wrote it, under its own SHA-256
(`images/ab/cd/<sha>.tif`): the evidence as it came, at the size the scanner chose; its pages
refer to it by page number (scan/render.py shows them). Registries from before keep a PNG per
page, stored the same way. The same file scanned twice, or an intake retried after a crash,
finds the file already there. Every file
is written to a temporary name in the same folder, flushed to disk, then renamed, so that a
reader (or a crash) never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from errors import StorageError

FILE_MODE = 0o640

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
    (b"%PDF", ".pdf"),
)


def image_suffix(data: bytes) -> str:
    """The file extension that matches the image's magic bytes ('.bin' if unknown)."""
    for magic, suffix in _SIGNATURES:
        if data.startswith(magic):
            return suffix
    return ".bin"


def write_atomically(path: Path, data: bytes) -> None:
    """`path` holds `data` in full, or is left as it was."""
    _atomically(path, lambda handle: handle.write(data))


def _atomically(path: Path, write) -> None:
    """`path` holds in full what `write(handle)` writes, or is left as it was."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            # mkstemp makes the file private to its owner; the station and the mailroom's
            # printer may run under another account of the same group. Not world-readable:
            # these are scans of passports and letters with addresses.
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StorageError(
            f"cannot write {path} ({exc.strerror or exc}): check that the data folder (CSQ_DATA_DIR) is writable and the disk has room"
        ) from None


_HEAD_BYTES = 16


@dataclass(frozen=True)
class StoredPage:
    """Where a page's image is kept: `path` relative to the data folder; with `view` (JSON,
    scan.render.PageView) a scanned file as received, else the page's own PNG."""

    path: str
    view: str | None = None


def _sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _copy_atomically(source: Path, path: Path) -> None:
    """`path` becomes a full copy of `source`, or is left as it was."""

    def copy(handle) -> None:
        with source.open("rb") as src:
            shutil.copyfileobj(src, handle, 1 << 20)

    _atomically(path, copy)


class ImageStore:
    """Content-addressed images under `<data_dir>/images/`."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)

    def relative_path(self, sha256: str, suffix: str) -> str:
        return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}{suffix}"

    def put(self, data: bytes) -> tuple[str, str]:
        """Store `data` (if not already there); return (sha256, path relative to the data folder)."""
        sha = hashlib.sha256(data).hexdigest()
        rel = self.relative_path(sha, image_suffix(data))
        path = self.data_dir / rel
        if not path.exists():
            write_atomically(path, data)
        return sha, rel

    def put_file(self, source: str | os.PathLike) -> tuple[str, str]:
        """Store the file at `source` as it is (if not already there); return (sha256, relative path)."""
        source = Path(source)
        try:
            with source.open("rb") as handle:
                head = handle.read(_HEAD_BYTES)
                handle.seek(0)
                sha = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as exc:
            raise StorageError(
                f"cannot read the scanned file to keep it ({exc.strerror or exc}): leave it in place until its intake is done",
                path=str(source),
            ) from None
        rel = self.relative_path(sha, image_suffix(head))
        path = self.data_dir / rel
        if not path.exists():
            _copy_atomically(source, path)
            if _sha256_of(path) != sha:  # the file changed while it was copied: do not keep a wrong copy
                path.unlink(missing_ok=True)
                raise StorageError("the scanned file changed while it was being stored: wait until the scanner has "
                                   "finished writing it, then run the intake again", path=str(source))
        return sha, rel

    def path(self, relative: str) -> Path:
        return self.data_dir / relative
