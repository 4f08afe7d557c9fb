"""Stage skipping, selection, time estimates and the report: the mechanics `unitrl run` relies on."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from rich.console import Console

from unitrl.errors import UserError
from unitrl.pipeline.plan import STAGES
from unitrl.pipeline.report import wilson, write_report
from unitrl.pipeline.runner import StageSpec, estimate_line, run_stages, select_stages


@dataclass
class Cfg:
    value: int = 1


def test_stages_rerun_only_when_config_or_inputs_change(tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("a")
    calls = []

    def work(cfg):
        calls.append(cfg.value)
        out.write_text(src.read_text() * cfg.value)
        return {"chars": cfg.value}

    def plan(value):
        return [StageSpec("copy", Cfg(value), [src], [out], work, estimate=60.0)]

    console = Console(quiet=True)
    run_stages(tmp_path, plan(1), ["copy"], set(), console)
    run_stages(tmp_path, plan(1), ["copy"], set(), console)
    assert calls == [1]  # second run skipped
    assert "0 stages to run (1 up to date)" in estimate_line(plan(1), ["copy"], tmp_path, set())
    assert "1 stages to run (0 up to date): about 1 min" in estimate_line(plan(2), ["copy"], tmp_path, set())
    run_stages(tmp_path, plan(2), ["copy"], set(), console)
    src.write_text("b")
    run_stages(tmp_path, plan(2), ["copy"], set(), console)
    src.write_text("b")  # same content, new mtime: still up to date
    run_stages(tmp_path, plan(2), ["copy"], set(), console)
    out.unlink()
    run_stages(tmp_path, plan(2), ["copy"], set(), console)
    assert calls == [1, 2, 2, 2]  # config change, input change, missing output
    run_stages(tmp_path, plan(2), ["copy"], {"copy"}, console)
    assert calls == [1, 2, 2, 2, 2]  # --force


def test_a_crash_leaves_the_stage_to_rerun(tmp_path):
    out = tmp_path / "out.txt"
    state = {"crash": False}

    def work(cfg):
        out.write_text("partial")
        if state["crash"]:
            raise RuntimeError("killed")
        return {}

    specs = [StageSpec("s", Cfg(), [], [out], work)]
    console = Console(quiet=True)
    run_stages(tmp_path, specs, ["s"], set(), console)
    state["crash"] = True
    with pytest.raises(RuntimeError):
        run_stages(tmp_path, specs, ["s"], {"s"}, console)
    # the old record is gone, so the output left by the crashed run does not look finished
    assert not (tmp_path / ".stages" / "s.json").exists()


def test_report_warns_first_when_a_time_limit_cut_a_stage(tmp_path):
    rl_dir = tmp_path / "rl"
    rl_dir.mkdir()

    def rl(cfg):
        summary = {"algo": "reinforce_pp", "reward": "binary", "steps": 3, "pass1_before": 0.2,
                   "pass1_after": 0.5, "greedy_before": 0.25, "greedy_after": 0.75}  # fmt: skip
        (rl_dir / "summary.json").write_text(json.dumps(summary))
        return {**summary, "cut_short": "RL stopped at 3 of 10 steps (max_minutes)"}

    specs = [StageSpec("rl", Cfg(), [], [rl_dir], rl)]
    records = run_stages(tmp_path, specs, ["rl"], set(), Console(quiet=True))
    text = write_report(tmp_path, specs, records, "t").read_text()
    first = text.splitlines()[2]
    assert first.startswith("> **Warning: a time limit cut a stage short.** RL stopped at 3 of 10 steps")
    assert "pass@1 20.0 -> 50.0 (+30.0 points), greedy 25.0 -> 75.0" in text

    specs = [StageSpec("rl", Cfg(2), [], [rl_dir], lambda c: {"steps": 10})]
    records = run_stages(tmp_path, specs, ["rl"], set(), Console(quiet=True))
    assert "Warning" not in write_report(tmp_path, specs, records, "t").read_text()


def test_wilson_interval():
    lo, hi = wilson(80, 100)
    assert 0.71 < lo < 0.72 and 0.86 < hi < 0.87  # the textbook values for 80/100
    assert wilson(0, 0) == (0.0, 1.0)


def test_stage_selection():
    assert select_stages(STAGES, only="exec") == ["exec"]
    assert select_stages(STAGES, from_stage="rl")[0] == "rl"
    with pytest.raises(UserError, match="unknown stage"):
        select_stages(STAGES, from_stage="nope")
