"""AceCode-87K rows in and out, so ACECODER's dataset feeds our stages and our problems feed its code.

A row is {id, source, question, test_cases, inferences, context_messages} (REFERENCE.md section 1).
In: `question` becomes the prompt, `test_cases` the tests, the function the tests call the entry point,
and the first inference with pass_rate 1.0 (if any) the reference. Out: the reverse; our reference is
not an inference (inferences are policy samples), so `inferences` is written empty.
"""

from __future__ import annotations

import ast
import builtins
from collections import Counter
from pathlib import Path
from typing import Any

from unitrl.errors import UserError
from unitrl.records import Problem, extract_code, iter_json_lines, read_problems

ACECODE_FIELDS = ("id", "question", "test_cases")


def called_function(tests: list[str]) -> str | None:
    """The function name called most often at the top of the tests' asserts."""
    names: Counter = Counter()
    for t in tests:
        try:
            tree = ast.parse(t)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if not hasattr(builtins, node.func.id):
                    names[node.func.id] += 1
                    break
    return names.most_common(1)[0][0] if names else None


def row_to_problem(row: dict[str, Any], path: str = "<rows>", line: int | None = None) -> Problem:
    for f in ACECODE_FIELDS:
        if f not in row:
            raise UserError("missing AceCode field", path=path, line=line, field=f)
    tests = row["test_cases"]
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise UserError("expected a list of assert strings", path=path, line=line, field="test_cases")
    reference = None
    inferences = row.get("inferences")  # optional; anything but a list of dicts holds no reference
    for inf in inferences if isinstance(inferences, list) else []:
        if isinstance(inf, dict) and inf.get("pass_rate") == 1.0 and isinstance(inf.get("completion"), str):
            reference = extract_code(inf["completion"])
            break
    return Problem(
        task_id=str(row["id"]),
        prompt=str(row["question"]),
        entry_point=called_function(tests),
        tests=list(tests),
        reference=reference,
        source=str(row.get("source", "acecode")),
        meta={"format": "acecode"},
    )


def problem_to_row(p: Problem) -> dict[str, Any]:
    if p.is_stdio:
        raise UserError(f"problem {p.task_id} has stdin/stdout tests, which AceCode rows can not hold")
    return {
        "id": p.task_id,
        "source": p.meta.get("acecode_source", p.source.split(":")[0] if p.source else "unitrl"),
        "question": p.prompt,
        "test_cases": [t for t in p.tests if isinstance(t, str)],
        "inferences": [],
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
