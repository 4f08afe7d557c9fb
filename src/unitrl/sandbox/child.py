"""The code that runs inside one forked child: lock the process down, run the program, run the steps.

Everything here executes in the untrusted process, so nothing here is relied on for a verdict: the child
only reports values (for `eval` steps) or captured output (for `stdio`); the trusted parent decides pass
or fail. A job with an `exec` step (a test run whole) takes another path: the child splits into a test
harness that never loads the program and a program process that answers its calls (see `harness`).
The lock-down order matters: resource limits, file descriptors, working directory and privileges are
all set before the first byte of the program is compiled. Standard library only: this module is
imported by the zygote before any program runs.
"""

from __future__ import annotations

import ctypes
import marshal
import os
import resource
import signal
import struct
import sys
import time

from unitrl.sandbox import harness, wire  # harness: loaded here so that the zygote has it before forks

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
_libc = ctypes.CDLL(None, use_errno=True)


class StepTimeout(BaseException):
    """Raised by the CPU-time alarm; a BaseException so `except Exception` in a program does not eat it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise StepTimeout()


def prepare_zygote(drop: dict) -> None:
    """Process-wide settings every child inherits, made once in the zygote rather than in each child
    (every call a child makes costs it copy-on-write faults): no_new_privs (the zygote never execs, so it
    loses nothing), the CPU-alarm handler, default actions for SIGINT/SIGTERM/SIGPIPE, and in a user
    namespace an empty capability set. Raw `_signal.signal` with numbers: the `signal` module's wrapper
    builds enum members on every call."""
    import _signal

    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _signal.signal(int(signal.SIGPROF), _on_alarm)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        _signal.signal(int(sig), int(signal.SIG_DFL))
    if drop.get("caps"):
        _drop_capabilities()


def lock_down(
    limits: dict, workdir: str, result_fd: int, out_fd: int, stdin_fd: int, drop: dict, keep: tuple = ()
) -> None:
    """Everything that must hold before untrusted code runs (called right after fork; see also
    `prepare_zygote` for what children inherit). File descriptors other than 0-2, `result_fd` and
    `keep` are closed."""
    os.setsid()  # own session and process group: the whole group is killed afterwards
    if drop.get("pdeathsig"):  # without a PID namespace (whose end kills everything in it)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    mem = limits["memory_mb"] * 1024 * 1024
    for res, value in (
        (resource.RLIMIT_AS, mem),
        (resource.RLIMIT_CPU, int(limits["cpu_seconds"]) + 1),
        (resource.RLIMIT_FSIZE, limits["file_mb"] * 1024 * 1024),
        (resource.RLIMIT_NOFILE, limits["open_files"]),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, limits["processes"]),
    ):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            pass  # reported by `unitrl doctor`; a missing NPROC limit is covered by the PID namespace
    os.dup2(stdin_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    last = 3
    for fd in sorted({result_fd, *keep} - {0, 1, 2}):
        os.closerange(last, fd)
        last = fd + 1
    os.closerange(last, 4096)
    os.chdir(workdir)
    if drop.get("uid") is not None:
        os.setgroups([])
        os.setgid(drop["gid"])
        os.setuid(drop["uid"])


def _drop_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets (root inside a user namespace has them all)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    for cap in range(64):
        _libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP, so exec of a setuid file gains nothing either
    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    _libc.capset(ctypes.byref(header), data)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _error_text(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:500]
    except BaseException:  # a program's exception whose __str__ raises
        return type(exc).__name__[:100]


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, StepTimeout):
        return "timeout"
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, wire.ValueTooLarge):
        return "output-limit"
    return "error"


MAX_SOURCE = 4 * 1024 * 1024
JOB_HEADER = struct.Struct("<III")  # sizes of the marshalled settings, program and steps in the job memfd
# The steps section is the marshal form of the bytes `compile_steps` returns: a type byte and a 4-byte
# length (marshal's own), then ours: a 4-byte count, one kind letter per step, the marshalled steps.
_STEPS_PREFIX = struct.Struct("<BII")
KIND_LETTERS = {"eval": "v", "exec": "x", "syntax-error": "s", "stdio": "i"}


def pread_all(fd: int, size: int, offset: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.pread(fd, size - len(data), offset + len(data))
        if not chunk:
            raise EOFError("job memfd shorter than its header says")
        data += chunk
    return data


def start(job_fd: int, result_fd: int, out_fd: int, stdin_fd: int, devnull: int, progress, drop: dict):
    """The child's whole life, right after the zygote forked it: read the job the supervisor left in the
    memfd (trusted, compiled code), lock down, run the program and its steps, report, exit.

    The step kinds are read before any test: a job with an `exec` step to run goes to `harness.split`,
    which forks the program's process before the tests are read, so no test byte is ever in its memory."""
    status = 0
    out = Reporter(result_fd, progress)
    try:
        sizes = JOB_HEADER.unpack(pread_all(job_fd, JOB_HEADER.size, 0))
        at_program = JOB_HEADER.size + sizes[0]
        at_steps = at_program + sizes[1]
        meta = marshal.loads(pread_all(job_fd, sizes[0], JOB_HEADER.size))
        kind, _, count = _STEPS_PREFIX.unpack(pread_all(job_fd, _STEPS_PREFIX.size, at_steps))
        if kind & 0x7F != ord("s"):
            raise ValueError("the steps section is not what compile_steps returns")
        kinds = pread_all(job_fd, count, at_steps + _STEPS_PREFIX.size).decode()
        stdin = stdin_fd if meta["stdio"] else devnull
        program = pread_all(job_fd, sizes[1], at_program)
        if not meta["stdio"] and any(kinds[i] == "x" for i in meta["todo"]):
            lock_down(meta["limits"], meta["workdir"], result_fd, out_fd, stdin, drop, keep=(job_fd,))
            harness.split(job_fd, (at_steps, sizes[2]), program, meta, out)
        else:
            steps = load_steps(pread_all(job_fd, sizes[2], at_steps))
            lock_down(meta["limits"], meta["workdir"], result_fd, out_fd, stdin, drop)
            if meta["stdio"]:
                run_stdio(marshal.loads(program), meta["timeout"], out)
            else:
                run_program(
                    marshal.loads(program), steps, meta["todo"], meta["timeout"], meta["main_name"], out,
                    meta.get("ends"),
                )  # fmt: skip
    except BaseException:  # noqa: BLE001
        status = 1
    try:
        out.flush()
    except BaseException:  # noqa: BLE001 - the program closed its result channel
        status = 1
    os._exit(status)


