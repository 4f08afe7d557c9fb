"""benchmarks/rl_curriculum.py in smoke mode: the whole proof pipeline wired end to end, small."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "rl_curriculum.py"


def test_smoke_mode_prints_table_and_json(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("rl_curriculum", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--smoke", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert [r["algo"] for r in lines] == ["reinforce_pp", "actor_critic", "sft_only"]
    for r in lines:
        assert {"algo", "reward", "pass1_before", "pass1_after", "minutes"} <= set(r)
        assert 0 <= r["pass1_before"] <= 1 and 0 <= r["pass1_after"] <= 1
    assert len(rows) == 3 and "pass@1 before" in out
    assert (tmp_path / "curves.png").stat().st_size > 0
