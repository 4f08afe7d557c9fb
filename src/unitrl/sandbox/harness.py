"""The split harness: tests run whole (`exec` steps) in a process that never loads the program.

A job with an `exec` step to run makes the child (H) fork the program's process (P, `child.serve`)
before it reads any test: P reads only the settings and the program, closes the job memfd and the result
channel, unmaps the progress page, loads the program and answers H's requests on a pipe pair. H reads
the steps and runs them; no code of the program ever runs in H, so a program that patches builtins, rigs
`__eq__` or subclasses `int` changes nothing there. An `exec` step runs in H's namespace, where each name
the test reads (names of the compiled code, nested code included) that the program defines is bound to
H's own import of the module when the program's object is a module (never a proxy), to the plain value
when it reduces to exact builtin types (`wire.encode_value`), to a class of H's own for the program's
exception classes (matched by name, so `except TheirError` works), else to a `Remote` handle. A handle
supports call, attribute get, item get, `len`, `iter` (one request that pulls a list), `next`, `bool`;
its `==` and hash are identity in H, never the program's. Calls send plain values and handles (anything
else, say a lambda passed to the program, raises TypeError in the test, which then errors) and get back
values reduced to exact builtin types, or handles; list, dict, set and bytearray arguments are refilled
in place after the call, so in-place mutation tests work. Builtin names ALWAYS resolve to H's builtins,
even where the program defines a function of that name. An exception the program raises is re-raised
in H as the builtin of that name, else as an Exception subclass of that name; StopIteration and the like
become RuntimeError, so that they cannot end a test's loop early. `eval` steps (split asserts) are
evaluated by P and reported as before. Not shared: an `eval` step does not see names an earlier `exec`
step defined; a stdlib name the program re-exports (`from math import isclose`) is proxied, so the test's
values go to the program. Time: H runs each step under its CPU alarm; P counts the CPU it spends per step
(requests carry the step index) and answers "timeout" once the step's `timeout` is spent; the wall clock
covers both through the progress page, which only H writes. Every byte from P is hostile: a reply that
is too large, malformed or of the wrong shape, P's death or P closing its pipe fails the step in
progress whatever the test catches; H then reports it (with P's wait status if P died) and exits
without running further steps (the supervisor runs those in a fresh child).
"""

from __future__ import annotations

import builtins
import ctypes
import json
import marshal
import os
import signal
import sys
import time

from unitrl.sandbox import child, wire

REPLY_CAP = 16 * 1024 * 1024  # bytes of one reply from the program
MUTABLE = (list, dict, set, bytearray)
_PROF = {signal.SIGPROF}
_UNSAFE = frozenset(("StopIteration", "StopAsyncIteration", "GeneratorExit", "KeyboardInterrupt"))
_STATUSES = frozenset(("ok", "error", "timeout", "memory", "output-limit"))
_MISSING = object()
_EXCEPTIONS: dict[str, type] = {}  # H's classes for the program's exception classes, by name
_libc_gil = ctypes.PyDLL(None, use_errno=True)


class ProgramGone(BaseException):
    """P died or broke the protocol: the step fails, whatever the test catches (not an Exception)."""


class ProgramError(Exception):
    """Base of H's classes for the program's own exception classes."""


# ------------------------------------------------------------------------------- values (both sides)


def encode(value: object, leaf, depth: int = 0) -> object:
    """Tagged JSON (see `wire`) for containers; `leaf` encodes everything else."""
    if depth > 100:
        raise wire.ValueTooLarge("value nested deeper than 100")
    t = type(value)
    if t is list:
        return [encode(x, leaf, depth + 1) for x in value]  # type: ignore[attr-defined]
    if t is tuple:
        return {"T": [encode(x, leaf, depth + 1) for x in value]}  # type: ignore[attr-defined]
    if t is dict:
        items = value.items()  # type: ignore[attr-defined]
        return {"D": [[encode(k, leaf, depth + 1), encode(v, leaf, depth + 1)] for k, v in items]}
    if t is set or t is frozenset:
        return {"S" if t is set else "F": [encode(x, leaf, depth + 1) for x in value]}  # type: ignore
    return leaf(value)


