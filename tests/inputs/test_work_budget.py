"""The input search's deterministic measure of a slow input: probe events counted against a budget."""

from __future__ import annotations

import pytest

from unitrl.inputs import coverage
from unitrl.inputs.search import classify
from unitrl.sandbox.jobs import Job, Step

SOURCE = """
def spin(n):
    total = 0
    for i in range(n):
        if i % 2:
            total += i
    return total


def swallow(n):
    try:
        return spin(n)
    except Exception:
        return -1
"""


@pytest.fixture(scope="module")
def sandbox():
    from unitrl.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(workers=1, timeout=5.0)) as sb:
        yield sb


def test_a_call_past_the_work_budget_stops_the_same_way_every_time(sandbox):
    inst = coverage.instrument(SOURCE)
    over = coverage.WORK_BUDGET  # 2 events per turn: twice the budget's worth of work
    calls = [("spin", "10"), ("spin", str(over)), ("swallow", str(over)), ("spin", "10")]
    steps = [Step("eval", exprs=[coverage.probe_expr(f, a)]) for f, a in calls] + [
        Step("eval", exprs=[f"spin({over})"])  # not a probe: no budget (a test of the suite)
    ]
    for _ in range(2):
        [r] = sandbox.run([Job(inst.source, steps, timeout=5.0)])
        tags = [o.values[0][0] for o in r.steps[:4]]
        # `except Exception` in the program does not catch it; the next call starts a fresh count
        assert tags == ["ok", "too-much-work", "too-much-work", "ok"]
        assert r.steps[0].values[0][1] == 25 and r.steps[4].values == [sum(range(1, over, 2))]
        t = classify(((over,), {}), r.steps[1])
        assert t.status == "timeout" and "probe events" in t.value and t.hits
