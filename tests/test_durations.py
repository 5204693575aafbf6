from __future__ import annotations

import pytest

from dj_queue.durations import parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("90", 90.0), ("1.5", 1.5), ("45s", 45.0), ("30m", 1800.0), ("1h", 3600.0), (" 7D ", 604800.0), ("0", 0.0),
    (120, 120.0),
])
def test_parse_duration_reads_seconds_and_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, message", [
    ("-5m", "'-5m' is not a duration: it must not be negative"),
    ("soon", "'soon' is not a duration: use seconds or a number with s, m, h or d"),
    ("", "'' is not a duration: use seconds or a number with s, m, h or d"),
    ("h", "'h' is not a duration: use seconds or a number with s, m, h or d"),
    ("nan", "'nan' is not a duration: use seconds or a number with s, m, h or d"),
    ("inf", "'inf' is not a duration: use seconds or a number with s, m, h or d"),
    ("3w", "'3w' is not a duration: use seconds or a number with s, m, h or d"),
])
def test_parse_duration_rejects_negative_and_nonsense_in_one_line(text, message):
    with pytest.raises(ValueError) as excinfo:
        parse_duration(text)
    assert str(excinfo.value) == message
