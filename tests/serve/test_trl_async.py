"""TRL reward functions in `async` form: in-process, and on a real `unitrl serve` over HTTP."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from unitrl.rl.trl_rewards import make_async_reward_fn, make_reward_fn
from unitrl.sandbox import Sandbox, SandboxConfig

TESTS = ["assert f(2) == 4", "assert f(0) == 0"]
COMPLETIONS = [
    [{"role": "assistant", "content": "```python\ndef f(x):\n    return 2 * x\n```"}],
    "def f(x):\n    return x + 1\n",
    "def f(x) return",
    "def f(x):\n    return x * x\n",  # passes both tests of 'a'; under 'b' (other tests) it fails one
]
COLUMNS = {
    "tests": [TESTS, TESTS, TESTS, ["assert f(3) == 6"]],
    "entry_point": ["f"] * 4,
    "task_id": ["a", "a", "a", "a"],  # the last row reuses the id with other tests: kept apart
    "trainer_state": None,  # TRL adds these; they are not dataset columns
    "log_metric": print,
}
PROMPTS = ["double x"] * 4
WANT = [1.0, -0.3, -1.0, -0.3]  # coderl


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(workers=2)) as sb:
        yield sb


def test_sync_reference(sandbox):
    assert make_reward_fn("coderl", sandbox=sandbox)(PROMPTS, COMPLETIONS, None, **COLUMNS) == WANT


def test_async_in_process_matches_and_concurrent_calls_share_the_sandbox(sandbox):
    fn = make_async_reward_fn("coderl", sandbox=sandbox)
    assert inspect.iscoroutinefunction(fn) and fn.__name__ == "unitrl_coderl"

    async def four_at_once():
        return await asyncio.gather(*[fn(PROMPTS, COMPLETIONS, None, **COLUMNS) for _ in range(4)])

    assert asyncio.run(four_at_once()) == [WANT] * 4


def test_async_remote_on_unitrl_serve(serve):
    server = serve("--workers", "2")
    fn = make_async_reward_fn("coderl", url=server.url)
    assert inspect.iscoroutinefunction(fn)
    assert asyncio.run(fn(prompts=PROMPTS, completions=COMPLETIONS, completion_ids=None, **COLUMNS)) == WANT
    with pytest.raises(ValueError, match="rm:PATH"):
        make_async_reward_fn("0.5*binary+0.5*rm:some/model", url=server.url)


def test_grpo_trainer_awaits_the_remote_reward(serve, tiny_policy_dir, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    server = serve("--workers", "2")
    inner = make_async_reward_fn("pass_rate", url=server.url)
    calls = []

    async def reward(prompts, completions, completion_ids=None, **columns):
        calls.append(len(completions))
        return await inner(prompts, completions, completion_ids, **columns)

    rows = [{"prompt": f"Write f(x) returning x + {k}.", "tests": [f"assert f(1) == {1 + k}"], "entry_point": "f",
             "task_id": f"t{k}"} for k in range(4)]  # fmt: skip
    args = GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        report_to="none",
        save_strategy="no",
    )
    trainer = GRPOTrainer(model=str(tiny_policy_dir), reward_funcs=[reward], train_dataset=Dataset.from_list(rows),
                          args=args)  # fmt: skip
    trainer.train()
    assert calls and trainer.state.global_step == 1
