"""The plan table: each stage's inputs derived from its config, the default chain, YAML sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from unitrl.errors import UserError
from unitrl.pipeline.plan import STAGES, load_pipeline, resolve
from unitrl.pipeline.report import HEADLINE_FILES

ROOT = Path(__file__).parents[2]


def writers(specs) -> dict[Path, str]:
    return {out: s.name for s in specs for out in s.outputs}


def writer_of(path: Path, written: dict[Path, str]) -> str | None:
    """The stage whose output is `path` or a folder holding it."""
    for out, name in written.items():
        if path == out or out in path.parents:
            return name
    return None


def test_default_plan_every_input_has_a_writer_and_every_output_a_reader(tmp_path):
    specs = resolve(load_pipeline(None, str(tmp_path / "run")))
    written = writers(specs)
    order = [s.name for s in specs]
    table = {s.name: [(str(p.relative_to(tmp_path / "run")), writer_of(p, written)) for p in s.inputs
                      if writer_of(p, written)] for s in specs}  # fmt: skip
    # The chain, read off the derived inputs: (input file, the stage that wrote it) per stage.
    assert table == {
        "humaneval": [],
        "mine": [],
        "synth": [("mine/problems.jsonl", "mine")],
        "split": [("synth/problems.jsonl", "synth")],
        "curriculum": [("mine/problems.jsonl", "mine")],
        "policy": [("curriculum/warmstart.jsonl", "curriculum")],
        "sample": [("split/train.jsonl", "split"), ("models/policy", "policy")],
        "exec": [("split/train.jsonl", "split"), ("sample/samples.jsonl", "sample")],
        "pairs": [("split/train.jsonl", "split"), ("sample/samples.jsonl", "sample"),
                  ("exec/results.jsonl", "exec")],
        "reward_model": [("split/train.jsonl", "split")],
        "train_rm": [("pairs/pairs.jsonl", "pairs"), ("models/reward-base", "reward_model")],
        "score": [("rm", "train_rm"), ("split/train.jsonl", "split"), ("sample/samples.jsonl", "sample")],
        "bon": [("sample/samples.jsonl", "sample"), ("exec/results.jsonl", "exec"),
                ("score/scores.jsonl", "score")],
        "rl": [("split/train.jsonl", "split"), ("models/policy", "policy"),
               ("split/heldout.jsonl", "split")],
        "final_sample": [("split/heldout.jsonl", "split"), ("rl/final", "rl")],
        "eval": [("split/heldout.jsonl", "split"), ("final/samples.jsonl", "final_sample")],
    }  # fmt: skip
    for s in specs:  # writers come earlier; the only input nobody writes is the shipped corpus
        for p in s.inputs:
            w = writer_of(p, written)
            assert (w is not None and order.index(w) < order.index(s.name)) or p.name == "curriculum", p
        for out in s.outputs:  # every output is read by a later stage or by the report
            read = any(out == p or out in p.parents for t in specs for p in t.inputs)
            assert read or s.name in HEADLINE_FILES, (s.name, out)
    assert [p.name for p in specs[1].inputs] == ["curriculum"]  # mine reads the shipped corpus


def test_sections_override_and_inputs_follow_the_paths(tmp_path):
    extra = tmp_path / "extra.jsonl"
    extra.write_text("")
    path = tmp_path / "p.yaml"
    path.write_text(
        f"out_dir: {tmp_path / 'run'}\npolicy:\n  steps: 7\neval:\n  problems: {extra}\n"
        "rl:\n  reward: 0.5*binary+0.5*rm\n"
    )
    specs = {s.name: s for s in resolve(load_pipeline(str(path), None))}
    assert specs["policy"].config.steps == 7  # a `policy:` section configures the warm start
    assert (
        extra in specs["eval"].inputs
        and tmp_path / "run" / "split" / "heldout.jsonl" not in specs["eval"].inputs
    )
    rm = tmp_path / "run" / "rm"
    assert specs["rl"].config.reward == f"0.5*binary+0.5*rm:{rm}"  # bare `rm`: this run's reward model
    assert rm in specs["rl"].inputs


def test_policy_as_a_model_name_skips_the_tiny_policy(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("policy: Qwen/Qwen2.5-Coder-7B-Instruct\nreward_base: Qwen/Qwen2.5-Coder-7B-Instruct\n")
    specs = {s.name: s for s in resolve(load_pipeline(str(path), str(tmp_path)))}
    assert {"curriculum", "policy", "reward_model", "hard"}.isdisjoint(specs)
    assert specs["rl"].config.model == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert all("Qwen" not in str(p) for p in specs["rl"].inputs)  # a hub id is config, not a file


def test_hard_subset_feeds_rl_when_asked(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("rl_subset: hard\n")
    specs = {s.name: s for s in resolve(load_pipeline(str(path), str(tmp_path)))}
    assert tmp_path / "hard" / "problems.jsonl" in specs["rl"].inputs


def test_pipeline_yaml_errors_name_the_section(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("out_dir: x\nsampel:\n  n: 4\n")
    with pytest.raises(UserError, match="field 'sampel'"):
        load_pipeline(str(path), None)
    path.write_text("out_dir: x\npolicy:\n  stepz: 4\n")
    with pytest.raises(UserError, match="field 'policy.stepz'"):
        load_pipeline(str(path), None)
    path.write_text("out_dir: x\nsample:\n  n: 4\n")
    cfg = load_pipeline(str(path), "y")
    assert cfg.out_dir == "y" and cfg.sections == {"sample": {"n": 4}}


def test_default_budgets_are_steps_and_the_estimate_fits_the_target(tmp_path):
    specs = {s.name: s for s in resolve(load_pipeline(None, str(tmp_path)))}
    assert specs["policy"].config.max_seconds == 0 and specs["rl"].config.max_minutes == 0
    assert sum(s.estimate for s in specs.values()) <= 15 * 60


@pytest.mark.parametrize("name", ["acecoder-qwen25-coder-7b.yaml", "gorinski-actor-critic.yaml"])
def test_example_configs_resolve_and_name_their_inputs_commands(name, tmp_path):
    path = ROOT / "configs" / name
    cfg = load_pipeline(str(path), str(tmp_path))
    specs = resolve(cfg)
    assert [s.name for s in specs] == [n for n in STAGES if n in {s.name for s in specs}]
    head = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    for s in specs:  # every input outside the run is made by a command named at the top of the file
        for p in s.inputs:
            if tmp_path not in p.parents and "unitrl/data" not in str(p):
                assert str(p) in head, (s.name, p)
