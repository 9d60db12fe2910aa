"""The priority rules of the intake, as plain functions over a frozen policy.

Every number and date that decides who comes first lives in `priority.toml` (published with
the intake) and is read into `PriorityPolicy` here; registry/PRIORITY.md states the same
rules for people. The service applies them; nothing else decides priority.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterable, NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from errors import InputFileError
from templates.alphabet import fold

DEFAULT_CONFIG = Path(__file__).resolve().with_name("priority.toml")
CONFIG_ENV = "CSQ_PRIORITY_CONFIG"

CHANNELS = ("mail", "online")

# What the machine and staff concluded about an application's content.
REVIEW_STATES = ("received", "in_review", "complete", "incomplete")
# States that keep their place in the queue while a person looks at them.
PENDING_STATES = ("received", "in_review")
# Every status an application can show (docs: PRIORITY.md, "Status").
STATUSES = (
    "received", "in_review", "complete", "incomplete", "premature", "late",
    "ranked", "beyond_cap", "withdrawn", "duplicate",
)

ILLEGIBLE_POSTMARK_RULES = ("received_date",)

# How the priority date of an application was obtained (stored, shown in exports and letters).
RULE_POSTMARK = "postmark"
RULE_SEPARATOR_POSTMARK = "separator_postmark"
RULE_ILLEGIBLE = "illegible_postmark:received_date"
RULE_SUBMITTED = "submitted_at"
RULE_SUPERVISOR = "postmark_set_by_supervisor"


@dataclass(frozen=True)
class PriorityPolicy:
    opening_date: date | None
    closing_date: date | None
    draw_seed: str
    illegible_postmark_rule: str = "received_date"
    illegible_postmark_offset_days: int = 0
    timezone: str = "America/Montreal"
    source: str = "<built-in>"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def seed_sha256(self) -> str:
        """What is published when the intake opens (the seed itself only at the draw)."""
        return hashlib.sha256(self.draw_seed.encode("utf-8")).hexdigest()

    def today(self) -> date:
        return datetime.now(self.zone).date()

    def day_start(self, day: date) -> datetime:
        """The moment `day` begins in the intake's time zone, in UTC (what the registry stores)."""
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(timezone.utc)


def load_policy(path: str | Path | None = None) -> PriorityPolicy:
    """The policy from `path`, else $CSQ_PRIORITY_CONFIG, else the packaged priority.toml."""
    path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"priority rules not found: check {CONFIG_ENV} or reinstall csq-intake", path=where) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(f"cannot read the priority rules ({exc}): fix the TOML file", path=where) from None
    known = {"opening_date", "closing_date", "draw_seed", "illegible_postmark_rule", "illegible_postmark_offset_days", "timezone"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputFileError(f"unknown setting(s) {', '.join(unknown)}: the settings are {', '.join(sorted(known))}", path=where)

    def day(key: str) -> date | None:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, datetime) or not isinstance(value, date):
            raise InputFileError(f"{key} must be a bare date like 2026-01-05 (no quotes, no time)", path=where)
        return value

    policy = PriorityPolicy(
        opening_date=day("opening_date"),
        closing_date=day("closing_date"),
        draw_seed=str(raw.get("draw_seed", "")),
        illegible_postmark_rule=str(raw.get("illegible_postmark_rule", "received_date")),
        illegible_postmark_offset_days=raw.get("illegible_postmark_offset_days", 0),
        timezone=str(raw.get("timezone", "America/Montreal")),
        source=where,
    )
    check_policy(policy)
    return policy


