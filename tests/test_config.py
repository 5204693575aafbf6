"""dj_queue.config: validation, the YAML / environment / argument layers, and the docs that describe them."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.test import override_settings

from dj_queue import config
from dj_queue.exceptions import ConfigurationError
from dj_queue.operations.recurring import TASK_FIELDS

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "configuration.md"
EXAMPLE = ROOT / "examples" / "config.yml"
SETTINGS_WHERE = "TASKS['default']['OPTIONS']"


def tasks_with(**options) -> dict:
    return {"default": {**settings.TASKS["default"], "OPTIONS": options}}


def write_yaml(tmp_path: Path, data: dict | str, name: str = "dj_queue.yml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


# --- validation -------------------------------------------------------------------------------


def test_empty_options_are_the_defaults():
    options = config.validate({})
    assert options["mode"] == "fork" and options["silence_polling"] is True
    assert options["workers"] == [{"queues": ["*"], "threads": 3, "processes": 1, "polling_interval": 0.1,
                                   "max_jobs_per_process": None, "max_memory_mb": None, "rate_limit": None}]
    assert options["dispatchers"][0]["batch_size"] == 500
    assert options["scheduler"] == {"dynamic_tasks_enabled": False, "polling_interval": 5}


def test_partial_entries_are_filled_and_queues_normalized():
    options = config.validate({"workers": [{"queues": "a, b*", "threads": 5}], "scheduler": {"polling_interval": 1}})
    assert options["workers"] == [{"queues": ["a", "b*"], "threads": 5, "processes": 1, "polling_interval": 0.1,
                                   "max_jobs_per_process": None, "max_memory_mb": None, "rate_limit": None}]
    assert options["scheduler"] == {"dynamic_tasks_enabled": False, "polling_interval": 1}


def test_validate_does_not_mutate_its_input_or_the_defaults():
    given = {"workers": [{"queues": "a"}]}
    config.validate(given)["workers"][0]["threads"] = 99
    assert given == {"workers": [{"queues": "a"}]}
    assert config.validate({})["workers"][0]["threads"] == 3


@pytest.mark.parametrize(("options", "words"), [
    ({"shutdown_timeot": 1}, "unknown option 'shutdown_timeot'; did you mean 'shutdown_timeout'?"),
    ({"workers": [{"thread": 2}]}, "unknown option 'thread' in workers[0]; did you mean 'threads'?"),
    ({"workers": [{}, {"queue": "a"}]}, "unknown option 'queue' in workers[1]; did you mean 'queues'?"),
    ({"dispatchers": [{"batchsize": 2}]}, "in dispatchers[0]; did you mean 'batch_size'?"),
    ({"scheduler": {"dynamic_tasks": True}}, "in scheduler; did you mean 'dynamic_tasks_enabled'?"),
    ({"zzz": 1}, "valid keys: clear_failed_jobs_after"),
])
def test_unknown_keys_name_the_path_and_the_nearest_key(options, words):
    with pytest.raises(ConfigurationError) as excinfo:
        config.validate(options, where=SETTINGS_WHERE)
    assert str(excinfo.value).startswith(f"dj_queue: {SETTINGS_WHERE}: ")
    assert words in str(excinfo.value)


@pytest.mark.parametrize(("options", "words"), [
    ({"listen_notify": "yes"}, "listen_notify must be bool, got str 'yes'"),
    ({"shutdown_timeout": "5"}, "shutdown_timeout must be int/float, got str '5'"),
    ({"max_payload_bytes": True}, "max_payload_bytes must be int, got bool True"),
    ({"workers": {"threads": 2}}, "workers must be list, got dict"),
    ({"workers": ["a"]}, "workers[0] must be a mapping, got str 'a'"),
    ({"workers": [{"threads": 1.5}]}, "workers[0].threads must be int, got float 1.5"),
    ({"workers": [{"threads": True}]}, "workers[0].threads must be int, got bool True"),
    ({"workers": [{"threads": 0}]}, "workers[0].threads must be greater than 0, got 0"),
    ({"dispatchers": [{"polling_interval": -1}]}, "dispatchers[0].polling_interval must be greater than 0"),
    ({"dispatchers": [{"concurrency_maintenance": "no"}]}, "concurrency_maintenance must be bool"),
    ({"scheduler": []}, "scheduler must be dict, got list"),
    # A bare string would otherwise disable the plugins named by its single letters, i.e. none.
    ({"plugins": {"disable": "dj_queue_plugins.cleanup"}}, "plugins.disable must be list/tuple, got str"),
    ({"plugins": {"disable": [None]}}, "plugins.disable must list plugin names (strings), got [None]"),
    ({"plugins": {"disabel": ["dj_queue_plugins.cleanup"]}},
     "plugins.disabel must be a mapping (a plugin's own settings), got list ['dj_queue_plugins.cleanup']; "
     "did you mean 'disable'?"),
    ({"clear_failed_jobs_after": -5}, "clear_failed_jobs_after must not be negative"),
    ({"supervisor_pidfile": 3}, "supervisor_pidfile must be str/null, got int 3"),
    ({"mode": "sideways"}, "mode must be one of fork, async, got 'sideways'"),
    ({"workers": [{"rate_limit": 5}]}, "workers[0].rate_limit must be str/null, got int 5"),
    ({"workers": [{"rate_limit": "5"}]}, 'workers[0].rate_limit: rate_limit must be "JOBS/SECONDS"'),
    ({"workers": [{"rate_limit": "0/1"}]}, "with both positive (e.g. \"10/60\"), got '0/1'"),
    ({"workers": [{"rate_limit": "5/0"}]}, "got '5/0'"),
])
def test_wrong_types_and_values_are_rejected(options, words):
    with pytest.raises(ConfigurationError) as excinfo:
        config.validate(options, where=SETTINGS_WHERE)
    assert words in str(excinfo.value)


def test_a_worker_rate_limit_is_jobs_per_seconds():
    options = config.validate({"workers": [{"rate_limit": "10/60"}, {}]})
    assert [worker["rate_limit"] for worker in options["workers"]] == ["10/60", None]


def test_nulls_and_zero_ages_are_allowed_where_documented():
    options = config.validate({"clear_finished_jobs_after": None, "clear_failed_jobs_after": 0,
                               "shutdown_timeout": 0, "task_modules": ["myapp.jobs"]})
    assert (options["clear_finished_jobs_after"], options["shutdown_timeout"]) == (None, 0)


def test_options_must_be_a_mapping():
    with pytest.raises(ConfigurationError, match="must be a mapping, got list"):
        config.validate([], where=SETTINGS_WHERE)


# --- the layers: settings < YAML < environment < arguments ------------------------------------

LAYERS = ("yaml", "env", "argument")


def _mode_layers(present: tuple[str, ...]) -> dict[str, str]:
    # Alternate the mode from layer to layer, so the top layer always differs from the one below.
    modes = itertools.cycle(["async", "fork"])
    return {layer: next(modes) for layer in ("settings", *present)}


@pytest.mark.parametrize("present", [
    tuple(layer for layer, on in zip(LAYERS, flags) if on) for flags in itertools.product([0, 1], repeat=3)
])
def test_mode_precedence_matrix(tmp_path, present):
    modes = _mode_layers(present)
    environ = {config.ENV_MODE: modes["env"]} if "env" in modes else {}
    path = write_yaml(tmp_path, {"mode": modes["yaml"]}) if "yaml" in modes else None
    with override_settings(TASKS=tasks_with(mode=modes["settings"])):
        loaded = config.resolve_options(config_path=path, mode=modes.get("argument"), environ=environ)
    top = ("settings", *present)[-1]
    assert loaded.options["mode"] == modes[top]
    # An environment variable overridden by its argument is not a source.
    assert len(loaded.sources) == 1 + ("yaml" in present) + ("env" in present or "argument" in present)


def test_yaml_overrides_settings_key_by_key(tmp_path):
    settings_options = {"shutdown_timeout": 1, "max_payload_bytes": 10, "scheduler": {"dynamic_tasks_enabled": True},
                        "workers": [{"queues": "a"}, {"queues": "b"}],
                        "recurring": {"one": {"task_path": "x.y", "schedule": "@daily"}}}
    path = write_yaml(tmp_path, {"shutdown_timeout": 2, "scheduler": {"polling_interval": 2},
                                 "workers": [{"threads": 7}],
                                 "recurring": {"two": {"task_path": "x.z", "schedule": "@hourly"}}})
    with override_settings(TASKS=tasks_with(**settings_options)):
        options = config.load_options(config_path=path, environ={})
    assert (options["shutdown_timeout"], options["max_payload_bytes"]) == (2, 10)
    assert options["scheduler"] == {"dynamic_tasks_enabled": True, "polling_interval": 2}
    assert options["workers"] == [{"queues": ["*"], "threads": 7, "processes": 1, "polling_interval": 0.1,
                                   "max_jobs_per_process": None, "max_memory_mb": None, "rate_limit": None}]
    assert sorted(options["recurring"]) == ["one", "two"]


def test_dj_queue_config_is_used_when_no_path_is_given(tmp_path):
    from_env = write_yaml(tmp_path, {"shutdown_timeout": 3}, "env.yml")
    from_flag = write_yaml(tmp_path, {"shutdown_timeout": 4}, "flag.yml")
    environ = {config.ENV_CONFIG: str(from_env)}
    loaded = config.resolve_options(environ=environ)
    assert loaded.options["shutdown_timeout"] == 3
    assert loaded.sources[1] == f"config file {from_env} ({config.ENV_CONFIG})"
    loaded = config.resolve_options(config_path=from_flag, environ=environ)
    assert loaded.options["shutdown_timeout"] == 4
    assert loaded.sources[1] == f"config file {from_flag} (--config)"


@pytest.mark.parametrize(("env", "argument", "expected"), [
    (None, None, False),
    ("1", None, True), ("true", None, True), ("YES", None, True), (" on ", None, True),
    ("0", None, False), ("false", None, False), ("No", None, False), ("off", None, False),
    ("", None, False),  # empty counts as unset
    ("0", True, True), ("yes", False, False),  # arguments win over the environment
])
def test_skip_recurring_from_environment_and_arguments(env, argument, expected):
    environ = {} if env is None else {config.ENV_SKIP_RECURRING: env}
    assert config.load_options(skip_recurring=argument, environ=environ)["skip_recurring"] is expected


@pytest.mark.parametrize(("environ", "words"), [
    ({config.ENV_SKIP_RECURRING: "maybe"}, "DJ_QUEUE_SKIP_RECURRING must be one of 1/true/yes/on or 0/false/no/off"),
    ({config.ENV_MODE: "threads"}, "env DJ_QUEUE_MODE: mode must be one of fork, async, got 'threads'"),
    ({config.ENV_CONFIG: "/nonexistent/dj_queue.yml"}, "cannot read config file /nonexistent/dj_queue.yml"),
])
def test_bad_environment_values_are_errors(environ, words):
    with pytest.raises(ConfigurationError) as excinfo:
        config.load_options(environ=environ)
    assert words in str(excinfo.value)


def test_a_bad_mode_argument_is_an_error():
    with pytest.raises(ConfigurationError, match="argument mode: mode must be one of fork, async"):
        config.load_options(mode="threads", environ={})


@pytest.mark.parametrize(("text", "words"), [
    ("workers: [", "is not valid YAML"),
    ("- a\n- b\n", "must hold a mapping, not a list"),
    ("3\n", "must hold a mapping, not an int"),
    ("shutdown_timeot: 3\n", ": unknown option 'shutdown_timeot'; did you mean 'shutdown_timeout'?"),
    ("workers:\n  - threds: 2\n", ": unknown option 'threds' in workers[0]; did you mean 'threads'?"),
    ("scheduler:\n  polling_interval: soon\n", ": scheduler.polling_interval must be int/float, got str 'soon'"),
    ("mode: sideways\n", ": mode must be one of fork, async"),
])
def test_yaml_errors_name_the_file_and_the_key_path(tmp_path, text, words):
    path = write_yaml(tmp_path, text, "bad.yml")
    with pytest.raises(ConfigurationError) as excinfo:
        config.load_options(config_path=path, environ={})
    assert str(path) in str(excinfo.value) and words in str(excinfo.value)


def test_settings_errors_name_the_settings_not_the_file(tmp_path):
    path = write_yaml(tmp_path, {"shutdown_timeout": 2})
    with override_settings(TASKS=tasks_with(wokers=[])), pytest.raises(ConfigurationError) as excinfo:
        config.load_options(config_path=path, environ={})
    assert str(excinfo.value) == (f"dj_queue: {SETTINGS_WHERE}: unknown option 'wokers'; did you mean 'workers'?")


def test_empty_yaml_file_and_unknown_backend(tmp_path):
    path = write_yaml(tmp_path, "")
    assert config.load_options(config_path=path, environ={})["shutdown_timeout"] == 5
    with pytest.raises(ConfigurationError, match="no TASKS backend named 'nope'"):
        config.load_options("nope", environ={})


def test_sources_list_every_layer_used_in_order(tmp_path):
    path = write_yaml(tmp_path, {"shutdown_timeout": 2})
    environ = {config.ENV_CONFIG: str(path), config.ENV_MODE: "async", config.ENV_SKIP_RECURRING: "1"}
    loaded = config.resolve_options(mode="fork", environ=environ)
    assert loaded.sources == (f"settings {SETTINGS_WHERE}", f"config file {path} (DJ_QUEUE_CONFIG)",
                              "argument mode='fork'", "env DJ_QUEUE_SKIP_RECURRING=1")
    assert (loaded.options["mode"], loaded.options["skip_recurring"]) == ("fork", True)


def test_the_real_environment_is_read_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_MODE, "async")
    assert config.load_options()["mode"] == "async"


# --- docs/configuration.md and examples/config.yml --------------------------------------------


def _doc_rows(text: str) -> dict[str, list[str]]:
    """``| `key` | default | type | meaning |`` rows -> {key: [default, type, meaning]}."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\|\s*`(\w+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def _doc_section(name: str) -> str:
    text = DOC.read_text()
    match = re.search(rf"^###\s+`{name}`.*?$(.*?)(?=^##)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/configuration.md has no '### `{name}`' section"
    return match.group(1)


@pytest.mark.parametrize("key", sorted(config.DEFAULTS))
def test_every_option_is_documented_with_its_default(key):
    rows = _doc_rows(DOC.read_text().split("\n### ")[0])
    assert key in rows, f"docs/configuration.md has no table row for `{key}`"
    default = config.DEFAULTS[key]
    if not isinstance(default, (dict, list)):
        assert rows[key][0] == f"`{json.dumps(default)}`", f"docs/configuration.md gives `{key}` the wrong default"


@pytest.mark.parametrize(("section", "key"), [
    (section, key) for section, defaults in sorted(config.SECTIONS.items()) for key in sorted(defaults)
])
def test_every_sub_key_is_documented_with_its_default(section, key):
    rows = _doc_rows(_doc_section(section))
    assert key in rows, f"docs/configuration.md: section `{section}` has no row for `{key}`"
    assert rows[key][0] == f"`{json.dumps(config.SECTIONS[section][key])}`"


def test_no_documented_option_is_stale():
    known = set(config.DEFAULTS) | {key for defaults in config.SECTIONS.values() for key in defaults}
    stale = set(_doc_rows(DOC.read_text())) - known - set(TASK_FIELDS) - {"disable"}
    assert not stale, f"docs/configuration.md documents options that do not exist: {sorted(stale)}"


def test_environment_variables_and_precedence_are_documented():
    text = DOC.read_text()
    for name in (config.ENV_CONFIG, config.ENV_MODE, config.ENV_SKIP_RECURRING, "--config"):
        assert f"`{name}" in text
    assert "CLI flags > environment > YAML file > settings" in text


def test_the_example_config_file_is_valid(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    assert data and set(data) <= set(config.DEFAULTS)
    options = config.load_options(config_path=EXAMPLE, environ={})
    assert options["workers"] and options["mode"] in config.MODES


# --- errors as Django reports them -------------------------------------------------------------


def test_a_settings_typo_never_raises_while_django_builds_the_backend():
    from dj_queue.compat import task_backends

    with override_settings(TASKS=tasks_with(shutdown_timout=3)):
        backend = task_backends["default"]  # what check, migrate and runserver do first
        assert backend.config_error is not None
        with pytest.raises(ConfigurationError) as excinfo:
            config.backend_options("default")
    assert str(excinfo.value) == (f"dj_queue: {SETTINGS_WHERE}: unknown option 'shutdown_timout'; "
                                  "did you mean 'shutdown_timeout'?")


def test_error_texts_have_one_terminal_punctuation_mark():
    with pytest.raises(ConfigurationError) as excinfo:
        config.validate({"workers": [{"thread": 2}]}, where=SETTINGS_WHERE)
    assert str(excinfo.value) == (f"dj_queue: {SETTINGS_WHERE}: unknown option 'thread' in workers[0]; "
                                  "did you mean 'threads'?")


def test_options_that_are_not_a_mapping_are_one_configuration_error():
    from dj_queue import plugins

    with override_settings(TASKS={"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "OPTIONS": "dj_queue.yml"}}):
        with pytest.raises(ConfigurationError, match="the options must be a mapping, got str 'dj_queue.yml'"):
            config.settings_options("default")
        assert isinstance(plugins.disabled_plugin_names(), set)  # no AttributeError while reading it
