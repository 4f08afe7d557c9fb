"""Several threads sharing one pool, and `Job.segments` (a step that ends the process ends its run)."""

from __future__ import annotations

import threading
import time

import pytest

from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.jobs import Job, Step

PROGRAM = "import time\ndef f(x):\n    return x * 2\ndef slow(x):\n    time.sleep(x)\n    return x\n"
LOOP = "def f(x):\n    if x == 3:\n        while True:\n            pass\n    return x\n"


def _job(tag: object, values: list[int], program: str = PROGRAM) -> Job:
    return Job(program, [Step("eval", exprs=[f"f({v})"]) for v in values], timeout=2.0, tag=tag)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(workers=2, timeout=2.0)) as sandbox:
        yield sandbox


def test_threads_calling_run_at_once_each_get_their_own_results_in_order(sb):
    n_threads, n_jobs = 4, 30
    got: dict[int, list] = {}
    errors: list[BaseException] = []

    def caller(t: int) -> None:
        try:
            for round_ in range(3):
                jobs = [_job((t, round_, k), [t * 1000 + k, k]) for k in range(n_jobs)]
                got[(t, round_)] = sb.run(jobs)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors and len(got) == n_threads * 3
    for (t, round_), results in got.items():
        assert [r.tag for r in results] == [(t, round_, k) for k in range(n_jobs)]
        assert [[o.values[0] for o in r.steps] for r in results] == [
            [2 * (t * 1000 + k), 2 * k] for k in range(n_jobs)
        ]


def test_a_caller_waits_for_no_one_elses_batch(sb):
    """A short batch submitted while a long one runs is answered before the long one ends."""
    long_done: list[float] = []

    def long_batch() -> None:
        sb.run([Job(PROGRAM, [Step("eval", exprs=["slow(0.4)"])], timeout=2.0) for _ in range(10)])
        long_done.append(time.monotonic())

    th = threading.Thread(target=long_batch)
    th.start()
    time.sleep(0.2)
    [r] = sb.run([_job("short", [21])])
    short_done = time.monotonic()
    th.join(60)
    assert r.steps[0].values == [42]
    assert long_done and short_done < long_done[0]


def test_an_exception_in_one_batchs_callback_is_raised_in_its_own_caller_only(sb):
    def boom(i, result):
        raise RuntimeError("callback failed")

    other: list = []
    th = threading.Thread(target=lambda: other.append(sb.run([_job(k, [k]) for k in range(20)])))
    th.start()
    with pytest.raises(RuntimeError, match="callback failed"):
        sb.run([_job(k, [k]) for k in range(20)], on_result=boom)
    th.join(60)
    assert [r.steps[0].values[0] for r in other[0]] == [2 * k for k in range(20)]
    [r] = sb.run([_job("after", [5])])  # the pool still works
    assert r.steps[0].values == [10]


def test_segments_stop_a_run_after_a_step_that_ended_the_process(sb):
    steps = [Step("eval", exprs=[f"f({v})"]) for v in (1, 3, 4, 5, 3, 6)]
    plain = Job(LOOP, steps, timeout=0.2)
    cut = Job(LOOP, steps, timeout=0.2, segments=[0, 3])  # runs: steps 0-2 and 3-5
    a, b = sb.run([plain, cut])
    assert [o.status for o in a.steps] == ["ok", "timeout", "ok", "ok", "timeout", "ok"]
    assert [o.status for o in b.steps] == ["ok", "timeout", "not-run", "ok", "timeout", "not-run"]
    assert b.steps[3].values == [5]
    # an exception does not end the process: the run goes on
    [c] = sb.run([Job(LOOP, [Step("eval", exprs=["f('x') + 1"]), Step("eval", exprs=["f(2)"])],
                      timeout=0.2, segments=[0])])  # fmt: skip
    assert [o.status for o in c.steps] == ["error", "ok"]


@pytest.mark.parametrize("segments", [[1], [0, 0], [0, 9], [0, "1"], [], (0,)])
def test_malformed_segments_are_refused_before_anything_runs(sb, segments):
    bad = Job(PROGRAM, [Step("eval", exprs=["f(1)"]), Step("eval", exprs=["f(2)"])], segments=segments)
    with pytest.raises(ValueError, match="segments"):
        sb.run([_job("first", [1]), bad])
    [ok] = sb.run([_job("next", [1])])
    assert ok.steps[0].values == [2]


def test_the_worker_refuses_malformed_segments_too():
    from unitrl.sandbox.wire import segment_ends

    assert segment_ends([0, 2], 4) == [2, 2, 4, 4] and segment_ends(None, 3) is None
    for bad in ([1], [0, 0], [0, 9], [0, "1"], [], (0,), "0"):
        with pytest.raises(ValueError):
            segment_ends(bad, 4)
