"""Frames and values that cross process boundaries in the sandbox.

Frames are a 4-byte big-endian length followed by UTF-8 JSON. Values returned by untrusted code are
first reduced to exact builtin types and encoded as tagged JSON; the trusted side decodes them with the
C json parser plus a small walk, so nothing the program controls (no pickle, no marshal, no `__eq__`)
runs on the trusted side. Encoding (`encode_value`) runs inside the untrusted child and is therefore only
a convenience: a program may send any bytes, and `decode_value` must and does accept any JSON safely.

Tagged form: null/bool/int/float/str and lists map to themselves; every other type is a one-key object:
{"T": [...]} tuple, {"D": [[k, v], ...]} dict, {"S": [...]} set, {"F": [...]} frozenset,
{"B": "<latin-1 str>"} bytes, {"C": [re, im]} complex, {"f": "nan" | "inf" | "-inf"} non-finite float.
This module imports only the standard library: it is loaded in the zygote before untrusted code runs.
"""

from __future__ import annotations

import json
import math
import os
import struct

MAX_FRAME = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")


class WireError(Exception):
    """A frame or value that does not follow the protocol (`too_large`: it broke a size or count cap)."""

    def __init__(self, message: str, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


class ValueTooLarge(Exception):
    """A returned value over the size cap."""


class Unsupported(Exception):
    """A returned value that is not (and cannot be reduced to) an exact builtin type."""


def pack(obj: object) -> bytes:
    data = json.dumps(obj, separators=(",", ":"), allow_nan=True).encode()
    return _HEADER.pack(len(data)) + data


def write_frame(fd: int, obj: object) -> None:
    data = memoryview(pack(obj))
    while data:
        n = os.write(fd, data)
        data = data[n:]


class FrameReader:
    """Incremental frame parser for a non-blocking pipe.

    Limits are checked BEFORE a frame is decoded: its length against `max_frame` (the sum of all frames
    against the same cap, since `max_frame` is spent as frames arrive) and an upper bound on the number of
    JSON values it holds (commas, brackets and braces, counted at C speed) against `max_objects`. Nesting
    is bounded by the C parser's recursion limit (a RecursionError is a WireError)."""

    def __init__(self, max_frame: int = MAX_FRAME, max_objects: int | None = None):
        self.buf = bytearray()
        self.max_frame = max_frame
        self.max_objects = max_objects

    def feed(self, data: bytes) -> list[object]:
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (n,) = _HEADER.unpack_from(self.buf)
            if n > self.max_frame:
                raise WireError(f"frame of {n} bytes exceeds {self.max_frame}", too_large=True)
            if len(self.buf) < 4 + n:
                break
            raw = bytes(self.buf[4 : 4 + n])
            del self.buf[: 4 + n]
            if self.max_objects is not None:
                self.max_frame -= n
                self.max_objects -= raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1
                if self.max_objects < 0:
                    raise WireError("too many values in the result frames", too_large=True)
            try:
                out.append(json.loads(raw))
            except (ValueError, RecursionError, UnicodeDecodeError) as exc:
                raise WireError(f"bad frame: {type(exc).__name__}") from None
        return out


def read_frame_blocking(fd: int) -> object | None:
    """One frame from a blocking fd; None on EOF."""
    header = _read_exact(fd, 4)
    if header is None:
        return None
    (n,) = _HEADER.unpack(header)
    if n > MAX_FRAME:
        raise WireError(f"frame of {n} bytes exceeds {MAX_FRAME}")
    body = _read_exact(fd, n)
    if body is None:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"bad frame: {type(exc).__name__}") from None


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# ------------------------------------------------------------------------------------ value encoding