def decode(obj: object, leaf, depth: int = 0) -> object:
    """Tagged JSON to values; `leaf` decodes one-key objects other than T/D/S/F (handles, bytearray)."""
    if depth > 200:
        raise wire.WireError("value nested too deeply")
    if type(obj) is list:
        return [decode(x, leaf, depth + 1) for x in obj]
    if type(obj) is not dict or len(obj) != 1:
        return wire.decode_value(obj, depth)
    ((tag, body),) = obj.items()
    if type(body) is not list or tag not in ("T", "D", "S", "F"):
        return leaf(obj, tag, body, depth)
    if tag == "D":
        out = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise wire.WireError("bad dict item")
            out[_hashable(decode(pair[0], leaf, depth + 1))] = decode(pair[1], leaf, depth + 1)
        return out
    items = [decode(x, leaf, depth + 1) for x in body]
    if tag == "T":
        return tuple(items)
    items = [_hashable(x) for x in items]
    return set(items) if tag == "S" else frozenset(items)


def _hashable(v: object) -> object:
    try:
        hash(v)  # in H only builtin values and handles: no code of the program runs here
    except TypeError:
        raise wire.WireError("unhashable key in a set or dict") from None
    return v


def _arg_leaf(value: object) -> object:
    if type(value) is Remote:
        return {"R": value._id}  # type: ignore[attr-defined]
    if type(value) is bytearray:
        return {"A": value.decode("latin-1")}
    try:
        return wire.encode_value(value, budget=REPLY_CAP)
    except (wire.Unsupported, wire.ValueTooLarge):
        raise TypeError(
            f"cannot pass a {type(value).__name__} to the program: only plain values (None, bool, "
            "numbers, str, bytes, containers of them) and the program's own objects cross to it"
        ) from None


# ------------------------------------------------------------------------------------------- H side


class Remote:
    """An object of the program, held in P. Equality and hash are identity in H."""

    __slots__ = ("_conn", "_id")

    def __init__(self, conn: Conn, rid: int):
        self._conn, self._id = conn, rid

    def __call__(self, *args, **kwargs):
        return self._conn.call(self._id, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__") or name in Remote.__slots__:  # copy/pickle probes stay local
            raise AttributeError(name)
        return self._conn.get("getattr", self._id, name)

    def __getitem__(self, key):
        return self._conn.get("getitem", self._id, encode(key, _arg_leaf))

    def __len__(self) -> int:
        return self._conn.typed(self._conn.get("len", self._id), int)

    def __iter__(self):
        return iter(self._conn.typed(self._conn.get("iter", self._id), list))

    def __next__(self):
        return self._conn.get("next", self._id)

    def __bool__(self) -> bool:
        return self._conn.typed(self._conn.get("bool", self._id), bool)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<program object #{self._id}>"

    def __copy__(self) -> Remote:
        return self

    def __deepcopy__(self, memo: dict) -> Remote:
        return self


class Conn:
    """H's end of the pipes to P. Requests are synchronous; SIGPROF is held while one is in flight, so
    H's own CPU alarm can never separate a request from its reply."""

    def __init__(self, pid: int, req_w: int, rep_r: int):
        self.pid, self.req_w, self.rep_r = pid, req_w, rep_r
        self.buf = bytearray()
        self.step = -1
        self.gone: tuple[str, str] | None = None  # (status, detail) once P died or broke the protocol
        self.timed_out = -2  # the last step in which P ran out of CPU time
        self.remotes: dict[int, Remote] = {}

    def frame(self) -> object:
        """The next whole frame from P, parsed (blocking)."""
        while len(self.buf) < 4 or len(self.buf) < 4 + int.from_bytes(self.buf[:4], "big"):
            if len(self.buf) >= 4 and int.from_bytes(self.buf[:4], "big") > REPLY_CAP:
                self.fail("output-limit", f"a reply from the program is over {REPLY_CAP} bytes")
            try:
                data = os.read(self.rep_r, 1 << 20)
            except OSError:
                data = b""
            if not data:
                self.died()
            self.buf += data
        n = int.from_bytes(self.buf[:4], "big")
        raw = bytes(self.buf[4 : 4 + n])
        del self.buf[: 4 + n]
        try:
            return json.loads(raw, parse_constant=_no_constant)  # no NaN/Infinity: the parent refuses them
        except (ValueError, RecursionError):
            self.fail("error", "a malformed reply from the program")

    def ask(self, op: str, *args: object) -> object:
        """One request; the (still encoded) value of an "ok" reply, else the exception raised."""
        if self.gone:
            raise ProgramGone(self.gone[1])
        data = memoryview(wire.pack([op, self.step, *args]))
        signal.pthread_sigmask(signal.SIG_BLOCK, _PROF)
        try:
            try:
                while data:
                    data = data[os.write(self.req_w, data) :]
            except OSError:
                self.died()
            reply = self.frame()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _PROF)
        if type(reply) is list and len(reply) == 2 and reply[0] == "ok":
            return reply[1]
        if type(reply) is list and len(reply) == 3 and reply[0] == "raise":
            if type(reply[1]) is str and type(reply[2]) is str:
                raise program_exception(reply[1], reply[2])
        if reply == ["timeout"]:
            self.timed_out = self.step
            raise child.StepTimeout()
        self.fail("error", "a malformed reply from the program")

    def get(self, op: str, *args: object) -> object:
        return self.decode(self.ask(op, *args))

    def decode(self, obj: object) -> object:
        try:
            return decode(obj, self._leaf)
        except (wire.WireError, ValueError, TypeError, RecursionError) as exc:
            self.fail("error", f"a malformed value from the program ({str(exc)[:100]})")

    def _leaf(self, obj: object, tag: str, body: object, depth: int) -> object:
        if tag == "R" and type(body) is int:
            if body not in self.remotes:
                self.remotes[body] = Remote(self, body)
            return self.remotes[body]
        return wire.decode_value(obj, depth)

    def typed(self, value: object, kind: type):
        if type(value) is not kind or (kind is int and value < 0):  # type: ignore[operator]
            self.fail("error", f"the program answered a {type(value).__name__} for a {kind.__name__}")
        return value

    def call(self, rid: int, args: tuple, kwargs: dict) -> object:
        sent = [encode(a, _arg_leaf) for a in args], {k: encode(v, _arg_leaf) for k, v in kwargs.items()}
        reply = self.ask("call", rid, *sent)
        if type(reply) is not list or len(reply) != 2 or type(reply[1]) is not list:
            self.fail("error", "a malformed reply from the program")
        for item in reply[1]:  # the new contents of the mutable arguments
            key = item[0] if type(item) is list and len(item) == 2 else None
            if type(key) is int and 0 <= key < len(args):
                target = args[key]
            else:
                target = kwargs.get(key, _MISSING) if type(key) is str else _MISSING
            if type(target) not in MUTABLE:
                continue  # a subclass went over as its base type: not refilled
            new = self.decode(item[1])
            if type(new) is not (bytes if type(target) is bytearray else type(target)):
                self.fail("error", "the program sent back an argument of another type")
            if type(target) in (list, bytearray):
                target[:] = new
            else:
                target.clear()
                target.update(new)
        return self.decode(reply[0])

    def fail(self, status: str, detail: str):
        """P broke the protocol: it is killed and the step fails."""
        if self.gone is None:
            self.gone = (status, detail)
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        raise ProgramGone(detail)

    def died(self):
        """End of file from P: give it a moment to finish exiting, then report how it ended."""
        for _ in range(40):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.005)
        else:  # alive, but it closed its end of the pipe
            self.fail("error", "the program closed its channel to the test harness")
        if self.gone is None:
            self.gone = _from_wait(status)
        raise ProgramGone(self.gone[1])


