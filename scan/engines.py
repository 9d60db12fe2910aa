"""The recognizers behind one small interface (OCRmyPDF's OcrEngine idea), one wrapper per tool.

- `TesseractEngine`: tesserocr in-process (reading-notes: a process per call costs 10x), one API
  object per process, single-line mode, a whitelist per field type. The second opinion on comb
  fields and the reader of typed text on prefilled pages.
- `CellEngine`: the comb-cell character recognizer of scan/icr.py (its own trained model).
- `BarcodeEngine`: zxing-cpp, QR codes only (reading-notes: opencv's QR detector is 13x slower
  and misses codes).
- `NullEngine`: reads nothing; for tests of the stages around the engines.

Nothing else in scan/ calls tesserocr, zxing-cpp or the ICR model directly.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from errors import CsqError

TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


class EngineError(CsqError):
    """A recognizer cannot start (missing language data, broken install): an operator's problem."""


@dataclass(frozen=True)
class CharGuess:
    """One cell's character: the best guess, its probability, and the runners-up."""

    best: str
    p: float
    alternatives: tuple[tuple[str, float], ...] = ()  # (char, probability), best first, `best` excluded

    def prob(self, char: str) -> float:
        if char == self.best:
            return self.p
        for c, p in self.alternatives:
            if c == char:
                return p
        return 0.0


@dataclass(frozen=True)
class LineReading:
    """A line of text as an OCR engine read it, with a box and confidence per character."""

    text: str
    confidence: float  # 0..1, the engine's own (uncalibrated) mean
    chars: tuple[tuple[str, float, tuple[int, int, int, int]], ...] = ()  # char, 0..1, (x0, y0, x1, y1) px


@dataclass(frozen=True)
class Code:
    """A QR code found on a page: its text and its four corners (TL, TR, BR, BL of the symbol)."""

    text: str
    corners: tuple[tuple[float, float], ...]
    orientation: int  # degrees the symbol is turned clockwise on the image


# ------------------------------------------------------------------------------ interfaces


class OcrEngine(ABC):
    name = "ocr"

    @abstractmethod
    def read_line(self, image: np.ndarray, *, charset: str) -> LineReading:
        """Read one line of text (grey uint8, dark ink on white) restricted to `charset`."""


class CellRecognizer(ABC):
    name = "icr"

    @abstractmethod
    def classify(self, cells: list[np.ndarray], charset: str) -> list[CharGuess]:
        """One guess per cell image (a comb cell cropped on its box, lines at the edges)."""

    @abstractmethod
    def is_cell_empty(self, cell: np.ndarray) -> tuple[bool, float]:
        """(empty?, ink measure) of one cell image."""


# ------------------------------------------------------------------------------ Tesseract


def find_tessdata() -> Path:
    """Debian's traineddata folder (tesserocr's bundled library defaults to the current folder)."""
    env = os.environ.get("TESSDATA_PREFIX")
    for candidate in ([env] if env else []) + list(TESSDATA_CANDIDATES):
        if candidate and (Path(candidate) / "eng.traineddata").exists():
            return Path(candidate)
    raise EngineError(
        "Tesseract language data not found (looked in " + ", ".join(TESSDATA_CANDIDATES)
        + "): install tesseract-ocr-fra and tesseract-ocr-eng, or set TESSDATA_PREFIX"
    )


