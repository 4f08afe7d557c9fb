"""Best-of-N maths against values worked out by hand (reward scores and CodeT agreement), and the bon
command's files."""

from __future__ import annotations

import json
import random

import pytest

from unitrl.cli import main
from unitrl.errors import UserError
from unitrl.records import Problem, Result, Sample, Score, write_records
from unitrl.rm import bon
from unitrl.rm.bon import (
    TaskPool,
    bon_table,
    codet_best_of_n,
    expected_best_of_n,
    n_values,
    pass_at_n,
    sampled_best_of_n,
)
from unitrl.rm.cli import BonConfig, run_bon

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


# CodeT: programs a, b, c pass generated test 0 only (all wrong); d passes tests 0 and 1 (right).
# Over all four, {a,b,c} scores 3 x 1 = 3 and beats d's 1 x 2 = 2, but consensus is formed INSIDE each
# subset: a pair {x, d} scores 1 against 2 and picks d; {x, y} picks a wrong one -> 3 of 6 pairs right.
# Triples: {x, y, d} ties 2 = 2, more tests wins -> d (3 of 4 triples); {a,b,c} -> wrong. All four -> wrong.
Y, X = frozenset({0}), frozenset({0, 1})
CODET = TaskPool("C", [False, False, False, True], patterns={"codet": [Y, Y, Y, X]})


def test_codet_best_of_n_by_hand():
    got = [codet_best_of_n(CODET.passed, CODET.patterns["codet"], n) for n in (1, 2, 3, 4)]
    assert got == pytest.approx([1 / 4, 3 / 6, 3 / 4, 0.0])
    # Same pattern, different real verdicts: the pick inside a group is uniform.
    assert codet_best_of_n([True, False], [X, X], 2) == pytest.approx(0.5)


def test_codet_estimate_agrees_with_the_exact_mean(monkeypatch):
    rng = random.Random(5)
    patterns = [frozenset(rng.sample(range(6), rng.randint(0, 4))) for _ in range(14)]
    passed = [rng.random() < 0.4 for _ in patterns]
    exact = codet_best_of_n(passed, patterns, 5)
    monkeypatch.setattr(bon, "COMPOSITION_LIMIT", 0)  # force the seeded random-subset estimate
    assert codet_best_of_n(passed, patterns, 5, seed=1) == pytest.approx(exact, abs=0.03)
    draws = sampled_best_of_n([TaskPool("R", passed, patterns={"codet": patterns})], "codet", 5, 3000, seed=2)
    assert sum(draws) / len(draws) == pytest.approx(exact, abs=0.03)


def test_bon_cli_codet_ranker_runs_generated_tests(tmp_path):
    gen = Problem("C", "def f(x):\n", "f", tests=["assert f(1) == 2", "assert f(2) == 4"])  # generated tests
    bodies = ["return x + 1", "return 1 + x", "return x - (-1)", "return 2 * x"]  # tests {0},{0},{0},{0,1}
    samples = [Sample("C", i, solution=f"def f(x):\n    {b}\n") for i, b in enumerate(bodies)]
    samples.append(Sample("C", "greedy", solution="def f(x):\n    return 0\n", meta={"greedy": True}))
    results = [Result("C", i, i == 3, float(i == 3), "pass" if i == 3 else "fail") for i in range(4)]
    results.append(Result("C", "greedy", False, 0.0, "fail"))
    for name, rows in (("s", samples), ("r", results), ("p", [gen])):
        write_records(tmp_path / f"{name}.jsonl", rows)
    main(["bon", "--samples", str(tmp_path / "s.jsonl"), "--results", str(tmp_path / "r.jsonl"),
          "--ranker", "codet", "--problems", str(tmp_path / "p.jsonl"), "--out", str(tmp_path / "bon"),
          "--trials", "20", "--workers", "1"])  # fmt: skip
    table = json.loads((tmp_path / "bon" / "bon.json").read_text())
    assert table["rankers"] == ["codet"] and table["missing_scores"] == {"codet": 0}
    assert {r["n"]: r["codet"] for r in table["rows"]} == pytest.approx({1: 1 / 4, 2: 3 / 6, 4: 0.0})
    assert table["codet"] == {"questions_with_tests": 1, "contradictory": 0}


def test_bon_cli_codet_needs_problems(tmp_path):
    write_records(tmp_path / "s.jsonl", [Sample("C", 0, solution="x = 1")])
    write_records(tmp_path / "r.jsonl", [Result("C", 0, True, 1.0, "pass")])
    with pytest.raises(UserError, match="--problems"):
        run_bon(BonConfig(samples=str(tmp_path / "s.jsonl"), results=str(tmp_path / "r.jsonl"),
                          out=str(tmp_path / "o"), ranker="codet"))  # fmt: skip
