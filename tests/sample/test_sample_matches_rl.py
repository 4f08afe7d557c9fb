"""`unitrl sample` and `unitrl rl` show a model the same prompt and take the same program from its answer.

Both stages run as they do for a user, each with its own default settings, on the tiny chat model and on
a copy of it without a chat template: the prompt token ids must be identical, and so must the program
each stage takes from the same greedy answer (sample's stored record, RL's rollout).
"""

from __future__ import annotations

import shutil

import pytest
import torch

from unitrl.models.backends import HFBackend
from unitrl.records import Problem, read_samples, write_records
from unitrl.rl.batches import policy_inputs, program_of
from unitrl.rl.config import RLConfig
from unitrl.rl.rollout import generate_hf
from unitrl.sample.cli import SampleConfig, run_sample
from unitrl.sample.cli import policy_inputs as sample_inputs

PROBLEMS = [
    Problem("code", 'def add(a, b):\n    """Return a + b."""\n', "add", ["assert add(1, 2) == 3"]),
    Problem(
        "text", "Return the larger of a and b.", "big", ["assert big(1, 2) == 2", "assert big(3, 0) == 3"]
    ),
    Problem("io", "Read two integers and print their sum.", None, [{"stdin": "1 2\n", "stdout": "3\n"}]),
]


@pytest.fixture(scope="module", params=["chat", "completion"])
def model_dir(request, tiny_policy_dir, tmp_path_factory):
    """(the format `auto` must resolve to, the model folder)."""
    if request.param == "chat":
        return "chat", tiny_policy_dir
    plain = tmp_path_factory.mktemp("no-template")
    shutil.copytree(tiny_policy_dir, plain, dirs_exist_ok=True)
    for template in plain.glob("chat_template.*"):
        template.unlink()
    return "completion", plain


def test_sample_and_rl_give_identical_prompts_and_programs(tmp_path, model_dir):
    expected_fmt, model_dir = model_dir
    write_records(tmp_path / "p.jsonl", PROBLEMS)
    sample_cfg = SampleConfig(problems=str(tmp_path / "p.jsonl"), model=str(model_dir), out=str(tmp_path / "s.jsonl"),
                              n=0, greedy=True, max_new_tokens=24, device="cpu", prompts_per_call=1)  # fmt: skip
    rl_cfg = RLConfig(problems=sample_cfg.problems, model=str(model_dir), max_new_tokens=24, device="cpu")

    backend = HFBackend(str(model_dir), device="cpu")
    fmt, rl_ids = policy_inputs(backend.tokenizer, PROBLEMS, rl_cfg.prompt_format, rl_cfg.show_test)
    sample_fmt, sample_ids = sample_inputs(backend, sample_cfg, PROBLEMS)
    assert (sample_fmt, sample_ids) == (fmt, rl_ids)
    assert fmt == expected_fmt
    if fmt == "chat":  # the chat prompt shows the first test and only that one
        text = backend.tokenizer.decode(rl_ids[1])
        assert "assert big(1, 2) == 2" in text and "assert big(3, 0)" not in text

    run_sample(sample_cfg)
    stored = {s.task_id: s for s in read_samples(tmp_path / "s.jsonl")}
    torch.manual_seed(0)
    for problem, ids in zip(PROBLEMS, rl_ids):
        [text] = generate_hf(backend.model, backend.tokenizer, [ids], 1, 24, greedy=True).texts
        assert program_of(problem, text, fmt) == stored[problem.task_id].program(problem), problem.task_id
