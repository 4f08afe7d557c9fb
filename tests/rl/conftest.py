"""A small curriculum (tests synthesized through the sandbox) and a briefly warm-started tiny policy."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def curriculum(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train/rl/heldout problem files plus `model`: a word-level Llama warm-started for 60 noisy steps."""
    import torch

    from unitrl.records import read_problems
    from unitrl.rl.curriculum import build_curriculum, build_curriculum_model
    from unitrl.rl.warmstart import warm_start
    from unitrl.sandbox import Sandbox, SandboxConfig

    root = tmp_path_factory.mktemp("curriculum")
    with Sandbox(SandboxConfig(workers=2)) as sb:
        paths = build_curriculum(root / "problems", n_train=300, n_rl=64, n_heldout=16, seed=0, sandbox=sb)
    torch.manual_seed(0)
    base = build_curriculum_model(root / "base", seed=0)
    model, _ = warm_start(
        base, read_problems(paths["train"]), root / "warm", steps=60, batch_size=32, lr=2e-3
    )
    return {**paths, "base": base, "model": model}
