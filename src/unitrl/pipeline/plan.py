"""The pipeline as a table: one row per stage (name, config class, function, the values the pipeline fills
in); each stage's inputs and outputs are derived from the paths in its resolved config.

The embedded default is the chain the papers describe, at a size a 2-core CPU runs in minutes:
corpus (the curriculum written out as documented Python functions, `unitrl/data/curriculum/`) -> mine ->
synth (tests by executing the references) -> split (train / held-out, by task id) -> sample -> exec ->
pairs -> train_rm -> score -> bon -> rl (on the synthesized tests of the train split) -> final_sample ->
eval (on the held-out split, which went through the same mine + synth path). Beside the chain: humaneval
(the sandbox on HumanEval's canonical and known-wrong programs), and, for the tiny policy only,
curriculum (warm-start examples, none a mined prompt) -> policy (the warm start) and reward_model.

Inputs and outputs are not listed by hand. A config field marked `path: out_file|out_dir` is an output;
every other value naming a path that an earlier stage writes (or under it), or that exists on disk, is an
input, so a stage whose inputs changed reruns and no input is forgotten. A pipeline YAML has top-level
options (`PipelineConfig`) and one optional section per stage whose keys are that stage's own config
fields (`unitrl <stage> --help` lists them). Budgets are step counts; a time limit applies only where the
YAML sets one (`policy.max_seconds`, `rl.max_minutes`), and the report then says that it cut a stage short.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitrl.errors import UserError
from unitrl.pipeline.runner import StageSpec


@dataclass
class PipelineConfig:
    out_dir: str = field(default="runs/default", metadata={"path": "out_dir"})
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})
    workers: int = field(
        default=0, metadata={"min": 0, "max": 1024, "help": "sandbox workers (0 = per core)"}
    )
    policy_model: str = field(
        default="curriculum",
        metadata={"help": "curriculum (build and warm-start the tiny policy) or a model: hub id or path"},
    )
    reward_base: str = field(
        default="tiny", metadata={"help": "tiny (build a local reward model) or a model: hub id or path"}
    )
    train_problems: str = field(default="", metadata={"help": "train on this file instead of split's"})
    eval_problems: str = field(default="", metadata={"help": "evaluate on this file instead of split's"})
    rl_subset: str = field(
        default="all",
        metadata={
            "help": "all: RL on the train split; hard: on ACECODER's hard subset",
            "choices": ("all", "hard"),
        },
    )
    sections: dict[str, dict] = field(default_factory=dict)  # per-stage overrides from the YAML


@dataclass(frozen=True)
class Stage:
    name: str
    config: str  # "module:Class", the stage's own flat config
    run: str  # "module:function", called with that config
    fills: dict[str, Any]  # values the pipeline sets; "{name}" is a named path or option (`named`)
    seconds: Callable[[Any], float]  # estimated seconds on a quiet 2-core machine, from the config
    when: Callable[[PipelineConfig], bool] = lambda cfg: True


def _tiny_policy(cfg: PipelineConfig) -> bool:
    return cfg.policy_model == "curriculum"


# Unit costs behind the estimates: seconds per unit of work, measured with `unitrl run` on the embedded
# default on this 2-core machine at a load average of 1-3 (3.8 minutes in all). The counts are the
# default's (1,200 corpus functions, about 820 train and 270 held-out problems, 1,200 RM training pairs);
# for another corpus or model the printed estimate is only a rough guide.
SEC = {"mined": 0.006, "synth_test": 0.0022, "warm_step": 0.2, "sample": 0.0018, "rm_pair_epoch": 0.004,
       "rl_rollout": 0.006, "eval_program": 0.004}  # fmt: skip
TRAIN, HELDOUT, RM_PAIRS = 820, 270, 1200


TABLE: list[Stage] = [
    Stage("humaneval", "unitrl.pipeline.demo:DemoConfig", "unitrl.pipeline.demo:run_demo",
          {"out_dir": "{run}/humaneval", "workers": "{workers}"}, lambda c: 8),
    # The embedded corpus has 50 functions per module by construction: no per-module cap.
    Stage("mine", "unitrl.mine.cli:MineConfig", "unitrl.mine.cli:run_mine",
          {"paths": ["{corpus}"], "out": "{run}/mine/problems.jsonl", "seed": "{seed}", "per_module": 0,
           "workers": "{workers_2}"}, lambda c: 5 + SEC["mined"] * (c.limit or 1200)),
    Stage("synth", "unitrl.synth.cli:SynthConfig", "unitrl.synth.cli:run_synth",
          {"problems": "{run}/mine/problems.jsonl", "out": "{run}/synth/problems.jsonl", "seed": "{seed}",
           "n_tests": 10, "mutants": 4, "guide_mutants": 0, "workers": "{workers_2}"},
          lambda c: 5 + SEC["synth_test"] * 1200 * (c.n_tests + 2 * c.mutants)),
    Stage("split", "unitrl.pipeline.steps:SplitConfig", "unitrl.pipeline.steps:run_split",
          {"problems": "{run}/synth/problems.jsonl", "train_out": "{run}/split/train.jsonl",
           "heldout_out": "{run}/split/heldout.jsonl", "seed": "{seed}"}, lambda c: 1),
    Stage("curriculum", "unitrl.pipeline.steps:CurriculumConfig", "unitrl.pipeline.steps:run_curriculum",
          {"exclude": "{run}/mine/problems.jsonl", "out": "{run}/curriculum/warmstart.jsonl", "seed": "{seed}"},
          lambda c: 2, _tiny_policy),
    Stage("policy", "unitrl.pipeline.steps:PolicyConfig", "unitrl.pipeline.steps:run_policy",
          {"train": "{run}/curriculum/warmstart.jsonl", "out_dir": "{policy}", "seed": "{seed}"},
          lambda c: 5 + SEC["warm_step"] * c.steps * c.batch_size / 64, _tiny_policy),
    Stage("sample", "unitrl.sample.cli:SampleConfig", "unitrl.sample.cli:run_sample",
          {"problems": "{train}", "model": "{policy}", "backend": "hf", "n": 8, "temperature": 1.0,
           "max_new_tokens": 64, "greedy": True, "seed": "{seed}", "out": "{run}/sample/samples.jsonl",
           "limit": 0}, lambda c: 5 + SEC["sample"] * (c.limit or TRAIN) * (c.n + c.greedy)),
    Stage("exec", "unitrl.sandbox.cli:ExecConfig", "unitrl.pipeline.steps:run_exec_summary",
          {"problems": "{train}", "samples": "{run}/sample/samples.jsonl", "out": "{run}/exec/results.jsonl",
           "workers": "{workers}"}, lambda c: 12),
    Stage("pairs", "unitrl.prefs.cli:PairsConfig", "unitrl.prefs.cli:run_pairs",
          {"problems": "{train}", "samples": "{run}/sample/samples.jsonl", "results": "{run}/exec/results.jsonl",
           "out": "{run}/pairs/pairs.jsonl", "seed": "{seed}"}, lambda c: 1),
    Stage("reward_model", "unitrl.pipeline.steps:RewardBaseConfig", "unitrl.pipeline.steps:run_reward_base",
          {"out_dir": "{reward_base}", "seed": "{seed}", "corpus": ["{train}"]}, lambda c: 5,
          lambda cfg: cfg.reward_base == "tiny"),
    Stage("train_rm", "unitrl.rm.train:TrainRMConfig", "unitrl.rm.cli:run_train_rm",
          {"pairs": "{run}/pairs/pairs.jsonl", "model": "{reward_base}", "out": "{run}/rm", "seed": "{seed}",
           "epochs": 4.0, "learning_rate": 1e-3, "eval_fraction": 0.3, "max_length": 160},
          lambda c: 10 + SEC["rm_pair_epoch"] * RM_PAIRS * c.epochs),
    Stage("score", "unitrl.rm.cli:ScoreConfig", "unitrl.rm.cli:run_score",
          {"model": "{run}/rm", "problems": "{train}", "samples": "{run}/sample/samples.jsonl",
           "out": "{run}/score/scores.jsonl", "max_length": 160}, lambda c: 8),
    Stage("bon", "unitrl.rm.cli:BonConfig", "unitrl.rm.cli:run_bon",
          {"samples": "{run}/sample/samples.jsonl", "results": "{run}/exec/results.jsonl",
           "scores": "{run}/score/scores.jsonl", "out": "{run}/bon", "seed": "{seed}"}, lambda c: 3),
    Stage("hard", "unitrl.prefs.cli:SelectHardConfig", "unitrl.prefs.cli:run_select_hard",
          {"problems": "{train}", "results": "{run}/exec/results.jsonl", "samples": "{run}/sample/samples.jsonl",
           "out": "{run}/hard/problems.jsonl"}, lambda c: 1, lambda cfg: cfg.rl_subset == "hard"),
    Stage("rl", "unitrl.rl.config:RLConfig", "unitrl.pipeline.steps:run_rl",
          {"problems": "{rl_problems}", "eval_problems": "{heldout}", "model": "{policy}", "out": "{run}/rl",
           "algo": "reinforce_pp", "reward": "binary", "steps": 60, "max_minutes": 0.0, "lr": 2e-4,
           "prompts_per_step": 16, "samples_per_prompt": 8, "micro_batch": 128, "max_new_tokens": 64,
           "eval_every": 20, "eval_samples": 2, "checkpoint_every": 20, "threads": 1, "seed": "{seed}"},
          lambda c: 10 + SEC["rl_rollout"] * c.steps * c.prompts_per_step * c.samples_per_prompt
          + SEC["eval_program"] * HELDOUT * (c.eval_samples + 1) * (2 + c.steps // max(c.eval_every, 1))),
    Stage("final_sample", "unitrl.sample.cli:SampleConfig", "unitrl.sample.cli:run_sample",
          {"problems": "{heldout}", "model": "{run}/rl/final", "backend": "hf", "n": 0, "greedy": True,
           "max_new_tokens": 64, "seed": "{seed}", "out": "{run}/final/samples.jsonl"},
          lambda c: 5 + SEC["sample"] * HELDOUT),
    Stage("eval", "unitrl.eval.cli:EvalConfig", "unitrl.eval.cli:run_eval",
          {"problems": "{heldout}", "samples": "{run}/final/samples.jsonl", "out_dir": "{run}/eval", "k": [1],
           "workers": "{workers}"}, lambda c: 5),
]  # fmt: skip
STAGES = [s.name for s in TABLE]
BY_NAME = {s.name: s for s in TABLE}


def named(cfg: PipelineConfig) -> dict[str, Any]:
    """The values `{name}` stands for in the table: the run's paths and the top-level options."""
    from unitrl.rl.curriculum import CORPUS_DIR

    run = Path(cfg.out_dir)
    train = cfg.train_problems or str(run / "split" / "train.jsonl")
    return {
        "run": str(run),
        "seed": cfg.seed,
        "workers": cfg.workers,
        "workers_2": cfg.workers or 2,
        "corpus": str(CORPUS_DIR),
        "policy": str(run / "models" / "policy") if _tiny_policy(cfg) else cfg.policy_model,
        "reward_base": str(run / "models" / "reward-base") if cfg.reward_base == "tiny" else cfg.reward_base,
        "train": train,
        "heldout": cfg.eval_problems or str(run / "split" / "heldout.jsonl"),
        "rl_problems": str(run / "hard" / "problems.jsonl") if cfg.rl_subset == "hard" else train,
    }


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, str) and re.fullmatch(r"\{\w+\}", value):
        return names[value[1:-1]]  # a whole placeholder keeps its type (seed stays an int)
    return value.format(**names) if isinstance(value, str) else value