def _no_constant(name: str):
    raise ValueError(name)


def program_exception(name: str, message: str) -> BaseException:
    """The exception H raises for one the program raised (never one that could end a test early)."""
    if name in _UNSAFE:
        return RuntimeError(f"the program raised {name}: {message[:500]}")
    if name == "ValueTooLarge":
        return wire.ValueTooLarge(message[:500])
    try:
        return exception_class(name)(message[:500])
    except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError takes five arguments
        return type(name, (ProgramError,), {})(message[:500])


def exception_class(name: str) -> type:
    """H's builtin exception of that name, else one class per name (so `except` and raise agree)."""
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException) and name not in _UNSAFE:
        return cls
    name = name if name.isidentifier() and len(name) <= 100 else "ProgramError"
    if name not in _EXCEPTIONS:
        _EXCEPTIONS[name] = type(name, (ProgramError,), {})
    return _EXCEPTIONS[name]


def _from_wait(status: int) -> tuple[str, str]:
    """(step status, detail) for how P ended (the zygote's mapping for a child, copied)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        kind = {signal.SIGXCPU: "timeout", signal.SIGXFSZ: "output-limit"}.get(sig, "error")
        try:
            return kind, f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return kind, f"killed by signal {sig}"
    return "error", f"exited with status {os.WEXITSTATUS(status)}"


def names_read(code) -> set[str]:
    """Every global name the compiled test (with its nested functions and classes) may read."""
    out = set(code.co_names) | set(code.co_freevars)
    for const in code.co_consts:
        if type(const) is type(code):
            out |= names_read(const)
    return out


def bind(conn: Conn, code, ns: dict, bound: dict) -> None:
    """Bind the program's names the test reads (see the module docstring); `bound` remembers what we
    bound, so that a name the test assigned itself is never overwritten by a later step."""
    want = [
        n
        for n in sorted(names_read(code))
        if not n.startswith("__")
        and not hasattr(builtins, n)
        and ns.get(n, _MISSING) is bound.get(n, _MISSING)
    ]
    got = conn.ask("names", want) if want else {}
    if type(got) is not dict:
        conn.fail("error", "a malformed reply from the program")
    for name in want:
        kind, value = got.get(name) if type(got.get(name)) is list and len(got[name]) == 2 else (0, 0)
        if kind == "m" and type(value) is str:
            value = _module(value)
        elif kind == "e" and type(value) is str:
            value = exception_class(value)
        elif kind == "v":
            value = conn.decode(value)
        else:
            value = _MISSING
        if value is _MISSING:
            ns.pop(name, None)
            bound.pop(name, None)
        else:
            ns[name] = bound[name] = value


def _module(name: str) -> object:
    """H's own import of a module the program named (the work dir is not on H's sys.path)."""
    if name in sys.modules:
        return sys.modules[name]
    try:
        import importlib

        return importlib.import_module(name) if not name.startswith(".") else _MISSING
    except Exception:  # noqa: BLE001 - a module the program made itself: the test sees no such name
        return _MISSING


# --------------------------------------------------------------------------------------- H's steps


def split(job_fd: int, steps_at: tuple[int, int], program: bytes, meta: dict, out: child.Reporter) -> None:
    """H's life after lock-down: fork P, read the steps, run them against P (P never returns here)."""
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    pid = _libc_gil.fork()  # libc's fork, as the zygote's: os.fork would reseed `random` in P
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork")
    if pid == 0:
        try:
            for fd in (job_fd, out.fd, req_w, rep_r):
                os.close(fd)
            out.progress.close()  # type: ignore[attr-defined]
            child.serve(req_r, rep_w, program, meta)
        finally:
            os._exit(1)
    os.close(req_r)
    os.close(rep_w)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # P gone: a failed write, not a dead harness
    sys.path[:] = [p for p in sys.path if p and os.path.isabs(p)]  # never import the program's files
    steps = child.load_steps(child.pread_all(job_fd, steps_at[1], steps_at[0]))
    os.close(job_fd)
    conn = Conn(pid, req_w, rep_r)
    if _load(conn, out):
        run_steps(conn, steps, meta, out)
    os.close(req_w)


