"""Every threshold and magic number of the review station and the online API, in one place.

Change them here, never inline: the tests and bench/station.py read the same names.
"""

from __future__ import annotations

# --- the online API -------------------------------------------------------------------
# A complete data document of the CSQ form is about 3 KiB; 64 KiB leaves room for long
# names and future fields while refusing anything that is clearly not an application.
API_MAX_BODY_BYTES = 64 * 1024
API_CONTENT_TYPES = ("application/json",)
# Group commit (station/online_intake.py): at most this many submissions per transaction.
# Larger batches commit less often but make the first in line wait longer.
API_BATCH_MAX = 200
# The letter writer (a PDF takes tens of milliseconds of the same process) waits until no
# submission has come in for LETTER_WRITER_QUIET_S, checking every LETTER_WRITER_PAUSE_S,
# but not longer than LETTER_WRITER_MAX_DEFER_S per letter; its thread ends after
# LETTER_WRITER_LINGER_S without letters to write.
LETTER_WRITER_QUIET_S = 0.25
LETTER_WRITER_PAUSE_S = 0.05
LETTER_WRITER_MAX_DEFER_S = 2.0
LETTER_WRITER_LINGER_S = 5.0
# At start the station queues the letters of the last days' registrations that an earlier run
# answered but stopped before writing (csq letters print writes any older ones).
LETTER_CATCH_UP_DAYS = 7

# --- staff sessions -------------------------------------------------------------------
SESSION_COOKIE = "csq_session"
SESSION_MAX_AGE_S = 10 * 3600  # one working day: a forgotten login does not last the night
CSRF_FIELD = "csrf_token"  # hidden field of every POST form
CSRF_HEADER = "x-csrf-token"  # the same token, for fetch() posts
SECRET_KEY_FILE = "secret_key"  # under data_dir, mode 0600, when CSQ_SECRET_KEY is not set
SECRET_KEY_BYTES = 32

# Failed logins (station/auth.py LoginThrottle): this many within the window and that name
# (or client address, for many names tried from one place) waits for the window to pass.
LOGIN_MAX_FAILURES_PER_NAME = 5
LOGIN_MAX_FAILURES_PER_ADDRESS = 20
LOGIN_WINDOW_S = 15 * 60
LOGIN_THROTTLE_MAX_KEYS = 10_000

# Role ladder: each role may do everything the roles before it may do.
ROLES = ("clerk", "reviewer", "supervisor")

# --- review claims --------------------------------------------------------------------
# A field shown to a reviewer is theirs for this long; after that another reviewer may take
# it (the first one's save still works unless someone else saved in between: versions).
CLAIM_TIMEOUT_S = 5 * 60
# Fields a reviewer postponed (Tab) are not offered again to them in this session; the list
# is capped so that the session cookie stays small.
POSTPONED_MAX = 50
# Group verification: a reading shared by at least this many waiting fields is offered as a
# group; at most GROUP_PAGE_ITEMS crops on one screen (a screenful a person can really look
# at), at most GROUP_LIST_MAX groups listed; items a person unticked stay set aside from the
# groups for the session (capped like POSTPONED_MAX, for the cookie's size).
GROUP_MIN_SIZE = 3
GROUP_PAGE_ITEMS = 40
GROUP_LIST_MAX = 100
SET_ASIDE_MAX = 200
# "N fields to review" on each card is a reminder, not a ledger: it may lag this long
# behind, which spares a count over the whole backlog on every keystroke's answer.
REMAINING_COUNT_TTL_S = 2.0

# --- images ---------------------------------------------------------------------------
PAGE_DPI = 200  # scan/ stores aligned form pages at this resolution
POINTS_PER_INCH = 72
CROP_MARGIN_PT = 6.0  # context around the field: the neighbouring box edges show alignment
CROP_SCALE = 2  # integer, so that nearest-neighbour upscaling keeps strokes sharp
# A long comb field is mostly empty cells: the crop stops one cell after the last cell
# with ink, so the letters come out larger on screen. A cell has ink when at least
# INK_MIN_PIXELS pixels darker than INK_LEVEL lie inside it, away from its printed border
# (CELL_INSET of its size on each side).
CROP_TRIM_BLANK_CELLS = True
INK_LEVEL = 128
INK_MIN_PIXELS = 15
CELL_INSET = 0.2
CROP_MEMORY_CACHE = 512  # crops kept in memory (about 10 KiB each)
PAGE_MEMORY_CACHE = 8  # decoded page images kept in memory (about 4 MiB each, greyscale)
THUMBNAIL_WIDTH_PX = 220
IMAGE_CACHE_DIR = "cache/station"  # under data_dir: crops and thumbnails, safe to delete

# --- pages ----------------------------------------------------------------------------
QUEUE_PAGE_SIZE = 50
STATS_MAX_DAYS = 366  # the review statistics page looks back at most this far
HISTORY_PAGE_SIZE = 200

# --- benchmark targets (bench/station.py) ----------------------------------------------
BENCH_REVIEW_PENDING_FIELDS = 10_000
BENCH_REVIEW_REQUESTS = 200
BENCH_REVIEW_P99_TARGET_MS = 100.0
BENCH_API_CLIENTS = 2_000
BENCH_API_TARGET_PER_S = 500.0

# --- the candidates' pages (station/public.py) -------------------------------------------
# A prefilled PDF costs 0.1-0.3 s of one core: at most this many are made at once per
# process (the others wait in line), and a request whose estimated wait exceeds
# PREFILL_MAX_WAIT_S is answered at once "busy, try again in N s" (503, Retry-After).
PREFILL_CONCURRENCY = 2
PREFILL_MAX_WAIT_S = 20.0
PREFILL_ESTIMATE_S = 0.15  # the first estimate of a PDF's time, before any was made
# Status look-ups per client address: enough for a few typing slips, too few to walk the
# registry's file numbers (sequential, with a public check digit) with a guessed birth date.
STATUS_LOOKUPS_PER_WINDOW = 10
STATUS_WINDOW_S = 15 * 60
STATUS_THROTTLE_MAX_KEYS = 100_000
