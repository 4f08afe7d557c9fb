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
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import Any

from unitrl.records import Problem
from unitrl.rl.rewards import compute_rewards, parse_reward_spec

_SHARED: dict[str, Any] = {}


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


def make_reward_fn(reward: str = "binary", sandbox=None, prompt_style: str = "auto") -> Callable[..., list]:
    terms = parse_reward_spec(reward)

    def reward_fn(
        prompts: list, completions: list, completion_ids: list | None = None, **columns: Any
    ) -> list:
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
        rewards, _ = compute_rewards(terms, sandbox or shared_sandbox(), problems, programs)
        return rewards

    reward_fn.__name__ = "unitrl_" + "".join(ch if ch.isalnum() else "_" for ch in reward)
    return reward_fn
