"""The consume folder with warm models: `csq bench watch [--stack-envelopes 5] [--seed 1]`.

A watcher runs in this process (its reading pool kept warm, as `csq scan watch` keeps it) on a
fresh folder and SQLite registry. After one warm-up envelope:
- a stack of `stack_envelopes` generated envelopes behind their separator sheets (about 8
  pages each: some 40 pages) is dropped into the folder as one file: pages per minute from the
  moment the file is complete in the folder to the moment its last envelope is registered;
- one 8-page-or-so handwritten envelope, as one file dated by its name: seconds from the drop to
  registered with its letter written (targets: 600 pages/min, 2 s).
The settle time (a file is taken once it has stopped growing) is part of both. A benchmark,
not a timed test; the machine's load average is reported beside the figures.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

TARGET_PAGES_PER_MIN = 600
TARGET_ENVELOPE_S = 2.0


def one_file(sample_dir: Path, truth: dict, out: Path) -> Path:
    """The envelope's scan as one file (the generator writes one PNG or JPEG per page for some)."""
    files = [sample_dir / name for name in truth["files"]]
    if len(files) == 1:
        return Path(shutil.copy(files[0], out.with_suffix(files[0].suffix)))
    from PIL import Image

    images = [Image.open(f) for f in files]
    target = out.with_suffix(".pdf")
    images[0].save(target, save_all=True, append_images=images[1:], resolution=200)
    return target


def bench_watch(*, stack_envelopes: int = 5, seed: int = 1, workdir: Path | None = None) -> dict:
    import json

    from mailroom.watch import StopFlag, watch
    from registry.service import Registry
    from samples.generate import generate_corpus
    from scan.pipeline import close_pool

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        samples = tmp / "samples"
        stack = generate_corpus(samples / "stack", count=stack_envelopes, seed=seed, stack=True,
                                stack_size=(stack_envelopes, stack_envelopes))
        singles = generate_corpus(samples / "single", count=2, seed=seed, kinds=("handwritten",))
        stack_file = next((samples / "stack").rglob("stack-001.*"))
        stack_pages = sum(len(json.loads(s.truth_path.read_text())["pages"]) for s in stack)
        inbox = tmp / "inbox"
        inbox.mkdir()
        staging = tmp / "staging"
        staging.mkdir()
        warm, single = (one_file(s.truth_path.parent, json.loads(s.truth_path.read_text()), staging / f"2026-02-1{i}-env")
                        for i, s in enumerate(singles, start=7))
        single_pages = len(json.loads(singles[1].truth_path.read_text())["pages"])

        done: dict[str, float] = {}
        outcomes = {}
        arrived = threading.Condition()

        def on_file(outcome) -> None:
            with arrived:
                done[outcome.name] = time.perf_counter()
                outcomes[outcome.name] = outcome
                arrived.notify_all()

        def drop(path: Path) -> float:
            os.rename(path, inbox / path.name)  # complete at once, as a scanner's rename makes it
            return time.perf_counter()

        def wait_for(name: str, timeout: float = 600) -> float:
            with arrived:
                arrived.wait_for(lambda: name in done, timeout=timeout)
            return done.get(name, float("nan"))

        registry = Registry.open(f"sqlite:///{tmp}/registry.db", tmp / "data")
        stop = StopFlag()
        watcher = threading.Thread(target=watch, args=(inbox, registry), daemon=True,
                                   kwargs={"stop": stop, "on_file": on_file})
        watcher.start()
        try:
            t = drop(warm)
            wait_for(warm.name)
            warm_s = done[warm.name] - t
            shutil.copy(stack_file, staging / f"stack{stack_file.suffix}")
            t = drop(staging / f"stack{stack_file.suffix}")
            stack_s = wait_for(f"stack{stack_file.suffix}") - t
            t = drop(single)
            single_s = wait_for(single.name) - t
        finally:
            stop.stopped = True
            watcher.join(timeout=60)
            close_pool()
        letters = [registry.letter_path(a.file_no).exists() for a in outcomes[single.name].applications]
        registry.close()
    stack_outcome = outcomes.get(f"stack{stack_file.suffix}")
    return {
        "stack": {"envelopes": len(stack_outcome.applications) if stack_outcome else 0, "pages": stack_pages,
                  "seconds": round(stack_s, 2), "pages_per_min": round(stack_pages / stack_s * 60, 1),
                  "target_pages_per_min": TARGET_PAGES_PER_MIN},
        "envelope": {"pages": single_pages, "seconds": round(single_s, 2), "letter_written": all(letters) and bool(letters),
                     "target_s": TARGET_ENVELOPE_S},
        "warm_up_s": round(warm_s, 2), "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
    }
