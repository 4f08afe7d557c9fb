"""A shrunk `unitrl run` end to end (the real CLI in a subprocess): synthesized problems reach RL and
evaluation, and a rerun reruns exactly the stages downstream of what changed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from unitrl.records import Result, read_problems, read_records, read_samples

pytestmark = pytest.mark.integration

SHRUNK = """\
out_dir: {run}
workers: 2
humaneval:
  wrong_per_task: 0
mine:
  limit: 60
synth:
  n_tests: 5
  mutants: 0
split:
  heldout: 0.3
  seed: {split_seed}
curriculum:
  n: 300
policy:
  steps: 120
  batch_size: 32
  lr: 3.0e-3
sample:
  limit: 16
  n: 4
train_rm:
  epochs: 1.0
rl:
  steps: 2
  prompts_per_step: 4
  samples_per_prompt: 4
  eval_every: 0
  eval_samples: 1
  eval_limit: 6
  checkpoint_every: 0
eval:
  timeout: {eval_timeout}
"""


def run_pipeline(tmp_path: Path, split_seed: int = 0, eval_timeout: float = 3.0) -> set[str]:
    """Run `unitrl run` on the shrunk config; returns the stages that ran (not skipped)."""
    cfg = tmp_path / "shrunk.yaml"
    run = tmp_path / "run"
    cfg.write_text(SHRUNK.format(run=run, split_seed=split_seed, eval_timeout=eval_timeout))
    proc = subprocess.run(
        [sys.executable, "-m", "unitrl", "run", str(cfg)], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = " ".join(proc.stderr.split())  # rich wraps lines to the terminal width
    assert re.search(r"stages to run \(\d+ up to date\): about \d+ min", text)
    return set(re.findall(r"✓ (\w+) in", text))


def ids(path: Path) -> set[str]:
    return {p.task_id for p in read_problems(path)}


def test_shrunk_run_chains_mined_problems_into_rl_and_eval(tmp_path):
    first = run_pipeline(tmp_path)
    run = tmp_path / "run"
    assert len(first) == 16  # every stage of the default plan ran (hard is off)

    # mine -> synth -> split: the train and held-out problems are mined functions with synthesized tests
    mined, synth = ids(run / "mine/problems.jsonl"), ids(run / "synth/problems.jsonl")
    train, heldout = read_problems(run / "split/train.jsonl"), read_problems(run / "split/heldout.jsonl")
    assert synth <= mined and len(synth) >= 20
    assert {p.task_id for p in train} | {p.task_id for p in heldout} == synth
    assert not {p.task_id for p in train} & {p.task_id for p in heldout}
    assert all(p.tests and "synth" in p.meta for p in train + heldout)

    # they reach sampling, RL and evaluation
    assert {s.task_id for s in read_samples(run / "sample/samples.jsonl")} <= {p.task_id for p in train}
    rl_cfg = (run / "rl/config.yaml").read_text()
    assert f"problems: {run / 'split/train.jsonl'}" in rl_cfg
    assert f"eval_problems: {run / 'split/heldout.jsonl'}" in rl_cfg
    summary = json.loads((run / "rl/summary.json").read_text())
    assert summary["steps"] == 2 and summary["pass1_before"] is not None
    evaluated = {r.task_id for r in read_records(run / "eval/results.jsonl", Result)}
    assert evaluated == {p.task_id for p in heldout}

    report = (run / "report.md").read_text()
    assert report.splitlines()[2].startswith("Every stage ran its full budget")
    assert f"| `{run / 'split/train.jsonl'}` | split | {len(train)} | sample, exec, pairs" in report
    assert "held-out pairwise accuracy" in report and "RL trained on" in report

    # nothing changed: everything is up to date
    assert run_pipeline(tmp_path) == set()
    # a new split reruns exactly what reads it, directly or through later outputs
    downstream = {"split", "sample", "exec", "pairs", "reward_model", "train_rm", "score", "bon", "rl",
                  "final_sample", "eval"}  # fmt: skip
    assert run_pipeline(tmp_path, split_seed=1) == downstream
    # a setting of the last stage reruns only that stage
    assert run_pipeline(tmp_path, split_seed=1, eval_timeout=4.0) == {"eval"}