def load_steps(section: bytes) -> list[tuple]:
    """The compiled steps from the job's steps section (see `_STEPS_PREFIX`)."""
    _, _, count = _STEPS_PREFIX.unpack_from(section)
    return marshal.loads(memoryview(section)[_STEPS_PREFIX.size + count :])


def compile_source(source: str, name: str, mode: str) -> tuple[object | None, str]:
    """(code object, "") or (None, error text). Runs in the supervisor, which never forks: compiling in
    the child would dirty copy-on-write pages, which costs more than the rest of a typical program's run."""
    if len(source) > MAX_SOURCE:
        return None, f"source longer than {MAX_SOURCE} characters"
    try:
        return compile(source, name, mode), ""
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as exc:
        return None, _error_text(exc)


def compile_steps(steps: list[dict]) -> bytes:
    """Each step as ("eval", [codes]) / ("exec", code) / ("syntax-error", text) / ("stdio", None), marshalled
    behind a count and one kind letter per step (`KIND_LETTERS`), so that a child can learn the kinds
    without loading any test (the supervisor marshals these bytes into the job's steps section)."""
    out: list[tuple] = []
    for i, step in enumerate(steps):
        if step["kind"] == "eval":
            compiled = [compile_source(e, f"<test {i}>", "eval") for e in step["exprs"]]
            bad = next((err for code, err in compiled if code is None), None)
            out.append(("syntax-error", bad) if bad is not None else ("eval", [c for c, _ in compiled]))
        elif step["kind"] == "exec":
            code, err = compile_source(step["code"], f"<test {i}>", "exec")
            out.append(("syntax-error", err) if code is None else ("exec", code))
        else:
            out.append(("stdio", None))
    kinds = "".join(KIND_LETTERS[kind] for kind, _ in out).encode()
    return struct.pack("<I", len(kinds)) + kinds + marshal.dumps(out)


