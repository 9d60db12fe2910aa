"""Stage 2, identify: which page of which form is this, and which way up?

Evidence, best first:
1. the page code (QR, printed twice on every page: a staple or a fold over one leaves the
   other): form, version, page number and count, geometry fingerprint, the document id of a
   prefilled form or the serial of a separator sheet. The code's orientation gives the page's;
2. the data codes of a prefilled page: they carry form, version, page number and document id;
3. the ArUco corner markers (ids differ between the form and the separator sheet): they give
   the orientation, and the page is then recognised by comparing its layout with every page of
   every registered template (ODK Scan's idea: the printed layout itself is the identity).
A page with none of these is a supporting document (a passport copy, a diploma: kept), or
blank if it has almost no ink. A code of a form or version we do not have, or whose geometry
fingerprint differs from our template's, makes the page foreign: flagged, never read with the
wrong geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from errors import CsqError
from scan import thresholds as t
from scan.align import detect_markers, marker_rotation, to_canonical_px
from scan.engines import Code, barcodes
from templates import geometry as g
from templates.codes import PAGE_CODE_PREFIX, PageCode, is_data_code
from templates.spec import FORM_ID, SEPARATOR_ID, FormSpec, PageSpec, load_form, registered_versions


@dataclass(frozen=True)
class Identity:
    """What a page is. `kind` is one of scan.model.PAGE_KINDS."""

    kind: str
    quarter_turns: int  # clockwise quarter turns that make the scan upright
    page_code: PageCode | None = None
    method: str = "none"  # 'page_code', 'data_code', 'layout', 'none'
    codes: tuple[Code, ...] = ()  # every QR found, corners in the UPRIGHT image's pixels
    data_texts: tuple[str, ...] = ()
    page_codes_read: int = 0  # how many of the two printed page codes were read
    problems: tuple[str, ...] = ()
    ink_share: float = 0.0

    @property
    def rotation(self) -> int:
        """Degrees the scan was turned (clockwise) to be upright."""
        return (self.quarter_turns * 90) % 360


def upright(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    """The image turned clockwise by `quarter_turns` quarter turns."""
    if quarter_turns % 4 == 0:
        return image
    turned = np.ascontiguousarray(np.rot90(image, -quarter_turns))
    turned.flags.writeable = False
    return turned


def _turn_point(x: float, y: float, w: int, h: int, quarter_turns: int) -> tuple[float, float]:
    """Where pixel (x, y) of a w x h image lands after turning it clockwise `quarter_turns` times."""
    for _ in range(quarter_turns % 4):
        x, y, w, h = h - 1 - y, x, h, w
    return x, y


def ink_share(image: np.ndarray) -> float:
    """Share of dark pixels on the sheet: the page's borders, and dark areas that touch the edge of
    the scan (the scanner's black backing around an overscanned sheet, a punch hole's shadow),
    left out."""
    h, w = image.shape
    m = int(min(h, w) * t.BLANK_BORDER_SHARE)
    small = np.ascontiguousarray(image[::4, ::4])
    dark = (small < t.BLANK_DARK_LEVEL).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    sh, sw = dark.shape
    touching = [
        k for k in range(1, n)
        if stats[k, cv2.CC_STAT_LEFT] == 0 or stats[k, cv2.CC_STAT_TOP] == 0
        or stats[k, cv2.CC_STAT_LEFT] + stats[k, cv2.CC_STAT_WIDTH] == sw or stats[k, cv2.CC_STAT_TOP] + stats[k, cv2.CC_STAT_HEIGHT] == sh
    ]
    if touching:
        dark[np.isin(labels, touching)] = 0
    b = m // 4
    inner = dark[b : sh - b, b : sw - b]
    return float(np.count_nonzero(inner)) / max(1, inner.size)


@lru_cache(maxsize=None)
def _template(form_id: str, version: str) -> FormSpec | None:
    try:
        return load_form(form_id, version)
    except CsqError:
        return None


def template_page(code: PageCode) -> PageSpec:
    """The spec page a (valid) page code names."""
    form = _template(code.form_id, code.version)
    assert form is not None
    return form.pages[code.page_no - 1]


def _why_foreign(code: PageCode) -> str | None:
    """None if our templates know this page exactly; else the reason it is foreign."""
    if code.form_id not in (FORM_ID, SEPARATOR_ID):
        return f"page of another form ({code.form_id} {code.version})"
    if code.version not in registered_versions(code.form_id):
        return f"page of form {code.form_id} version {code.version}, which is not registered"
    form = _template(code.form_id, code.version)
    if form is None or not 1 <= code.page_no <= len(form.pages) or code.page_count != len(form.pages):
        return f"page {code.page_no}/{code.page_count} does not exist in {code.form_id} {code.version}"
    if form.pages[code.page_no - 1].fingerprint != code.fingerprint:
        return f"page {code.page_no} of {code.form_id} {code.version} with a different layout (fingerprint {code.fingerprint})"
    return None


def _page_codes(codes: list[Code]) -> list[PageCode]:
    out = []
    for c in codes:
        if c.text.startswith(PAGE_CODE_PREFIX + "|"):
            try:
                out.append(PageCode.decode(c.text))
            except CsqError:
                continue
    return out


def identify(image: np.ndarray) -> Identity:
    """Identify a page from its (not yet upright) grey image."""
    engine = barcodes()
    codes = engine.read(image)
    if not codes:
        # The quick pass found nothing: before calling the page a supporting document, look harder
        # (downscaled and inverted searches catch blurred or photocopied-negative codes).
        codes = engine.read(image, thorough=True)
    page_codes = _page_codes(codes)
    data_texts = tuple(c.text for c in codes if is_data_code(c.text))
    ours = [c for c in codes if c.text.startswith(PAGE_CODE_PREFIX + "|")]
    turns = _turns_from_codes([c for c in codes if c.text.startswith(PAGE_CODE_PREFIX + "|") or is_data_code(c.text)])
    problems: list[str] = []

    if page_codes:
        distinct = sorted(set(page_codes), key=page_codes.index)
        if len(distinct) > 1:
            problems.append("the two page codes disagree: " + " / ".join(pc.encode()[:60] for pc in distinct))
            return Identity("unreadable", turns or 0, None, "page_code", _upright_codes(codes, image, turns), data_texts, len(ours), tuple(problems))
        code = distinct[0]
        if len(ours) < 2 and code.form_id in (FORM_ID, SEPARATOR_ID):
            problems.append("one of the two page codes is unreadable (stapled, folded or marked?)")
        why = _why_foreign(code)
        kind = "foreign" if why else ("separator" if code.form_id == SEPARATOR_ID else "form")
        if why:
            problems.append(why)
        return Identity(kind, turns or 0, code, "page_code", _upright_codes(codes, image, turns), data_texts, len(ours), tuple(problems))

    if data_texts:
        code = _code_from_data(data_texts)
        if code is not None:
            problems.append("both page codes are unreadable: identified by the data codes")
            why = _why_foreign(code)
            if why:
                problems.append(why)
            return Identity("foreign" if why else "form", turns or 0, code, "data_code", _upright_codes(codes, image, turns), data_texts, 0, tuple(problems))

    share = ink_share(image)
    markers = detect_markers(image, whole_page_if_none=False) if share >= t.BLANK_INK_SHARE else {}
    layout = _identify_by_layout(image, markers) if markers else None
    if layout is not None:
        code, turns, why = layout
        if code is None:
            return Identity("unreadable", turns, None, "layout", (), data_texts, 0, (why,), share)
        kind = "separator" if code.form_id == SEPARATOR_ID else "form"
        problems.append("both page codes are unreadable: identified by the page's layout")
        return Identity(kind, turns, code, "layout", _upright_codes(codes, image, turns), data_texts, 0, tuple(problems), share)
    if share < t.BLANK_INK_SHARE:
        return Identity("blank", 0, ink_share=share)
    return Identity("supporting", 0, codes=tuple(codes), ink_share=share)


def _turns_from_codes(codes: list[Code]) -> int | None:
    """Clockwise quarter turns to make our printed codes upright (they are printed upright)."""
    if not codes:
        return None
    votes = [int(round(-c.orientation / 90.0)) % 4 for c in codes]
    return max(set(votes), key=votes.count)


def _upright_codes(codes: list[Code], image: np.ndarray, turns: int | None) -> tuple[Code, ...]:
    h, w = image.shape[:2]
    k = turns or 0
    return tuple(
        Code(c.text, tuple(_turn_point(x, y, w, h, k) for x, y in c.corners), c.orientation + 90 * k) for c in codes
    )


def _code_from_data(texts: tuple[str, ...]) -> PageCode | None:
    """A page code rebuilt from a data code's header (form, version, page, document)."""
    parts = texts[0].split(":", 6)
    if len(parts) != 7:
        return None
    form_id, version, page_no, doc = parts[1].lower(), parts[2], parts[3], parts[4]
    form = _template(form_id, version)
    if form is None or not page_no.isdigit() or not 1 <= int(page_no) <= len(form.pages):
        return PageCode(form_id, version, int(page_no) if page_no.isdigit() else 0, 0, "?", doc)
    page = form.pages[int(page_no) - 1]
    return PageCode(form_id, version, int(page_no), len(form.pages), page.fingerprint, doc)


