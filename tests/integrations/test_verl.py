"""`unitrl.integrations.verl` against the real sandbox and a real `unitrl serve`: correct programs score
1.0; an always-True `__eq__`, `exit(0)` and a program failing only the 11th of 12 tests do not; every
test is judged; the plural (batch manager) names, the coroutine and the UNITRL_URL client agree."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from unitrl.errors import UserError
from unitrl.integrations import verl

TWELVE = json.dumps({"tests": [f"assert f({i}) == {2 * i}" for i in range(12)], "entry_point": "f"})
APPS_STDIO = json.dumps({"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]})
APPS_CALL = json.dumps(
    {"inputs": [[[2, 7, 11, 15], 9], [[1, 5, 3], 8]], "outputs": [[0, 1], [1, 2]], "fn_name": "twoSum"}
)


def answer(code: str) -> str:
    """A chat answer: prose, the program in a fence, then the model's own test (cut by extraction)."""
    return f"Here is my solution.\n```python\n{code}\n```\nassert f(1) == 2\n"


CORRECT = answer("def f(x):\n    return 2 * x\n\nassert f(0) == 0")
ALWAYS_EQUAL = answer(
    "class Any:\n    def __eq__(self, other):\n        return True\n\ndef f(x):\n    return Any()"
)
EXIT_0 = answer("import sys\nsys.exit(0)\ndef f(x):\n    return 2 * x")
ELEVENTH_FAILS = answer("def f(x):\n    return -1 if x == 10 else 2 * x")
STDIO_OK = answer(
    "import sys\n\ndef main():\n    a, b = map(int, sys.stdin.read().split())\n    print(a + b)\n\n"
    'if __name__ == "__main__":\n    main()'
)
STDIO_EXIT = answer("raise SystemExit(0)")
LEETCODE = answer(
    "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, x in enumerate(nums):\n"
    "            if target - x in seen:\n                return (seen[target - x], i)\n            seen[x] = i"
)

CASES = [  # (response, ground truth, binary, pass rate)
    (CORRECT, TWELVE, 1.0, 1.0),
    (ALWAYS_EQUAL, TWELVE, 0.0, 0.0),
    (EXIT_0, TWELVE, 0.0, 0.0),
    (ELEVENTH_FAILS, TWELVE, 0.0, 11 / 12),
    (STDIO_OK, APPS_STDIO, 1.0, 1.0),
    (STDIO_EXIT, APPS_STDIO, 0.0, 0.0),
    (LEETCODE, APPS_CALL, 1.0, 1.0),
]


@pytest.mark.parametrize("response, gt, binary, rate", CASES)
def test_single_scores(response: str, gt: str, binary: float, rate: float) -> None:
    assert verl.compute_score("unitrl/test", response, gt, {}) == binary
    assert verl.compute_score("unitrl/test", response, gt, {}, reward="pass_rate") == pytest.approx(rate)


def test_all_tests_judged_and_dict_form() -> None:
    out = verl.compute_score(
        "unitrl/test", ELEVENTH_FAILS, TWELVE, None, reward="pass_rate", return_dict=True
    )
    assert out == {
        "score": pytest.approx(11 / 12),
        "pass_rate": pytest.approx(11 / 12),
        "passed": False,
        "tests": 12,
    }


def test_batch_names_and_batch_function_agree() -> None:
    responses, gts = [c[0] for c in CASES], [c[1] for c in CASES]
    kwargs = {"data_sources": ["s"] * len(CASES), "solution_strs": responses, "ground_truths": gts,
              "extra_infos": [{}] * len(CASES)}  # fmt: skip
    assert verl.compute_score(**kwargs) == [c[2] for c in CASES]
    rates = verl.compute_score_batch(**kwargs, reward="pass_rate")
    assert rates == pytest.approx([c[3] for c in CASES])


def test_async_form_concurrent_calls() -> None:
    async def run() -> list:
        calls = [verl.compute_score_async("s", r, gt, {}, reward="pass_rate") for r, gt, _, _ in CASES]
        return await asyncio.gather(*calls)

    assert asyncio.run(run()) == pytest.approx([c[3] for c in CASES])


def test_ground_truth_as_decoded_objects() -> None:
    """verl may hand the ground truth over decoded (a dict, numpy arrays from a parquet struct)."""
    import numpy as np

    apps = json.loads(APPS_CALL)
    as_numpy = {"inputs": np.array(apps["inputs"], dtype=object), "outputs": np.array(apps["outputs"]),
                "fn_name": apps["fn_name"]}  # fmt: skip
    assert verl.compute_score("s", LEETCODE, apps) == 1.0
    assert verl.compute_score("s", LEETCODE, as_numpy) == 1.0
    assert verl.compute_score("s", ELEVENTH_FAILS, json.loads(TWELVE), reward="pass_rate") == pytest.approx(
        11 / 12
    )


def test_warm_pool_is_reused_until_closed() -> None:
    verl.compute_score("s", CORRECT, TWELVE)
    first = verl._STATE["service"]
    assert verl.compute_score("s", CORRECT, APPS_STDIO) == 0.0 and verl._STATE["service"] is first
    verl.close()
    assert "service" not in verl._STATE
    assert verl.compute_score("s", STDIO_OK, APPS_STDIO) == 1.0 and verl._STATE["service"] is not first


def test_bad_ground_truth_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="field 'ground_truth.outputs': 1 outputs for 2 inputs"):
        verl.compute_score("s", CORRECT, json.dumps({"inputs": [[1], [2]], "outputs": [2]}))
    with pytest.raises(ValueError, match="unknown reward"):
        verl.compute_score("s", CORRECT, TWELVE, reward="bogus")


def test_unitrl_url_client_matches_local(serve_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    responses, gts = [c[0] for c in CASES], [c[1] for c in CASES]
    local = verl.compute_score_batch(["s"] * len(CASES), responses, gts, None, reward="pass_rate")
    monkeypatch.setenv("UNITRL_URL", serve_url)
    remote = verl.compute_score_batch(["s"] * len(CASES), responses, gts, None, reward="pass_rate")
    assert remote == local == pytest.approx([c[3] for c in CASES])
    single = asyncio.run(verl.compute_score_async("s", ELEVENTH_FAILS, TWELVE, {}, return_dict=True))
    assert single["tests"] == 12 and single["score"] == 0.0


VENV = Path(__file__).parents[2] / ".cache" / "verl-venv" / ".installed"


@pytest.mark.slow
@pytest.mark.skipif(not VENV.exists(), reason="no verl venv: run `make verl-env` to build .cache/verl-venv")
def test_verl_own_reward_managers() -> None:
    """verl's naive, batch and reward-loop managers on a real DataProto (`make test-verl`)."""
    root = Path(__file__).parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("UNITRL_URL", "UNITRL_WORKERS")}
    run = subprocess.run(
        ["make", "-s", "test-verl"], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "verl managers: all checks passed" in run.stdout