def _load(conn: Conn, out: child.Reporter) -> bool:
    """Forward P's load report (or how it died while loading); True when the program loaded."""
    try:
        frame = conn.frame()
        if type(frame) is not list or len(frame) != 3 or frame[0] != "load" or type(frame[2]) is not str:
            conn.fail("error", "a malformed load report from the program")
        status, detail = frame[1] if frame[1] in _STATUSES else "error", frame[2][:500]
    except ProgramGone:
        status, detail = conn.gone or ("error", "")
    out.send(["load", status, detail])
    return status == "ok"


def run_steps(conn: Conn, steps: list, meta: dict, out: child.Reporter) -> None:
    """Run the steps in `meta["todo"]`; stop after the first step in which P was lost."""
    ns: dict = {"__name__": meta["main_name"], "__builtins__": builtins.__dict__}
    bound: dict = {}
    for i in meta["todo"]:
        kind, payload = steps[i]
        out.at(i)
        conn.step = i
        if kind == "syntax-error":
            out.send([i, "syntax-error", None, payload, 0.0])
            continue
        if kind == "eval":
            sources = [marshal.dumps(c).decode("latin-1") for c in payload]
            fn = lambda s=sources: _eval_values(conn, s)  # noqa: E731
        else:
            fn = lambda c=payload: (bind(conn, c, ns, bound), exec(c, ns))  # noqa: E731
        status, detail, value, seconds = child._timed(fn, meta["timeout"])
        if conn.gone:
            out.send([i, conn.gone[0], None, conn.gone[1], seconds])
            return
        if conn.timed_out == i:  # the test may have caught it; the step is over its time all the same
            status, value, detail = "timeout", None, "StepTimeout: the program used up the step's CPU time"
        out.send([i, status, value if status == "ok" else None, detail, seconds])


def _eval_values(conn: Conn, sources: list[str]) -> list:
    """An `eval` step's values, computed by P: checked here, forwarded encoded (the parent decodes)."""
    values = conn.ask("eval", sources)
    if type(values) is not list or len(values) != len(sources):
        conn.fail("error", "a malformed reply from the program")
    for v in values:
        try:
            wire.decode_value(v)
        except (wire.WireError, ValueError, TypeError, RecursionError):
            conn.fail("error", "a malformed value from the program")
    return values
