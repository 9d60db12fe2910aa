"""scan/identify.py and scan/align.py on real rendered pages: which page, which way up, where."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import segno

from errors import UnreadablePage
from scan.align import align, box_to_px, detect_markers, to_canonical_px, warp
from scan.identify import identify, template_page, upright
from templates.codes import PageCode
from templates.spec import load_form
from test_scan_support import rendered, scan_damage, turn  # noqa: F401


@pytest.mark.parametrize("quarter_turns", [0, 1, 2, 3])
@pytest.mark.parametrize("which, index", [("blank", 0), ("prefill", 2), ("separators", 1)])
def test_identified_at_any_orientation_with_skew(rendered, quarter_turns, which, index):
    scan, _ = scan_damage(rendered["pages"][which][index], angle=3.0, seed=quarter_turns)
    identity = identify(turn(scan, quarter_turns))
    assert identity.rotation == (360 - 90 * quarter_turns) % 360  # turned back clockwise by this much
    code = identity.page_code
    if which == "separators":
        assert identity.kind == "separator" and code.serial == rendered["serials"][index]
    else:
        assert identity.kind == "form" and code.page_no == index + 1 and code.page_count == 6
        assert (code.document_id is not None) == (which == "prefill")
    assert identity.page_codes_read == 2


def _canonical_points(page) -> np.ndarray:
    """Corners of every comb cell of the page on the canonical raster."""
    pts = [to_canonical_px(page, x, y) for f in page.fields for c in f.cells for x, y in ((c[0], c[1]), (c[2], c[3]))]
    return np.array(pts, dtype=np.float64)


def _alignment_error_px(alignment, to_scan: np.ndarray, page, quarter_turns: int = 0) -> float:
    """Largest distance between where a cell corner is after alignment and where it should be."""
    truth = _canonical_points(page)
    in_scan = cv2.perspectiveTransform(truth.reshape(-1, 1, 2), to_scan).reshape(-1, 2)
    back = cv2.perspectiveTransform(in_scan.reshape(-1, 1, 2), alignment.matrix).reshape(-1, 2)
    return float(np.max(np.linalg.norm(back - truth, axis=1)))


def test_alignment_error_small_on_a_damaged_scan(rendered):
    page = load_form().pages[0]
    scan, to_scan = scan_damage(rendered["pages"]["prefill"][0], angle=1.5, scale=1.03, blur=1.2, noise=8, jpeg=70)
    alignment = align(scan, page)
    assert alignment.method == "markers4" and alignment.residual_px < 1.0
    assert _alignment_error_px(alignment, to_scan, page) < 1.5  # 200 dpi px: under 0.2 mm anywhere
    aligned = warp(scan, alignment, page)
    assert aligned.shape == (2200, 1700)


def _cover_marker(image: np.ndarray, to_scan: np.ndarray, page, corner: str) -> np.ndarray:
    marker = next(m for m in page.markers if m.corner == corner)
    x0, y0, x1, y1 = box_to_px(page, marker.box)
    pts = cv2.perspectiveTransform(np.array([[[x0 - 8, y0 - 8]], [[x1 + 8, y1 + 8]]], np.float64), to_scan).reshape(-1, 2)
    out = image.copy()
    (a, b), (c, d) = pts.astype(int)
    out[min(b, d) - 10 : max(b, d) + 10, min(a, c) - 10 : max(a, c) + 10] = 255  # a sticker over it
    return out


def test_alignment_with_one_marker_covered_uses_three(rendered):
    page = load_form().pages[1]
    scan, to_scan = scan_damage(rendered["pages"]["blank"][1], angle=-1.0)
    scan = _cover_marker(scan, to_scan, page, "bottom_right")
    alignment = align(scan, page)
    assert alignment.method == "markers3" and 2 not in alignment.markers_found
    assert _alignment_error_px(alignment, to_scan, page) < 2.0


def test_alignment_with_two_markers_covered_uses_the_page_codes(rendered):
    page = load_form().pages[0]
    scan, to_scan = scan_damage(rendered["pages"]["blank"][0], angle=0.8)
    for corner in ("top_left", "bottom_right"):
        scan = _cover_marker(scan, to_scan, page, corner)
    identity = identify(scan)
    from scan.pipeline import _code_box

    codes = tuple((_code_box(page, c), c.corners) for c in identity.codes)
    alignment = align(scan, page, codes=codes)
    assert alignment.method == "markers+codes"
    assert _alignment_error_px(alignment, to_scan, page) < 3.0


def test_alignment_with_two_marks_along_one_edge_uses_a_similarity(rendered):
    """A skewed feed cut off both top corners (marks and the top page code with them)."""
    page = load_form().pages[3]
    scan, to_scan = scan_damage(rendered["pages"]["blank"][3], angle=2.0)
    for corner in ("top_left", "top_right"):
        scan = _cover_marker(scan, to_scan, page, corner)
    alignment = align(scan, page)
    assert alignment.method == "similarity" and set(alignment.markers_found) == {2, 3}
    assert _alignment_error_px(alignment, to_scan, page) < 2.5


def test_marker_against_the_edge_of_the_scan_is_found(rendered):
    image = rendered["pages"]["blank"][0]
    cut = np.ascontiguousarray(image[60:, 60:])  # the scan starts right at the top-left marker's edge
    assert {0, 1, 2, 3} <= set(detect_markers(cut))


def test_too_few_landmarks_is_rejected_with_the_reason(rendered):
    page = load_form().pages[0]
    scan, to_scan = scan_damage(rendered["pages"]["blank"][0])
    for corner in ("top_left", "bottom_right", "top_right"):
        scan = _cover_marker(scan, to_scan, page, corner)
    with pytest.raises(UnreadablePage, match="registration marks missing"):
        align(scan, page)


def test_blurred_page_is_rejected(rendered):
    page = load_form().pages[0]
    scan, _ = scan_damage(rendered["pages"]["blank"][0], blur=0, noise=0, jpeg=None)
    blurred = cv2.GaussianBlur(scan, (0, 0), 4.0)
    markers = detect_markers(blurred)
    if len(markers) < 3:  # so blurred the marks are gone: rejected for that
        with pytest.raises(UnreadablePage):
            align(blurred, page)
    else:
        with pytest.raises(UnreadablePage, match="too blurred"):
            align(blurred, page)


def test_page_with_both_codes_destroyed_is_found_by_its_layout(rendered):
    page = load_form().pages[2]
    image = rendered["pages"]["blank"][2].copy()
    for box in page.code_boxes:
        x0, y0, x1, y1 = box_to_px(page, box)
        image[y0 - 4 : y1 + 4, x0 - 4 : x1 + 4] = 255  # torn off, or a big stain
    scan, _ = scan_damage(image, angle=2.0)
    identity = identify(turn(scan, 1))
    assert identity.kind == "form" and identity.method == "layout"
    assert identity.page_code.page_no == 3 and identity.rotation == 270


def _page_with_code(rendered, code: PageCode) -> np.ndarray:
    """The blank page 1 with both page codes replaced by `code`."""
    page = load_form().pages[0]
    image = rendered["pages"]["blank"][0].copy()
    for box in page.code_boxes:
        x0, y0, x1, y1 = box_to_px(page, box)
        matrix = np.array(segno.make_qr(code.encode(), error="q").matrix, dtype=np.uint8)
        symbol = cv2.resize((1 - matrix) * 255, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        image[y0:y1, x0:x1] = symbol
    return image


@pytest.mark.parametrize(
    "code, why",
    [
        (PageCode("csq-rtq", "2019.2", 1, 6, "0123456789"), "not registered"),
        (PageCode("csq-rtq", "2026.1", 1, 6, "0123456789"), "different layout"),
        (PageCode("mifi-a0520", "2026.1", 1, 4, "abcdef0123"), "another form"),
    ],
)
def test_page_of_another_form_or_version_is_foreign(rendered, code, why):
    identity = identify(scan_damage(_page_with_code(rendered, code))[0])
    assert identity.kind == "foreign"
    assert any(why in p for p in identity.problems)


def test_supporting_document_and_blank_page(rendered):
    rng = np.random.default_rng(3)
    letter = np.full((2200, 1700), 245, np.uint8)
    for row in range(300, 1900, 40):  # a typed letter: lines of dark words
        for x in range(200, 1500, 90):
            if rng.random() < 0.8:
                letter[row : row + 14, x : x + int(rng.integers(30, 80))] = 40
    assert identify(letter).kind == "supporting"
    blank = np.clip(np.random.default_rng(4).normal(242, 4, (2200, 1700)), 0, 255).astype(np.uint8)
    assert identify(blank).kind == "blank"


def test_upright_turns_back(rendered):
    image = rendered["pages"]["blank"][0]
    for k in range(4):
        assert np.array_equal(upright(turn(image, k), (4 - k) % 4), image)
    page = template_page(PageCode("csq-rtq", "2026.1", 4, 6, load_form().pages[3].fingerprint))
    assert page.index == 3
