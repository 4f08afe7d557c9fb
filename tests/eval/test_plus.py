"""HumanEval+ / MBPP+ end to end: evalplus-layout rows -> `unitrl import` -> `unitrl eval`, base and plus
scores side by side. Real CLI in a subprocess, real sandbox; the fixture rows are built here from
HumanEval's own problems (base inputs from their docstring examples, plus inputs written here)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from unitrl.eval.importers import load_humaneval
from unitrl.eval.plus import PLUS_KEY, is_floats, literal, mbpp_deserialize_inputs, source
from unitrl.records import Problem, Result, Sample, read_problems, read_records, write_records

INF = float("inf")

# task_id -> (base_input, plus_input, atol)
FIXTURE = {
    "HumanEval/0": (  # has_close_elements: bool outputs
        [[[1.0, 2.0, 3.0], 0.5], [[1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3]],
        [[[1.0, 1.05], 0.1], [[], 1.0]],
        0,
    ),
    "HumanEval/2": ([[3.5]], [[1.25], [10.1]], 0),  # truncate_number: floats, evalplus's atol 1e-6 rule
    "HumanEval/4": ([[[1.0, 2.0, 3.0, 4.0]]], [[[1.5, 2.5]], [[0.1, 0.2, 0.7]]], 1e-4),  # explicit atol
    # max_element: max([1.0, inf]) is inf, whose repr is not a literal -> checked by a script test
    "HumanEval/35": (
        [[[1, 2, 3]], [[5, 3, -5, 2, -3, 3, 9, 0, 123, 1, -10]]],
        [[[1.0, INF]], [list(range(1, 12)) + [99]]],
        0,
    ),
}


def _evalplus_test(entry: str, inputs: list, atol: float) -> str:
    """A `test` field in evalplus's released layout (kept as meta only; results elided here)."""
    return (
        "import numpy as np\n\ndef assertion(out, exp, atol):\n    exact_match = out == exp\n    ...\n\n\n"
        f"def check(candidate):\n    inputs = {inputs!r}\n    results = [...]\n"
        "    for i, (inp, exp) in enumerate(zip(inputs, results)):\n"
        f"        assertion(candidate(*inp), exp, {atol})\n\n\ncheck({entry})\n"
    )


def _rows() -> list[dict]:
    problems = {p.task_id: p for p in load_humaneval()}
    rows = []
    for task_id, (base, plus, atol) in FIXTURE.items():
        p = problems[task_id]
        assert p.reference and p.reference.startswith(p.prompt)
        rows.append(
            {
                "task_id": task_id,
                "prompt": p.prompt,
                "contract": "",
                "canonical_solution": p.reference[len(p.prompt) :],
                "entry_point": p.entry_point,
                "base_input": base,
                "plus_input": plus,
                "atol": atol,
                "test": _evalplus_test(p.entry_point, base + plus, atol),
            }
        )
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(r) + "\n" for r in rows)
    )  # json writes inf as Infinity, as evalplus's files
    return path


def _unitrl(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "unitrl", *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _canonical(task_id: str) -> str:
    return next(r["canonical_solution"] for r in _rows() if r["task_id"] == task_id)


# Three samples per task; (passes base, passes base + extra) noted per sample.
def _samples() -> list[Sample]:
    he4 = _canonical("HumanEval/4").rstrip().replace("return sum(", "return 5e-5 + sum(")
    return [
        Sample("HumanEval/0", 0, completion=_canonical("HumanEval/0")),  # base yes, plus yes
        Sample("HumanEval/0", 1, completion="    return False\n"),  # no, no
        Sample(  # base yes, plus no: True on the empty list
            "HumanEval/0",
            2,
            completion="    return not numbers or any(abs(a - b) < threshold "
            "for i, a in enumerate(numbers) for b in numbers[i + 1:])\n",
        ),
        Sample("HumanEval/2", 0, completion=_canonical("HumanEval/2")),  # yes, yes
        Sample("HumanEval/2", 1, completion="    return 0.5\n"),  # yes, no
        Sample("HumanEval/2", 2, completion="    return number\n"),  # no, no
        Sample("HumanEval/4", 0, completion=he4 + "\n"),  # yes, yes: 5e-5 off, within atol 1e-4
        Sample("HumanEval/4", 1, completion="    return 0.0\n"),  # no, no
        Sample("HumanEval/4", 2, completion=_canonical("HumanEval/4")),  # yes, yes
        Sample("HumanEval/35", 0, completion=_canonical("HumanEval/35")),  # yes, yes
        Sample("HumanEval/35", 1, completion="    return max(l[:11])\n"),  # yes, no (the 12-item input)
        Sample(
            "HumanEval/35", 2, completion="    return max(l) if max(l) < 1e308 else 0.0\n"
        ),  # yes, no (inf)
    ]


def _pass_at_k(counts: list[tuple[int, int]], k: int) -> float:
    return sum(1 - math.comb(n - c, k) / math.comb(n, k) for n, c in counts) / len(counts)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Problem], str]:
    tmp = tmp_path_factory.mktemp("plus")
    src = _write_jsonl(tmp / "HumanEvalPlus.jsonl", _rows())
    out = tmp / "he_plus.jsonl"
    proc = _unitrl("import", "humanevalplus", "--in", str(src), "--out", str(out))
    return tmp, read_problems(str(out)), proc.stderr


