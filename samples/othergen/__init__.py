"""A second, independent way of filling and scanning forms (issue 12: calibration that transfers).

Nothing here draws with samples.handprint, samples.paper or samples.scanner: capitals and
digits are pen strokes (or system fonts handprint never uses), accents separate strokes
(pen), ticks in other styles (marks), and the scanner's damage and files its own (damage).
The corpus it writes has samples.generate's folder format (one folder per envelope,
truth.json with the same keys), so `python -m scan.calibrate --corpus DIR`, the scan
benchmark (`csq bench scan --generator other`) and `csq scan ingest` read it as they read ours.

    from samples.othergen import generate_corpus
    generate_corpus(Path("other-corpus"), count=13, seed=1)
"""

from samples.othergen.corpus import generate_corpus, generate_envelope
from samples.othergen.kinds import ERROR_KINDS, error_kind, wrong_final_by_kind

__all__ = ["ERROR_KINDS", "error_kind", "generate_corpus", "generate_envelope", "wrong_final_by_kind"]
