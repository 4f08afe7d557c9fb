"""APPS, LiveCodeBench and CodeContests rows (built here in their published layouts) -> problems that the
real sandbox grades: reference programs pass every test, wrong ones fail, hostile pickles are refused."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

from unitrl.cli import main
from unitrl.errors import UserError
from unitrl.formats.apps import Where, decode_lcb_private, restricted_loads
from unitrl.formats.importers import load_format
from unitrl.records import read_problems
from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.grade import grade_programs

ADD_STDIO = "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n"
ADD_STDIO_WRONG = "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a - b)\n"
TWO_SUM = (
    "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
    "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
    "                return [seen[target - x], i]\n            seen[x] = i\n"
)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def apps_rows() -> list[dict]:
    stdio = {"inputs": ["1 2\n", "5 7\n", ["10", "20"]], "outputs": ["3\n", "12\n", ["30"]]}
    functional = {
        "fn_name": "double",
        "inputs": [[1], [[1, 2]], ["ab"]],
        "outputs": [[2], [[1, 2, 1, 2]], ["abab"]],
    }
    return [
        {"problem_id": 1, "question": "Add two numbers.", "input_output": json.dumps(stdio),
         "solutions": json.dumps([ADD_STDIO]), "starter_code": "", "difficulty": "introductory", "url": "u"},
        {"problem_id": 2, "question": "Double it.", "input_output": json.dumps(functional),
         "solutions": json.dumps(["def double(x):\n    return x * 2\n"]), "starter_code": "def double(x):"},
    ]  # fmt: skip


def lcb_compress(tests: list[dict]) -> str:
    """LiveCodeBench's own encoding of private tests."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def lcb_rows() -> list[dict]:
    functional = [{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"}]
    private = [
        {"input": f"[1, 5, {k}]\n{k + 5}", "output": "[1, 2]", "testtype": "functional"} for k in (3, 9)
    ]
    stdin = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    return [
        {"question_id": "q1", "question_title": "Two Sum", "question_content": "Find two indices.",
         "platform": "leetcode", "starter_code": "class Solution:\n    def twoSum(self, nums, target):\n",
         "public_test_cases": json.dumps(functional), "private_test_cases": lcb_compress(private),
         "metadata": json.dumps({"func_name": "twoSum"}), "difficulty": "easy"},
        {"question_id": "abc1_a", "question_content": "Print a+b.", "platform": "atcoder", "starter_code": "",
         "public_test_cases": json.dumps(stdin), "private_test_cases": lcb_compress(
             [{"input": "4 4\n", "output": "8\n", "testtype": "stdin"}]), "metadata": "{}"},
    ]  # fmt: skip


def grade(problem, program: str) -> float:
    with Sandbox(SandboxConfig(workers=1, timeout=2.0)) as sb:
        return grade_programs(sb, [(problem, program, 0)])[0].pass_rate


def test_apps_stdio_and_functional(tmp_path: Path) -> None:
    problems = load_format("apps", str(write_jsonl(tmp_path / "apps.jsonl", apps_rows())))
    stdio, functional = problems
    assert stdio.task_id == "apps/1" and stdio.is_stdio and len(stdio.tests) == 3
    assert stdio.tests[2] == {"stdin": "10\n20\n", "stdout": "30\n"}  # a list of lines is joined
    assert functional.entry_point == "double" and len(functional.tests) == 3
    assert grade(stdio, stdio.reference) == 1.0
    assert grade(stdio, ADD_STDIO_WRONG) == 0.0
    assert grade(functional, functional.reference) == 1.0
    # APPS wraps a single return value in a list; the bare value and the wrapped one both pass
    assert grade(functional, "def double(x):\n    return [x * 2]\n") == 1.0
    assert grade(functional, "def double(x):\n    return x\n") == 0.0


def test_livecodebench_compressed_private_tests(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "lcb.jsonl", lcb_rows())
    two_sum, add = load_format("livecodebench", str(path))
    assert two_sum.task_id == "lcb/q1" and len(two_sum.tests) == 3  # 1 public + 2 private
    assert two_sum.tests[0] == "assert Solution().twoSum([2, 7, 11, 15], 9) in ([0, 1], (0, 1, ))"
    assert two_sum.meta["call"] == "method" and two_sum.meta["question_id"] == "q1"
    assert grade(two_sum, TWO_SUM) == 1.0
    assert grade(two_sum, TWO_SUM.replace("[seen[target - x], i]", "[i, seen[target - x]]")) == 0.0
    assert add.is_stdio and [t["stdout"] for t in add.tests] == ["3\n", "8\n"]
    assert grade(add, ADD_STDIO) == 1.0


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/unitrl-pwned",))


def test_restricted_unpickler_refuses_hostile_pickles(tmp_path: Path) -> None:
    marker = Path("/tmp/unitrl-pwned")
    marker.unlink(missing_ok=True)
    where = Where("lcb.jsonl", 7)
    evil = base64.b64encode(zlib.compress(pickle.dumps(_Exploit()))).decode()
    with pytest.raises(
        UserError, match=r"lcb.jsonl:7: field 'private_test_cases': refused pickle.*posix.system"
    ):
        decode_lcb_private(evil, where, "private_test_cases")
    assert not marker.exists()
    # an allowed class called with a size: bytes(10**12) would allocate a terabyte
    bomb = b"\x80\x04cbuiltins\nbytes\n\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85R."
    with pytest.raises(pickle.UnpicklingError, match="refused call bytes"):
        restricted_loads(bomb)
    assert restricted_loads(pickle.dumps(["a", {"b": b"c"}])) == ["a", {"b": b"c"}]
    # a zlib bomb stops at the cap instead of inflating
    big = base64.b64encode(zlib.compress(b"\0" * (1 << 20))).decode()
    with pytest.raises(UserError, match="inflates past 1000 bytes"):
        decode_lcb_private(big, where, "private_test_cases", limit=1000)


def test_codecontests_parquet_with_and_without_generated(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = {
        "name": "1A. Sum", "description": "Print a+b.", "difficulty": 7, "source": 2,
        "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
        "private_tests": {"input": ["2 2\n", "0 0\n"], "output": ["4\n", "0\n"]},
        "generated_tests": {"input": ["9 1\n"], "output": ["10\n"]},
        "solutions": {"language": [2, 3], "solution": ["int main(){}", ADD_STDIO]},
    }  # fmt: skip
    path = tmp_path / "cc.parquet"
    pq.write_table(pa.Table.from_pylist([row]), path)
    (problem,) = load_format("codecontests", str(path))
    assert problem.task_id == "codecontests/1A. Sum" and len(problem.tests) == 4
    assert problem.reference == ADD_STDIO and grade(problem, problem.reference) == 1.0
    (public_private,) = load_format("codecontests", str(path), include_generated=False)
    assert len(public_private.tests) == 3


@pytest.mark.parametrize(
    "fmt, row, message",
    [
        ("apps", {"problem_id": 3, "question": "q", "input_output": '{"inputs": [1], "outputs": []}'},
         "field 'input_output.outputs': 0 outputs for 1 inputs"),
        ("apps", {"problem_id": 3, "question": "q", "input_output": '{"inputs": [1], "outputs": [2], "fn_name": "1x"}'},
         "field 'input_output.fn_name': expected a Python function name"),
        ("livecodebench", {"question_id": "q", "question_content": "c", "public_test_cases": "[]",
                           "private_test_cases": "!!notbase64"}, "field 'private_test_cases': not base64"),
        ("codecontests", {"name": "n", "description": "d", "public_tests": {"input": ["1"], "output": []}},
         "field 'public_tests.output': expected input and output lists"),
    ],
)  # fmt: skip
def test_bad_rows_name_file_line_and_field(tmp_path: Path, fmt: str, row: dict, message: str) -> None:
    rows = [apps_rows()[0], row] if fmt == "apps" else [row]  # the line number is the bad row's
    path, line = write_jsonl(tmp_path / "rows.jsonl", rows), len(rows)
    with pytest.raises(UserError) as err:
        load_format(fmt, str(path))
    assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value)


def test_import_cli_from_file_and_from_dataset_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = write_jsonl(tmp_path / "lcb.jsonl", lcb_rows())
    out = tmp_path / "p.jsonl"
    main(["import", "livecodebench", "--in", str(src), "--out", str(out)])
    assert "wrote 2 problems" in capsys.readouterr().out
    from_file = read_problems(out)
    # a dataset id goes through datasets.load_dataset: here a local folder in the hub layout
    folder = tmp_path / "hub"
    folder.mkdir()
    write_jsonl(folder / "test.jsonl", lcb_rows())
    out2 = tmp_path / "p2.jsonl"
    main(["import", "livecodebench", "--in", str(folder), "--split", "test", "--out", str(out2)])
    assert [p.tests for p in read_problems(out2)] == [p.tests for p in from_file]


def test_import_cli_bad_row_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = write_jsonl(tmp_path / "apps.jsonl", [{"problem_id": 1, "question": "q", "input_output": "{"}])
    with pytest.raises(SystemExit) as done:
        main(["import", "apps", "--in", str(src), "--out", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1
    assert f"{src}:1: field 'input_output': not JSON" in err


def test_import_skips_bad_rows_on_request(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = [*apps_rows(), {"problem_id": 9, "question": "q", "input_output": "{"}, apps_rows()[0]]
    src, out = write_jsonl(tmp_path / "apps.jsonl", rows), tmp_path / "o.jsonl"
    main(["import", "apps", "--in", str(src), "--out", str(out), "--on-bad-record", "skip"])
    err = capsys.readouterr().err
    assert f"{src}:3: field 'input_output': not JSON" in err and f"{src}:4: field 'task_id': duplicate" in err
    assert [p.task_id for p in read_problems(out)] == ["apps/1", "apps/2"]


def test_every_importer_takes_a_dataset_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """HumanEval/MBPP/AceCode read a dataset id too (here a local folder in the hub layout), with the
    same problems as from the file, and a bad row names the dataset."""
    from unitrl.eval.importers import humaneval_path
    from unitrl.jsonl import iter_json_lines

    rows = [row for _, row in iter_json_lines(humaneval_path())][:3]
    folder = tmp_path / "openai_humaneval"
    folder.mkdir()
    write_jsonl(folder / "test.jsonl", rows)
    out = tmp_path / "he.jsonl"
    main(["import", "humaneval", "--in", str(folder), "--split", "test", "--out", str(out)])
    assert "wrote 3 problems" in capsys.readouterr().out
    from unitrl.eval.importers import load_humaneval

    assert [p.tests for p in read_problems(out)] == [p.tests for p in load_humaneval()[:3]]
    write_jsonl(folder / "test.jsonl", [dict(rows[0], prompt=7)])
    with pytest.raises(SystemExit) as done:
        main(["import", "humaneval", "--in", str(folder), "--split", "test", "--out", str(out)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "openai_humaneval[test].jsonl:1: field 'prompt'" in err, err
