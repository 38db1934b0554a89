"""Local date and time to UTC with IANA zones, and the card's time format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.times import format_local, local_to_utc
from storage.posts import InvalidTime, validate_time

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


def test_kolkata_summer_time_converts():
    assert local_to_utc("2027-06-30", "14:55", "Asia/Kolkata") == datetime(2027, 6, 30, 9, 25, tzinfo=UTC)


def test_new_york_gap_time_rejected():
    with pytest.raises(InvalidTime) as error:
        local_to_utc("2027-03-14", "02:30", "America/New_York")
    assert str(error.value) == (
        "2:30 AM does not exist on 14 March 2027 in America/New_York because clocks move forward; choose another time."
    )


def test_new_york_ambiguous_time_takes_first():
    assert local_to_utc("2027-11-07", "01:30", "America/New_York") == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)


def test_offset_comes_from_date_not_today():
    winter = local_to_utc("2027-01-15", "09:00", "Europe/Berlin")
    summer = local_to_utc("2027-07-15", "09:00", "Europe/Berlin")
    assert winter.hour == 8 and summer.hour == 7


def test_format_local_shows_offset():
    moment = datetime(2027, 6, 30, 9, 25, tzinfo=UTC)
    assert format_local(moment, "Asia/Kolkata") == "Wed 30 Jun 2027, 14:55 (UTC+05:30)"
    assert format_local(datetime(2027, 11, 7, 5, 30, tzinfo=UTC), "America/New_York") == "Sun 7 Nov 2027, 01:30 (UTC-04:00)"


def test_malformed_inputs_rejected():
    with pytest.raises(InvalidTime):
        local_to_utc("2027-02-30", "10:00", "UTC")
    with pytest.raises(InvalidTime):
        local_to_utc("2027-02-01", "25:00", "UTC")


def test_time_window_limits():
    with pytest.raises(InvalidTime):
        validate_time(local_to_utc("2027-01-01", "12:00", "UTC"), NOW)
    validate_time(local_to_utc("2027-01-01", "12:01", "UTC"), NOW)
    with pytest.raises(InvalidTime):
        validate_time(local_to_utc("2028-01-02", "12:00", "UTC"), NOW)
