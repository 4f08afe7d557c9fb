"""Soak test of the sandbox: tens of thousands of mixed and hostile programs through the same warm workers.

A seeded mix over ten small assert-test problems (15-20 tests each, like RL suites): correct programs (~50%),
wrong ones (off-by-one, constant return), crashing ones (raise, syntax error, recursion, segfault), timing
out (busy loop and sleeping, in every test), memory-hungry, and hostile ones (always-equal objects, int/list
subclasses, exit(0) before the tests, gc and frame search for expected values, forged result frames on every
fd, litter and a full /tmp, the work dir replaced by a file, a 3,000-level directory tree, SysV IPC objects,
a daemon, a fork bomb), shuffled so that hostile programs run right before honest ones on the same workers.
The whole mix runs twice on one sandbox; every verdict must match its expected class and be the same in
both runs, with no infrastructure error, and nothing may leak (processes, fds, temp dirs, SysV objects on
the host; files, used bytes and SysV objects inside the sandbox, seen by a probe program). Prints a table,
writes benchmarks/results/soak.json, exits 1 when a check fails.

    .venv/bin/python benchmarks/soak.py [--programs 20000] [--workers 2] [--timeout 0.5] [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import random
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from unitrl.errors import UserError
from unitrl.records import Problem, Result
from unitrl.sandbox import Job, Sandbox, SandboxConfig, Step
from unitrl.sandbox.grade import grade_programs

RESULTS = Path(__file__).parent / "results" / "soak.json"


# ------------------------------------------------------------------------------------------- problems


@dataclass
class Spec:
    """One problem: correct implementations, two wrong ones, inputs, and the type the function returns."""

    entry: str
    correct: tuple[str, str]
    off_by_one: str
    constant: str
    edges: list[tuple]
    draw: object  # rng -> args tuple
    kind: str  # int | bool | str | list | dict


def _s(text: str) -> str:
    return text.strip("\n") + "\n"


SPECS = [
    Spec(
        "add",
        (_s("def add(a, b):\n    return a + b"), _s("def add(a, b):\n    return sum((a, b))")),
        _s("def add(a, b):\n    return a + b + 1"),
        _s("def add(a, b):\n    return 0"),
        [(0, 0), (-1, 1)],
        lambda r: (r.randint(-99, 99), r.randint(-99, 99)),
        "int",
    ),
    Spec(
        "fib",
        (
            _s("def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a"),
            _s("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)"),
        ),
        _s("def fib(n):\n    a, b = 0, 1\n    for _ in range(n - 1):\n        a, b = b, a + b\n    return a"),
        _s("def fib(n):\n    return 1"),
        [(0,), (1,), (2,), (10,)],
        lambda r: (r.randint(0, 20),),
        "int",
    ),
    Spec(
        "is_prime",
        (
            _s(
                "def is_prime(n):\n    if n < 2:\n        return False\n"
                "    return all(n % d for d in range(2, int(n ** 0.5) + 1))"
            ),
            _s("def is_prime(n):\n    return n > 1 and not [d for d in range(2, n) if n % d == 0]"),
        ),
        _s(
            "def is_prime(n):\n    if n < 2:\n        return False\n"
            "    return all(n % d for d in range(2, int(n ** 0.5)))"
        ),
        _s("def is_prime(n):\n    return False"),
        [(0,), (1,), (2,), (4,), (9,), (25,), (97,)],
        lambda r: (r.randint(0, 300),),
        "bool",
    ),
    Spec(
        "reverse_words",
        (
            _s("def reverse_words(s):\n    return ' '.join(reversed(s.split()))"),
            _s("def reverse_words(s):\n    return ' '.join(s.split()[::-1])"),
        ),
        _s("def reverse_words(s):\n    return ' '.join(s.split()[:0:-1])"),
        _s("def reverse_words(s):\n    return ''"),
        [("",), ("one",), ("a b",)],
        lambda r: (" ".join(r.choice(["red", "fox", "sky", "tea", "owl"]) for _ in range(r.randint(1, 6))),),
        "str",
    ),
    Spec(
        "max_subarray",
        (
            _s(
                "def max_subarray(xs):\n    best = cur = xs[0]\n    for x in xs[1:]:\n"
                "        cur = max(x, cur + x)\n        best = max(best, cur)\n    return best"
            ),
            _s(
                "def max_subarray(xs):\n"
                "    return max(sum(xs[i:j]) for i in range(len(xs)) for j in range(i + 1, len(xs) + 1))"
            ),
        ),
        _s(
            "def max_subarray(xs):\n"
            "    return max(sum(xs[i:j]) for i in range(len(xs)) for j in range(i + 1, len(xs)))"
            " if len(xs) > 1 else xs[0]"
        ),
        _s("def max_subarray(xs):\n    return 0"),
        [([-3],), ([1, 2, 3],), ([-2, 1, -3, 4, -1, 2, 1, -5, 4],)],
        lambda r: ([r.randint(-9, 9) for _ in range(r.randint(1, 8))],),
        "int",
    ),
    Spec(
        "count_vowels",
        (
            _s("def count_vowels(s):\n    return sum(c in 'aeiouAEIOU' for c in s)"),
            _s("def count_vowels(s):\n    return len([c for c in s.lower() if c in 'aeiou'])"),
        ),
        _s("def count_vowels(s):\n    return sum(c in 'aeiouAEIOU' for c in s[1:])"),
        _s("def count_vowels(s):\n    return 2"),
        [("",), ("aeiou",), ("xyz",)],
        lambda r: ("".join(r.choice("abeiouxyzAEQ ") for _ in range(r.randint(1, 12))),),
        "int",
    ),
    Spec(
        "flatten",
        (
            _s("def flatten(xss):\n    return [x for xs in xss for x in xs]"),
            _s("def flatten(xss):\n    out = []\n    for xs in xss:\n        out.extend(xs)\n    return out"),
        ),
        _s("def flatten(xss):\n    return [x for xs in xss[1:] for x in xs]"),
        _s("def flatten(xss):\n    return []"),
        [([],), ([[1], [2, 3]],)],
        lambda r: ([[r.randint(0, 9) for _ in range(r.randint(0, 3))] for _ in range(r.randint(1, 4))],),
        "list",
    ),
    Spec(
        "running_sum",
        (
            _s("import itertools\ndef running_sum(xs):\n    return list(itertools.accumulate(xs))"),
            _s("def running_sum(xs):\n    return [sum(xs[:i + 1]) for i in range(len(xs))]"),
        ),
        _s("def running_sum(xs):\n    return [sum(xs[:i]) for i in range(len(xs))]"),
        _s("def running_sum(xs):\n    return [0]"),
        [([],), ([5],), ([1, 2, 3],)],
        lambda r: ([r.randint(-5, 9) for _ in range(r.randint(1, 7))],),
        "list",
    ),
    Spec(
        "char_freq",
        (
            _s("from collections import Counter\ndef char_freq(s):\n    return dict(Counter(s))"),
            _s(
                "def char_freq(s):\n    d = {}\n    for c in s:\n        d[c] = d.get(c, 0) + 1\n    return d"
            ),
        ),
        _s("def char_freq(s):\n    d = {}\n    for c in s:\n        d[c] = d.get(c, 1) + 1\n    return d"),
        _s("def char_freq(s):\n    return {}"),
        [("",), ("aab",)],
        lambda r: ("".join(r.choice("abcab") for _ in range(r.randint(1, 9))),),
        "dict",
    ),
    Spec(
        "to_binary",
        (
            _s("def to_binary(n):\n    return bin(n)[2:]"),
            _s("def to_binary(n):\n    return format(n, 'b')"),
        ),
        _s("def to_binary(n):\n    return bin(n + 1)[2:]"),
        _s("def to_binary(n):\n    return '0'"),
        [(0,), (1,), (255,)],
        lambda r: (r.randint(0, 5000),),
        "str",
    ),
]


def _call(entry: str, args: tuple) -> str:
    return f"{entry}({', '.join(map(repr, args))})"


def build_problems(seed: int) -> list[tuple[Problem, Spec]]:
    """Each spec as a Problem with 15-20 `assert f(args) == expected` tests; the expected values come from
    the first correct implementation, and every wrong implementation must fail at least one test."""
    rng = random.Random(seed)
    out = []
    for spec in SPECS:
        n = rng.randint(15, 20)
        inputs = list(spec.edges)
        while len(inputs) < n:
            args = spec.draw(rng)
            if args not in inputs:
                inputs.append(args)
        impl = {
            name: _load(src, spec.entry) for name, src in (("ok", spec.correct[0]), ("ok2", spec.correct[1]))
        }
        tests = [f"assert {_call(spec.entry, a)} == {impl['ok'](*a)!r}" for a in inputs]
        for name, src in (("ok2", spec.correct[1]), ("off", spec.off_by_one), ("const", spec.constant)):
            fn = _load(src, spec.entry)
            agree = all(fn(*a) == impl["ok"](*a) for a in inputs)
            if agree != name.startswith("ok"):
                raise AssertionError(f"{spec.entry}: the {name} implementation does not behave as labelled")
        out.append((Problem(spec.entry, "", spec.entry, tests), spec))
    return out


def _load(source: str, entry: str):
    namespace: dict = {}
    exec(compile(source, f"<{entry}>", "exec"), namespace)  # our own reference code, not a sample
    return namespace[entry]


# ------------------------------------------------------------------------------------------- programs

WRONG = {
    "int": "-987654321",
    "bool": "None",
    "str": "'\\x00wrong'",
    "list": "['\\x00wrong']",
    "dict": "{'\\x00': -1}",
}
SUBCLASS = {"str": ("str", "'\\x00wrong'"), "list": ("list", "['\\x00wrong']")}


def _wrong_fn(spec: Spec) -> str:
    return f"def {spec.entry}(*args):\n    return {WRONG[spec.kind]}\n"


def _guarded(body: str) -> str:
    """A load-time side effect whose failure (a full /tmp, a limit) must not change the verdict."""
    return (
        "try:\n"
        + "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
        + "except Exception:\n    pass\n"
    )


def _always_equal(spec: Spec, i: int) -> str:
    return (
        "class Any:\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n        return False\n"
        f"    __hash__ = object.__hash__\ndef {spec.entry}(*args):\n    return Any()\n"
    )


def _subclass(spec: Spec, i: int) -> str:
    base, value = SUBCLASS.get(spec.kind, ("int", "-987654321"))
    return (
        f"class Liar({base}):\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n"
        f"        return False\n    __hash__ = {base}.__hash__\n"
        f"def {spec.entry}(*args):\n    return Liar({value})\n"
    )


def _exit_before(spec: Spec, i: int) -> str:
    exits = ("import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n", "raise SystemExit(0)\n")
    return exits[i % 3] + spec.correct[0]


def _gc_search(spec: Spec, i: int) -> str:
    """Looks everywhere it can reach for the text of its own test (`f(args) == expected`) and returns the
    expected value if it finds it: a pass here would mean the expected values leaked into the child."""
    return _s(f"""
