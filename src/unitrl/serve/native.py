"""The native batch endpoint, `POST /grade`: many (problem, program) pairs in, `unitrl exec` records out.

Request: `{"samples": [Sample, ...], "problems"?: [Problem, ...], "timeout"?: s, "deadline"?: s}`.
Samples and problems are the records of `unitrl.records`, checked the same way as in files (a bad one
is a 400 naming `samples[3].task_id`). A sample's task_id names a problem of the request, else one of
the server's `--problems` file. A missing sample_id becomes the sample's order within its task, as in
a samples file. `timeout` is CPU seconds per test (capped by the server), `deadline` the seconds the
caller waits (capped too). Answer: `{"results": [Result, ...]}` in sample order: the same rows
`unitrl exec` writes, every test of every problem judged; an `infrastructure-error` status means the
sandbox failed, never the program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from unitrl.errors import UserError
from unitrl.records import Problem, Result, Sample, record_from_dict
from unitrl.sandbox.grade import build_job, judge_job
from unitrl.sandbox.jobs import Job, JobResult

Item = tuple[Problem, str, int | str]  # (problem, program, sample_id)


def request_problems(body: dict, field: str = "problems") -> dict[str, Problem]:
    """The request's own problems by task_id (each checked like a line of a problems file)."""
    raw = body.get(field, [])
    if not isinstance(raw, list):
        raise UserError("expected a list of problem records", path="request", field=field)
    out: dict[str, Problem] = {}
    for i, obj in enumerate(raw):
        problem = record_from_dict(Problem, obj, path=f"request {field}[{i}]")
        if problem.task_id in out:
            raise UserError(
                f"duplicate task_id {problem.task_id!r}", path=f"request {field}[{i}]", field="task_id"
            )
        out[problem.task_id] = problem
    return out


def number_field(body: dict, name: str, cap: float) -> float | None:
    """An optional positive number, capped at `cap`."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < float("inf"):
        raise UserError("expected a positive number of seconds", path="request", field=name)
    return min(float(value), cap)


def parse_grade_request(body: Any, known: dict[str, Problem]) -> list[Item]:
    """(problem, program, sample_id) for every sample of a /grade request, in order."""
    if not isinstance(body, dict):
        raise UserError("expected a JSON object with a 'samples' list", path="request")
    unknown = set(body) - {"samples", "problems", "timeout", "deadline"}
    if unknown:
        raise UserError(
            "unknown field (allowed: samples, problems, timeout, deadline)", field=sorted(unknown)[0]
        )
    problems = {**known, **request_problems(body)}
    raw = body.get("samples")
    if not isinstance(raw, list):
        raise UserError("expected a list of sample records", path="request", field="samples")
    items: list[Item] = []
    order: dict[str, int] = {}
    for i, obj in enumerate(raw):
        sample = record_from_dict(Sample, obj, path=f"request samples[{i}]")
        problem = problems.get(sample.task_id)
        if problem is None:
            where = "the request's problems or the server's --problems file"
            raise UserError(f"task_id {sample.task_id!r} is in neither {where}", path=f"request samples[{i}]")
        n = order[sample.task_id] = order.get(sample.task_id, -1) + 1
        sample_id = n if sample.sample_id is None else sample.sample_id
        items.append((problem, sample.program(problem), sample_id))
    return items


def grade_jobs(items: list[Item], timeout: float | None) -> list[Job]:
    return [build_job(problem, program, timeout=timeout) for problem, program, _ in items]


def result_judge(items: list[Item]) -> Callable[[int, JobResult], Result]:
    """Judge job k of a ticket as `unitrl exec` does (in the trusted parent)."""
    return lambda k, raw: judge_job(items[k][0], raw, items[k][2])


def grade_items(service: Any, items: list[Item], timeout: float | None, deadline: float) -> list[Result]:
    """Grade items on a running GradingService from a caller's thread, blocking until they are judged."""
    return service.wait(service.submit(grade_jobs(items, timeout), result_judge(items), deadline))


_RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(Result))


def result_row(result: Result) -> dict:
    """A Result as the JSON row `unitrl exec` writes (dataclasses.asdict without its deep copies)."""
    row = {name: getattr(result, name) for name in _RESULT_FIELDS}
    row["tests"] = [{"status": t.status, "duration": t.duration, "detail": t.detail} for t in result.tests]
    return row
