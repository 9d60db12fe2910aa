"""Tick boxes (choice, checkbox): what one box holds, measured for scan/judge.py to decide.

The share of dark pixels inside the box (AMC's measure), less the printed line where it runs
inside; the ink in rings around it (a scribble over a box, a circle, a slash, a check whose body
lies outside); the thickest ink just outside (a punch hole or blot is no pen stroke); a straight
line running far past the box both ways (a crease, a scanner's streak: no hand draws that); whether
a box dark all over is blacked in or crossed heavily; whether its ink spans it as a tick does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from scan import thresholds as t
from scan.ink import crop, paper_level


@dataclass(frozen=True)
class Mark:
    """One tick box: its fill (share of dark pixels inside), the ink just outside, its state."""

    value: str  # the option's value; 'box' for a checkbox
    fill: float
    outside: float
    state: str  # 'empty', 'speck', 'faint', 'ticked', 'filled', 'cancelled', 'blotted', 'streaked'
    # Ink share of the ring just beyond the printed line (TICK_AROUND_GAP_PX to TICK_OUTSIDE_PX
    # out, printed text left out): a box circled, slashed through, or ticked with the body of the
    # check outside it shows here while its fill stays low.
    around: float = 0.0
    # Share of the directions around the box (TICK_ENCIRCLE_BINS sectors) holding a stroke within
    # TICK_ENCIRCLE_PX beyond its line: a ring drawn around it, however wide, shows on most sides.
    encircled: float = 0.0
    # Half-width (px) of the thickest ink just outside the box: a pen's stroke is a few pixels; a
    # punch hole, a staple's shadow or a blot is far wider.
    solid: float = 0.0


def mark_box(image: np.ndarray, box: tuple[int, int, int, int], value: str, printed: np.ndarray | None) -> Mark:
    """Fill inside the box, and ink in a ring well outside it (printed text left out): a box
    filled as an answer spills a pixel or two over its edge; a box scribbled out to cancel it
    is crossed by strokes that run far past it."""
    x0, y0, x1, y1 = box
    i = t.TICK_INSET_PX
    inside = crop(image, x0 + i, y0 + i, x1 - i + 1, y1 - i + 1)
    o = t.TICK_OUTSIDE_PX
    ref = crop(image, x0 - o - 6, y0 - o - 6, x1 + o + 7, y1 + o + 7)
    level = min(paper_level(ref) - t.INK_DARK_MARGIN, t.MAX_DARK_LEVEL)
    wedge = _white_wedge(inside < level)  # on the whole interior: the arms of a cross reach its edges
    inside = _without_line_bands(inside, level)
    fill = float(np.count_nonzero(inside < level)) / max(1, inside.size)
    h, w = image.shape[:2]
    ax0, ay0, ax1, ay1 = max(0, x0 - o), max(0, y0 - o), min(w, x1 + o + 1), min(h, y1 + o + 1)
    ring = np.ones((ay1 - ay0, ax1 - ax0), bool)
    g = t.TICK_RING_GAP_PX
    ring[max(0, y0 - g - ay0) : y1 + g + 1 - ay0, max(0, x0 - g - ax0) : x1 + g + 1 - ax0] = False
    if printed is not None:
        ring &= ~printed[ay0:ay1, ax0:ax1]
    dark = image[ay0:ay1, ax0:ax1] < level
    outside = float(np.count_nonzero(dark & ring)) / max(1, int(ring.sum()))
    near = np.ones_like(ring)
    a = t.TICK_AROUND_GAP_PX
    near[max(0, y0 - a - ay0) : y1 + a + 1 - ay0, max(0, x0 - a - ax0) : x1 + a + 1 - ax0] = False
    if printed is not None:
        near &= ~printed[ay0:ay1, ax0:ax1]
    around = _ink_share(dark & near, near)
    solid = _solid_outside(image, box, level, printed)
    encircled = _encircled(image, box, level, printed)
    if solid >= t.TICK_BLOT_HALF_WIDTH_PX:
        state = "blotted"  # what is under a blot cannot be read: neither a tick nor an empty box
    elif t.TICK_EMPTY_MAX <= fill < t.TICK_FILLED_MIN and _line_through(image, box, level):
        state = "streaked"  # a crease or a scanner's streak across the page runs through the box
    elif fill >= t.TICK_FILLED_MIN and wedge < t.TICK_WEDGE_WHITE:
        state = "cancelled" if outside >= t.TICK_SCRIBBLE_OUTSIDE else "filled"
    elif fill >= t.TICK_FILLED_MIN:
        state = "ticked"  # dark, but a side left white: a cross or check drawn heavily, not a box blacked in
    elif fill >= t.TICK_MIN:
        # A tick spans the box; as much ink packed in a spot is a heavy dot, or dirt: a person looks.
        state = "ticked" if _ink_extent(inside < level) >= t.TICK_SPOT_EXTENT else "faint"
    else:
        blob = _largest_light_blob(inside, paper_level(ref))
        if fill >= t.TICK_EMPTY_MAX or blob > t.TICK_LIGHT_MARK_PX:
            state = "faint"
        elif blob >= t.MIN_INK_COMPONENT_PX:
            state = "speck"  # a small dot: a pen's touch or dust, nothing tells them apart
        else:
            state = "empty"
    return Mark(value, round(fill, 4), round(outside, 4), state, round(around, 4), round(encircled, 4), round(solid, 1))


def _outside_mask(shape: tuple[int, int], box: tuple[int, int, int, int], origin: tuple[int, int], gap: int,
                  printed: np.ndarray | None) -> np.ndarray:
    """Pixels of a window (top-left `origin`) more than `gap` beyond the box, printed ink left out."""
    x0, y0, x1, y1 = box
    ox, oy = origin
    out = np.ones(shape, bool)
    out[max(0, y0 - gap - oy) : max(0, y1 + gap + 1 - oy), max(0, x0 - gap - ox) : max(0, x1 + gap + 1 - ox)] = False
    if printed is not None:
        out &= ~printed[oy : oy + shape[0], ox : ox + shape[1]]
    return out


def _solid_outside(image: np.ndarray, box: tuple[int, int, int, int], level: float, printed: np.ndarray | None) -> float:
    """The thickest ink in the ring just outside the box: the distance, at its deepest, from an
    ink pixel there to the paper (computed over a wider window, so a disc is not cut short)."""
    x0, y0, x1, y1 = box
    pad = t.TICK_OUTSIDE_PX + 2 * t.TICK_BLOT_HALF_WIDTH_PX
    h, w = image.shape[:2]
    wx0, wy0 = max(0, x0 - pad), max(0, y0 - pad)
    window = image[wy0 : min(h, y1 + pad + 1), wx0 : min(w, x1 + pad + 1)]
    ink = (window < level).astype(np.uint8)
    if not ink.any():
        return 0.0
    depth = cv2.distanceTransform(ink, cv2.DIST_L2, 5)
    ring = _outside_mask(window.shape, box, (wx0, wy0), t.TICK_RING_GAP_PX, printed)
    o = t.TICK_OUTSIDE_PX
    ring[: max(0, y0 - o - wy0)] = False
    ring[max(0, y1 + o + 1 - wy0) :] = False
    ring[:, : max(0, x0 - o - wx0)] = False
    ring[:, max(0, x1 + o + 1 - wx0) :] = False
    return float(depth[ring].max(initial=0.0))


def _line_through(image: np.ndarray, box: tuple[int, int, int, int], level: float) -> bool:
    """A straight line crossing the box and running on TICK_STREAK_REACH box sides beyond it on both
    sides: a fold or a scanner's streak. A person's slash runs a fraction of a side past the box
    (samples/othergen draws it 0.3-0.9 side); a crease crosses the page. Candidate lines come from a
    Hough transform of the dark pixels around the box; each is then followed outward on both sides,
    where it must be dark nearly all the way. Printed text counts as dark: a fold crossing a label
    is dark there too, and no straight path through a line of print is (letters have white between
    and within them), nor does the box's own outline run past it."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    reach = int(round(t.TICK_STREAK_REACH * side))
    h, w = image.shape[:2]
    wx0, wy0, wx1, wy1 = max(0, x0 - reach - 2), max(0, y0 - reach - 2), min(w, x1 + reach + 3), min(h, y1 + reach + 3)
    dark = (image[wy0:wy1, wx0:wx1] < level).astype(np.uint8)
    lines = cv2.HoughLines(dark, 1, np.pi / 180, reach)
    if lines is None:
        return False
    near = cv2.dilate(dark, np.ones((3, 3), np.uint8)).astype(bool)  # a pixel of rounding
    cx, cy, half = (x0 + x1) / 2 - wx0, (y0 + y1) / 2 - wy0, side / 2
    steps = np.arange(half + 3, half + reach)
    for rho, theta in lines[: t.TICK_STREAK_CANDIDATES, 0]:
        normal = np.array([np.cos(theta), np.sin(theta)])
        off = cx * normal[0] + cy * normal[1] - rho
        if abs(off) > 0.7 * half:  # through the box, not along its outline
            continue
        foot = np.array([cx, cy]) - off * normal  # the centre's projection on the line
        direction = np.array([-normal[1], normal[0]])
        shares = []
        for sign in (-1, 1):
            pts = np.rint(foot + sign * steps[:, None] * direction).astype(int)
            fits = (pts[:, 0] >= 0) & (pts[:, 0] < dark.shape[1]) & (pts[:, 1] >= 0) & (pts[:, 1] < dark.shape[0])
            if not fits.all():  # the page's edge: too little line to judge
                break
            shares.append(near[pts[:, 1], pts[:, 0]].mean())
        if len(shares) == 2 and min(shares) >= t.TICK_STREAK_INK:
            return True
    return False