import gc, sys
def _texts():
    f = sys._getframe(1)
    while f is not None:
        yield from (c for c in f.f_code.co_consts if isinstance(c, str))
        yield from (v for v in f.f_locals.values() if isinstance(v, str))
        f = f.f_back
    for o in gc.get_objects():
        if isinstance(o, (list, tuple)):
            yield from (x for x in o if isinstance(x, str))
        elif isinstance(o, dict):
            yield from (x for x in o.values() if isinstance(x, str))
def {spec.entry}(*args):
    call = '{spec.entry}(' + ', '.join(map(repr, args)) + ') =='
    for text in _texts():
        rest = text.split(call, 1)[1].split(chr(10))[0].strip() if call in text else ''
        if rest:
            try:
                return eval(rest)
            except Exception:
                pass
    return {WRONG[spec.kind]}
""")


def _forge_fds(spec: Spec, i: int) -> str:
    """A malformed frame, then forged "load ok" and "step ok" frames, on every fd 0..255."""
    return _s(f"""
import json, os, struct
def _frame(obj):
    data = json.dumps(obj).encode()
    return struct.pack('>I', len(data)) + data
def {spec.entry}(*args):
    bad = struct.pack('>I', 12) + b'{{not json!!}}'
    good = _frame(['load', 'ok', '']) + b''.join(_frame([k, 'ok', [0], '', 0.0]) for k in range(20))
    for fd in range(256):
        for blob in (bad, good):
            try:
                os.write(fd, blob)
            except OSError:
                pass
    return {WRONG[spec.kind]}
