"""The test layouts of APPS, LiveCodeBench and CodeContests, parsed into unitrl tests.

APPS (and verl's code datasets, which reuse it) keep tests as `{"inputs": [...], "outputs": [...],
"fn_name"?: ...}`. Without `fn_name` each pair is stdin/stdout text (a list of lines is joined), which
becomes unitrl's `{"stdin", "stdout"}` test. With it the problem is functional: `fn_name(*inputs[i])`
must equal `outputs[i]`, written as one assert per case, `assert fn(1, [2]) == 3`, which the sandbox
splits so the call runs in the child and the comparison in the trusted parent (so an object whose
`__eq__` always returns True never passes). A LeetCode-style problem (starter code with
`class Solution`, or for verl's ground truth a program that defines it) is called as
`Solution().fn(...)`, as LiveCodeBench and APPS do. A returned tuple counts as the list it equals
(both tools convert it), and in the APPS layout a one-item list `[x]` also accepts `x` (APPS's own
lenience). LiveCodeBench keeps tests as a list of `{"input", "output", "testtype"}` (functional inputs
are one JSON value per line) and its private tests compressed: base64, zlib, pickle, JSON. Pickles
are hostile input: they are read by an unpickler that resolves no global but builtins str, list, dict
and bytes, and calls those with no integer argument (so no `bytes(10**12)`), after a zlib stream
capped in size. Every bad value is a UserError naming the file, line and field.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import io
import json
import pickle
import zlib
from dataclasses import dataclass
from typing import Any

from unitrl.errors import UserError
from unitrl.inputs.calls import source

MAX_DECOMPRESSED = 1 << 30  # bytes of one row's LiveCodeBench private tests once inflated
_ALLOWED_GLOBALS = ("str", "list", "dict", "bytes")


@dataclass(frozen=True)
class Where:
    """Where a value came from, for error messages."""

    path: str = "<input>"
    line: int | None = None

    def error(self, field: str, message: str) -> UserError:
        return UserError(message, path=self.path, line=self.line, field=field)


# ------------------------------------------------------------------------------- LiveCodeBench pickles


def _guarded(cls: type) -> Any:
    def make(*args: Any) -> Any:
        if any(isinstance(a, int) for a in args):  # bytes(n), str(n): a size or a number, never test text
            raise pickle.UnpicklingError(f"refused call {cls.__name__}(int)")
        return cls(*args)

    return make


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only builtins str/list/dict/bytes (guarded) and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _ALLOWED_GLOBALS:
            return _guarded(getattr(builtins, name))
        raise pickle.UnpicklingError(f"refused global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id")


def restricted_loads(data: bytes) -> Any:
    """Unpickle bytes that may be hostile (see RestrictedUnpickler)."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def _inflate(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit)
    if inflater.unconsumed_tail or (not inflater.eof and len(out) >= limit):
        raise ValueError(f"inflates past {limit} bytes")
    if not inflater.eof:
        raise ValueError("truncated zlib stream")
    return out


def decode_lcb_private(text: str, where: Where, field: str, limit: int = MAX_DECOMPRESSED) -> list[Any]:
    """LiveCodeBench's `private_test_cases`: base64 -> zlib -> pickle -> JSON text of a test list. A
    plain JSON list (some mirrors store it uncompressed) is accepted as it is."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _json_list(stripped, where, field)
    try:
        raw = _inflate(base64.b64decode(text.strip(), validate=True), limit)
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise where.error(field, f"not base64 zlib data: {exc}") from None
    try:
        value = restricted_loads(raw)
    except Exception as exc:  # noqa: BLE001 - any failure of a hostile pickle is a bad row
        raise where.error(field, f"refused pickle: {type(exc).__name__}: {exc}"[:300]) from None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return _json_list(value, where, field) if isinstance(value, str) else _as_list(value, where, field)


def _json_list(text: str, where: Where, field: str) -> list[Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise where.error(field, f"not JSON: {exc}"[:200]) from None
    return _as_list(value, where, field)


def _as_list(value: Any, where: Where, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise where.error(field, f"expected a list of tests, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------------------- functional tests


def _accepted(expected: Any, unwrap: bool) -> list[str]:
    """Source of every value the call may return: the value, its tuple form, APPS's unwrapped `[x]`."""
    out = [source(expected)]
    if isinstance(expected, list):
        out.append("(" + "".join(source(v) + ", " for v in expected) + ")")
        if unwrap and len(expected) == 1:
            out += [s for s in _accepted(expected[0], False) if s not in out]
    return out


@dataclass(frozen=True)
class Functional:
    """Call-based tests: `fn_name(*args) == expected` per case; `unwrap` is APPS's `[x]` lenience."""

    fn_name: str
    cases: tuple[tuple[str, str], ...]  # (args as JSON text, expected as JSON text): hashable
    unwrap: bool = False

    def tests(self, method: bool) -> list[str]:
        """One assert per case; `method` calls `Solution().fn_name(...)`."""
        callee = f"Solution().{self.fn_name}" if method else self.fn_name
        out = []
        for args_json, expected_json in self.cases:
            call = f"{callee}({', '.join(source(a) for a in json.loads(args_json))})"
            accepted = _accepted(json.loads(expected_json), self.unwrap)
            if len(accepted) == 1:
                out.append(f"assert {call} == {accepted[0]}")
            else:
                out.append(f"assert {call} in ({', '.join(accepted)})")
        return out


