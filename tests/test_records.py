"""The shared records: validation messages, program assembly, atomic and resumable writes."""

from __future__ import annotations

import json

import pytest

from unitrl.errors import UserError
from unitrl.records import Problem, ResumableWriter, Sample, extract_code, read_problems, read_samples


def test_bad_lines_name_file_line_and_field(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"task_id": "a", "prompt": ""}\n{"task_id": "b", "prompt": "", "colour": 1}\n')
    with pytest.raises(UserError, match=r"p.jsonl:2: field 'colour': unknown field"):
        read_problems(path)
    path.write_text('{"task_id": "a", "prompt": ""}\n{"task_id": "a", "prompt": ""\n')
    with pytest.raises(UserError, match=r"p.jsonl:2: malformed JSON"):
        read_problems(path)
    path.write_text('{"prompt": ""}\n')
    with pytest.raises(UserError, match=r"field 'task_id': missing"):
        read_problems(path)


def test_sample_ids_default_to_line_order_within_a_task(tmp_path):
    path = tmp_path / "s.jsonl"
    rows = [
        {"task_id": "a", "completion": "x"},
        {"task_id": "b", "completion": "y"},
        {"task_id": "a", "solution": "z"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [(s.task_id, s.sample_id) for s in read_samples(path)] == [("a", 0), ("b", 0), ("a", 1)]


def test_program_assembly():
    code_prompt = Problem("t", 'def f(x):\n    """Double."""\n', "f")
    instruction = Problem("u", "number : add 1 then square .", "f")
    assert Sample("t", 0, completion="    return 2 * x\n").program(code_prompt).startswith("def f(x):")
    assert (
        Sample("u", 0, completion="def f(x):\n    return (x + 1) ** 2")
        .program(instruction)
        .startswith("def f")
    )
    assert Sample("t", 0, solution="```python\nprint(1)\n```").program(code_prompt) == "print(1)\n"
    assert extract_code("text\n```py\na = 1\n```\nmore") == "a = 1\n"


def test_resumable_writer_drops_a_torn_line_and_finishes_atomically(tmp_path):
    out = tmp_path / "r.jsonl"
    partial = tmp_path / "r.jsonl.partial"
    partial.write_text('{"task_id": "a"}\n{"task_id": "b"')  # crashed mid-line
    w = ResumableWriter(out)
    assert set(w.done) == {("a",)}
    assert not out.exists()
    w.write({"task_id": "c"})
    w.finish([("a",), ("c",)])
    assert [json.loads(x)["task_id"] for x in out.read_text().splitlines()] == ["a", "c"]
    assert not partial.exists()


def test_resumable_writer_leaves_no_file_when_nothing_was_written(tmp_path):
    w = ResumableWriter(tmp_path / "r.jsonl")
    w.close()
    assert list(tmp_path.iterdir()) == []
