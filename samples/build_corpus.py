"""Regenerate samples/corpus/, the small committed set of sample envelopes the tests read.

    .venv/bin/python -m samples.build_corpus            # writes samples/corpus/
    .venv/bin/python -m samples.build_corpus --check    # regenerates in a temp folder and
                                                        # says whether the bytes match

Everything is seeded (samples.generate), so the same code writes the same bytes; if a
change to forms/, samples/ or handprint alters them, rerun this and commit the result.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

from samples.generate import generate_envelope, generate_stack

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
CORPUS_SEED = 4258
# (index, kind, format, scanner mode, dpi)
SINGLES = (
    (1, "handwritten", "jpeg", "grey", 150),
    (2, "handwritten", "tiff-g4", "bilevel", 200),
    (3, "prefilled", "pdf", "grey", 200),
)
STACK = (4, 5)
JPEG_QUALITY = 65  # keeps the committed corpus small (about 3 MB); the bench draws 60-90


def build(out: Path) -> list[Path]:
    """Write the corpus into `out` (emptied first, README.md kept). Returns the truth files."""
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
    truths = []
    for index, kind, fmt, mode, dpi in SINGLES:
        sample = generate_envelope(out, index, seed=CORPUS_SEED, kind=kind, fmt=fmt, mode=mode, dpi=dpi, damage="mixed",
                                   jpeg_quality=JPEG_QUALITY)
        truths.append(sample.truth_path)
    for sample in generate_stack(out, list(STACK), 1, seed=CORPUS_SEED, kinds=("handwritten",), fmt="tiff-g4", damage="mixed"):
        truths.append(sample.truth_path)
    return truths


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "README.md"}


def main(argv: list[str]) -> int:
    if "--check" in argv:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))
            fresh, committed = _digest(Path(tmp)), _digest(CORPUS_DIR)
        if fresh == committed:
            print(f"samples/corpus is up to date ({len(fresh)} files)")
            return 0
        changed = sorted(k for k in set(fresh) | set(committed) if fresh.get(k) != committed.get(k))
        print(f"samples/corpus differs from what the code writes: {', '.join(changed)}; run python -m samples.build_corpus")
        return 1
    truths = build(CORPUS_DIR)
    size = sum(p.stat().st_size for p in CORPUS_DIR.rglob("*") if p.is_file())
    print(f"wrote {len(truths)} envelopes to {CORPUS_DIR} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
