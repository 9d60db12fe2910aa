"""Tick boxes marked the many ways people mark them, and signatures, drawn with cv2 strokes.

Styles (the truth records which one each box got):
- check_out: a check mark whose long arm leaves the box (often most of the ink is outside);
- cross: an X, its arms past the corners;
- fill: the box blackened by zigzags;
- circle: a ring around the box (and sometimes its label), little or no ink inside;
- slash: one stroke through the box, well past it;
- scribbled: a box filled then scribbled over ("not this one"): the person's correction, NOT a tick.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from samples.othergen.pen import CV_SCALE, CV_SHIFT

TICK_STYLES = ("check_out", "cross", "fill", "circle", "slash")
TICK_WEIGHTS = {"check_out": 0.3, "cross": 0.3, "fill": 0.1, "circle": 0.15, "slash": 0.15}


def _poly(ink: np.ndarray, pts, grey: int, width: float) -> None:
    arr = np.round(np.asarray(pts, dtype=np.float64) * CV_SCALE).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(ink, [arr], False, int(grey), max(1, int(round(width))), cv2.LINE_AA, CV_SHIFT)


def draw_tick(ink: np.ndarray, box: tuple[int, int, int, int], style: str, rng: np.random.Generator, *,
              grey: int = 20, label_px: int = 0) -> None:
    """Mark the tick box `box` (pixels x0, y0, x1, y1) in `style`. label_px: how far the
    option's label runs right of the box (a circle may take it in)."""
    x0, y0, x1, y1 = box
    s = x1 - x0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    pen = max(1.0, s * float(rng.uniform(0.08, 0.2)))
    j = lambda: float(rng.normal(0, 0.06 * s))  # noqa: E731 - a small jitter, many times
    if style == "check_out":
        start = (x0 + 0.15 * s + j(), cy + j())
        bottom = (x0 + 0.4 * s + j(), y1 - 0.1 * s + j())
        reach = float(rng.uniform(1.0, 2.2))
        end = (bottom[0] + reach * s * 0.8 + j(), bottom[1] - reach * s * 1.2 + j())
        _poly(ink, [start, bottom, end], grey, pen)
    elif style == "cross":
        over = float(rng.uniform(0.05, 0.45)) * s
        _poly(ink, [(x0 - over + j(), y0 - over + j()), (x1 + over + j(), y1 + over + j())], grey, pen)
        _poly(ink, [(x1 + over + j(), y0 - over + j()), (x0 - over + j(), y1 + over + j())], grey, pen)
    elif style == "fill":
        n = int(rng.integers(5, 9))
        pts = []
        for k in range(n + 1):
            yy = y0 + 0.1 * s + k * (0.8 * s / n)
            pts.append((x0 + 0.1 * s + j() if k % 2 == 0 else x1 - 0.1 * s + j(), yy))
        _poly(ink, pts, grey, pen * 1.3)
    elif style == "circle":
        wide = label_px * float(rng.uniform(0.3, 1.0)) if label_px and rng.random() < 0.4 else 0.0
        rx = s * float(rng.uniform(0.85, 1.5)) + wide / 2
        ry = s * float(rng.uniform(0.85, 1.4))
        ccx = cx + wide / 2 + j()
        a0 = float(rng.uniform(0, 360))
        sweep = float(rng.uniform(330, 420))  # not quite closed, or overlapping
        angles = np.radians(np.linspace(a0, a0 + sweep, 40))
        wob = 1 + np.cumsum(rng.normal(0, 0.015, size=40))
        pts = np.stack([ccx + rx * wob * np.cos(angles), cy + j() + ry * wob * np.sin(angles)], axis=1)
        _poly(ink, pts, grey, max(1.0, pen * 0.8))
    elif style == "slash":
        over = float(rng.uniform(0.3, 0.9)) * s
        if rng.random() < 0.5:
            a, b = (x0 - over * 0.3 + j(), y1 + over * 0.5 + j()), (x1 + over + j(), y0 - over + j())
        else:
            a, b = (x0 - over + j(), y0 - over * 0.5 + j()), (x1 + over * 0.5 + j(), y1 + over * 0.3 + j())
        _poly(ink, [a, b], grey, pen)
    elif style == "scribbled":
        draw_tick(ink, box, "fill", rng, grey=grey)
        for _ in range(int(rng.integers(2, 4))):
            pts = [(cx + rng.uniform(-1.2, 1.2) * s, cy + rng.uniform(-0.9, 0.9) * s) for _ in range(6)]
            _poly(ink, pts, grey, pen)
    else:
        raise ValueError(f"unknown tick style {style!r}")


def strike(ink: np.ndarray, cell: tuple[int, int, int, int], rng: np.random.Generator, *, grey: int = 20) -> str:
    """A letter crossed out in its comb cell: one stroke across, two, or a scribble. Returns which."""
    x0, y0, x1, y1 = cell
    w, h = x1 - x0, y1 - y0
    pen = max(1.0, h * float(rng.uniform(0.05, 0.1)))
    how = str(rng.choice(["diagonal", "double", "scribble"]))
    if how == "diagonal":
        _poly(ink, [(x0 - 0.1 * w, y0 + 0.85 * h), (x1 + 0.1 * w, y0 + 0.15 * h)], grey, pen)
    elif how == "double":
        for yy in (0.42, 0.58):
            _poly(ink, [(x0 - 0.05 * w, y0 + yy * h + rng.normal(0, 0.03 * h)), (x1 + 0.05 * w, y0 + yy * h)], grey, pen)
    else:
        pts = [(x0 + (0.1 if k % 2 == 0 else 0.9) * w + rng.normal(0, 0.05 * w), y0 + (0.15 + 0.1 * k) * h) for k in range(8)]
        _poly(ink, pts, grey, pen)
    return how


def draw_signature(ink: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator, *, grey: int = 20) -> None:
    """A scrawl across most of the signature box: loops on a rising line, a flourish under it."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    n = int(rng.integers(40, 80))
    t = np.linspace(0, 1, n)
    loops = float(rng.uniform(4, 9))
    xs = x0 + w * (0.08 + 0.75 * t) + w * 0.03 * np.cos(2 * math.pi * loops * t)
    ys = y0 + h * (0.6 - 0.15 * t) - h * 0.25 * np.abs(np.sin(math.pi * loops * t)) * rng.uniform(0.6, 1.0)
    pen = max(1.0, h * 0.04)
    _poly(ink, np.stack([xs, ys], axis=1), grey, pen)
    if rng.random() < 0.7:
        _poly(ink, [(x0 + 0.1 * w, y0 + 0.8 * h), (x0 + 0.6 * w, y0 + 0.75 * h), (x0 + 0.9 * w, y0 + 0.85 * h)], grey, pen)
