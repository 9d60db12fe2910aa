"""Train the comb-cell ICR: synthetic handprint in, scan/models/icr-v1.onnx + icr-v1.json out.

Rebuild the committed model (seeded: the same cells and, on the same machine, the same
weights). On the shared 2-core machine making the cells took 6-12 minutes and an epoch 40 s to
6 min, depending on what else ran; a run stops within JOB_BUDGET_MIN and the next one resumes
from its checkpoint (icr-v1 took four runs):

    .venv/bin/pip install -e '.[train]'       # torch (CPU) and onnx, for training only
    .venv/bin/python scripts/train_icr.py     # repeat while it exits with 75 (resumable)

What it does:
1. Makes labelled cells as the scanner's reader will crop them: a writer (samples/handprint)
   fills a strip of three comb boxes (the neighbours sometimes written, so their strokes may
   cross into the cell), the middle box is cut with the reader's few pixels of misalignment,
   then damaged like a scan (blur, noise, JPEG, bilevel threshold, faint ink, dust, elastic
   warp, box-line remnants, a cut-off edge). TRAIN_FONTS only; the cells are cached on disk.
2. Trains a small depthwise-separable CNN (PyTorch, CPU) on scan.icr.preprocess_cell's output,
   the very function the scanner runs.
3. Fits a temperature on a validation split (training fonts, other seeds) so that the
   probabilities are calibrated.
4. Exports ONNX (legacy exporter, opset 13: what opencv's dnn reads) and checks that cv2.dnn
   gives the same outputs as PyTorch.
5. Measures on HOLDOUT_FONTS (never trained on): character accuracy, and for thresholds
   0.9 / 0.95 / 0.99 / 0.995 the share of characters at or above it and the error rate among
   them; the same on clean cells (render_cell, no scan damage); digits-field accuracy; speed.
   Everything goes into the sidecar JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from samples import handprint  # noqa: E402
from samples.handprint import HOLDOUT_FONTS, TRAIN_FONTS, FontStyle, render_cell, write_text_into  # noqa: E402
from scan import icr  # noqa: E402
from templates.spec import DIGIT_CHARSET, TEXT_CHARSET  # noqa: E402

CLASSES = TEXT_CHARSET.replace(" ", "")  # space and empty are is_cell_empty's to decide
SEED = 20261123
CORRECTIONS_REPEAT = 20  # a few hundred real cells beside ~100,000 synthetic ones would count for nothing
CACHE_DIR = Path(os.environ.get("CSQ_ICR_CACHE", Path.home() / ".cache" / "csq-icr"))
THREADS = 2  # the machine is shared: two cores, never more

# How many cells of each split, and how they are made.
SPLITS = {  # name: (fonts, count, scan damage)
    "train": ("train", 100_000, True),
    "val": ("train", 6_000, True),
    "holdout": ("holdout", 6_000, True),
    "holdout_clean": ("holdout", 3_000, False),
}
CHUNK = 1_000  # cells per generation task (each seeded by its split and index)

# Reader geometry: the canonical 200 dpi cell is 41.7 x 55.6 px; the reader crops its box
# lines inclusive after a local search that leaves a pixel or two.
CELL_W = (41, 44)
CELL_H = (55, 58)
CROP_SHIFT_PX = 2
NEIGHBOUR_PROB = 0.35  # the boxes either side are written too

# Scan damage (probability, range).
DAMAGE = {
    "blur": (0.6, (0.3, 1.2)),  # gaussian sigma, px
    "noise": (0.7, (1.0, 10.0)),  # gaussian sigma, grey levels
    "jpeg": (0.5, (25, 95)),  # quality
    "bilevel": (0.12, (140, 210)),  # threshold of a black-and-white scanner
    "faint": (0.25, (0.45, 0.9)),  # ink contrast kept (light scan, dry pen)
    "paper": (0.5, (200, 250)),  # grey of the paper (recycled paper, scanner gamma)
    "dust": (0.15, (1, 3)),  # specks
    "elastic": (0.4, (0.8, 2.0)),  # displacement, px
    "line": (0.25, (0, 4)),  # an extra box-line remnant this many px inside an edge
    "cutoff": (0.05, (0.08, 0.2)),  # share of the cell blanked at one edge
}

# The network and its training.
EPOCHS = 10
JOB_BUDGET_MIN = 13.0  # the machine is shared: one run stops (resumably) within ~15 minutes
EXIT_RESUME = 75  # EX_TEMPFAIL: not finished, run again
BATCH = 256
LR = 3e-3
WEIGHT_DECAY = 5e-4
LABEL_SMOOTHING = 0.05
AUG_SHIFT_PX = 1.5  # on-the-fly, on the 32 x 32 input: small shifts, rotations, scale
AUG_ROT_DEG = 6.0
AUG_SCALE = 0.08
CALIBRATION_THRESHOLDS = (0.9, 0.95, 0.99, 0.995)


# --- synthetic cells ---------------------------------------------------------------------------


# Typed sans-serif capitals as extra shapes for training only (a neat printer writes much like
# them); they widen what the model has seen without touching the held-out hands.
_TYPE = "/usr/share/fonts/truetype"
EXTRA_TRAIN_FONTS: tuple[FontStyle, ...] = (
    FontStyle("dejavu-sans", f"{_TYPE}/dejavu/DejaVuSans.ttf", "typed sans"),
    FontStyle("dejavu-sans-condensed", f"{_TYPE}/dejavu/DejaVuSansCondensed-Bold.ttf", "typed narrow bold"),
    FontStyle("liberation-mono", f"{_TYPE}/liberation/LiberationMono-Regular.ttf", "typed mono"),
    FontStyle("liberation-sans-narrow", f"{_TYPE}/liberation/LiberationSansNarrow-Regular.ttf", "typed narrow"),
    FontStyle("liberation-sans", f"{_TYPE}/liberation/LiberationSans-Regular.ttf", "typed sans"),
    FontStyle("dejavu-sans-mono-bold", f"{_TYPE}/dejavu/DejaVuSansMono-Bold.ttf", "typed mono bold"),
)
EXTRA_TRAIN_SHARE = 0.2


def _pick_font(kind: str, rng: np.random.Generator) -> tuple[int, FontStyle]:
    """(index in the split's fonts, -1 for an extra typed font; the font)."""
    if kind == "train" and rng.random() < EXTRA_TRAIN_SHARE:
        return -1, EXTRA_TRAIN_FONTS[int(rng.integers(len(EXTRA_TRAIN_FONTS)))]
    fonts = TRAIN_FONTS if kind == "train" else HOLDOUT_FONTS
    i = int(rng.integers(len(fonts)))
    return i, fonts[i]


def _elastic(img: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape
    field = rng.normal(0, 1, size=(2, 5, 4)).astype(np.float32)
    dx = cv2.resize(field[0], (w, h), interpolation=cv2.INTER_CUBIC) * alpha
    dy = cv2.resize(field[1], (w, h), interpolation=cv2.INTER_CUBIC) * alpha
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _happens(name: str, rng: np.random.Generator) -> bool:
    return rng.random() < DAMAGE[name][0]


def damage_like_a_scan(cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = cell.astype(np.float32)
    h, w = img.shape
    if _happens("elastic", rng):
        img = _elastic(img, rng.uniform(*DAMAGE["elastic"][1]), rng)
    if _happens("line", rng):  # a box line of the comb, seen by a crop that is off by a few px
        grey = rng.uniform(100, 190)
        k = int(rng.integers(*DAMAGE["line"][1], endpoint=True))
        side = rng.integers(4)
        if side == 0:
            img[k, :] = np.minimum(img[k, :], grey)
        elif side == 1:
            img[h - 1 - k, :] = np.minimum(img[h - 1 - k, :], grey)
        elif side == 2:
            img[:, k] = np.minimum(img[:, k], grey)
        else:
            img[:, w - 1 - k] = np.minimum(img[:, w - 1 - k], grey)
    if _happens("cutoff", rng):
        n = max(1, int(rng.uniform(*DAMAGE["cutoff"][1]) * (h if rng.random() < 0.5 else w)))
        side = rng.integers(4)
        (img[:n, :], img[-n:, :], img[:, :n], img[:, -n:])[side][...] = 255
    if _happens("faint", rng):
        img = 255 - (255 - img) * rng.uniform(*DAMAGE["faint"][1])
    if _happens("paper", rng):
        img = img * rng.uniform(*DAMAGE["paper"][1]) / 255.0
    if _happens("blur", rng):
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(*DAMAGE["blur"][1]))
    if _happens("dust", rng):
        for _ in range(int(rng.integers(*DAMAGE["dust"][1], endpoint=True))):
            y, x = int(rng.integers(h)), int(rng.integers(w))
            img[y:y + int(rng.integers(1, 3)), x:x + int(rng.integers(1, 3))] = rng.uniform(0, 150)
    if _happens("noise", rng):
        img = img + rng.normal(0, rng.uniform(*DAMAGE["noise"][1]), img.shape)
    out = img.clip(0, 255).astype(np.uint8)
    if _happens("bilevel", rng):
        out = np.where(out < rng.uniform(*DAMAGE["bilevel"][1]), 0, 255).astype(np.uint8)
    elif _happens("jpeg", rng):
        q = int(rng.integers(*DAMAGE["jpeg"][1]))
        out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_GRAYSCALE)
    return out


def cell_as_read(char: str, font: FontStyle, rng: np.random.Generator) -> np.ndarray:
    """A cell as the reader crops it from an aligned page: a comb strip of three boxes written
    by one writer, the middle box cut with a small misalignment, lines at the edges."""
    w = int(rng.integers(*CELL_W))
    h = int(rng.integers(*CELL_H))
    pad = 8
    strip = np.full((h + 2 * pad, 3 * w + 2 * pad), 255, np.uint8)
    grey = int(rng.integers(*handprint.BOX_LINE_GREY))
    thick = 2 if rng.random() < 0.3 else 1
    boxes = [(pad + i * w, pad, pad + (i + 1) * w, pad + h) for i in range(3)]
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(strip, (x0, y0), (x1, y1), grey, thick)
    left = CLASSES[rng.integers(len(CLASSES))] if rng.random() < NEIGHBOUR_PROB else " "
    right = CLASSES[rng.integers(len(CLASSES))] if rng.random() < NEIGHBOUR_PROB else " "
    write_text_into(strip, left + char + right, boxes, font=font, rng=rng)
    dx, dy = rng.integers(-CROP_SHIFT_PX, CROP_SHIFT_PX + 1, size=2)
    x0, y0, x1, y1 = boxes[1]
    return strip[y0 + dy:y1 + dy + 1, x0 + dx:x1 + dx + 1].copy()


def _make_chunk(args: tuple[str, str, bool, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    split, fonts_kind, damaged, index, count = args
    split_id = list(SPLITS).index(split)
    rng = np.random.default_rng([SEED, split_id, index])
    xs = np.zeros((count, icr.INPUT_SIZE, icr.INPUT_SIZE), np.uint8)
    ys = np.zeros(count, np.int16)
    fs = np.zeros(count, np.int8)
    for k in range(count):
        label = int(rng.integers(len(CLASSES)))
        fs[k], font = _pick_font(fonts_kind, rng)
        if damaged:
            cell = damage_like_a_scan(cell_as_read(CLASSES[label], font, rng), rng)
        else:
            cell = render_cell(CLASSES[label], font=font, rng=rng)
        xs[k] = np.round(icr.preprocess_cell(cell) * 255)
        ys[k] = label
    return xs, ys, fs


def _source_fingerprint() -> str:
    """What the cached cells depend on: the handprint generator, the scan damage and the
    preprocessing (not the network or its training: changing those keeps the cache)."""
    h = hashlib.sha256((ROOT / "samples" / "handprint.py").read_bytes())
    for fn in (icr._grey, icr._paper, icr._line_rows_cols, icr._with_neighbours, icr.ink_map,
               icr._keep_own_marks, icr.preprocess_cell, _elastic, damage_like_a_scan, cell_as_read,
               _make_chunk, _pick_font):
        h.update(inspect.getsource(fn).encode())
    h.update(repr([icr.card_preprocessing(), DAMAGE, SPLITS, CELL_W, CELL_H, CROP_SHIFT_PX,
                   NEIGHBOUR_PROB, SEED, CLASSES, EXTRA_TRAIN_FONTS, EXTRA_TRAIN_SHARE]).encode())
    return h.hexdigest()[:12]


def _cached_chunk(task: tuple[str, str, bool, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One chunk of cells, from the cache or made and cached (so that a long generation can be
    done in several short runs, and a rerun with other training settings costs nothing)."""
    split, _, _, index, count = task
    path = CACHE_DIR / _source_fingerprint() / f"{split}-{index:04d}-{count}.npz"
    if path.exists():
        data = np.load(path)
        return data["x"], data["y"], data["f"]
    x, y, f = _make_chunk(task)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x=x, y=y, f=f)
    tmp.replace(path)
    return x, y, f


def make_split(split: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cells as preprocessed uint8, labels, font index in the split's fonts)."""
    fonts_kind, count, damaged = SPLITS[split]
    count = max(CHUNK, int(count * scale) // CHUNK * CHUNK)
    t0 = time.time()
    tasks = [(split, fonts_kind, damaged, i, CHUNK) for i in range(count // CHUNK)]
    with ProcessPoolExecutor(max_workers=THREADS) as pool:
        parts = list(pool.map(_cached_chunk, tasks))
    print(f"  {split}: {count} cells, {time.time() - t0:.0f} s", flush=True)
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))


def corrections_split(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Cells staff labelled (scan.corrections.export_cells), preprocessed as the scanner does;
    a character the model has no class for (a space) is left out."""
    from scan.corrections import load_cells

    pairs = [(crop, CLASSES.index(char)) for crop, char in load_cells(folder) if char in CLASSES]
    x = np.zeros((len(pairs), icr.INPUT_SIZE, icr.INPUT_SIZE), np.uint8)
    for k, (crop, _) in enumerate(pairs):
        x[k] = np.round(icr.preprocess_cell(crop) * 255)
    return x, np.array([label for _, label in pairs], np.int16)


# --- the network ---------------------------------------------------------------------------------


def build_model(n_classes: int):
    import torch.nn as nn

    def separable(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    # A 5x5 stride-2 stem (opencv's dnn is slow on full-resolution one-channel convolutions),
    # then depthwise-separable blocks: cheap to run on one core (300 cells in ~25 ms).
    return nn.Sequential(
        nn.Conv2d(1, 24, 5, 2, 2, bias=False), nn.BatchNorm2d(24), nn.ReLU(),  # 16 x 16
        *separable(24, 48), nn.MaxPool2d(2),  # 8 x 8
        *separable(48, 96), *separable(96, 96), nn.MaxPool2d(2),  # 4 x 4
        *separable(96, 128), nn.AvgPool2d(2),  # 2 x 2
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(128 * 4, 128), nn.ReLU(), nn.Dropout(0.15),
        nn.Linear(128, n_classes),
    )


def _augment(x, gen):
    """Small random affine moves of a batch (N, 1, S, S) on the fly: more variety for free."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    s = x.shape[-1]
    ang = (torch.rand(n, generator=gen) * 2 - 1) * np.radians(AUG_ROT_DEG)
    sc = 1 + (torch.rand(n, generator=gen) * 2 - 1) * AUG_SCALE
    tx = (torch.rand(n, generator=gen) * 2 - 1) * AUG_SHIFT_PX * 2 / s
    ty = (torch.rand(n, generator=gen) * 2 - 1) * AUG_SHIFT_PX * 2 / s
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def _checkpoint_path(epochs: int, n: int) -> Path:
    """Where a training run in progress keeps its state: keyed by the cells and the recipe."""
    recipe = repr([_source_fingerprint(), epochs, n, BATCH, LR, WEIGHT_DECAY, LABEL_SMOOTHING, AUG_SHIFT_PX,
                   AUG_ROT_DEG, AUG_SCALE, inspect.getsource(build_model), inspect.getsource(_augment)])
    return CACHE_DIR / f"checkpoint-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}.pt"


def train(x: np.ndarray, y: np.ndarray, epochs: int, deadline: float):
    """The trained model, or None when the deadline (time.time()) came first: the state is then
    saved after the last whole epoch and the next run goes on from there, the same as if it
    had never stopped (every random state is in the checkpoint)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = build_model(len(CLASSES)).to(memory_format=torch.channels_last)  # 2x faster on CPU
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps = epochs * (len(x) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)
    checkpoint = _checkpoint_path(epochs, len(x))
    first, last_epoch_s = 0, 0.0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        gen.set_state(state["gen"])
        first, last_epoch_s = state["epoch"], state["epoch_s"]
        print(f"  resuming after epoch {first} ({checkpoint.name})", flush=True)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y.astype(np.int64))
    for epoch in range(first, epochs):
        if time.time() + last_epoch_s * 1.1 > deadline:
            return None
        model.train()
        t0 = time.time()
        order = torch.randperm(len(x), generator=gen)
        total, right, loss_sum = 0, 0, 0.0
        for b in range(len(x) // BATCH):
            idx = order[b * BATCH:(b + 1) * BATCH]
            xb = xt[idx].float().unsqueeze(1) / 255.0
            xb = _augment(xb, gen).contiguous(memory_format=torch.channels_last)
            yb = yt[idx]
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            right += int((out.argmax(1) == yb).sum())
            total += len(idx)
        last_epoch_s = time.time() - t0
        print(f"  epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.3f}, train acc {right / total:.4f}, "
              f"{last_epoch_s:.0f} s", flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "gen": gen.get_state(), "epoch": epoch + 1, "epoch_s": last_epoch_s}, checkpoint)
    model.eval()
    return model


def logits_of(model, x: np.ndarray) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for b in range(0, len(x), 1024):
            out.append(model(torch.from_numpy(x[b:b + 1024]).float().unsqueeze(1) / 255.0).numpy())
    return np.concatenate(out)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimizes the negative log-likelihood on the validation cells."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.3), np.log(5.0), 200)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


# --- measuring ---------------------------------------------------------------------------------


# Letters and digits that many hands write the same way: only the field's context tells them
# apart. Reported merged as well, to show how much of the error is this ambiguity.
_LOOKALIKE = {"1": "I", "0": "O", "2": "Z", "5": "S", "6": "G", "8": "B"}


def measure(logits: np.ndarray, y: np.ndarray, temperature: float, charset: str = TEXT_CHARSET) -> dict:
    """Accuracy and calibration as classify() computes probabilities: over the allowed charset."""
    allowed = [i for i, c in enumerate(CLASSES) if c in charset]
    keep = np.isin(y, allowed)
    z = logits[keep][:, allowed] / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    truth = np.searchsorted(allowed, y[keep])
    best = p.argmax(axis=1)
    conf = p.max(axis=1)
    right = best == truth
    top3 = (np.argsort(-p, axis=1)[:, :3] == truth[:, None]).any(axis=1)
    names = [CLASSES[i] for i in allowed]
    merged = [_LOOKALIKE.get(names[b], names[b]) == _LOOKALIKE.get(names[t], names[t]) for b, t in zip(best, truth)]
    result = {"n": int(keep.sum()), "accuracy": round(float(right.mean()), 4),
              "top3_accuracy": round(float(top3.mean()), 4),
              "accuracy_lookalikes_merged": round(float(np.mean(merged)), 4), "calibration": {}}
    for thr in CALIBRATION_THRESHOLDS:
        sure = conf >= thr
        result["calibration"][str(thr)] = {
            "share_at_or_above": round(float(sure.mean()), 4),
            "error_rate_among_them": round(float((~right[sure]).mean()), 5) if sure.any() else None,
            "errors": int((~right[sure]).sum()),
        }
    # Expected calibration error, 15 bins.
    bins = np.linspace(0, 1, 16)
    ece = 0.0
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - right[m].mean())
    result["ece"] = round(float(ece), 4)
    return result


def confusions(logits: np.ndarray, y: np.ndarray, top: int = 12) -> list:
    pred = logits.argmax(axis=1)
    pairs: dict[tuple[str, str], int] = {}
    for t, p in zip(y, pred):
        if t != p:
            key = (CLASSES[t], CLASSES[p])
            pairs[key] = pairs.get(key, 0) + 1
    return [f"{a}->{b}: {n}" for (a, b), n in sorted(pairs.items(), key=lambda kv: -kv[1])[:top]]


def export_onnx(model, path: Path) -> None:
    import torch

    dummy = torch.zeros(1, 1, icr.INPUT_SIZE, icr.INPUT_SIZE)
    torch.onnx.export(model, dummy, str(path), input_names=["cells"], output_names=["logits"],
                      dynamic_axes={"cells": {0: "n"}, "logits": {0: "n"}}, opset_version=13,
                      dynamo=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=icr.MODEL_DIR)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the cells to make (quick trials)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--budget-min", type=float, default=JOB_BUDGET_MIN,
                        help="stop (resumable) before an epoch that would end after this many minutes")
    parser.add_argument("--corrections", type=Path, action="append", default=[],
                        help="a folder of `csq review export-cells`: real cells staff labelled, added to training")
    parser.add_argument("--corrections-repeat", type=int, default=CORRECTIONS_REPEAT,
                        help="how many times each corrected cell counts (they are few beside the synthetic ones)")
    parser.add_argument("--generate-only", action="store_true",
                        help="only make (and cache) the cells: a first short run on a busy machine")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(THREADS)
    cv2.setNumThreads(1)
    started = time.time()
    print("making cells (cached in", CACHE_DIR, ")", flush=True)
    data = {name: make_split(name, args.scale if name == "train" else 1.0) for name in SPLITS}
    if args.generate_only:
        return 0
    corrected = [corrections_split(folder) for folder in args.corrections]
    if corrected:
        x, y = np.concatenate([c[0] for c in corrected]), np.concatenate([c[1] for c in corrected])
        print(f"  corrections: {len(y)} real cells, each counted {args.corrections_repeat} times", flush=True)
        x, y = np.repeat(x, args.corrections_repeat, axis=0), np.repeat(y, args.corrections_repeat)
        train_x, train_y, train_f = data["train"]
        data["train"] = (np.concatenate([train_x, x]), np.concatenate([train_y, y]),
                         np.concatenate([train_f, np.full(len(y), -1, train_f.dtype)]))

    print("training", flush=True)
    model = train(data["train"][0], data["train"][1], epochs=args.epochs,
                  deadline=started + 60 * args.budget_min)
    if model is None:
        print("time budget reached: run the same command again to go on from the last epoch")
        return EXIT_RESUME
    temperature = fit_temperature(logits_of(model, data["val"][0]), data["val"][1])
    print(f"  temperature {temperature:.3f}")

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / icr.MODEL_PATH.name
    export_onnx(model, onnx_path)

    # The scanner runs opencv's dnn, not PyTorch: measure what it will run.
    net = cv2.dnn.readNetFromONNX(str(onnx_path))
    figures = {}
    for name in ("val", "holdout", "holdout_clean"):
        x, y, font_index = data[name]
        net.setInput(x[:, None].astype(np.float32) / 255.0)
        lg = np.asarray(net.forward()).reshape(len(x), -1)
        drift = float(np.abs(lg - logits_of(model, x)).max())
        assert drift < 1e-3, f"cv2.dnn and PyTorch disagree by {drift}"
        figures[name] = {
            "text_fields": measure(lg, y, temperature),
            "digits_fields": measure(lg, y, temperature, DIGIT_CHARSET),
            "top_confusions": confusions(lg, y),
        }
        if name.startswith("holdout"):
            figures[name]["per_font_accuracy"] = {
                font.name: measure(lg[font_index == i], y[font_index == i], temperature)["accuracy"]
                for i, font in enumerate(HOLDOUT_FONTS)}

    batch = data["holdout"][0][:300, None].astype(np.float32) / 255.0
    net.setInput(batch)
    net.forward()
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        net.setInput(batch)
        net.forward()
        times.append(time.perf_counter() - t0)

    card = {
        "model": onnx_path.name,
        "classes": CLASSES,
        "input_size": icr.INPUT_SIZE,
        "input": "float32 (n, 1, S, S), 0 = paper, 1 = ink: scan.icr.preprocess_cell",
        "preprocessing": icr.card_preprocessing(),
        "temperature": round(temperature, 4),
        "train_fonts": [f.name for f in TRAIN_FONTS],
        "extra_train_fonts": {"share": EXTRA_TRAIN_SHARE, "fonts": [f.name for f in EXTRA_TRAIN_FONTS]},
        "holdout_fonts": [f.name for f in HOLDOUT_FONTS],
        "cells": {name: int(len(d[1])) for name, d in data.items()},
        "corrections": {"folders": [str(f) for f in args.corrections], "repeat": args.corrections_repeat},
        "seed": SEED,
        "epochs": args.epochs,
        "measured": figures,
        "forward_ms_per_300_cells_one_core": round(1000 * float(np.median(times)), 1),
        "rebuild": ".venv/bin/python scripts/train_icr.py",
        "source_fingerprint": _source_fingerprint(),
        "trained_in_s": round(time.time() - started),
    }
    sidecar = args.out / icr.SIDECAR_PATH.name
    sidecar.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    # What a page costs the scanner: 300 raw cells through preprocessing and one forward pass.
    recognizer = icr.CombCellRecognizer(onnx_path, sidecar)
    rng = np.random.default_rng(SEED)
    cells = [render_cell(CLASSES[i % len(CLASSES)], font=HOLDOUT_FONTS[i % len(HOLDOUT_FONTS)], rng=rng)
             for i in range(300)]
    recognizer.classify(cells, TEXT_CHARSET)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        recognizer.classify(cells, TEXT_CHARSET)
        times.append(time.perf_counter() - t0)
    card["classify_ms_per_300_cells_one_core"] = round(1000 * float(np.median(times)), 1)
    card["load_average_while_timing"] = round(os.getloadavg()[0], 1)  # the machine is shared
    sidecar.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: card[k] for k in ("temperature", "forward_ms_per_300_cells_one_core",
                                           "classify_ms_per_300_cells_one_core", "load_average_while_timing")},
                     indent=2))
    for name, f in figures.items():
        print(name, json.dumps(f, indent=1, ensure_ascii=False))
    print(f"model {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB), {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
