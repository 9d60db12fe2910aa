"""Stage 3, align: an upright scan of one of our pages onto the canonical 200 dpi raster.

The canonical raster of a page is the PDF page at 200 dpi, y pointing down: PDF point (x, y)
is pixel (x * 200/72, (height - y) * 200/72). Letter is 1700 x 2200 px. Every field box of the
template lands where the spec says once a page is aligned.

How, best first:
1. the four ArUco corner markers (ids fixed per corner): a homography from 16 corners;
2. three markers (one torn, stapled or covered): an affine map from 12 corners;
3. fewer: marker corners plus the corners of the page codes the identify stage found, if they
   span the page: an affine map;
4. else ORB features matched against the template page rendered blank (ODK Scan's way).
Each fit reports its RMS residual on the points it used and a check on points it did not
use where there are some; a fit whose residual is too large, or a page too blurred to read,
is rejected with the reason instead of being guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from errors import UnreadablePage
from scan import thresholds as t
from templates import geometry as g
from templates.spec import Box, PageSpec

PX_PER_PT = t.WORKING_DPI / 72.0


@dataclass(frozen=True, eq=False)
class Alignment:
    """How a scan maps onto the canonical raster, and how well."""

    matrix: np.ndarray  # 3x3: upright scan pixel -> canonical pixel
    method: str  # 'markers4', 'markers3', 'markers+codes', 'features'
    markers_found: tuple[int, ...]  # aruco ids used
    residual_px: float  # RMS distance of the fitted points after the fit, canonical 200 dpi px
    check_px: float | None  # RMS distance of independent points (page-code corners), if any
    sharpness: float  # variance of the Laplacian around the markers


def canonical_size(page: PageSpec) -> tuple[int, int]:
    """(width, height) of the canonical raster of a page."""
    return round(page.width_pt * PX_PER_PT), round(page.height_pt * PX_PER_PT)


def to_canonical_px(page: PageSpec, x_pt: float, y_pt: float) -> tuple[float, float]:
    """A PDF point onto the canonical raster, in opencv's pixel-centre convention."""
    return x_pt * PX_PER_PT - 0.5, (page.height_pt - y_pt) * PX_PER_PT - 0.5


def box_to_px(page: PageSpec, box: Box) -> tuple[int, int, int, int]:
    """A spec box (x0, y0, x1, y1 in points, origin bottom-left) as integer pixel bounds
    (x0, y0, x1, y1, origin top-left, x1/y1 exclusive) on the canonical raster."""
    x0, y0, x1, y1 = box
    return (
        round(x0 * PX_PER_PT),
        round((page.height_pt - y1) * PX_PER_PT),
        round(x1 * PX_PER_PT),
        round((page.height_pt - y0) * PX_PER_PT),
    )


def _box_corners_px(page: PageSpec, box: Box) -> np.ndarray:
    """TL, TR, BR, BL corners of a spec box on the canonical raster (the order ArUco and zxing use)."""
    x0, y0, x1, y1 = box
    return np.array([to_canonical_px(page, x, y) for x, y in ((x0, y1), (x1, y1), (x1, y0), (x0, y0))], dtype=np.float64)


# ------------------------------------------------------------------------------ markers


@lru_cache(maxsize=1)
def _detector() -> cv2.aruco.ArucoDetector:
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, g.ARUCO_DICTIONARY))
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return cv2.aruco.ArucoDetector(dictionary, params)


