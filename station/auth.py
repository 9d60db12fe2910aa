"""Staff sessions, CSRF tokens and role checks of the review station.

The session is a signed cookie (Starlette's SessionMiddleware, itsdangerous underneath)
holding the login name, a random session id the registry knows (registry/staff_sessions.py:
logout ends it there, and it expires 10 hours after login however much it is used) and the
CSRF token. The signing
key comes from env CSQ_SECRET_KEY, else from data_dir/secret_key, created on first use
with mode 0600 so that restarts keep everyone logged in and the key never enters the repo.

Every POST from a browser carries the session's CSRF token (a hidden form field, or the
X-CSRF-Token header for fetch()); every action checks the role on the server.
"""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import Request

from errors import PermissionDenied, StorageError
from registry import staff_sessions
from registry.service import StaffLogin
from station import limits


class LoginRequired(Exception):
    """No staff session: pages redirect to the login page, JSON calls answer 401."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token: answered 403 by the central handler."""


@dataclass(frozen=True)
class Staff:
    name: str
    role: str

    def may(self, role: str) -> bool:
        """True when this person's role is `role` or above it on the ladder."""
        return limits.ROLES.index(self.role) >= limits.ROLES.index(role)


def load_secret_key(data_dir: Path) -> str:
    """The session signing key: env CSQ_SECRET_KEY, else data_dir/secret_key (made 0600).

    The file is written whole to a temporary name, flushed to disk, then hard-linked to its
    name: a link never replaces an existing file, so two workers starting at once agree on
    one key, and no reader ever sees it half-written. An empty or short key (a file left by
    an older version's failed write, a CSQ_SECRET_KEY typed too short) is refused: a cookie
    signed with an empty key would pass for anyone's."""
    from_env = os.environ.get("CSQ_SECRET_KEY")
    if from_env is not None:
        return _long_enough(from_env.strip(), "CSQ_SECRET_KEY", "set it to at least "
                            f"{limits.SECRET_KEY_MIN_CHARS} random characters, e.g. `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`")
    path = Path(data_dir) / limits.SECRET_KEY_FILE
    key = _read_key(path)
    if key is None:
        key = _create_key(path)
    return _long_enough(key, str(path), "delete the file (a new key is made at the next start; everyone logs in again) "
                        "or set CSQ_SECRET_KEY")


def _long_enough(key: str, where: str, what_to_do: str) -> str:
    if len(key) < limits.SECRET_KEY_MIN_CHARS:
        raise StorageError(f"the session key in {where} is {'empty' if not key else 'too short'} "
                           f"({len(key)} characters, at least {limits.SECRET_KEY_MIN_CHARS} needed): {what_to_do}")
    return key


def _read_key(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"cannot read the session key ({getattr(exc, 'strerror', None) or exc}); check its permissions",
                           path=str(path)) from exc