class Reporter:
    """Buffers result frames (one write at exit instead of one per step) and publishes the running step.

    The step index goes to a page shared with the supervisor (a plain memory store, no system call): -1 while
    the program loads, then the index of the step in progress. On a kill the supervisor reads it to know
    which step hung; frames still buffered are lost and those steps simply run again in a fresh child.
    """

    def __init__(self, fd: int, progress: object):
        self.fd, self.progress, self.buf = fd, progress, bytearray()

    def send(self, frame: object) -> None:
        self.buf += wire.pack(frame)
        if len(self.buf) > 1 << 16:
            self.flush()

    def at(self, index: int) -> None:
        self.progress[0:4] = index.to_bytes(4, "little", signed=True)  # type: ignore[index]

    def flush(self) -> None:
        data = memoryview(bytes(self.buf))
        self.buf.clear()
        while data:
            data = data[os.write(self.fd, data) :]


def run_program(
    code: object,
    steps: list[tuple],
    todo: list[int],
    timeout: float,
    main_name: str,
    out: Reporter,
    ends: list[int] | None = None,
) -> None:
    """Run the compiled program, then the compiled steps listed in `todo`. With `ends` (`Job.segments`:
    for each step, the end of its run), a step that times out or runs out of memory or output ends its
    run: the run's later steps are skipped (the supervisor reports them "not-run").

    Frames: ["load", status, detail] once, then [i, status, values or None, detail, seconds] per step.
    """
    namespace: dict = {"__name__": main_name, "__builtins__": __builtins__}
    status, detail, _, _ = _timed(lambda: exec(code, namespace), timeout)
    out.send(["load", status, detail])
    if status != "ok":
        return
    skip_to = -1
    for i in todo:
        if i < skip_to:
            continue
        kind, payload = steps[i]
        out.at(i)
        if kind == "syntax-error":
            out.send([i, "syntax-error", None, payload, 0.0])
            continue
        if kind == "eval":
            fn = lambda codes=payload: [wire.encode_value(eval(c, namespace)) for c in codes]  # noqa: E731
        else:
            fn = lambda stmts=payload: exec(stmts, namespace)  # noqa: E731
        status, detail, value, seconds = _timed(fn, timeout)
        out.send([i, status, value, detail, seconds])
        if ends and status in wire.RUN_ENDING:
            skip_to = ends[i]


def _timed(fn, timeout: float) -> tuple[str, str, object, float]:
    """Run fn under a CPU-time alarm: (status, detail, value, wall seconds)."""
    t0, c0 = time.perf_counter(), _cpu()
    value = None
    try:
        signal.setitimer(signal.ITIMER_PROF, timeout)
        try:
            value = fn()
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        if _cpu() - c0 > timeout:  # the program swallowed the alarm
            raise StepTimeout()
    except SystemExit as exc:
        return "error", f"SystemExit: {exc.code!r}"[:200], None, time.perf_counter() - t0
    except BaseException as exc:  # noqa: BLE001 - every failure of untrusted code is a verdict
        return _status_of(exc), _error_text(exc), None, time.perf_counter() - t0
    return "ok", "", value, time.perf_counter() - t0


def _run_main(code: object, namespace: dict) -> None:
    """A script's run: `sys.exit()`, `exit(0)` and `sys.exit(None)` end it normally, as in a shell."""
    try:
        exec(code, namespace)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise


def run_stdio(code: object, timeout: float, out: Reporter) -> None:
    """Run the compiled program as __main__ (stdin is already the test's input); report [0, status, ...]."""
    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    out.send(["load", "ok", ""])
    out.at(0)
    status, detail, _, seconds = _timed(lambda: _run_main(code, namespace), timeout)
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - a closed or full stdout is the program's own doing
        pass
    out.send([0, status, None, detail, seconds])


# ------------------------------------------------------------------------- the program's process (P)


