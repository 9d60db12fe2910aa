"""Registry data and a live station for the tests, imported as `T`: the ready-made readings
(samples/readings.py), the station driven from outside (bench/live.py), and what only tests
need (a registry file of test accounts copied instead of hashed again, a group page's
parser).
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.live import CHROMIUM, CHROMIUM_ARGS, CSRF_INPUT, LiveServer, current_card, free_port, login_csrf  # noqa: F401
from samples.readings import (  # noqa: F401
    DEFAULT_DOUBTS,
    PASSWORD,
    STAFF,
    add_staff,
    envelope_png,
    envelope_reading,
    filled_pages_png,
    register_mail_envelope,
    sample_document,
    separator_page_png,
    with_doubtful_separator,
)

# The (file number, version) of each field a group page shows, as its hidden inputs carry them.
GROUP_SHOWN = re.compile(r'name="shown" value="([^":]+):(\d+)"')


def staff_database(path: Path) -> Path:
    """A registry file holding only the test accounts. Hashing a password with argon2 takes
    about half a second on purpose: tests copy this file instead of hashing again."""
    from registry.service import Registry

    if not path.exists():
        with Registry.open(f"sqlite:///{path}", path.parent / "unused-data") as registry:
            add_staff(registry)
    return path


def copy_database(template: Path, folder: Path) -> str:
    """A private copy of a closed SQLite registry; its URL."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "registry.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"
