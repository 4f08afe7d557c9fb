"""The SandboxFusion subset verl calls: `POST /run_code` and `POST /submit`, Python only.

`/run_code` `{code, language, stdin?, compile_timeout, run_timeout, memory_limit_MB, files, fetch_files}`
runs `code` as `__main__` with `stdin` in one sandbox child and answers `{status: Success | Failed |
SandboxError, message, compile_result: null, run_result: {status: Finished | TimeLimitExceeded,
execution_time, return_code, stdout, stderr}, executor_pod_name, files}`. It judges nothing: verl
compares stdout itself, and in its assert mode counts a clean exit as a pass, so a program that calls
`sys.exit(0)` before the asserts "passes" there. What differs from SandboxFusion: `run_timeout` is
CPU seconds per run (wall limit = timeout x wall_factor + 0.5), capped by the server;
`memory_limit_MB` is ignored (the server's `--memory-mb` applies to every program); `files` and
`fetch_files` must be empty; stderr is merged into the captured stdout, `stderr` holds the exception
summary only; a program that exits through `sys.exit` has its stdout dropped by the sandbox.

`/submit` `{dataset, id, completion, config: {language?, run_timeout?, provided_data?}}` grades a
completion against tests with unitrl's trusted judge (every test, values compared outside the
program), not by exit code: `provided_data` in SandboxFusion's CommonOJ layout (`test: [{input:
{stdin}, output: {stdout}}]`), MBPP's (`test_list`, `test_setup_code`), HumanEval's (`test`,
`entry_point`, `prompt`) or unitrl's (`tests`, `entry_point`); without it, `id` is a task_id of the
server's `--problems`. Answer: `{id, accepted, extracted_code, full_code, test_code, tests: [{passed,
exec_info, test_info}], extracted_type, extra}`. The native `/grade` endpoint returns the same
verdicts as full records, in batches: prefer it.
"""

from __future__ import annotations

from typing import Any

from unitrl.errors import UserError
from unitrl.eval.importers import tests_from_check
from unitrl.records import Problem, Sample, TestResult, extract_code, record_from_dict
from unitrl.sandbox.grade import build_job, judge_job
from unitrl.sandbox.jobs import Job, Step, StepOutcome

PYTHON = ("python", "python3")


def sandbox_error(message: str) -> dict:
    return {
        "status": "SandboxError",
        "message": message,
        "compile_result": None,
        "run_result": None,
        "executor_pod_name": None,
        "files": {},
    }


def _exit_code(error: str) -> int:
    """The process exit code of a `SystemExit: <repr>` detail, as the interpreter would set it."""
    value = error.partition(":")[2].strip()
    if value in ("None", "0"):
        return 0
    try:
        return int(value) & 0xFF
    except ValueError:
        return 1  # SystemExit("message") prints the message and exits 1


def run_result(status: str, seconds: float, stdout: str | None, error: str) -> dict:
    """A `run_result` object and the top-level status for one sandbox outcome."""
    run = {
        "status": "Finished",
        "execution_time": seconds,
        "return_code": 0,
        "stdout": stdout or "",
        "stderr": "",
    }
    if status == "timeout":
        run.update(status="TimeLimitExceeded", return_code=None, stderr=error)
    elif status == "error" and error.startswith("SystemExit:"):
        run.update(return_code=_exit_code(error), stderr=error)
    elif status not in ("ok", "pass"):
        run.update(return_code=1, stderr=error or status)
    top = "Success" if run["status"] == "Finished" and run["return_code"] == 0 else "Failed"
    return {"status": top, "message": "", "compile_result": None, "run_result": run, "executor_pod_name": None,
            "files": {}}  # fmt: skip


def run_code_answer(outcome: StepOutcome) -> dict:
    if outcome.status == "infrastructure-error":
        return sandbox_error(outcome.error)
    return run_result(outcome.status, outcome.duration, outcome.stdout, outcome.error)


def parse_run_code(body: Any, max_timeout: float) -> tuple[Job | None, dict | None, float]:
    """(job, None, run_timeout) for a request this server runs, or (None, SandboxError answer, 0) for
    one it cannot (another language, files); a malformed request is a UserError (HTTP 400)."""
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise UserError("expected a JSON object with a 'code' string", path="request", field="code")
    language = body.get("language")
    if not isinstance(language, str):
        raise UserError("expected a language name", path="request", field="language")
    if language not in PYTHON:
        return None, sandbox_error(f"unitrl serve runs Python only (language {language!r})"), 0.0
    if body.get("files") or body.get("fetch_files"):
        return None, sandbox_error("unitrl serve does not support 'files' or 'fetch_files'"), 0.0
    stdin = body.get("stdin") or ""
    run_timeout = body.get("run_timeout", 10)
    if not isinstance(stdin, str):
        raise UserError("expected a string or null", path="request", field="stdin")
    if not isinstance(run_timeout, int | float) or isinstance(run_timeout, bool) or not 0 < run_timeout < 1e9:
        raise UserError("expected a positive number of seconds", path="request", field="run_timeout")
    timeout = min(float(run_timeout), max_timeout)
    return Job(program=body["code"], steps=[Step("stdio", stdin=stdin)], timeout=timeout), None, timeout


