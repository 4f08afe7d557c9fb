"""The `ground_truth` that verl rows carry, written by `unitrl export verl` and read back when scoring.

Written: the JSON text of `{"tests": [...], "entry_point": ..., "meta": {...}}`, unitrl's own tests (assert
strings or {"stdin", "stdout"} objects) and only the meta keys that change grading (MBPP's setup code, a
float tolerance). Read: that, or a bare list of unitrl tests, or the APPS layout verl's code datasets
already use (`{"inputs", "outputs", "fn_name"?}`), or LiveCodeBench's `[{"input", "output"}]` stdin
list, as text or as the decoded object. A functional ground truth is called as `Solution().fn(...)` when
the program defines `class Solution` and no top-level `fn`, as APPS's and verl's own checkers decide.
Parsed text is cached, since a GRPO batch scores the same ground truth once per rollout.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any

from unitrl.formats.apps import Functional, Where, apps_tests, lcb_tests
from unitrl.records import Problem, record_from_dict

GRADING_META = ("setup_code", "float_tolerance")  # Problem.meta keys the sandbox reads
WHERE = Where("ground_truth")


def ground_truth_of(problem: Problem) -> str:
    """The JSON text a verl row carries for a problem: its tests and what grading needs."""
    meta = {k: problem.meta[k] for k in GRADING_META if k in problem.meta}
    return json.dumps(
        {"tests": problem.tests, "entry_point": problem.entry_point, "meta": meta}, ensure_ascii=False
    )


Parsed = tuple[list[Any] | Functional, str | None, dict]  # (tests or a functional spec, entry point, meta)


def _unitrl(obj: dict) -> Parsed:
    unknown = set(obj) - {"tests", "entry_point", "meta", "task_id"}
    if unknown:
        raise WHERE.error(sorted(unknown)[0], "unknown key (allowed: tests, entry_point, meta)")
    row = {
        "task_id": "ground_truth",
        "prompt": "",
        "tests": obj["tests"],
        "entry_point": obj.get("entry_point"),
        "meta": obj.get("meta") or {},
    }
    problem = record_from_dict(Problem, row, path="ground_truth")
    if not problem.tests:
        raise WHERE.error("tests", "no tests")
    return problem.tests, problem.entry_point, problem.meta


def parse_object(obj: Any) -> Parsed:
    """Any accepted layout (already decoded from JSON) -> tests, entry point, meta."""
    if isinstance(obj, dict) and "tests" in obj:
        return _unitrl(obj)
    if isinstance(obj, dict) and "inputs" in obj:
        tests = apps_tests(obj, WHERE, "ground_truth")
        return tests, tests.fn_name if isinstance(tests, Functional) else None, {}
    if isinstance(obj, list) and obj and isinstance(obj[0], dict) and "input" in obj[0]:
        return lcb_tests(obj, None, WHERE, "ground_truth"), None, {}
    if isinstance(obj, list):
        return _unitrl({"tests": obj})
    raise WHERE.error("ground_truth", "expected unitrl tests, the APPS layout {inputs, outputs} or a list")


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Parsed:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WHERE.error("ground_truth", f"not JSON: {exc}"[:200]) from None
    return parse_object(obj)


def parse_ground_truth(gt: Any) -> Parsed:
    """A ground truth as text (cached) or as an object (numpy arrays from a parquet row become lists)."""
    if isinstance(gt, bytes):
        gt = gt.decode("utf-8", errors="replace")
    if isinstance(gt, str):
        return _parse_text(gt)
    return parse_object(_plain(gt))


def _plain(value: Any) -> Any:
    """numpy arrays and scalars (how pandas hands back parquet lists) as Python values."""
    if hasattr(value, "tolist") and not isinstance(value, list | dict | str):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def is_stdio(gt: Any) -> bool:
    """The ground truth holds stdin/stdout tests (the program is a script, not functions)."""
    tests = parse_ground_truth(gt)[0]
    return isinstance(tests, list) and bool(tests) and isinstance(tests[0], dict)


def calls_method(program: str, fn_name: str) -> bool:
    """The program is LeetCode style: a top-level `class Solution` and no top-level function `fn_name`."""
    has_class = re.search(r"^class\s+Solution\b", program, re.M) is not None
    return has_class and re.search(rf"^(?:async\s+)?def\s+{re.escape(fn_name)}\b", program, re.M) is None


def problem_for(gt: Any, program: str) -> Problem:
    """The Problem a program is graded on (shared by calls with the same ground truth: do not mutate);
    its task_id is a hash of the tests, stable across calls and processes."""
    if isinstance(gt, bytes):
        gt = gt.decode("utf-8", errors="replace")
    parsed = parse_ground_truth(gt)
    method = isinstance(parsed[0], Functional) and calls_method(program, parsed[0].fn_name)
    if isinstance(gt, str):
        return _problem_of_text(gt, method)
    return _problem(parsed, method)


@functools.lru_cache(maxsize=4096)
def _problem_of_text(text: str, method: bool) -> Problem:
    return _problem(_parse_text(text), method)


def _problem(parsed: Parsed, method: bool) -> Problem:
    tests, entry_point, meta = parsed
    if isinstance(tests, Functional):
        tests = tests.tests(method)
    digest = hashlib.sha1(json.dumps([tests, entry_point, meta], sort_keys=True, default=str).encode())
    return Problem(f"gt-{digest.hexdigest()[:16]}", "", entry_point, tests, meta=meta)