""")


def _tmp_litter(spec: Spec, i: int) -> str:
    body = f"""
import os
for k in range(3):
    with open('/tmp/litter-{i}-%d' % k, 'w') as fh:
        fh.write('x' * 4096)
os.makedirs('/tmp/litter-dir-{i}/a/b', exist_ok=True)
"""
    return _guarded(body) + _wrong_fn(spec)


def _fill_tmp(spec: Spec, i: int) -> str:
    body = f"""
for k in range(100):
    with open('/tmp/fill-{i}-%d' % k, 'wb') as fh:
        for _ in range(8):
            fh.write(bytes(1 << 20))
"""
    return _guarded(body) + _wrong_fn(spec)


def _workdir_to_file(spec: Spec, i: int) -> str:
    body = "import os\nwd = os.getcwd()\nos.chdir('/tmp')\nos.rmdir(wd)\nwith open(wd, 'w') as fh:\n    fh.write('x')"
    return _guarded(body) + _wrong_fn(spec)


def _deep_tree(spec: Spec, i: int) -> str:
    return _guarded("import os\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')") + _wrong_fn(
        spec
    )


def _sysv_ipc(spec: Spec, i: int) -> str:
    body = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
for _ in range(2):
    sid = libc.shmget(0, 1 << 16, 0o1600)
    addr = libc.shmat(sid, None, 0) if sid >= 0 else None
    if addr and addr != ctypes.c_void_p(-1).value:
        ctypes.memset(addr, 1, 1 << 16)
libc.semget(0, 1, 0o1600)
libc.msgget(0, 0o1600)
"""
    return _guarded(body) + _wrong_fn(spec)


