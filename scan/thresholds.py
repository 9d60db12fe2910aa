"""Every threshold and magic number of the scanner, in one module (SDAPS keeps them in defs.py).

Values marked CALIBRATED come from `scan.calibrate` over the generated sample corpus (see the
numbers beside them); the others are physical facts of our paper or limits we chose. Change a
calibrated value only by re-running the calibration, and say so in the commit.
"""

from __future__ import annotations

# ------------------------------------------------------------------------------ loading
WORKING_DPI = 200  # reading-notes: 200 dpi reads as well as 300 and costs 1.6x less
RESAMPLE_TOLERANCE = 1.1  # a 210 dpi page is not worth resampling
MAX_PAGE_PIXELS = 200_000_000  # a letter page at 1200 dpi is 135 Mpx; above this is a bomb or a bad tag
ASSUMED_PAGE_LONG_SIDE_IN = 11.0  # no usable dpi tag: assume letter (A4 is 6 % longer: alignment absorbs it)
PLAUSIBLE_LONG_SIDE_IN = (4.0, 18.0)  # a tagged dpi giving a page outside this is ignored
# The smallest picture that can still be a scanned page: a business card's short side (2 in) at
# 72 dpi, the lowest resolution any scanner or phone writes, is 144 px; a letter page's short side
# at 72 dpi is 612 px. Below this no resolution makes it a sheet of paper (a 40x60 icon, a thumbnail).
# PDF pages are measured in points, 1/72 in, so the same 144 is a 2-inch side there.
MIN_PAGE_SHORT_SIDE_PX = 144
PNG_COMPRESSION = 1  # zlib level for stored page images (with the RLE strategy: on a noisy grey scan
# 12 % faster and 15 % smaller than level 1's default strategy, 3x faster than level 6)
SUPPORTING_MAX_DPI = 200  # pages kept as pictures (supporting documents) are stored at most at this

# ------------------------------------------------------------------------------ identify
BLANK_INK_SHARE = 0.0015  # share of dark pixels below which a page is blank (a printed form is >3 %)
BLANK_DARK_LEVEL = 160  # grey level below which a pixel counts as ink for the blank test
BLANK_BORDER_SHARE = 0.04  # scanner edges and punch holes: ignored around the page for the blank test
LAYOUT_MATCH_MIN_SCORE = 0.55  # page identified by its layout alone: share of its box outlines found dark (right page 0.75-0.9, wrong <0.5)
LAYOUT_MATCH_MIN_MARGIN = 0.15  # ... and by this much better than the second best page

# ------------------------------------------------------------------------------ align
MAX_ALIGN_RESIDUAL_PX = 4.0  # RMS distance (200 dpi px) of marker corners after the fit; above: reject
MIN_SHARPNESS = 60.0  # variance of the Laplacian on the marker patches; below: too blurred to read
MIN_FEATURE_INLIERS = 40  # ORB fallback: inlier matches needed to trust a feature alignment
MARKER_REFIT_PX = 1.0  # four markers fitting worse than this: try the best three (a marker cut by the scan's edge)
MAX_ALIGN_CHECK_PX = 6.0  # page-code corners vs where the fit puts them (zxing corners are +-1 module)
MARKER_PAD_PX = 16  # white added around a search region: a marker touching the scan's edge still has its quiet zone
MARKER_SEARCH_SHARE = 0.22  # corner regions searched for markers first, share of the page width
MIN_FIT_SPAN_SHARE = 0.5  # landmarks of a fallback fit must spread over half the page each way
ORB_FEATURES = 3000
FEATURE_SCALE = 0.5  # ORB runs at 100 dpi: enough detail, 4x fewer pixels
FEATURE_RANSAC_PX = 4.0
LAYOUT_DARK_LEVEL = 190  # the red box lines are at ~110 grey, paper at 230+

