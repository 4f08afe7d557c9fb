"""verl's `custom_reward_function`: unitrl's sandbox scores every rollout on ALL of its tests.

    custom_reward_function.path=$(python -c "import unitrl.integrations.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score        # naive or batch reward manager
    custom_reward_function.name=compute_score_async  # verl's async reward loop, awaited directly

`compute_score` serves both of verl's calling conventions: the naive managers call it with
`data_source, solution_str, ground_truth, extra_info` and get a float; the batch manager calls it with
the plural names (`data_sources, solution_strs, ground_truths, extra_infos`) and gets a list, graded as
one sandbox batch. `compute_score_batch` is the plural form by name, `compute_score_async` the single
one as a coroutine. `reward_kwargs` choose the score: `reward=binary` (1.0 when every test passes, the
default) or `pass_rate`; `return_dict=true` returns `{"score", "pass_rate", "passed", "tests"}` (verl
logs the extra keys); `timeout` is CPU seconds per test. The program is taken from the response as
`unitrl sample` takes it from a chat answer (`unitrl.policy_io`); for stdin/stdout problems the whole
first code block is kept, since a script's `if __name__ == "__main__":` block is how it runs. Ground
truth: unitrl's tests or the APPS/LiveCodeBench layout (`unitrl.formats.ground_truth`).

Grading runs on a module-level warm sandbox pool behind a batching queue (`unitrl.serve.service`),
started on first use and closed at exit, so concurrent calls from verl's threads share batches; or,
when `UNITRL_URL` is set, on a running `unitrl serve` through its native `/grade` endpoint
(`UNITRL_TOKEN` if set). `UNITRL_WORKERS` (0 = one per core), `UNITRL_TIMEOUT` (3.0 CPU s per test) and
`UNITRL_DEADLINE` (600 s) set the local pool. A sandbox failure raises instead of inventing a reward.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Sequence
from typing import Any

from unitrl.formats.ground_truth import is_stdio, problem_for
from unitrl.policy_io import extract_from_chat
from unitrl.records import Problem, Result, Sample

REWARDS = ("binary", "pass_rate")
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def _service() -> tuple[Any, float]:
    """The module's grading service (warm pool), started once per process, and its deadline."""
    with _LOCK:
        if "service" not in _STATE:
            from unitrl.serve.service import service_from_env

            _STATE["service"], _STATE["deadline"] = service_from_env()
            atexit.register(close)
        return _STATE["service"], _STATE["deadline"]


def close() -> None:
    """Close the warm pool (also run at exit); the next call starts a new one."""
    with _LOCK:
        service = _STATE.pop("service", None)
    if service is not None:
        service.close(5.0)


def program_from(solution_str: str, stdio: bool) -> str:
    """The program in a response: the first code block, cut like a chat answer (policy_io's rule: a
    stdin/stdout script is kept whole)."""
    return extract_from_chat(solution_str, stdio)


def _items(solution_strs: Sequence[str], ground_truths: Sequence[Any]) -> list[tuple[Problem, str, int]]:
    items = []
    for i, (text, gt) in enumerate(zip(solution_strs, ground_truths, strict=True)):
        program = program_from(str(text or ""), is_stdio(gt))
        items.append((problem_for(gt, program), program, i))
    return items


def _grade_local(items: list[tuple[Problem, str, int]], timeout: float | None) -> list[Result]:
    from unitrl.serve import native

    service, deadline = _service()
    return native.grade_items(service, items, timeout, deadline)


def _remote_request(items: list[tuple[Problem, str, int]]) -> tuple[list[Sample], list[Problem]]:
    problems = {p.task_id: p for p, _, _ in items}
    samples = [Sample(p.task_id, sample_id=i, solution=prog) for p, prog, i in items]
    return samples, list(problems.values())


def _client() -> Any:
    from unitrl.sandbox.remote import ServeClient

    return ServeClient(os.environ["UNITRL_URL"], token=os.environ.get("UNITRL_TOKEN"), timeout=600.0)


def _score(result: Result, reward: str, return_dict: bool) -> float | dict[str, Any]:
    if result.status == "infrastructure-error":
        raise RuntimeError(f"unitrl sandbox failure, no reward: {result.detail or result.status}")
    score = float(result.passed) if reward == "binary" else float(result.pass_rate)
    if not return_dict:
        return score
    return {"score": score, "pass_rate": float(result.pass_rate), "passed": bool(result.passed),
            "tests": len(result.tests)}  # fmt: skip


def _options(kw: dict) -> tuple[str, bool, float | None]:
    reward = str(kw.get("reward", "binary"))
    if reward not in REWARDS:
        raise ValueError(f"unknown reward {reward!r} (known: {', '.join(REWARDS)})")
    timeout = kw.get("timeout")
    return reward, bool(kw.get("return_dict", False)), None if timeout is None else float(timeout)


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    **kw: Any,
) -> list[float | dict[str, Any]]:
    """Scores for a batch (verl's BatchRewardManager), graded together on every test."""
    reward, as_dict, timeout = _options(kw)
    items = _items(solution_strs, ground_truths)
    if os.environ.get("UNITRL_URL"):
        samples, problems = _remote_request(items)
        results = _client().grade(samples, problems, timeout=timeout)
    else:
        results = _grade_local(items, timeout)
    return [_score(r, reward, as_dict) for r in results]


def compute_score(
    data_source: str | None = None,
    solution_str: str | None = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    **kw: Any,
) -> float | dict[str, Any] | list[float | dict[str, Any]]:
    """One score (verl's naive managers), or a list when called with the batch manager's plural names."""
    if "solution_strs" in kw:
        plural = {
            k: kw.pop(k) for k in ("data_sources", "solution_strs", "ground_truths", "extra_infos") if k in kw
        }
        return compute_score_batch(**plural, **kw)
    if solution_str is None or ground_truth is None:
        raise TypeError(
            "compute_score needs solution_str and ground_truth (or solution_strs and ground_truths)"
        )
    return compute_score_batch([data_source or ""], [solution_str], [ground_truth], [extra_info], **kw)[0]


async def compute_score_async(
    data_source: str | None = None,
    solution_str: str | None = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    **kw: Any,
) -> float | dict[str, Any]:
    """`compute_score` as a coroutine (verl's reward loop awaits it): concurrent calls share batches."""
    reward, as_dict, timeout = _options(kw)
    items = _items([solution_str or ""], [ground_truth])
    if os.environ.get("UNITRL_URL"):
        samples, problems = _remote_request(items)
        results = await _client().agrade(samples, problems, timeout=timeout)
    else:
        from unitrl.serve import native

        service, deadline = _service()
        ticket = service.submit(native.grade_jobs(items, timeout), native.result_judge(items), deadline)
        results = await service.wait_async(ticket)
    return _score(results[0], reward, as_dict)
