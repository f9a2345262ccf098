"""CronJob schedules (lab.cron): what the API accepts, and next run times against brute force."""

from __future__ import annotations

import datetime as _dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab import cron

UTC = _dt.UTC


@pytest.mark.parametrize(
    "text, message",
    [
        ("* * * *", "expected exactly 5 fields, found 4"),
        ("*/0 * * * *", "step must be a positive number"),
        ("60 * * * *", "end of range (60) above maximum (59)"),
        ("* * 0 * *", "beginning of range (0) below minimum (1)"),
        ("* * * * 7", "end of range (7) above maximum (6)"),
        ("5-2 * * * *", "beginning of range (5) beyond end of range (2)"),
        ("@every 5m", "unrecognized descriptor"),
        ("CRON_TZ=UTC * * * * *", "please use timeZone field"),
        ("a * * * *", "failed to parse int from a"),
    ],
)
def test_schedules_the_api_refuses_say_why(text, message):
    with pytest.raises(cron.CronError) as err:
        cron.parse(text)
    assert message in str(err.value)


def test_names_steps_lists_and_descriptors():
    s = cron.parse("0/15 9-17/4 * JAN,jul MON-FRI")
    assert s.minutes == frozenset({0, 15, 30, 45}) and s.hours == frozenset({9, 13, 17})
    assert s.months == frozenset({1, 7}) and s.weekdays == frozenset({1, 2, 3, 4, 5})
    assert cron.parse("@weekly") == cron.parse("0 0 * * 0") and cron.parse("@daily") == cron.parse("0 0 * * *")


def test_day_of_month_and_day_of_week_are_ored_when_both_are_restricted():
    s = cron.parse("0 0 13 * 5")  # the 13th, and every Friday
    t = _dt.datetime(2026, 3, 1, tzinfo=UTC)
    runs = []
    for _ in range(5):
        t = cron.next_after(s, t)
        runs.append(t.date().isoformat())
    assert runs == ["2026-03-06", "2026-03-13", "2026-03-20", "2026-03-27", "2026-04-03"]


def test_time_zones_follow_daylight_saving():
    s = cron.parse("30 2 * * *")
    berlin = cron.zone("Europe/Berlin")
    # 02:30 does not exist on 2026-03-29 in Berlin (clocks jump 02:00 -> 03:00): skipped
    t = cron.next_after(s, _dt.datetime(2026, 3, 28, 12, 0, tzinfo=UTC), berlin)
    assert t == _dt.datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 CEST
    with pytest.raises(cron.CronError, match="unknown time zone"):
        cron.zone("Mars/Olympus")


def test_a_schedule_that_never_fires_has_no_next_time():
    assert cron.next_after(cron.parse("0 0 30 2 *"), _dt.datetime(2026, 1, 1, tzinfo=UTC)) is None


field_st = st.one_of(
    st.just("*"),
    st.builds(lambda a: str(a), st.integers(0, 59)),
    st.builds(lambda n: f"*/{n}", st.integers(1, 30)),
    st.builds(lambda a, b: f"{min(a, b)}-{max(a, b)}", st.integers(0, 59), st.integers(0, 59)),
)


def _brute(s: cron.Schedule, after: _dt.datetime) -> _dt.datetime | None:
    t = after.replace(second=0, microsecond=0) + _dt.timedelta(minutes=1)
    for _ in range(60 * 24 * 400):
        if t.minute in s.minutes and t.hour in s.hours and t.month in s.months and s.day_matches(t.date()):
            return t
        t += _dt.timedelta(minutes=1)
    return None


@settings(max_examples=40, deadline=None)
@given(
    minute=field_st,
    hour=st.sampled_from(["*", "3", "*/6", "1-4", "22"]),
    dom=st.sampled_from(["*", "1", "15", "*/10", "28-31"]),
    dow=st.sampled_from(["*", "0", "1-5", "6"]),
    start=st.datetimes(min_value=_dt.datetime(2026, 1, 1), max_value=_dt.datetime(2027, 1, 1)),
)
def test_next_run_equals_a_minute_by_minute_search(minute, hour, dom, dow, start):
    s = cron.parse(f"{minute} {hour} {dom} * {dow}")
    after = start.replace(tzinfo=UTC)
    assert cron.next_after(s, after) == _brute(s, after)