def test_import_one_test_per_input_base_first(imported: tuple[Path, list[Problem], str]) -> None:
    _, problems, stderr = imported
    by_id = {p.task_id: p for p in problems}
    # 6 + 8 inputs in all; one (max_element([1.0, inf]) = inf) has no literal expected value.
    assert "6 base and 8 plus inputs; 1 checked by a script test" in stderr and "0 dropped" in stderr
    assert {t: p.meta[PLUS_KEY]["base"] for t, p in by_id.items()} == {
        "HumanEval/0": 2,
        "HumanEval/2": 1,
        "HumanEval/4": 1,
        "HumanEval/35": 2,
    }
    assert [len(p.tests) for p in problems] == [4, 3, 3, 4]  # HumanEval/35: 2 base, 1 literal, 1 script
    he0 = by_id["HumanEval/0"]
    assert he0.tests[0] == "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False"
    assert he0.tests[3] == "assert has_close_elements([], 1.0) == False"
    assert "_close(truncate_number(10.1), 0.09999999999999964, 0.0)" in by_id["HumanEval/2"].tests[2]
    assert "mean_absolute_deviation([1.5, 2.5]), 0.5, 0.0001)" in by_id["HumanEval/4"].tests[1]
    script = by_id["HumanEval/35"].tests[3]
    assert "_INPUTS = [\n    ([1.0, float('inf')],),\n]" in script and script.endswith("check(max_element)\n")
    assert by_id["HumanEval/35"].meta["evalplus"] == {"script_inputs": 1, "base_inputs": 2, "plus_inputs": 2}
    assert he0.meta["original_test"].startswith("import numpy as np")


def test_eval_reports_base_and_plus_side_by_side(imported: tuple[Path, list[Problem], str]) -> None:
    tmp, problems, _ = imported
    samples = _samples()
    write_records(tmp / "s.jsonl", samples)
    out = tmp / "eval"
    proc = _unitrl("eval", "--problems", str(tmp / "he_plus.jsonl"), "--samples", str(tmp / "s.jsonl"),
                   "--out-dir", str(out), "--k", "1", "--k", "2")  # fmt: skip
    results = {(r.task_id, r.sample_id): r for r in read_records(out / "results.jsonl", Result)}
    # canonical programs pass base and plus; wrong-only-on-plus ones fail exactly the plus test
    for task in FIXTURE:
        assert all(t.status == "pass" for t in results[(task, 0)].tests), task
    assert [t.status for t in results[("HumanEval/35", 1)].tests] == ["pass", "pass", "fail", "pass"]
    assert [t.status for t in results[("HumanEval/35", 2)].tests] == ["pass", "pass", "pass", "fail"]
    assert [t.status for t in results[("HumanEval/2", 1)].tests] == ["pass", "fail", "fail"]
    assert results[("HumanEval/4", 0)].passed  # 5e-5 off: within the row's atol 1e-4

    summary = json.loads((out / "summary.json").read_text())
    base = [(3, 2), (3, 2), (3, 2), (3, 3)]  # (samples, passed) per task, from the notes in _samples
    plus = [(3, 1), (3, 1), (3, 2), (3, 1)]
    assert summary["base_passed"] == 9 and summary["passed"] == 5
    for k in (1, 2):
        assert summary["base_pass_at_k"][f"pass@{k}"] == pytest.approx(_pass_at_k(base, k))
        assert summary["pass_at_k"][f"pass@{k}"] == pytest.approx(_pass_at_k(plus, k))
    assert summary["base_pass_at_k"]["pass@1"] == pytest.approx(0.75)
    assert summary["pass_at_k"]["pass@1"] == pytest.approx(5 / 12)
    assert summary["tasks"]["HumanEval/35"] == {"samples": 3, "passed": 1, "base_passed": 3}
    assert "base + extra" in proc.stdout and "0.7500" in proc.stdout and "0.4167" in proc.stdout