def _create_key(path: Path) -> str:
    key = secrets.token_urlsafe(limits.SECRET_KEY_BYTES)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic, and never over a key another process put there first
        except FileExistsError:
            return _read_key(path) or ""
        _fsync_dir(path.parent)
        return key
    except OSError as exc:
        raise StorageError(f"cannot create the session key ({exc.strerror}); make the data folder writable", path=str(path)) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """The new name itself reaches the disk (a crash then cannot leave the key behind)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (the login form gets one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a POST whose token (form field or header) does not match the session's."""
    expected = request.session.get("csrf")
    given = request.headers.get(limits.CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()  # Starlette caches it: the endpoint's Form() reads the same
        given = form.get(limits.CSRF_FIELD)
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        raise CsrfRefused()


def current_staff(request: Request) -> Staff:
    """The staff member of this session, as the registry has them NOW: a session ended by
    logout or older than SESSION_MAX_AGE_S since login (registry/staff_sessions.py), of a
    disabled account, or opened before the account's password was set again, is over; a role
    changed since login applies at once. Checked once per request."""
    known = getattr(request.state, "staff", None)
    if known is not None:
        return known
    name, generation, session_id = (request.session.get(k) for k in ("user", "generation", "sid"))
    if not name or not isinstance(session_id, str):
        raise LoginRequired()
    account = staff_sessions.account(request.app.state.station.registry.db, session_id)
    if (account is None or account.name != name or account.session_generation != generation
            or account.role not in limits.ROLES):
        request.session.clear()
        raise LoginRequired()
    request.state.staff = Staff(account.name, account.role)
    return request.state.staff


def log_in(request: Request, account: StaffLogin) -> None:
    """Open a session for `account` (registry.service.StaffLogin, from verify_user)."""
    # A fresh CSRF token at login: a token planted before login is worth nothing after it.
    session_id = staff_sessions.start(request.app.state.station.registry.db, account.name,
                                      timedelta(seconds=limits.SESSION_MAX_AGE_S))
    request.session.clear()
    request.session.update({"user": account.name, "generation": account.session_generation, "sid": session_id,
                            "csrf": secrets.token_urlsafe(24)})


def log_out(request: Request) -> None:
    """The session ends on the server too: a copy of the cookie opens nothing afterwards."""
    session_id = request.session.get("sid")
    if isinstance(session_id, str):
        staff_sessions.end(request.app.state.station.registry.db, session_id)
    request.session.clear()


def requires(role: str):
    """A FastAPI dependency: the logged-in staff member, if their role reaches `role`."""

    def dependency(request: Request) -> Staff:
        staff = current_staff(request)
        if not staff.may(role):
            raise PermissionDenied(f"{staff.name} is a {staff.role}: this needs the {role} role or above")
        return staff

    dependency.__name__ = f"requires_{role}"
    return dependency


def login_name_key(name: str) -> str:
    """A login name as the throttle counts it: `REV2`, `" rev2 "` and `rev2` are one name."""
    return " ".join((name or "").split()).casefold()


class LoginThrottle:
    """Failed logins, counted so that guessing is slow but a stranger cannot lock a person out.

    - Per (name, client address): after LOGIN_MAX_FAILURES_PER_NAME failures within
      LOGIN_WINDOW_S, that name waits FROM THAT ADDRESS, longer after each further failure
      (LOGIN_DELAY_BASE_S, doubled each time, at most the window). The owner at their usual
      station is not touched by a stranger's failures elsewhere.
    - Per address: LOGIN_MAX_FAILURES_PER_ADDRESS failures (any names) and the address waits
      for the window to pass: many names tried from one place.
    - Per name from anywhere: LOGIN_MAX_FAILURES_PER_NAME_ANYWHERE failures (guessing from many
      addresses) and the name waits, except from the addresses it logged in from before.

    Kept in memory, per process (with several workers, each counts its own); a restart
    forgets it. While a wait lasts the password is not even checked."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._known: dict[str, set[str]] = {}  # name -> addresses it logged in from
        self._lock = threading.Lock()

    @staticmethod
    def _keys(name: str, address: str | None) -> list[tuple[str, int]]:
        who = login_name_key(name)
        keys = [("pair:" + who + "|" + (address or "?"), limits.LOGIN_MAX_FAILURES_PER_NAME)]
        if address:
            keys.append(("addr:" + address, limits.LOGIN_MAX_FAILURES_PER_ADDRESS))
        keys.append(("name:" + who, limits.LOGIN_MAX_FAILURES_PER_NAME_ANYWHERE))
        return keys

    def wait_s(self, name: str, address: str | None) -> float:
        """Seconds before this name may try again from this address (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [0.0]
            for key, most in self._keys(name, address):
                if key.startswith("name:") and address in self._known.get(login_name_key(name), ()):
                    continue
                failures = self._recent(key, now)
                if len(failures) < most:
                    continue
                if key.startswith("pair:"):  # growing: each failure past the limit doubles the wait
                    delay = min(limits.LOGIN_WINDOW_S, limits.LOGIN_DELAY_BASE_S * 2 ** (len(failures) - most))
                    waits.append(failures[-1] + delay - now)
                else:
                    waits.append(failures[-most] + limits.LOGIN_WINDOW_S - now)
            return max(waits)

    def failed(self, name: str, address: str | None) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > limits.LOGIN_THROTTLE_MAX_KEYS:  # bounded memory under a flood
                for key in [k for k in self._failures if not self._recent(k, now)]:
                    del self._failures[key]
            for key, most in self._keys(name, address):
                # The pair keeps more than its limit: its wait grows with each failure past it.
                cap = most + limits.LOGIN_DELAY_DOUBLINGS if key.startswith("pair:") else most
                self._failures.setdefault(key, deque(maxlen=cap)).append(now)

    def succeeded(self, name: str, address: str | None = None) -> None:
        who = login_name_key(name)
        with self._lock:
            self._failures.pop("pair:" + who + "|" + (address or "?"), None)
            if address:
                known = self._known.setdefault(who, set())
                if len(known) < limits.LOGIN_KNOWN_ADDRESSES_MAX:
                    known.add(address)

    def _recent(self, key: str, now: float) -> deque:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - limits.LOGIN_WINDOW_S:
            failures.popleft()
        return failures
