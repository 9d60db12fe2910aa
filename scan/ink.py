"""Pixel measures shared by the readers of comb cells and of the marks near them: the paper's
grey, what is darker than it, the printed box lines (scan/read.py, scan/accents.py)."""

from __future__ import annotations

import cv2
import numpy as np

from scan import thresholds as t


def paper_level(strip: np.ndarray) -> float:
    """The grey of the paper around here: the 90th percentile (a histogram is 20x faster than
    np.percentile on these small crops)."""
    if strip.size == 0:
        return 255.0
    counts = np.bincount(strip[::2, ::2].ravel(), minlength=256)
    return float(np.searchsorted(np.cumsum(counts), 0.9 * counts.sum()))


def dark(strip: np.ndarray, margin: float) -> np.ndarray:
    """Pixels darker than the paper by `margin` grey levels (the paper of a grey or yellowed scan
    is not 255): box lines and ink alike."""
    level = min(paper_level(strip) - margin, t.MAX_DARK_LEVEL)
    return (strip < level).astype(np.uint8)


def crop(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    h, w = image.shape[:2]
    return image[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]


def line_masks(dark: np.ndarray, cell_w: int, cell_h: int, *, comb: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(vertical, horizontal) long thin runs of dark pixels: the printed box lines and not the
    strokes of letters (reading-notes: opening with kernels ~0.8 box high, ~3 boxes wide), nor a
    box blacked in by a pen (a solid blob would look like a bundle of lines and pull the fit)."""
    vertical = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(3, int(cell_h * t.LINE_KERNEL_HEIGHT)))))
    # A comb's top and bottom lines run the whole field; a lone tick box's are one box long.
    width = cell_w * (t.LINE_KERNEL_WIDTH_CELLS if comb else t.LINE_KERNEL_WIDTH_BOX)
    horizontal = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(width)), 1)))
    solid = cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((t.SOLID_INK_PX, t.SOLID_INK_PX), np.uint8))
    if solid.any():
        solid = cv2.dilate(solid, np.ones((3, 3), np.uint8))
        vertical &= 1 - solid
        horizontal &= 1 - solid
    return vertical, horizontal


def line_pixels(strip: np.ndarray, cell_w: int, cell_h: int) -> np.ndarray:
    """Where the strip's box lines are (a pixel of slack each side), True there."""
    vertical, horizontal = line_masks(dark(strip, t.LINE_DARK_MARGIN), cell_w, cell_h)
    return cv2.dilate(vertical | horizontal, np.ones((3, 3), np.uint8)).astype(bool)


def remove_lines(strip: np.ndarray, cell_w: int, cell_h: int) -> np.ndarray:
    """The strip with its box lines painted white (ink crossing a line loses a pixel or two)."""
    clean = strip.copy()
    clean[line_pixels(strip, cell_w, cell_h)] = int(paper_level(strip))
    return clean