def _class(ref: str) -> Any:
    module, attr = ref.split(":")
    return getattr(importlib.import_module(module), attr)


def stage_config(stage: Stage, cfg: PipelineConfig, names: dict[str, Any]) -> Any:
    """The stage's resolved config: the table's fills, then the YAML section (which wins)."""
    from unitrl.config import build_config

    values = {**_fill(stage.fills, names), **cfg.sections.get(stage.name, {})}
    if stage.name == "rl" and isinstance(values.get("reward"), str):
        # `rm` alone in a reward spec means this run's reward model: "0.5*binary+0.5*rm"
        values["reward"] = re.sub(r"\brm\b(?!:)", f"rm:{names['run']}/rm", values["reward"])
    return build_config(_class(stage.config), values, prefix=f"{stage.name}.")


def _path_tokens(value: Any) -> list[str]:
    """Strings in a config value that could name paths (a reward spec names one after `rm:`)."""
    if isinstance(value, list):
        return [t for v in value for t in _path_tokens(v)]
    if not isinstance(value, str) or not value:
        return []
    return [re.sub(r"^[a-z_]+:(?!//)", "", t) for t in re.split(r"[+*\s]+", value) if t]


DATA_SUFFIXES = {".jsonl", ".json", ".parquet", ".yaml", ".yml", ".py", ".csv", ".txt"}