def _fn_name(value: Any, where: Where, field: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise where.error(field, f"expected a Python function name, got {str(value)[:60]!r}")
    return value


def _text(value: Any, where: Where, field: str) -> str:
    """stdin/stdout text; a list of lines is joined with newlines."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value) + ("\n" if value else "")
    if not isinstance(value, str):
        raise where.error(field, f"expected text, got {type(value).__name__}")
    return value


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


# ------------------------------------------------------------------------------- layouts


def apps_tests(obj: Any, where: Where, field: str = "input_output") -> list[dict] | Functional:
    """An APPS `input_output` object (or its JSON text): stdio tests, or functional ones with fn_name."""
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except (ValueError, RecursionError) as exc:
            raise where.error(field, f"not JSON: {exc}"[:200]) from None
    if not isinstance(obj, dict):
        raise where.error(field, f"expected an object with inputs and outputs, got {type(obj).__name__}")
    inputs, outputs = obj.get("inputs"), obj.get("outputs")
    for name, value in (("inputs", inputs), ("outputs", outputs)):
        if not isinstance(value, list):
            raise where.error(f"{field}.{name}", f"expected a list, got {type(value).__name__}")
    if len(inputs) != len(outputs):
        raise where.error(f"{field}.outputs", f"{len(outputs)} outputs for {len(inputs)} inputs")
    if not inputs:
        raise where.error(f"{field}.inputs", "no tests")
    if obj.get("fn_name") is not None:
        fn = _fn_name(obj["fn_name"], where, f"{field}.fn_name")
        for i, args in enumerate(inputs):
            if not isinstance(args, list):
                raise where.error(f"{field}.inputs[{i}]", "expected the list of arguments of a call")
        cases = tuple((_dump(a), _dump(o)) for a, o in zip(inputs, outputs))
        return Functional(fn, cases, unwrap=True)
    return [
        {"stdin": _text(i, where, f"{field}.inputs[{k}]"), "stdout": _text(o, where, f"{field}.outputs[{k}]")}
        for k, (i, o) in enumerate(zip(inputs, outputs))
    ]


def _lcb_args(text: Any, where: Where, field: str) -> list[Any]:
    if not isinstance(text, str):
        raise where.error(field, f"expected text, got {type(text).__name__}")
    try:
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    except (ValueError, RecursionError) as exc:
        raise where.error(field, f"a functional input line is not JSON: {exc}"[:200]) from None


def lcb_tests(tests: list[Any], fn_name: str | None, where: Where, field: str) -> list[dict] | Functional:
    """LiveCodeBench tests ({"input", "output", "testtype"}): all stdin, or all functional."""
    if not tests:
        raise where.error(field, "no tests")
    kinds = set()
    for i, t in enumerate(tests):
        if not isinstance(t, dict) or not {"input", "output"} <= t.keys():
            raise where.error(f"{field}[{i}]", 'expected {"input", "output", "testtype"}')
        kinds.add(str(t.get("testtype", "stdin")))
    if kinds == {"functional"}:
        fn = _fn_name(fn_name, where, "metadata.func_name")
        cases = []
        for i, t in enumerate(tests):
            args = _lcb_args(t["input"], where, f"{field}[{i}].input")
            try:
                expected = json.loads(t["output"]) if isinstance(t["output"], str) else t["output"]
            except (ValueError, RecursionError):
                raise where.error(f"{field}[{i}].output", "a functional output is not JSON") from None
            cases.append((_dump(args), _dump(expected)))
        return Functional(fn, tuple(cases))
    if kinds != {"stdin"}:
        raise where.error(field, f"unsupported test types {sorted(map(str, kinds))} (stdin or functional)")
    return [
        {
            "stdin": _text(t["input"], where, f"{field}[{i}].input"),
            "stdout": _text(t["output"], where, f"{field}[{i}].output"),
        }
        for i, t in enumerate(tests)
    ]


def codecontests_tests(row: dict, where: Where, include_generated: bool = True) -> list[dict]:
    """CodeContests' public, private and (unless left out) generated tests, all stdin/stdout."""
    groups = (
        ("public_tests", "private_tests", "generated_tests")
        if include_generated
        else ("public_tests", "private_tests")
    )
    tests: list[dict] = []
    for group in groups:
        value = row.get(group)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise where.error(
                group, f"expected an object with input and output lists, got {type(value).__name__}"
            )
        inputs, outputs = value.get("input") or [], value.get("output") or []
        if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
            raise where.error(f"{group}.output", "expected input and output lists of the same length")
        for k, (i, o) in enumerate(zip(inputs, outputs)):
            tests.append(
                {
                    "stdin": _text(i, where, f"{group}.input[{k}]"),
                    "stdout": _text(o, where, f"{group}.output[{k}]"),
                }
            )
    if not tests:
        raise where.error("public_tests", "no tests")
    return tests