def _daemon(spec: Spec, i: int) -> str:
    body = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(600)\n    os._exit(0)"
    return _guarded(body) + _wrong_fn(spec)


def _fork_bomb(spec: Spec, i: int) -> str:
    return (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
        + _wrong_fn(spec)
    )


def _body(code: str):
    """A builder for a function whose body is `code` (`{entry}` names the function itself)."""
    lines = "".join(f"    {x}\n" for x in code.splitlines())
    return lambda spec, i: f"def {spec.entry}(*args):\n" + lines.replace("{entry}", spec.entry)


# kind -> (share of the mix, must pass, the overall statuses it may get (None: any but pass), builder)
KINDS: dict[str, tuple[float, bool, tuple[str, ...] | None, object]] = {
    "correct": (0.50, True, ("pass",), lambda spec, i: spec.correct[i % 2]),
    "wrong-off-by-one": (0.10, False, ("fail",), lambda spec, i: spec.off_by_one),
    "wrong-constant": (0.10, False, ("fail",), lambda spec, i: spec.constant),
    "crash-raise": (0.04, False, ("error",), _body("raise ValueError('boom')")),
    "crash-syntax": (
        0.04,
        False,
        ("syntax-error",),
        lambda spec, i: f"def {spec.entry}(a, b)\n    return a\n",
    ),
    "crash-recursion": (0.04, False, ("error",), _body("return {entry}(*args)")),
    "crash-segfault": (0.04, False, ("error",), _body("import ctypes\nreturn ctypes.string_at(0)")),
    "timeout-busy": (0.0045, False, ("timeout",), _body("while True:\n    pass")),
    "timeout-sleep": (0.001, False, ("timeout",), _body("import time\nwhile True:\n    time.sleep(100)")),
    "memory-huge": (0.018, False, ("memory",), _body("return len(bytearray(8 * 1024 ** 3))")),
    "memory-grow": (
        0.017,
        False,
        ("memory",),
        # Untouched 16 MiB blocks until the address-space limit: touching them would cost CPU time that,
        # on a loaded machine, can reach the timeout first (seen once in 680: a `timeout` verdict).
        lambda spec, i: "hoard = []\nwhile True:\n    hoard.append(bytes(1 << 24))\n" + spec.correct[0],
    ),
    "hostile-always-equal": (0.01, False, ("error",), _always_equal),
    "hostile-subclass": (0.01, False, ("fail",), _subclass),
    "hostile-exit-0": (0.01, False, ("error",), _exit_before),
    "hostile-gc-search": (0.008, False, ("fail",), _gc_search),
    "hostile-forge-fds": (0.01, False, ("fail", "error"), _forge_fds),
    "hostile-tmp-litter": (0.008, False, ("fail",), _tmp_litter),
    "hostile-fill-tmp": (0.008, False, ("fail",), _fill_tmp),
    "hostile-workdir-to-file": (0.008, False, ("fail",), _workdir_to_file),
    "hostile-deep-tree": (0.008, False, ("fail",), _deep_tree),
    "hostile-sysv-ipc": (0.008, False, ("fail",), _sysv_ipc),
    "hostile-daemon": (0.008, False, ("fail",), _daemon),
    "hostile-fork-bomb": (0.004, False, ("timeout",), _fork_bomb),
}


