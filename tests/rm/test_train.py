"""Reward-model training mechanics on CPU: real TRL RewardTrainer, tiny model, fixed seed."""

from __future__ import annotations

import json
import math

import torch
from pairsets import correct_vs_wrong_pairs
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from unitrl.cli import main
from unitrl.records import write_records
from unitrl.rm.scoring import RewardModelScorer
from unitrl.rm.train import split_by_task


def test_split_by_task_keeps_questions_apart():
    pairs = correct_vs_wrong_pairs(10, per_task=3)
    train, held = split_by_task(pairs, 0.2, seed=0)
    assert len(held) == 6 and len(train) == 24
    assert not {p.task_id for p in train} & {p.task_id for p in held}
    assert split_by_task(pairs[:3], 0.1, seed=0)[1] == []  # one question: nothing to hold out
    assert len({p.task_id for p in split_by_task(pairs, 0.01, seed=0)[1]}) == 1  # at least one question


def test_reward_model_learns_correct_over_wrong(tmp_path, tiny_reward_dir):
    pairs = correct_vs_wrong_pairs(24, per_task=2, seed=0)
    write_records(tmp_path / "pairs.jsonl", pairs)
    run = tmp_path / "run"
    main(["train-rm", "--pairs", str(tmp_path / "pairs.jsonl"), "--model", str(tiny_reward_dir), "--out", str(run),
          "--epochs", "3", "--learning-rate", "1e-3", "--batch-size", "8", "--eval-fraction", "0.25",
          "--device", "cpu", "--seed", "0", "--logging-steps", "1"])  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["pairs_heldout"] == 12 and metrics["tasks_heldout"] == 6
    assert metrics["heldout_accuracy"] >= 0.9, metrics  # chance is 0.5; unseen questions
    assert math.isfinite(metrics["final_loss"]) and metrics["final_loss"] < metrics["first_loss"]
    assert (run / "config.yaml").exists() and (run / "loss.png").stat().st_size > 1000

    # The saved model loads as a plain classifier, and its weights moved away from the base.
    model = AutoModelForSequenceClassification.from_pretrained(run)
    assert model.config.num_labels == 1
    before, after = load_file(tiny_reward_dir / "model.safetensors"), load_file(run / "model.safetensors")
    assert not torch.equal(before["score.weight"], after["score.weight"])

    # Scoring through RewardModelScorer reads the same input format: it reproduces the held-out accuracy.
    scorer = RewardModelScorer(str(run), batch_size=5)
    _, held = split_by_task(pairs, 0.25, seed=0)
    chosen = scorer.score_prompts([p.prompt for p in held], [p.chosen for p in held])
    rejected = scorer.score_prompts([p.prompt for p in held], [p.rejected for p in held])
    assert sum(c > r for c, r in zip(chosen, rejected)) / len(held) >= 0.9


def test_lora_training_saves_a_merged_classifier(tmp_path, tiny_policy_dir):
    write_records(tmp_path / "pairs.jsonl", correct_vs_wrong_pairs(12, per_task=2, seed=1))
    run = tmp_path / "run"
    # A causal LM as the base: TRL adds the scalar head; LoRA adapters are merged before saving.
    main(["train-rm", "--pairs", str(tmp_path / "pairs.jsonl"), "--model", str(tiny_policy_dir), "--out", str(run),
          "--lora", "--epochs", "1", "--learning-rate", "1e-3", "--device", "cpu"])  # fmt: skip
    model = AutoModelForSequenceClassification.from_pretrained(run)
    assert not any("lora" in name for name, _ in model.named_parameters())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["lora"] is True and math.isfinite(metrics["final_loss"])
