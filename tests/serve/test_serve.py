"""`unitrl serve`'s native endpoint and its limits, against a real server over real HTTP (httpx)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import httpx
import pytest

from unitrl.records import Problem, Sample, to_dict, write_records
from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.grade import grade_samples

TOKEN = "s3cret-token-for-tests"
BUSY = "def f(x):\n    while True:\n        pass\n"
SLEEPY = "import time\n\ndef f(x):\n    time.sleep(60)\n"  # holds its worker for its wall limit, not a CPU

PROBLEMS = [
    Problem("double", "", "f", ["assert f(1) == 2", "assert f(2) == 4", "assert f(-3) == -6"]),
    Problem("echo", "", None, [{"stdin": "abc\n", "stdout": "abc"}, {"stdin": "xy\n", "stdout": "xy"}]),
]
SAMPLES = [
    Sample("double", 0, solution="def f(x):\n    return 2 * x\n"),
    Sample("double", 1, solution="def f(x):\n    return x + 1\n"),  # passes one test of three
    Sample("double", 2, solution="def f(x) return"),  # syntax error
    Sample("double", 3, completion="```python\ndef f(x):\n    return x * 2\n```"),  # fenced
    Sample("double", 4, solution="import sys\nsys.exit(0)\n"),  # a clean exit is no pass
    Sample("echo", 0, solution="print(input())\n"),
    Sample("echo", 1, solution="print(input()[::-1])\n"),
]


@pytest.fixture(scope="module")
def problems_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "problems.jsonl"
    write_records(path, PROBLEMS[:1])
    return path


@pytest.fixture(scope="module")
def server(serve, problems_file):
    return serve("--workers", "2", "--problems", str(problems_file))


@pytest.fixture(scope="module")
def limited(serve):
    """One worker, four programs admitted at once, small bodies, a token; a sleeping program holds the
    worker for 1.25 s (0.25 s x wall factor 3 + 0.5 s)."""
    args = ("--workers", "1", "--queue", "4", "--timeout", "0.25", "--max-body-mb", "0.01")
    return serve(*args, "--token-env", "UNITRL_TEST_TOKEN", env={"UNITRL_TEST_TOKEN": TOKEN})


def comparable(row: dict) -> tuple:
    """A result row without timings."""
    tests = tuple((t["status"], t["detail"]) for t in row["tests"])
    return row["task_id"], row["sample_id"], row["passed"], row["pass_rate"], row["status"], tests


def test_native_endpoint_returns_the_records_unitrl_exec_writes(server):
    body = {"problems": [to_dict(p) for p in PROBLEMS[1:]], "samples": [to_dict(s) for s in SAMPLES]}
    response = httpx.post(f"{server.url}/grade", json=body, timeout=60)
    assert response.status_code == 200, response.text
    got = response.json()["results"]
    with Sandbox(SandboxConfig(workers=1)) as sb:
        want = grade_samples(sb, {p.task_id: p for p in PROBLEMS}, SAMPLES)
    assert [comparable(r) for r in got] == [comparable(to_dict(r)) for r in want]
    assert [r["status"] for r in got] == ["pass", "fail", "syntax-error", "pass", "error", "pass", "fail"]
    assert [len(r["tests"]) for r in got] == [3, 3, 3, 3, 3, 2, 2]  # every test judged


def test_sample_ids_default_to_order_within_task_and_timeout_is_per_request(server):
    samples = [
        {"task_id": "double", "solution": BUSY},
        {"task_id": "double", "solution": "def f(x): return 2*x"},
    ]
    start = time.monotonic()
    response = httpx.post(f"{server.url}/grade", json={"samples": samples, "timeout": 0.2}, timeout=60)
    assert response.status_code == 200, response.text
    rows = response.json()["results"]
    assert [r["sample_id"] for r in rows] == [0, 1]
    assert [r["status"] for r in rows] == ["timeout", "pass"]
    assert time.monotonic() - start < 20  # 0.2 s per test, not the server's default


@pytest.mark.parametrize(
    "body, field",
    [
        ({"samples": [{"task_id": "nope", "solution": "x = 1"}]}, "samples[0]"),
        ({"samples": [{"task_id": "double"}]}, "completion"),
        ({"samples": "all"}, "samples"),
        ({"problems": [{"task_id": "p", "prompt": "", "tests": ["assert ("]}], "samples": []}, "tests[0]"),
        ({"samples": [], "timeout": -1}, "timeout"),
        ({"samples": [], "extra": 1}, "extra"),
    ],
)
def test_bad_requests_are_400_naming_the_field(server, body, field):
    response = httpx.post(f"{server.url}/grade", json=body, timeout=30)
    assert response.status_code == 400
    assert field in response.json()["error"]


def test_a_body_that_is_not_json_is_400(server):
    response = httpx.post(f"{server.url}/grade", content=b"{not json", timeout=30)
    assert response.status_code == 400 and "not JSON" in response.json()["error"]


def test_health_is_open_and_metrics_count_what_was_graded(server):
    health = httpx.get(f"{server.url}/health", timeout=10).json()
    assert health["status"] == "ok" and health["workers"] == 2 and health["problems"] == 1
    body = {"samples": [{"task_id": "double", "solution": "def f(x): return 2*x"}]}
    before = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert httpx.post(f"{server.url}/grade", json=body, timeout=30).status_code == 200
    text = httpx.get(f"{server.url}/metrics", timeout=10).text

    def value(page: str, name: str) -> float:
        line = next((ln for ln in page.splitlines() if ln.startswith(name + " ")), f"{name} 0")
        return float(line.rsplit(" ", 1)[1])

    passes = 'unitrl_programs_total{status="pass"}'
    assert value(text, passes) == value(before, passes) + 1
    assert value(text, "unitrl_queue_programs") == 0
    assert value(text, "unitrl_queue_capacity_programs") == 4096
    assert 'unitrl_request_seconds{endpoint="grade",quantile="0.99"}' in text
    assert 'unitrl_requests_total{endpoint="grade",code="200"}' in text


def test_token_is_required_by_header_or_query(limited):
    body = {"problems": [to_dict(PROBLEMS[0])], "samples": [to_dict(SAMPLES[0])]}
    url = f"{limited.url}/grade"
    assert httpx.post(url, json=body, timeout=30).status_code == 401
    assert (
        httpx.post(url, json=body, headers={"Authorization": "Bearer wrong"}, timeout=30).status_code == 401
    )
    assert (
        httpx.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).status_code
        == 200
    )
    assert httpx.post(url, json=body, params={"token": TOKEN}, timeout=30).status_code == 200
    assert httpx.get(f"{limited.url}/metrics", timeout=10).status_code == 401
    assert httpx.get(f"{limited.url}/health", timeout=10).status_code == 200


ONE = Problem("one", "", "f", ["assert f(1) == 2"])


def wait_until_running(server, headers: dict, n: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = httpx.get(f"{server.url}/metrics", headers=headers, timeout=10).text
        if f"unitrl_running_programs {n}" in page.splitlines():
            return
        time.sleep(0.02)
    raise AssertionError(f"{n} programs never ran")


def test_a_full_queue_answers_503_with_retry_after_and_oversize_is_413(limited):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    busy = {"problems": [to_dict(ONE)], "samples": [{"task_id": "one", "solution": SLEEPY}] * 4}
    first: dict = {}
    worker = threading.Thread(
        target=lambda: first.update(
            r=httpx.post(f"{limited.url}/grade", json=busy, headers=auth, timeout=120)
        )
    )
    worker.start()
    wait_until_running(limited, auth, 4)  # the four sleeping programs now fill the queue
    one = {"problems": busy["problems"], "samples": busy["samples"][:1]}
    refused = httpx.post(f"{limited.url}/grade", json=one, headers=auth, timeout=30)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    five = {"problems": busy["problems"], "samples": busy["samples"] * 2}
    assert httpx.post(f"{limited.url}/grade", json=five, headers=auth, timeout=30).status_code == 413
    big = {"samples": [], "problems": [{"task_id": "x", "prompt": "y" * 20_000, "tests": ["assert True"]}]}
    assert httpx.post(f"{limited.url}/grade", json=big, headers=auth, timeout=30).status_code == 413
    worker.join(120)
    assert first["r"].status_code == 200
    assert [r["status"] for r in first["r"].json()["results"]] == ["timeout"] * 4


def test_bodies_being_read_at_once_are_bounded(limited):
    """Four times --max-body-mb (40 KiB here) may be in flight; slow uploads past that get 503."""
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def slow_body():
        for _ in range(3):
            yield b" " * 3000  # whitespace: valid JSON padding once the object follows
            await asyncio.sleep(0.4)
        yield b'{"samples": []}'

    async def six_uploads():
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(
                *[http.post(f"{limited.url}/grade", content=slow_body(), headers=auth) for _ in range(6)]
            )

    codes = sorted(r.status_code for r in asyncio.run(six_uploads()))
    assert 503 in codes and 200 in codes and set(codes) <= {200, 503}


def test_a_request_never_waits_past_its_deadline(limited):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = {"problems": [to_dict(ONE)], "samples": [{"task_id": "one", "solution": SLEEPY}] * 3}
    start = time.monotonic()
    response = httpx.post(f"{limited.url}/grade", json={**body, "deadline": 1}, headers=auth, timeout=60)
    assert response.status_code == 504
    assert time.monotonic() - start < 3.0
    # the server is still serving once the batch it was running is over
    ok = {"problems": body["problems"], "samples": [{"task_id": "one", "solution": "def f(x): return 2*x"}]}
    response = httpx.post(f"{limited.url}/grade", json=ok, headers=auth, timeout=60)
    assert response.status_code == 200 and response.json()["results"][0]["passed"]


def test_a_public_address_without_a_token_is_refused():
    cmd = [sys.executable, "-m", "unitrl", "serve", "--host", "0.0.0.0", "--port", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--token-env" in done.stderr and len(done.stderr.strip().splitlines()) == 1
