"""scan/load.py: every input type a mailroom sends, and a clear one-line error for every bad one."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from errors import InputFileError, UnreadablePage
from scan.load import count_pages, load_page, load_pages, sniff_type
from test_scan_support import rendered  # noqa: F401  (session fixture)

LETTER_200 = (2200, 1700)


def _page(rendered) -> np.ndarray:
    return rendered["pages"]["blank"][0]


def test_vector_pdf_renders_at_200_dpi(rendered):
    pages = list(load_pages(rendered["paths"]["blank"]))
    assert len(pages) == 6 == count_pages(rendered["paths"]["blank"])
    assert all(p.pixels.shape == LETTER_200 and p.pixels.dtype == np.uint8 and p.dpi == 200 for p in pages)
    assert not pages[0].pixels.flags.writeable  # stages share it: nobody may change it
    assert (pages[0].pixels < 100).mean() > 0.01  # ink, not an empty render


def test_image_only_pdf(rendered, tmp_path):
    image = Image.fromarray(_page(rendered))
    path = tmp_path / "scan.pdf"
    image.save(path, resolution=200.0, save_all=True, append_images=[image.rotate(180)])
    pages = list(load_pages(path))
    assert [p.pixels.shape for p in pages] == [LETTER_200, LETTER_200]
    assert sniff_type(path) == "pdf"


def test_ccitt_g4_multipage_tiff_at_300_dpi(rendered, tmp_path):
    bilevel = Image.fromarray(_page(rendered)).resize((2550, 3300)).point(lambda v: 255 if v > 150 else 0).convert("1")
    path = tmp_path / "stack.tif"
    bilevel.save(path, compression="group4", dpi=(300, 300), save_all=True, append_images=[bilevel, bilevel])
    assert Image.open(path).info.get("compression") == "group4"
    pages = list(load_pages(path))
    assert len(pages) == 3 == count_pages(path)
    assert all(p.dpi == 200 and abs(p.pixels.shape[0] - 2200) <= 1 for p in pages)  # normalised to 200 dpi
    assert load_page(path, 2).pixels.shape == pages[2].pixels.shape


def test_grey_tiff_png_and_jpeg(rendered, tmp_path):
    page = _page(rendered)
    Image.fromarray(page).save(tmp_path / "p.tif", compression="tiff_lzw", dpi=(200, 200))
    Image.fromarray(page).save(tmp_path / "p.png", dpi=(200, 200))
    Image.fromarray(page).convert("RGB").save(tmp_path / "p.jpg", quality=70)  # no dpi tag: guessed from size
    for name in ("p.tif", "p.png", "p.jpg"):
        (only,) = load_pages(tmp_path / name)
        assert only.pixels.shape == LETTER_200, name
        assert abs(only.dpi - 200) < 1, name


def test_colour_with_alpha_and_16_bit(tmp_path):
    rgba = np.zeros((1100, 850, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent: must come out as white paper, not black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png", dpi=(100, 100))
    (page,) = load_pages(tmp_path / "alpha.png")
    assert page.pixels.min() == 255
    deep = (np.arange(1100 * 850, dtype=np.uint32).reshape(1100, 850) % 65535).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png", dpi=(100, 100))
    (page,) = load_pages(tmp_path / "deep.png")
    assert page.pixels.dtype == np.uint8 and page.pixels.max() > 200


def test_a_picture_smaller_than_a_business_card_at_72_dpi_is_no_page(tmp_path):
    """A business card (2 x 3.5 in) at 72 dpi is 144 x 252 px: still loads (a person looks at it);
    one pixel narrower, and no resolution makes it a sheet of paper."""
    Image.new("L", (144, 252), 255).save(tmp_path / "card.png")
    (page,) = load_pages(tmp_path / "card.png")
    assert page.pixels.shape == (252, 144)
    for size in ((143, 252), (252, 143), (40, 60)):
        Image.new("L", size, 255).save(tmp_path / "small.png")
        with pytest.raises(UnreadablePage, match=rf"small.png, page 1: is {size[0]}x{size[1]} pixels.*not a scanned page"):
            list(load_pages(tmp_path / "small.png"))


def test_file_that_lies_about_its_extension_loads(rendered, tmp_path):
    path = tmp_path / "really-a-tiff.pdf"
    Image.fromarray(_page(rendered)).save(path, format="TIFF", dpi=(200, 200))
    assert sniff_type(path) == "tiff"
    assert next(load_pages(path)).pixels.shape == LETTER_200


# --------------------------------------------------------------------------- bad input


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _encrypted_pdf(path: Path) -> Path:
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen.canvas import Canvas

    c = Canvas(str(path), encrypt=StandardEncryption("secret", ownerPassword="owner"))
    c.drawString(100, 100, "locked")
    c.save()
    return path


def _zero_page_pdf(path: Path) -> Path:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    document.save(str(path))
    document.close()
    return path


def _bad_tiff(rendered, path: Path) -> Path:
    """A TIFF whose strip offsets point past the end of the file."""
    Image.fromarray(_page(rendered)[:200, :200]).save(path, format="TIFF")
    data = bytearray(path.read_bytes())
    return path.write_bytes(bytes(data[: len(data) // 3])) and path


@pytest.mark.parametrize(
    "name, make, expected",
    [
        ("empty.pdf", lambda r, p: p.write_bytes(b""), "empty"),
        ("notes.pdf", lambda r, p: p.write_bytes(b"just some text, not a scan"), "not a PDF, TIFF, PNG or JPEG"),
        ("truncated.pdf", lambda r, p: p.write_bytes(r["paths"]["blank"].read_bytes()[:900]), "damaged or truncated"),
        ("locked.pdf", lambda r, p: _encrypted_pdf(p), "qpdf --decrypt"),
        ("nothing.pdf", lambda r, p: _zero_page_pdf(p), "no pages"),
        ("bomb.png", lambda r, p: p.write_bytes(_png_header_only(30000, 30000)), "Mpixel limit"),
        ("broken.tif", lambda r, p: _bad_tiff(r, p), "scan it again"),
        ("broken.jpg", lambda r, p: p.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40), "scan it again"),
    ],
)
def test_bad_input_gives_one_line_error_naming_the_file(rendered, tmp_path, name, make, expected):
    path = tmp_path / name
    make(rendered, path)
    with pytest.raises(InputFileError) as info:
        list(load_pages(path))
    message = str(info.value)
    assert name in message and expected in message
    assert "\n" not in message


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        list(load_pages(tmp_path / "nope.tif"))
    with pytest.raises(InputFileError, match="folder"):
        list(load_pages(tmp_path))


def test_page_out_of_range(rendered):
    with pytest.raises(InputFileError, match="no page 7"):
        load_page(rendered["paths"]["blank"], 6)
