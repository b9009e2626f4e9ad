"""grading.codec: values survive the trip as JSON, and nothing else decodes."""
from __future__ import annotations

import json
import math

import pytest
import torch

from grading import codec


def roundtrip(value):
    return codec.decode(json.loads(json.dumps(codec.encode(value))))


def test_values_come_back_equal_with_their_dtypes():
    value = {"a": [1, 2.5, "x", None, True], "t": torch.arange(6, dtype=torch.float64).reshape(2, 3),
             "i": torch.tensor([1, -2], dtype=torch.int32), "b": torch.tensor([True, False]),
             "f": (torch.tensor(1.5, dtype=torch.float32), float("nan"), -math.inf),
             "failed": codec.Failed("ValueError: no")}
    back = roundtrip(value)
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.float64
    assert back["i"].dtype == torch.int32 and torch.equal(back["b"], value["b"])
    assert back["a"] == [1, 2.5, "x", None, True]
    assert math.isnan(back["f"][1]) and back["f"][2] == -math.inf and back["f"][0].dtype == torch.float32
    assert isinstance(back["failed"], codec.Failed) and back["failed"].error == "ValueError: no"
    special = torch.tensor([math.nan, math.inf, 1.0])
    assert torch.equal(roundtrip(special).isnan(), special.isnan())


@pytest.mark.parametrize("data", [
    {"__tensor__": ["float64", [2, 2], [1, 2, 3]]},           # shape and data disagree
    {"__tensor__": ["object", [1], [1]]},                       # not a tensor dtype
    {"__tensor__": ["float64", [1], ["x"]]},                    # not a number
    {"__pickle__": "gASVAAAA"},                                 # anything else
    {"__tensor__": ["float64", [2000000], [0] * 2000000]},      # too large
    [1, 2],                                                     # a bare list is not what encode writes
])
def test_anything_else_is_refused(data):
    with pytest.raises(codec.CodecError):
        codec.decode(data)


def test_objects_that_are_not_data_cannot_be_sent():
    with pytest.raises(codec.CodecError):
        codec.encode(object())
    with pytest.raises(codec.CodecError):
        codec.encode({1: 2})
