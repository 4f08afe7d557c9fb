"""OpenRLHF's remote reward protocol against a real `unitrl serve`, and the in-process `reward_func`.

Clients: the replicas of OpenRLHF 0.11 (aiohttp) and 0.9 (requests) in `openrlhf_clients.py`, and, when
OpenRLHF 0.11.2 is installed beside the tests (`pip install --no-deps --target .cache/openrlhf
openrlhf==0.11.2 pylatexenc==2.11`), OpenRLHF's own code in a subprocess (`openrlhf_probe.py`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from openrlhf_clients import post_v0_9, post_v0_11

from unitrl.records import Problem, write_records
from unitrl.serve import openrlhf

ROOT = Path(__file__).resolve().parents[2]
OPENRLHF_SITE = Path(os.environ.get("UNITRL_OPENRLHF_SITE", ROOT / ".cache" / "openrlhf"))
CHAT_PROMPT = "<|im_start|>user\nWrite f(x) returning 2 * x.<|im_end|>\n<|im_start|>assistant\n"
GOOD = "```python\ndef f(x):\n    return 2 * x\n```<|im_end|>"
HALF = "```python\ndef f(x):\n    return x + 1\n```<|im_end|>"
BROKEN = "def f(x) return<|im_end|>"
TESTS = ["assert f(1) == 2", "assert f(3) == 6"]
SLEEPY = "import time\ntime.sleep(60)\n"


@pytest.fixture(scope="module")
def problems_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("openrlhf") / "problems.jsonl"
    write_records(
        path, [Problem("double", "", "f", TESTS), Problem("stdio", "", None, [{"stdin": "", "stdout": "1"}])]
    )
    return path


@pytest.fixture(scope="module")
def server(serve, problems_file):
    return serve("--workers", "2", "--problems", str(problems_file), "--reward", "coderl")


@pytest.fixture(scope="module")
def one_slot(serve):
    """A queue of one program with a slow program's 1.25 s per run: a second request must wait."""
    return serve("--workers", "1", "--queue", "1", "--timeout", "0.25")


def test_response_is_cut_from_the_query_at_the_prompt_and_the_end_marker():
    pad = "<|endoftext|>"
    query = pad * 3 + CHAT_PROMPT + "def f(x):\n    return 2 * x\n<|im_end|>" + pad * 5
    assert openrlhf.response_of(query, CHAT_PROMPT) == "def f(x):\n    return 2 * x\n"
    assert openrlhf.response_of("x = 1</s>", "missing prompt") == "x = 1"


def test_v0_11_client_gets_coderl_rewards_per_sample(server):
    url = f"{server.url}/get_reward"

    async def all_three():
        label = json.dumps({"tests": TESTS})
        calls = [post_v0_11(url, [CHAT_PROMPT + r], [CHAT_PROMPT], [label]) for r in (GOOD, HALF, BROKEN)]
        return await asyncio.gather(*calls)

    answers = asyncio.run(all_three())
    assert [a["rewards"] for a in answers] == [[1.0], [-0.3], [-1.0]]
    assert [a["scores"] for a in answers] == [[1.0], [0.0], [0.0]]
    assert [a["extra_logs"]["pass_rate"] for a in answers] == [[1.0], [0.5], [0.0]]


def test_v0_9_client_sends_a_batch_with_every_label_form(server):
    completion_prompt = "def f(x):\n"  # a base model continuing code: the program is prompt + response
    queries = [
        CHAT_PROMPT + GOOD,
        CHAT_PROMPT + HALF,
        completion_prompt + "    return 2 * x\n</s>",
        CHAT_PROMPT + "print(1)",
    ]
    prompts = [CHAT_PROMPT, CHAT_PROMPT, completion_prompt, CHAT_PROMPT]
    labels = ["double", {"task_id": "double"}, TESTS, "stdio"]  # task_id, object, list of tests, stdio task
    answer = post_v0_9(f"{server.url}/get_reward", queries, prompts, labels)
    assert answer["rewards"] == [1.0, -0.3, 1.0, 1.0]
    assert answer["extra_logs"]["passed"] == [1.0, 0.0, 1.0, 1.0]