def test_greedy_kept_apart_with_base(imported: tuple[Path, list[Problem], str]) -> None:
    tmp, _, _ = imported
    samples = [
        Sample("HumanEval/35", 0, completion=_canonical("HumanEval/35")),
        Sample("HumanEval/35", 1, completion="    return max(l[:11])\n"),
        Sample("HumanEval/35", "g", completion="    return max(l[:11])\n", meta={"greedy": True}),
    ]
    write_records(tmp / "g.jsonl", samples)
    out = tmp / "eval_g"
    _unitrl("eval", "--problems", str(tmp / "he_plus.jsonl"), "--samples", str(tmp / "g.jsonl"),
            "--out-dir", str(out), "--k", "1")  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass_at_k"] == {"pass@1": 0.5} and summary["base_pass_at_k"] == {"pass@1": 1.0}
    assert summary["greedy_pass_at_1"] == 0.0 and summary["greedy_base_pass_at_1"] == 1.0


MBPP_ROWS = [
    {
        "task_id": "Mbpp/2",
        "prompt": '"""\nWrite a function to find the shared elements from the given two lists.\n'
        'assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n"""\n',
        "canonical_solution": "\ndef similar_elements(test_tup1, test_tup2):\n"
        "  return tuple(set(test_tup1) & set(test_tup2))\n",
        "entry_point": "similar_elements",
        "base_input": [[[3, 4, 5, 6], [5, 7, 4, 10]]],  # JSON lists; evalplus makes them tuples for Mbpp/2
        "plus_input": [[[1, 2, 3], [3, 2, 8]]],
        "atol": 0,
        "test": "",
    },
    {  # evalplus only checks "is not None" here: the canonical solution returns a re.Match
        "task_id": "Mbpp/737",
        "prompt": '"""\nWrite a function to check whether the given string is starting with a vowel or not '
        'using regex.\nassert check_str("annie")\n"""\n',
        "canonical_solution": "\nimport re\ndef check_str(string):\n"
        "    regex = '^[aeiouAEIOU][A-Za-z0-9_]*'\n    return re.search(regex, string)\n",
        "entry_point": "check_str",
        "base_input": [["annie"], ["dawood"]],
        "plus_input": [["Else"]],
        "atol": 0,
        "test": "",
    },
]


def test_mbppplus_conversions_and_special_oracles(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "MbppPlus.jsonl", MBPP_ROWS)
    _unitrl("import", "mbppplus", "--in", str(src), "--out", str(tmp_path / "p.jsonl"))
    p2, p737 = read_problems(str(tmp_path / "p.jsonl"))
    assert p2.meta[PLUS_KEY] == {"base": 1} and p737.meta[PLUS_KEY] == {"base": 2} and p2.source == "mbppplus"
    assert p2.tests[0].startswith("assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set(")
    assert "(_out is not None) == False" in p737.tests[1]  # "dawood": the canonical answers None
    samples = [
        # Mbpp/2: the first needs tuples (evalplus's conversion); the second answers in another order
        Sample(
            "Mbpp/2",
            0,
            solution="def similar_elements(a, b):\n    assert type(a) is tuple\n"
            "    return tuple(set(a) & set(b))\n",
        ),  # fmt: skip
        Sample(
            "Mbpp/2",
            1,
            solution="def similar_elements(a, b):\n    return sorted(set(a) & set(b), reverse=True)\n",
        ),
        Sample("Mbpp/2", 2, solution="def similar_elements(a, b):\n    return (4, 5)\n"),  # base only
        Sample("Mbpp/737", 0, solution=MBPP_ROWS[1]["canonical_solution"]),  # a Match object: not None
        Sample("Mbpp/737", 1, solution="def check_str(s):\n    return s[0] in 'aeiouAEIOU'\n"),  # bools
        Sample("Mbpp/737", 2, solution="def check_str(s):\n    return s[0] in 'aeiou'\n"),  # base only
    ]
    write_records(tmp_path / "s.jsonl", samples)
    _unitrl("eval", "--problems", str(tmp_path / "p.jsonl"), "--samples", str(tmp_path / "s.jsonl"),
            "--out-dir", str(tmp_path / "e"), "--k", "1")  # fmt: skip
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["tasks"]["Mbpp/2"] == {"samples": 3, "passed": 2, "base_passed": 3}
    assert summary["tasks"]["Mbpp/737"] == {"samples": 3, "passed": 2, "base_passed": 3}
    assert summary["base_pass_at_k"]["pass@1"] == 1.0
    assert summary["pass_at_k"]["pass@1"] == pytest.approx(2 / 3)


