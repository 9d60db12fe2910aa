"""What a mailroom scanner does to paper, and the files it writes.

`ScanDamage` is drawn once per sheet from the envelope's rng; `scan_sheet` applies it: the
sheet fed askew (skew), sideways or upside down (90/180/270), a little larger or smaller
(scale), soft focus (blur), sensor noise and dust, then the scanner's colour mode (grey,
colour, or bilevel: 1 bit per pixel, what a G4 TIFF holds).

Writers: an image-only PDF (one image per page, JPEG or CCITT G4, each page at its own dpi),
a multi-page TIFF (G4 or grey), one PNG/JPEG per page. Every writer is byte-for-byte
deterministic (no timestamps), so a seed always gives the same files and re-scanning the
same sample is recognised as the same envelope.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

MODES = ("grey", "colour", "bilevel")


@dataclass(frozen=True)
class ScanDamage:
    dpi: int
    mode: str  # grey | colour | bilevel
    rotation: int  # degrees the sheet was turned clockwise before it went through: 0/90/180/270
    skew_deg: float  # small rotation on top, positive = counter-clockwise in the image
    scale: float
    shift_px: tuple[int, int]
    blur_sigma: float
    noise_sigma: float
    dust: int  # specks
    threshold: int  # bilevel only: grey level under which a pixel turns black
    jpeg_quality: int | None  # None when the page is stored losslessly
    white_point: int = 256  # scanner "background removal": every pixel at or above turns white
    overscan_px: int = 0  # margin scanned around the sheet (its edges show); 0: cropped to the sheet size
    background: int = 255  # grey of the scanner's backing where no paper is (black or white ADF backing)

    def to_json(self) -> dict:
        out = asdict(self)
        out["skew_deg"] = round(self.skew_deg, 3)
        out["scale"] = round(self.scale, 4)
        out["blur_sigma"] = round(self.blur_sigma, 3)
        out["noise_sigma"] = round(self.noise_sigma, 3)
        out["shift_px"] = list(self.shift_px)
        return out


def draw_damage(rng: np.random.Generator, *, dpi: int, mode: str, level: str, jpeg_quality: int | None,
                rotation_prob: float = 0.15, clean_background: bool | None = None) -> ScanDamage:
    """One sheet's damage. level: 'none' (a perfect scan), 'light', 'mixed' (the benchmark's).
    clean_background: the scanner's background removal (None: half of the time)."""
    if level == "none":
        return ScanDamage(dpi, mode, 0, 0.0, 1.0, (0, 0), 0.0, 0.0, 0, 150, jpeg_quality)
    heavy = level == "mixed"
    rotation = int(rng.choice([90, 180, 270])) if heavy and rng.random() < rotation_prob else 0
    skew = float(rng.uniform(-3.0, 3.0) if heavy else rng.uniform(-0.8, 0.8))
    scale = float(rng.uniform(0.97, 1.03) if heavy else rng.uniform(0.99, 1.01))
    shift = tuple(int(v) for v in rng.integers(-dpi // 10, dpi // 10 + 1, size=2)) if heavy else (0, 0)
    blur = float(rng.uniform(0.0, 1.1) if heavy else rng.uniform(0.0, 0.5)) * dpi / 200.0
    noise = float(rng.uniform(1.0, 7.0) if heavy else rng.uniform(0.5, 3.0))
    dust = int(rng.integers(0, 40)) if heavy else int(rng.integers(0, 5))
    threshold = int(rng.integers(135, 170))
    if clean_background is None:
        clean_background = bool(rng.random() < 0.5)
    white = int(rng.integers(215, 241)) if clean_background else 256
    # Half of the scanners capture a little more than the sheet: a skewed sheet keeps its
    # corners, on a black or white backing. The others crop to the sheet size, and a 3° skew
    # can cut a corner mark off: that happens too, and the reader must say so.
    overscan = int(rng.integers(dpi // 20, dpi // 8)) if heavy and rng.random() < 0.5 else 0
    background = int(rng.choice([25, 250])) if overscan else 255
    return ScanDamage(dpi, mode, rotation, skew, scale, shift, blur, noise, dust, threshold, jpeg_quality, white,
                      overscan, background)


def scan_sheet(sheet: np.ndarray, damage: ScanDamage, rng: np.random.Generator) -> np.ndarray:
    """The scanned image of a printed-and-written sheet (drawn at damage.dpi). Returns uint8
    grey (H x W), RGB (H x W x 3), or bool (bilevel: True = white paper)."""
    img = sheet
    if damage.mode != "colour" and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    elif damage.mode == "colour" and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    h, w = img.shape[:2]
    if damage.skew_deg or damage.scale != 1.0 or damage.shift_px != (0, 0) or damage.overscan_px:
        o = damage.overscan_px
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), damage.skew_deg, damage.scale)
        matrix[:, 2] += (damage.shift_px[0] + o, damage.shift_px[1] + o)
        border = (damage.background,) * 3 if img.ndim == 3 else damage.background
        img = cv2.warpAffine(img, matrix, (w + 2 * o, h + 2 * o), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=border)
        h, w = img.shape[:2]
    if damage.blur_sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), damage.blur_sigma)
    if damage.noise_sigma > 0 or damage.dust:
        noisy = img.astype(np.float32)
        if damage.noise_sigma > 0:
            # Sensor noise is drawn small and upsampled: pixel-level noise at full size is slow
            # and looks less like a scanner than its slightly blotchy grain.
            small = rng.standard_normal(size=(h // 2 + 1, w // 2 + 1), dtype=np.float32) * np.float32(damage.noise_sigma)
            grain = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            noisy += grain[:, :, None] if noisy.ndim == 3 else grain
        for _ in range(damage.dust):
            x, y = int(rng.integers(w)), int(rng.integers(h))
            r = int(rng.integers(1, max(2, damage.dpi // 100)))
            cv2.circle(noisy, (x, y), r, (40.0, 40.0, 40.0) if noisy.ndim == 3 else 40.0, -1)
        img = noisy.clip(0, 255, out=noisy).astype(np.uint8)
    if damage.white_point <= 255 and damage.mode != "bilevel":
        img = img.copy() if img is sheet else img
        img[img >= damage.white_point] = 255
    if damage.rotation:
        img = np.ascontiguousarray(np.rot90(img, k=-damage.rotation // 90))  # turned clockwise
    if damage.mode == "bilevel":
        return img >= damage.threshold
    return img


# -------------------------------------------------------------------------------- writers


def _pil(image: np.ndarray) -> Image.Image:
    if image.dtype == bool:
        return Image.fromarray(image).convert("1")
    return Image.fromarray(image)


def encode_page(image: np.ndarray, fmt: str, *, dpi: int, jpeg_quality: int | None) -> bytes:
    """One page as PNG or JPEG bytes, its dpi recorded in the file."""
    buf = io.BytesIO()
    pil = _pil(image)
    if fmt == "png":
        pil.save(buf, format="PNG", dpi=(dpi, dpi), optimize=False)
    elif fmt == "jpeg":
        if pil.mode == "1":
            pil = pil.convert("L")
        pil.save(buf, format="JPEG", quality=jpeg_quality or 85, dpi=(dpi, dpi))
    else:
        raise ValueError(f"page format must be png or jpeg, not {fmt!r}")
    return buf.getvalue()


def _g4_strip(pil: Image.Image) -> bytes:
    """The raw CCITT G4 data of a 1-bit image (Pillow writes it as a single TIFF strip right
    after the 8-byte header; the same trick Pillow's own PDF writer uses)."""
    buf = io.BytesIO()
    pil.save(buf, format="TIFF", compression="group4", strip_size=math.ceil(pil.width / 8) * pil.height)
    data = buf.getvalue()
    offset_table = Image.open(io.BytesIO(data)).tag_v2
    start = offset_table[273][0]  # StripOffsets
    length = offset_table[279][0]  # StripByteCounts
    return data[start:start + length]


def write_pdf(path: Path, pages: list[tuple[np.ndarray, int, int | None]]) -> Path:
    """An image-only PDF, as scanners write: one full-page image per page, each page sized from
    its own dpi. pages: (image, dpi, jpeg_quality); bilevel images go in as CCITT G4."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog_id = add(b"")  # filled in at the end
    pages_id = add(b"")
    kids = []
    for image, dpi, quality in pages:
        pil = _pil(image)
        w, h = pil.size
        if pil.mode == "1":
            data = _g4_strip(pil)
            head = (f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray "
                    f"/BitsPerComponent 1 /Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns {w} /Rows {h} /BlackIs1 true >> "
                    f"/Length {len(data)} >>")
        else:
            buf = io.BytesIO()
            pil.save(buf, format="JPEG", quality=quality or 85)
            data = buf.getvalue()
            space = "/DeviceRGB" if pil.mode == "RGB" else "/DeviceGray"
            head = (f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace {space} "
                    f"/BitsPerComponent 8 /Filter /DCTDecode /Length {len(data)} >>")
        image_id = add(head.encode() + b"\nstream\n" + data + b"\nendstream")
        wpt, hpt = w * 72.0 / dpi, h * 72.0 / dpi
        content = f"q {wpt:.3f} 0 0 {hpt:.3f} 0 0 cm /Im0 Do Q".encode()
        content_id = add(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream")
        kids.append(add(
            f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {wpt:.3f} {hpt:.3f}] "
            f"/Resources << /XObject << /Im0 {image_id} 0 R >> >> /Contents {content_id} 0 R >>".encode()))
    objects[catalog_id - 1] = f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode()
    objects[pages_id - 1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root {catalog_id} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    path.write_bytes(out.getvalue())
    return path


def write_tiff(path: Path, pages: list[np.ndarray], *, dpi: int, compression: str) -> Path:
    """A multi-page TIFF: 'group4' (bilevel pages, CCITT G4, what most mailroom scanners
    write) or 'tiff_adobe_deflate' (grey pages)."""
    frames = [_pil(p) for p in pages]
    if compression == "group4":
        frames = [f if f.mode == "1" else f.convert("L").point(lambda v: 255 if v >= 150 else 0).convert("1") for f in frames]
    else:
        frames = [f.convert("L") if f.mode == "1" else f for f in frames]
    frames[0].save(path, format="TIFF", save_all=True, append_images=frames[1:], compression=compression, dpi=(dpi, dpi))
    return path


def crc_of(path: Path) -> str:
    return f"{zlib.crc32(path.read_bytes()):08x}"


def read_back(path: Path, dpi: int = 200) -> list[np.ndarray]:
    """The pages of a file written here, as grey uint8 images (for tests and checks; the real
    reader is scan/). PDFs are rendered at `dpi`."""
    path = Path(path)
    if path.suffix.lower() == ".pdf":
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(str(path))
        try:
            out = []
            for page in document:
                pixels = page.render(scale=dpi / 72.0, grayscale=True).to_numpy()
                out.append(pixels.reshape(pixels.shape[0], pixels.shape[1]).copy())
            return out
        finally:
            document.close()
    image = Image.open(path)
    out = []
    for frame in range(getattr(image, "n_frames", 1)):
        image.seek(frame)
        out.append(np.asarray(image.convert("L")).copy())
    return out