def _encircled(image: np.ndarray, box: tuple[int, int, int, int], level: float, printed: np.ndarray | None) -> float:
    """Share of the sectors around the box's centre holding a stroke (pieces bigger than dust)
    between TICK_AROUND_GAP_PX and TICK_ENCIRCLE_PX beyond its line."""
    x0, y0, x1, y1 = box
    r = t.TICK_ENCIRCLE_PX
    h, w = image.shape[:2]
    wx0, wy0 = max(0, x0 - r), max(0, y0 - r)
    window = image[wy0 : min(h, y1 + r + 1), wx0 : min(w, x1 + r + 1)]
    ink = (window < level) & _outside_mask(window.shape, box, (wx0, wy0), t.TICK_AROUND_GAP_PX, printed)
    if np.count_nonzero(ink) < t.MIN_INK_COMPONENT_PX:
        return 0.0
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    side = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    area = stats[:, cv2.CC_STAT_AREA]
    stroke = (area >= t.MIN_INK_COMPONENT_PX) & ((area > t.SPECK_MAX_PX) | (side >= t.SPECK_MAX_SIDE_PX))
    stroke[0] = False
    ys, xs = np.nonzero(stroke[labels])
    if not len(xs):
        return 0.0
    angles = np.arctan2(ys + wy0 - (y0 + y1) / 2, xs + wx0 - (x0 + x1) / 2)
    sectors = np.bincount(((angles + np.pi) / (2 * np.pi) * t.TICK_ENCIRCLE_BINS).astype(int) % t.TICK_ENCIRCLE_BINS,
                          minlength=t.TICK_ENCIRCLE_BINS)
    return float(np.count_nonzero(sectors >= t.TICK_ENCIRCLE_SECTOR_PX)) / t.TICK_ENCIRCLE_BINS


