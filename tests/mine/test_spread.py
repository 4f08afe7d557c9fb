"""Prompts that define what their signature uses, and the spread of picks over modules."""

from __future__ import annotations

from unitrl.mine.cli import MineConfig, module_spread, run_mine, spread
from unitrl.mine.corpus import SourceFile
from unitrl.mine.extract import extract_problems
from unitrl.records import Problem, read_problems

SIGNATURES = '''
from typing import Optional

_sentinel = object()
Number = int

def with_sentinel(x, default=_sentinel):
    """Uses a module-level default."""
    return x if default is _sentinel else default

def with_alias(x: Number) -> Number:
    """Uses a module-level type."""
    return x + 1

def with_import(x: Optional[int] = None, y: int = 0) -> int:
    """Names from its imports and builtins only."""
    return (x or 0) + y
'''


def test_prompts_must_define_every_name_their_signature_uses():
    ex = extract_problems(SourceFile("mod", "mod.py", SIGNATURES))
    assert [p.entry_point for p in ex.problems] == ["with_import"]
    assert ex.dropped == {"prompt-uses-undefined-name": 2}
    prompt = ex.problems[0].prompt
    namespace: dict = {}
    exec(prompt + "    pass\n", namespace)  # the prompt alone defines the function: a completion can run
    assert callable(namespace["with_import"])


def _problem(module: str, i: int) -> Problem:
    return Problem(f"mine/{module}.f{i}", "", "f", reference="", meta={"mine": {"module": module}})


def test_spread_caps_modules_and_takes_round_robin_up_to_the_limit():
    pool = [_problem("inspect", i) for i in range(6)] + [_problem("heapq", i) for i in range(2)]
    pool += [_problem("stat", 0)]
    capped, n_capped = spread(pool, per_module=3, limit=0)
    assert n_capped == 3 and [p.task_id for p in capped][:3] == [
        "mine/inspect.f0",
        "mine/inspect.f1",
        "mine/inspect.f2",
    ]
    picked, n_over = spread(pool, per_module=0, limit=4)
    assert n_over == 5
    # one of each module per round, in order of first appearance; kept in input order
    assert [p.task_id for p in picked] == [
        "mine/inspect.f0",
        "mine/inspect.f1",
        "mine/heapq.f0",
        "mine/stat.f0",
    ]
    assert module_spread(picked)["max_per_module"] == 2 and module_spread(picked)["modules"] == 3


def test_mine_limit_spreads_and_reports_it(tmp_path):
    summary = run_mine(MineConfig(out=str(tmp_path / "m.jsonl"), limit=20, seed=1, per_module=3))
    problems = read_problems(tmp_path / "m.jsonl")
    assert summary["spread"]["max_per_module"] <= 3 and len(problems) == summary["problems"]
    assert summary["spread"]["modules"] == len({p.meta["mine"]["module"] for p in problems}) >= 7
