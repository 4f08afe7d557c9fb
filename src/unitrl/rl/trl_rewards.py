"""Our rewards as plain TRL reward functions, for users who train with TRL's GRPOTrainer/RLOOTrainer.

`make_reward_fn("binary")` returns `f(prompts, completions, completion_ids=None, **columns) -> list[float |
None]`, the TRL 1.16 custom-reward signature (REFERENCE.md section 4): every dataset column besides
`prompt` arrives as a keyword argument. The dataset needs a `tests` column (list of assert strings) and
`entry_point`; `task_id` and `reference` are used when present. Prompts and completions may be plain
strings or chat messages. Programs run in our sandbox (one shared sandbox per process unless one is
given); a sample whose grading hit an infrastructure error gets None, which TRL ignores.

    from trl import GRPOConfig, GRPOTrainer
    from unitrl.rl.trl_rewards import make_reward_fn
    trainer = GRPOTrainer(model=..., reward_funcs=[make_reward_fn("coderl")], train_dataset=ds, args=GRPOConfig(...))

`make_async_reward_fn` gives the same reward as an `async def`, which TRL awaits on its own event loop
alongside other async rewards: with `url=` it grades on a running `unitrl serve` (its native `/grade`
endpoint, so the sandbox can live on another machine and the trainer's process waits without
blocking), otherwise on the in-process sandbox in a thread. Calls on one sandbox are serialized by a
lock, since a sandbox pool is driven by one thread at a time.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Callable
from typing import Any

from unitrl.records import Problem
from unitrl.rl.rewards import combine, compute_rewards, parse_reward_spec

_SHARED: dict[str, Any] = {}
_LOCKS: dict[int, threading.Lock] = {}  # id(sandbox) -> the lock every reward call on it takes
_LOCKS_GUARD = threading.Lock()


def shared_sandbox(workers: int = 2, timeout: float = 3.0):
    """One sandbox per process, closed at exit."""
    if "sandbox" not in _SHARED:
        from unitrl.sandbox import Sandbox, SandboxConfig

        sb = Sandbox(SandboxConfig(workers=workers, timeout=timeout))
        _SHARED["sandbox"] = sb
        atexit.register(sb.close)
    return _SHARED["sandbox"]


def message_text(x: Any) -> str:
    """A plain string, or the content of the last message of a chat."""
    if isinstance(x, list):
        return str(x[-1].get("content", "")) if x else ""
    return str(x)


def sandbox_lock(sandbox) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(sandbox), threading.Lock())


def problems_and_programs(
    prompts: list, completions: list, columns: dict, prompt_style: str
) -> tuple[list[Problem], list[str]]:
    """One Problem per row from the dataset columns, and the program each completion stands for."""
    from unitrl.rl.batches import program_of

    n = len(completions)
    problems = [
        Problem(
            task_id=str(columns.get("task_id", [f"trl/{i}" for i in range(n)])[i]),
            prompt=message_text(prompts[i]),
            entry_point=columns.get("entry_point", [None] * n)[i],
            tests=list(columns["tests"][i]),
            reference=columns.get("reference", [None] * n)[i],
        )
        for i in range(n)
    ]
    programs = [program_of(p, message_text(c), prompt_style) for p, c in zip(problems, completions)]
    return problems, programs


def _name(reward: str) -> str:
    return "unitrl_" + "".join(ch if ch.isalnum() else "_" for ch in reward)


def make_reward_fn(reward: str = "binary", sandbox=None, prompt_style: str = "auto") -> Callable[..., list]:
    terms = parse_reward_spec(reward)

    def reward_fn(
        prompts: list, completions: list, completion_ids: list | None = None, **columns: Any
    ) -> list:
        problems, programs = problems_and_programs(prompts, completions, columns, prompt_style)
        sb = sandbox or shared_sandbox()
        with sandbox_lock(sb):
            rewards, _ = compute_rewards(terms, sb, problems, programs)
        return rewards

    reward_fn.__name__ = _name(reward)
    return reward_fn


def make_async_reward_fn(
    reward: str = "binary",
    sandbox=None,
    url: str | None = None,
    token: str | None = None,
    prompt_style: str = "auto",
    timeout: float = 600.0,
) -> Callable[..., Any]:
    """The reward as `async def f(prompts, completions, completion_ids=None, **columns)`: on a running
    `unitrl serve` at `url` (test rewards only), else on the in-process sandbox in a worker thread."""
    terms = parse_reward_spec(reward)
    if url is None:
        sync_fn = make_reward_fn(reward, sandbox, prompt_style)

        async def local_fn(
            prompts: list, completions: list, completion_ids: list | None = None, **columns: Any
        ):
            return await asyncio.to_thread(sync_fn, prompts, completions, completion_ids, **columns)

        local_fn.__name__ = _name(reward)
        return local_fn
    if any(t.name == "rm" for t in terms):
        raise ValueError("a reward model term (rm:PATH) cannot be computed by a remote unitrl serve")
    from unitrl.sandbox.remote import ServeClient

    client = ServeClient(url, token=token, timeout=timeout)

    async def remote_fn(prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        problems, programs = problems_and_programs(prompts, completions, columns, prompt_style)
        unique: dict[str, Problem] = {}
        samples = []
        for i, (problem, program) in enumerate(zip(problems, programs)):
            key = problem.task_id
            if key in unique and unique[key].tests != problem.tests:  # same id, other tests: keep apart
                key = problem.task_id = f"{key}#{i}"
            unique.setdefault(key, problem)
            samples.append({"task_id": key, "sample_id": i, "solution": program})
        results = await client.agrade(samples, list(unique.values()))
        return combine(terms, results)

    remote_fn.__name__ = _name(reward)
    return remote_fn
