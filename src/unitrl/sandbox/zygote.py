"""The sandbox worker: a trusted supervisor plus a lean zygote that forks one child per program.

Started by the trusted parent as `python -s -c "...zygote.main()" CONFIG_JSON` with a scrubbed environment;
its stdin and stdout carry frames (see `wire`). At start the worker imports the common standard library
(so each fork starts warm), then enters new namespaces where the kernel allows: user (when not root),
network (no interface up: no network at all), mount (a fresh root built from read-only binds of the system
and Python directories plus a private tmpfs /tmp, then chroot: the caller's files, the problems and samples
are not visible), IPC and UTS, and PID for its children. What could not be entered is reported in the
hello frame. Then it splits in two:

- the *zygote* (forked once; PID 1 of the new PID namespace) does almost nothing: on each "go" it forks a
  child, waits for it (killing it when told), kills and reaps every process the program left behind
  (`kill(-1)` as PID 1 removes daemons too), and reports the wait status. Because it touches so little
  memory between forks, each fork costs it few copy-on-write faults;
- the *supervisor* (this process; it never forks again) does the rest: it decodes jobs, compiles the
  program and the tests (test code is compiled once per distinct test list and cached), leaves them in a
  memfd for the next child, prepares the private work dir, reads the child's result frames and capped
  output, enforces a wall-clock deadline per step, and answers the parent.

The child (`child.start`) reads its job from the memfd, locks itself down (own session, rlimits, closed
fds, private work dir, unprivileged uid or no capabilities, no_new_privs), runs the program and its steps,
and reports values. A child that dies mid-step gets that step marked and a fresh child continues with the
next step. Nothing here sees expected values: values are forwarded; the parent judges.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import json
import marshal
import mmap
import os
import select
import signal
import struct
import sys
import time

from unitrl.sandbox import child, wire

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, PR_SET_NAME = 36, 4, 1, 15

# What HumanEval/ACECODER-style programs import most (typing, math, random, copy, string, collections,
# re) plus the other algorithmic staples. More modules make every fork slower: measured, not guessed.
# hashlib is left out on purpose: its OpenSSL mapping alone adds about 10% to every fork, while few
# programs import it (those pay the import themselves).
PREIMPORT = "bisect collections copy functools heapq itertools math operator random re string typing".split()

_libc = ctypes.CDLL(None, use_errno=True)
_libc_gil = ctypes.PyDLL(None, use_errno=True)  # calls that keep the GIL held

GO, KILL = b"g", b"k"  # supervisor -> zygote commands
STATUS = struct.Struct("<ii")  # zygote -> supervisor: (child pid or -errno when fork failed, wait status)
STEP_CACHE = 4096  # distinct compiled test lists kept by the supervisor


def fast_fork() -> int:
    """libc's fork(), called with the GIL held, skipping Python's own at-fork hooks.

    `os.fork()` runs the interpreter's after-fork work in every child (re-creating the GIL and the import
    lock, the at-fork callbacks such as `random` reseeding itself from the OS): about half of the cost of a
    fork-and-exit here. The zygote is single-threaded and holds no lock when it forks, so none of that is
    needed; the child's `random` state is the zygote's, which `main` seeds once, so a program that uses
    `random` gets the same stream every run (reproducible verdicts).
    """
    pid = _libc_gil.fork()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"fork: {os.strerror(err)}")
    return pid


def _unshare(flags: int) -> bool:
    return _libc.unshare(flags) == 0


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if (
        _libc.mount(
            src.encode() if src else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        )
        != 0
    ):
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


# ------------------------------------------------------------------------------------------- set-up


def enter_namespaces(cfg: dict) -> dict:
    """Enter what the kernel allows; returns the active layers.

    The PID namespace is unshared for children only: the next process this one forks (the zygote) is its
    PID 1, and this process stays outside it, able to see and signal the zygote.
    """
    layers = {"user": False, "uid": False, "network": False, "mount": False, "pid": False, "ipc": False}
    if cfg["isolation"] == "none":
        return layers
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        if _unshare(CLONE_NEWUSER):
            layers["user"] = True
            for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)
    layers["network"] = _unshare(CLONE_NEWNET)
    layers["ipc"] = _unshare(CLONE_NEWIPC | CLONE_NEWUTS)
    layers["mount"] = _unshare(CLONE_NEWNS)
    layers["pid"] = _unshare(CLONE_NEWPID)
    if layers["ipc"]:
        _libc.sethostname(b"sandbox", 7)
    if layers["mount"]:
        try:
            _build_root(cfg, with_proc=layers["pid"])
        except OSError as exc:
            layers["mount"] = False
            layers["mount_error"] = str(exc)
    layers["uid"] = os.geteuid() == 0 and not layers["user"]  # real root can hand children a spare uid
    return layers


def _build_root(cfg: dict, with_proc: bool) -> None:
    """A new root: read-only binds of system and Python dirs, private /tmp and /dev nodes; then chroot.

    /proc is only created here: the zygote mounts it once it is PID 1 of the new PID namespace, so that it
    shows that namespace and nothing of the machine's."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=700")
    new = "/tmp/root"
    os.mkdir(new)
    ro = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc"]
    ro += [os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)]
    ro += cfg.get("ro_paths", [])
    for path in dict.fromkeys(ro):
        if not os.path.lexists(path):
            continue
        target = new + path
        if os.path.islink(path) and os.path.dirname(path) == "/":
            os.symlink(os.readlink(path), target)
            continue
        if os.path.exists(target):
            continue
        os.makedirs(target, exist_ok=True)
        _mount(path, target, None, MS_BIND | MS_REC)
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_REC)
    os.makedirs(new + "/dev")
    for dev in ("null", "zero", "urandom", "random"):
        open(new + "/dev/" + dev, "w").close()
        _mount("/dev/" + dev, new + "/dev/" + dev, None, MS_BIND)
    os.makedirs(new + "/tmp")
    _mount("tmpfs", new + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmp_mb']}m,mode=1777")
    if with_proc:
        os.makedirs(new + "/proc")
    os.chroot(new)
    os.chdir("/")


# ------------------------------------------------------------------------------------------ zygote


class Channels:
    """The file descriptors shared by supervisor, zygote and child (each closes the ends it must not hold)."""

    def __init__(self) -> None:
        self.ctl_r, self.ctl_w = os.pipe()  # supervisor -> zygote: GO / KILL
        self.st_r, self.st_w = os.pipe()  # zygote -> supervisor: STATUS records (and one ready byte)
        self.res_r, self.res_w = os.pipe()  # child -> supervisor: result frames
        self.out_r, self.out_w = os.pipe()  # child -> supervisor: stdout + stderr
        self.job = os.memfd_create("unitrl-job")  # supervisor -> child: the compiled job (no sealing)
        self.stdin = os.memfd_create("unitrl-stdin")  # a stdio test's input
        self.devnull = os.open(os.devnull, os.O_RDONLY)
        self.progress = mmap.mmap(-1, mmap.PAGESIZE)  # shared: the step the child is running
        for fd in (self.res_r, self.out_r, self.st_r):
            os.set_blocking(fd, False)

    def close(self, *names: str) -> None:
        for name in names:
            os.close(getattr(self, name))


def serve_zygote(ch: Channels, is_init: bool, drop: dict, mount_proc: bool) -> None:
    """The zygote's loop (never returns). Between forks it only waits, so its pages stay shared."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _libc.prctl(PR_SET_NAME, b"unitrl-zygote", 0, 0, 0)
    ready = b"R"
    if mount_proc:
        try:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError:
            ready = b"P"  # no /proc inside: programs that read it fail, nothing else changes
    if not is_init:
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of a program come back to us
    child.prepare_zygote(drop)
    _libc.malloc_trim(0)  # hand freed heap pages back: fewer pages to copy at each fork
    os.write(ch.st_w, ready)
    while True:
        try:
            command = os.read(ch.ctl_r, 1)
        except InterruptedError:
            continue
        if not command:  # the supervisor is gone
            os._exit(0)
        if command != GO:
            continue  # a KILL that arrived after its child had already ended
        try:
            pid = fast_fork()
        except OSError as exc:
            os.write(ch.st_w, STATUS.pack(-(exc.errno or errno.EAGAIN), 0))
            continue
        if pid == 0:
            child.start(ch.job, ch.res_w, ch.out_w, ch.stdin, ch.devnull, ch.progress, drop)
        status = _await_child(pid, ch.ctl_r, is_init)
        _cleanup(pid, is_init, drop)
        os.write(ch.st_w, STATUS.pack(pid, status))


def _await_child(pid: int, ctl_r: int, is_init: bool) -> int:
    """Wait for the child to end; a KILL from the supervisor (deadline, output cap) ends it first."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd, ctl_r], [], [])
        if pidfd not in ready:
            os.read(ctl_r, 1)  # KILL (or end of file: the supervisor is gone): either way, kill it now
            _kill_all(pid, is_init)
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    return status


def _kill_all(pid: int, is_init: bool) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if is_init:
        try:
            os.kill(-1, signal.SIGKILL)  # PID 1 of the namespace: every other process in it
        except ProcessLookupError:
            pass


def _cleanup(pid: int, is_init: bool, drop: dict) -> None:
    """Nothing the program started outlives it (its files go when the supervisor empties the work dir)."""
    _kill_all(pid, is_init)
    if not is_init:
        if drop["uid"] is not None:
            _kill_uid(drop["uid"])
        _kill_children_of(os.getpid())  # orphans re-parented to us (we are their subreaper)
    while True:
        try:
            reaped, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if reaped == 0:
            if is_init:
                continue  # just-killed processes are still exiting; init must reap them all
            break


# -------------------------------------------------------------------------------------- supervisor


class ZygoteError(RuntimeError):
    """The zygote died or stopped answering: the worker reports an infrastructure error and exits."""


class _Run:
    """What the supervisor gathers while one child runs."""

    def __init__(self, cfg: dict, n_steps: int):
        self.outcomes: list = [None] * n_steps
        self.reader = wire.FrameReader(max_frame=cfg["max_value_bytes"])
        self.out_buf: list[bytes] = []
        self.out_len = 0
        self.kill_reason = ""
        self.load: list | None = None


class Supervisor:
    def __init__(self, cfg: dict, layers: dict, keep_out: tuple[int, ...] = ()):
        self.cfg, self.layers = cfg, layers
        self.base = "/tmp" if layers["mount"] else cfg["workdir_base"]
        if not layers["mount"]:
            os.makedirs(self.base, mode=0o711, exist_ok=True)
        self.drop = {"uid": None, "gid": None, "caps": layers["user"], "pdeathsig": not layers["pid"]}
        if layers["uid"]:
            self.drop["uid"] = self.drop["gid"] = cfg["child_uid"]
        self.workdir = os.path.join(self.base, f"w{os.getpid()}")
        self.steps_cache: collections.OrderedDict[str, tuple[list, bytes]] = collections.OrderedDict()
        self.ch = Channels()
        pid = os.fork()
        if pid == 0:  # ---- the zygote
            try:
                for fd in keep_out:
                    os.close(fd)
                self.ch.close("ctl_w", "st_r", "res_r", "out_r")
                serve_zygote(self.ch, layers["pid"], self.drop, mount_proc=layers["pid"] and layers["mount"])
            finally:
                os._exit(70)
        self.zygote_pid = pid
        self.ch.close("ctl_r", "st_w", "res_w", "out_w")
        ready = _read_exactly(self.ch.st_r, 1, time.monotonic() + 30)
        if ready not in (b"R", b"P"):
            raise ZygoteError("the zygote did not start")
        if ready == b"P":
            layers["proc_error"] = "could not mount /proc in the PID namespace"

    def _fresh_workdir(self) -> str:
        """The private work dir, empty: reused across programs (cheaper than mkdir/rmdir each time)."""
        try:
            leftovers = os.listdir(self.workdir)
        except FileNotFoundError:  # first use, or a program removed it
            os.mkdir(self.workdir, 0o700)
            leftovers = []
        except PermissionError:  # a program changed its mode; we are its owner or root
            os.chmod(self.workdir, 0o700)
            leftovers = os.listdir(self.workdir)
        for name in leftovers:
            path = os.path.join(self.workdir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                import shutil  # here, not at the top: the zygote (forked before this runs) never needs it

                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        os.chmod(self.workdir, 0o700)
        if self.drop["uid"] is not None:
            os.chown(self.workdir, self.drop["uid"], self.drop["gid"])
        return self.workdir

    def _steps(self, steps_json: str) -> tuple[list, bytes]:
        """(steps, marshalled compiled steps), compiled once per distinct test list."""
        hit = self.steps_cache.get(steps_json)
        if hit is not None:
            self.steps_cache.move_to_end(steps_json)
            return hit
        steps = json.loads(steps_json)
        if not isinstance(steps, list):
            raise ValueError("steps must be a list")
        entry = (steps, marshal.dumps(child.compile_steps(steps)))
        self.steps_cache[steps_json] = entry
        if len(self.steps_cache) > STEP_CACHE:
            self.steps_cache.popitem(last=False)
        return entry

    def handle(self, job: dict) -> list:
        steps, steps_blob = self._steps(job["steps"])
        timeout = float(job["timeout"])
        code, error = child.compile_source(job["program"], "<program>", "exec")
        if code is None:  # no need to fork for a program that does not compile
            return [["syntax-error", None, None, error, 0.0] for _ in steps]
        program = marshal.dumps(code)
        if steps and all(s["kind"] == "stdio" for s in steps):
            return [
                self.supervise(program, steps_blob, 1, timeout, [0], stdin=s.get("stdin", ""))[0]
                for s in steps
            ]
        outcomes: list = [None] * len(steps)
        todo = list(range(len(steps)))
        while todo:
            got = self.supervise(program, steps_blob, len(steps), timeout, todo)
            for i in todo:
                outcomes[i] = got[i]
            left = [i for i in todo if outcomes[i] is None]
            if len(left) == len(todo):  # no progress at all (should not happen): never loop forever
                outcomes[left[0]] = ["error", None, None, "the program made no progress", 0.0]
                left = left[1:]
            todo = left  # steps a killed child never reported run again in a fresh child
        return outcomes

    def supervise(
        self, program: bytes, steps_blob: bytes, n_steps: int, timeout: float, todo: list[int], stdin=None
    ) -> list:
        """Run one child over the steps in `todo`; return outcomes (None for steps it did not report)."""
        cfg = self.cfg
        meta = {
            "limits": {
                "memory_mb": cfg["memory_mb"],
                "cpu_seconds": timeout * (len(todo) + 1) + 1,
                "file_mb": cfg["file_mb"],
                "open_files": cfg["open_files"],
                "processes": cfg["processes"],
            },
            "workdir": self._fresh_workdir(),
            "timeout": timeout,
            "todo": todo,
            "main_name": cfg["main_name"],
            "stdio": stdin is not None,
        }
        blob = marshal.dumps(meta)
        os.pwrite(self.ch.job, child.JOB_HEADER.pack(len(blob), len(program), len(steps_blob)), 0)
        offset = child.JOB_HEADER.size
        for part in (blob, program, steps_blob):
            view = memoryview(part)
            while view:
                n = os.pwrite(self.ch.job, view, offset)
                view, offset = view[n:], offset + n
        if stdin is not None:
            os.ftruncate(self.ch.stdin, 0)
            os.pwrite(self.ch.stdin, stdin.encode(), 0)
            os.lseek(self.ch.stdin, 0, os.SEEK_SET)
        self.ch.progress[0:4] = (-1).to_bytes(4, "little", signed=True)
        try:
            os.write(self.ch.ctl_w, GO)
        except OSError as exc:
            raise ZygoteError("the zygote is gone") from exc
        return self._watch(n_steps, todo, timeout, stdio=stdin is not None)

    def _step_in_progress(self) -> int:
        return int.from_bytes(self.ch.progress[0:4], "little", signed=True)

    def _watch(self, n_steps: int, todo: list[int], timeout: float, stdio: bool) -> list:
        """Collect frames and output until the zygote reports the child's end; enforce deadlines.

        Each step gets `timeout * wall_factor + 0.5` seconds of wall time from when the child reports
        starting it, and the child as a whole at most that per step it was given plus one (the progress
        page is writable by the child, so it cannot buy itself more than that)."""
        ch = self.ch
        run = _Run(self.cfg, n_steps)
        wall = timeout * self.cfg["wall_factor"] + 0.5
        started = time.monotonic()
        deadline, hard_deadline = started + wall, started + wall * (len(todo) + 1)
        seen_step, record = -2, b""
        while len(record) < STATUS.size:
            now = time.monotonic()
            wait = min(deadline, hard_deadline) - now
            if wait <= 0:
                if run.kill_reason:  # killed long ago and still no status: the zygote is stuck
                    raise ZygoteError("the zygote stopped answering")
                step = self._step_in_progress()
                if step != seen_step and now < hard_deadline:  # the child moved on: a new step's deadline
                    seen_step, deadline = step, now + wall
                    continue
                self._kill(run, "timeout")
                deadline = hard_deadline = now + 30
                continue
            ready, _, _ = select.select([ch.st_r, ch.res_r, ch.out_r], [], [], wait)
            if ch.st_r in ready:
                got = _read_some(ch.st_r, STATUS.size - len(record))
                if got == b"":
                    raise ZygoteError("the zygote died")
                record += got or b""
            if len(record) == STATUS.size:  # every writer is dead now: drain what is left
                for fd in (ch.res_r, ch.out_r):
                    while (data := _read_some(fd, 1 << 16)) and self._take(run, fd, data):
                        pass
            else:
                for fd in ready:
                    if fd != ch.st_r and (data := _read_some(fd, 1 << 16)) and not self._take(run, fd, data):
                        deadline = hard_deadline = time.monotonic() + 30
        pid, status = STATUS.unpack(record)
        if pid < 0:
            raise ZygoteError(f"the zygote could not fork: {os.strerror(-pid)}")
        return self._finish(run, todo, status, stdio)

    def _take(self, run: _Run, fd: int, data: bytes) -> bool:
        """Account for data read from the child; False when it had to be killed for it."""
        if fd == self.ch.out_r:
            run.out_len += len(data)
            if run.out_len <= self.cfg["output_bytes"]:
                run.out_buf.append(data)
                return True
            if not run.kill_reason:
                self._kill(run, "output-limit")
                return False
            return True
        if run.kill_reason:
            return True  # frames after a kill are not trusted to be whole; ignored
        try:
            run.load = self._on_frames(run.reader.feed(data), run.outcomes, run.load)
        except wire.WireError as exc:
            big = "exceeds" in str(exc)
            reason = "output-limit:return value too large" if big else f"error:corrupt result stream ({exc})"
            self._kill(run, reason)
            return False
        return True

    def _kill(self, run: _Run, reason: str) -> None:
        run.kill_reason = reason
        try:
            os.write(self.ch.ctl_w, KILL)
        except OSError as exc:
            raise ZygoteError(f"the zygote is gone ({reason})") from exc

    @staticmethod
    def _on_frames(frames: list, outcomes: list, load: list | None) -> list | None:
        """Record step results; returns the load frame once seen. Anything malformed is ignored."""
        for frame in frames:
            if not isinstance(frame, list) or not frame:
                continue
            tag = frame[0]
            if tag == "load" and len(frame) == 3 and load is None:
                load = [frame[1] if frame[1] in wire_statuses else "error", str(frame[2])[:500]]
            elif (
                isinstance(tag, int)
                and 0 <= tag < len(outcomes)
                and len(frame) == 5
                and outcomes[tag] is None
            ):
                status = frame[1] if frame[1] in wire_statuses else "error"
                seconds = frame[4] if isinstance(frame[4], int | float) else 0.0
                outcomes[tag] = [
                    status,
                    frame[2] if status == "ok" else None,
                    None,
                    str(frame[3])[:500],
                    seconds,
                ]
        return load

    def _finish(self, run: _Run, todo: list[int], status: int, stdio: bool) -> list:
        outcomes, load, n_steps = run.outcomes, run.load, len(run.outcomes)
        death = run.kill_reason.split(":", 1)
        death_status = death[0] or _status_from_wait(status)
        death_detail = death[1] if len(death) > 1 else _detail_from_wait(status, run.kill_reason)
        if load is not None and load[0] != "ok":  # the program did not load: every step shares that verdict
            return [[load[0], None, None, load[1], 0.0] if i in todo else None for i in range(n_steps)]
        step = self._step_in_progress()
        if step < 0 or step not in todo:  # died or was killed while loading
            detail = death_detail or "the program exited before the tests ran"
            return [[death_status, None, None, detail, 0.0] if i in todo else None for i in range(n_steps)]
        if outcomes[step] is None:
            outcomes[step] = [
                death_status,
                None,
                None,
                death_detail or "the program exited during the test",
                0.0,
            ]
        if stdio and outcomes[0] is not None and outcomes[0][0] == "ok":
            outcomes[0][2] = b"".join(run.out_buf).decode("utf-8", "replace")
        return outcomes


wire_statuses = frozenset(("ok", "error", "timeout", "memory", "output-limit", "syntax-error"))


def _read_some(fd: int, n: int) -> bytes | None:
    """Non-blocking read: data, b"" at end of file, None when nothing is there now."""
    try:
        return os.read(fd, n)
    except BlockingIOError:
        return None


def _read_exactly(fd: int, n: int, deadline: float) -> bytes:
    data = b""
    while len(data) < n and time.monotonic() < deadline:
        select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        got = _read_some(fd, n - len(data))
        if got == b"":
            break
        data += got or b""
    return data


def _kill_uid(uid: int) -> None:
    """Without a PID namespace: kill every process of the children's private uid (from a helper fork)."""
    pid = fast_fork()
    if pid == 0:
        try:
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _kill_children_of(ppid: int) -> None:
    """Kill our remaining children (orphans of a program re-parented to this subreaper)."""
    try:
        with open(f"/proc/{ppid}/task/{ppid}/children") as fh:
            pids = [int(p) for p in fh.read().split()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _status_from_wait(status: int) -> str:
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return "timeout"
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXFSZ:
        return "output-limit"
    return "error"


def _detail_from_wait(status: int, kill_reason: str) -> str:
    if kill_reason == "timeout":
        return "wall-clock limit exceeded"
    if kill_reason == "output-limit":
        return "output limit exceeded"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return ""


# ------------------------------------------------------------------------------------------ main loop


def main() -> None:
    cfg = json.loads(sys.argv[1])
    req_fd, resp_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.set_inheritable(req_fd, False)
    os.set_inheritable(resp_fd, False)
    for name in PREIMPORT + cfg.get("preimport", []):
        try:
            __import__(name)
        except ImportError:
            pass
    import random

    random.seed(0)  # children inherit this state (see fast_fork): the same stream for every program
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _libc.prctl(PR_SET_NAME, b"unitrl-worker", 0, 0, 0)
    layers = enter_namespaces(cfg)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # children cannot ptrace or read our memory, nor the zygote's
    import gc

    gc.collect()
    gc.freeze()  # keep warm objects out of the children's collections: fewer copy-on-write pages
    supervisor = Supervisor(cfg, layers, keep_out=(req_fd, resp_fd))
    wire.write_frame(resp_fd, {"hello": layers, "pid": os.getpid()})
    while True:
        try:
            job = wire.read_frame_blocking(req_fd)
        except (OSError, wire.WireError, ValueError):
            break
        if job is None:
            break
        t0 = time.perf_counter()
        broken = False
        try:
            steps = supervisor.handle(job)
            reply = {"id": job["id"], "steps": steps, "duration": time.perf_counter() - t0}
        except Exception as exc:  # noqa: BLE001 - reported as an infrastructure error, never a verdict
            reply = {"id": job.get("id"), "infra": f"{type(exc).__name__}: {exc}"}
            broken = isinstance(exc, ZygoteError)
        try:
            wire.write_frame(resp_fd, reply)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                break
            raise
        if broken:
            break  # the parent sees this worker end and starts a fresh one
    os._exit(0)