def test_find_zero_oracle(tmp_path: Path) -> None:
    """HumanEval/32: evalplus accepts any x with |poly(xs, x)| <= atol, not only the canonical's root."""
    he32 = next(p for p in load_humaneval() if p.task_id == "HumanEval/32")
    assert he32.reference
    row = {"task_id": he32.task_id, "prompt": he32.prompt, "canonical_solution": he32.reference[len(he32.prompt) :],
           "entry_point": "find_zero", "base_input": [[[1, 2]], [[-6, 11, -6, 1]]],
           "plus_input": [[[-3, 0, 0, 1]]], "atol": 1e-4, "test": ""}  # fmt: skip
    src = _write_jsonl(tmp_path / "he32.jsonl", [row])
    _unitrl("import", "humanevalplus", "--in", str(src), "--out", str(tmp_path / "p.jsonl"))
    poly = "def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\n"
    samples = [
        Sample("HumanEval/32", 0, completion=row["canonical_solution"]),
        # another root of -6 + 11x - 6x^2 + x^3 (its roots are 1, 2, 3); the plus input's is 3 ** (1/3)
        Sample(
            "HumanEval/32",
            1,
            solution=poly + "def find_zero(xs):\n    return {1: -0.5, -6: 3.0}.get(xs[0], 3 ** (1 / 3))\n",
        ),
        Sample(
            "HumanEval/32",
            2,
            solution=poly + "def find_zero(xs):\n    return {1: -0.5, -6: 3.0}.get(xs[0], 1.44)\n",
        ),
    ]
    write_records(tmp_path / "s.jsonl", samples)
    _unitrl("eval", "--problems", str(tmp_path / "p.jsonl"), "--samples", str(tmp_path / "s.jsonl"),
            "--out-dir", str(tmp_path / "e"), "--k", "1")  # fmt: skip
    results = read_records(tmp_path / "e" / "results.jsonl", Result)
    assert [[t.status for t in r.tests] for r in results] == [
        ["pass"] * 3,
        ["pass"] * 3,
        ["pass", "pass", "fail"],
    ]


def test_values_and_sources() -> None:
    assert (
        literal([1, (2.5, "a")]) == "[1, (2.5, 'a')]"
        and literal(INF) is None
        and literal(float("nan")) is None
    )
    assert literal(list(range(2000))) is not None  # no size cap: large plus outputs stay literal tests
    assert source([1.0, INF, (-INF,)]) == "[1.0, float('inf'), (float('-inf'),)]"
    assert is_floats([1.0, 2.0]) and not is_floats([]) and not is_floats([1.0, 2])
    assert mbpp_deserialize_inputs("Mbpp/252", [["(1+2j)"]]) == [[1 + 2j]]
    assert mbpp_deserialize_inputs("Mbpp/580", [[[1, [2, 3]]]]) == [((1, (2, 3)),)]


def test_import_errors_are_one_line(tmp_path: Path) -> None:
    bad = _write_jsonl(tmp_path / "bad.jsonl", [dict(_rows()[0], base_input=[1, 2])])
    proc = subprocess.run([sys.executable, "-m", "unitrl", "import", "humanevalplus", "--in", str(bad),
                           "--out", str(tmp_path / "o.jsonl")], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "bad.jsonl:1" in proc.stderr and "base_input" in proc.stderr
    assert "Traceback" not in proc.stderr
