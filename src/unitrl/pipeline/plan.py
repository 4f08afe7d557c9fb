"""The whole pipeline as one list of stages, each calling its stage's own entry point with its config.

humaneval (the sandbox on HumanEval's canonical and known-wrong programs) -> mine -> synth (standard-library problems: tests without an LLM, kill rates) | curriculum -> warm-start
(a tiny policy that writes small functions) -> sample -> exec -> pairs -> train-rm -> score -> bon -> rl
-> final sample -> eval. A pipeline YAML has one optional section per stage whose keys are that stage's
own config fields (`unitrl <stage> --help` lists them); the pipeline fills in the paths between stages.
The defaults are the embedded CPU demo (about 10-15 minutes on 2 cores); `configs/` has real-model ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitrl.errors import UserError
from unitrl.pipeline.runner import StageSpec

STAGES = [
    "humaneval",
    "mine",
    "synth",
    "curriculum",
    "policy",
    "sample",
    "exec",
    "pairs",
    "reward_model",
    "train_rm",
    "score",
    "bon",
    "rl",
    "final_sample",
    "eval",
]


@dataclass
class PipelineConfig:
    out_dir: str = field(default="runs/default", metadata={"path": "out_dir"})
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})
    workers: int = field(default=0, metadata={"min": 0, "max": 1024})
    # Policy: "curriculum" builds and warm-starts the tiny local model; otherwise a hub id or local path.
    policy: str = field(
        default="curriculum",
        metadata={
            "help": "curriculum (build and warm-start the tiny policy) or a model: hub id or local path"
        },
    )
    reward_base: str = field(
        default="tiny",
        metadata={"help": "tiny (build a local reward model) or a model: hub id or local path"},
    )
    # Problems that feed sample/pairs/RM/RL, and held-out problems for the final eval ("" = the curriculum's).
    train_problems: str = ""
    eval_problems: str = ""
    sections: dict[str, dict] = field(default_factory=dict)  # per-stage overrides from the YAML


# Each stage's config class ("module:Class"), to check a YAML section before any stage runs.
STAGE_CONFIGS = {
    "humaneval": "unitrl.pipeline.demo:DemoConfig",
    "mine": "unitrl.mine.cli:MineConfig",
    "synth": "unitrl.synth.cli:SynthConfig",
    "curriculum": "unitrl.pipeline.steps:CurriculumConfig",
    "policy": "unitrl.pipeline.steps:PolicyConfig",
    "sample": "unitrl.sample.cli:SampleConfig",
    "exec": "unitrl.sandbox.cli:ExecConfig",
    "pairs": "unitrl.prefs.cli:PairsConfig",
    "reward_model": "unitrl.pipeline.steps:RewardBaseConfig",
    "train_rm": "unitrl.rm.train:TrainRMConfig",
    "score": "unitrl.rm.cli:ScoreConfig",
    "bon": "unitrl.rm.cli:BonConfig",
    "rl": "unitrl.rl.config:RLConfig",
    "final_sample": "unitrl.sample.cli:SampleConfig",
    "eval": "unitrl.eval.cli:EvalConfig",
}


def load_pipeline(path: str | None, out_dir: str | None) -> PipelineConfig:
    """The pipeline config; every top-level option and every stage section is checked here (keys, types,
    ranges: unitrl.config), so a bad YAML fails before any stage runs, naming the file, line and key."""
    import importlib

    from unitrl.config import check_values, read_yaml

    raw, lines = read_yaml(path) if path else ({}, {})
    top = {f.name for f in dataclasses.fields(PipelineConfig)} - {"sections"}
    given = {k: v for k, v in raw.items() if k in top}
    cfg = PipelineConfig(**check_values(PipelineConfig, given, path=path, lines=lines))
    cfg.sections = {str(k): v for k, v in raw.items() if k not in top}
    for name, section in cfg.sections.items():
        where = {"path": path, "line": lines.get(name), "field": name}
        if name not in STAGES:
            raise UserError(f"unknown stage or option (stages: {', '.join(STAGES)})", **where)
        if not isinstance(section, dict):
            raise UserError("a stage section must be a mapping of option names", **where)
        module, cls = STAGE_CONFIGS[name].split(":")
        config_cls = getattr(importlib.import_module(module), cls)
        check_values(config_cls, section, path=path, prefix=f"{name}.", lines=lines)
    if out_dir:
        cfg.out_dir = out_dir
    return cfg


def _config(cls: type, defaults: dict, section: dict, stage: str) -> Any:
    from unitrl.config import build_config

    return build_config(cls, {**defaults, **section}, prefix=f"{stage}.")


def build_plan(cfg: PipelineConfig) -> list[Callable[[], StageSpec]]:
    """One factory per stage; factories run in order so later ones see earlier outputs."""
    run = Path(cfg.out_dir)
    sec = cfg.sections.get
    models = run / "models"
    cur = run / "curriculum"
    policy_dir = models / "policy" if cfg.policy == "curriculum" else Path(cfg.policy)
    reward_dir = models / "reward-base" if cfg.reward_base == "tiny" else Path(cfg.reward_base)
    rl_problems = Path(cfg.train_problems) if cfg.train_problems else cur / "rl.jsonl"
    heldout = Path(cfg.eval_problems) if cfg.eval_problems else cur / "heldout.jsonl"

    def humaneval() -> StageSpec:
        from unitrl.pipeline.demo import DemoConfig, run_demo

        c = _config(
            DemoConfig,
            {"out_dir": str(run / "humaneval"), "workers": cfg.workers},
            sec("humaneval", {}),
            "humaneval",
        )
        return StageSpec(
            "humaneval",
            c,
            [],
            [Path(c.out_dir) / "summary.json"],
            run_demo,
            [Path(c.out_dir) / "results.hist.png"],
        )

    def mine() -> StageSpec:
        from unitrl.mine.cli import MineConfig, run_mine

        c = _config(
            MineConfig,
            {
                "out": str(run / "mine" / "problems.jsonl"),
                "limit": 40,
                "seed": cfg.seed,
                "workers": cfg.workers or 2,
            },
            sec("mine", {}),
            "mine",
        )
        return StageSpec("mine", c, [], [Path(c.out)], run_mine)

    def synth() -> StageSpec:
        from unitrl.synth.cli import SynthConfig, run_synth

        c = _config(
            SynthConfig,
            {
                "problems": str(run / "mine" / "problems.jsonl"),
                "out": str(run / "synth" / "problems.jsonl"),
                "seed": cfg.seed,
                "mutants": 8,
                "workers": cfg.workers or 2,
            },
            sec("synth", {}),
            "synth",
        )
        return StageSpec("synth", c, [Path(c.problems)], [Path(c.out)], run_synth)

    def curriculum() -> StageSpec:
        from unitrl.pipeline.steps import CurriculumConfig, run_curriculum

        c = _config(
            CurriculumConfig, {"out_dir": str(cur), "seed": cfg.seed}, sec("curriculum", {}), "curriculum"
        )
        return StageSpec(
            "curriculum", c, [], [cur / f"{s}.jsonl" for s in ("train", "rl", "heldout")], run_curriculum
        )

    def policy() -> StageSpec:
        from unitrl.pipeline.steps import PolicyConfig, run_policy

        if cfg.policy != "curriculum":  # a real model by hub id or path: nothing to build
            return StageSpec("policy", {"policy": cfg.policy}, [], [], lambda _: {"policy": cfg.policy})

        c = _config(
            PolicyConfig,
            {
                "train": str(cur / "train.jsonl"),
                "out_dir": str(policy_dir),
                "reward_out_dir": str(reward_dir) if cfg.reward_base == "tiny" else "",
                "seed": cfg.seed,
            },
            sec("policy", {}),
            "policy",
        )
        return StageSpec("policy", c, [Path(c.train)], [policy_dir / "config.json"], run_policy)

    def sample() -> StageSpec:
        from unitrl.sample.cli import SampleConfig, run_sample

        c = _config(
            SampleConfig,
            {
                "problems": str(rl_problems),
                "model": str(policy_dir),
                "backend": "hf",
                "n": 8,
                "temperature": 1.0,
                "max_new_tokens": 96,
                "greedy": True,
                "seed": cfg.seed,
                "out": str(run / "sample" / "samples.jsonl"),
                "limit": 192,
            },
            sec("sample", {}),
            "sample",
        )
        return StageSpec(
            "sample", c, [Path(c.problems), policy_dir / "config.json"], [Path(c.out)], run_sample
        )

    def exec_() -> StageSpec:
        from unitrl.sandbox.cli import ExecConfig, run_exec

        c = _config(
            ExecConfig,
            {
                "problems": str(rl_problems),
                "samples": str(run / "sample" / "samples.jsonl"),
                "out": str(run / "exec" / "results.jsonl"),
                "workers": cfg.workers,
            },
            sec("exec", {}),
            "exec",
        )
        out = Path(c.out)
        return StageSpec(
            "exec",
            c,
            [Path(c.problems), Path(c.samples)],
            [out],
            lambda x: _summary_of(run_exec(x)),
            [out.with_suffix(".hist.png")],
        )

    def pairs() -> StageSpec:
        from unitrl.prefs.cli import PairsConfig, run_pairs

        c = _config(
            PairsConfig,
            {
                "problems": str(rl_problems),
                "samples": str(run / "sample" / "samples.jsonl"),
                "results": str(run / "exec" / "results.jsonl"),
                "out": str(run / "pairs" / "pairs.jsonl"),
                "seed": cfg.seed,
            },
            sec("pairs", {}),
            "pairs",
        )
        return StageSpec("pairs", c, [Path(c.samples), Path(c.results)], [Path(c.out)], run_pairs)

    def reward_model() -> StageSpec:
        from unitrl.pipeline.steps import RewardBaseConfig, run_reward_base

        if cfg.reward_base != "tiny":
            return StageSpec(
                "reward_model", {"base": cfg.reward_base}, [], [], lambda _: {"base": cfg.reward_base}
            )

        c = _config(
            RewardBaseConfig,
            {"out_dir": str(reward_dir), "seed": cfg.seed, "corpus": [str(cur / "train.jsonl")]},
            sec("reward_model", {}),
            "reward_model",
        )
        return StageSpec(
            "reward_model", c, [cur / "train.jsonl"], [reward_dir / "config.json"], run_reward_base
        )

    def train_rm() -> StageSpec:
        from unitrl.rm.cli import run_train_rm
        from unitrl.rm.train import TrainRMConfig

        c = _config(
            TrainRMConfig,
            {
                "pairs": str(run / "pairs" / "pairs.jsonl"),
                "model": str(reward_dir),
                "out": str(run / "rm"),
                "seed": cfg.seed,
                "epochs": 4.0,
                "learning_rate": 1e-3,
            },
            sec("train_rm", {}),
            "train_rm",
        )
        return StageSpec(
            "train_rm",
            c,
            [Path(c.pairs), reward_dir / "config.json"],
            [Path(c.out) / "metrics.json"],
            run_train_rm,
            [Path(c.out) / "loss.png"],
        )

    def score() -> StageSpec:
        from unitrl.rm.cli import ScoreConfig, run_score

        c = _config(
            ScoreConfig,
            {
                "model": str(run / "rm"),
                "problems": str(rl_problems),
                "samples": str(run / "sample" / "samples.jsonl"),
                "out": str(run / "score" / "scores.jsonl"),
            },
            sec("score", {}),
            "score",
        )
        return StageSpec("score", c, [Path(c.samples), run / "rm" / "metrics.json"], [Path(c.out)], run_score)

    def bon() -> StageSpec:
        from unitrl.rm.cli import BonConfig, run_bon

        c = _config(
            BonConfig,
            {
                "samples": str(run / "sample" / "samples.jsonl"),
                "results": str(run / "exec" / "results.jsonl"),
                "scores": str(run / "score" / "scores.jsonl"),
                "out": str(run / "bon"),
                "seed": cfg.seed,
            },
            sec("bon", {}),
            "bon",
        )
        return StageSpec(
            "bon",
            c,
            [Path(c.results), Path(c.scores)],
            [Path(c.out) / "bon.json"],
            run_bon,
            [Path(c.out) / "bon.png"],
        )

    def rl() -> StageSpec:
        from unitrl.pipeline.steps import run_rl
        from unitrl.rl.config import RLConfig

        c = _config(
            RLConfig,
            {
                "problems": str(rl_problems),
                "eval_problems": str(heldout),
                "model": str(policy_dir),
                "out": str(run / "rl"),
                "algo": "reinforce_pp",
                "reward": "binary",
                "max_minutes": 4.0,
                "seed": cfg.seed,
            },
            sec("rl", {}),
            "rl",
        )
        return StageSpec(
            "rl",
            c,
            [Path(c.problems), policy_dir / "config.json"],
            [Path(c.out) / "summary.json"],
            run_rl,
            [Path(c.out) / "curves.png"],
        )

    def final_sample() -> StageSpec:
        from unitrl.sample.cli import SampleConfig, run_sample

        c = _config(
            SampleConfig,
            {
                "problems": str(heldout),
                "model": str(run / "rl" / "final"),
                "backend": "hf",
                "n": 0,
                "greedy": True,
                "max_new_tokens": 96,
                "seed": cfg.seed,
                "out": str(run / "final" / "samples.jsonl"),
            },
            sec("final_sample", {}),
            "final_sample",
        )
        return StageSpec(
            "final_sample", c, [Path(c.problems), run / "rl" / "summary.json"], [Path(c.out)], run_sample
        )

    def eval_() -> StageSpec:
        from unitrl.eval.cli import EvalConfig, run_eval

        c = _config(
            EvalConfig,
            {
                "problems": str(heldout),
                "samples": str(run / "final" / "samples.jsonl"),
                "out_dir": str(run / "eval"),
                "k": [1],
                "workers": cfg.workers,
            },
            sec("eval", {}),
            "eval",
        )
        return StageSpec(
            "eval", c, [Path(c.problems), Path(c.samples)], [Path(c.out_dir) / "summary.json"], run_eval
        )

    return [
        humaneval,
        mine,
        synth,
        curriculum,
        policy,
        sample,
        exec_,
        pairs,
        reward_model,
        train_rm,
        score,
        bon,
        rl,
        final_sample,
        eval_,
    ]


def _summary_of(results: list) -> dict:
    n = len(results)
    return {
        "samples": n,
        "passed": sum(r.passed for r in results),
        "mean_pass_rate": round(sum(r.pass_rate for r in results) / max(n, 1), 4),
    }
