from __future__ import annotations

import pytest

from dj_queue.durations import parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("90", 90.0), ("1.5", 1.5), ("45s", 45.0), ("30m", 1800.0), ("1h", 3600.0), (" 7D ", 604800.0), ("0", 0.0),
    (120, 120.0), ("2w", 1209600.0),
])
def test_parse_duration_reads_seconds_and_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, message", [
    ("-5m", "'-5m' is not a duration: it must not be negative"),
    ("soon", "'soon' is not a duration: use seconds or a number with s, m, h, d or w"),
    ("", "'' is not a duration: use seconds or a number with s, m, h, d or w"),
    ("h", "'h' is not a duration: use seconds or a number with s, m, h, d or w"),
    ("nan", "'nan' is not a duration: use seconds or a number with s, m, h, d or w"),
    ("inf", "'inf' is not a duration: use seconds or a number with s, m, h, d or w"),
    ("3y", "'3y' is not a duration: use seconds or a number with s, m, h, d or w"),
    ("99999999999d", "'99999999999d' is too long: at most 100 years"),
    ("1e300", "'1e300' is too long: at most 100 years"),
])
def test_parse_duration_rejects_negative_and_nonsense_in_one_line(text, message):
    with pytest.raises(ValueError) as excinfo:
        parse_duration(text)
    assert str(excinfo.value) == message


def test_command_line_types_refuse_what_would_fail_later():
    import argparse

    from dj_queue.durations import positive_seconds
    from dj_queue.management.commands.dj_queue_failed import job_id

    assert positive_seconds("2m") == 120.0 and job_id(" 42 ") == 42
    for bad in ("0", "nan", "inf", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_seconds(bad)
    for bad in ("abc", "-1", "99999999999999999999999", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a job id"):
            job_id(bad)
