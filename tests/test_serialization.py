"""The JSON data contract for arguments and return values."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import uuid

import pytest

from dj_queue.serialization import SerializationError, encode, ensure_json_roundtrip, payload_size


class Colour(enum.Enum):
    RED = "red"


def test_plain_json_values_come_back_unchanged():
    value = {"a": [1, 2.5, "x", None, True, False], "b": {"c": []}, "é": "ünï"}
    assert ensure_json_roundtrip(value, "kwargs") == value


def test_tuples_become_lists_at_any_depth():
    assert ensure_json_roundtrip((1, (2, 3), {"k": (4,)}), "args") == [1, [2, 3], {"k": [4]}]


@pytest.mark.parametrize(
    ("value", "path", "words"),
    [
        ([{1, 2}], "args[0]", "a set"),
        ([1, datetime.date(2024, 1, 1)], "args[1]", "datetime.date"),
        ({"x": {"y": object()}}, "args['x']['y']", "an object"),
        ([decimal.Decimal("1.5")], "args[0]", "decimal.Decimal"),
        ([Colour.RED], "args[0]", "Colour"),
        ([b"bytes"], "args[0]", "a bytes"),
        ([float("nan")], "args[0]", "nan"),
        ([float("inf")], "args[0]", "inf"),
        ([{1: "int key"}], "args[0][1]", "int key"),
        (["nul\x00char"], "args[0]", "NUL"),
        (["lone \ud800 surrogate"], "args[0]", "surrogate"),
    ],
)
def test_values_that_do_not_round_trip_are_refused_with_their_path(value, path, words):
    with pytest.raises(SerializationError) as info:
        ensure_json_roundtrip(value, "args")
    assert info.value.path == path
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_self_referencing_values_are_refused_not_crashing():
    value: list = []
    value.append(value)
    with pytest.raises(SerializationError, match="nested too deeply"):
        ensure_json_roundtrip(value, "return value")


def test_the_error_names_what_was_checked():
    with pytest.raises(SerializationError, match="return value must round-trip through JSON"):
        ensure_json_roundtrip({1, 2}, "return value")


def test_payload_size_counts_utf8_bytes_of_compact_json():
    args, kwargs = [1, "é"], {"k": "v"}
    expected = len(json.dumps(args, separators=(",", ":"), ensure_ascii=False).encode()) + len(
        json.dumps(kwargs, separators=(",", ":")).encode()
    )
    assert payload_size(args, kwargs) == expected == 17


@pytest.mark.parametrize(("value", "message"), [
    ([{1: "x"}], "args[0][1] has an int key; keys must be str; args must round-trip through JSON"),
    ([{None: "x"}], "args[0][None] has a NoneType key; keys must be str; args must round-trip through JSON"),
    ([uuid.UUID(int=1)], "args[0] is a uuid.UUID, which JSON cannot represent; args must round-trip through JSON"),
    ([object()], "args[0] is an object, which JSON cannot represent; args must round-trip through JSON"),
])
def test_messages_use_the_right_article(value, message):
    with pytest.raises(SerializationError) as info:
        ensure_json_roundtrip(value, "args")
    assert str(info.value) == message


class Text(str):
    pass


@pytest.mark.parametrize("value", [
    [1, "x", {"b": [1.5, None, True], "a": {}}], (1, (2,)), ["é", "\\u0000"], [["\n"] * 3], {"k": ("v",)}, [],
])
def test_encode_agrees_with_the_round_trip_check_and_payload_size(value):
    normalized, text, size = encode(value, "args")
    assert normalized == ensure_json_roundtrip(value, "args")
    assert json.loads(text) == normalized and text.isascii()
    assert size == payload_size(normalized, {}) - 2  # payload_size also counts the kwargs' "{}"


@pytest.mark.parametrize("value", [[{1, 2}], [float("nan")], {1: 2}, ["a\x00"], ["\ud800"], [Text("x")],
                                   [Colour.RED], [decimal.Decimal(1)]])
def test_encode_refuses_what_the_round_trip_check_refuses_with_its_message(value):
    with pytest.raises(SerializationError) as expected:
        ensure_json_roundtrip(value, "args")
    with pytest.raises(SerializationError) as raised:
        encode(value, "args")
    assert str(raised.value) == str(expected.value)
