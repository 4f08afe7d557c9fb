"""Tests that cannot be split run in a harness process that never loads the program (sandbox.harness).

Each test form below is one the assert splitter leaves whole (checked), with an attack that made a
failing program pass while tests ran inside the program's own process, the exact verdict it gets now,
and the verdict of a correct program on the same test.
"""

from __future__ import annotations

import time

import pytest

from unitrl.records import Problem
from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.assertion import plan_test
from unitrl.sandbox.grade import grade_programs

RIGGED = "class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\n"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(workers=2, timeout=1.0, memory_mb=512)) as box:
        yield box


def problem(*tests: str, entry: str = "f") -> Problem:
    for t in tests:
        assert not plan_test(t).trusted, t  # each runs whole (an `exec` step)
    return Problem("h", "", entry, list(tests))


def statuses(sb, p: Problem, program: str) -> list[str]:
    [result] = grade_programs(sb, [(p, program, 0)])
    return [t.status for t in result.tests]


def details(sb, p: Problem, program: str) -> list[str]:
    [result] = grade_programs(sb, [(p, program, 0)])
    return [t.detail for t in result.tests]


def test_rigged_eq_object_in_a_generator_test(sb):
    p = problem("assert all(f(x) == y for x, y in [(1, 1), (2, 4), (3, 9)])")
    assert statuses(sb, p, "def f(x):\n    return x * x\n") == ["pass"]
    assert statuses(sb, p, RIGGED + "def f(x):\n    return A()\n") == ["fail"]


def test_int_subclass_with_rigged_eq_inside_or(sb):
    p = problem("assert f(2) == 5 or f(2) == 6")
    bad = "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
    assert statuses(sb, p, bad + "def f(x):\n    return I(0)\n") == ["fail"]
    assert statuses(sb, p, "def f(x):\n    return x + 3\n") == ["pass"]


def test_patched_builtins_do_not_reach_the_test(sb):
    p = problem(
        "assert all(f(x) == 2 * x for x in range(1, 4))",
        "assert len(g(3)) == 3 and all(v > 0 for v in g(3))",
        "try:\n    f(-1)\nexcept AssertionError:\n    pass\nelse:\n    raise RuntimeError('no assertion')",
    )
    wrong = "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return 0\ndef g(n):\n    return []\n"
    # `all` always true, and the test's `except AssertionError` catching anything
    patch = "import builtins\nbuiltins.all = lambda *a: True\nbuiltins.AssertionError = Exception\n"
    assert statuses(sb, p, patch + wrong) == ["fail", "fail", "error"]
    # `len` is used by the program process's own server code: it can no longer answer, which errors
    assert statuses(sb, p, "import builtins\nbuiltins.len = lambda *a: 3\n" + wrong) == ["error"] * 3
    good = "def f(x):\n    assert x >= 0\n    return 2 * x\ndef g(n):\n    return list(range(1, n + 1))\n"
    assert statuses(sb, p, good) == ["pass", "pass", "pass"]


def test_check_candidate_with_a_loop_and_a_helper_variable(sb):
    check = (
        "def check(candidate):\n"
        "    total = 0\n"
        "    for i in range(5):\n"
        "        got = candidate(i)\n"
        "        total += got\n"
        "        assert got == i * i, i\n"
        "    assert total == 30\n"
        "\n"
        "check(square)\n"
    )
    p = problem(check, entry="square")
    # equal to everything, and absorbs additions: passed when the test ran inside the program
    bad = (
        "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
        "    def __radd__(self, o):\n        return I(0)\n    __add__ = __radd__\n"
        "def square(x):\n    return I(x + 1)\n"
    )
    assert statuses(sb, p, bad) == ["fail"]
    assert statuses(sb, p, "def square(x):\n    return x * x\n") == ["pass"]


def test_lambda_test_and_a_lambda_passed_to_the_program(sb):
    p = problem("assert (lambda r: r == sorted(r))(f([3, 1, 2]))")
    rigged_list = "class L(list):\n    def __eq__(self, o):\n        return True\n"
    assert statuses(sb, p, rigged_list + "def f(xs):\n    return L(xs)\n") == ["fail"]
    assert statuses(sb, p, "def f(xs):\n    return sorted(xs)\n") == ["pass"]
    # a function cannot cross to the program: the test errors, and says why
    p = problem("assert apply(lambda x: x + 1, 2) == 3 or False", entry="apply")
    prog = "def apply(fn, x):\n    return fn(x)\n"
    assert statuses(sb, p, prog) == ["error"]
    assert "cannot pass a function to the program" in details(sb, p, prog)[0]


def test_killing_the_harness_fails(sb):
    p = problem("assert all(f(x) == x * x for x in [2, 3])")
    at_load = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef f(x):\n    return x * x\n"
    assert statuses(sb, p, at_load) == ["error"]
    in_call = "import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return x * x\n"
    assert statuses(sb, p, in_call) == ["error"]
    assert statuses(sb, p, "def f(x):\n    return x * x\n") == ["pass"]


def test_exiting_during_a_test_fails_even_when_the_test_catches_everything(sb):
    p = problem(
        "try:\n    f(1)\nexcept BaseException:\n    pass",
        "assert all(f(x) == x * x for x in [2, 3])",
    )
    prog = "import os\ndef f(x):\n    if x == 1:\n        os._exit(0)\n    return x * x\n"
    # the next test runs in a fresh child, so it still gets its own verdict
    assert statuses(sb, p, prog) == ["error", "pass"]
    assert "exited with status 0" in details(sb, p, prog)[0]


