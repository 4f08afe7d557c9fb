"""Reward integrity: nothing a program does changes another program's verdict, leaves state for the next
program on the same worker, or escapes its own penalty. Every case runs the attacker and then honest and
wrong victims on ONE worker, so they share the supervisor, the zygote and the namespaces."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from unitrl.records import Problem
from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.grade import grade_programs
from unitrl.sandbox.jobs import Job, Step

ADD = Problem(
    "add",
    "def add(a, b):\n",
    "add",
    ["assert add(1, 2) == 3", "assert add(20, 22) == 42", "assert add(-1, 1) == 0"],
)
GOOD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return 3\n"


@pytest.fixture(scope="module")
def one():
    with Sandbox(SandboxConfig(workers=1, timeout=1.0, memory_mb=512, tmp_mb=8)) as box:
        yield box


def verdicts(box, programs, problem=ADD):
    results = grade_programs(box, [(problem, p, i) for i, p in enumerate(programs)])
    return [[t.status for t in r.tests] for r in results]


def forger(first_frame: str) -> str:
    """Writes `first_frame` raw, then well-formed frames claiming every step passed, on every fd, from a
    thread that keeps going, and pins the progress page; then dies in the middle of its first test."""
    return textwrap.dedent(
        f"""
        import gc, json, mmap, os, struct, threading, time
        def frames():
            out = b""
            for i in range(8):
                body = json.dumps([i, "ok", [{{"T": []}}], "", 0.0]).encode()
                out += struct.pack(">I", len(body)) + body
            return out
        def spray():
            pages = [o for o in gc.get_objects() if isinstance(o, mmap.mmap)]
            while True:
                for fd in range(3, 64):
                    try:
                        os.write(fd, {first_frame} + frames())
                    except OSError:
                        pass
                for p in pages:
                    try:
                        p[0:4] = (0).to_bytes(4, "little")
                    except Exception:
                        pass
                time.sleep(0.001)
        threading.Thread(target=spray, daemon=True).start()
        def add(a, b):
            time.sleep(0.2)
            os._exit(3)
        """
    )


MALFORMED = [
    'b"\\x00\\x00\\x00\\x05{{{{{"',  # bad JSON
    'struct.pack(">I", 20) + b\'["load", ["x"], 1]\' + b"     "',  # unhashable status
    'struct.pack(">I", 424) + b\'[0, "ok", [1], "", \' + b"9" * 400 + b"]" + b" " * 0',  # 400-digit time
    'struct.pack(">I", 2**31)',  # absurd length
]


@pytest.mark.parametrize("first", MALFORMED)
def test_a_program_cannot_forge_the_next_programs_verdict_in_either_direction(one, first):
    out = verdicts(one, [forger(first), WRONG, GOOD, WRONG, GOOD])
    assert out[0] != ["pass"] * 3 and "pass" not in out[0]
    assert out[1] == ["pass", "fail", "fail"]  # WRONG returns 3: only add(1, 2) holds
    assert out[2] == ["pass", "pass", "pass"]
    assert out[3] == ["pass", "fail", "fail"] and out[4] == ["pass", "pass", "pass"]


def test_a_huge_number_in_a_frame_fails_only_that_program(one):
    prog = (
        "import os, struct\n"
        "def add(a, b):\n"
        "    body = b'[0, \"ok\", [99], \"\", ' + b'9' * 400 + b']'\n"
        "    os.write(3, struct.pack('>I', len(body)) + body)\n"
        "    os._exit(0)\n"
    )
    out = verdicts(one, [prog, GOOD])
    assert "pass" not in out[0] and out[1] == ["pass"] * 3


LEFTOVERS = {
    "files in /tmp outside the work dir": "open('/tmp/planted', 'w').write('x')\nos.mkdir('/tmp/d')\n",
    "a full tmpfs": "try:\n    open('/tmp/fill', 'wb').write(b'x' * (64 << 20))\nexcept OSError:\n    pass\n",
    "work dir replaced by a file": "wd = os.getcwd()\nos.chdir('/')\nos.rmdir(wd)\nopen(wd, 'w').close()\n",
    "work dir mode 000": "os.chmod(os.getcwd(), 0)\n",
    "a tree 3,000 levels deep": (
        "fd = os.open('.', os.O_RDONLY)\n"
        "for i in range(3000):\n"
        "    os.mkdir('d', dir_fd=fd)\n"
        "    nfd = os.open('d', os.O_RDONLY, dir_fd=fd)\n"
        "    os.close(fd)\n"
        "    fd = nfd\n"
        "open('f', 'w', opener=lambda p, f: os.open(p, f, dir_fd=fd)).write('x')\n"
    ),
    "a fifo and a 000 dir in /tmp": "os.mkfifo('/tmp/fifo')\nos.mkdir('/tmp/locked', 0)\n",
}
PROBE = (
    "import os\n"
    "def add(a, b):\n"
    "    here = os.path.basename(os.getcwd())\n"
    "    left = sorted(n for n in os.listdir('/tmp') if n != here) + sorted(os.listdir('.'))\n"
    "    open('/tmp/probe', 'wb').write(b'y' * (4 << 20))\n"  # the tmpfs has room again
    "    os.unlink('/tmp/probe')\n"
    "    return a + b if not left else left\n"
)


@pytest.mark.parametrize("name", sorted(LEFTOVERS))
def test_nothing_a_program_leaves_in_the_filesystem_reaches_the_next_one(one, name):
    attacker = "import os\n" + LEFTOVERS[name] + GOOD
    out = verdicts(one, [attacker, PROBE, GOOD])
    assert out[1] == ["pass"] * 3, name
    assert out[2] == ["pass"] * 3


def test_sysv_ipc_is_off_and_leaves_nothing(one):
    prog = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "ids = [libc.shmget(0, 64 << 20, 0o1600), libc.semget(0, 1, 0o1600), libc.msgget(0, 0o1600)]\n"
        "def add(a, b):\n"
        "    return ids\n"
    )
    probe = "def add(a, b):\n    return open('/proc/sysvipc/shm').read().count('\\n') - 1 + a + b\n"
    [[attack], [seen]] = [
        [s.values for s in r.steps] for r in one.run([Job(prog, [Step("eval", exprs=["add(0, 0)"])])])
    ] + [[s.values for s in r.steps] for r in one.run([Job(probe, [Step("eval", exprs=["add(0, 0)"])])])]
    assert attack == [[-1, -1, -1]]  # refused, so nothing can be left behind
    assert seen == [0]
    assert one.layers["seccomp"] and one.layers["sysv_off"]


def test_a_program_sleeping_in_every_test_is_a_timeout_not_a_sandbox_failure(one):
    slow = "import time\ndef add(a, b):\n    time.sleep(30)\n"
    t0 = time.monotonic()
    out = verdicts(one, [slow, GOOD])
    wall = 1.0 * 3.0 + 0.5
    assert out[0] == ["timeout"] * 3 and out[1] == ["pass"] * 3
    assert time.monotonic() - t0 < (3 + 1) * wall + 3  # bounded by the job's budget, never a retry


def test_the_first_test_gets_one_wall_limit_not_two(one):
    prob = Problem("one", "def add(a, b):\n", "add", ["assert add(1, 2) == 3"])
    t0 = time.monotonic()
    assert verdicts(one, ["import time\ndef add(a, b):\n    time.sleep(30)\n"], prob) == [["timeout"]]
    assert time.monotonic() - t0 < (1.0 * 3.0 + 0.5) * 1.25 + 1.0


def test_the_sandbox_shows_no_host_configuration(one):
    prog = (
        "import os\n"
        "def add(a, b):\n"
        "    return [open('/proc/1/cmdline').read(), open('/etc/passwd').read(), os.listdir('/etc'),\n"
        "            open('/proc/self/mountinfo').read()]\n"
    )
    [r] = one.run([Job(prog, [Step("eval", exprs=["add(1, 2)"])])])
    cmdline, passwd, etc, mountinfo = r.steps[0].values[0]
    assert "workdir_base" not in cmdline and "{" not in cmdline
    assert passwd.count("\n") == 2 and "sandbox" in passwd
    assert "resolv.conf" not in etc and "shadow" not in etc
    assert "/.old" not in mountinfo and "unitrl-sandbox" not in mountinfo


def test_programs_see_packages_that_live_under_tmp(tmp_path, monkeypatch):
    site = tmp_path / "venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    (site / "tmp_only_pkg.py").write_text("VALUE = 41\n")
    monkeypatch.syspath_prepend(str(site))
    prog = "import tmp_only_pkg\ndef add(a, b):\n    return a + b + tmp_only_pkg.VALUE - 41\n"
    with Sandbox(SandboxConfig(workers=1, timeout=2.0)) as box:
        assert verdicts(box, [prog]) == [["pass"] * 3]
        numpy_prog = "import numpy\ndef add(a, b):\n    return int(numpy.array([a, b]).sum())\n"
        assert verdicts(box, [numpy_prog]) == [["pass"] * 3]


def test_oversized_and_overcounted_values_fail_the_program_not_the_run(one):
    many = "def add(a, b):\n    return [0] * 3_000_000\n"  # more values than the per-job count cap
    nested = "def add(a, b):\n    x = []\n    for _ in range(99):\n        x = [x]\n    return x\n"
    out = verdicts(one, [many, nested, GOOD])
    assert out[0][0] == "output-limit" and "pass" not in out[0]
    assert "pass" not in out[1] and out[2] == ["pass"] * 3


def test_a_program_that_breaks_its_worker_twice_is_charged_after_a_canary(monkeypatch):
    # the parent's per-job budget made shorter than the supervisor's own cap: the worker looks hung
    with Sandbox(SandboxConfig(workers=1, timeout=2.0)) as box:
        monkeypatch.setattr(box, "_budget", lambda job: 1.0)
        slow = "import time\ndef add(a, b):\n    time.sleep(4)\n    return a + b\n"
        [r] = grade_programs(box, [(ADD, slow, 0)])
        assert {t.status for t in r.tests} == {"timeout"} and "canary" in r.tests[0].detail
        monkeypatch.undo()
        assert verdicts(box, [GOOD]) == [["pass"] * 3]


def test_a_poisoned_worker_is_replaced_and_later_jobs_pass(one):
    bad = Job(GOOD, [Step("eval", exprs=["add(1, 2)"])], timeout=float("nan"))  # the supervisor refuses it
    good = Job(GOOD, [Step("eval", exprs=["add(1, 2)"])])
    first, second, third = one.run([bad, good, good])
    assert first.steps[0].status in ("error", "infrastructure-error")
    assert second.steps[0].values == [3] and third.steps[0].values == [3]


DOUBLE_FORK = (
    "import os, time\n"
    "def add(a, b):\n"
    "    if os.fork() == 0:\n"
    "        os.setsid()\n"
    "        if os.fork() == 0:\n"
    "            open('/dev/null').close()\n"
    "            time.sleep(120)\n"
    "        os._exit(0)\n"
    "    return a + b\n"
)


def test_isolation_none_leaves_no_process_behind_and_never_runs_programs_as_root(tmp_path):
    script = textwrap.dedent(
        f"""
        import json, os
        from unitrl.records import Problem
        from unitrl.sandbox import Sandbox, SandboxConfig
        from unitrl.sandbox.grade import grade_programs
        P = Problem("add", "def add(a, b):\\n", "add", ["assert add(1, 2) == 3"])
        uid = "import os\\ndef add(a, b):\\n    return os.geteuid()\\n"
        with Sandbox(SandboxConfig(workers=1, timeout=1.0, isolation="none")) as box:
            rs = grade_programs(box, [(P, {DOUBLE_FORK!r}, 0), (P, uid, 1)])
            print(json.dumps([[t.status for t in r.tests] for r in rs] + [box.child_uids, rs[1].tests[0].detail]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    first, second, uids, detail = json.loads(proc.stdout.strip().splitlines()[-1])
    assert first == ["pass"]
    if os.geteuid() == 0:
        assert second == ["fail"] and str(uids[0]) in detail  # the program ran as the spare uid
    time.sleep(0.3)
    ps = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout
    assert not [line for line in ps.splitlines() if int(line.split()[0]) in uids]


def test_a_stdio_script_may_end_with_exit_0_but_not_with_a_failure_code(one):
    steps = [Step("stdio", stdin="abc\n")]
    ends = ["exit()", "import sys; sys.exit(0)", "raise SystemExit", "import sys; sys.exit(3)"]
    got = [one.run([Job(f"print(input()[::-1])\n{end}\n", steps)])[0].steps[0] for end in ends]
    assert [(s.status, s.stdout) for s in got[:3]] == [("ok", "cba\n")] * 3
    assert got[3].status == "error"
