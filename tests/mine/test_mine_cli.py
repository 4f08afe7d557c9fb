"""`unitrl mine` on a small folder and on a stdlib slice, with the dynamic check in the real sandbox."""

from __future__ import annotations

import json

import pytest

from unitrl.mine.cli import MineConfig, dynamic_check, run_mine
from unitrl.records import Problem, read_problems

GOOD = '''
def clamp(x: int, lo: int, hi: int) -> int:
    """Clamp x into [lo, hi]."""
    return max(lo, min(hi, x))


def always_raises(x):
    """Never works."""
    raise ValueError(x)
    return x
'''


@pytest.fixture(scope="module")
def sandbox():
    from unitrl.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(workers=2, timeout=1.0)) as sb:
        yield sb


def test_dynamic_check_drops_nondeterministic_and_broken(sandbox):
    def problem(tid: str, ref: str, entry: str) -> Problem:
        return Problem(tid, "", entry, reference=ref, meta={"mine": {}})

    clock = "import time\n\ndef stamp(x: int) -> float:\n    return x + time.perf_counter()\n"
    ok = "def inc(x: int) -> int:\n    return x + 1\n"
    broken = "def bad(x: int) -> int:\n    raise RuntimeError('no')\n"
    objects = "def mk(x: int):\n    return object()\n"
    cands = [
        problem("t", clock, "stamp"),
        problem("o", ok, "inc"),
        problem("b", broken, "bad"),
        problem("m", objects, "mk"),
    ]
    kept, dropped = dynamic_check(sandbox, cands, n_inputs=6, seed=0, timeout=1.0)
    assert [p.task_id for p in kept] == ["o"]
    assert dropped["nondeterministic"] == 1 and dropped["no-working-input"] >= 1
    assert dropped["unrepresentable-output"] + dropped["no-working-input"] == 2


def test_mine_folder_writes_problems_and_summary(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "lib.py").write_text(GOOD)
    out = tmp_path / "p.jsonl"
    summary = run_mine(MineConfig(paths=[str(tmp_path / "code")], out=str(out)))
    problems = read_problems(out)
    assert [p.entry_point for p in problems] == ["clamp"]
    assert problems[0].prompt.startswith("def clamp(x: int, lo: int, hi: int) -> int:")
    on_disk = json.loads((tmp_path / "p.jsonl.summary.json").read_text())
    assert on_disk["dropped"] == {"no-working-input": 1} == summary["dropped"]


def test_mine_stdlib_slice_is_seeded(tmp_path):
    a = run_mine(MineConfig(out=str(tmp_path / "a.jsonl"), limit=5, seed=3))
    b = run_mine(MineConfig(out=str(tmp_path / "b.jsonl"), limit=5, seed=3))
    ids = [p.task_id for p in read_problems(tmp_path / "a.jsonl")]
    assert len(ids) == 5 and ids == [p.task_id for p in read_problems(tmp_path / "b.jsonl")]
    assert a["problems"] == b["problems"] == 5
    assert all(i.startswith("mine/") for i in ids)