def check_policy(policy: PriorityPolicy) -> None:
    where = policy.source
    if len(policy.draw_seed) < 16:
        raise InputFileError("draw_seed must be at least 16 characters: a short seed can be guessed", path=where)
    if policy.illegible_postmark_rule not in ILLEGIBLE_POSTMARK_RULES:
        raise InputFileError(f"illegible_postmark_rule {policy.illegible_postmark_rule!r}: use one of {', '.join(ILLEGIBLE_POSTMARK_RULES)}", path=where)
    offset = policy.illegible_postmark_offset_days
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= 60:
        raise InputFileError("illegible_postmark_offset_days must be a whole number of days from 0 to 60", path=where)
    if policy.opening_date and policy.closing_date and policy.closing_date < policy.opening_date:
        raise InputFileError("closing_date is before opening_date", path=where)
    try:
        ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputFileError(f"unknown time zone {policy.timezone!r}: use an IANA name like America/Montreal", path=where) from None


# ------------------------------------------------------------------------ priority dates


class PriorityDate(NamedTuple):
    day: date
    rule: str  # one of the RULE_* names: how the day was obtained
    postmark_illegible: bool


def mail_priority(postmark: date | None, received: date, policy: PriorityPolicy, *, from_separator: bool = False) -> PriorityDate:
    """Mail counts from its postmark; an illegible or missing one by the published rule."""
    if postmark is not None:
        return PriorityDate(postmark, RULE_SEPARATOR_POSTMARK if from_separator else RULE_POSTMARK, False)
    # Only "received_date" exists today (check_policy refuses others).
    return PriorityDate(received - timedelta(days=policy.illegible_postmark_offset_days), RULE_ILLEGIBLE, True)


def as_utc(moment: datetime, policy: PriorityPolicy) -> datetime:
    """An aware UTC time; a naive one is taken as the policy's local time (Montreal)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=policy.zone)
    return moment.astimezone(timezone.utc)


def online_priority(submitted_at: datetime, policy: PriorityPolicy) -> PriorityDate:
    """Online counts from the calendar day of submission in Montreal, whatever the sender's zone."""
    return PriorityDate(as_utc(submitted_at, policy).astimezone(policy.zone).date(), RULE_SUBMITTED, False)


def window_status(priority_date: date, policy: PriorityPolicy) -> str | None:
    """'premature' before the opening date, 'late' after the closing date, else None."""
    if policy.opening_date and priority_date < policy.opening_date:
        return "premature"
    if policy.closing_date and priority_date > policy.closing_date:
        return "late"
    return None


# ------------------------------------------------------------------------------ the draw


def draw_key(seed: str, file_no: str) -> str:
    """The tie-breaker among equal priority dates: neither channel is first by construction,
    since the key is a keyed hash of the whole file number, not its order of arrival."""
    return hmac.new(seed.encode("utf-8"), file_no.encode("ascii"), hashlib.sha256).hexdigest()


class Placed(NamedTuple):
    """What the order needs to know of one application."""

    priority_date: date
    draw_key: str
    file_no: str


T = TypeVar("T", bound=Placed)


def priority_order(items: Iterable[T]) -> list[T]:
    """Earliest priority date first; equal dates by draw key (file number only to be total).
    The database sorts with the same key (ranking.py `ORDER`); a test holds them together."""
    return sorted(items, key=lambda p: (p.priority_date, p.draw_key, p.file_no))


def within_cap(rank: int, cap: int | None) -> bool:
    """Places are counted over the whole queue, complete or still under review: a place held
    by an application being verified is reserved, so a complete one behind it is never told
    "ranked" and then displaced when the review ends (PRIORITY.md, "Cap")."""
    return cap is None or rank <= cap


# ------------------------------------------------------------------------------ persons


def passport_as_key(passport_number) -> str:
    """A passport number as the registry compares it: folded capitals, letters and digits only."""
    return "".join(ch for ch in fold(str(passport_number)) if ch.isalnum())


def person_key(passport_number: str | None, birth_date: str | None) -> str | None:
    """The same person across channels and envelopes: passport number in capitals without
    spaces or dashes, folded (templates.alphabet.fold: a reading or a keyboard that adds an
    accent, 19ÁB12345, is the same number), and date of birth. None when either is missing."""
    if not passport_number or not birth_date:
        return None
    passport = passport_as_key(passport_number)
    if not passport:
        return None
    return f"{passport}|{birth_date}"
