"""Every number that places ink on the page, in one module.

The layout engine (templates/spec.py) turns the YAML template into boxes with these;
forms/ draws exactly those boxes and scan/ reads exactly those boxes. Units are PDF points
(1/72 in), origin at the bottom-left of the page, as in docs/interface.md.
"""

PAGE_WIDTH_PT = 612.0  # US Letter
PAGE_HEIGHT_PT = 792.0

# ArUco registration marks (DICT_4X4_50), one per corner, ids fixed per corner so that a
# scan's orientation and the homography follow from any three of them.
MARKER_SIZE_PT = 36.0
MARKER_INSET_PT = 24.0
ARUCO_DICTIONARY = "DICT_4X4_50"
MARKER_IDS = {"top_left": 0, "top_right": 1, "bottom_right": 2, "bottom_left": 3}
SEPARATOR_MARKER_IDS = {"top_left": 4, "top_right": 5, "bottom_right": 6, "bottom_left": 7}

# The page code (QR: form, version, page, geometry fingerprint) is printed twice, top right and
# bottom left, so that a staple or a fold over one still leaves the page identified.
PAGE_CODE_SIZE_PT = 50.0
PAGE_CODE_BOXES = (
    (486.0, 724.0, 536.0, 774.0),  # top, left of the top-right marker
    (76.0, 18.0, 126.0, 68.0),  # bottom, right of the bottom-left marker
)

# Zone reserved at the foot of each page for the data barcodes of a prefilled form.
DATA_ZONE = (142.0, 16.0, 540.0, 112.0)
DATA_MODULE_PT = 1.2  # 0.42 mm per QR module: safe at 200 dpi (../shared/reading-notes.md)

# Body of the page where sections and fields flow.
BODY_LEFT_PT = 36.0
BODY_RIGHT_PT = 576.0
BODY_TOP_PT = 714.0
BODY_BOTTOM_PT = 122.0

# Header text.
TITLE_BASELINE_PT = 760.0
SUBTITLE_BASELINE_PT = 748.0
INSTRUCTIONS_BASELINE_PT = 737.0
TITLE_LEFT_PT = 70.0
TITLE_FONT_SIZE = 10.5
TEXT_FONT_SIZE = 7.0
LABEL_FONT_SIZE = 7.0
SECTION_FONT_SIZE = 9.0
FONT_REGULAR = "Helvetica"
FONT_BOLD = "Helvetica-Bold"

# Comb boxes: at least 5 mm wide for a pen (the issue asks for 5 mm; 15 pt is 5.3 mm).
CELL_WIDTH_PT = 15.0
CELL_HEIGHT_PT = 20.0
DATE_GROUP_GAP_PT = 5.0  # a little air between YYYY, MM and DD
TICK_BOX_PT = 11.0
OPTION_GAP_PT = 10.0  # between an option's label and the next option's box
OPTION_LABEL_GAP_PT = 3.0

LABEL_HEIGHT_PT = 9.0  # label line above a field
ROW_GAP_PT = 7.0
FIELD_GAP_PT = 14.0  # between fields on one row
SECTION_TITLE_HEIGHT_PT = 16.0
SECTION_TEXT_LINE_PT = 9.0
SECTION_GAP_PT = 6.0

# Ink of the printed boxes (comb cells, tick boxes, signature box). A red "dropout" colour:
# in a colour scan's red channel the boxes all but vanish while black and blue ink stay dark;
# on a grey scan they sit at about 39 % luminance, lighter than ink yet dark enough to survive
# a bilevel (50 %) threshold and to be located.
BOX_LINE_RGB = (0.85, 0.2, 0.2)
BOX_LINE_WIDTH_PT = 0.6
