"""Weekly maintenance windows, ``ddd:hh:mm-ddd:hh:mm`` in UTC, as RDS and ElastiCache name
them, and the ``allowed_windows`` parameter the controls that judge them share."""

from __future__ import annotations

import re

from scanner.engine.registry import Param

DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MINUTES_PER_WEEK = 7 * 24 * 60

_DAY = "(" + "|".join(f"[{day[0]}{day[0].upper()}]{day[1:]}" for day in DAYS) + ")"
_TIME = r"([01]\d|2[0-3]):([0-5]\d)"
WINDOW_PATTERN = f"^{_DAY}:{_TIME}-{_DAY}:{_TIME}$"
"""A window as AWS writes it (``sun:23:45-mon:00:15``; a capital first letter is accepted)."""
_WINDOW = re.compile(WINDOW_PATTERN)

ALLOWED_WINDOWS = Param(
    name="allowed_windows",
    default=[],
    schema={"type": "array", "items": {"type": "string", "pattern": WINDOW_PATTERN}},
    description=(
        "weekly windows (UTC, 'ddd:hh:mm-ddd:hh:mm', e.g. 'sat:22:00-sun:02:00', which wraps "
        "from Saturday to Sunday) that maintenance may fall in; [] turns the control off"
    ),
)


def parse(window: str) -> tuple[int, int] | None:
    """(start, length) in minutes from Sunday 00:00, or None when ``window`` is malformed.

    An end before its start wraps into the next week (``sat:23:00-sun:01:00`` is 2 hours).
    """
    match = _WINDOW.match(window.strip())
    if match is None:
        return None
    start_day, start_hour, start_minute, end_day, end_hour, end_minute = match.groups()
    start = _minute_of_week(start_day, start_hour, start_minute)
    end = _minute_of_week(end_day, end_hour, end_minute)
    return start, (end - start) % MINUTES_PER_WEEK


def _minute_of_week(day: str, hour: str, minute: str) -> int:
    return (DAYS.index(day.lower()) * 24 + int(hour)) * 60 + int(minute)


def inside(window: tuple[int, int], allowed: tuple[int, int]) -> bool:
    """Whether ``window`` lies entirely inside ``allowed`` (both as ``parse`` returns them)."""
    start, length = window
    allowed_start, allowed_length = allowed
    return (start - allowed_start) % MINUTES_PER_WEEK + length <= allowed_length


def verdict(window: str | None, allowed_windows: list[str]) -> tuple[bool, str]:
    """Whether ``window`` (as AWS returned it; None when absent) lies inside one of
    ``allowed_windows``, and a phrase saying so: ``"sun:03:00-sun:04:00 lies inside
    sat:22:00-sun:06:00"``."""
    if not window:
        return False, "is not set"
    parsed = parse(window)
    if parsed is None:
        return False, f"{window} is not of the form ddd:hh:mm-ddd:hh:mm"
    for candidate in allowed_windows:
        bounds = parse(candidate)
        if bounds is not None and inside(parsed, bounds):
            return True, f"{window} lies inside {candidate}"
    return False, f"{window} lies outside the allowed windows ({', '.join(allowed_windows)})"