def _is_input(token: str, written: set[Path]) -> bool:
    """Written by an earlier stage (or under such a folder), on disk, or a data file still to be made
    (a hub id such as `Qwen/Qwen2.5-Coder-7B` is none of these)."""
    p = Path(token)
    if _under(p, written):
        return True
    local = "/" in token or "." in token
    return local and (p.exists() or p.suffix in DATA_SUFFIXES)


def _under(path: Path, roots: set[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def derive_io(config: Any, written: set[Path]) -> tuple[list[Path], list[Path]]:
    """(inputs, outputs) of a resolved config. Outputs: fields marked `path: out_file|out_dir`. Inputs:
    every other path-like value that an earlier stage writes (or lies under one), that exists, or that
    names a data file (`_is_input`)."""
    inputs, outputs = [], []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.metadata.get("path") in ("out_file", "out_dir"):
            outputs += [Path(value)] if value else []
            continue
        for token in _path_tokens(value):
            if _is_input(token, written) and Path(token) not in inputs:
                inputs.append(Path(token))
    return inputs, outputs


def resolve(cfg: PipelineConfig) -> list[StageSpec]:
    """Every stage the config turns on, with its config, inputs, outputs and function, in order."""
    names, written, specs = named(cfg), set(), []
    for stage in TABLE:
        if not stage.when(cfg):
            continue
        config = stage_config(stage, cfg, names)
        inputs, outputs = derive_io(config, written)
        written.update(outputs)
        specs.append(StageSpec(stage.name, config, inputs, outputs, _class(stage.run), stage.seconds(config)))
    return specs


def load_pipeline(path: str | None, out_dir: str | None) -> PipelineConfig:
    """The pipeline config; every top-level option and every stage section is checked here (keys, types,
    ranges: unitrl.config), so a bad YAML fails before any stage runs, naming the file, line and key.

    `policy:` is the warm start's section; `policy: <model>` (a string) is kept as a short form of
    `policy_model: <model>`."""
    from unitrl.config import check_values, read_yaml

    raw, lines = read_yaml(path) if path else ({}, {})
    if isinstance(raw.get("policy"), str):
        raw = {("policy_model" if k == "policy" else k): v for k, v in raw.items()}
        lines = {("policy_model" if k == "policy" else k): v for k, v in lines.items()}
    top = {f.name for f in dataclasses.fields(PipelineConfig)} - {"sections"}
    given = {k: v for k, v in raw.items() if k in top}
    cfg = PipelineConfig(**check_values(PipelineConfig, given, path=path, lines=lines))
    cfg.sections = {str(k): v for k, v in raw.items() if k not in top}
    for name, section in cfg.sections.items():
        where = {"path": path, "line": lines.get(name), "field": name}
        if name not in BY_NAME:
            raise UserError(f"unknown stage or option (stages: {', '.join(STAGES)})", **where)
        if not isinstance(section, dict):
            raise UserError("a stage section must be a mapping of option names", **where)
        check_values(_class(BY_NAME[name].config), section, path=path, prefix=f"{name}.", lines=lines)
    if out_dir:
        cfg.out_dir = out_dir
    return cfg
