"""`unitrl export verl|evalplus|livecodebench|acecode`: files read back the way those tools read them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unitrl.cli import main
from unitrl.formats.ground_truth import parse_ground_truth
from unitrl.integrations import verl
from unitrl.policy_io import chat_messages
from unitrl.records import Problem, write_records

PROBLEMS = [
    Problem("Mbpp/2", "Return twice x.", "f", ["assert f(2) == 4", "assert f(-1) == -2"], source="mbpp",
            meta={"setup_code": "K = 1", "origin": "x"}),
    Problem("lcb/abc1_a", "Print a+b.", None, [{"stdin": "1 2\n", "stdout": "3\n"}], source="livecodebench",
            meta={"question_id": "abc1_a"}),
]  # fmt: skip


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    path = tmp_path / "problems.jsonl"
    write_records(path, PROBLEMS)
    return path


def test_export_verl_parquet_round_trip(tmp_path: Path, problems_file: Path) -> None:
    import pandas as pd

    out = tmp_path / "train.parquet"
    main(["export", "verl", "--problems", str(problems_file), "--out", str(out), "--split", "test"])
    rows = pd.read_parquet(out).to_dict("records")
    assert list(rows[0]) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    assert [r["data_source"] for r in rows] == ["unitrl/mbpp", "unitrl/livecodebench"]
    assert [list(map(dict, r["prompt"])) for r in rows] == [chat_messages(p) for p in PROBLEMS]
    assert rows[0]["ability"] == "code" and rows[0]["reward_model"]["style"] == "rule"
    assert dict(rows[1]["extra_info"]) == {"split": "test", "index": 1, "task_id": "lcb/abc1_a", "entry_point": "",
                                           "source": "livecodebench"}  # fmt: skip
    tests, entry, meta = parse_ground_truth(rows[0]["reward_model"]["ground_truth"])
    assert (tests, entry, meta) == (PROBLEMS[0].tests, "f", {"setup_code": "K = 1"})  # grading meta only
    # the exported ground truth scores like the problem: MBPP's setup code runs with the program
    program = "```python\ndef f(x):\n    return 2 * x * K\n```"
    assert verl.compute_score("unitrl/mbpp", program, rows[0]["reward_model"]["ground_truth"]) == 1.0
    stdio_answer = "```python\nprint(sum(map(int, input().split())))\n```"
    assert verl.compute_score("unitrl/lcb", stdio_answer, rows[1]["reward_model"]["ground_truth"]) == 1.0
    verl.close()


def test_export_verl_needs_parquet(
    tmp_path: Path, problems_file: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["export", "verl", "--problems", str(problems_file), "--out", str(tmp_path / "t.jsonl")])
    assert done.value.code == 2 and "name the output FILE.parquet" in capsys.readouterr().err


def test_export_evalplus_and_livecodebench_samples(tmp_path: Path, problems_file: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    rows = [
        {"task_id": "Mbpp/2", "sample_id": 0, "solution": "```python\ndef f(x):\n    return 2 * x\n```"},
        {"task_id": "lcb/abc1_a", "sample_id": 0, "solution": "print(3)"},
        {"task_id": "lcb/abc1_a", "sample_id": 1, "solution": "print(4)"},
    ]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    evalplus = tmp_path / "evalplus.jsonl"
    main(
        [
            "export",
            "evalplus",
            "--problems",
            str(problems_file),
            "--samples",
            str(samples),
            "--out",
            str(evalplus),
        ]
    )
    got = [json.loads(line) for line in evalplus.read_text().splitlines()]
    assert got[0] == {
        "task_id": "Mbpp/2",
        "solution": "def f(x):\n    return 2 * x\n",
    }  # the program, unfenced
    assert len(got) == 3 and set(got[0]) == {"task_id", "solution"}
    lcb = tmp_path / "generations.json"
    main(
        [
            "export",
            "livecodebench",
            "--problems",
            str(problems_file),
            "--samples",
            str(samples),
            "--out",
            str(lcb),
        ]
    )
    assert json.loads(lcb.read_text()) == [
        {"question_id": "Mbpp/2", "code_list": ["def f(x):\n    return 2 * x\n"]},
        {"question_id": "abc1_a", "code_list": ["print(3)", "print(4)"]},
    ]


def test_export_default_is_acecode(tmp_path: Path) -> None:
    problems_file = tmp_path / "asserts.jsonl"
    write_records(problems_file, PROBLEMS[:1])  # AceCode rows hold assert tests only
    out = tmp_path / "rows.jsonl"
    main(["export", "--problems", str(problems_file), "--out", str(out)])  # the old command line
    row = json.loads(out.read_text().splitlines()[0])
    assert row["id"] == "Mbpp/2" and row["test_cases"] == PROBLEMS[0].tests
    out2 = tmp_path / "rows2.jsonl"
    main(["export", "acecode", "--problems", str(problems_file), "--out", str(out2)])
    assert out2.read_text() == out.read_text()


def test_export_unknown_format(problems_file: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        main(["export", "parquet", "--problems", str(problems_file)])
    assert done.value.code == 2 and "verl | evalplus | livecodebench" in capsys.readouterr().err