def test_a_call_that_sleeps_forever_times_out(sb):
    p = problem("assert all(f(x) == x for x in [1])")
    t0 = time.monotonic()
    assert statuses(sb, p, "import time\ndef f(x):\n    time.sleep(1000)\n") == ["timeout"]
    assert time.monotonic() - t0 < 10


def test_the_programs_cpu_time_is_limited_per_step_even_when_the_test_catches_it(sb):
    p = problem(
        "try:\n    f(1)\nexcept BaseException:\n    pass",
        "assert all(f(x) == x for x in [2, 3])",
    )
    prog = "def f(x):\n    while x == 1:\n        pass\n    return x\n"
    assert statuses(sb, p, prog) == ["timeout", "pass"]


def test_class_based_test(sb):
    p = problem(
        "s = Solution()\nassert s.double(2) == 4 and [s.double(i) for i in range(3)] == [0, 2, 4]",
        entry="Solution",
    )
    good = "class Solution:\n    def double(self, x):\n        return 2 * x\n"
    assert statuses(sb, p, good) == ["pass"]
    bad = RIGGED + "class Solution:\n    def double(self, x):\n        return A()\n"
    assert statuses(sb, p, bad) == ["fail"]


def test_in_place_mutation_is_seen_by_the_test(sb):
    p = problem(
        "xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]",
        "d = {}\nfill(d, key='a')\nassert d == {'a': 1}",
        entry="sort_in_place",
    )
    good = "def sort_in_place(xs):\n    xs.sort()\ndef fill(d, key):\n    d[key] = 1\n"
    assert statuses(sb, p, good) == ["pass", "pass"]
    bad = "def sort_in_place(xs):\n    return sorted(xs)\ndef fill(d, key):\n    return {key: 1}\n"
    assert statuses(sb, p, bad) == ["fail", "fail"]


def test_forged_frames_on_every_fd_fail(sb):
    p = problem("assert all(f(x) == x + 1 for x in [1, 2])")
    forge = (
        "import json, os, struct\n"
        "def f(x):\n"
        "    for frame in ([0, 'ok', [2], '', 0.0], ['ok', 2], ['load', 'ok', ''], [0, 'ok', None, '', 0]):\n"
        "        data = json.dumps(frame).encode()\n"
        "        for fd in range(51):\n"
        "            try:\n"
        "                os.write(fd, struct.pack('>I', len(data)) + data)\n"
        "            except OSError:\n"
        "                pass\n"
        "    return x + 1\n"
    )
    assert statuses(sb, p, forge) == ["error"]
    assert statuses(
        sb,
        p,
        forge.replace("def f(x):", "def g():").replace("    return x + 1\n", "g()\n")
        + "def f(x):\n    return x + 1\n",
    ) == ["error"]
    huge = (
        "import os\ndef f(x):\n    for fd in range(51):\n        try:\n"
        "            os.write(fd, b'\\xff\\xff\\xff\\xff')\n        except OSError:\n            pass\n"
        "    return x + 1\n"
    )
    assert statuses(sb, p, huge) == ["output-limit"]


def test_the_program_never_sees_the_test(sb):
    # The program searches its memory, frames and every fd for the expected value 987654321.
    p = problem("assert f(1) == 987654321 or f(1) == 987654321")
    prog = (
        "import gc, os, sys\n"
        "def f(x):\n"
        "    needle = ''.join(['98765', '4321'])\n"
        "    found = [o for o in gc.get_objects() if isinstance(o, (list, tuple, dict, str)) and o is not needle\n"
        "             and needle in repr(o)]\n"
        "    frame = sys._getframe().f_back\n"
        "    while frame:\n"
        "        if needle in repr(frame.f_locals) or needle in repr(frame.f_code.co_consts):\n"
        "            found.append(frame)\n"
        "        frame = frame.f_back\n"
        "    for fd in range(64):\n"
        "        try:\n"
        "            found += [fd] if needle.encode() in os.pread(fd, 1 << 20, 0) else []\n"
        "        except OSError:\n"
        "            pass\n"
        "    return int(needle) if found else -1\n"
    )
    assert statuses(sb, p, prog) == ["fail"]


def test_modules_and_builtin_names_resolve_in_the_harness(sb):
    p = problem("assert math.isclose(f(1), 3.0) or False", "assert sorted(g()) == [1, 2, 3] or False")
    bad = (
        "import math\nmath.isclose = lambda *a, **k: True\n"
        "def sorted(xs):\n    return [1, 2, 3]\n"
        "def f(x):\n    return x\ndef g():\n    return [3, 9, 1]\n"
    )
    assert statuses(sb, p, bad) == ["fail", "fail"]
    good = "import math\ndef f(x):\n    return x + 2.0\ndef g():\n    return [3, 2, 1]\n"
    assert statuses(sb, p, good) == ["pass", "pass"]


def test_program_exceptions_constants_and_generators(sb):
    p = problem(
        "try:\n    f(-1)\nexcept Negative:\n    pass\nelse:\n    raise AssertionError('no Negative')",
        "assert f(LIMIT) == 10 or False",
        "g = gen(3)\nassert next(g) == 0 and list(g) == [1, 2]",
    )
    p.tests.append("assert f(4) == 4")  # split: evaluated by the program's process, judged in the parent
    good = (
        "LIMIT = 10\nclass Negative(Exception):\n    pass\n"
        "def f(x):\n    if x < 0:\n        raise Negative(x)\n    return x\n"
        "def gen(n):\n    yield from range(n)\n"
    )
    assert statuses(sb, p, good) == ["pass", "pass", "pass", "pass"]
    wrong = good.replace("raise Negative(x)", "raise ValueError(x)").replace("range(n)", "range(1, n)")
    assert statuses(sb, p, wrong) == ["error", "pass", "fail", "pass"]
