"""The SandboxFusion-compatible endpoints against a real server, called the way verl calls them.

verl (`verl/utils/reward_score/sandbox_fusion/utils.py`) POSTs `json.dumps(payload)` with
`Content-Type`/`Accept: application/json` to `sandbox_fusion.url` and turns each answer into a per-test
code: True / False (stdout compared after stripping trailing newlines), -2 runtime error, -3 timeout,
-4 compile error, -1 API or sandbox error. `verl_case` below applies those rules to our answers.
"""

from __future__ import annotations

import json

import pytest
import requests

from unitrl.records import Problem, write_records


def verl_case(answer: dict, expected: str | None) -> bool | int:
    """verl's per-test code for one /run_code answer (its rules, restated)."""
    run = answer.get("run_result") or {}
    if answer["status"] == "SandboxError":
        return -1
    if answer["status"] == "Failed":
        if run.get("status") == "TimeLimitExceeded":
            return -3
        return -2 if run else -1
    if run.get("status") != "Finished":
        return -1
    return expected is None or run["stdout"].rstrip("\n") == expected.rstrip("\n")


def run_code(
    url: str, code: str, stdin: str | None = None, language: str = "python", timeout: int = 10
) -> dict:
    payload = json.dumps(
        {
            "compile_timeout": timeout,
            "run_timeout": timeout,
            "code": code,
            "stdin": stdin,
            "memory_limit_MB": 1024,
            "language": language,
            "files": {},
            "fetch_files": [],
        }
    )
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    response = requests.post(f"{url}/run_code", headers=headers, data=payload, timeout=timeout * 2 + 10)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def server(serve, tmp_path_factory):
    path = tmp_path_factory.mktemp("sf") / "problems.jsonl"
    write_records(path, [Problem("7", "", "f", ["assert f(2) == 4"])])
    return serve("--workers", "2", "--problems", str(path), "--max-timeout", "0.5")


def test_run_code_answers_the_fields_verl_reads(server):
    answer = run_code(server.url, "a, b = map(int, input().split())\nprint(a + b)", stdin="2 3\n")
    assert answer["status"] == "Success" and answer["compile_result"] is None
    assert answer["run_result"]["stdout"] == "5\n" and answer["run_result"]["return_code"] == 0
    assert verl_case(answer, "5") is True
    assert verl_case(answer, "6") is False


@pytest.mark.parametrize(
    "code, rc, verl_code",
    [
        ("print(1 / 0)", 1, -2),
        ("import sys\nsys.exit(3)", 3, -2),
        (
            "def f(:\n",
            1,
            -2,
        ),  # Python has no compile step: a syntax error is a failed run, as in SandboxFusion
        ("while True:\n    pass", None, -3),  # capped at --max-timeout 0.5 s, though verl asks for 10
    ],
)
def test_run_code_failures_map_to_verl_codes(server, code, rc, verl_code):
    answer = run_code(server.url, code)
    assert answer["status"] == "Failed"
    assert answer["run_result"]["return_code"] == rc
    assert verl_case(answer, "") == verl_code


def test_run_code_refuses_what_it_cannot_run_as_sandbox_errors(server):
    assert run_code(server.url, "int main(){}", language="cpp")["status"] == "SandboxError"
    body = {"code": "print(1)", "language": "python", "files": {"a.txt": "eA=="}}
    answer = requests.post(f"{server.url}/run_code", json=body, timeout=30).json()
    assert answer["status"] == "SandboxError" and "files" in answer["message"]
    assert requests.post(f"{server.url}/run_code", json={"language": "python"}, timeout=30).status_code == 400


def submit(url: str, completion: str, provided_data: dict | None, ident: object = 1) -> dict:
    config = {"language": "python"} | ({"provided_data": provided_data} if provided_data else {})
    body = {"dataset": "anything", "id": ident, "completion": completion, "config": config}
    response = requests.post(f"{url}/submit", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_submit_common_oj_stdio_judges_each_test(server):
    data = {
        "test": [
            {"input": {"stdin": "2\n"}, "output": {"stdout": "4\n"}},
            {"input": {"stdin": "3\n"}, "output": {"stdout": "7\n"}},
        ]
    }
    got = submit(server.url, "```python\nprint(int(input()) * 2)\n```", data)
    assert [t["passed"] for t in got["tests"]] == [True, False]
    assert got["accepted"] is False and got["extracted_type"] == "fenced"
    assert got["tests"][1]["exec_info"]["run_result"]["stdout"] == "6\n"
    assert got["tests"][0]["test_info"] == {"input": {"stdin": "2\n"}, "output": {"stdout": "4\n"}}


def test_submit_judges_asserts_by_value_not_by_exit_code(server):
    mbpp = {"test_list": ["assert f(2) == 4", "assert f(3) == 6"], "test_setup_code": "K = 2"}
    assert submit(server.url, "def f(x):\n    return K * x\n", mbpp)["accepted"] is True
    # SandboxFusion's assert mode counts a clean exit as a pass; every test here fails instead
    hacked = submit(server.url, "import sys\nsys.exit(0)\n", mbpp)
    assert hacked["accepted"] is False and not any(t["passed"] for t in hacked["tests"])
    always_equal = "class A:\n    def __eq__(self, o):\n        return True\n\ndef f(x):\n    return A()\n"
    assert submit(server.url, always_equal, mbpp)["accepted"] is False


def test_submit_humaneval_layout_and_problems_file(server):
    humaneval = {
        "prompt": "def f(x):\n",
        "test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(0) == 0\n",
        "entry_point": "f",
    }
    got = submit(server.url, "    return 2 * x\n", humaneval)
    assert got["accepted"] is True and got["full_code"].startswith("def f(x):\n    return 2 * x")
    assert submit(server.url, "def f(x):\n    return x * 2\n", None, ident=7)["accepted"] is True
