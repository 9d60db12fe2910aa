"""Paper and scanner damage of this generator's own, and the files a scanner writes.

Independent of samples/scanner.py: different accidents (creases, punch holes, staples, toner
too dark or too light, hairs, a page that went through upside down), a different bilevel step
(a scanner's fixed threshold after its own contrast curve, often at 150 dpi), and Pillow's own
PDF and TIFF writers instead of hand-built files.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

MODES = ("grey", "colour", "bilevel")
FIXED_DATE = time.gmtime(datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp())  # PDF dates: same seed, same bytes


@dataclass(frozen=True)
class Damage:
    dpi: int
    mode: str
    rotation: int  # 0 or 180: fed upside down
    skew_deg: float
    paper: int  # grey of the paper
    blur: float
    noise: float
    dust: int
    hairs: int
    creases: int
    punch_holes: int
    staple: bool
    threshold: int  # bilevel: darker than this turns black
    jpeg_quality: int | None

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("skew_deg", "blur", "noise"):
            out[key] = round(out[key], 3)
        return out


def draw_toner(rng: np.random.Generator) -> float:
    """How the candidate's printer printed the form: < 1 too light, > 1 too dark."""
    return float(rng.choice([rng.uniform(0.55, 0.8), rng.uniform(0.9, 1.1), rng.uniform(1.3, 1.9)], p=[0.2, 0.55, 0.25]))


def print_with_toner(page: np.ndarray, toner: float) -> np.ndarray:
    """A printed page as that printer left it (before anyone wrote on it): the darkness of
    every pixel raised to a power (light toner thins and greys the print), heavy toner also
    spreads the strokes."""
    dark = 1.0 - np.arange(256, dtype=np.float64) / 255.0
    dark = np.clip(dark * toner if toner > 1 else dark ** (1.0 / toner) * toner ** 0.3, 0, 1)
    out = cv2.LUT(page, np.round(255.0 * (1.0 - dark)).astype(np.uint8))
    if toner > 1.4:
        out = cv2.erode(out, np.ones((2, 2), np.uint8))
    return out


def draw_damage(rng: np.random.Generator, *, dpi: int, mode: str, jpeg_quality: int | None, ink: int = 0,
                harsh: bool = True) -> Damage:
    """One sheet's scan. ink: the grey of the handwriting, so that a bilevel threshold keeps
    it (a clerk rescans a page whose writing vanished; this generator only makes readable pages)."""
    return Damage(
        dpi=dpi,
        mode=mode,
        rotation=180 if harsh and rng.random() < 0.07 else 0,
        skew_deg=float(rng.uniform(-2.5, 2.5) if harsh else rng.uniform(-0.5, 0.5)),
        paper=int(rng.integers(225, 256)),
        blur=float(rng.uniform(0.0, 0.9)) * dpi / 200.0,
        noise=float(rng.uniform(0.0, 6.0)),
        dust=int(rng.integers(0, 120)) if harsh else 0,
        hairs=int(rng.integers(0, 4)) if harsh else 0,
        creases=int(rng.choice([0, 1, 2], p=[0.6, 0.3, 0.1])) if harsh else 0,
        punch_holes=int(rng.choice([0, 2, 3], p=[0.75, 0.2, 0.05])) if harsh else 0,
        staple=bool(harsh and rng.random() < 0.2),
        threshold=int(rng.integers(max(130, ink + 45), 190)),
        jpeg_quality=jpeg_quality,
    )


