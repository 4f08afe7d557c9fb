"""One adversarial program per sandbox guarantee; each asserts the exact verdict it must get.

Network attacks target only a listener this test opens on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from unitrl.records import Problem
from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.grade import grade_programs

ADD = Problem("add", "def add(a, b):\n", "add", ["assert add(1, 2) == 3", "assert add(20, 22) == 42"])
GOOD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(workers=2, timeout=1.0, memory_mb=512)) as box:
        yield box


def grade(sb, program, problem=ADD):
    [result] = grade_programs(sb, [(problem, program, 0)])
    return result


def statuses(result):
    return [t.status for t in result.tests]


def uid_processes(box: Sandbox) -> list[str]:
    """Processes running as this sandbox's child uids (other sandboxes on the machine use other uids)."""
    out = subprocess.run(["ps", "-eo", "uid=,pid=,stat=,comm="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if int(line.split()[0]) in box.child_uids]


def test_correct_program_passes(sb):
    r = grade(sb, GOOD)
    assert r.passed and r.pass_rate == 1.0 and statuses(r) == ["pass", "pass"]


def test_early_exit_with_status_0_is_not_a_pass(sb):
    for prog in ("import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n", GOOD + "raise SystemExit(0)\n"):
        r = grade(sb, prog)
        assert statuses(r) == ["error", "error"], prog


def test_exit_inside_the_function_is_not_a_pass(sb):
    r = grade(sb, "import os\ndef add(a, b):\n    os._exit(0)\n")
    assert statuses(r) == ["error", "error"]


def test_always_equal_object_is_rejected(sb):
    prog = "class Any:\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return Any()\n"
    r = grade(sb, prog)
    assert statuses(r) == ["error", "error"]
    assert "cannot be compared" in r.tests[0].detail


def test_int_and_list_subclasses_are_compared_by_value(sb):
    prog = (
        "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return I(7)\n"
    )
    assert statuses(grade(sb, prog)) == ["fail", "fail"]
    lst = Problem("l", "", "f", ["assert f() == [1, 2]"])
    prog = "class L(list):\n    def __eq__(self, o):\n        return True\ndef f():\n    return L([9])\n"
    assert statuses(grade(sb, prog, lst)) == ["fail"]
    assert statuses(grade(sb, "class L(list):\n    pass\ndef f():\n    return L([1, 2])\n", lst)) == ["pass"]


def test_expected_values_never_enter_the_child(sb):
    # The program searches every object and frame it can reach for the expected value 987654321.
    # The needle is built at run time so the program's own constants do not contain it.
    prog = (
        "import gc, sys\n"
        "def add(a, b):\n"
        "    needle = ''.join(['98765', '4321'])\n"
        "    found = [o for o in gc.get_objects() if isinstance(o, (list, tuple, dict, str)) and o is not needle\n"
        "             and needle in repr(o)]\n"
        "    f = sys._getframe().f_back\n"
        "    while f:\n"
        "        if needle in repr(f.f_locals) or needle in repr(f.f_code.co_consts):\n"
        "            found.append(f)\n"
        "        f = f.f_back\n"
        "    return int(needle) if found else -1\n"
    )
    secret = Problem("s", "", "add", ["assert add(1, 2) == 987654321"])
    assert statuses(grade(sb, prog, secret)) == ["fail"]


def test_tampering_with_the_encoder_cannot_produce_a_pass(sb):
    prog = (
        "import sys\n"
        "for m in list(sys.modules.values()):\n"
        "    if hasattr(m, 'encode_value'):\n"
        "        m.encode_value = lambda v, *a, **k: 'PASS'\n"
        "def add(a, b):\n    return 0\n"
    )
    assert statuses(grade(sb, prog)) == ["fail", "fail"]


def test_forged_frames_and_output_do_not_pass(sb):
    prog = (
        "import os, json, struct\n"
        "def add(a, b):\n"
        "    frame = json.dumps([0, 'ok', [3], '', 0.0]).encode()\n"
        "    for fd in range(0, 20):\n"
        "        try:\n"
        "            os.write(fd, struct.pack('>I', len(frame)) + frame)\n"
        "        except OSError:\n"
        "            pass\n"
        "    print('PASS')\n"
        "    return None\n"
    )
    r = grade(sb, prog)
    assert not r.passed and r.tests[1].status in ("fail", "error")


def test_reading_the_problem_file_from_disk_fails(sb, tmp_path):
    secret = tmp_path / "problems.jsonl"
    secret.write_text('{"expected": 5551212}')
    prog = f"def add(a, b):\n    return int(open({str(secret)!r}).read().split(':')[1].strip(' }}'))\n"
    p = Problem("d", "", "add", ["assert add(1, 2) == 5551212"])
    r = grade(sb, prog, p)
    assert statuses(r) == ["error"] and "FileNotFoundError" in r.tests[0].detail


def test_parent_memory_is_out_of_reach(sb):
    prog = (
        "import os\n"
        "def add(a, b):\n"
        "    pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "    return len(pids)\n"
    )
    # Only the zygote (PID 1) and the child itself are visible in the PID namespace.
    p = Problem("pm", "", "add", ["assert add(1, 2) == 2"])
    assert statuses(grade(sb, prog, p)) == ["pass"]


def test_caller_environment_is_scrubbed(sb, monkeypatch):
    monkeypatch.setenv("UNITRL_SECRET_TOKEN", "hunter2")
    p = Problem("e", "", "f", ["assert f() is None"])
    assert statuses(
        grade(sb, "import os\ndef f():\n    return os.environ.get('UNITRL_SECRET_TOKEN')\n", p)
    ) == ["pass"]


def test_busy_loop_times_out_and_other_tests_still_run(sb):
    prog = "def add(a, b):\n    if a == 1:\n        while True:\n            pass\n    return a + b\n"
    assert statuses(grade(sb, prog)) == ["timeout", "pass"]


def test_ignoring_signals_is_killed_by_the_wall_clock(sb):
    prog = (
        "import signal, time\n"
        "def add(a, b):\n"
        "    for s in (signal.SIGPROF, signal.SIGALRM, signal.SIGTERM, signal.SIGINT):\n"
        "        signal.signal(s, signal.SIG_IGN)\n"
        "    while True:\n"
        "        try:\n"
        "            time.sleep(10)\n"
        "        except BaseException:\n"
        "            pass\n"
    )
    t0 = time.monotonic()
    assert statuses(grade(sb, prog)) == ["timeout", "timeout"]
    assert time.monotonic() - t0 < 15


def test_fork_bomb_is_contained_and_cleaned_up(sb):
    prog = (
        "import os\n"
        "def add(a, b):\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass\n"
    )
    r = grade(sb, prog)
    assert not r.passed
    assert uid_processes(sb) == []
    assert grade(sb, GOOD).passed  # the sandbox still works


def test_daemons_do_not_outlive_the_program(sb):
    prog = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(600)\n"
        "    os._exit(0)\n"
        "def add(a, b):\n    return a + b\n"
    )
    r = grade(sb, prog)
    assert r.passed  # a correct program that also leaves a daemon: correct verdict, daemon gone
    time.sleep(0.2)
    assert uid_processes(sb) == []


