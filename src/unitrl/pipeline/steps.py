"""Pipeline stages that are not a subcommand of their own: the curriculum, the warm-started tiny policy,
the tiny reward-model base, and the RL stage's summary file. Each takes one flat config, like every stage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from unitrl.records import read_problems, write_text_atomic


@dataclass
class CurriculumConfig:
    out_dir: str = field(default="runs/default/curriculum", metadata={"path": "out_dir"})
    n_train: int = field(default=3000, metadata={"min": 1})
    n_rl: int = field(default=600, metadata={"min": 1})
    n_heldout: int = field(default=200, metadata={"min": 1})
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})
    workers: int = field(default=0, metadata={"min": 0, "max": 1024})


def run_curriculum(cfg: CurriculumConfig) -> dict:
    """Template problems whose tests come from executing the reference (our `execution` synthesis)."""
    from unitrl.rl.curriculum import build_curriculum
    from unitrl.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(workers=cfg.workers)) as sb:
        paths = build_curriculum(cfg.out_dir, cfg.n_train, cfg.n_rl, cfg.n_heldout, cfg.seed, sb)
    counts = {split: len(read_problems(path)) for split, path in paths.items()}
    return {"problems": counts}


@dataclass
class PolicyConfig:
    train: str = ""
    out_dir: str = field(default="runs/default/models/policy", metadata={"path": "out_dir"})
    reward_out_dir: str = ""
    steps: int = field(default=300, metadata={"min": 1})
    batch_size: int = field(default=64, metadata={"min": 1})
    lr: float = field(default=1e-3, metadata={"min": 0, "min_exclusive": True})
    noise: float = field(default=0.4, metadata={"min": 0, "max": 1})
    max_seconds: float = field(default=180.0, metadata={"min": 0, "min_exclusive": True})
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})


def run_policy(cfg: PolicyConfig) -> dict:
    """Build the tiny curriculum model and warm-start it on noisy examples (REFERENCE.md section 8)."""
    from unitrl.rl.curriculum import build_curriculum_model
    from unitrl.rl.warmstart import warm_start

    base = Path(cfg.out_dir).with_name(Path(cfg.out_dir).name + "-init")
    build_curriculum_model(base, seed=cfg.seed)
    _, stats = warm_start(
        base,
        read_problems(cfg.train),
        cfg.out_dir,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        noise=cfg.noise,
        seed=cfg.seed,
        max_seconds=cfg.max_seconds,
    )
    return {"warm_start": stats}


@dataclass
class RewardBaseConfig:
    out_dir: str = field(default="runs/default/models/reward-base", metadata={"path": "out_dir"})
    corpus: list[str] = field(default_factory=list)  # problems files whose references train the tokenizer
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})


def run_reward_base(cfg: RewardBaseConfig) -> dict:
    """A tiny Qwen2 reward model whose BPE tokenizer is trained on the programs it will judge."""
    from unitrl.models.tiny import build_tiny_model

    texts = [p.reference or p.prompt for path in cfg.corpus for p in read_problems(path)][:5000]
    path = build_tiny_model(cfg.out_dir, kind="reward", corpus_texts=texts or None, seed=cfg.seed)
    return {"model": str(path)}


def run_rl(cfg) -> dict:
    """The RL trainer; its summary is also written where the pipeline looks for it."""
    from unitrl.rl.trainer import train

    summary = train(cfg)
    write_text_atomic(Path(cfg.out) / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    return summary if isinstance(summary, dict) else {"config": asdict(cfg)}