def serve(req_r: int, rep_w: int, program: bytes, meta: dict) -> None:
    """P in a split job (see `harness`): load the program, report, answer H's requests until end of file.

    Requests are [op, step, ...]; replies ["ok", value] / ["raise", type name, message] / ["timeout"].
    Each request runs under what is left of its step's CPU time (`timeout` per step)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # H gone: nobody to answer
    namespace: dict = {"__name__": meta["main_name"], "__builtins__": __builtins__}
    code = marshal.loads(program)
    del program
    status, detail, _, _ = _timed(lambda: exec(code, namespace), meta["timeout"])
    _reply(rep_w, ["load", status, detail])
    if status != "ok":
        os._exit(0)
    state = _Served(namespace)
    while True:
        try:
            req = wire.read_frame_blocking(req_r)
        except BaseException:  # noqa: BLE001
            req = None
        if type(req) is not list or len(req) < 2:
            os._exit(0)
        _reply(rep_w, state.answer(req, meta["timeout"]))


class _Served:
    """P's state: the program's namespace, the objects H holds handles to, CPU spent per step."""

    def __init__(self, namespace: dict):
        self.ns = namespace
        self.table: list = []  # kept alive, so that their ids are never reused
        self.ids: dict[int, int] = {}
        self.spent: dict = {}

    def answer(self, req: list, timeout: float) -> list:
        step = req[1]
        left = timeout - self.spent.get(step, 0.0)
        if left <= 0:
            return ["timeout"]
        c0 = _cpu()
        try:
            signal.setitimer(signal.ITIMER_PROF, left)
            try:
                answer = self.run(req[0], req[2:])
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            if _cpu() - c0 > left:  # the program swallowed the alarm
                answer = ["timeout"]
        except StepTimeout:
            answer = ["timeout"]
        except BaseException:  # noqa: BLE001
            answer = ["raise", "RuntimeError", "the program's process could not answer"]
        self.spent[step] = self.spent.get(step, 0.0) + _cpu() - c0
        return answer

    def run(self, op: str, args: list) -> list:
        try:
            if op == "eval":
                codes = [marshal.loads(s.encode("latin-1")) for s in args[0]]
                return ["ok", [wire.encode_value(eval(c, self.ns)) for c in codes]]
            if op == "names":
                return ["ok", {n: self.describe(self.ns[n]) for n in args[0] if n in self.ns}]
            obj = self.table[args[0]]
            if op == "call":
                return ["ok", self.call(obj, args[1], args[2])]
            if op in ("len", "bool"):
                return ["ok", len(obj) if op == "len" else bool(obj)]
            if op == "getattr":
                value = getattr(obj, args[1])
            elif op == "getitem":
                value = obj[harness.decode(args[1], self.leaf)]
            else:
                value = list(obj) if op == "iter" else next(obj)
            return ["ok", self.encode(value)]
        except StepTimeout:
            raise
        except BaseException as exc:  # noqa: BLE001 - the program's exception, named for H
            return ["raise", type(exc).__name__, _message(exc)]

    def describe(self, value: object) -> list:
        if isinstance(value, type(sys)) and type(getattr(value, "__name__", None)) is str:
            return ["m", value.__name__]
        if isinstance(value, type) and issubclass(value, BaseException):
            return ["e", value.__name__]
        return ["v", self.encode(value)]

    def call(self, fn, args: list, kwargs: dict) -> list:
        pos = harness.decode(args, self.leaf)
        kw = {k: harness.decode(v, self.leaf) for k, v in kwargs.items()}
        result = self.encode(fn(*pos, **kw))
        changed = [[i, self.encode(x)] for i, x in enumerate(pos) if type(x) in harness.MUTABLE]
        return [result, changed + [[k, self.encode(x)] for k, x in kw.items() if type(x) in harness.MUTABLE]]

    def encode(self, value: object) -> object:
        """Exact builtin values where the value reduces to them, else handles {"R": n}."""
        try:
            return wire.encode_value(value)
        except wire.Unsupported:
            return harness.encode(value, self.handle)

    def handle(self, value: object) -> object:
        try:
            return wire.encode_value(value)
        except wire.Unsupported:
            if id(value) not in self.ids:
                self.ids[id(value)] = len(self.table)
                self.table.append(value)
            return {"R": self.ids[id(value)]}

    def leaf(self, obj: object, tag: str, body: object, depth: int) -> object:
        if tag == "R":
            return self.table[body]  # type: ignore[index]
        if tag == "A":
            return bytearray(body.encode("latin-1"))  # type: ignore[union-attr]
        return wire.decode_value(obj, depth)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:500]
    except StepTimeout:
        raise
    except BaseException:  # noqa: BLE001 - a program's exception whose __str__ raises
        return ""


def _reply(fd: int, frame: list) -> None:
    try:
        data = wire.pack(frame)
    except BaseException:  # noqa: BLE001 - e.g. out of memory
        data = wire.pack(["raise", "MemoryError", "the reply could not be encoded"])
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        os._exit(0)  # H is gone