# ------------------------------------------------------------------------------ read
MAX_DARK_LEVEL = 215  # a pixel is never "dark" above this grey, whatever the paper
LINE_DARK_MARGIN = 45  # box lines: darker than the paper by this (red lines scan at ~110-190 grey)
INK_DARK_MARGIN = 70  # pen ink: darker than the paper by this (faint box-line remains stay out)
LINE_KERNEL_HEIGHT = 0.8  # vertical line kernel, share of the cell height (reading-notes)
LINE_KERNEL_WIDTH_CELLS = 2.5  # horizontal line kernel, in cell widths (reading-notes: ~3)
LINE_KERNEL_WIDTH_BOX = 0.7  # ... for a lone tick box, in box widths
SOLID_INK_PX = 6  # ink this thick in both directions is a filled area, not a line (lines are 1-3 px)
LOCATE_RADIUS_PX = 5  # local search for a field's box lines around where the alignment puts them
CELL_INSET_PX = 4  # a cell's interior starts this far inside its lines
MIN_INK_COMPONENT_PX = 6  # smaller dark specks are dust or JPEG noise, not writing
LINE_VISIBLE_MIN = 0.6  # CALIBRATED: box lines seen below this share: an empty-looking comb field is not trusted
# empty (bilevel scans with a low threshold drop the red lines and a thin pen's strokes together;
# grey and colour scans show >= 0.83 on every page of the corpus)
BILEVEL_BLACK = 8  # a pixel this close to pure black (or white) ...
BILEVEL_EXTREME_SHARE = 0.75  # ... this share of a field's pixels so, and ...
BILEVEL_BLACK_SHARE = 0.08  # ... this share of its dark pixels pure black: a bilevel scan
SPECK_MAX_PX = 24  # a lone mark this small (dark pixels, 200 dpi)...
SPECK_MAX_SIDE_PX = 8  # ... and this compact, in a box with no written neighbour, is dust
# A field read empty where the scan lost the printed lines is known empty (scan.settle.settle_faint_empties)
# when the envelope shows the pen kept at a scan as faint: this many written cells, in fields whose line
# visibility is at most the field's own plus the slack (lines seen in one field of a page vary by ~0.1).
PEN_SEEN_CELLS = 10  # a name and a date: enough strokes that a pen the scan drops would show broken in them
PEN_VISIBILITY_SLACK = 0.1
CELL_EMPTY_INK = 0.006  # interior ink share below which a cell is empty (no ICR installed)
CELL_WRITTEN_INK = 0.02  # ... above which it is surely written; between: doubtful
TESSERACT_ONLY_DISCOUNT = 0.8  # Tesseract's own confidence overstates handprint (issue 4: 2% final-and-wrong)
LINE_PAD_PX = 12
LINE_GAP_PX = 4  # between the written cells' ink joined into one line for Tesseract
LINE_SPACE_PX = 18  # where an empty cell separates two words
LINE_CHAR_AIR_PX = 2  # white kept each side of a cell's ink
TICK_INSET_PX = 3  # a tick box's interior starts this far inside its lines
TICK_OUTSIDE_PX = 13  # ring outside the box where a scribble shows (it runs ~0.4 box beyond)...
TICK_RING_GAP_PX = 7  # ... starting this far out: a box filled as an answer spills up to ~5 px
TICK_LINE_BAND_PX = 2  # an interior's edge row or column dark over TICK_LINE_BAND_SHARE of it is the printed line
TICK_LINE_BAND_SHARE = 0.5  # (heavy toner, a bilevel scan, a pixel of alignment: other generator seed 3 read every empty
# box of such pages faint, 0.03-0.06), left out of the fill, up to this many pixels a side
TICK_EMPTY_MAX = 0.022  # CALIBRATED: fill below which a box is empty (corpus: empty boxes <= 0.017, weak dots >= 0.028)
TICK_MIN = 0.08  # CALIBRATED: fill from which a box is ticked (corpus: checks >= 0.135, x >= 0.175; AMC uses ~0.15); between: faint, a review
TICK_SPOT_EXTENT = 0.45  # a box over TICK_MIN whose ink spans less of its side is a spot (a heavy dot, dirt): faint
# (ticks span >= 0.8 on the other generator's seeds 1-3 and ours seed 1, heavy dots in ours 0.54-0.58)
TICK_LIGHT_MARGIN = 50  # CALIBRATED: a box below TICK_EMPTY_MAX holding one blob this much darker than the paper...
TICK_LIGHT_MARK_PX = 24  # ... and bigger than a speck (SPECK_MAX_PX) is faint, not empty (seed 11, 5,845 boxes: empty
# boxes' largest such blob <= 20 px, 99.9 % <= 9; a light blue dot on a 150 dpi colour JPEG scan: 29 px at fill 0)
TICK_FILLED_MIN = 0.65  # CALIBRATED: fill from which a box is blacked in (corpus: x and checks <= 0.57, filled >= 0.95)
TICK_WEDGE_WHITE = 0.7  # a box over TICK_FILLED_MIN with a patch at the middle of a side this white is a heavy cross
# or check, a tick (other generator, seeds 1-3: such crosses 0.81-1.0; boxes filled and scribbled over <= 0.39, boxes
# filled as the answer 0-0.64 but one at 0.81; ours seed 1: filled <= 0.17)
TICK_SCRIBBLE_OUTSIDE = 0.03  # CALIBRATED: ink share of that ring from which a blacked-in box was scribbled out
# (corpus: boxes filled as the answer <= 0.021, 99 % <= 0.015; scribbled out: 0.04)
TICK_AROUND_GAP_PX = 3  # the ring where ink AROUND a box is measured starts this far beyond its printed line
# (the printed mask covers the line itself) and ends at TICK_OUTSIDE_PX; pieces bigger than a speck count
TICK_AROUND_MIN = 0.03  # ink share of that ring, around a box read empty, from which it is ink the reading cannot explain
TICK_LIGHT_MAX = 0.12  # a box read ticked under this fill (a check is >= 0.135 on both generators) with ink beyond its
TICK_LIGHT_BEYOND = 0.005  # line (this share of the ring just outside or around it) is a stroke passing through, not a
# tick drawn in it: a person looks (other seed 14: an unanswered question read CELPIP, final, from a stray stroke of
# fill 0.09 crossing the box's edge; ours' light ticks, 0.086-0.111 on seeds 1-11, keep all their ink inside)
TICK_FILLED_CLEAN_OUTSIDE = 0.01  # a lone blacked-in box is taken as the answer, final, only this clean around
TICK_BLOT_HALF_WIDTH_PX = 11  # ink this deep (px to the paper, 200 dpi) just outside a box is no pen stroke (a
# fat marker's is ~4, where a scribble's strokes cross <= 8.4 on the other generator's seeds 1-3): a punch hole
# (6 mm: 13.6-24 px there), a staple's shadow, a blot. The box under it cannot be read.
TICK_ENCIRCLE_PX = 31  # a ring drawn around a box is looked for this far beyond its line (about one box side)...
TICK_ENCIRCLE_BINS = 16  # ... in this many sectors around its centre ...
TICK_ENCIRCLE_SECTOR_PX = 3  # ... a sector holding this many stroke pixels has ink
TICK_ENCIRCLE_MIN = 0.5  # a box read empty with ink on this share of its sides is circled (other generator, seeds
# 1-3: circles 0.56-1.0, of which 7 % put under TICK_AROUND_MIN by a ring drawn wide; crosses and checks on
# a neighbouring box, or unmarked boxes <= 0.31 save one a neighbour's wide circle swept; ours seed 1 <= 0.31)
TICK_CIRCLE_OTHERS_CLEAN = 0.02  # a lone circled box is the answer, final, when every other box of the question has less
# ink than this around it and outside it (other generator seeds 1-9: 259 circled answers final, none wrong; of the
# 28 questions with a circle read wrong, each had a second ring or a tick elsewhere; ours never circles)
TICK_STREAK_REACH = 2.0  # a straight line through a box reaching this many box sides past it both ways is a crease or a
# scanner's streak, not a pen (other generator seed 8: a fold across page 6 read "Proof of funds: Enclosed", final, on a
# blank form; a slash through a box runs 0.3-0.9 side past it): the box is read as empty and a person looks
TICK_STREAK_INK = 0.8  # ... dark along this share of it, each side (a bilevel scan leaves gaps in a thin line)
TICK_STREAK_CANDIDATES = 40  # the strongest straight lines around a box that are followed out
SIGNATURE_INSET_PX = 4
GLYPH_MARGIN_PX = 3  # white kept around a typed letter used as a template
GLYPH_BLUR_SIGMA = 1.0  # cell and template softened alike: a grey and a bilevel scan of a letter then agree
GLYPH_SUPERSAMPLE = 8  # templates drawn this much larger (no hinting), then averaged down
GLYPH_PHASES = 2  # sub-pixel offsets per axis (half a pixel): 4 templates a letter
GLYPH_MIN_MATCH = 0.85  # CALIBRATED (scan/typed_glyphs.py, 2026-12-04): typed cells match their own letter at >= 0.96 (median 0.98-0.99;
# 150/200/300 dpi, grey and bilevel, damaged scans; 0.91 at 150 dpi binarized at 80), letters written over at 0.37-0.76
ABOVE_BAND = (0.12, 0.85)  # band above a cell searched for a corrected letter, in cell heights
ABOVE_MIN_INK_SHARE = 0.04  # CALIBRATED: handwriting share of that band (printed label excluded) ...
ABOVE_MIN_EXTENT = 0.4  # ... spanning this share of its height: 8/8 corrections of the corpus found, 11 of
# 24,000 written cells flagged without one (share alone flagged 133 in 40 envelopes)
ACCENT_BAND_ABOVE = 0.3  # an accent may stand above the cell, up to this share of the cell height (touching its line or not)
ACCENT_BAND_BELOW = 0.3  # ... a cedilla or an ogonek below it, as far (the next field's label starts ~0.45 cell below)
ACCENT_BODY_BAND = 0.06  # a letter's body: its ink across the cell's middle, this share of the cell height each way
# (a capital always crosses it; an accent over a letter written small and low may reach down to 0.15 above it)
ACCENT_MIN_SIDE_PX = 6  # one piece above a letter counts as a mark if this long...
ACCENT_MIN_PX = 8  # ... and this big (a dust dot is smaller and compact; two dots side by side count: a diaeresis)
ACCENT_MAX_WIDTH = 0.9  # ... and narrower than this share of the letter's body (a T's bar drawn apart is as wide)
ACCENT_DARK_MARGIN = 45  # a letter's body and the marks over it: lighter than pen ink (INK_DARK_MARGIN) so a light stroke
# of the letter is not left out, cutting its top off as a "mark"
ACCENT_FAINT_MARGIN = 25  # a piece joined to its letter by ink this much darker than the paper (lighter than a pen's
# stroke, darker than JPEG noise on grey paper) is a stroke of the letter that faded, no mark
ACCENT_LINE_BRIDGE_PX = 4
ACCENT_PEN_OVER_LINE = 30  # grey levels a pen crossing a printed line is darker than the line (dropout red ~110-190, pens ~20-90)  # ink straight above and below a cell's top line, this close, is one stroke across it
ACCENT_PIECE_MIN_PX = 2  # pieces of a mark counted (a stroke across the line comes in pieces)
ACCENT_SIDE_SLACK_PX = 3
ACCENT_MIN_THICKNESS = 1.4  # a mark's ink over its length: a pen's stroke is 2 px or more, a sliver of a faint stroke 1
ACCENT_MAX_AREA_SHARE = 0.35  # a mark has at most this share of the ink of a letter of the field (the median body, or
# its own if larger): an accent is ~0.05-0.15 of a capital's, a thick pen's round diaeresis on a bilevel scan 0.33
ACCENT_INSIDE_LINES = 0.25  # a piece apart from its letter reaching this share of the letter height inside the field's
# cap line (above) or baseline (below) is part of the letter, not a mark (ours seed 10: FRANCE's C, its lower half broken off,
# its body 0.57 of the field's letter height) ...
ACCENT_BROKEN_BODY = 0.75  # ... when the letter's body is shorter than this share of it (ours seed 11: an accent over a whole A
# written low, body 0.84, came 0.33 inside the cap line: without this, BOGOTÁ final as BOGOTA)
ACCENT_MIN_GAP_PX = 1  # empty rows between a mark and the letter's body: one (a thick pen's acute over a small I on a
# bilevel scan leaves one); a stroke a light scan broke in two is told by ACCENT_FAINT_MARGIN instead
ACCENT_BELOW_BAR_WIDTH = 0.5  # below a letter, a flat piece this share of its width is its foot (a cedilla or ogonek is a hook)
ACCENT_BAR_FLAT = 0.5  # a bar (above or below) is no taller than this share of its width (an acute over an I is as tall as wide)
ACCENT_BAR_STRAIGHT = 1.6  # ... and no taller than this many times its stroke's thickness (+1 px): a T's bar drawn
# with a 5-degree tilt is ~1.5 pen widths tall, a tilde's wave 2.5 or more
ACCENT_BAR_COVERAGE = 0.7  # a piece over the letter, as wide as it, spanning this share of its columns, is a bar of the letter  # a mark over the letter overlaps its columns, give or take this
# A mark drawn joined to its letter (scan.accents.beyond_the_line): the letter's top above the
# field's cap line (median top of its letters) AND its height above their median height, both by
# this share of the cell. Measured on bench corpora (other seeds 1-3, ours seeds 1-2, ~7,800
# written letters, the truth's plain letters): such excess <= 0.11 on 99.5 % of other's plain
# letters, 0.21 on ours' (its hands' letters overflow the cells), at most 0.36; joined marks
# 0.20-0.46 (DUBAÏ's dots fused into a blob on the I: 0.20). 0.18 flags a plain letter in 2/2/0
# words of other seeds 1-3 and 10/2 of ours, with the spread term below (0.15: 4/2/1 and 16/8);
# bench automation fell 0.0-0.5 points, most of those words going to a person for other reasons.
ACCENT_JOINED_ABOVE = 0.18
ACCENT_JOINED_BELOW = 0.45  # ... below: plain letters' bottoms wander more (99.9 %: 0.33-0.59 of the cell, feet and
# tails past the line), and no cedilla measured on the bench reached past 0.11: only a long one counts
# (plain words flagged below at 0.45: 4/0/1 on other seeds 1-3, 0/1 on ours; at 0.3: 5/3/5, 2/5)
ACCENT_JOINED_SPREAD = 4  # ... and by this many times the field's median deviation of tops (bottoms): a hand whose
# letters wander gets its room (plain fields doubted, ours seeds 1-2: 13/7 at 0.18 alone -> 10/2)
ACCENT_JOINED_MIN_LETTERS = 3  # with fewer letters a median is no cap line
PRINTED_MASK_DILATE_PX = 3  # the blank template's ink grown by this: alignment slack

