"""samples/handprint.py: synthetic handprint is reproducible, stays in its box, carries accents."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from samples.handprint import (
    CELL_PX,
    HANDPRINT_FONTS,
    HOLDOUT_FONTS,
    TICK_STYLES,
    TRAIN_FONTS,
    draw_signature,
    draw_tick,
    font_has_glyph,
    render_cell,
    write_text_into,
)
from templates.spec import TEXT_CHARSET

INK = 200  # darker than paper and than the printed box lines' lightest grey


def _interior(cell: np.ndarray, border: int = 3) -> np.ndarray:
    return cell[border:-border, border:-border]


def test_fonts_split_without_overlap_and_holdout_has_three_hands():
    assert set(TRAIN_FONTS).isdisjoint(HOLDOUT_FONTS)
    assert set(TRAIN_FONTS) | set(HOLDOUT_FONTS) == set(HANDPRINT_FONTS)
    assert len(HOLDOUT_FONTS) >= 3
    assert len({f.hand for f in HOLDOUT_FONTS}) == len(HOLDOUT_FONTS)
    # A held-out font's family must not train either (same designer, same hand).
    train_files = {f.path.rsplit("/", 2)[-2] for f in TRAIN_FONTS}
    assert not any(f.path.rsplit("/", 2)[-2] in train_files for f in HOLDOUT_FONTS)


def test_same_seed_same_cell_other_seed_other_cell():
    font = HANDPRINT_FONTS[0]
    a = render_cell("K", font=font, rng=np.random.default_rng(7))
    b = render_cell("K", font=font, rng=np.random.default_rng(7))
    c = render_cell("K", font=font, rng=np.random.default_rng(8))
    assert a.dtype == np.uint8 and a.shape == (CELL_PX[1], CELL_PX[0])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("font", HANDPRINT_FONTS, ids=lambda f: f.name)
def test_every_character_leaves_ink_mostly_inside_the_cell(font):
    rng = np.random.default_rng(1)
    for char in TEXT_CHARSET.replace(" ", ""):
        cell = render_cell(char, font=font, rng=rng, with_box_lines=False)
        inside = (_interior(cell, 4) < INK).sum()
        assert inside >= 3, f"{font.name} {char!r}: no ink inside the cell"
        ys, xs = np.nonzero(cell < INK)
        h, w = cell.shape
        if char.isalnum():  # punctuation sits high ("'"), low ('.') or anywhere
            assert 0.2 * w < xs.mean() < 0.8 * w and 0.2 * h < ys.mean() < 0.8 * h, (font.name, char)
        assert (cell < INK).mean() < 0.6  # a letter, not a blot


def test_box_lines_are_grey_and_only_when_asked():
    rng = np.random.default_rng(2)
    lined = render_cell(" ", font=HANDPRINT_FONTS[0], rng=rng)
    bare = render_cell(" ", font=HANDPRINT_FONTS[0], rng=rng, with_box_lines=False)
    assert (bare == 255).all()
    assert 100 <= lined[0, lined.shape[1] // 2] <= 200
    assert (_interior(lined) == 255).all()


def _components(cell: np.ndarray) -> int:
    n, _, stats, _ = cv2.connectedComponentsWithStats((cell < INK).astype(np.uint8))
    return int((stats[1:, cv2.CC_STAT_AREA] >= 4).sum())


def _tallness(cell: np.ndarray) -> float:
    ys, xs = np.nonzero(cell < INK)
    return (ys.max() - ys.min() + 1) / (xs.max() - xs.min() + 1)


@pytest.mark.parametrize("accented,base", [("É", "E"), ("Ü", "U"), ("Î", "I"), ("Ô", "O"), ("Ç", "C")])
def test_accents_are_written(accented, base):
    # Averaged over writers, on fonts that have the glyph and fonts where it is drawn by hand:
    # an accent is a separate stroke above the letter; a cedilla hangs below the C and makes
    # the ink taller for its width.
    measure = _tallness if base == "C" else _components
    for font in (HANDPRINT_FONTS[0], HOLDOUT_FONTS[0], HOLDOUT_FONTS[1]):
        cells = [(render_cell(accented, font=font, rng=np.random.default_rng(s), with_box_lines=False),
                  render_cell(base, font=font, rng=np.random.default_rng(s), with_box_lines=False))
                 for s in range(30)]
        with_accent = np.mean([measure(a) for a, _ in cells])
        plain = np.mean([measure(b) for _, b in cells])
        assert with_accent > plain + (0.1 if base == "C" else 0.5), (font.name, accented, with_accent, plain)


def _ink_above_letter(cell: np.ndarray) -> int:
    """Ink pixels above the top of the largest piece of ink (the letter's body): a mark above."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((cell < INK).astype(np.uint8))
    if n < 2:
        return 0
    body = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return int((cell[:stats[body, cv2.CC_STAT_TOP]] < INK).sum())


def _mean_over_writers(char: str, font, measure) -> float:
    return float(np.mean([measure(render_cell(char, font=font, rng=np.random.default_rng(s), with_box_lines=False))
                          for s in range(30)]))


# Letters beyond French, as passports print them: a mark above (ink above the letter's body),
# a mark below (taller ink for its width), a stroke across or a second letter (more pieces of
# ink), marks stacked (one more piece than the single mark).
@pytest.mark.parametrize("accented,base,measure,margin", [
    ("Ñ", "N", _ink_above_letter, 15), ("Ã", "A", _ink_above_letter, 15), ("Å", "A", _ink_above_letter, 15),
    ("Č", "C", _ink_above_letter, 15), ("Ğ", "G", _ink_above_letter, 15), ("İ", "I", _ink_above_letter, 8),
    ("Ő", "O", _ink_above_letter, 15), ("Ş", "S", _tallness, 0.1), ("Ą", "A", _tallness, 0.05),
    ("Ø", "O", lambda c: int((c < INK).sum()), 15), ("Ł", "L", lambda c: int((c < INK).sum()), 15),
    ("Ễ", "Ê", _components, 0.3), ("Œ", "O", _components, 0.3),
])
def test_letters_beyond_french_are_written_with_their_marks(accented, base, measure, margin):
    # Fonts without the letter (the marks drawn by hand) and, where it has it, the font's own.
    for font in (HANDPRINT_FONTS[0], HOLDOUT_FONTS[0], HOLDOUT_FONTS[1], HOLDOUT_FONTS[2]):
        with_mark = _mean_over_writers(accented, font, measure)
        plain = _mean_over_writers(base, font, measure)
        assert with_mark > plain + margin, (font.name, accented, with_mark, plain)


def test_a_letter_handprint_cannot_write_is_refused_not_drawn_bare():
    # A WITH RING BELOW: no way to draw the ring below; a bare A would make the truth lie.
    with pytest.raises(ValueError, match="cannot write"):
        render_cell("\u1e00", font=HOLDOUT_FONTS[0], rng=np.random.default_rng(0))


def test_some_fonts_lack_accents_and_they_are_drawn_by_hand():
    missing = [f.name for f in HANDPRINT_FONTS if not font_has_glyph(f.path, "É")]
    assert missing  # the Because-We-Had-To fonts have no accented capitals
    assert font_has_glyph(HOLDOUT_FONTS[0].path, "A")


def test_write_text_into_a_page_one_character_per_box():
    page = np.full((120, 400), 255, dtype=np.uint8)
    boxes = [(10 + 42 * i, 30, 52 + 42 * i, 86) for i in range(8)]
    write_text_into(page, "AB CD", boxes, font=HOLDOUT_FONTS[0], rng=np.random.default_rng(3))
    inked = [(page[y0 + 6:y1 - 6, x0 + 6:x1 - 6] < INK).sum() for x0, y0, x1, y1 in boxes]
    assert all(n > 20 for n in inked[:2] + inked[3:5])
    assert inked[2] == 0 and inked[5:] == [0, 0, 0]  # the space, and boxes after the text


def test_write_text_only_darkens_the_page():
    page = np.full((80, 100), 255, dtype=np.uint8)
    page[:, 50:] = 0
    before = page.copy()
    write_text_into(page, "MW", [(5, 10, 47, 66), (50, 10, 92, 66)], font=TRAIN_FONTS[0],
                    rng=np.random.default_rng(4))
    assert (page <= before).all()
    assert (page[:, 50:] == 0).all()


def test_write_text_at_300_dpi_scales_with_the_boxes():
    page = np.full((150, 200), 255, dtype=np.uint8)
    write_text_into(page, "W", [(40, 30, 103, 113)], font=TRAIN_FONTS[1], rng=np.random.default_rng(5))
    ys, xs = np.nonzero(page < INK)
    assert ys.max() - ys.min() > 40  # a 300 dpi cell is 83 px tall; the letter is at least half


@pytest.mark.parametrize("style", TICK_STYLES)
def test_ticks_mark_their_box(style):
    page = np.full((60, 60), 255, dtype=np.uint8)
    box = (20, 20, 40, 40)
    draw_tick(page, box, style=style, rng=np.random.default_rng(6))
    fill = (page[20:40, 20:40] < INK).mean()
    if style == "dot":
        assert 0 < fill < 0.3
    elif style in ("fill", "cancelled"):
        assert fill > 0.6
    else:
        assert 0.1 < fill < 0.7
    if style == "cancelled":  # the scribble runs outside the box
        outside = (page < INK).sum() - (page[20:40, 20:40] < INK).sum()
        assert outside > 20


def test_unknown_tick_style_is_refused():
    with pytest.raises(ValueError):
        draw_tick(np.full((30, 30), 255, np.uint8), (5, 5, 25, 25), style="circle",
                  rng=np.random.default_rng(0))


def test_signature_scribbles_inside_its_box():
    page = np.full((100, 400), 255, dtype=np.uint8)
    draw_signature(page, (50, 20, 350, 80), np.random.default_rng(9))
    ys, xs = np.nonzero(page < INK)
    assert len(xs) > 300
    assert xs.min() >= 50 and xs.max() < 350 and ys.min() >= 20 and ys.max() < 80
    assert xs.max() - xs.min() > 100
