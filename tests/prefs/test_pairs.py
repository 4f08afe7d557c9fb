"""Pairing rule boundaries, model separation, dedup, cap, and the CLI files (hand-made pass rates)."""

from __future__ import annotations

import json

import pytest

from unitrl.cli import main
from unitrl.prefs.pairs import Candidate, cap_pairs, qualifies, task_pairs
from unitrl.records import Pair, Problem, Result, Sample, read_records, write_records


@pytest.mark.parametrize(
    ("chosen", "rejected", "strict", "expected"),
    [
        (0.8, 0.4, False, True),  # both boundaries met with equality: kept under >=
        (0.8, 0.4, True, False),  # the paper's strict reading drops it
        (4 / 5, 2 / 5, False, True),  # fractions of 5 tests
        (0.6 + 0.2, 0.2 + 0.2, False, True),  # float rounding: 0.8000000000000002 - 0.4
        (0.7, 0.3, False, False),  # chosen 0.7 fails even though the gap is 0.4
        (0.6 + 0.4, 0.4 + 0.2, False, True),  # 1.0 - 0.6000000000000001 = 0.3999999999999999: still 0.4
        (0.79, 0.1, False, False),  # chosen below 0.8
        (1.0, 0.0, False, False),  # rejected must pass something (> 0)
        (1.0, 0.61, False, False),  # gap 0.39
        (0.9, 0.45, True, True),  # strictly above both
        (0.9, 0.5, True, False),  # gap exactly 0.4: out under the strict reading
        (1.0, 0.05, False, True),
    ],
)
def test_qualifies_boundaries(chosen, rejected, strict, expected):
    assert qualifies(chosen, rejected, 0.8, 0.4, 0.0, strict) is expected


def test_min_rejected_is_strict():
    assert not qualifies(1.0, 0.2, 0.8, 0.4, 0.2, False)
    assert qualifies(1.0, 0.25, 0.8, 0.4, 0.2, False)


def test_task_pairs_within_model_and_dedup():
    cands = [
        Candidate(0, "good", 1.0, "m1"),
        Candidate(1, "half", 0.5, "m1"),
        Candidate(2, "half", 0.5, "m1"),  # same text as 1: the pair (good, half) appears once
        Candidate(3, "bad", 0.2, "m2"),  # other model: never paired with m1's programs
        Candidate(4, "zero", 0.0, "m1"),  # rejected pass rate 0: excluded
        Candidate(5, "ok", 0.8, "m1"),
    ]
    pairs = task_pairs("t", "PROMPT", cands)
    got = sorted((p.chosen, p.rejected, p.margin) for p in pairs)
    assert got == [("good", "half", 0.5)]  # ok vs half: gap 0.3 < 0.4
    p = pairs[0]
    assert (p.chosen_id, p.rejected_id, p.prompt, p.task_id) == (0, 1, "PROMPT", "t")


def test_cap_is_seeded_and_bounded():
    pairs = [Pair("t", "p", f"c{i}", "r", i, 0, 1.0, 0.5, 0.5) for i in range(10)]
    a, b = cap_pairs(pairs, 3, seed=1), cap_pairs(pairs, 3, seed=1)
    assert len(a) == 3 and a == b
    assert cap_pairs(pairs, 0, seed=1) == pairs


def test_pairs_cli_files(tmp_path):
    problem = Problem("t/0", "def f(x):\n", "f", ["assert f(1) == 1", "assert f(2) == 2"])
    samples = [
        Sample("t/0", 0, solution="def f(x):\n    return x\n", meta={"model": "m"}),
        Sample("t/0", 1, solution="def f(x):\n    return 1\n", meta={"model": "m"}),
        Sample("t/0", 2, solution="def f(x):\n    return 0\n", meta={"model": "m"}),
        Sample("t/0", 3, solution="x", meta={"model": "m"}),  # no result: counted as missing
    ]
    results = [
        Result("t/0", 0, True, 1.0, "pass"),
        Result("t/0", 1, False, 0.5, "fail"),
        Result("t/0", 2, False, 0.5, "infrastructure-error"),  # not a verdict: skipped
    ]
    for name, rows in (("p", [problem]), ("s", samples), ("r", results)):
        write_records(tmp_path / f"{name}.jsonl", rows)
    args = ["pairs", "--problems", str(tmp_path / "p.jsonl"), "--samples", str(tmp_path / "s.jsonl")]
    args += ["--results", str(tmp_path / "r.jsonl")]
    main([*args, "--out", str(tmp_path / "pairs.jsonl")])
    [pair] = read_records(tmp_path / "pairs.jsonl", Pair)
    assert pair.chosen == "def f(x):\n    return x\n" and pair.rejected_id == 1 and pair.margin == 0.5
    assert pair.prompt.startswith("def f(x):") and "assert f(1) == 1" in pair.prompt
    assert "assert f(2) == 2" not in pair.prompt  # ONE test in the RM prompt

    main([*args, "--out", str(tmp_path / "ace.jsonl"), "--format", "acecode"])
    row = json.loads((tmp_path / "ace.jsonl").read_text())
    assert set(row) == {"instruction", "input", "chosen", "rejected", "id"} and row["id"] == 0