# ------------------------------------------------------------------------------ judge
# A comb field is final when its confidence (the calibrated chance that the WHOLE value is right)
# reaches this for its kind ('listed': a text field whose value is an entry of its vocabulary).
# CALIBRATED with scan.calibrate on 300 generated envelopes (held-out hands, mixed damage; seeds 11,
# 13 and 17, 100 each, 20,100 fields, read afresh with the priors of scan/priors.py; ICR icr-v1 of
# cefa32c): per kind, the lowest threshold at which the kind's final fields (empty ones included)
# are wrong at most 0.25 % of the time, both with the model fitted on all 300 and out of fold (5
# folds of envelopes, each scored by a model fitted without it); the stricter of the two (fitted
# alone: text 0.9014, digits 0.9715, date 0.9520). Corpus: automation 73.8 %, final and wrong 13 of
# 14,832 final fields (0.09 %; 0.07 % of all), accuracy 87.1 %. Held-out seed 23 (40 envelopes):
# 75.0 %, 1 final and wrong (0.05 %). A listed value is right 99.7 % of the time (5 wrong of 1,630):
# its threshold takes nearly all. Digits: three children counts of '1' read empty (a stroke the
# reader never saw) already spend their budget, so no written number may add a wrong one.
FINAL_MIN_CONFIDENCE = {"text": 0.9186, "listed": 0.2622, "digits": 0.9716, "date": 0.9579}  # rounded up
# The chance a comb field's value is right: logistic regression per kind over the evidence
# scan.judge.confidence_features measures (intercept + sum of weight * feature). CALIBRATED by
# scan.calibrate (fit_confidence_model, L2 1 on standardized features, each weight kept to the sign
# in calibrate.MODEL_FEATURES) on the same 300 envelopes: text 1,897 fields (1,066 wrong), digits
# 1,122 (203), date 859 (113), the fields whose verdict the confidence alone decides. What it says:
# a text Tesseract reads alike box for box is far surer (+1.2, more with Tesseract's own
# confidence), a text it reads not at all much less sure (-2.0); the doubt of the boxes Tesseract
# reads otherwise costs 1.2 (text), 0.55 (digits), 0.51 (date) per unit of -log p, so a box the ICR
# was sure of costs almost nothing; a date Tesseract confirms box for box with a confident line is
# the surest of all. 'listed' (5 wrong of 1,630: nothing to fit) keeps its posterior as it is.
# Versus the Platt scaling with one shift per kind of opinion it replaces: within a few fields,
# before the priors (seeds 11+13: 71.2 against 71.3 %) and with them (held-out seed 23, judged from
# the cache before the priors' template change: 75.0 against 74.8 %). The errors left at the top are
# misreads both readers share (JOAO read SOAO), which no weighing of their agreement can see.
CONFIDENCE_MODEL = {
    "text": {"intercept": 0.5661, "weights": {"logit_p": 0.4367, "undisputed": 0.1444, "all_agree": 1.0764, "silent": -1.9983,
                                              "extra_disagreements": -0.0784, "doubt_disagree": -1.1804, "agreed_confidence": 0.4035}},
    "listed": {"intercept": 0.0, "weights": {"logit_p": 1.0}},
    "digits": {"intercept": 0.3619, "weights": {"logit_p": 0.9848, "undisputed": 0.3549, "all_agree": 1.0462, "silent": -0.0915,
                                                "doubt_disagree": -0.5504}},
    "date": {"intercept": 1.8192, "weights": {"logit_p": 0.9616, "all_agree": 0.2725, "silent": -0.8408, "extra_disagreements": -0.2515,
                                              "doubt_disagree": -0.5147, "agreed_confidence": 4.3547}},
}
CONFIDENCE_LOGIT_CLIP = 20.0  # log-odds fed to the model are cut here (p within 2e-9 of 0 or 1)
SECOND_OPINION_VOTE = 3.0  # a cell's ICR candidate that Tesseract also read weighs this much more in the choice
TOKEN_MIN_CELLS = 3  # words this long or longer are kept all letters or all digits...
TOKEN_MAJORITY = 0.75  # ... when this share of their (probability-weighted) cells agree on the kind
TOKEN_TYPE_WEIGHT = 6.0  # odds given to a candidate of the word's kind over one of the other kind
VOCABULARY_PRIOR = 0.9  # chance a country field holds a listed name exactly
BILEVEL_RUNNER_RATIO = 0.05  # on a bilevel scan, a digit whose runner-up digit has this share of its probability...
BILEVEL_SHARED_RATIO = 0.002  # ... or that Tesseract reads as another digit the ICR gave this share: a close call (1/7,
# 0/1 merge when thin strokes are lost: the 1977-for-1971 errors of issue 12). Bench seed 1, 42 numbers and dates final on
# bilevel pages: at 0.01 and any Tesseract digit, 9 more went to a person (all right, automation 70.0 %); at these, 2
SIGNED_LONG_BEFORE_DAYS = 183  # a form read as signed this long before it arrived is looked at: candidates sign, then mail
# (both generators: 13-70 days); a year's last digit misread (2025 for 2026: other seeds 8 and 10, ours 4) lands a year back
VOCABULARY_OVERRULE_P = 0.99  # a box the ICR read this surely (the runner-up under VOCABULARY_OVERRULE_RATIO of it)...
# (at 0.8 the list rightly overruled 3 such boxes Tesseract read alike on bench seed 1, 7 on seed 7: held-out hands
# fool both readers alike, I for T, H for R; at 0.99, 0 and 1)
LISTED_RIVAL_BOXES = 1  # listed names one box apart are rivals: Tesseract reading that box as the other name has
# it leaves the choice to a person (CAMEROUN written, its U read O by the ICR: CAMEROON final three times on ours seed 5).
# At 2 boxes: one more caught (ALGÉRIE/ALGERIA) for ~35 right fields sent to a person over 13 corpora; at 1: ~6
LISTED_UNSEEN_RIVAL_BOXES = 2  # a listed value with a letter no reader saw, and an entry this close that has there what
# Tesseract read (ALGERIA chosen, ALGÉRIE written, its last E read F by the ICR and E by Tesseract): a person decides
VOCABULARY_OVERRULE_RATIO = 0.1  # ... that a listed name writes otherwise: that name is not final (vocabulary_disagrees)
VOCABULARY_MARK_RATIO = 1.0  # a listed name that keeps a box's letter but takes off its mark (BOGOTA for BOGOTÂ read) is
# not final unless the ICR found the bare letter as likely as the marked one: a mark is ink on the page, and a list that
# holds both spellings is no evidence of either (at 0.1, BOGOTÂ read 0.85 with A at 0.14 went final as BOGOTA; at 0.5,
# İZMIR final on ours seed 2; at 1.0 it goes to a person, and one right field more on other seed 1 and ours seed 2,
# none on other seeds 2-3 or ours 1 and 3. The letter prior, which takes a rare Â off before the list, is left alone:
# doubting that too caught 1 of 13 such errors on other seeds 1-4 for 4-6 right fields a corpus)
LISTED_TWIN_MARK_RATIO = 0.1  # a listed name with a bare letter where its listed twin has a mark (BOGOTA / BOGOTÁ) is not
# final when the ICR puts this share of that letter's probability on marked ones (issue 14: BOGOTÁ final as BOGOTA, A
# read 0.64 with Â 0.19 and Ä 0.06; a plain A written reads Â at 0.001-0.02)
UNLISTED_CHAR_P = 0.05  # a name not in the list, each letter: about one in 20 (a real name is no random
# string over the ~70 characters of the charset; a stricter 1/70 would snap a name two letters away from a
# listed one of its length). An ICR reading one letter off a listed name then snaps to it; three off, rarely.
CHAR_P_FLOOR = 1e-4  # a character the ICR did not list among its alternatives
EMPTY_CELL_CHAR_P = 0.01  # a cell read empty holding a character after all
ALTERNATIVE_CELLS = 3  # least sure cells whose runner-up guesses are tried when the best breaks a rule
ALTERNATIVES_PER_CELL = 2
MAX_CANDIDATES = 27
ALTERNATIVE_MIN_RATIO = 0.05  # a runner-up string at least this likely relative to the best
EMPTY_CONFIDENCE = 0.995  # an empty field with no ink anywhere in its cells
DOUBTFUL_EMPTY_CONFIDENCE = 0.5
INVALID_VALUE_CONFIDENCE = 0.3  # a value that breaks its field's own checks
OMR_CLEAR_CONFIDENCE = 0.999  # every box clearly empty or clearly marked
OMR_NEAR_CONFIDENCE = 0.9
OMR_DOUBT_CONFIDENCE = 0.5
OMR_CIRCLED_CONFIDENCE = 0.99  # one box circled, every other clean (scan.judge.lone_circle): surer than a doubt, less than a tick
OMR_THRESHOLD_MARGIN = 0.008  # a fill this close to a tick threshold is a coin toss (near_threshold), but for a box near
# the empty one beside the question's one clear tick: either side, the answer is that tick (since 2026-12-06; 85 such
# questions on 29 bench corpora had gone to a person, all right)
SIGNATURE_EMPTY_INK = 0.002  # ink share of the signature box below which it is unsigned
SIGNATURE_MIN_INK = 0.008  # ... above which, and spread over
SIGNATURE_MIN_SPREAD = 0.15  # ... this share of the box width, it is signed
BARCODE_DISAGREE_CONFIDENCE = 0.5  # the data code says one thing, the page another

