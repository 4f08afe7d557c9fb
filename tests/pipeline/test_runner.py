"""Stage skipping, selection and the report: the mechanics `unitrl run` relies on."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rich.console import Console

from unitrl.errors import UserError
from unitrl.pipeline.plan import STAGES, load_pipeline
from unitrl.pipeline.runner import StageSpec, run_stages, select_stages, write_report


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
        return [lambda: StageSpec("copy", Cfg(value), [src], [out], work)]

    console = Console(quiet=True)
    run_stages(tmp_path, plan(1), ["copy"], set(), console)
    run_stages(tmp_path, plan(1), ["copy"], set(), console)
    assert calls == [1]  # second run skipped
    run_stages(tmp_path, plan(2), ["copy"], set(), console)
    src.write_text("b")
    run_stages(tmp_path, plan(2), ["copy"], set(), console)
    out.unlink()
    records = run_stages(tmp_path, plan(2), ["copy"], set(), console)
    assert calls == [1, 2, 2, 2]  # config change, input change, missing output
    run_stages(tmp_path, plan(2), ["copy"], {"copy"}, console)
    assert calls == [1, 2, 2, 2, 2]  # --force
    report = write_report(tmp_path, records, "t").read_text()
    assert "| copy |" in report and '"chars": 2' in report


def test_stage_selection():
    assert select_stages(STAGES, only="exec") == ["exec"]
    assert select_stages(STAGES, from_stage="rl")[0] == "rl"
    with pytest.raises(UserError, match="unknown stage"):
        select_stages(STAGES, from_stage="nope")


def test_pipeline_yaml_errors_name_the_section(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("out_dir: x\nsampel:\n  n: 4\n")
    with pytest.raises(UserError, match="field 'sampel'"):
        load_pipeline(str(path), None)
    path.write_text("out_dir: x\nsample:\n  n: 4\n")
    cfg = load_pipeline(str(path), "y")
    assert cfg.out_dir == "y" and cfg.sections == {"sample": {"n": 4}}


def test_example_pipeline_configs_build_every_stage():
    from pathlib import Path

    from unitrl.pipeline.plan import build_plan

    for path in Path(__file__).parents[2].glob("configs/*.yaml"):
        text = path.read_text()
        if "out_dir:" not in text:  # a single-stage config (for `unitrl rl --config`)
            continue
        cfg = load_pipeline(str(path), None)
        specs = [make() for make in build_plan(cfg)]
        assert [s.name for s in specs] == STAGES


def test_rl_config_files_load():
    from pathlib import Path

    from unitrl.config import load_config
    from unitrl.rl.config import RLConfig

    path = Path(__file__).parents[2] / "configs" / "gorinski-actor-critic.yaml"
    cfg = load_config(RLConfig, str(path))
    assert cfg.algo == "actor_critic" and cfg.reward == "pass_rate"
