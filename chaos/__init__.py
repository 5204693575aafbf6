"""``make chaos``: dj_queue under real process kills, stops and database restarts (see docs/reliability.md)."""
