"""The comb-cell character recognizer (ICR): one handprinted capital per cell in, a calibrated
guess out.

Tesseract reads handprinted capitals badly and its confidence does not separate right from
wrong (issue 4: 31% of fields exact), so comb cells get a small CNN of our own, trained on
synthetic handprint (scripts/train_icr.py, samples/handprint.py) and run with opencv's dnn
module: no runtime dependency beyond opencv, one batched forward pass per call.

- `is_cell_empty(cell)` decides written vs empty by ink, after removing what is left of the
  printed box lines; space and empty are never asked of the model.
- `preprocess_cell(cell)` is the one normalization, shared by training and runtime.
- `CombCellRecognizer.classify(cells, charset)` returns one `CharGuess` per cell, with
  probabilities renormalized over the characters the field allows (a digits field cannot
  read 'O'), temperature-scaled so that p means "chance of being right" on unseen hands.
- `CombCellEnsemble` reads with several models together; `CombCellReader` (what the scanner
  runs) reads a field of digits alone with DIGIT_MODEL_PATHS, any other with MODEL_PATHS.

The model file and its JSON sidecar (classes, preprocessing, temperature, fonts, measured
accuracy and calibration) live in scan/models/. The scanner runs one process per core: no
threads of our own, and opencv is asked for one thread when the recognizer loads.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from errors import CsqError

MODEL_DIR = Path(__file__).resolve().parent / "models"
# The models the scanner reads every cell with, their probabilities combined (CombCellEnsemble):
# two networks trained on the same cells but of different widths disagree on different cells,
# and where they agree they are right more often than either alone (held out: 78.7 % of letters
# against 77.0 % and 77.1 %; of letters read at p >= 0.99, none wrong against 0.25 % and 0.27 %).
MODEL_PATHS = (MODEL_DIR / "icr-v5.onnx", MODEL_DIR / "icr-v4.onnx")
MODEL_PATH = MODEL_PATHS[0]
SIDECAR_PATH = MODEL_PATH.with_suffix(".json")
# A field of digits alone (numbers, dates) is read by two models that learned real people's
# digits besides the 22 hands (MNIST's, scripts/train_icr.py REAL_DIGITS_DIR). Held out: real
# digits 98.2 % right against 87.0 % with MODEL_PATHS, the held-out hands' digits 96.3 % against
# 93.9 %, 1-bit ones 87.3 % against 86.2 %. Their letters are a point weaker (a real 1 is a bare
# stroke, like an I), so a field that may hold a letter keeps MODEL_PATHS.
DIGIT_MODEL_PATHS = (MODEL_DIR / "icr-v6.onnx", MODEL_DIR / "icr-v7.onnx")
DIGITS = frozenset("0123456789")


def _named_paths(named: str | None, default: tuple[Path, ...]) -> tuple[Path, ...]:
    """The model files an environment variable names (one, or several joined by os.pathsep; each
    one's sidecar .json beside it), or `default` when it names none."""
    return tuple(Path(p) for p in named.split(os.pathsep) if p) if named else default


def models_in_use() -> tuple[Path, ...]:
    """The models the scanner runs: MODEL_PATHS, or those CSQ_ICR_MODEL names, to try a newly
    trained model on a corpus before it replaces the committed ones."""
    return _named_paths(os.environ.get("CSQ_ICR_MODEL"), MODEL_PATHS)


def digit_models_in_use() -> tuple[Path, ...]:
    """The models a field of digits alone is read with: DIGIT_MODEL_PATHS, or CSQ_ICR_DIGIT_MODEL's,
    or, when only CSQ_ICR_MODEL names models on trial, those (one set for every field, as before)."""
    return _named_paths(os.environ.get("CSQ_ICR_DIGIT_MODEL") or os.environ.get("CSQ_ICR_MODEL"), DIGIT_MODEL_PATHS)


def models_name(paths: tuple[Path, ...]) -> str:
    """What a set of models is called (caches, reports): icr-v5+icr-v4."""
    return "+".join(p.stem for p in paths)


def readers_name() -> str:
    """What the scanner's reader is called (caches, reports): icr-v5+icr-v4, digits icr-v6+icr-v7."""
    letters, digits = models_in_use(), digit_models_in_use()
    return models_name(letters) if digits == letters else f"{models_name(letters)}-digits-{models_name(digits)}"

# --- every number of the cell normalization, in one place (the sidecar records them) -------

INPUT_SIZE = 32  # the model sees S x S
INPUT_PAD = 2  # pixels of air around the largest mark in the S x S square
PAPER_PERCENTILE = 90  # the paper's grey: most of a cell is paper, even a busy one
INK_RANGE_MIN = 80  # grey levels between paper and full ink at least (a faint cell stays faint)
INK_FLOOR = 0.12  # normalized ink below this is paper noise
MARK_LEVEL = 0.35  # normalized ink from which a pixel belongs to a mark (bounding box, mass)
LINE_BAND_FRAC = 0.16  # box-line remnants are looked for this close to the edges (share of side)
LINE_FILL_FRAC = 0.9  # a row (column) in that band this full is a line: a letter kept inside
# its box spans at most ~85% of a side (a stem near the edge must not be taken for a line)
LINE_DARK = 45  # grey levels below the paper for a pixel to count towards a line
SPECK_AREA_FRAC = 0.0012  # a blob smaller than this share of the cell (2 px) is dust or JPEG
# noise; the dots of an umlaut written with a fine pen are bigger
EDGE_BLOB_SHARE = 0.2  # a blob touching the left or right edge with less than this share of the
# ink is a neighbour's stroke crossing the line (neighbours are beside, never above: an accent
# touching the top line stays)
MAX_UPSCALE = 1.8  # a mark is scaled to fill the square, but never more than this times the
# scale that maps the whole cell height into it: '.' stays a dot, "'" stays short
SMALL_MARK_FRAC = 0.4  # a mark lower than this share of the cell keeps its height in the cell
# (where "'" and '.' and '-' differ); larger marks are centred by mass

# --- empty or written ----------------------------------------------------------------------
EMPTY_INK_DARK = 50  # grey levels below the paper for a pixel to count as pen ink (a fine blue pen is faint)
EMPTY_MARGIN_FRAC = 0.08  # the outer band of the cell is not looked at for emptiness
EMPTY_MIN_MARK_FRAC = 0.0017  # the largest ink blob must cover this share of the cell: 4 px of
# a 42 x 56 cell, a '.' of a fine (0.25 mm) ballpoint at 200 dpi
EMPTY_SURE_INK = 0.03  # this share of the inner cell inked is writing, not dust


PREPROCESSING_CONSTANTS = (
    "INPUT_SIZE", "INPUT_PAD", "PAPER_PERCENTILE", "INK_RANGE_MIN", "INK_FLOOR", "MARK_LEVEL",
    "LINE_BAND_FRAC", "LINE_FILL_FRAC", "LINE_DARK", "SPECK_AREA_FRAC", "EDGE_BLOB_SHARE",
    "MAX_UPSCALE", "SMALL_MARK_FRAC",
)


def card_preprocessing() -> dict:
    """The normalization's numbers as the model was trained with them (kept in the sidecar)."""
    return {name: globals()[name] for name in PREPROCESSING_CONSTANTS}


class IcrError(CsqError):
    """The ICR model is missing or does not match its sidecar: an installation problem."""


@dataclass(frozen=True)
class CharGuess:
    """One cell's character: the best guess, its probability (calibrated, over the field's
    charset), and the top three candidates with theirs, best first (it included)."""

    best: str
    p: float
    alternatives: tuple[tuple[str, float], ...]


# --- ink --------------------------------------------------------------------------------------


def _grey(cell: np.ndarray) -> np.ndarray:
    """Any cell image as grey uint8 (dark ink on light paper)."""
    a = np.asarray(cell)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
    if a.dtype != np.uint8:
        a = np.nan_to_num(a.astype(np.float64), nan=255.0, posinf=255.0, neginf=0.0)
        if a.size and a.max() <= 1.0:  # a float image in 0..1
            a = a * 255.0
        a = a.clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def _paper(grey: np.ndarray) -> float:
    """The PAPER_PERCENTILE-th percentile of the grey levels, as numpy's linear percentile
    computes it, from a histogram (a sort per cell cost more than the network)."""
    cumulative = np.cumsum(np.bincount(grey.ravel(), minlength=256))
    rank = PAPER_PERCENTILE / 100 * (grey.size - 1)
    low = int(np.searchsorted(cumulative, int(rank), side="right"))
    high = int(np.searchsorted(cumulative, int(rank) + 1, side="right")) if rank % 1 else low
    return low + (rank % 1) * (high - low)


def _line_rows_cols(dark: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the rows and columns near the edges that are box-line remnants: nearly full of
    dark pixels across the cell. A letter's bar rarely spans that much that close to the edge."""
    h, w = dark.shape
    rows = np.zeros(h, dtype=bool)
    cols = np.zeros(w, dtype=bool)
    band_h = max(2, int(round(h * LINE_BAND_FRAC)))
    band_w = max(2, int(round(w * LINE_BAND_FRAC)))
    row_fill = np.count_nonzero(dark, axis=1) / w
    col_fill = np.count_nonzero(dark, axis=0) / h
    rows[:band_h] = row_fill[:band_h] >= LINE_FILL_FRAC
    rows[h - band_h:] |= row_fill[h - band_h:] >= LINE_FILL_FRAC
    cols[:band_w] = col_fill[:band_w] >= LINE_FILL_FRAC
    cols[w - band_w:] |= col_fill[w - band_w:] >= LINE_FILL_FRAC
    # A line is 1-3 px wide and its anti-aliased edge is less full: take the neighbours too.
    return _with_neighbours(rows, band_h), _with_neighbours(cols, band_w)


def _with_neighbours(lines: np.ndarray, band: int) -> np.ndarray:
    grown = lines.copy()
    grown[1:] |= lines[:-1]
    grown[:-1] |= lines[1:]
    grown[band:len(lines) - band] = lines[band:len(lines) - band]  # only near the edges
    return grown


def ink_map(cell: np.ndarray) -> np.ndarray:
    """Ink of a cell as float32 0..1 (1 = full ink), box-line remnants removed, noise floored."""
    grey = _grey(cell)
    if grey.size == 0:
        return np.zeros((max(grey.shape[0], 1), max(grey.shape[1], 1)), np.float32)
    paper = _paper(grey)
    darkest = float(grey.min())
    ink = (paper - grey.astype(np.float32)) / max(paper - darkest, INK_RANGE_MIN)
    rows, cols = _line_rows_cols(grey < paper - LINE_DARK)
    ink[rows, :] = 0
    ink[:, cols] = 0
    ink = (ink - INK_FLOOR) / (1.0 - INK_FLOOR)
    return ink.clip(0.0, 1.0)


def _keep_own_marks(ink: np.ndarray) -> np.ndarray:
    """Drop dust, and strokes of a neighbouring character that cross into the cell's edge."""
    mask = (ink >= MARK_LEVEL).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return ink
    h, w = ink.shape
    areas = stats[1:, cv2.CC_STAT_AREA]
    total = float(areas.sum())
    x0 = stats[1:, cv2.CC_STAT_LEFT]
    x1 = x0 + stats[1:, cv2.CC_STAT_WIDTH]
    touches = (x0 == 0) | (x1 == w)
    drop = (areas < SPECK_AREA_FRAC * h * w) | (touches & (areas < EDGE_BLOB_SHARE * total))
    drop &= areas < areas.max()  # never drop the largest mark: it is what was written
    if not drop.any():
        return ink
    keep = np.concatenate([[False], ~drop])
    # Faint pixels belong to the mark they surround: grow the kept marks a little.
    kept = cv2.dilate(keep[labels].astype(np.uint8), np.ones((3, 3), np.uint8))
    return ink * kept


def is_cell_empty(cell: np.ndarray) -> tuple[bool, float]:
    """(empty?, ink ratio) of a comb cell cropped on its box: the share of the cell's inner
    part (box-line remnants removed) covered by pen ink. Empty when no blob of ink is as large
    as the smallest full stop."""
    grey = _grey(cell)
    h, w = grey.shape[:2]
    if h < 3 or w < 3:
        return True, 0.0
    paper = _paper(grey)
    dark = grey < paper - EMPTY_INK_DARK
    rows, cols = _line_rows_cols(grey < paper - LINE_DARK)
    dark[rows, :] = False
    dark[:, cols] = False
    my, mx = int(round(h * EMPTY_MARGIN_FRAC)), int(round(w * EMPTY_MARGIN_FRAC))
    inner = np.ascontiguousarray(dark[my:h - my, mx:w - mx]).astype(np.uint8)
    if inner.size == 0:
        return True, 0.0
    count = int(np.count_nonzero(inner))
    ratio = count / inner.size
    if count < EMPTY_MIN_MARK_FRAC * h * w:
        return True, ratio
    if ratio >= EMPTY_SURE_INK:  # that much ink is writing, whatever its shape: skip the blobs
        return False, ratio
    n, _, stats, _ = cv2.connectedComponentsWithStats(inner, connectivity=8)
    largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0
    return largest < EMPTY_MIN_MARK_FRAC * h * w, ratio


# --- normalization for the model --------------------------------------------------------------


def preprocess_cell(cell: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """A cell image (any size, grey or colour, with or without its box lines) as the model's
    input: float32 (size, size), 0 = paper, 1 = ink. The mark is scaled to fill the square
    (bounded, so small marks stay small), centred by mass horizontally, and vertically too
    unless it is a small mark whose height in the cell tells what it is."""
    out = np.zeros((size, size), np.float32)
    ink = ink_map(cell)
    h, w = ink.shape
    if h < 2 or w < 2:
        return out
    ink = _keep_own_marks(ink)
    x, y, bw, bh = cv2.boundingRect((ink >= MARK_LEVEL).astype(np.uint8))
    if bw == 0 or bh == 0:
        return out
    room = size - 2 * INPUT_PAD
    scale = min(room / max(bw, bh), MAX_UPSCALE * room / h)
    sw, sh = max(1, int(round(bw * scale))), max(1, int(round(bh * scale)))
    crop = np.ascontiguousarray(ink[y:y + bh, x:x + bw])
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    mark = cv2.resize(crop, (sw, sh), interpolation=interp)
    total = float(mark.sum())
    if total <= 0:
        return out
    cx = float((mark.sum(axis=0) * np.arange(sw)).sum() / total)
    cy = float((mark.sum(axis=1) * np.arange(sh)).sum() / total)
    left = int(round(size / 2 - cx))
    if bh < SMALL_MARK_FRAC * h:
        # Keep where it sits in the cell, the cell's middle at the square's middle.
        top = int(round(size / 2 + (y - h / 2) * scale))
    else:
        top = int(round(size / 2 - cy))
    left = min(max(left, 0), size - sw) if sw <= size else (size - sw) // 2
    top = min(max(top, 0), size - sh) if sh <= size else (size - sh) // 2
    # Paste with clipping (a mark can only exceed the square by rounding).
    sx0, sy0 = max(0, -left), max(0, -top)
    dx0, dy0 = max(0, left), max(0, top)
    cw, ch = min(sw - sx0, size - dx0), min(sh - sy0, size - dy0)
    out[dy0:dy0 + ch, dx0:dx0 + cw] = mark[sy0:sy0 + ch, sx0:sx0 + cw]
    return out


# --- the recognizer ---------------------------------------------------------------------------


class CharRecognizer(ABC):
    """Reads handprinted characters, one per cell image."""

    @abstractmethod
    def classify(self, cells: list[np.ndarray], charset: str) -> list[CharGuess]:
        """One guess per cell, probabilities over the characters of `charset` only."""


@dataclass(frozen=True)
class ModelCard:
    """What the sidecar JSON says about a model file."""

    classes: str
    input_size: int
    temperature: float
    raw: dict


def load_model_card(path: Path = SIDECAR_PATH) -> ModelCard:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IcrError(f"ICR model sidecar missing: {path} (rebuild with scripts/train_icr.py)") from None
    except (OSError, ValueError) as e:
        raise IcrError(f"ICR model sidecar unreadable: {path}: {e}") from None
    return ModelCard(classes=data["classes"], input_size=int(data["input_size"]),
                     temperature=float(data["temperature"]), raw=data)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class CombCellRecognizer(CharRecognizer):
    """The trained CNN of scan/models/icr-v5.onnx (MODEL_PATH), run by opencv's dnn module."""

    def __init__(self, model_path: Path = MODEL_PATH, sidecar_path: Path = SIDECAR_PATH):
        self.card = load_model_card(sidecar_path)
        if not Path(model_path).exists():
            raise IcrError(f"ICR model missing: {model_path} (rebuild with scripts/train_icr.py)")
        if self.card.input_size != INPUT_SIZE:
            raise IcrError(f"ICR model expects {self.card.input_size}px cells, preprocessing makes {INPUT_SIZE}px")
        if self.card.raw.get("preprocessing") != card_preprocessing():
            raise IcrError("ICR model was trained with other preprocessing constants than scan/icr.py "
                           "has now: retrain it (scripts/train_icr.py) or restore the constants")
        cv2.setNumThreads(1)  # one scanner process per core: threads would only fight
        # opencv 5's default (new) graph engine runs this network 1.5x faster than the classic
        # one; asking for a backend or target would fall back to the classic engine.
        self.net = cv2.dnn.readNetFromONNX(str(model_path))
        self.classes = self.card.classes
        self._index = {c: i for i, c in enumerate(self.classes)}

    def logits(self, cells: list[np.ndarray]) -> np.ndarray:
        """Raw model outputs (n, classes), one forward pass for the whole batch."""
        if not cells:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.logits_of_inputs(preprocessed(cells))

    def logits_of_inputs(self, batch: np.ndarray) -> np.ndarray:
        """Raw model outputs for cells already through preprocess_cell, (n, 1, S, S)."""
        self.net.setInput(batch)
        return np.asarray(self.net.forward(), dtype=np.float32).reshape(len(batch), -1)

    def allowed(self, charset: str) -> list[str]:
        """The characters of `charset` the model knows, in charset order."""
        names = [c for c in dict.fromkeys(charset) if c in self._index]
        if not names:
            raise ValueError(f"no character of {charset!r} is known to the ICR model")
        return names

    def log_probabilities(self, batch: np.ndarray, names: list[str]) -> np.ndarray:
        """Temperature-scaled log-probabilities over `names` (renormalized over what the field
        allows), one row per preprocessed cell."""
        logits = self.logits_of_inputs(batch)[:, [self._index[c] for c in names]] / self.card.temperature
        z = logits - logits.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def probabilities(self, batch: np.ndarray, names: list[str]) -> np.ndarray:
        return np.exp(self.log_probabilities(batch, names))

    def classify(self, cells: list[np.ndarray], charset: str) -> list[CharGuess]:
        names = self.allowed(charset)
        if not cells:
            return []
        return guesses_of(names, self.probabilities(preprocessed(cells), names))


class CombCellEnsemble(CharRecognizer):
    """Several CombCellRecognizers read each cell; their probabilities are combined by their
    normalized geometric mean: a character comes out likely where every model finds it likely,
    and what one model alone is sure of is tempered by the others' doubt."""

    def __init__(self, model_paths: tuple[Path, ...] = MODEL_PATHS):
        if not model_paths:
            raise IcrError("no ICR model named (CSQ_ICR_MODEL is empty)")
        self.members = [CombCellRecognizer(p, Path(p).with_suffix(".json")) for p in model_paths]
        self.classes = self.members[0].classes
        if any(m.classes != self.classes for m in self.members[1:]):
            raise IcrError("the ICR models in use were trained on different classes: use models of one "
                           "scripts/train_icr.py CLASSES (or one model alone, with CSQ_ICR_MODEL)")

    def classify(self, cells: list[np.ndarray], charset: str) -> list[CharGuess]:
        names = self.members[0].allowed(charset)
        if not cells:
            return []
        batch = preprocessed(cells)
        log_p = sum(m.log_probabilities(batch, names) for m in self.members) / len(self.members)
        return guesses_of(names, _softmax(log_p))


class CombCellReader(CharRecognizer):
    """What the scanner reads comb cells with: a field of digits alone (DIGITS) by the digit
    models' ensemble, any field that may hold a letter by the letter models'."""

    def __init__(self, letter_paths: tuple[Path, ...] | None = None, digit_paths: tuple[Path, ...] | None = None):
        letter_paths = models_in_use() if letter_paths is None else letter_paths
        digit_paths = digit_models_in_use() if digit_paths is None else digit_paths
        self.letters = CombCellEnsemble(letter_paths)
        self.digits = self.letters if tuple(digit_paths) == tuple(letter_paths) else CombCellEnsemble(digit_paths)
        self.classes = self.letters.classes

    def classify(self, cells: list[np.ndarray], charset: str) -> list[CharGuess]:
        reader = self.digits if charset and set(charset) <= DIGITS else self.letters
        return reader.classify(cells, charset)


def preprocessed(cells: list[np.ndarray]) -> np.ndarray:
    """The model's input batch (n, 1, S, S) for raw cells."""
    return np.stack([preprocess_cell(c) for c in cells])[:, None, :, :]


def guesses_of(names: list[str], probs: np.ndarray) -> list[CharGuess]:
    """One CharGuess per row of probabilities over `names`: the best and the top three."""
    guesses = []
    for row in probs:
        top = np.argsort(-row)[:3]
        alts = tuple((names[i], float(row[i])) for i in top)
        guesses.append(CharGuess(best=alts[0][0], p=alts[0][1], alternatives=alts))
    return guesses
