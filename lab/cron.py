"""CronJob schedules: the five-field cron syntax Kubernetes accepts, and the next run time.

Kubernetes parses ``spec.schedule`` with robfig/cron's standard parser; this module
follows the same rules so the lab accepts and refuses the same schedules and fires at
the same minutes:

- five fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 (or JAN-DEC), day
  of week 0-6 (or SUN-SAT); names are case-insensitive;
- each field is a comma-separated list of ``*`` (or ``?``), ``N``, ``A-B``, with an
  optional ``/STEP``; ``N/STEP`` runs from N to the field's maximum;
- ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``) and
  ``@hourly``;
- when both day fields are restricted, a day matches if *either* does (classic cron);
  when one of them is ``*`` (without a step), both must match;
- times are wall-clock times in ``spec.timeZone`` (UTC when unset); ``CRON_TZ=`` and
  ``TZ=`` prefixes are refused, as the API server refuses them.

Pure: no clock is read here; the CronJob controller passes "now" in.
"""

from __future__ import annotations

import datetime as _dt
import zoneinfo
from dataclasses import dataclass

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
_MONTHS = {
    m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_SEARCH_YEARS = 5  # robfig/cron gives up after five years (a schedule like Feb 30 never fires)
MAX_SCHEDULE_LENGTH = 256  # a schedule is a one-line expression; bound what we parse


class CronError(ValueError):
    """A schedule the API server would refuse (the message says why, as robfig/cron does)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule: the allowed values of each field, and whether each day field is ``*``."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day of month was * or ?
    any_weekday: bool  # day of week was * or ?

    def day_matches(self, day: _dt.date) -> bool:
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow


def parse(text: str) -> Schedule:
    """Parse a schedule; raises :class:`CronError` with robfig/cron's wording."""
    if len(text) > MAX_SCHEDULE_LENGTH:
        raise CronError(f"a schedule is at most {MAX_SCHEDULE_LENGTH} characters")
    spec = text.strip()
    if spec.startswith(("CRON_TZ=", "TZ=")):
        raise CronError("CRON_TZ or TZ used in schedule is not supported, please use timeZone field instead")
    if spec.startswith("@"):
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    parts = spec.split()
    if len(parts) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(parts)}: {text}")
    values: list[frozenset[int]] = []
    stars: list[bool] = []
    for part, (what, low, high) in zip(parts, _FIELDS, strict=True):
        names = _MONTHS if what == "month" else _DAYS if what == "day of week" else {}
        allowed, star = _field(part, low, high, names, what)
        values.append(allowed)
        stars.append(star)
    return Schedule(values[0], values[1], values[2], values[3], values[4], stars[2], stars[4])


def _number(text: str, names: dict[str, int], what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise CronError(f"failed to parse int from {text}: invalid {what}")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int], what: str) -> tuple[frozenset[int], bool]:
    allowed: set[int] = set()
    star = False
    for item in text.split(","):
        range_part, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"failed to parse step from {item}: step must be a positive number")
            step = int(step_text)
        if range_part in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        else:
            first, dash, last = range_part.partition("-")
            start = _number(first, names, what)
            end = _number(last, names, what) if dash else (high if slash else start)
        if start < low:
            raise CronError(f"beginning of range ({start}) below minimum ({low}): {item}")
        if end > high:
            raise CronError(f"end of range ({end}) above maximum ({high}): {item}")
        if start > end:
            raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {item}")
        allowed.update(range(start, end + 1, step))
    return frozenset(allowed), star


def zone(name: str | None) -> _dt.tzinfo:
    """The time zone of ``spec.timeZone`` (UTC when unset); raises :class:`CronError`."""
    if not name:
        return _dt.UTC
    if len(name) > 64 or ".." in name or name.startswith("/"):
        raise CronError(f"unknown time zone {name}")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name}") from exc


def next_after(schedule: Schedule, after: _dt.datetime, tz: _dt.tzinfo = _dt.UTC) -> _dt.datetime | None:
    """The first scheduled minute strictly after ``after`` (aware), as an aware UTC
    datetime; None when none comes within :data:`MAX_SEARCH_YEARS` (say ``0 0 30 2 *``)."""
    local = after.astimezone(tz).replace(second=0, microsecond=0, tzinfo=None) + _dt.timedelta(minutes=1)
    limit = local.year + MAX_SEARCH_YEARS
    while local.year <= limit:
        if local.month not in schedule.months:
            local = _dt.datetime(local.year + (local.month == 12), local.month % 12 + 1, 1)
            continue
        if not schedule.day_matches(local.date()):
            local = _dt.datetime(local.year, local.month, local.day) + _dt.timedelta(days=1)
            continue
        if local.hour not in schedule.hours:
            local = local.replace(minute=0) + _dt.timedelta(hours=1)
            continue
        if local.minute not in schedule.minutes:
            local += _dt.timedelta(minutes=1)
            continue
        aware = local.replace(tzinfo=tz)
        # a wall-clock time skipped by a daylight-saving jump does not exist: move on
        if aware.astimezone(_dt.UTC).astimezone(tz).replace(tzinfo=None) != local:
            local += _dt.timedelta(minutes=1)
            continue
        result = aware.astimezone(_dt.UTC)
        if result > after:
            return result
        local += _dt.timedelta(minutes=1)
    return None