@dataclass
class Item:
    kind: str
    problem: Problem
    program: str
    sample_id: int


def build_mix(n: int, seed: int, exclude: tuple[str, ...] = ()) -> list[Item]:
    """`n` programs, at least one of every kind (but the excluded ones, whose share goes to correct
    programs), in a seeded random order; each source is unique."""
    unknown = set(exclude) - set(KINDS) | ({"correct"} & set(exclude))
    if unknown:
        raise UserError(f"not a kind that can be left out: {', '.join(sorted(unknown))}", field="exclude")
    problems = build_problems(seed)
    counts = {k: max(1, int(share * n)) for k, (share, *_) in KINDS.items() if k not in exclude}
    counts["correct"] += n - sum(counts.values())  # the rounding remainder goes to correct programs
    rng = random.Random(seed + 1)
    kinds = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(kinds)
    items = []
    for i, kind in enumerate(kinds):
        problem, spec = problems[rng.randrange(len(problems))]
        program = KINDS[kind][3](spec, i) + f"# soak sample {i}\n"
        items.append(Item(kind, problem, program, i))
    return items


# ------------------------------------------------------------------------------------------- leaks

PROBE = _s("""
import os
def probe():
    here = os.path.basename(os.getcwd())
    st = os.statvfs('/tmp')
    ipc = []
    for name in ('shm', 'sem', 'msg'):
        try:
            with open('/proc/sysvipc/' + name) as fh:
                ipc.append(len(fh.read().splitlines()) - 1)
        except OSError:
            ipc.append(None)
    tmp = sorted(n for n in os.listdir('/tmp') if n != here)
    return [here, tmp, (st.f_blocks - st.f_bfree) * st.f_frsize] + ipc + [sorted(os.listdir('.'))]
""")


def probe_sandbox(sandbox: Sandbox) -> dict:
    """What a program sees inside each worker: /tmp entries besides its work dir, /tmp used bytes, SysV
    objects in its IPC namespace, entries in its (should be empty) work dir. Summed over the workers."""
    jobs = [Job(PROBE, [Step("eval", exprs=["probe()"])]) for _ in range(2 * len(sandbox.workers))]
    seen: dict[str, list] = {}
    for _ in range(5):  # which worker takes which job is the pool's business: ask until each answered
        for result in sandbox.run(jobs):
            step = result.steps[0]
            if step.status == "ok" and isinstance(step.values[0], list):
                seen[step.values[0][0]] = step.values[0]
        if len(seen) >= len(sandbox.workers):
            break
    rows = list(seen.values())
    ipc = [[r[k] for r in rows] for k in (3, 4, 5)]
    return {
        "workers_probed": len(rows),
        "tmp_entries": sum(len(r[1]) for r in rows),
        "tmp_used_bytes": sum(r[2] for r in rows),
        "sysv_shm": None if None in ipc[0] else sum(ipc[0]),
        "sysv_sem": None if None in ipc[1] else sum(ipc[1]),
        "sysv_msg": None if None in ipc[2] else sum(ipc[2]),
        "workdir_entries": sum(len(r[6]) for r in rows),
        "tmp_sample": sorted(x for r in rows for x in r[1])[:8],
    }


def _processes() -> dict[int, tuple[int, set[int]]]:
    """pid -> (ppid, its uids) for every process on the machine."""
    table = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        table[int(pid)] = (int(fields["PPid"]), {int(u) for u in fields["Uid"].split()})
    return table


def _sysv_host(uids: set[int]) -> dict[str, int]:
    """SysV objects on the host: all of them, and those owned or created by the sandbox's child uids."""
    out = {}
    for name in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{name}") as fh:
            header, *lines = [line.split() for line in fh]
        cols = [header.index("uid"), header.index("cuid")]
        out[f"host_sysv_{name}_all"] = len(lines)
        out[f"host_sysv_{name}"] = sum(any(int(row[c]) in uids for c in cols) for row in lines)
    return out


