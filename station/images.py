"""Field crops, page thumbnails and full pages, cut with Pillow from the stored pages.

A page is stored as the scanned file it came in, as received, with the view the reader used
(scan/render.py: page number, turn, alignment): it is rendered from that file on demand, then
cached like the crops. Pages of older registries are a PNG each and are shown from it.

A reviewer decides from the crop alone most of the time, so the crop must be sharp and come
at once: it is cut with a margin around the field's box, scaled up by an integer factor
with nearest-neighbour (no blur is invented around pen strokes), and cached twice, in
memory and on disk under data_dir, keyed by the source file's identity and the box.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image

from errors import CsqError, NotFound
from station import limits

Box = tuple[float, float, float, float]


class _LRU:
    """A small thread-safe least-recently-used map (the server runs handlers in threads)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


def crop_rect_px(box: Box, *, page_height_pt: float, image_size: tuple[int, int],
                 margin_pt: float = limits.CROP_MARGIN_PT, dpi: int = limits.PAGE_DPI) -> tuple[int, int, int, int]:
    """The pixel rectangle (left, top, right, bottom) of a box in PDF points (origin
    bottom-left) with its margin, rounded outwards and clipped to the image."""
    k = dpi / limits.POINTS_PER_INCH
    x0, y0, x1, y1 = box
    left = math.floor((min(x0, x1) - margin_pt) * k)
    right = math.ceil((max(x0, x1) + margin_pt) * k)
    top = math.floor((page_height_pt - (max(y0, y1) + margin_pt)) * k)
    bottom = math.ceil((page_height_pt - (min(y0, y1) - margin_pt)) * k)
    width, height = image_size
    left, top = max(0, left), max(0, top)
    right, bottom = min(width, right), min(height, bottom)
    if right <= left or bottom <= top:
        raise NotFound(f"the field's box {list(box)} lies outside the stored page image")
    return left, top, right, bottom


def has_ink(page: Image.Image, cell: Box, page_height_pt: float) -> bool:
    """Ink inside a comb cell, its printed border left out."""
    x0, y0, x1, y1 = cell
    dx, dy = (x1 - x0) * limits.CELL_INSET, (y1 - y0) * limits.CELL_INSET
    rect = crop_rect_px((x0 + dx, y0 + dy, x1 - dx, y1 - dy), page_height_pt=page_height_pt,
                        image_size=page.size, margin_pt=0)
    histogram = page.crop(rect).convert("L").histogram()
    return sum(histogram[: limits.INK_LEVEL]) >= limits.INK_MIN_PIXELS


def _trimmed(page: Image.Image, box: Box, cells: tuple[Box, ...], page_height_pt: float) -> Box:
    """The box up to one cell after the last cell with ink (all of it when none has ink:
    a person must see that the field is empty)."""
    ordered = sorted(cells, key=lambda c: c[0])
    for i in range(len(ordered) - 1, -1, -1):
        if has_ink(page, ordered[i], page_height_pt):
            last = ordered[min(i + 1, len(ordered) - 1)]
            return (box[0], box[1], min(box[2], last[2]), box[3])
    return box


def _png_bytes(img: Image.Image) -> bytes:
    out = io.BytesIO()
    # compress_level 3: a crop is served many times but written once; speed beats bytes here.
    img.save(out, format="PNG", compress_level=3)
    return out.getvalue()


