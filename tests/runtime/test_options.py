"""load_options: settings <- --config YAML <- CLI flags."""

from __future__ import annotations

import pytest

from dj_queue.exceptions import ConfigurationError
from dj_queue.runtime.options import load_options


def test_settings_only_gives_the_defaults():
    options = load_options("default")
    assert options["mode"] == "fork" and options["workers"][0]["threads"] == 3
    assert options["skip_recurring"] is False


def test_yaml_overrides_settings_and_flags_override_yaml(tmp_path):
    path = tmp_path / "dj_queue.yml"
    path.write_text("mode: fork\nshutdown_timeout: 2\nworkers:\n  - queues: 'a, b*'\n    threads: 5\n")
    options = load_options("default", config_path=path, mode="async", skip_recurring=True)
    assert options["mode"] == "async" and options["shutdown_timeout"] == 2
    assert options["workers"] == [{"queues": ["a", "b*"], "threads": 5, "processes": 1, "polling_interval": 0.1}]
    assert options["skip_recurring"] is True


@pytest.mark.parametrize("text, message", [
    ("workers: [", "not valid YAML"),
    ("- a\n- b\n", "must hold a mapping"),
    ("shutdown_timeot: 3\n", "did you mean 'shutdown_timeout'"),
    ("mode: sideways\n", "mode"),
])
def test_bad_config_files_raise_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_options("default", config_path=path)


def test_missing_file_and_unknown_backend(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        load_options("default", config_path=tmp_path / "nope.yml")
    with pytest.raises(ConfigurationError, match="no TASKS backend named 'nope'"):
        load_options("nope")


def test_empty_file_means_no_overrides(tmp_path):
    path = tmp_path / "empty.yml"
    path.write_text("")
    assert load_options("default", config_path=path)["shutdown_timeout"] == 5