def test_memory_bomb_gets_memory_status(sb):
    prog = "def add(a, b):\n    x = bytearray(8 * 1024 ** 3)\n    return a + b\n"
    assert statuses(grade(sb, prog)) == ["memory", "memory"]


def test_network_is_unreachable(sb):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    prog = (
        "import socket\n"
        f"def add(a, b):\n    socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'hi')\n"
        "    return a + b\n"
    )
    r = grade(sb, prog)
    assert statuses(r) == ["error", "error"] and "unreachable" in r.tests[0].detail
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()


def test_writes_outside_the_work_dir_fail(sb, tmp_path):
    target = tmp_path / "pwned.txt"
    prog = f"def add(a, b):\n    open({str(target)!r}, 'w').write('x')\n    return a + b\n"
    r = grade(sb, prog)
    assert statuses(r) == ["error", "error"] and not target.exists()
    prog = "def add(a, b):\n    open('/usr/pwned', 'w').write('x')\n    return a + b\n"
    assert statuses(grade(sb, prog)) == ["error", "error"] and not os.path.exists("/usr/pwned")
    # its own work dir is writable
    prog = "def add(a, b):\n    open('scratch.txt', 'w').write('x')\n    return a + b\n"
    assert grade(sb, prog).passed


def test_work_dir_is_empty_for_the_next_program(sb):
    grade(sb, "open('left.txt', 'w').write('x')\ndef add(a, b):\n    return a + b\n")
    p = Problem("w", "", "f", ["assert f() == []"])
    for _ in range(3):  # whichever worker runs it, it starts clean
        assert grade(sb, "import os\ndef f():\n    return os.listdir('.')\n", p).passed