def test_a_bad_label_is_a_400_that_names_the_item(server):
    import requests

    body = {"query": ["x"], "prompts": [""], "labels": ["no-such-task"]}
    response = requests.post(f"{server.url}/get_reward", json=body, timeout=30)
    assert response.status_code == 400 and "labels[0]" in response.json()["error"]


def test_openrlhf_retries_a_full_queue_until_it_is_served(one_slot):
    """503 + Retry-After while the one slot is busy; OpenRLHF 0.11's client retries a second later."""
    url = f"{one_slot.url}/get_reward"
    slow = json.dumps({"tests": ["assert True"]})
    done: dict = {}

    def slow_request():
        done["slow"] = post_v0_9(url, [SLEEPY], [""], [slow])

    holder = threading.Thread(target=slow_request)
    holder.start()
    time.sleep(0.3)  # the sleeping program holds the only slot for 1.25 s
    attempts: list = []
    answer = asyncio.run(post_v0_11(url, [GOOD], [""], [json.dumps(TESTS)], attempts))
    holder.join(60)
    assert attempts[0] == 503 and attempts[-1] == 200
    assert answer["rewards"] == [1.0]
    assert done["slow"]["rewards"] == [0.0]  # the sleeping program timed out: binary reward 0


def test_reward_func_in_process_batches_concurrent_calls(monkeypatch, problems_file):
    """OpenRLHF 0.11 calls reward_func from threads, one sample each: all share one warm pool."""
    monkeypatch.setenv("UNITRL_WORKERS", "1")
    monkeypatch.setenv("UNITRL_PROBLEMS", str(problems_file))
    monkeypatch.setenv("UNITRL_REWARD", "pass_rate")
    monkeypatch.delenv("UNITRL_URL", raising=False)
    from unitrl.serve import reward_func as module

    module._STATE.clear()
    try:
        cases = [(GOOD, "double", 1.0), (HALF, "double", 0.5), (BROKEN, json.dumps(TESTS), 0.0)] * 4
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda c: module.reward_func([CHAT_PROMPT + c[0]], [CHAT_PROMPT], [c[1]]), cases)
            )
        assert [a["rewards"] for a in answers] == [[want] for _, _, want in cases]
        assert module._STATE["service"].metrics.verdicts["pass"] == 4
    finally:
        if "service" in module._STATE:
            module._STATE["service"].close()
        module._STATE.clear()


def test_reward_func_can_delegate_to_a_running_server(monkeypatch, server):
    monkeypatch.setenv("UNITRL_URL", server.url)
    from unitrl.serve import reward_func as module

    answer = module.reward_func([CHAT_PROMPT + HALF], [CHAT_PROMPT], ["double"])
    assert answer["rewards"] == [-0.3]  # the server's --reward coderl
    assert "service" not in module._STATE  # no local pool was started


@pytest.mark.integration
@pytest.mark.skipif(
    not (OPENRLHF_SITE / "openrlhf").is_dir(), reason=f"OpenRLHF 0.11.2 not in {OPENRLHF_SITE}"
)
def test_openrlhf_own_client_code_scores_through_unitrl(server, tiny_policy_dir):
    env = {**os.environ, "PYTHONPATH": str(OPENRLHF_SITE), "UNITRL_WORKERS": "1", "UNITRL_REWARD": "coderl"}
    env.pop("UNITRL_URL", None)
    probe = Path(__file__).with_name("openrlhf_probe.py")
    done = subprocess.run(
        [sys.executable, str(probe), server.url, str(tiny_policy_dir)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    real, replica = out["bytes"]
    assert real == replica  # the replica sends OpenRLHF's bytes exactly
    assert '{"query": ["q <|im_end|>"], "prompts": ["q "], "labels": [' in real
    for name in ("http", "func"):  # coderl: pass, failed tests, syntax error
        rewards = [row["reward"] for row in out[name]]  # float32 after OpenRLHF's torch.tensor
        assert rewards == [[1.0], [pytest.approx(-0.3)], [-1.0]], name
        assert [row["scores"] for row in out[name]] == [[1.0], [0.0], [0.0]], name
