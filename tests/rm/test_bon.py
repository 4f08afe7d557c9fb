"""Best-of-N maths against values worked out by hand, and the bon command's files."""

from __future__ import annotations

import json

import pytest

from unitrl.cli import main
from unitrl.records import Result, Sample, Score, write_records
from unitrl.rm.bon import TaskPool, bon_table, expected_best_of_n, n_values, pass_at_n, sampled_best_of_n

# Task A: 4 programs, passed T F F T, scores 0.9 0.8 0.1 0.5.
# Best-of-2 over the 6 pairs: {0,1} {0,2} {0,3} pick 0 (pass); {1,2} {1,3} pick 1 (fail); {2,3} picks 3 (pass) -> 4/6.
A = TaskPool("A", [True, False, False, True], {"rm": [0.9, 0.8, 0.1, 0.5]})
# Task B: a tie between a passing and a failing program: best-of-2 picks either -> 0.5.
B = TaskPool("B", [True, False], {"rm": [1.0, 1.0]}, greedy=True)


def test_exact_best_of_n_by_hand():
    assert expected_best_of_n(A.passed, A.scores["rm"], 1) == pytest.approx(0.5)
    assert expected_best_of_n(A.passed, A.scores["rm"], 2) == pytest.approx(4 / 6)
    assert expected_best_of_n(A.passed, A.scores["rm"], 3) == pytest.approx(
        3 / 4
    )  # 0 wins 3 of 4 triples; {1,2,3} picks 1
    assert expected_best_of_n(A.passed, A.scores["rm"], 4) == pytest.approx(1.0)
    assert expected_best_of_n(B.passed, B.scores["rm"], 2) == pytest.approx(0.5)


def test_pass_at_n_by_hand():
    assert pass_at_n(A.passed, 1) == pytest.approx(0.5)
    assert pass_at_n(A.passed, 2) == pytest.approx(1 - 1 / 6)  # only {1,2} has no pass
    assert pass_at_n([False, False], 2) == 0.0


def test_table_and_sampling_agree():
    table = bon_table([A, B], ["rm"], trials=2000, seed=1)
    assert table["average"] == pytest.approx(0.5) and table["greedy"] == 1.0 and table["greedy_tasks"] == 1
    assert [r["n"] for r in table["rows"]] == [1, 2]  # B has only 2 programs
    row2 = table["rows"][1]
    assert row2["rm"] == pytest.approx((4 / 6 + 0.5) / 2)
    assert row2["oracle"] == pytest.approx((5 / 6 + 1.0) / 2)
    draws = sampled_best_of_n([A, B], "rm", 2, 2000, seed=3)
    assert sum(draws) / len(draws) == pytest.approx(row2["rm"], abs=0.02)
    assert row2["rm_std"] > 0


def test_n_values():
    assert n_values(16) == [1, 2, 4, 8, 16]
    assert n_values(10) == [1, 2, 4, 8, 10]
    assert n_values(1) == [1]


def test_bon_cli(tmp_path):
    samples, results, rm, neg = [], [], [], []
    for i, (ok, s) in enumerate(zip(A.passed, A.scores["rm"])):
        samples.append(Sample("A", i, solution=f"# {i}"))
        results.append(Result("A", i, ok, 1.0 if ok else 0.0, "pass" if ok else "fail"))
        rm.append(Score("A", i, s))
        neg.append(Score("A", i, -s))  # a ranker that prefers the worst program
    samples.append(Sample("A", "greedy", solution="# g", meta={"greedy": True}))
    results.append(Result("A", "greedy", False, 0.0, "fail"))
    for name, rows in (("s", samples), ("r", results), ("rm", rm), ("neg", neg)):
        write_records(tmp_path / f"{name}.jsonl", rows)
    main(["bon", "--samples", str(tmp_path / "s.jsonl"), "--results", str(tmp_path / "r.jsonl"),
          "--scores", str(tmp_path / "rm.jsonl"), "--extra-scores", f"neg={tmp_path / 'neg.jsonl'}",
          "--out", str(tmp_path / "bon"), "--trials", "50"])  # fmt: skip
    table = json.loads((tmp_path / "bon" / "bon.json").read_text())
    assert (tmp_path / "bon" / "bon.png").stat().st_size > 1000
    assert table["greedy"] == 0.0 and [r["n"] for r in table["rows"]] == [1, 2, 4]
    by_n = {r["n"]: r for r in table["rows"]}
    assert by_n[2]["rm"] == pytest.approx(4 / 6)
    # neg picks 2 (fail) from any pair holding it, else 3 (pass) or 1 (fail): {2,x}x3 fail; {0,1} 1 fail; {0,3},{1,3} 3 pass
    assert by_n[2]["neg"] == pytest.approx(2 / 6)
    assert by_n[4]["rm"] == 1.0 and by_n[4]["neg"] == 0.0
