"""AceCode-87K rows in and out, so ACECODER's dataset feeds our stages and our problems feed its code.
The one parser of AceCode rows: `unitrl import acecode`, `unitrl synth` on a rows file and `unitrl export`
all go through it.

A row is {id, source, question, test_cases, inferences, context_messages} (docs/REFERENCE.md section 1).
In: `question` becomes the prompt, `test_cases` the tests, the function the tests call the entry point
(the one the reference defines when a test calls several), the first inference with pass_rate 1.0 (if
any) the reference, and the row's `source` (oss, evol...) is kept as `meta.origin`. Out: the reverse; the
reference travels as an inference with pass_rate 1.0 (model_name "reference"), so a round trip keeps
it, and `source` is the origin the problem came with (else "unitrl").
"""

from __future__ import annotations

import ast
import builtins
from collections import Counter
from pathlib import Path
from typing import Any

from unitrl.errors import UserError
from unitrl.jsonl import row_field
from unitrl.records import Problem, extract_code, iter_json_lines, read_problems

REFERENCE_MODEL = "reference"  # model_name of the inference that carries a problem's reference


def called_function(test: str, defined: set[str] | None = None) -> str | None:
    """The function a test is about: the first call (in source order) to a name the program defines,
    else to a name that is not a builtin (so `assert set(f(x)) == ...` gives `f`, not `set`)."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    calls = sorted(
        (n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    names = [c.func.id for c in calls]  # type: ignore[attr-defined]
    for name in names:
        if defined and name in defined:
            return name
    for name in names:
        if not hasattr(builtins, name):
            return name
    return None


def defined_functions(code: str | None) -> set[str]:
    """Names of the top-level functions `code` defines (none when it does not parse)."""
    try:
        tree = ast.parse(code or "")
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def entry_point_of(tests: list[str], code: str | None = None) -> str | None:
    """The function most tests are about (names `code` defines first)."""
    defined = defined_functions(code)
    names = Counter(name for t in tests if (name := called_function(t, defined)))
    return names.most_common(1)[0][0] if names else None


def row_to_problem(row: Any, path: str = "<rows>", line: int | None = None) -> Problem:
    if not isinstance(row, dict):
        raise UserError("expected an object (an AceCode row)", path=path, line=line)
    task_id = row_field(row, "id", (str, int), path, line)
    question = row_field(row, "question", (str,), path, line)
    tests = row.get("test_cases")
    if not isinstance(tests, list | tuple) or not all(isinstance(t, str) for t in tests):
        raise UserError("expected a list of strings", path=path, line=line, field="test_cases")
    if not tests:
        raise UserError("no tests", path=path, line=line, field="test_cases")
    inferences = row.get("inferences")  # optional; anything but a list of dicts holds no reference
    inferences = list(inferences) if isinstance(inferences, list | tuple) else []
    reference = next(
        (
            extract_code(inf["completion"])
            for inf in inferences
            if isinstance(inf, dict)
            and inf.get("pass_rate") == 1.0
            and isinstance(inf.get("completion"), str)
        ),
        None,
    )
    entry = entry_point_of(list(tests), reference)
    if entry is None:
        raise UserError(
            "cannot find the function under test in the tests", path=path, line=line, field="test_cases"
        )
    origin = row.get("source")
    return Problem(
        task_id=str(task_id),
        prompt=question,
        entry_point=entry,
        tests=list(tests),
        reference=reference,
        source="acecode",
        meta={"origin": origin if isinstance(origin, str) else "", "n_inferences": len(inferences)},
    )


def problem_to_row(p: Problem) -> dict[str, Any]:
    if p.is_stdio:
        raise UserError(f"problem {p.task_id} has stdin/stdout tests, which AceCode rows can not hold")
    origin = p.meta.get("origin") or (p.source if p.source and p.source != "acecode" else "unitrl")
    inferences = []
    if p.reference:
        completion = f"```python\n{p.reference.rstrip()}\n```"
        inferences = [
            {"model_name": REFERENCE_MODEL, "completion_id": 0, "completion": completion, "pass_rate": 1.0}
        ]
    return {
        "id": p.task_id,
        "source": origin,
        "question": p.prompt,
        "test_cases": [t for t in p.tests if isinstance(t, str)],
        "inferences": inferences,
        "context_messages": [{"role": "user", "content": p.prompt}],
    }


def is_acecode_row(row: Any) -> bool:
    return isinstance(row, dict) and "question" in row and "test_cases" in row and "task_id" not in row


def read_any_problems(path: str | Path) -> list[Problem]:
    """Our Problem records, or AceCode rows converted, told apart by the first row's fields."""
    first = next(iter_json_lines(path), None)
    if first is None or not is_acecode_row(first[1]):
        return read_problems(path)
    return [row_to_problem(row, str(path), line) for line, row in iter_json_lines(path)]
