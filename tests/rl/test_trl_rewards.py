"""Our rewards as TRL reward functions, called directly and by TRL's GRPOTrainer on the tiny model."""

from __future__ import annotations

import pytest

from unitrl.rl.trl_rewards import make_reward_fn
from unitrl.sandbox import Sandbox, SandboxConfig


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(workers=2)) as sb:
        yield sb


def test_reward_fn_signature_and_values(sandbox):
    fn = make_reward_fn("coderl", sandbox=sandbox)
    tests = [["assert f(2) == 4", "assert f(0) == 0"]] * 3
    completions = [
        [{"role": "assistant", "content": "```python\ndef f(x):\n    return 2 * x\n```"}],  # chat format
        "def f(x):\n    return x + 1\n",
        "def f(x) return",
    ]
    got = fn(
        prompts=["double x"] * 3,
        completions=completions,
        completion_ids=[[1]] * 3,
        tests=tests,
        entry_point=["f"] * 3,
        task_id=["a", "a", "a"],
    )
    assert got == [1.0, -0.3, -1.0]
    assert fn.__name__ == "unitrl_coderl"


def test_grpo_trainer_runs_with_our_reward(sandbox, tiny_policy_dir, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    calls = []
    inner = make_reward_fn("pass_rate", sandbox=sandbox)

    def reward(prompts, completions, completion_ids=None, **columns):
        calls.append(sorted(columns))
        return inner(prompts, completions, completion_ids, **columns)

    data = Dataset.from_list(
        [
            {
                "prompt": f"Write f(x) returning x + {k}.",
                "tests": [f"assert f(1) == {1 + k}"],
                "entry_point": "f",
                "task_id": f"t{k}",
            }
            for k in range(4)
        ]
    )
    args = GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
    )
    trainer = GRPOTrainer(model=str(tiny_policy_dir), reward_funcs=[reward], train_dataset=data, args=args)
    trainer.train()
    assert calls and {"tests", "entry_point", "task_id"} <= set(calls[0])
    assert trainer.state.global_step == 1