def test_killing_the_parent_does_not_break_the_sandbox(sb):
    prog = (
        "import os, signal\n"
        "for pid in (os.getppid(), 1, -1):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError:\n"
        "        pass\n"
        "def add(a, b):\n    return 0\n"
    )
    assert statuses(grade(sb, prog)) == ["fail", "fail"]
    assert grade(sb, GOOD).passed


def test_huge_output_is_capped_quickly(sb):
    prog = "import sys\ndef add(a, b):\n    while True:\n        sys.stdout.write('x' * 65536)\n"
    t0 = time.monotonic()
    assert statuses(grade(sb, prog)) == ["output-limit", "output-limit"]
    assert time.monotonic() - t0 < 10


def test_huge_return_value_is_capped(sb):
    p = Problem("big", "", "f", ["assert f() == 'x'"])
    assert statuses(grade(sb, "def f():\n    return 'x' * (200 * 1024 * 1024)\n", p)) == ["output-limit"]


def test_segfault_and_stack_overflow_do_not_disturb_others(sb):
    segv = "import ctypes\ndef add(a, b):\n    return ctypes.string_at(0)\n"
    # C-stack overflow: the json decoder recurses in C once the recursion limit is lifted.
    deep = "import json, sys\nsys.setrecursionlimit(10 ** 7)\ndef add(a, b):\n    return json.loads('[' * 10 ** 6 + ']' * 10 ** 6)\n"
    results = grade_programs(sb, [(ADD, segv, 0), (ADD, GOOD, 1), (ADD, deep, 2), (ADD, GOOD, 3)])
    assert [r.passed for r in results] == [False, True, False, True]
    assert "SIGSEGV" in results[0].tests[0].detail
    assert statuses(results[2]) == ["error", "error"] and "SIG" in results[2].tests[0].detail


def test_syntax_error_verdict(sb):
    assert statuses(grade(sb, "def add(a, b)\n    return a + b\n")) == ["syntax-error", "syntax-error"]


def test_hash_seed_is_fixed_so_the_same_program_gets_the_same_verdict(sb):
    # str hashes and set order change with the hash seed. The program passes only if the sandbox's
    # hashes equal those of a fresh interpreter with PYTHONHASHSEED=0 (the seed the sandbox fixes); with
    # a random seed per run or per worker it would fail, nearly always.
    code = "print(hash('abc'), ''.join(set('pqrstuvw')))"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    h, order = out.stdout.split()
    prog = (
        "def add(a, b):\n"
        f"    same = hash('abc') == {h} and ''.join(set('pqrstuvw')) == {order!r}\n"
        "    return a + b if same else None\n"
    )
    results = grade_programs(sb, [(ADD, prog, i) for i in range(12)])
    assert all(r.passed for r in results)


def test_closing_the_result_channel_is_not_a_pass(sb):
    prog = (
        "import os\nfor fd in range(3, 50):\n    try:\n        os.close(fd)\n    except OSError:\n        pass\n"
        + GOOD
    )
    assert statuses(grade(sb, prog)) == ["error", "error"]


def test_stdio_compares_whole_lines_not_prefixes(sb):
    p = Problem("io", "", None, [{"stdin": "2 3\n", "stdout": "5\n"}, {"stdin": "1 1\n", "stdout": "2"}])
    assert grade(sb, "a, b = map(int, input().split())\nprint(a + b, '  ')\n", p).passed
    assert statuses(grade(sb, "a, b = map(int, input().split())\nprint(a + b)\nprint('extra')\n", p)) == [
        "fail",
        "fail",
    ]
    assert statuses(grade(sb, "a, b = map(int, input().split())\nprint(str(a + b) + '0')\n", p)) == [
        "fail",
        "fail",
    ]


def test_worker_deaths_are_infrastructure_errors_never_failures():
    with Sandbox(SandboxConfig(workers=1, timeout=5.0)) as box:
        stop = threading.Event()

        def killer():
            while not stop.is_set():
                for w in list(box.workers):
                    try:
                        w.proc.kill()
                    except Exception:
                        pass
                time.sleep(0.05)

        t = threading.Thread(target=killer)
        t.start()
        try:
            slow = "import time\ndef add(a, b):\n    time.sleep(0.3)\n    return a + b\n"
            results = grade_programs(box, [(ADD, slow, i) for i in range(3)])
        finally:
            stop.set()
            t.join()
        assert all(r.status == "infrastructure-error" for r in results)
        assert all(t.status == "infrastructure-error" for r in results for t in r.tests)


