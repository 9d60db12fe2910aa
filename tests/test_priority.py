"""The published priority rules as pure functions: dates, window, draw, order, persons."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from errors import InputFileError
from registry.filenumber import format_file_no
from registry.priority import (
    DEFAULT_CONFIG,
    Placed,
    PriorityPolicy,
    draw_key,
    load_policy,
    mail_priority,
    online_priority,
    person_key,
    priority_order,
    window_status,
    within_cap,
)

POLICY = PriorityPolicy(opening_date=date(2026, 1, 5), closing_date=date(2026, 3, 31), draw_seed="a-published-seed-for-tests")

seeds = st.text(min_size=16, max_size=40)
days = st.dates(min_value=date(2026, 1, 5), max_value=date(2026, 3, 31))


# --------------------------------------------------------------------------- the draw


@settings(max_examples=25, deadline=None)
@given(seed=seeds, mail=st.sets(st.integers(1, 999_999), min_size=200, max_size=200),
       online=st.sets(st.integers(1, 999_999), min_size=200, max_size=200))
def test_draw_favours_neither_channel(seed, mail, online):
    """Among 400 applications of one day, mail takes about half of the first 200 places.
    Under a fair draw the count is hypergeometric (mean 100, sd 7): 60..140 is 5.7 sd, so
    a failure means bias, not bad luck. Ordering by arrival or by file number fails it."""
    files = [format_file_no(2026, "mail", n) for n in mail] + [format_file_no(2026, "online", n) for n in online]
    ordered = priority_order(Placed(date(2026, 2, 16), draw_key(seed, f), f) for f in files)
    mail_first_half = sum(p.file_no[2] == "M" for p in ordered[:200])
    assert 60 <= mail_first_half <= 140


@given(seed=seeds, sequence=st.integers(1, 999_999))
def test_draw_key_is_reproducible_and_keyed(seed, sequence):
    file_no = format_file_no(2026, "mail", sequence)
    assert draw_key(seed, file_no) == draw_key(seed, file_no)
    assert draw_key(seed, file_no) != draw_key(seed + "x", file_no)
    assert len(draw_key(seed, file_no)) == 64


def test_draw_key_is_published_hmac_sha256():
    """Anyone can recompute it: HMAC-SHA256(seed, file number), hex."""
    import hashlib
    import hmac

    assert draw_key("published-seed-2026", "26M-000123-5") == hmac.new(b"published-seed-2026", b"26M-000123-5", hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- the order


placed = st.builds(
    lambda day, channel, n: Placed(day, draw_key(POLICY.draw_seed, format_file_no(2026, channel, n)), format_file_no(2026, channel, n)),
    days, st.sampled_from(["mail", "online"]), st.integers(1, 999_999),
)


@given(st.lists(placed, max_size=60, unique_by=lambda p: p.file_no), st.randoms())
def test_priority_order(items, rnd):
    ordered = priority_order(items)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert priority_order(shuffled) == ordered  # the order of arrival in the registry does not matter
    for a, b in zip(ordered, ordered[1:]):
        assert a.priority_date < b.priority_date or (a.priority_date == b.priority_date and a.draw_key < b.draw_key)


@given(rank=st.integers(1, 10_000), cap=st.none() | st.integers(0, 10_000))
def test_within_cap(rank, cap):
    assert within_cap(rank, cap) == (cap is None or rank <= cap)


# ------------------------------------------------------------------- dates and window


def test_mail_priority():
    assert mail_priority(date(2026, 2, 3), date(2026, 2, 9), POLICY) == (date(2026, 2, 3), "postmark", False)
    assert mail_priority(None, date(2026, 2, 9), POLICY) == (date(2026, 2, 9), "illegible_postmark:received_date", True)
    ten_days = PriorityPolicy(None, None, "a-published-seed-for-tests", illegible_postmark_offset_days=10)
    assert mail_priority(None, date(2026, 2, 9), ten_days).day == date(2026, 1, 30)


@pytest.mark.parametrize("moment, day", [
    (datetime(2026, 2, 16, 4, 59, tzinfo=timezone.utc), date(2026, 2, 15)),  # 23:59 EST
    (datetime(2026, 2, 16, 5, 0, tzinfo=timezone.utc), date(2026, 2, 16)),
    (datetime(2026, 7, 1, 3, 59, tzinfo=timezone.utc), date(2026, 6, 30)),  # 23:59 EDT
    (datetime(2026, 7, 1, 4, 0, tzinfo=timezone.utc), date(2026, 7, 1)),
    (datetime(2026, 2, 16, 9, 30, tzinfo=timezone(timedelta(hours=9))), date(2026, 2, 15)),  # Tokyo morning
    (datetime(2026, 2, 16, 0, 15), date(2026, 2, 16)),  # naive: Montreal time
])
def test_online_priority_is_the_montreal_day(moment, day):
    assert online_priority(moment, POLICY).day == day


@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
def test_window_status(day):
    expected = "premature" if day < date(2026, 1, 5) else "late" if day > date(2026, 3, 31) else None
    assert window_status(day, POLICY) == expected


def test_open_ended_window():
    policy = PriorityPolicy(None, None, "a-published-seed-for-tests")
    assert window_status(date(2001, 1, 1), policy) is None and window_status(date(2099, 1, 1), policy) is None


# --------------------------------------------------------------------------- persons


@pytest.mark.parametrize("passport, birth, key", [
    ("EH0000001", "1991-06-30", "EH0000001|1991-06-30"),
    ("eh 000 0001", "1991-06-30", "EH0000001|1991-06-30"),
    ("EH-0000001", "1991-06-30", "EH0000001|1991-06-30"),
    (None, "1991-06-30", None),
    ("EH0000001", None, None),
    (" - ", "1991-06-30", None),
    ("EH000000É", "1991-06-30", "EH000000E|1991-06-30"),  # a passport number is compared folded
    ("eh 000-000é", "1991-06-30", "EH000000E|1991-06-30"),
    ("ØŁ1234567", "1991-06-30", "OL1234567|1991-06-30"),
    ("ЕН0000001", "1991-06-30", "ЕН0000001|1991-06-30"),  # Cyrillic look-alikes stay apart from EH0000001
])
def test_person_key(passport, birth, key):
    assert person_key(passport, birth) == key


# --------------------------------------------------------------------------- the config


def test_packaged_rules_load():
    policy = load_policy(DEFAULT_CONFIG)
    assert policy.illegible_postmark_rule == "received_date" and policy.timezone == "America/Montreal"
    assert policy.opening_date is not None and len(policy.seed_sha256) == 64


def test_rules_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "rules.toml"
    path.write_text('opening_date = 2026-01-05\nclosing_date = 2026-03-31\ndraw_seed = "sixteen-chars-or-more"\n', encoding="utf-8")
    monkeypatch.setenv("CSQ_PRIORITY_CONFIG", str(path))
    policy = load_policy()
    assert (policy.opening_date, policy.closing_date, policy.source) == (date(2026, 1, 5), date(2026, 3, 31), str(path))


@pytest.mark.parametrize("body, message", [
    ('draw_seed = "short"', "at least 16"),
    ('draw_seed = "sixteen-chars-or-more"\nilleible_postmark_rule = "closing_date"', "unknown setting"),
    ('draw_seed = "sixteen-chars-or-more"\nillegible_postmark_rule = "closing_date"', "use one of received_date"),
    ('draw_seed = "sixteen-chars-or-more"\nopening_date = "2026-01-05"', "bare date"),
    ('draw_seed = "sixteen-chars-or-more"\nopening_date = 2026-03-01\nclosing_date = 2026-01-05', "before opening_date"),
    ('draw_seed = "sixteen-chars-or-more"\ntimezone = "Mars/Olympus"', "unknown time zone"),
    ('draw_seed = "sixteen-chars-or-more"\nillegible_postmark_offset_days = -1', "0 to 60"),
    ("draw_seed = ", "cannot read"),
])
def test_bad_rules_are_refused(tmp_path, body, message):
    path = tmp_path / "rules.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputFileError, match=message) as caught:
        load_policy(path)
    assert str(path) in str(caught.value)


def test_missing_rules_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_policy(tmp_path / "nope.toml")