class TesseractEngine(OcrEngine):
    """tesserocr's API, loaded once per process. Not thread-safe: one per process."""

    name = "tesseract"

    # French alone: its model has every Latin capital, accented or not; "fra+eng" runs two
    # models on every line for twice the time and no better capitals.
    def __init__(self, *, languages: str = "fra", tessdata: Path | None = None):
        # OpenMP threads inside libtesseract fight our process pool (reading-notes: 3.3 s vs 0.9 s).
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        import tesserocr

        self._tesserocr = tesserocr
        self.tessdata = tessdata or find_tessdata()
        self.languages = languages
        try:
            self.api = tesserocr.PyTessBaseAPI(path=str(self.tessdata) + "/", lang=languages, psm=tesserocr.PSM.SINGLE_LINE)
        except RuntimeError as exc:
            raise EngineError(f"Tesseract cannot load {languages} from {self.tessdata}: {exc}") from None
        self.version = tesserocr.tesseract_version().split()[1]
        self._whitelist: str | None = None
        # Our lines are isolated words and codes, not prose: the dictionaries only pull towards words.
        for name in ("load_system_dawg", "load_freq_dawg"):
            self.api.SetVariable(name, "0")

    def read_line(self, image: np.ndarray, *, charset: str) -> LineReading:
        if self._whitelist != charset:
            self.api.SetVariable("tessedit_char_whitelist", charset)
            self._whitelist = charset
        image = np.ascontiguousarray(image, dtype=np.uint8)
        h, w = image.shape
        self.api.SetImageBytes(image.tobytes(), w, h, 1, w)
        self.api.SetSourceResolution(200)
        try:
            self.api.Recognize()
        except RuntimeError:  # tesserocr raises when the line holds nothing it can segment
            return LineReading("", 0.0)
        chars = []
        iterator = self.api.GetIterator()
        level = self._tesserocr.RIL.SYMBOL
        for symbol in self._tesserocr.iterate_level(iterator, level):
            try:
                text = symbol.GetUTF8Text(level)
            except RuntimeError:  # an empty symbol (noise Tesseract segmented but did not classify)
                continue
            if not text:
                continue
            box = symbol.BoundingBox(level)
            chars.append((text, symbol.Confidence(level) / 100.0, tuple(box) if box else (0, 0, 0, 0)))
        try:
            text = self.api.GetUTF8Text().strip()
        except RuntimeError:  # "No text returned": an empty result, not an error
            text = ""
        confidence = self.api.MeanTextConf() / 100.0 if text else 0.0
        return LineReading(text, confidence, tuple(chars))


@lru_cache(maxsize=1)
def tesseract() -> TesseractEngine:
    """The process's Tesseract (created on first use: workers build theirs in their initializer)."""
    return TesseractEngine()


# ------------------------------------------------------------------------------ ICR


class CellEngine(CellRecognizer):
    """The comb-cell recognizer of scan/icr.py behind our interface."""

    name = "icr"

    def __init__(self):
        from scan import icr

        self._icr = icr
        self.model = icr.CombCellReader()  # CSQ_ICR_MODEL (CSQ_ICR_DIGIT_MODEL) may name models on trial

    def classify(self, cells: list[np.ndarray], charset: str) -> list[CharGuess]:
        if not cells:
            return []
        guesses = self.model.classify(cells, charset)
        return [
            CharGuess(g.best, float(g.p), tuple((str(c), float(p)) for c, p in (g.alternatives or ()) if c != g.best))
            for g in guesses
        ]

    def is_cell_empty(self, cell: np.ndarray) -> tuple[bool, float]:
        empty, ink = self._icr.is_cell_empty(cell)
        return bool(empty), float(ink)


@lru_cache(maxsize=1)
def cell_recognizer() -> CellRecognizer | None:
    """The process's ICR, or None while scan/icr.py or its model is not installed (the reader
    then falls back to Tesseract alone, with lower confidence: nothing is final on a guess)."""
    try:
        return CellEngine()
    except (ImportError, AttributeError, OSError, CsqError) as exc:
        # Said once per process on stderr: every handwritten field will go to review, which is
        # safe but slow, and the operator should know why.
        print(f"csq scan: warning: handprint recognizer unavailable ({exc}); handwritten fields go to review", file=sys.stderr)
        return None


# ------------------------------------------------------------------------------ barcodes


class BarcodeEngine:
    name = "zxing-cpp"

    def __init__(self):
        import zxingcpp

        self._zxing = zxingcpp

    def read(self, image: np.ndarray, *, thorough: bool = False) -> list[Code]:
        """Every QR code on the grey image, at any orientation. `thorough` adds the inverted and
        downscaled searches (slower; for a page where the quick pass found nothing)."""
        z = self._zxing
        found = z.read_barcodes(
            np.ascontiguousarray(image),
            formats=z.BarcodeFormat.QRCode,
            try_rotate=True,
            try_downscale=thorough,
            try_invert=thorough,
        )
        out = []
        for b in found:
            p = b.position
            corners = tuple((float(q.x), float(q.y)) for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left))
            out.append(Code(b.text, corners, int(b.orientation)))
        return out


@lru_cache(maxsize=1)
def barcodes() -> BarcodeEngine:
    return BarcodeEngine()


# ------------------------------------------------------------------------------ null


class NullEngine(OcrEngine, CellRecognizer):
    """Reads nothing, is never sure: for tests of the stages around the engines."""

    name = "null"

    def read_line(self, image: np.ndarray, *, charset: str) -> LineReading:
        return LineReading("", 0.0)

    def classify(self, cells: list[np.ndarray], charset: str) -> list[CharGuess]:
        return [CharGuess("?", 0.0) for _ in cells]

    def is_cell_empty(self, cell: np.ndarray) -> tuple[bool, float]:
        return True, 0.0
