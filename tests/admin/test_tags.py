"""The dashboard's time filters: seconds, time zone and a relative age on every moment."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from dj_queue.templatetags.dj_queue_tags import ago, relative, when


def test_relative_ages_read_naturally_in_both_directions():
    assert relative(timedelta(seconds=12.7)) == "12 s ago"
    assert relative(timedelta(minutes=4, seconds=10)) == "4 min 10 s ago"
    assert relative(timedelta(hours=3, minutes=5, seconds=59)) == "3 h 5 min ago"
    assert relative(timedelta(days=2, hours=4)) == "2 d 4 h ago"
    assert relative(timedelta(seconds=-8)) == "in 8 s"
    assert relative(timedelta(0)) == "0 s ago"


def test_when_shows_seconds_zone_and_age_and_escapes_nothing_it_did_not_build():
    moment = timezone.now().replace(microsecond=0) - timedelta(seconds=5)
    html = str(when(moment))
    assert html.startswith(f'<time datetime="{moment.isoformat()}">{moment:%Y-%m-%d %H:%M:%S} UTC</time>')
    assert html.endswith('<span class="djq-ago">(5 s ago)</span>') or "(6 s ago)" in html


def test_when_reads_iso_strings_and_naive_datetimes_and_nothing():
    assert "2026-11-30 18:11:07 UTC" in str(when("2026-11-30T18:11:07+00:00"))
    assert "2026-11-30 18:11:07 UTC" in str(when(datetime(2026, 11, 30, 18, 11, 7)))
    assert when(None) == "—" and when("") == "—" and ago(None) == "—"
    assert ago(timezone.now() + timedelta(minutes=2, seconds=30)).startswith("in 2 min")
