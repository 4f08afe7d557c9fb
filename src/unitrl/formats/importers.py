"""APPS, LiveCodeBench and CodeContests rows -> unitrl `Problem`s, from a file or a Hugging Face dataset.

Rows come from a JSONL/Parquet file (`--in`) or, when the source is not a file, from
`datasets.load_dataset(source, split=...)` (a hub id on a user's machine, or a local dataset folder).
APPS: problem_id, question, input_output, solutions, starter_code, difficulty, url. LiveCodeBench:
question_id, question_title, question_content, starter_code, public_test_cases, private_test_cases
(compressed), metadata (`func_name`), platform, contest_date, difficulty. CodeContests: name,
description, public/private/generated_tests, solutions, difficulty, source. Tests are parsed by
`unitrl.formats.apps`; functional problems get assert tests, the rest stdin/stdout tests. The prompt is
the question, with the starter code under it when there is one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from unitrl.errors import UserError
from unitrl.formats.apps import (
    Functional,
    Where,
    apps_tests,
    codecontests_tests,
    decode_lcb_private,
    lcb_tests,
)
from unitrl.jsonl import bad_record, iter_json_lines
from unitrl.records import Problem

PYTHON3 = 3  # CodeContests' language id of Python 3 solutions


def iter_rows(source: str, split: str = "train") -> Iterator[tuple[Where, Any]]:
    """(where, row) for each row of a JSONL/Parquet file, or of a Hugging Face dataset's split."""
    path = Path(source)
    if path.is_file() or source.endswith((".jsonl", ".jsonl.gz", ".json", ".parquet")):
        for line, row in iter_json_lines(path):
            yield Where(str(path), line), row
        return
    try:
        import datasets
    except ImportError:
        raise UserError("loading a dataset id needs the `datasets` package (pip install datasets)") from None
    try:
        rows = datasets.load_dataset(source, split=split)
    except Exception as exc:  # noqa: BLE001 - the hub, the network or the files: report it as one line
        raise UserError(f"cannot load the dataset: {type(exc).__name__}: {exc}"[:300], path=source) from None
    for i, row in enumerate(rows):
        yield Where(f"{source}[{split}]", i + 1), row


def _field(row: Any, name: str, where: Where, kind: type | tuple = str, optional: bool = False) -> Any:
    if not isinstance(row, dict):
        raise UserError(f"expected an object, got {type(row).__name__}", path=where.path, line=where.line)
    value = row.get(name)
    if value is None or (optional and value == ""):
        if optional:
            return None
        raise where.error(name, "missing required field")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise where.error(
            name, f"expected {getattr(kind, '__name__', 'a value')}, got {type(value).__name__}"
        )
    return value


def _problem(
    task_id: str, question: str, starter: str | None, tests: list[dict] | Functional, source: str, meta: dict
) -> Problem:
    prompt = question.strip()
    if starter and starter.strip():
        prompt += f"\n\nStarter code:\n```python\n{starter.rstrip()}\n```"
    if isinstance(tests, Functional):
        method = bool(starter) and "class Solution" in starter
        meta = {**meta, "fn_name": tests.fn_name, "call": "method" if method else "function"}
        return Problem(task_id, prompt, tests.fn_name, tests.tests(method), source=source, meta=meta)
    return Problem(task_id, prompt, None, tests, source=source, meta=meta)


def apps_problem(row: Any, where: Where) -> Problem:
    problem_id = _field(row, "problem_id", where, (int, str))
    question = _field(row, "question", where)
    tests = apps_tests(_field(row, "input_output", where, (str, dict)), where)
    starter = _field(row, "starter_code", where, optional=True)
    problem = _problem(
        f"apps/{problem_id}",
        question,
        starter,
        tests,
        "apps",
        {"difficulty": row.get("difficulty") or "", "url": row.get("url") or ""},
    )
    solutions = row.get("solutions")
    try:
        parsed = json.loads(solutions) if isinstance(solutions, str) and solutions.strip() else solutions
    except ValueError:
        raise where.error("solutions", "not JSON") from None
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], str):
        problem.reference = parsed[0]
    return problem


def livecodebench_problem(row: Any, where: Where) -> Problem:
    question_id = _field(row, "question_id", where, (str, int))
    question = _field(row, "question_content", where)
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata.strip() else {}
        except ValueError:
            raise where.error("metadata", "not JSON") from None
    tests: list[Any] = []
    for name in ("public_test_cases", "private_test_cases"):
        raw = row.get(name)
        if isinstance(raw, str) and raw.strip():
            tests += decode_lcb_private(raw, where, name)
        elif isinstance(raw, list):
            tests += raw
        elif raw not in (None, ""):
            raise where.error(name, f"expected text or a list, got {type(raw).__name__}")
    parsed = lcb_tests(
        tests, metadata.get("func_name") if isinstance(metadata, dict) else None, where, "test_cases"
    )
    keep = ("question_title", "platform", "contest_id", "contest_date", "difficulty")
    meta = {k: str(row[k]) for k in keep if row.get(k) is not None}
    meta["question_id"] = str(question_id)
    return _problem(
        f"lcb/{question_id}", question, row.get("starter_code") or None, parsed, "livecodebench", meta
    )


def codecontests_problem(row: Any, where: Where, include_generated: bool = True) -> Problem:
    name = _field(row, "name", where)
    description = _field(row, "description", where)
    problem = _problem(
        f"codecontests/{name}",
        description,
        None,
        codecontests_tests(row, where, include_generated),
        "codecontests",
        {"difficulty": str(row.get("difficulty", "")), "origin": str(row.get("source", ""))},
    )
    solutions = row.get("solutions") or {}
    if isinstance(solutions, dict):
        for lang, code in zip(solutions.get("language") or [], solutions.get("solution") or []):
            if lang == PYTHON3 and isinstance(code, str):
                problem.reference = code
                break
    return problem


FORMAT_LOADERS: dict[str, Callable[[Any, Where], Problem]] = {
    "apps": apps_problem,
    "livecodebench": livecodebench_problem,
    "codecontests": codecontests_problem,
}


def load_format(fmt: str, source: str, split: str = "train", include_generated: bool = True) -> list[Problem]:
    """Every row of `source` (file or dataset id) as a Problem; task_ids must be unique."""
    make = FORMAT_LOADERS[fmt]
    if fmt == "codecontests":
        make = functools.partial(codecontests_problem, include_generated=include_generated)
    problems: list[Problem] = []
    seen: dict[str, Where] = {}
    for where, row in iter_rows(source, split):
        try:
            problem = make(row, where)
        except UserError as exc:  # fails the command, or with --on-bad-record skip is reported and dropped
            bad_record(exc)
            continue
        if problem.task_id in seen:
            first = seen[problem.task_id].line
            bad_record(
                where.error("task_id", f"duplicate task_id {problem.task_id!r} (first on line {first})")
            )
            continue
        seen[problem.task_id] = where
        problems.append(problem)
    if not problems:
        raise UserError("no rows", path=source)
    return problems
