"""Files beside the database: scanned images by content, letters by file number.

Images are stored once under their own SHA-256 (`images/ab/cd/<sha>.png`): the same page
scanned twice, or an intake retried after a crash, finds the file already there. Every file
is written to a temporary name in the same folder, flushed to disk, then renamed, so that a
reader (or a crash) never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            # mkstemp makes the file private to its owner; the station and the mailroom's
            # printer may run under another account of the same group. Not world-readable:
            # these are scans of passports and letters with addresses.
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
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

    def path(self, relative: str) -> Path:
        return self.data_dir / relative