def host_snapshot(child_uids: list[int]) -> dict:
    """Processes of this process's tree and of the child uids, our fds, our temp dirs, host SysV objects."""
    table, me = _processes(), os.getpid()
    children = collections.defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    tree, todo = 0, list(children[me])
    while todo:
        tree += 1
        todo += children[todo.pop()]
    uids = set(child_uids)
    return {
        "tree_processes": tree,
        "child_uid_processes": sum(bool(u & uids) for _, u in table.values()),
        "open_fds": len(os.listdir("/proc/self/fd")),
        "temp_dirs": len(glob.glob(f"/tmp/unitrl-sandbox-{me}-*")),
        **_sysv_host(uids),
    }


# ------------------------------------------------------------------------------------------- the run


def _verdict(r: Result) -> tuple:
    return (r.passed, r.status, tuple(t.status for t in r.tests))


def _progress(label: str, total: int):
    state = {"done": 0, "next": 0.1, "t0": time.perf_counter()}

    def tick(k: int) -> None:
        state["done"] += k
        if state["done"] >= state["next"] * total:
            elapsed = time.perf_counter() - state["t0"]
            print(
                f"  {label}: {state['done']}/{total} programs, {elapsed:.0f} s", file=sys.stderr, flush=True
            )
            state["next"] += 0.1

    return tick


def _failures(items: list[Item], results: list[Result], run: int, limit_per_kind: int = 3) -> list[dict]:
    """Programs whose verdict broke their kind's expectation (a few per kind), with what they got."""
    out, per_kind = [], collections.Counter()
    for item, r in zip(items, results):
        _, must_pass, allowed, _ = KINDS[item.kind]
        if (
            r.passed == must_pass
            and (allowed is None or r.status in allowed)
            and r.status != "infrastructure-error"
        ):
            continue
        per_kind[item.kind] += 1
        if per_kind[item.kind] <= limit_per_kind:
            detail = next((t.detail for t in r.tests if t.status != "pass"), "")
            out.append(
                {
                    "run": run,
                    "kind": item.kind,
                    "sample_id": item.sample_id,
                    "problem": item.problem.task_id,
                    "expected": "pass" if must_pass else f"not passed, status in {list(allowed or ['any'])}",
                    "got": r.status,
                    "passed": r.passed,
                    "tests": [t.status for t in r.tests],
                    "detail": detail[:300],
                    "program": item.program[:800],
                }
            )
    return out


def run_once(sandbox: Sandbox, items: list[Item], run: int, quiet: bool) -> tuple[list[Result], dict]:
    tick = None if quiet else _progress(f"run {run}", len(items))
    pids = {w.proc.pid for w in sandbox.workers}
    t0 = time.perf_counter()
    results = grade_programs(sandbox, [(it.problem, it.program, it.sample_id) for it in items], progress=tick)
    seconds = time.perf_counter() - t0
    figures = {
        "seconds": round(seconds, 2),
        "programs_per_second": round(len(items) / seconds, 1),
        "correct_passing": sum(r.passed for it, r in zip(items, results) if it.kind == "correct"),
        "others_failing": sum(not r.passed for it, r in zip(items, results) if it.kind != "correct"),
        "infrastructure_errors": sum(r.status == "infrastructure-error" for r in results),
        "unexpected_status": sum(
            KINDS[it.kind][2] is not None and r.status not in KINDS[it.kind][2]
            for it, r in zip(items, results)
        ),
        "workers_replaced_at_least": len(pids - {w.proc.pid for w in sandbox.workers}),
    }
    return results, figures


