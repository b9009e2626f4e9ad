"""Values as JSON: what crosses between the sandbox and the judge is data, never code or pickles.

`encode` turns numbers, strings, booleans, None, tensors and (nested) lists, tuples and dicts with
string keys into JSON-ready objects; `decode` turns them back, checking every tensor's dtype, shape
and size, so that whatever a submission writes can at worst fail to decode. The sandbox imports this
module too (it is plain Python and torch).
"""
from __future__ import annotations

import math

DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
          "bool")
MAX_ELEMENTS = 1_000_000   # per decoded message, across all its tensors
MAX_DEPTH = 20


class CodecError(ValueError):
    """The data are not something `encode` writes."""


class Failed:
    """A probe's part that raised: its exception type and message, kept as data."""

    def __init__(self, error: str):
        self.error = error

    def __repr__(self) -> str:
        return f"Failed({self.error!r})"


def _number(x: float):
    if math.isnan(x):
        return {"__float__": "nan"}
    if math.isinf(x):
        return {"__float__": "inf" if x > 0 else "-inf"}
    return x


def encode(value, depth: int = 0):
    """A JSON-ready copy of `value` (tensors become {"__tensor__": [dtype, shape, flat values]})."""
    import torch

    if depth > MAX_DEPTH:
        raise CodecError("nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Failed):
        return {"__failed__": str(value.error)[:2000]}
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu")
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in DTYPES:
            raise CodecError(f"tensor dtype {dtype} is not one of {DTYPES}")
        flat = t.reshape(-1).tolist() if dtype != "bfloat16" else t.float().reshape(-1).tolist()
        return {"__tensor__": [dtype, list(t.shape), [_number(x) if isinstance(x, float) else x for x in flat]]}
    if isinstance(value, (list, tuple)):
        return {"__list__": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise CodecError("dictionary keys must be strings")
        return {"__dict__": {k: encode(v, depth + 1) for k, v in value.items()}}
    raise CodecError(f"cannot send a {type(value).__name__}")


def decode(data, _budget: list | None = None, depth: int = 0):
    """The value `encode` wrote; CodecError for anything else."""
    import torch

    budget = [MAX_ELEMENTS] if _budget is None else _budget
    if depth > MAX_DEPTH:
        raise CodecError("nested too deeply")
    if data is None or isinstance(data, (bool, str, int)):
        return data
    if isinstance(data, float):
        return data
    if not isinstance(data, dict) or len(data) != 1:
        raise CodecError(f"unexpected {type(data).__name__}")
    (kind, body), = data.items()
    if kind == "__float__":
        if body not in ("nan", "inf", "-inf"):
            raise CodecError("bad float")
        return float(body)
    if kind == "__failed__":
        return Failed(str(body))
    if kind == "__list__" and isinstance(body, list):
        return [decode(v, budget, depth + 1) for v in body]
    if kind == "__dict__" and isinstance(body, dict):
        return {str(k): decode(v, budget, depth + 1) for k, v in body.items()}
    if kind == "__tensor__" and isinstance(body, list) and len(body) == 3:
        dtype, shape, flat = body
        if dtype not in DTYPES or not isinstance(shape, list) or not isinstance(flat, list):
            raise CodecError("bad tensor")
        if not all(isinstance(s, int) and 0 <= s for s in shape) or len(shape) > 8:
            raise CodecError("bad tensor shape")
        if math.prod(shape) != len(flat):
            raise CodecError("tensor shape and data disagree")
        budget[0] -= len(flat)
        if budget[0] < 0:
            raise CodecError(f"more than {MAX_ELEMENTS} numbers")
        values = []
        for x in flat:
            if isinstance(x, dict):
                x = decode(x, budget, depth + 1)
            if not isinstance(x, (int, float)):
                raise CodecError("tensor data must be numbers")
            values.append(x)
        return torch.tensor(values, dtype=getattr(torch, dtype)).reshape(shape)
    raise CodecError(f"unknown kind {kind!r}")
