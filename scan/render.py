"""A page as the reader saw it, made again from the scanned file as received.

The registry keeps each scanned file once, as it came from the scanner (a 1-bit G4 TIFF stays
a G4 TIFF), and for each page a `PageView`: which page of the file, the quarter turns that made
it upright, and the alignment the reader found (a 3x3 matrix onto the canonical 200 dpi raster)
or, for a page that was not aligned, the downscale it was shown at. `render` decodes the page
with the reader's own loader and applies the same turn and warp, so the station's page views,
field crops and the corrections' training cells are cut from the very pixels the reader read,
without a PNG of every page written during intake.

A view travels as a short JSON text (worker queue, database column): JSON keeps every float
of the matrix exactly, so a page rendered later equals the one read then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

VIEW_FORMAT = 1


@dataclass(frozen=True)
class PageView:
    """How to show page `page` (0-based) of a scanned file the way the reader saw it."""

    page: int
    quarter_turns: int = 0  # clockwise quarter turns that make the scan upright
    matrix: tuple[tuple[float, float, float], ...] | None = None  # upright scan px -> canonical px
    size: tuple[int, int] | None = None  # (width, height) of the canonical raster, with `matrix`
    scale: float | None = None  # a page not aligned: downscale factor (None: as loaded)

    def to_json(self) -> str:
        doc = {"format": VIEW_FORMAT, "page": self.page, "quarter_turns": self.quarter_turns}
        if self.matrix is not None:
            doc["matrix"] = [list(row) for row in self.matrix]
            doc["size"] = list(self.size)
        if self.scale is not None:
            doc["scale"] = self.scale
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "PageView":
        doc = json.loads(text)
        if doc.get("format") != VIEW_FORMAT:
            raise ValueError(f"a page view of format {doc.get('format')!r}, this program reads format {VIEW_FORMAT}")
        matrix = doc.get("matrix")
        return cls(
            page=int(doc["page"]),
            quarter_turns=int(doc.get("quarter_turns", 0)),
            matrix=tuple(tuple(float(v) for v in row) for row in matrix) if matrix is not None else None,
            size=tuple(int(v) for v in doc["size"]) if matrix is not None else None,
            scale=float(doc["scale"]) if doc.get("scale") is not None else None,
        )


def aligned_view(page: int, quarter_turns: int, matrix: np.ndarray, size: tuple[int, int]) -> PageView:
    return PageView(page, quarter_turns, tuple(tuple(float(v) for v in row) for row in np.asarray(matrix)), tuple(size))


def apply_view(pixels: np.ndarray, view: PageView) -> np.ndarray:
    """The loaded page's pixels turned, then warped or downscaled as `view` says."""
    from scan.identify import upright

    image = upright(pixels, view.quarter_turns)
    if view.matrix is not None:
        # The same call as scan.align.warp: the same pixels as the reader's aligned page.
        return cv2.warpPerspective(image, np.array(view.matrix, dtype=np.float64), tuple(view.size),
                                   flags=cv2.INTER_LINEAR, borderValue=255)
    if view.scale is not None:
        return cv2.resize(image, None, fx=view.scale, fy=view.scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def render(path: str | Path, view: PageView | str) -> np.ndarray:
    """Page `view.page` of the stored file, upright and aligned as the reader saw it (grey uint8).
    A file that cannot be decoded raises InputFileError naming it."""
    from scan.load import load_page

    if isinstance(view, str):
        view = PageView.from_json(view)
    return apply_view(load_page(Path(path), view.page).pixels, view)