# ------------------------------------------------------------------------------ layout


def _identify_by_layout(image: np.ndarray, markers: dict) -> tuple[PageCode | None, int, str] | None:
    """(page code, quarter turns, reason) for a page with our markers but no readable code; None if
    the markers are not ours. The code is None (with the reason) when the layout is ambiguous."""
    form_ids = set(g.MARKER_IDS.values())
    sep_ids = set(g.SEPARATOR_MARKER_IDS.values())
    form_hits = [i for i in markers if i in form_ids]
    sep_hits = [i for i in markers if i in sep_ids]
    if len(form_hits) < 2 and len(sep_hits) < 2:
        return None
    form_id = FORM_ID if len(form_hits) >= len(sep_hits) else SEPARATOR_ID
    version = registered_versions(form_id)[-1]
    candidates = [(v, p) for v in registered_versions(form_id) for p in load_form(form_id, v).pages]
    turns = marker_rotation(markers, candidates[0][1])
    if turns is None:
        return None, 0, "both page codes unreadable and the corner marks disagree on the orientation: rescan the page"
    from scan.align import align, warp  # here to keep the import graph one-way at module load

    up = upright(image, turns)
    try:
        alignment = align(up, candidates[0][1])
    except CsqError as exc:
        return None, turns, f"both page codes unreadable and the page does not align ({exc})"
    aligned = warp(up, alignment, candidates[0][1])
    scores = sorted(((layout_score(aligned, p), v, p) for v, p in candidates), key=lambda s: -s[0])
    best, runner = scores[0], (scores[1] if len(scores) > 1 else (0.0, None, None))
    if best[0] < t.LAYOUT_MATCH_MIN_SCORE or best[0] - runner[0] < t.LAYOUT_MATCH_MIN_MARGIN:
        return None, turns, (
            f"both page codes unreadable and the layout matches no page clearly (best {best[0]:.2f}, next {runner[0]:.2f}): "
            "type the page's number in the review station or rescan it"
        )
    _, version, page = best
    form = load_form(form_id, version)
    return PageCode(form_id, version, page.index + 1, len(form.pages), page.fingerprint), turns, ""


