"""Staff accounts of the review station: add, check a password, roles, disable, list.

Passwords are hashed with argon2id (argon2-cffi). A session is worth what the account is
worth now: `staff_session` is read on every request, and each change of password or of the
active flag ends the account's sessions (its generation moves on). Every change is audited.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy import exc as sa_exc

from errors import BadArguments, ConflictError, NotFound
from registry.models import ROLES, users
from registry.records import RegistryParts, check_actor, iso, now, write_audit

MIN_PASSWORD_LENGTH = 10

_password_hasher = PasswordHasher()


@dataclass(frozen=True)
class StaffLogin:
    """A staff account as a session sees it: checked again on every request."""

    name: str
    role: str
    session_generation: int


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that a wrong name costs as long as
    a wrong password (no user enumeration by timing). Made on first need: hashing is slow."""
    return _password_hasher.hash("csq-intake: no such user")


def add_user(registry: RegistryParts, name: str, role: str, password: str, *, by: str = "admin") -> dict:
    """A staff account of the review station (password hashed with argon2id)."""
    name = (name or "").strip()
    if not name or len(name) > 64 or any(ch.isspace() for ch in name):
        raise BadArguments(f"user name {name!r}: 1 to 64 characters, no spaces")
    if role not in ROLES:
        raise BadArguments(f"role {role!r}: use one of {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise BadArguments(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    hashed = _password_hasher.hash(password)
    try:
        with registry.db.write() as conn:
            conn.execute(users.insert().values(name=name, role=role, password_hash=hashed, active=True, created_at=now()))
            write_audit(conn, actor=by, action="user_added", field="role", new=role, detail=name)
    except sa_exc.IntegrityError:
        raise ConflictError(f"user {name} already exists: choose another name") from None
    return {"name": name, "role": role, "active": True}


def verify_user(registry: RegistryParts, name: str, password: str) -> StaffLogin | None:
    """The role and session generation of an active user whose password matches, else None."""
    with registry.db.read() as conn:
        row = conn.execute(select(users).where(users.c.name == (name or "").strip())).first()
    if row is None or not row.active:
        _check_password(_dummy_hash(), password or "")
        return None
    if not _check_password(row.password_hash, password or ""):
        return None
    if _password_hasher.check_needs_rehash(row.password_hash):
        with registry.db.write() as conn:
            conn.execute(update(users).where(users.c.id == row.id).values(password_hash=_password_hasher.hash(password)))
    return StaffLogin(row.name, row.role, row.session_generation)


def staff_session(registry: RegistryParts, name: str) -> StaffLogin | None:
    """What a session of `name` is worth now: its role and generation if the account is
    active, else None (the station checks this on every request)."""
    with registry.db.read() as conn:
        row = conn.execute(select(users.c.name, users.c.role, users.c.session_generation)
                           .where(users.c.name == name, users.c.active.is_(True))).first()
    return StaffLogin(row.name, row.role, row.session_generation) if row is not None else None


def set_user_active(registry: RegistryParts, name: str, active: bool, *, by: str) -> None:
    """Disable or enable an account; either way its sessions end (a re-enabled account logs in again)."""
    with registry.db.write() as conn:
        changed = conn.execute(update(users).where(users.c.name == name)
                               .values(active=bool(active), session_generation=users.c.session_generation + 1)).rowcount
        if not changed:
            raise NotFound(f"no user {name}: `csq users list` shows them")
        write_audit(conn, actor=check_actor(by), action="user_active", field="active", new=json.dumps(bool(active)), detail=name)


def set_user_password(registry: RegistryParts, name: str, password: str, *, by: str) -> None:
    """A new password (a forgotten or leaked one); the account's sessions end."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise BadArguments(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    hashed = _password_hasher.hash(password)
    with registry.db.write() as conn:
        changed = conn.execute(update(users).where(users.c.name == name)
                               .values(password_hash=hashed, session_generation=users.c.session_generation + 1)).rowcount
        if not changed:
            raise NotFound(f"no user {name}: `csq users list` shows them")
        write_audit(conn, actor=check_actor(by), action="user_password", field="password", new="(changed)", detail=name)


def set_user_role(registry: RegistryParts, name: str, role: str, *, by: str) -> None:
    """Another role; it applies from the account's next request (sessions read it each time)."""
    if role not in ROLES:
        raise BadArguments(f"role {role!r}: use one of {', '.join(ROLES)}")
    with registry.db.write() as conn:
        old = conn.execute(select(users.c.role).where(users.c.name == name)).scalar()
        if old is None:
            raise NotFound(f"no user {name}: `csq users list` shows them")
        conn.execute(update(users).where(users.c.name == name).values(role=role))
        write_audit(conn, actor=check_actor(by), action="user_role", field="role", old=old, new=role, detail=name)


def list_users(registry: RegistryParts) -> list[dict]:
    with registry.db.read() as conn:
        return [{"name": r.name, "role": r.role, "active": r.active, "created_at": iso(r.created_at)}
                for r in conn.execute(select(users).order_by(users.c.name))]


def _check_password(hashed: str, password: str) -> bool:
    try:
        return _password_hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