class PageImages:
    """Serves crops and thumbnails of stored page images, with the caches described above."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.cache_dir = self.data_dir / limits.IMAGE_CACHE_DIR
        self._crops = _LRU(limits.CROP_MEMORY_CACHE)
        self._pages = _LRU(limits.PAGE_MEMORY_CACHE)

    def resolve(self, stored_path: str | os.PathLike) -> Path:
        """A stored image path as the registry gives it: absolute, or relative to data_dir."""
        p = Path(stored_path)
        return p if p.is_absolute() else self.data_dir / p

    def _source(self, stored) -> tuple[Path, str | None]:
        """(file, view) of a stored page: a registry.store.StoredPage, or a PNG's path."""
        if hasattr(stored, "view"):
            return self.resolve(stored.path), stored.view or None
        return self.resolve(stored), None

    def _identity(self, path: Path, view: str | None = None) -> str:
        try:
            st = path.stat()
        except OSError:
            raise NotFound(f"the stored page image is missing: {path}") from None
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{view or ''}"

    def _page(self, path: Path, identity: str, view: str | None = None) -> Image.Image:
        img = self._pages.get(identity)
        if img is None:
            img = _rendered(path, view) if view else _opened(path)
            self._pages.put(identity, img)
        return img

    def _cached(self, key: str, make) -> bytes:
        data = self._crops.get(key)
        if data is not None:
            return data
        disk = self.cache_dir / f"{key}.png"
        try:
            data = disk.read_bytes()
        except OSError:
            data = make()
            self._write_cache(disk, data)
        self._crops.put(key, data)
        return data

    def _write_cache(self, disk: Path, data: bytes) -> None:
        tmp = disk.with_name(f".{disk.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            disk.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, disk)
        except OSError:
            # The cache is an optimisation: a read-only or full disk must not stop review,
            # the crop is still served from memory.
            tmp.unlink(missing_ok=True)

    def crop(self, stored_path, box: Box, *, page_height_pt: float, cells: tuple[Box, ...] = ()) -> bytes:
        """The field's crop as PNG bytes: box + margin, scaled up CROP_SCALE times; with the
        comb `cells` of the field, blank cells at the end are left out (see limits)."""
        path, view = self._source(stored_path)
        identity = self._identity(path, view)
        trim = limits.CROP_TRIM_BLANK_CELLS and len(cells) > 1 and len({round(c[1]) for c in cells}) == 1
        params = (f"crop|{identity}|{tuple(round(v, 3) for v in box)}|{page_height_pt}|{limits.CROP_MARGIN_PT}|"
                  f"{limits.CROP_SCALE}|{trim and (limits.INK_LEVEL, limits.INK_MIN_PIXELS, limits.CELL_INSET)}")
        key = hashlib.sha256(params.encode()).hexdigest()

        def make() -> bytes:
            page = self._page(path, identity, view)
            shown = _trimmed(page, box, cells, page_height_pt) if trim else box
            rect = crop_rect_px(shown, page_height_pt=page_height_pt, image_size=page.size)
            piece = page.crop(rect)
            scaled = piece.resize((piece.width * limits.CROP_SCALE, piece.height * limits.CROP_SCALE), Image.Resampling.NEAREST)
            return _png_bytes(scaled)

        return self._cached(key, make)

    def thumbnail(self, stored_path, *, width: int = limits.THUMBNAIL_WIDTH_PX) -> bytes:
        path, view = self._source(stored_path)
        identity = self._identity(path, view)
        key = hashlib.sha256(f"thumb|{identity}|{width}".encode()).hexdigest()

        def make() -> bytes:
            page = self._page(path, identity, view)
            height = max(1, round(page.height * width / page.width))
            # Downscaling: an averaging filter keeps thin strokes visible in the thumbnail.
            return _png_bytes(page.resize((width, height), Image.Resampling.BOX))

        return self._cached(key, make)

    def full(self, stored_path) -> Path | bytes:
        """The whole page as PNG: an older registry's stored PNG itself (a Path, served as a
        file), or the page rendered from its scan as received (bytes, cached on disk)."""
        path, view = self._source(stored_path)
        if view is None:
            if not path.is_file():
                raise NotFound(f"the stored page image is missing: {path}")
            return path
        identity = self._identity(path, view)
        key = hashlib.sha256(f"page|{identity}".encode()).hexdigest()
        return self._cached(key, lambda: _png_bytes(self._page(path, identity, view)))


def _opened(path: Path) -> Image.Image:
    try:
        with Image.open(path) as opened:
            opened.load()
            return opened.convert("L") if opened.mode not in ("L", "RGB") else opened.copy()
    except OSError as exc:
        raise NotFound(f"the stored page image cannot be read ({exc}): {path}") from None


# PDFium (under pypdfium2) must not be entered by two threads at once, and the server handles
# requests in threads: one page is rendered at a time (20-75 ms, then cached).
_RENDER_LOCK = threading.Lock()


def _rendered(path: Path, view: str) -> Image.Image:
    from scan.render import render

    try:
        with _RENDER_LOCK:
            pixels = render(path, view)
        return Image.fromarray(pixels)
    except (CsqError, ValueError) as exc:
        raise NotFound(f"the stored scan cannot be shown ({exc}): {path}") from None