def test_no_zombies_and_no_temp_dirs_left():
    import glob

    for isolation in ("auto", "none"):
        with Sandbox(SandboxConfig(workers=2, isolation=isolation)) as box:
            grade_programs(box, [(ADD, "open('f', 'w').write('x')\n" + GOOD, i) for i in range(20)])
            base = box.base
        assert not os.path.exists(base) and not glob.glob(base + "*")
    out = subprocess.run(
        ["ps", "-o", "stat=,pid=", "--ppid", str(os.getpid())], capture_output=True, text=True
    ).stdout
    assert not [line for line in out.splitlines() if line.strip().startswith("Z")]


@pytest.mark.parametrize("isolation", ["none"])
def test_without_namespaces_the_core_guarantees_hold(isolation):
    with Sandbox(SandboxConfig(workers=1, timeout=1.0, isolation=isolation)) as box:
        assert not box.layers["network"] and not box.layers["pid"]
        daemon = (
            "import os, time\n"
            "if os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n"
            "def add(a, b):\n    return a + b\n"
        )
        results = grade_programs(
            box,
            [
                (ADD, GOOD, 0),
                (ADD, "import os\nos._exit(0)\n", 1),
                (ADD, "def add(a, b):\n    while True: pass\n", 2),
                (ADD, daemon, 3),
            ],
        )
        assert [r.status for r in results] == ["pass", "error", "timeout", "pass"]
        time.sleep(0.2)
        assert uid_processes(box) == []


def test_require_isolation_refuses_when_layers_are_missing():
    from unitrl.errors import UserError

    with pytest.raises(UserError, match="require-isolation"):
        Sandbox(SandboxConfig(workers=1, isolation="none", require_isolation=True))


def test_nested_sandboxes_use_disjoint_uids_and_both_work():
    with Sandbox(SandboxConfig(workers=1)) as outer, Sandbox(SandboxConfig(workers=1)) as inner:
        assert not set(outer.child_uids) & set(inner.child_uids)
        assert grade(inner, GOOD).passed and grade(outer, GOOD).passed


def test_forging_the_progress_page_does_not_buy_more_wall_time(sb):
    # The page where a child publishes its current step is writable by the child. A program that keeps
    # changing it while sleeping must still be killed: at most (steps + 1) x the per-step wall limit.
    one = Problem("one", "def add(a, b):\n", "add", ["assert add(1, 2) == 3"])
    prog = (
        "import gc, mmap, time\n"
        "def add(a, b):\n"
        "    pages = [o for o in gc.get_objects() if isinstance(o, mmap.mmap)]\n"
        "    i = 0\n"
        "    while True:\n"
        "        i += 1\n"
        "        for p in pages:\n"
        "            p[0:4] = (i % 2).to_bytes(4, 'little')\n"
        "        time.sleep(0.05)\n"
    )
    t0 = time.monotonic()
    assert statuses(grade(sb, prog, one)) == ["timeout"]
    assert time.monotonic() - t0 < 2 * (1.0 * 3.0 + 0.5) + 2


def test_random_is_seeded_so_programs_see_the_same_stream_every_run(sb):
    from unitrl.sandbox import Job, Step

    job = Job("import random\nx = random.random()\n", [Step("eval", exprs=["x", "random.random()"])])
    first, second = sb.run([job, job])
    assert first.steps[0].status == "ok" and first.steps[0].values == second.steps[0].values


def test_large_programs_and_large_stdin_reach_the_child_intact(sb):
    # Megabytes must arrive whole, and promptly: a frame larger than the pipe is written as the worker
    # drains it (the parent once waited half a second per 64 KiB chunk: 15 s for this program).
    t0 = time.monotonic()
    big = "DATA = " + repr("x" * 2_000_000) + "\ndef add(a, b):\n    return a + b + len(DATA) - 2_000_000\n"
    assert statuses(grade(sb, big)) == ["pass", "pass"]
    echo = Problem(
        "echo",
        "",
        None,
        [{"stdin": "y" * 1_500_000 + "\n", "stdout": "1500000"}, {"stdin": "ab\n", "stdout": "2"}],
    )
    assert statuses(grade(sb, "import sys\nprint(len(sys.stdin.read().strip()))\n", echo)) == ["pass", "pass"]
    assert time.monotonic() - t0 < 10