def scan(sheet: np.ndarray, d: Damage, rng: np.random.Generator) -> np.ndarray:
    """The scanned page of a grey sheet: uint8 grey, RGB, or bool (bilevel, True = white).
    Works on one grey channel throughout (a colour scan of black and grey on white is tinted
    at the end), uint8 where it can: a 300 dpi page is 8 million pixels."""
    img = sheet if sheet.ndim == 2 else cv2.cvtColor(sheet, cv2.COLOR_RGB2GRAY)
    img = cv2.LUT(img, np.round(np.arange(256) * d.paper / 255.0).astype(np.uint8))  # the paper's own grey
    h, w = img.shape
    for _ in range(d.creases):  # a fold: a lighter band (the paper lifts) with a thin line along it
        x_a, x_b = float(rng.uniform(-0.1, 1.1) * w), float(rng.uniform(-0.1, 1.1) * w)
        if rng.random() < 0.5:
            p, q = (int(x_a), 0), (int(x_b), h)
        else:
            p, q = (0, int(rng.uniform(0.2, 0.8) * h)), (w, int(rng.uniform(0.2, 0.8) * h))
        small = np.zeros((h // 8 + 1, w // 8 + 1), np.uint8)
        cv2.line(small, (p[0] // 8, p[1] // 8), (q[0] // 8, q[1] // 8), 40, max(1, d.dpi // 100))
        band = cv2.resize(cv2.GaussianBlur(small, (0, 0), max(1.0, d.dpi / 160)), (w, h), interpolation=cv2.INTER_LINEAR)
        img = cv2.subtract(img, band // 3) if rng.random() < 0.5 else cv2.add(img, band // 2)
        cv2.line(img, p, q, int(rng.integers(110, 170)), 1, cv2.LINE_AA)
    r = int(d.dpi * 0.12)  # a 6 mm hole, about 12 mm from the left edge: the dark lid shows through
    for k in range(d.punch_holes):
        y = int(h * (0.5 + (k - (d.punch_holes - 1) / 2) * 0.3))
        cv2.circle(img, (int(d.dpi * 0.47), y), r, 30, -1, cv2.LINE_AA)
    if d.staple:
        x, y = int(d.dpi * float(rng.uniform(0.2, 0.6))), int(d.dpi * float(rng.uniform(0.2, 0.6)))
        length = int(d.dpi * 0.5)
        angle = float(rng.uniform(-40, -10))
        dx, dy = int(length * np.cos(np.radians(angle))), int(length * np.sin(np.radians(angle)))
        cv2.line(img, (x, y), (x + dx, y + dy), 40, max(2, d.dpi // 60), cv2.LINE_AA)
        for hole in ((x, y), (x + dx, y + dy)):
            cv2.circle(img, hole, max(2, d.dpi // 70), 40, -1)
    for _ in range(d.dust):
        cv2.circle(img, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(1, max(2, d.dpi // 90))), 40, -1)
    for _ in range(d.hairs):
        x, y = float(rng.integers(w)), float(rng.integers(h))
        pts = [(x, y)]
        for _ in range(8):
            x += float(rng.normal(0, d.dpi / 20))
            y += float(rng.normal(0, d.dpi / 20))
            pts.append((x, y))
        cv2.polylines(img, [np.int32(pts).reshape(-1, 1, 2)], False, 50, 1, cv2.LINE_AA)
    if d.skew_deg or d.rotation:
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), d.skew_deg + d.rotation, 1.0)
        img = cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=int(d.paper))
    if d.blur > 0.1:
        img = cv2.GaussianBlur(img, (0, 0), d.blur)
    if d.noise > 0.2:
        grain = rng.standard_normal(size=(h // 3 + 1, w // 3 + 1), dtype=np.float32) * np.float32(d.noise)
        grain = cv2.resize(grain, (w, h), interpolation=cv2.INTER_NEAREST)
        img = cv2.add(img.astype(np.float32), grain, dtype=cv2.CV_32F)
        img = np.clip(img, 0, 255).astype(np.uint8)
    if d.mode == "bilevel":
        return img >= d.threshold
    if d.mode == "colour":  # warm paper: blue a little lower than red
        return cv2.merge([img, img, cv2.LUT(img, np.round(np.arange(256) * 0.96).astype(np.uint8))])
    return img


# -------------------------------------------------------------------------------- files


def _pil(page: np.ndarray) -> Image.Image:
    if page.dtype == bool:
        return Image.fromarray(page.astype(np.uint8) * 255).convert("1")
    return Image.fromarray(page)


def write_pdf(path: Path, pages: list[np.ndarray], *, dpi: int, jpeg_quality: int | None) -> Path:
    """An image-only PDF by Pillow: grey and colour pages as JPEG, bilevel as CCITT G4."""
    frames = [_pil(p) for p in pages]
    buf = io.BytesIO()
    # Pillow hands bilevel pages to its TIFF encoder (G4), which takes no JPEG quality.
    quality = {} if frames[0].mode == "1" else {"quality": jpeg_quality or 75}
    frames[0].save(buf, format="PDF", save_all=True, append_images=frames[1:], resolution=float(dpi),
                   creationDate=FIXED_DATE, modDate=FIXED_DATE, producer="othergen", creator="othergen",
                   **quality)
    path.write_bytes(buf.getvalue())
    return path


def write_tiff_g4(path: Path, pages: list[np.ndarray], *, dpi: int) -> Path:
    frames = [_pil(p) if p.dtype == bool else _pil(p >= 160) for p in pages]
    frames[0].save(path, format="TIFF", save_all=True, append_images=frames[1:], compression="group4", dpi=(dpi, dpi))
    return path


def write_image(path: Path, page: np.ndarray, *, dpi: int, jpeg_quality: int | None) -> Path:
    pil = _pil(page)
    if path.suffix == ".jpg":
        pil = pil.convert("L") if pil.mode == "1" else pil
        pil.save(path, format="JPEG", quality=jpeg_quality or 75, dpi=(dpi, dpi))
    else:
        pil.save(path, format="PNG", dpi=(dpi, dpi))
    return path
