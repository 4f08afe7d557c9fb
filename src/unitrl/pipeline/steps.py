"""Pipeline stages that are not a subcommand of their own: the held-out split of synthesized problems,
the warm-start examples and the warm-started tiny policy, the tiny reward-model base, and thin wrappers
that give `exec` and `rl` a summary. Each takes one flat config, like every stage; a stage that stopped
early because of a user-set time limit says so in its summary's `cut_short`, which the report shows first.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from unitrl.records import read_problems, write_records, write_text_atomic


@dataclass
class SplitConfig:
    problems: str = field(default="", metadata={"help": "synthesized problems to split"})
    train_out: str = field(default="split/train.jsonl", metadata={"path": "out_file"})
    heldout_out: str = field(default="split/heldout.jsonl", metadata={"path": "out_file"})
    heldout: float = field(
        default=0.25, metadata={"help": "fraction of problems held out", "min": 0, "max": 1}
    )
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})


def heldout_side(task_id: str, fraction: float, seed: int) -> bool:
    """A problem's side depends on its id alone, so adding or dropping problems moves no other one."""
    digest = hashlib.sha256(f"{seed}:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def run_split(cfg: SplitConfig) -> dict:
    """Train (sample, pairs, RM, RL) and held-out (evaluation) problems, disjoint by task id."""
    problems = read_problems(cfg.problems)
    held = [p for p in problems if heldout_side(p.task_id, cfg.heldout, cfg.seed)]
    held_ids = {p.task_id for p in held}
    train = [p for p in problems if p.task_id not in held_ids]
    write_records(cfg.train_out, train)
    write_records(cfg.heldout_out, held)
    return {"train": len(train), "heldout": len(held)}


@dataclass
class CurriculumConfig:
    exclude: str = field(default="", metadata={"help": "problems whose prompts the examples must avoid"})
    out: str = field(default="curriculum/warmstart.jsonl", metadata={"path": "out_file"})
    n: int = field(default=3000, metadata={"help": "warm-start problems", "min": 1})
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})


def run_curriculum(cfg: CurriculumConfig) -> dict:
    """Warm-start problems from the curriculum's templates, none of them a mined problem's prompt (so no
    problem that RL trains on or evaluation measures was ever a supervised example)."""
    from unitrl.rl.curriculum import generate_problems

    exclude = {p.prompt for p in read_problems(cfg.exclude)} if cfg.exclude else set()
    problems = generate_problems(cfg.n, cfg.seed + 7, "warmstart", exclude=exclude, named=True)
    write_records(cfg.out, problems)
    return {"problems": len(problems), "excluded_prompts": len(exclude)}


@dataclass
class PolicyConfig:
    train: str = field(default="", metadata={"help": "warm-start problems (curriculum records)"})
    out_dir: str = field(default="models/policy", metadata={"path": "out_dir"})
    steps: int = field(default=300, metadata={"help": "supervised steps (the budget)", "min": 1})
    batch_size: int = field(default=64, metadata={"min": 1})
    lr: float = field(default=1e-3, metadata={"min": 0, "min_exclusive": True})
    noise: float = field(default=0.4, metadata={"min": 0, "max": 1})
    max_seconds: float = field(
        default=0.0, metadata={"help": "also stop after this many seconds (0 = no time limit)", "min": 0}
    )
    threads: int = field(default=1, metadata={"help": "torch CPU threads (0 = torch default)", "min": 0})
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})


def run_policy(cfg: PolicyConfig) -> dict:
    """Build the tiny curriculum model and warm-start it on noisy examples for `steps` steps."""
    import torch

    from unitrl.rl.curriculum import build_curriculum_model
    from unitrl.rl.warmstart import warm_start

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
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
        max_seconds=cfg.max_seconds or None,
        log_every=50,
    )
    out = {"warm_start": stats}
    if stats["steps"] < cfg.steps:
        out["cut_short"] = f"warm start stopped at {stats['steps']} of {cfg.steps} steps (max_seconds)"
    return out


@dataclass
class RewardBaseConfig:
    out_dir: str = field(default="models/reward-base", metadata={"path": "out_dir"})
    corpus: list[str] = field(default_factory=list)  # problems files whose references train the tokenizer
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})


def run_reward_base(cfg: RewardBaseConfig) -> dict:
    """A tiny Qwen2 reward model whose BPE tokenizer is trained on the programs it will judge."""
    from unitrl.models.tiny import build_tiny_model

    texts = [p.reference or p.prompt for path in cfg.corpus for p in read_problems(path)][:5000]
    path = build_tiny_model(cfg.out_dir, kind="reward", corpus_texts=texts or None, seed=cfg.seed)
    return {"model": str(path)}


def run_exec_summary(cfg) -> dict:
    """`unitrl exec`, summarised for the report."""
    from unitrl.sandbox.cli import run_exec

    results = run_exec(cfg)
    n = len(results)
    return {
        "samples": n,
        "passed": sum(r.passed for r in results),
        "mean_pass_rate": round(sum(r.pass_rate for r in results) / max(n, 1), 4),
    }


def run_rl(cfg) -> dict:
    """The RL trainer; its summary is also written where the pipeline looks for it. The trainer resumes
    from its newest checkpoint, which is right after a crash but wrong after a settings change: then the
    old checkpoints go first, so the run's figures are those of its settings."""
    import dataclasses
    import shutil

    import yaml

    from unitrl.rl.trainer import train

    saved = Path(cfg.out) / "config.yaml"
    now = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    if saved.exists() and yaml.safe_load(saved.read_text()) != now:
        shutil.rmtree(Path(cfg.out) / "checkpoints", ignore_errors=True)
    summary = dict(train(cfg))
    write_text_atomic(Path(cfg.out) / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    if summary.get("steps", cfg.steps) < cfg.steps:
        summary["cut_short"] = f"RL stopped at {summary['steps']} of {cfg.steps} steps (max_minutes)"
    return summary
