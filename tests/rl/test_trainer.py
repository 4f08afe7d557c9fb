"""The shared RL loop on the tiny curriculum policy: every estimator runs, exact resume, the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from unitrl.rl.config import RLConfig
from unitrl.rl.estimators import ADVANTAGE_ESTIMATORS
from unitrl.rl.trainer import batch_indices, train


def config(curriculum, out, **kw) -> RLConfig:
    base = dict(
        problems=str(curriculum["rl"]),
        model=str(curriculum["model"]),
        out=str(out),
        steps=2,
        prompts_per_step=4,
        samples_per_prompt=4,
        micro_batch=8,
        max_new_tokens=48,
        eval_every=0,
        checkpoint_every=1,
        lr=1e-3,
        threads=2,
    )
    return RLConfig(**{**base, **kw})


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_batch_indices_cover_each_epoch_once():
    first = batch_indices(5, 5, 0, seed=1)
    assert sorted(first) == list(range(5))
    assert batch_indices(5, 4, 2, seed=1) == first[2:] + batch_indices(5, 1, 5, seed=1)
    assert batch_indices(5, 5, 0, seed=1) == first  # a pure function of (seed, position)


@pytest.mark.parametrize("algo", sorted(ADVANTAGE_ESTIMATORS))
def test_every_algo_trains(curriculum, tmp_path, algo):
    reward = "partial" if algo == "actor_critic" else "pass_rate"
    cfg = config(
        curriculum,
        tmp_path / algo,
        algo=algo,
        reward=reward,
        replay_per_step=2,
        ppo_epochs=2 if algo == "ppo" else 1,
        mini_batches=2 if algo == "ppo" else 1,
        eval_problems=str(curriculum["heldout"]),
        eval_limit=4,
        eval_samples=1,
    )
    summary = train(cfg, progress=False)
    assert summary["steps"] == 2 and 0 <= summary["pass1_after"] <= 1
    rows = [json.loads(x) for x in (tmp_path / algo / "metrics.jsonl").read_text().splitlines()]
    assert "eval_pass1" in rows[0] and "eval_pass1" in rows[-1]
    for r in rows[1:]:
        assert math.isfinite(r["pg_loss"]) and math.isfinite(r["grad_norm"]) and r["t_reward"] > 0
    start, end = weights(curriculum["model"]), weights(tmp_path / algo / "final")
    assert any(not torch.equal(start[k], end[k]) for k in start), "parameters did not move"
    assert (tmp_path / algo / "curves.png").stat().st_size > 0
    assert (tmp_path / algo / "config.yaml").exists()


def test_exact_resume_matches_an_uninterrupted_run(curriculum, tmp_path):
    straight = config(curriculum, tmp_path / "a", steps=4, checkpoint_every=2, kl_coef=0.05)
    train(straight, progress=False)
    # the same run stopped after step 2 (as if killed right after its checkpoint), then resumed
    train(config(curriculum, tmp_path / "b", steps=2, checkpoint_every=2, kl_coef=0.05), progress=False)
    train(config(curriculum, tmp_path / "b", steps=4, checkpoint_every=2, kl_coef=0.05), progress=False)
    a, b = weights(tmp_path / "a" / "final"), weights(tmp_path / "b" / "final")
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows_a = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    rows_b = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert len(rows_b) == 4
    assert [json.loads(x)["reward_mean"] for x in rows_a] == [json.loads(x)["reward_mean"] for x in rows_b]


def test_cli_with_yaml(curriculum, tmp_path):
    from unitrl.cli import main

    yaml_file = tmp_path / "rl.yaml"
    yaml_file.write_text(
        "steps: 1\nprompts_per_step: 2\nsamples_per_prompt: 2\nmax_new_tokens: 40\nthreads: 2\n"
    )
    main(
        [
            "rl",
            "--problems",
            str(curriculum["rl"]),
            "--model",
            str(curriculum["model"]),
            "--algo",
            "grpo",
            "--reward",
            "coderl",
            "--out",
            str(tmp_path / "run"),
            "--config",
            str(yaml_file),
        ]
    )
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "algo: grpo" in saved and "steps: 1" in saved and "reward: coderl" in saved
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 1


def test_unknown_algo_is_a_user_error(curriculum, tmp_path):
    from unitrl.errors import UserError

    with pytest.raises(UserError, match="unknown algo"):
        train(config(curriculum, tmp_path, algo="dpo"))


@pytest.mark.slow
def test_kill_9_then_resume_matches(curriculum, tmp_path):
    """A real `unitrl rl` process killed with SIGKILL after a checkpoint resumes to the same weights."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = [
        "--problems",
        str(curriculum["rl"]),
        "--model",
        str(curriculum["model"]),
        "--steps",
        "4",
        "--prompts-per-step",
        "4",
        "--samples-per-prompt",
        "4",
        "--max-new-tokens",
        "48",
        "--checkpoint-every",
        "1",
        "--lr",
        "0.001",
        "--threads",
        "2",
        "--eval-every",
        "0",
    ]
    cmd = [sys.executable, "-m", "unitrl", "rl", *args]
    subprocess.run([*cmd, "--out", str(tmp_path / "a")], check=True, capture_output=True)
    proc = subprocess.Popen(
        [*cmd, "--out", str(tmp_path / "b")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while not (tmp_path / "b" / "checkpoints" / "step_2").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "b" / "final").exists(), "the run finished before it could be killed"
    subprocess.run([*cmd, "--out", str(tmp_path / "b")], check=True, capture_output=True)
    a, b = weights(tmp_path / "a" / "final"), weights(tmp_path / "b" / "final")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lora_trains_adapters_with_adapter_free_reference(curriculum, tmp_path):
    summary = train(
        config(curriculum, tmp_path / "lora", steps=2, lora_r=4, kl_coef=0.05, reward="coderl"),
        progress=False,
    )
    assert summary["steps"] == 2
    adapter = load_file(str(tmp_path / "lora" / "final" / "adapter_model.safetensors"))
    assert adapter and any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items())  # B starts at 0
