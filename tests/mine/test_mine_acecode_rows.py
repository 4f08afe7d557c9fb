"""`unitrl mine` on AceCode rows: rows without a usable inference are counted and skipped, not fatal."""

from __future__ import annotations

import json

from unitrl.mine.cli import MineConfig, run_mine
from unitrl.records import read_problems
from unitrl.synth.acecode import row_to_problem

CODE = "def double(x: int) -> int:\n    '''Twice x.'''\n    return 2 * x\n"


def _row(i: int, **extra) -> dict:
    return {"id": f"r{i}", "question": "Double x.", "test_cases": ["assert double(2) == 4"], **extra}


ROWS = [
    _row(0, inferences=[{"completion": f"```python\n{CODE}```", "pass_rate": 1.0}]),
    _row(1),  # no inferences at all
    _row(2, inferences="not a list"),
    _row(3, inferences=[{"completion": ["not", "text"], "pass_rate": 1.0}, 7]),
    _row(4, inferences=[{"completion": CODE, "pass_rate": 0.5}]),  # no passing one
]


def test_mine_skips_acecode_rows_without_code_and_counts_them(tmp_path):
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = tmp_path / "mined.jsonl"
    summary = run_mine(MineConfig(paths=[str(src)], out=str(out), dynamic=False))
    assert [p.entry_point for p in read_problems(out)] == ["double"]
    assert summary["dropped"]["snippet-row-without-code"] == 4
    assert json.loads((tmp_path / "mined.jsonl.summary.json").read_text())["problems"] == 1


def test_acecode_rows_with_malformed_inferences_have_no_reference():
    assert row_to_problem(ROWS[0]).reference == CODE
    assert [row_to_problem(r).reference for r in ROWS[1:]] == [None] * 4
