"""Stage 1, load: a scanned file in, grey pages at about 200 dpi out.

Input comes as PDF (image-only or vector), multi-page TIFF (1-bit CCITT G4 from production
scanners included), PNG or JPEG, at 150 to 600 dpi, in colour, grey or bilevel. The real type
is found from the file's first bytes, not its name: a TIFF called `.pdf` still loads. Anything
we cannot read becomes an `InputFileError` naming the file (and page) and what to do; no raw
exception from a decoder escapes.

Pages above 200 dpi are brought down to 200 dpi (reading-notes: 200 dpi reads as well as 300
and costs 1.6x less); pages below keep their resolution, the alignment stage scales them.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageOps, UnidentifiedImageError

from errors import InputFileError, UnreadablePage
from scan import thresholds as t

FILE_TYPES = ("pdf", "tiff", "png", "jpeg")
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
_PDF_SEARCH_BYTES = 1024  # Acrobat accepts "%PDF-" anywhere in the first 1 KiB


@dataclass(frozen=True, eq=False)
class PageImage:
    """One decoded page: grey uint8 pixels (read-only) and the resolution they are at."""

    source_file: str
    source_page: int  # 0-based page (or TIFF frame) within source_file
    pixels: np.ndarray
    dpi: float

    def __post_init__(self):
        self.pixels.flags.writeable = False  # stages share the array: nobody may change it


def sniff_type(path: Path) -> str:
    """The file's real type from its first bytes: one of FILE_TYPES."""
    path = Path(path)
    head = _read_head(path)
    if head.startswith(_TIFF_MAGICS):
        return "tiff"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if b"%PDF-" in head[:_PDF_SEARCH_BYTES]:
        return "pdf"
    shown = head[:8].hex(" ")
    raise InputFileError(
        f"not a PDF, TIFF, PNG or JPEG file (it starts with bytes {shown}): export the scan in one of these formats",
        path=str(path),
    )


def count_pages(path: Path) -> int:
    """How many pages (PDF pages or TIFF frames) the file holds, without decoding them."""
    path = Path(path)
    kind = sniff_type(path)
    if kind == "pdf":
        with _open_pdf(path) as pdf:
            return len(pdf)
    if kind == "tiff":
        with _open_image(path) as image:
            return getattr(image, "n_frames", 1)
    return 1


def load_pages(path: Path) -> Iterator[PageImage]:
    """Every page of the file, in order, decoded one at a time."""
    path = Path(path)
    kind = sniff_type(path)
    if kind == "pdf":
        with _open_pdf(path) as pdf:
            for index in range(len(pdf)):
                yield _render_pdf_page(pdf, index, path)
        return
    with _open_image(path) as image:
        for index in range(getattr(image, "n_frames", 1)):
            yield _image_frame(image, index, path)


def load_page(path: Path, index: int) -> PageImage:
    """Page `index` (0-based) of the file: what a worker process asks for."""
    path = Path(path)
    kind = sniff_type(path)
    if kind == "pdf":
        with _open_pdf(path) as pdf:
            if not 0 <= index < len(pdf):
                raise InputFileError(f"has {len(pdf)} page(s), no page {index + 1}", path=str(path))
            return _render_pdf_page(pdf, index, path)
    with _open_image(path) as image:
        frames = getattr(image, "n_frames", 1)
        if not 0 <= index < frames:
            raise InputFileError(f"has {frames} page(s), no page {index + 1}", path=str(path))
        return _image_frame(image, index, path)


# ------------------------------------------------------------------------------ files


def _read_head(path: Path) -> bytes:
    if not path.exists():
        raise InputFileError("no such file: check the path", path=str(path))
    if path.is_dir():
        raise InputFileError("is a folder, not a scanned file: name the files in it", path=str(path))
    try:
        with path.open("rb") as fh:
            head = fh.read(_PDF_SEARCH_BYTES)
    except OSError as exc:
        raise InputFileError(f"cannot read it ({exc.strerror}): check its permissions", path=str(path)) from None
    if not head:
        raise InputFileError("the file is empty: scan it again", path=str(path))
    return head


def _normalised(gray: np.ndarray, dpi: float) -> tuple[np.ndarray, float]:
    """Bring a page above the working resolution down to it (area averaging keeps thin strokes grey
    rather than dropping them, which matters for bilevel 600 dpi scans)."""
    if dpi <= t.WORKING_DPI * t.RESAMPLE_TOLERANCE:
        return np.ascontiguousarray(gray), dpi
    scale = t.WORKING_DPI / dpi
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), float(t.WORKING_DPI)


def _check_pixels(width: float, height: float, path: Path, index: int) -> None:
    if width * height > t.MAX_PAGE_PIXELS:
        raise InputFileError(
            f"page is {width:.0f}x{height:.0f} pixels, more than the {t.MAX_PAGE_PIXELS // 1_000_000} Mpixel limit "
            "(a decompression bomb or a wrong resolution tag): rescan it at 200-300 dpi",
            path=str(path),
            page=index + 1,
        )


def _too_small(size: str, path: Path, index: int) -> None:
    raise UnreadablePage(
        f"is {size}, smaller than a business card at the lowest scanner resolution (72 dpi): it is not a "
        "scanned page; scan the sheet again at 200-300 dpi, or leave this file out of the envelope",
        path=str(path),
        page=index + 1,
    )


# ------------------------------------------------------------------------------- PDF


