"""Values cross from the child to the parent only as exact builtin types."""

from __future__ import annotations

import math

import pytest

from unitrl.sandbox import wire


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(2**100),
        1.5,
        "é",
        b"\x00\xff",
        [1, [2]],
        (1, (2,)),
        {"a": 1, (1, 2): [3]},
        {1, 2},
        frozenset({"x"}),
        1 + 2j,
        [],
        (),
        {},
        set(),
    ],
)
def test_round_trip_keeps_type_and_value(value):
    back = wire.decode_value(wire.encode_value(value))
    assert back == value and type(back) is type(value)


def test_non_finite_floats():
    back = wire.decode_value(wire.encode_value([float("inf"), float("-inf"), float("nan")]))
    assert back[0] == math.inf and back[1] == -math.inf and math.isnan(back[2])


def test_subclasses_are_reduced_to_their_base_value():
    class Rigged(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    class RiggedList(list):
        def __iter__(self):
            return iter([42])

    assert type(wire.decode_value(wire.encode_value(Rigged(5)))) is int
    assert wire.decode_value(wire.encode_value(Rigged(5))) == 5
    assert wire.decode_value(wire.encode_value(RiggedList([1, 2]))) == [
        1,
        2,
    ]  # base iteration, not the override


def test_arbitrary_objects_are_unsupported():
    with pytest.raises(wire.Unsupported):
        wire.encode_value(object())


def test_size_and_depth_caps():
    with pytest.raises(wire.ValueTooLarge):
        wire.encode_value("x" * 2_000_000)
    deep: list = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(wire.ValueTooLarge):
        wire.encode_value(deep)


@pytest.mark.parametrize(
    "forged", [{"X": 1}, {"D": [[[], 1]]}, {"S": [[1]]}, {"C": ["a", 1]}, {"f": "1e3"}, {"a": 1, "b": 2}]
)
def test_decoder_rejects_anything_else(forged):
    with pytest.raises(wire.WireError):
        wire.decode_value(forged)


def test_frame_reader_handles_split_frames_and_rejects_oversize():
    data = wire.pack([1, "ok"]) + wire.pack({"a": 1})
    reader = wire.FrameReader()
    assert reader.feed(data[:5]) == []
    assert reader.feed(data[5:]) == [[1, "ok"], {"a": 1}]
    with pytest.raises(wire.WireError):
        wire.FrameReader(max_frame=10).feed(b"\x00\x00\x01\x00" + b"x" * 300)
