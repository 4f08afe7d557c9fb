"""select-hard against medians computed by hand."""

from __future__ import annotations

import pytest

from unitrl.cli import main
from unitrl.prefs.hard import select_hard, task_spreads
from unitrl.records import Problem, Result, Sample, read_problems, write_records

# Means: a 0.5, b 0.25, c 1.0, d 0.0  -> median of means (0.25 + 0.5) / 2 = 0.375
# Stds (population): a 0.5, b 0.25 (values 0,0,0.5,0.5 -> 0.25), c 0.0, d 0.0 -> median (0 + 0.25) / 2 = 0.125
RATES = {
    "a": [0.0, 1.0, 0.0, 1.0],
    "b": [0.0, 0.0, 0.5, 0.5],
    "c": [1.0, 1.0, 1.0, 1.0],
    "d": [0.0, 0.0, 0.0, 0.0],
}


def test_spreads_and_medians_by_hand():
    spreads = {s.task_id: s for s in task_spreads(RATES)}
    assert spreads["a"].mean == 0.5 and spreads["a"].std == 0.5
    assert spreads["b"].mean == 0.25 and spreads["b"].std == 0.25
    kept, med_mean, med_std = select_hard(list(spreads.values()))
    assert med_mean == pytest.approx(0.375) and med_std == pytest.approx(0.125)
    # a: mean 0.5 > 0.375 -> out; b: 0.25 <= 0.375 and 0.25 >= 0.125 -> in; c: mean too high; d: std 0 too low
    assert [s.task_id for s in kept] == ["b"]


def test_ties_at_the_median_are_kept():
    kept, _, _ = select_hard(task_spreads({"x": [0.0, 1.0], "y": [0.0, 1.0], "z": [0.5, 0.5]}))
    # medians: mean 0.5 (all), std 0.5 -> x and y sit exactly on both medians and stay; z has std 0
    assert sorted(s.task_id for s in kept) == ["x", "y"]


def test_select_hard_cli_drops_greedy(tmp_path):
    problems = [Problem(t, f"# {t}\n", tests=["assert True"]) for t in RATES]
    results, samples = [], []
    for t, rates in RATES.items():
        for i, r in enumerate(rates):
            results.append(Result(t, i, r == 1.0, r, "pass" if r == 1.0 else "fail"))
            samples.append(Sample(t, i, solution="pass"))
        # a greedy sample that would move b's mean above the median if it were counted
        results.append(Result(t, "greedy", True, 1.0, "pass"))
        samples.append(Sample(t, "greedy", solution="pass", meta={"greedy": True}))
    write_records(tmp_path / "p.jsonl", problems)
    write_records(tmp_path / "r.jsonl", results)
    write_records(tmp_path / "s.jsonl", samples)
    main(["select-hard", "--problems", str(tmp_path / "p.jsonl"), "--results", str(tmp_path / "r.jsonl"),
          "--samples", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "hard.jsonl")])  # fmt: skip
    [kept] = read_problems(tmp_path / "hard.jsonl")
    assert kept.task_id == "b" and kept.meta["sample_pass_std"] == 0.25