# ------------------------------------------------------------------------------ pipeline
MIN_PAGES_FOR_POOL = 6  # fewer pages are read in-process: starting workers costs ~1 s each

# ------------------------------------------------------------------------------ priors (scan/priors.py)
# What the form implies about a value, weighed against "any other string" (which keeps the rest):
# never a refusal, a value matching no shape stays as read.
SHAPE_PRIOR = 0.9  # chance a postal code / passport number has one of its list's real national formats
EMAIL_SHAPE_PRIOR = 0.95  # chance an e-mail holds one '@' with something before and a domain after it
EMAIL_DOMAIN_PRIOR = 0.5  # ... and that its domain is one of the common webmail domains listed
TWIN_READ_P = 0.3  # share of the ICR's probability of a letter that counts for its digit twin (or back) in a box a shape limits
LETTER_PRIOR_POWER = 0.5  # letter frequencies (templates/vocabularies/letter-frequencies.txt) count as their square root
# Chance a field holds an entry of its list exactly, for lists less complete than the countries'
# (VOCABULARY_PRIOR): a city, an occupation, an area of training may well be one we did not list.
LISTED_PRIOR = {"cities": 0.7, "occupations": 0.5, "fields-of-study": 0.5}
SHAPE_PRIORS = {"address-shapes": 0.8}  # an address opens with its house number, but not everywhere (CALLE 45, Germany)
EMAIL_LOCAL_PRIOR = 0.7  # chance an e-mail's local part is words then maybe a number (JEAN.TREMBLAY86), not J3AN or 4U2C
PREFIX_PRIOR = 0.5  # chance a telephone opens with a country calling code as the label asks (many write the local number)
