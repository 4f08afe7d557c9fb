"""Session-wide fixtures: the tiny policy and tiny reward model, each built once into a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2 causal LM with a locally trained tokenizer and chat template (random weights)."""
    from unitrl.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-policy"), kind="policy", seed=0)


@pytest.fixture(scope="session")
def tiny_reward_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2 sequence classifier (one label) sharing the policy's tokenizer recipe."""
    from unitrl.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-reward"), kind="reward", seed=0)