class _OpenPdf:
    """pypdfium2 document as a context manager that always closes, with our errors."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            # PDFium's error code is stale after some failures (a document without pages loads
            # with "Success"), so the file itself says what is wrong.
            raw = path.read_bytes()
            if b"/Encrypt" in raw or "password" in str(exc).lower() and b"/Count 0" not in raw:
                raise InputFileError(
                    "the PDF is encrypted with a password: decrypt it first, e.g. qpdf --decrypt in.pdf out.pdf",
                    path=str(path),
                ) from None
            if re.search(rb"/Count\s*0\b", raw) and not re.search(rb"/Type\s*/Page\b", raw):
                raise InputFileError("the PDF has no pages: scan it again", path=str(path)) from None
            raise InputFileError(f"the PDF is damaged or truncated ({exc}): export or scan it again", path=str(path)) from None
        if len(self.pdf) == 0:
            self.pdf.close()
            raise InputFileError("the PDF has no pages: scan it again", path=str(path))

    def __enter__(self) -> pdfium.PdfDocument:
        return self.pdf

    def __exit__(self, *exc) -> None:
        self.pdf.close()


def _open_pdf(path: Path) -> _OpenPdf:
    return _OpenPdf(path)


def _render_pdf_page(pdf: pdfium.PdfDocument, index: int, path: Path) -> PageImage:
    dpi = float(t.WORKING_DPI)
    try:
        page = pdf[index]
        width_pt, height_pt = page.get_size()
        if min(width_pt, height_pt) < t.MIN_PAGE_SHORT_SIDE_PX:  # points: the 72-dpi pixels of the rule
            _too_small(f"{width_pt / 72:.2g}x{height_pt / 72:.2g} inches", path, index)
        _check_pixels(width_pt * dpi / 72, height_pt * dpi / 72, path, index)
        bitmap = page.render(scale=dpi / 72, grayscale=True)
        pixels = np.array(bitmap.to_numpy(), copy=True)
        page.close()
    except (InputFileError, UnreadablePage):
        raise
    except Exception as exc:  # pdfium raises bare PdfiumError/ValueError for a damaged page
        raise InputFileError(f"cannot render this PDF page ({exc}): export or scan it again", path=str(path), page=index + 1) from None
    if pixels.ndim == 3:
        pixels = pixels[:, :, 0]
    return PageImage(str(path), index, np.ascontiguousarray(pixels), dpi)


# ----------------------------------------------------------------------- TIFF, PNG, JPEG


class _OpenImage:
    def __init__(self, path: Path):
        self.path = path
        try:
            with warnings.catch_warnings():  # between 1x and 2x the limit Pillow only warns, on stderr
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                self.image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputFileError(
                f"the image is larger than the {t.MAX_PAGE_PIXELS // 1_000_000} Mpixel limit (a decompression bomb?): rescan it at 200-300 dpi",
                path=str(path),
            ) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise InputFileError(f"the image is damaged or not a picture ({exc}): scan it again", path=str(path)) from None

    def __enter__(self) -> Image.Image:
        return self.image

    def __exit__(self, *exc) -> None:
        self.image.close()


def _open_image(path: Path) -> _OpenImage:
    # Our own size check (per frame, with a message) replaces Pillow's global bomb guard.
    Image.MAX_IMAGE_PIXELS = t.MAX_PAGE_PIXELS
    return _OpenImage(path)


def _image_frame(image: Image.Image, index: int, path: Path) -> PageImage:
    try:
        image.seek(index)
        _check_pixels(image.width, image.height, path, index)
        image.load()
        dpi = _image_dpi(image)
        frame = image
        if image.format in ("JPEG", "PNG"):  # phone pictures come sideways with an EXIF turn
            frame = ImageOps.exif_transpose(image) or image
        gray = _to_gray(frame)
    except InputFileError:
        raise
    except Exception as exc:  # Pillow raises OSError, ValueError, struct.error, ... on bad tags or data
        raise InputFileError(f"cannot decode this page ({type(exc).__name__}: {exc}): scan it again", path=str(path), page=index + 1) from None
    if min(gray.shape) < t.MIN_PAGE_SHORT_SIDE_PX:  # after decoding: a damaged file is told as damaged
        _too_small(f"{gray.shape[1]}x{gray.shape[0]} pixels", path, index)
    pixels, dpi = _normalised(gray, dpi)
    return PageImage(str(path), index, pixels, dpi)


def _image_dpi(image: Image.Image) -> float:
    """The resolution from the file's tag if it is plausible for a paper page, else a guess from the
    size assuming a letter or A4 sheet (phone photos and some scanner drivers write 72 dpi)."""
    guess = max(image.width, image.height) / t.ASSUMED_PAGE_LONG_SIDE_IN
    raw = image.info.get("dpi")
    try:
        tagged = float(raw[0]) if raw else 0.0
    except (TypeError, ValueError, IndexError):
        tagged = 0.0
    if tagged > 0:
        long_side_in = max(image.width, image.height) / tagged
        if t.PLAUSIBLE_LONG_SIDE_IN[0] <= long_side_in <= t.PLAUSIBLE_LONG_SIDE_IN[1]:
            return tagged
    return guess


def _to_gray(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = float(values.max()) or 1.0
        return np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode == "CMYK":
        image = image.convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    """A grey page as PNG (fast compression: the review station only crops it)."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, t.PNG_COMPRESSION, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, data = cv2.imencode(".png", pixels, params)
    if not ok:  # only on an empty array, a programming error
        raise ValueError("PNG encoding failed")
    return data.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))
