"""RL settings as data: the algorithm table, the typed settings, and option errors a user can cause."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest

import unitrl.rl
from unitrl.cli import main
from unitrl.rl.config import RLConfig, sandbox_config, update_settings
from unitrl.rl.estimators import ALGORITHMS


def test_the_table_is_the_only_list_of_algorithms():
    [algo] = [f for f in dataclasses.fields(RLConfig) if f.name == "algo"]
    assert set(algo.metadata["choices"]) == set(ALGORITHMS)
    for name, row in ALGORITHMS.items():
        assert row.critic in ("none", "token", "sequence") and row.kl in ("reward", "loss"), name
        assert row.loss in ("ppo_clip", "actor_critic") and row.min_group >= 1, name
    # No file of the RL stage picks behaviour by comparing the algorithm's name: it reads the row.
    compare = re.compile(r"\balgo\s*(==|!=|(not\s+)?in\s+(?!ALGORITHMS\b))")  # a lookup in the table is fine
    for path in Path(unitrl.rl.__file__).parent.glob("*.py"):
        hits = [line for line in path.read_text().splitlines() if compare.search(line)]
        assert not hits, (path.name, hits)


def test_settings_carry_the_users_values():
    cfg = RLConfig(
        kl_coef=0.05, clip_eps=0.3, ppo_epochs=2, micro_batch=7, test_timeout=0.7, sandbox_workers=3
    )
    update = update_settings(cfg)
    assert (update.loss.kl_coef, update.loss.clip_eps, update.micro_batch) == (0.05, 0.3, 7)
    assert update.off_policy and not update_settings(RLConfig()).off_policy
    sandbox = sandbox_config(cfg)
    assert (sandbox.timeout, sandbox.workers) == (0.7, 3)


def test_tensorboard_without_the_package_is_one_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails, as when not installed
    args = ["rl", "--problems", "p.jsonl", "--model", "m", "--tensorboard", "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "pip install tensorboard" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_group_estimators_need_two_samples(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["rl", "--problems", "p.jsonl", "--model", "m", "--algo", "grpo", "--samples-per-prompt", "1",
              "--out", str(tmp_path / "run")])  # fmt: skip
    assert "grpo needs samples_per_prompt >= 2" in capsys.readouterr().err