# ---------------------------------------------------------------------------------------------- submit


def submit_problem(body: Any, known: dict[str, Problem]) -> tuple[Problem, str]:
    """(problem, program) of a /submit request."""
    if not isinstance(body, dict) or not isinstance(body.get("completion"), str):
        raise UserError(
            "expected a JSON object with a 'completion' string", path="request", field="completion"
        )
    config = body.get("config") or {}
    if not isinstance(config, dict):
        raise UserError("expected an object", path="request", field="config")
    if config.get("language") not in (None, *PYTHON):
        raise UserError(
            f"unitrl serve grades Python only, not {config['language']!r}", field="config.language"
        )
    ident = body.get("id")
    data = config.get("provided_data")
    if data is None:
        if str(ident) not in known:
            raise UserError(f"no provided_data and id {ident!r} is not a task_id of --problems", field="id")
        problem = known[str(ident)]
    elif isinstance(data, dict):
        problem = problem_from_provided(data, str(ident))
    else:
        raise UserError(
            "expected an object (one problem's data)", path="request", field="config.provided_data"
        )
    return problem, Sample(problem.task_id, completion=body["completion"]).program(problem)


def problem_from_provided(data: dict, ident: str) -> Problem:
    """A problem from `provided_data` in one of the layouts the module docstring lists."""
    where = "request config.provided_data"
    labels = data.get("labels") if isinstance(data.get("labels"), dict) else {}
    obj: dict[str, Any] = {
        "task_id": str(data.get("task_id") or data.get("id") or ident or "submit"),
        "prompt": "",
    }
    test = data.get("test")
    if isinstance(test, list):  # CommonOJ stdin/stdout
        try:
            obj["tests"] = [{"stdin": t["input"]["stdin"], "stdout": t["output"]["stdout"]} for t in test]
        except (KeyError, TypeError):
            raise UserError(
                "expected [{input: {stdin}, output: {stdout}}, ...]", path=where, field="test"
            ) from None
    elif isinstance(data.get("test_list"), list):  # MBPP
        obj["tests"] = data["test_list"]
        setup = data.get("test_setup_code", labels.get("test_setup_code"))
        if isinstance(setup, str) and setup.strip():
            obj["meta"] = {"setup_code": setup}
    elif isinstance(test, str) and isinstance(data.get("entry_point"), str):  # HumanEval
        obj.update(tests=tests_from_check(test, data["entry_point"]), entry_point=data["entry_point"])
        obj["prompt"] = data.get("prompt") if isinstance(data.get("prompt"), str) else ""
    elif "tests" in data:  # unitrl's own
        obj.update({k: data[k] for k in ("tests", "entry_point", "meta", "prompt") if k in data})
    else:
        raise UserError("no tests found (test, test_list or tests)", path=where)
    return record_from_dict(Problem, obj, path=where)


def submit_judge(problem: Problem):
    """Judge a /submit job: the Result and the raw outcome (stdout for stdio tests)."""
    return lambda k, raw: (judge_job(problem, raw, 0), raw)


def submit_job(problem: Problem, program: str, timeout: float | None) -> Job:
    return build_job(problem, program, timeout=timeout)


def submit_answer(ident: Any, problem: Problem, completion: str, program: str, graded: tuple) -> dict:
    result, raw = graded
    tests = [
        {
            "passed": t.status == "pass",
            "exec_info": _test_exec_info(t, outcome),
            "test_info": _test_info(problem, i),
        }
        for i, (t, outcome) in enumerate(zip(result.tests, raw.steps))
    ]
    return {
        "id": ident,
        "accepted": result.passed,
        "extracted_code": extract_code(completion),
        "full_code": program,
        "test_code": None,
        "tests": tests,
        "extracted_type": _extracted_type(completion),
        "extra": {"pass_rate": result.pass_rate, "status": result.status},
    }


def _test_exec_info(test: TestResult, outcome: StepOutcome) -> dict:
    if test.status == "infrastructure-error":
        return sandbox_error(test.detail)
    if test.status == "fail":
        info = run_result("error", test.duration, outcome.stdout, test.detail or "test failed")
        info["run_result"]["return_code"] = 1
        return info
    return run_result(test.status, test.duration, outcome.stdout, test.detail)


def _test_info(problem: Problem, i: int) -> dict:
    test = problem.tests[i]
    if isinstance(test, dict):
        return {"input": {"stdin": test.get("stdin", "")}, "output": {"stdout": test.get("stdout", "")}}
    return {"test": test}


def _extracted_type(completion: str) -> str:
    """SandboxFusion's names for where the code came from."""
    if not completion.strip():
        return "empty"
    fences = completion.count("```")
    return "heuristic" if fences == 0 else "fenced" if fences >= 2 else "incomplete_fenced"