LAYOUT_SCALE = 0.25  # 50 dpi: boxes are still 3-4 px wide, the comparison costs nothing


@lru_cache(maxsize=None)
def box_layout(form_id: str, version: str, index: int) -> np.ndarray:
    """A page's comb cells, tick boxes and signature box drawn as outlines at 50 dpi: what a
    blank of this page looks like wherever a person writes, text and codes left out."""
    page = load_form(form_id, version).pages[index]
    w, h = round(page.width_pt * 200 / 72 * LAYOUT_SCALE), round(page.height_pt * 200 / 72 * LAYOUT_SCALE)
    canvas = np.zeros((h, w), np.float32)
    for f in page.fields:
        boxes = list(f.cells) + [o.box for o in f.options] + ([f.box] if f.box else [])
        for b in boxes:
            x0, y1 = to_canonical_px(page, b[0], b[1])
            x1, y0 = to_canonical_px(page, b[2], b[3])
            cv2.rectangle(canvas, (round(x0 * LAYOUT_SCALE), round(y0 * LAYOUT_SCALE)), (round(x1 * LAYOUT_SCALE), round(y1 * LAYOUT_SCALE)), 1.0, 1)
    return canvas


def layout_score(aligned: np.ndarray, page: PageSpec) -> float:
    """How well an aligned scan's dark lines match the box outlines of `page` (0..1): the share of
    the template's box outline that is dark on the scan, minus the share dark elsewhere near it."""
    # Box lines are a pixel wide at 200 dpi: threshold first, then shrink keeping any dark pixel.
    ink = (aligned < t.LAYOUT_DARK_LEVEL).astype(np.float32)
    small = cv2.resize(ink, None, fx=LAYOUT_SCALE, fy=LAYOUT_SCALE, interpolation=cv2.INTER_AREA)
    dark = (small > 0.05).astype(np.float32)
    outline = box_layout(page.form_id, page.version, page.index)
    dark = dark[: outline.shape[0], : outline.shape[1]]
    dark_near = cv2.dilate(dark, np.ones((3, 3), np.uint8))  # +-1 px (4 px at 200 dpi) of alignment slack
    ring = cv2.dilate(outline, np.ones((9, 9), np.uint8)) - cv2.dilate(outline, np.ones((3, 3), np.uint8))
    hit = float((dark_near * outline).sum() / max(1.0, outline.sum()))
    noise = float((dark * ring).sum() / max(1.0, ring.sum()))
    return max(0.0, min(1.0, hit - noise))