def _without_line_bands(inside: np.ndarray, level: float) -> np.ndarray:
    """The interior less the rows and columns at its edges (up to TICK_LINE_BAND_PX a side) dark
    over most of their length: the printed line itself, thickened by toner or a pixel of
    alignment, not a mark (a pen's stroke seldom runs the whole side of the box)."""
    ink = inside < level
    top, left = 0, 0
    bottom, right = ink.shape
    for _ in range(t.TICK_LINE_BAND_PX):
        if bottom - top > 2 and ink[top, left:right].mean() >= t.TICK_LINE_BAND_SHARE:
            top += 1
        if bottom - top > 2 and ink[bottom - 1, left:right].mean() >= t.TICK_LINE_BAND_SHARE:
            bottom -= 1
        if right - left > 2 and ink[top:bottom, left].mean() >= t.TICK_LINE_BAND_SHARE:
            left += 1
        if right - left > 2 and ink[top:bottom, right - 1].mean() >= t.TICK_LINE_BAND_SHARE:
            right -= 1
    return inside[top:bottom, left:right]


def _ink_extent(ink: np.ndarray) -> float:
    """How much of the interior's side the ink spans (its bounding box's longer side)."""
    ys, xs = np.nonzero(ink)
    if not len(xs):
        return 0.0
    return max(int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1) / max(ink.shape)


def _white_wedge(ink: np.ndarray) -> float:
    """Paper share of the whitest of four patches (a quarter of the side) at the middle of the
    interior's sides: a box blacked in is dark all over; the arms of a heavy cross or check leave
    a white wedge on at least one side."""
    h, w = ink.shape
    p = max(3, min(h, w) // 4)
    my, mx = (h - p) // 2, (w - p) // 2
    patches = (ink[:p, mx : mx + p], ink[h - p :, mx : mx + p], ink[my : my + p, :p], ink[my : my + p, w - p :])
    return max((1.0 - float(q.mean()) for q in patches if q.size), default=0.0)


def _ink_share(ink: np.ndarray, area: np.ndarray) -> float:
    """Share of `area` covered by ink in pieces of some size (dust and JPEG specks left out)."""
    total = int(area.sum())
    if not total or np.count_nonzero(ink) < t.MIN_INK_COMPONENT_PX:
        return 0.0
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    kept = 0
    for s in stats[1:]:
        area, side = int(s[cv2.CC_STAT_AREA]), max(int(s[cv2.CC_STAT_WIDTH]), int(s[cv2.CC_STAT_HEIGHT]))
        # A stroke (a circle's arc, a slash's end) is long; dust is a small compact dot.
        if area >= t.MIN_INK_COMPONENT_PX and (area > t.SPECK_MAX_PX or side >= t.SPECK_MAX_SIDE_PX):
            kept += area
    return kept / total


def _largest_light_blob(inside: np.ndarray, paper: float) -> int:
    """Pixels of the largest blob darker than the paper by TICK_LIGHT_MARGIN: a stroke too light
    for the ink threshold (a light blue pen on a colour JPEG scan loses its dot below
    INK_DARK_MARGIN) still shows here."""
    dark = (inside < min(paper - t.TICK_LIGHT_MARGIN, t.MAX_DARK_LEVEL)).astype(np.uint8)
    if np.count_nonzero(dark) < t.MIN_INK_COMPONENT_PX:
        return 0
    _, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    return int(stats[1:, cv2.CC_STAT_AREA].max(initial=0))
