"""`unitrl eval` and `unitrl import` end to end: real sandbox, real files, one-line user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unitrl.cli import main
from unitrl.eval.importers import load_humaneval
from unitrl.eval.wrong import canonical_samples, wrong_samples
from unitrl.records import Problem, Result, Sample, read_problems, read_records, write_records


def _run(args: list[str]) -> None:
    main(args)


def test_eval_humaneval_subset_writes_results_and_summary(tmp_path: Path) -> None:
    chosen = load_humaneval()[:3]
    samples = canonical_samples(chosen) + wrong_samples(chosen, per_task=1)
    write_records(tmp_path / "s.jsonl", samples)
    out = tmp_path / "out"
    _run(
        [
            "eval",
            "humaneval",
            "--samples",
            str(tmp_path / "s.jsonl"),
            "--out-dir",
            str(out),
            "--k",
            "1",
            "--k",
            "2",
            "--k",
            "5",
        ]
    )
    results = read_records(out / "results.jsonl", Result)
    assert [(r.task_id, r.sample_id) for r in results] == [(s.task_id, s.sample_id) for s in samples]
    assert [r.passed for r in results] == [True] * 3 + [False] * 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass_at_k"] == {"pass@1": 0.5, "pass@2": 1.0}  # 2 samples per task, one correct
    assert summary["samples"] == 6 and summary["tasks_with_samples"] == 3 and summary["problems"] == 164
    assert summary["status_counts"]["pass"] == 3
    assert summary["tasks"]["HumanEval/0"] == {"samples": 2, "passed": 1}
    assert (out / "config.yaml").exists()


def test_eval_problems_file_with_solutions(tmp_path: Path) -> None:
    problems = [Problem("add", "Add two numbers.", "add", ["assert add(1, 2) == 3", "assert add(2, 2) == 4"])]
    write_records(tmp_path / "p.jsonl", problems)
    samples = [
        Sample("add", solution="```python\ndef add(a, b):\n    return a + b\n```"),
        Sample("add", solution="def add(a, b):\n    return 3\n"),
        Sample("add", solution="def add(a, b):\n    while True: pass\n"),
    ]
    write_records(tmp_path / "s.jsonl", samples)
    out = tmp_path / "out"
    _run(
        [
            "eval",
            "--problems",
            str(tmp_path / "p.jsonl"),
            "--samples",
            str(tmp_path / "s.jsonl"),
            "--out-dir",
            str(out),
            "--timeout",
            "0.5",
        ]
    )
    results = read_records(out / "results.jsonl", Result)
    assert [r.sample_id for r in results] == [0, 1, 2]
    assert [r.pass_rate for r in results] == [1.0, 0.5, 0.0]
    assert results[2].status == "timeout"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass_at_k"] == {"pass@1": pytest.approx(1 / 3)}


def test_greedy_samples_are_reported_apart_from_sampled_pass_at_k(tmp_path: Path) -> None:
    """8 wrong samples and 1 correct greedy one: sampled pass@1 is 0 and greedy pass@1 is 1 (counting the
    greedy sample in would give 1/9)."""
    problems = [Problem("add", "Add two numbers.", "add", ["assert add(1, 2) == 3"])]
    write_records(tmp_path / "p.jsonl", problems)
    wrong = [Sample("add", i, solution=f"def add(a, b):\n    return {i + 10}\n") for i in range(8)]
    greedy = Sample("add", "greedy", solution="def add(a, b):\n    return a + b\n", meta={"greedy": True})
    write_records(tmp_path / "s.jsonl", [*wrong, greedy])
    out = tmp_path / "out"
    _run(["eval", "--problems", str(tmp_path / "p.jsonl"), "--samples", str(tmp_path / "s.jsonl"),
          "--out-dir", str(out), "--k", "1", "--k", "8"])  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass_at_k"] == {"pass@1": 0.0, "pass@8": 0.0}
    assert summary["greedy_pass_at_1"] == 1.0 and summary["greedy_samples"] == 1 and summary["samples"] == 8
    assert summary["tasks"]["add"] == {"samples": 8, "passed": 0, "greedy_passed": True}
    assert len(read_records(out / "results.jsonl", Result)) == 9  # every sample is still graded


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "humaneval"], "--samples FILE is required"),
        (["eval", "nosuch", "--samples", "{s}"], "unknown benchmark 'nosuch'"),
        (["eval", "--samples", "{s}"], "name a benchmark"),
        (["eval", "humaneval", "--samples", "{bad}"], "1 task_id(s) not among the problems, e.g. 'Nope/1'"),
        (["import", "nosuch", "--out", "x.jsonl"], "name one format to import"),
        (["import", "mbpp", "--out", "{tmp}/x.jsonl"], "MBPP needs its file"),
    ],
)
def test_user_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    write_records(tmp_path / "s.jsonl", [Sample("HumanEval/0", completion="    return True\n")])
    write_records(tmp_path / "bad.jsonl", [Sample("Nope/1", completion="pass")])
    paths = {"s": str(tmp_path / "s.jsonl"), "bad": str(tmp_path / "bad.jsonl"), "tmp": str(tmp_path)}
    with pytest.raises(SystemExit) as exit_info:
        _run([a.format(**paths) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_import_humaneval_and_mbpp(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _run(["import", "humaneval", "--out", str(tmp_path / "he.jsonl")])
    assert "wrote 164 problems" in capsys.readouterr().out
    problems = read_problems(tmp_path / "he.jsonl")
    assert problems == load_humaneval()
    row = {
        "task_id": 7,
        "text": "Double it.",
        "code": "def dbl(x):\n    return 2 * x",
        "test_list": ["assert dbl(2) == 4"],
        "test_setup_code": "",
        "challenge_test_list": [],
    }
    (tmp_path / "mbpp.jsonl").write_text(json.dumps(row) + "\n")
    _run(["import", "mbpp", "--in", str(tmp_path / "mbpp.jsonl"), "--out", str(tmp_path / "m.jsonl")])
    assert "wrote 1 problems" in capsys.readouterr().out
    [p] = read_problems(tmp_path / "m.jsonl")
    assert p.task_id == "Mbpp/7" and p.entry_point == "dbl" and p.tests == ["assert dbl(2) == 4"]


def test_mbpp_setup_code_tests_run_in_the_sandbox(tmp_path: Path) -> None:
    row = {
        "task_id": 9, "text": "Add K.", "code": "def add_k(x):\n    return x + K",
        "test_list": ["assert add_k(1) == 3", "assert add_k(5) == 7"], "test_setup_code": "K = 2",
        "challenge_test_list": [],
    }  # fmt: skip
    (tmp_path / "mbpp.jsonl").write_text(json.dumps(row) + "\n")
    _run(["import", "mbpp", "--in", str(tmp_path / "mbpp.jsonl"), "--out", str(tmp_path / "p.jsonl")])
    samples = [
        Sample("Mbpp/9", solution=row["code"]),
        Sample("Mbpp/9", solution="def add_k(x):\n    return x + 2 * K\n"),
    ]
    write_records(tmp_path / "s.jsonl", samples)
    _run(
        [
            "eval",
            "--problems",
            str(tmp_path / "p.jsonl"),
            "--samples",
            str(tmp_path / "s.jsonl"),
            "--out-dir",
            str(tmp_path / "o"),
        ]
    )
    results = read_records(tmp_path / "o" / "results.jsonl", Result)
    assert [r.passed for r in results] == [True, False]
    # Setup + assert is a multi-statement test run inside the child; a failed assert there is reported as
    # "fail" or "error" depending on the sandbox's mapping of exec steps, never as a pass.
    assert [t.status in ("fail", "error") for t in results[1].tests] == [True, True]
    assert results[1].pass_rate == 0.0