def run_soak(
    programs: int = 20000,
    workers: int = 2,
    timeout: float = 0.5,
    seed: int = 0,
    wall_factor: float = 3.0,
    memory_mb: int = 256,
    quiet: bool = False,
    exclude: tuple[str, ...] = (),
) -> dict:
    """Build the mix, run it twice on one sandbox with leak snapshots around, and return every figure."""
    items = build_mix(programs, seed, exclude)
    cfg = SandboxConfig(workers=workers, timeout=timeout, wall_factor=wall_factor, memory_mb=memory_mb)
    host = {"before_sandbox": host_snapshot([])}
    t0 = time.perf_counter()
    with Sandbox(cfg) as sandbox:
        uids = list(sandbox.child_uids)
        startup = time.perf_counter() - t0
        probe_before = probe_sandbox(sandbox)
        host["before"] = host_snapshot(uids)
        first, fig1 = run_once(sandbox, items, 1, quiet)
        second, fig2 = run_once(sandbox, items, 2, quiet)
        host["after"] = host_snapshot(uids)
        probe_after = probe_sandbox(sandbox)
        layers = dict(sandbox.layers)
    time.sleep(0.2)  # killed workers' processes finish exiting
    host["after_close"] = host_snapshot(uids)
    report = {
        "config": {
            "programs": programs,
            "workers": workers,
            "timeout": timeout,
            "seed": seed,
            "wall_factor": wall_factor,
            "exclude": list(exclude),
            "memory_mb": memory_mb,
            "cpu_count": os.cpu_count(),
        },
        "isolation_layers": layers,
        "startup_seconds": round(startup, 3),
        "mix": dict(collections.Counter(it.kind for it in items)),
        "runs": [fig1, fig2],
        "verdict_mismatches": sum(_verdict(a) != _verdict(b) for a, b in zip(first, second)),
        "kinds": _kind_table(items, first, second),
        "leaks": {"host": _pivot(host), "sandbox": _pivot({"before": probe_before, "after": probe_after})},
        "parent_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "failures": _failures(items, first, 1) + _failures(items, second, 2),
        "mismatch_examples": _mismatches(items, first, second),
    }
    report["checks"] = checks(report, items)
    report["ok"] = all(c["ok"] for c in report["checks"])
    return report


def _pivot(snapshots: dict[str, dict]) -> dict[str, dict]:
    """{when: {metric: v}} -> {metric: {when: v}}"""
    out: dict[str, dict] = collections.defaultdict(dict)
    for when, snap in snapshots.items():
        for metric, value in snap.items():
            out[metric][when] = value
    return dict(out)


def _kind_table(items: list[Item], first: list[Result], second: list[Result]) -> dict:
    table: dict[str, dict] = {}
    for it, a, b in zip(items, first, second):
        row = table.setdefault(
            it.kind, {"count": 0, "passed": [0, 0], "job_seconds": [0.0, 0.0], "statuses": [{}, {}]}
        )
        row["count"] += 1
        for k, r in enumerate((a, b)):
            row["passed"][k] += r.passed
            row["job_seconds"][k] = round(row["job_seconds"][k] + r.duration, 3)
            row["statuses"][k][r.status] = row["statuses"][k].get(r.status, 0) + 1
    for kind, row in table.items():
        _, must_pass, allowed, _ = KINDS[kind]
        row["expected"] = "pass" if must_pass else "/".join(allowed or ("not pass",))
    return dict(sorted(table.items(), key=lambda kv: list(KINDS).index(kv[0])))


def _mismatches(items: list[Item], first: list[Result], second: list[Result], limit: int = 10) -> list[dict]:
    out = []
    for it, a, b in zip(items, first, second):
        if _verdict(a) != _verdict(b) and len(out) < limit:
            out.append(
                {
                    "kind": it.kind,
                    "sample_id": it.sample_id,
                    "run1": [a.status, [t.status for t in a.tests]],
                    "run2": [b.status, [t.status for t in b.tests]],
                    "program": it.program[:600],
                }
            )
    return out


def checks(report: dict, items: list[Item]) -> list[dict]:
    """Every pass/fail check of the soak, by name."""
    n_correct = sum(it.kind == "correct" for it in items)
    runs = report["runs"]
    out = [
        (
            "correct programs passing",
            f"{min(r['correct_passing'] for r in runs)}/{n_correct}",
            all(r["correct_passing"] == n_correct for r in runs),
        ),
        (
            "wrong and hostile programs failing",
            f"{min(r['others_failing'] for r in runs)}/{len(items) - n_correct}",
            all(r["others_failing"] == len(items) - n_correct for r in runs),
        ),
        (
            "statuses as expected (unexpected)",
            sum(r["unexpected_status"] for r in runs),
            all(r["unexpected_status"] == 0 for r in runs),
        ),
        (
            "infrastructure errors",
            sum(r["infrastructure_errors"] for r in runs),
            all(r["infrastructure_errors"] == 0 for r in runs),
        ),
        ("verdict mismatches between runs", report["verdict_mismatches"], report["verdict_mismatches"] == 0),
    ]
    for metric, v in report["leaks"]["host"].items():
        if "_all" in metric:
            continue  # every process on the machine: shown, not checked
        out.append((f"host leak: {metric}", v["after"] - v["before"], v["after"] == v["before"]))
        if metric in ("tree_processes", "child_uid_processes", "open_fds", "temp_dirs"):
            delta = v["after_close"] - v["before_sandbox"]
            want = delta <= 0 if metric != "child_uid_processes" else v["after_close"] == 0
            out.append((f"host leak after close: {metric}", delta, want))
    for metric, v in report["leaks"]["sandbox"].items():
        if metric == "tmp_sample":
            continue
        ok = v["before"] is not None and v["after"] == v["before"]
        delta = None if None in (v["before"], v["after"]) else v["after"] - v["before"]
        out.append((f"sandbox leak: {metric}", delta, ok))
    return [{"name": n, "value": v, "ok": bool(ok)} for n, v, ok in out]


