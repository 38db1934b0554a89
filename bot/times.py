"""Conversion between a user's wall-clock date and time and the UTC instant stored on a post.

Every conversion goes through the user's IANA zone name (for example "Asia/Kolkata"), so a
time in summer uses summer's offset. This module must never convert with a fixed offset such
as Slack's `tz_offset`, because that offset is the one in force when Slack was asked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.posts import InvalidTime

DEFAULT_TZ = "UTC"


def zone(tz_name: str | None) -> ZoneInfo:
    """Return the zone for `tz_name`, or UTC when the name is empty or unknown."""
    try:
        return ZoneInfo(tz_name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def parse_date(date_str: str) -> date:
    try:
        return date.fromisoformat(date_str)
    except (TypeError, ValueError) as error:
        raise InvalidTime(f"{date_str!r} is not a date. Pick one in the date picker.") from error


def parse_time(time_str: str) -> time:
    try:
        hour, minute = (int(part) for part in time_str.split(":"))
        return time(hour, minute)
    except (AttributeError, TypeError, ValueError) as error:
        raise InvalidTime(f"{time_str!r} is not a time. Pick one in the time picker.") from error


def local_to_utc(date_str: str, time_str: str, tz_name: str) -> datetime:
    """Convert a local date ('YYYY-MM-DD') and time ('HH:MM') in zone `tz_name` to UTC.

    A time that does not exist (skipped when clocks move forward) raises InvalidTime. A time
    that exists twice (when clocks move back) is taken at its first occurrence (fold=0).
    """
    tz = zone(tz_name)
    local = datetime.combine(parse_date(date_str), parse_time(time_str), tzinfo=tz)
    if not _exists(local):
        raise InvalidTime(
            f"{format_clock(local)} does not exist on {local.day} {local:%B %Y} in {tz.key} "
            "because clocks move forward; choose another time."
        )
    return local.astimezone(UTC)


def _exists(local: datetime) -> bool:
    """Check that a wall-clock time survives a round trip through UTC (DST gaps do not)."""
    round_trip = local.astimezone(UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) == local.replace(tzinfo=None)


def format_clock(moment: datetime) -> str:
    """Format the time of day as "2:30 AM"."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def format_offset(moment: datetime) -> str:
    """Format the UTC offset of an aware datetime as "UTC+05:30" or "UTC-04:00"."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def format_local(moment: datetime, tz_name: str | None) -> str:
    """Show a UTC instant in the user's zone with its offset: "Tue 30 Jun 2027, 14:55 (UTC+05:30)"."""
    local = moment.astimezone(zone(tz_name))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} ({format_offset(local)})"


def local_inputs(moment: datetime | None, tz_name: str | None) -> tuple[str | None, str | None]:
    """Return the ('YYYY-MM-DD', 'HH:MM') a date picker and a time picker should show, or Nones."""
    if moment is None:
        return None, None
    local = moment.astimezone(zone(tz_name))
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")