def encode_value(value: object, budget: int = 1_000_000, max_depth: int = 100) -> object:
    """Reduce a returned value to exact builtin types and encode it (runs in the untrusted child).

    Subclasses of builtins are reduced to their base type's value (so a rigged `__eq__` is never
    consulted); numpy scalars and arrays through `.item()` / `.tolist()`; anything else is Unsupported.
    `budget` caps the encoded size in elements plus string characters.
    """
    left = [budget]

    def spend(n: int) -> None:
        left[0] -= n
        if left[0] < 0:
            raise ValueTooLarge(f"return value larger than {budget} units")

    def enc(v: object, depth: int) -> object:
        if depth > max_depth:
            raise ValueTooLarge(f"return value nested deeper than {max_depth}")
        spend(1)
        t = type(v)
        if v is None or t is bool:
            return v
        if t is int:
            if v.bit_length() > 12000:
                raise ValueTooLarge("integer too large")
            return v
        if t is float:
            return v if math.isfinite(v) else {"f": repr(v)}
        if t is str:
            spend(len(v))
            return v
        if t is list:
            return [enc(x, depth + 1) for x in v]
        if t is tuple:
            return {"T": [enc(x, depth + 1) for x in v]}
        if t is dict:
            return {"D": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        if t is set:
            return {"S": [enc(x, depth + 1) for x in v]}
        if t is frozenset:
            return {"F": [enc(x, depth + 1) for x in v]}
        if t is bytes:
            spend(len(v))
            return {"B": v.decode("latin-1")}
        if t is complex:
            return {"C": [enc(v.real, depth + 1), enc(v.imag, depth + 1)]}
        return enc(_reduce(v), depth)

    return enc(value, 0)


def _reduce(v: object) -> object:
    """The plain builtin value of a subclass instance or a numpy value (inside the child)."""
    for base in (bool, int, float, str, bytes, complex, tuple, list, frozenset, set, dict):
        if isinstance(v, base):
            if base is bool:
                return bool(int.__bool__(v))  # type: ignore[arg-type]
            if base is int:
                return int.__int__(v)  # type: ignore[arg-type]
            if base is float:
                return float.__float__(v)  # type: ignore[arg-type]
            if base is str:
                return str.__str__(v)  # type: ignore[arg-type]
            if base is dict:
                return dict(dict.items(v))  # type: ignore[arg-type]
            return base(base.__iter__(v)) if base not in (bytes, complex) else base(v)  # type: ignore
    module = type(v).__module__ or ""
    if module.startswith("numpy"):
        if hasattr(v, "tolist"):
            return v.tolist()
    if type(v).__name__ == "bytearray" or isinstance(v, bytearray | memoryview):
        return bytes(v)
    raise Unsupported(f"return value of type {type(v).__name__} cannot be compared outside the sandbox")


_PLAIN = frozenset((type(None), bool, int, float, str))  # JSON values that decode to themselves

# Job.segments: the step statuses that end a run of steps (the child skips the rest of the run)
RUN_ENDING = frozenset(("timeout", "memory", "output-limit"))


def segment_ends(segments: object, n: int) -> list[int] | None:
    """For each of a job's n steps, the index just past the run of steps it belongs to (`Job.segments`:
    the ascending step indices at which runs begin, the first 0); None without segments. Anything else
    is a ValueError (the parent refuses the job; a worker answers infra)."""
    if segments is None:
        return None
    if (
        type(segments) is not list
        or not segments
        or segments[0] != 0
        or any(type(k) is not int for k in segments)
        or any(not a < b for a, b in zip(segments, segments[1:]))
        or segments[-1] >= max(n, 1)
    ):
        raise ValueError(f"Job.segments must be ascending step indices from 0: {segments!r}"[:300])
    bounds = segments + [n]
    return [bounds[k + 1] for k in range(len(segments)) for _ in range(bounds[k], bounds[k + 1])]


def decode_value(obj: object, depth: int = 0) -> object:
    """Tagged JSON back to Python builtins (runs on the trusted side; accepts any JSON safely)."""
    if depth > 200:
        raise WireError("value nested too deeply")
    t = type(obj)
    if obj is None or t is bool or t is int or t is float or t is str:
        return obj
    if t is list:
        if depth < 200 and all(type(x) in _PLAIN for x in obj):  # type: ignore[union-attr]
            return list(obj)  # type: ignore[call-overload]  # a list of scalars (the common case)
        return [decode_value(x, depth + 1) for x in obj]  # type: ignore[union-attr]
    if t is dict and len(obj) == 1:  # type: ignore[arg-type]
        ((tag, body),) = obj.items()  # type: ignore[union-attr]
        if tag == "T" and type(body) is list:
            return tuple(decode_value(x, depth + 1) for x in body)
        if tag == "D" and type(body) is list:
            out = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("bad dict item")
                out[_hashable(decode_value(pair[0], depth + 1))] = decode_value(pair[1], depth + 1)
            return out
        if tag in ("S", "F") and type(body) is list:
            items = [_hashable(decode_value(x, depth + 1)) for x in body]
            return set(items) if tag == "S" else frozenset(items)
        if tag == "B" and type(body) is str:
            return body.encode("latin-1")
        if tag == "C" and type(body) is list and len(body) == 2:
            re_, im = (decode_value(x, depth + 1) for x in body)
            if type(re_) is float and type(im) is float:
                return complex(re_, im)
        if tag == "f" and body in ("nan", "inf", "-inf"):
            return float(body)
    raise WireError(f"unknown value encoding {str(obj)[:80]}")


def _hashable(v: object) -> object:
    try:
        hash(v)
    except TypeError:
        raise WireError("unhashable key in a set or dict") from None
    return v