# ------------------------------------------------------------------------------------------- output


def print_report(report: dict) -> None:
    cfg, runs = report["config"], report["runs"]
    print(
        f"\nsoak: {cfg['programs']} programs x 2 runs, {cfg['workers']} workers, timeout {cfg['timeout']} s, "
        f"seed {cfg['seed']}, layers {sorted(k for k, v in report['isolation_layers'].items() if v is True)}"
    )
    print(f"\n{'':<36}{'run 1':>12}{'run 2':>12}")
    for key in (
        "seconds",
        "programs_per_second",
        "correct_passing",
        "others_failing",
        "infrastructure_errors",
        "unexpected_status",
        "workers_replaced_at_least",
    ):
        print(f"{key.replace('_', ' '):<36}{runs[0][key]:>12}{runs[1][key]:>12}")
    print(f"{'verdict mismatches between runs':<36}{report['verdict_mismatches']:>12}")
    print(f"{'parent max RSS (MiB)':<36}{report['parent_max_rss_mib']:>12}")
    print(f"\n{'kind':<26}{'n':>6}  {'expected':<14}{'passed':>8}{'job s':>8}  statuses (run 1 | run 2)")
    for kind, row in report["kinds"].items():
        st = " | ".join(",".join(f"{k}:{v}" for k, v in sorted(s.items())) for s in row["statuses"])
        passed, secs = "/".join(map(str, row["passed"])), row["job_seconds"][0]
        print(f"{kind:<26}{row['count']:>6}  {row['expected']:<14}{passed:>8}{secs:>8.1f}  {st}")
    print(f"\n{'leak (host)':<28}{'no sandbox':>11}{'before':>9}{'after':>9}{'closed':>9}")
    for metric, v in report["leaks"]["host"].items():
        print(f"{metric:<28}{v['before_sandbox']:>11}{v['before']:>9}{v['after']:>9}{v['after_close']:>9}")
    print(f"\n{'leak (inside the sandbox)':<28}{'before':>11}{'after':>11}")
    for metric, v in report["leaks"]["sandbox"].items():
        if metric != "tmp_sample":
            print(f"{metric:<28}{str(v['before']):>11}{str(v['after']):>11}")
    if report["leaks"]["sandbox"]["tmp_sample"]["after"]:
        print(f"  /tmp after (first entries): {report['leaks']['sandbox']['tmp_sample']['after']}")
    print()
    for c in report["checks"]:
        print(f"{'ok  ' if c['ok'] else 'FAIL'}  {c['name']}: {c['value']}")
    for f in report["failures"][:20]:
        print(
            f"  run {f['run']} {f['kind']} #{f['sample_id']} ({f['problem']}): expected {f['expected']}, "
            f"got {f['got']} {f['tests'][:4]}... {f['detail'][:120]!r}"
        )
    print("\nALL CHECKS PASSED" if report["ok"] else "\nSOME CHECKS FAILED")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=0.5)
    ap.add_argument("--wall-factor", type=float, default=3.0)
    ap.add_argument("--memory-mb", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="600 programs")
    ap.add_argument("--exclude", default="", help="comma-separated kinds to leave out (their share: correct)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    programs = 600 if args.quick else args.programs
    exclude = tuple(k for k in args.exclude.split(",") if k)
    try:
        report = run_soak(
            programs, args.workers, args.timeout, args.seed, args.wall_factor, args.memory_mb, exclude=exclude
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    print(f"wrote {args.out}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