def detect_markers(image: np.ndarray, *, corners_only: bool = True, whole_page_if_none: bool = True) -> dict[int, np.ndarray]:
    """ArUco markers on the image: id -> 4x2 corners (TL, TR, BR, BL of the marker as printed).

    With `corners_only`, the four corner regions of the image are searched first (10x faster:
    our markers sit in the corners, whichever way the page is turned); if some are missed
    there, the whole page is searched, unless none at all were found and `whole_page_if_none`
    is off (a page with no marker in any corner is not one of ours: a supporting document).
    """
    found: dict[int, np.ndarray] = {}
    h, w = image.shape[:2]
    if corners_only:
        cw, ch = int(w * t.MARKER_SEARCH_SHARE), int(h * t.MARKER_SEARCH_SHARE * w / h)
        for x0, y0 in ((0, 0), (w - cw, 0), (w - cw, h - ch), (0, h - ch)):
            _detect_into(found, image[y0 : y0 + ch, x0 : x0 + cw], x0, y0)
    if not corners_only or (len(found) < 4 and (found or whole_page_if_none)):
        _detect_into(found, image, 0, 0)
    return found


def _detect_into(found: dict[int, np.ndarray], region: np.ndarray, x0: int, y0: int) -> None:
    """Markers of one region, in page coordinates. The region gets a white margin first: a skewed
    page pushes a corner marker against the edge of the scan, and ArUco needs white around it."""
    pad = t.MARKER_PAD_PX
    padded = cv2.copyMakeBorder(region, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    corners, ids, _ = _detector().detectMarkers(padded)
    for c, i in zip(corners, ids.ravel() if ids is not None else ()):
        found.setdefault(int(i), c.reshape(4, 2).astype(np.float64) + (x0 - pad, y0 - pad))


def marker_rotation(markers: dict[int, np.ndarray], page: PageSpec) -> int | None:
    """Clockwise quarter turns (0..3) that make the scan upright, from the direction of the
    markers' top edges (a marker knows its own top), if the page's markers agree on one."""
    votes = []
    ids = {m.aruco_id for m in page.markers}
    for i, c in markers.items():
        if i in ids:
            dx, dy = c[1] - c[0]
            angle = np.degrees(np.arctan2(dy, dx))  # 0: top edge points right, as on an upright page
            votes.append(int(round(-angle / 90.0)) % 4)
    if not votes:
        return None
    best = max(set(votes), key=votes.count)
    return best if votes.count(best) * 2 > len(votes) else None


def sharpness(image: np.ndarray, markers: dict[int, np.ndarray]) -> float:
    """Variance of the Laplacian on the marker patches: printed black-on-white squares whose
    edges are sharp on any decent scan, so the figure compares across pages."""
    values = []
    h, w = image.shape[:2]
    for c in markers.values():
        x0, y0 = np.floor(c.min(axis=0)).astype(int) - 4
        x1, y1 = np.ceil(c.max(axis=0)).astype(int) + 4
        patch = image[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
        if patch.size:
            values.append(float(cv2.Laplacian(patch, cv2.CV_64F).var()))
    return float(np.median(values)) if values else 0.0


# ------------------------------------------------------------------------------ fitting


def _rms(matrix: np.ndarray, src: np.ndarray, dst: np.ndarray) -> float:
    projected = cv2.perspectiveTransform(src.reshape(-1, 1, 2), matrix).reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum((projected - dst) ** 2, axis=1))))


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares affine map (the points are identified marker corners: no outliers to vote out,
    and a robust estimator's median fit costs a pixel or two of accuracy)."""
    if len(src) < 3:
        return None
    design = np.hstack([src, np.ones((len(src), 1))])
    solution, _, rank, _ = np.linalg.lstsq(design, dst, rcond=None)
    if rank < 3:
        return None
    return np.vstack([solution.T, [0.0, 0.0, 1.0]])


def _spans_page(points: np.ndarray, size: tuple[int, int]) -> bool:
    """Points far enough apart in both directions to pin the whole page (not one corner)."""
    span = points.max(axis=0) - points.min(axis=0)
    return span[0] > size[0] * t.MIN_FIT_SPAN_SHARE and span[1] > size[1] * t.MIN_FIT_SPAN_SHARE


def _spans_one_way(points: np.ndarray, size: tuple[int, int]) -> bool:
    span = points.max(axis=0) - points.min(axis=0)
    return span[0] > size[0] * t.MIN_FIT_SPAN_SHARE or span[1] > size[1] * t.MIN_FIT_SPAN_SHARE


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares rotation + uniform scale + shift: x' = a x - b y + tx, y' = b x + a y + ty."""
    n = len(src)
    design = np.zeros((2 * n, 4))
    design[0::2] = np.column_stack([src[:, 0], -src[:, 1], np.ones(n), np.zeros(n)])
    design[1::2] = np.column_stack([src[:, 1], src[:, 0], np.zeros(n), np.ones(n)])
    (a, b, tx, ty), _, rank, _ = np.linalg.lstsq(design, dst.reshape(-1), rcond=None)
    if rank < 4:
        return None
    return np.array([[a, -b, tx], [b, a, ty], [0.0, 0.0, 1.0]])


def fit(
    page: PageSpec,
    markers: dict[int, np.ndarray],
    codes: tuple[tuple[Box, tuple[tuple[float, float], ...]], ...] = (),
) -> tuple[np.ndarray, str, tuple[int, ...], float, float | None]:
    """The scan -> canonical map from the markers (and page-code corners if needed):
    (matrix, method, marker ids used, residual px, check px). Raises UnreadablePage."""
    size = canonical_size(page)
    wanted = {m.aruco_id: m for m in page.markers}
    used = sorted(i for i in markers if i in wanted)
    src_m = np.array([markers[i] for i in used], dtype=np.float64).reshape(-1, 2)
    dst_m = np.array([_box_corners_px(page, wanted[i].box) for i in used], dtype=np.float64).reshape(-1, 2)
    src_c = np.array([c for _, corners in codes for c in corners], dtype=np.float64).reshape(-1, 2)
    dst_c = np.array([p for box, _ in codes for p in _box_corners_px(page, box)], dtype=np.float64).reshape(-1, 2)

    if len(used) == 4:
        matrix, _ = cv2.findHomography(src_m, dst_m, 0)
        method = "markers4"
        residual4 = _rms(matrix, src_m, dst_m) if matrix is not None else float("inf")
        if residual4 > t.MARKER_REFIT_PX:
            # One marker is damaged, half cut off by the scan's edge, or has a pen stroke over it:
            # the best three alone, if they agree much better among themselves.
            fits = []
            for drop in used:
                keep = [k for k in used if k != drop]
                s3, d3 = _pairs(keep, markers, wanted, page)
                m3 = _affine(s3, d3)
                if m3 is not None:
                    fits.append((_rms(m3, s3, d3), keep, m3, s3, d3))
            if fits and min(fits, key=lambda f: f[0])[0] < residual4 / 2:
                _, used, matrix, src_m, dst_m = min(fits, key=lambda f: f[0])
                method = "markers3"
    elif len(used) == 3:
        matrix, method = _affine(src_m, dst_m), "markers3"
    else:
        src = np.vstack([src_m, src_c]) if len(src_c) else src_m
        dst = np.vstack([dst_m, dst_c]) if len(dst_c) else dst_m
        if len(src) >= 6 and _spans_page(dst, size):
            matrix, method = _affine(src, dst), "markers+codes"
        elif len(src) >= 8 and _spans_one_way(dst, size):
            # Two marks along one edge (the other corners cut off by a skewed feed): a scanner moves
            # paper without shearing it, so rotation, one scale and a shift are all there is to find.
            matrix, method = _similarity(src, dst), "similarity"
        else:
            found = ", ".join(str(i) for i in used) or "none"
            raise UnreadablePage(
                f"registration marks missing (found: {found} of 4) and too few other landmarks to align the page: "
                "rescan it flat, with all four corner squares visible"
            )
        src_m, dst_m = src, dst
        src_c = dst_c = np.empty((0, 2))
    if matrix is None:
        raise UnreadablePage("the registration marks do not fit a page shape: rescan it flat")
    residual = _rms(matrix, src_m, dst_m)
    check = _rms(matrix, src_c, dst_c) if len(src_c) else None
    return matrix, method, tuple(used), residual, check


def _pairs(ids, markers, wanted, page) -> tuple[np.ndarray, np.ndarray]:
    src = np.array([markers[i] for i in ids], dtype=np.float64).reshape(-1, 2)
    dst = np.array([_box_corners_px(page, wanted[i].box) for i in ids], dtype=np.float64).reshape(-1, 2)
    return src, dst


def align(
    image: np.ndarray,
    page: PageSpec,
    *,
    markers: dict[int, np.ndarray] | None = None,
    codes: tuple[tuple[Box, tuple[tuple[float, float], ...]], ...] = (),
    template: Callable[[], np.ndarray] | None = None,
) -> Alignment:
    """Fit the upright scan `image` of `page`. `codes`: (spec box, detected corners) of the page
    codes found, used as landmarks when markers are missing and as an independent check.
    `template`: gives the page rendered blank on the canonical raster, for the feature fallback
    (a function: rendering it costs more than most pages take to read, and is rarely needed)."""
    markers = detect_markers(image) if markers is None else markers
    sharp = sharpness(image, markers)
    try:
        matrix, method, used, residual, check = fit(page, markers, codes)
    except UnreadablePage:
        if template is None:
            raise
        matrix, residual = feature_fit(image, template())
        method, used, check = "features", (), None
    if markers and sharp < t.MIN_SHARPNESS:
        raise UnreadablePage(f"too blurred to read (sharpness {sharp:.0f}, need {t.MIN_SHARPNESS:.0f}): rescan it in focus")
    if residual > t.MAX_ALIGN_RESIDUAL_PX:
        raise UnreadablePage(
            f"the page does not align (residual {residual:.1f} px at 200 dpi): it may be folded or crumpled; rescan it flat"
        )
    if check is not None and check > t.MAX_ALIGN_CHECK_PX:
        raise UnreadablePage(
            f"the page codes do not sit where the markers put them ({check:.1f} px off): the page may be folded; rescan it flat"
        )
    return Alignment(matrix, method, used, residual, check, sharp)


def feature_fit(image: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, float]:
    """ORB keypoints of the scan matched to the blank template page, a RANSAC homography."""
    orb = cv2.ORB_create(nfeatures=t.ORB_FEATURES)
    scale = t.FEATURE_SCALE
    small_scan = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small_tpl = cv2.resize(template, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    kp1, des1 = orb.detectAndCompute(small_scan, None)
    kp2, des2 = orb.detectAndCompute(small_tpl, None)
    if des1 is None or des2 is None:
        raise UnreadablePage("no registration marks and no features to align on: rescan the page")
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(des1, des2)
    if len(matches) < t.MIN_FEATURE_INLIERS:
        raise UnreadablePage(f"no registration marks and only {len(matches)} matching features: rescan the page with its corners visible")
    src = np.array([kp1[m.queryIdx].pt for m in matches], dtype=np.float64) / scale
    dst = np.array([kp2[m.trainIdx].pt for m in matches], dtype=np.float64) / scale
    matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, t.FEATURE_RANSAC_PX)
    n = int(inliers.sum()) if inliers is not None else 0
    if matrix is None or n < t.MIN_FEATURE_INLIERS:
        raise UnreadablePage(f"no registration marks and only {n} consistent features: rescan the page with its corners visible")
    keep = inliers.ravel().astype(bool)
    return matrix, _rms(matrix, src[keep], dst[keep])


def warp(image: np.ndarray, alignment: Alignment, page: PageSpec) -> np.ndarray:
    """The scan resampled onto the canonical raster (white outside the scan)."""
    aligned = cv2.warpPerspective(image, alignment.matrix, canonical_size(page), flags=cv2.INTER_LINEAR, borderValue=255)
    aligned.flags.writeable = False
    return aligned
