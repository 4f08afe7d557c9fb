"""The zygote: a warm worker that isolates itself once, then forks one child per program.

Started by the trusted parent as `python -s -c "...zygote.main()" CONFIG_JSON` with a scrubbed environment;
its stdin and stdout carry frames (see `wire`). At start it imports the common standard library (so each
fork starts warm), then enters new namespaces where the kernel allows: user (when not root), network (no
interfaces up: no network at all), mount (a fresh root built from read-only binds of the system and Python
directories plus a private tmpfs /tmp, then chroot: the caller's files, the problems and samples are not
visible), PID (the zygote is PID 1, so `kill(-1)` after each program removes every process the program
left behind, daemons included), IPC and UTS. What could not be entered is reported in the hello frame.

Per program it forks a child (`child.lock_down`: own session, rlimits, closed fds, private work dir,
unprivileged uid or no capabilities, no_new_privs), reads its result frames and capped output, enforces
a wall-clock deadline per step, kills and reaps everything, and removes the work dir. A child that dies
mid-step gets that step marked and a fresh child continues with the next step. The zygote never sees
expected values: it forwards values; the parent judges.
"""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import select
import shutil
import signal
import sys
import time

from unitrl.sandbox import child, wire

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_PDEATHSIG = 36, 4, 1

# What HumanEval/ACECODER-style programs import most (typing, math, random, copy, string, collections,
# re, hashlib) plus the other algorithmic staples. More modules make every fork slower: measured, not guessed.
PREIMPORT = (
    "bisect collections copy functools hashlib heapq itertools math operator random re string typing"
).split()

_libc = ctypes.CDLL(None, use_errno=True)


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
    """Enter what the kernel allows; returns the active layers. May fork (PID namespace)."""
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
    if layers["pid"]:
        _become_pid1()
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


def _become_pid1() -> None:
    """After unshare(CLONE_NEWPID) the next child is PID 1 of the namespace; the outer process waits."""
    pid = os.fork()
    if pid == 0:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os.kill(pid, signal.SIGKILL))
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _build_root(cfg: dict, with_proc: bool) -> None:
    """A new root: read-only binds of system and Python dirs, private /tmp and /dev nodes; then chroot."""
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
        _mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chroot(new)
    os.chdir("/")


# ------------------------------------------------------------------------------------------ per job


class Zygote:
    def __init__(self, cfg: dict, layers: dict):
        self.cfg, self.layers = cfg, layers
        self.is_init = layers["pid"]
        self.base = "/tmp" if layers["mount"] else cfg["workdir_base"]
        if not layers["mount"]:
            os.makedirs(self.base, mode=0o711, exist_ok=True)
        self.drop = {"uid": None, "gid": None, "caps": layers["user"]}
        if layers["uid"]:
            self.drop["uid"] = self.drop["gid"] = cfg["child_uid"]
        self.workdir = os.path.join(self.base, f"w{os.getpid()}")
        self.progress = mmap.mmap(-1, mmap.PAGESIZE)  # shared with each child: the step it is running
        self.devnull = os.open(os.devnull, os.O_RDONLY)

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
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        os.chmod(self.workdir, 0o700)
        if self.drop["uid"] is not None:
            os.chown(self.workdir, self.drop["uid"], self.drop["gid"])
        return self.workdir

    def handle(self, job: dict) -> list:
        steps, timeout = job["steps"], float(job["timeout"])
        code, error = child.compile_source(job["program"], "<program>", "exec")
        if code is None:  # no need to fork for a program that does not compile
            return [["syntax-error", None, None, error, 0.0] for _ in steps]
        if steps and all(s["kind"] == "stdio" for s in steps):
            return [
                self.supervise(code, [("stdio", None)], timeout, stdin=s.get("stdin", ""))[0] for s in steps
            ]
        compiled = child.compile_steps(steps)
        outcomes: list = [None] * len(steps)
        todo = list(range(len(steps)))
        while todo:
            got = self.supervise(code, compiled, timeout, todo=todo)
            for i in todo:
                outcomes[i] = got[i]
            left = [i for i in todo if outcomes[i] is None]
            if len(left) == len(todo):  # no progress at all (should not happen): never loop forever
                outcomes[left[0]] = ["error", None, None, "the program made no progress", 0.0]
                left = left[1:]
            todo = left  # steps a killed child never reported run again in a fresh child
        return outcomes

    def supervise(
        self, code: object, steps: list, timeout: float, todo: list[int] | None = None, stdin: str = ""
    ) -> list:
        """Fork one child for the steps in `todo`; return outcomes (None for steps it did not report)."""
        cfg = self.cfg
        todo = list(range(len(steps))) if todo is None else todo
        workdir = self._fresh_workdir()
        r_res, w_res = os.pipe()
        r_out, w_out = os.pipe()
        if stdin:
            stdin_fd = os.memfd_create("stdin")
            os.write(stdin_fd, stdin.encode())
            os.lseek(stdin_fd, 0, 0)
        else:
            stdin_fd = os.dup(self.devnull)
        limits = {
            "memory_mb": cfg["memory_mb"],
            "cpu_seconds": timeout * (len(todo) + 1) + 1,
            "file_mb": cfg["file_mb"],
            "open_files": cfg["open_files"],
            "processes": cfg["processes"],
        }
        self.progress[0:4] = (-1).to_bytes(4, "little", signed=True)
        pid = os.fork()
        if pid == 0:  # ---- the untrusted child
            status = 0
            out = child.Reporter(w_res, self.progress)
            try:
                os.close(r_res)
                os.close(r_out)
                child.lock_down(limits, workdir, w_res, w_out, stdin_fd, self.drop)
                if steps[0][0] == "stdio":
                    child.run_stdio(code, timeout, out)
                else:
                    child.run_program(code, steps, todo, timeout, cfg["main_name"], out)
            except BaseException:  # noqa: BLE001
                status = 1
            try:
                out.flush()
            except BaseException:  # noqa: BLE001 - the program closed its result channel
                status = 1
            os._exit(status)
        for fd in (w_res, w_out, stdin_fd):
            os.close(fd)
        try:
            return self._watch(pid, r_res, r_out, steps, todo, timeout)
        finally:
            os.close(r_res)
            os.close(r_out)
            self._cleanup(pid)

    def _step_in_progress(self) -> int:
        return int.from_bytes(self.progress[0:4], "little", signed=True)

    def _watch(self, pid: int, r_res: int, r_out: int, steps: list, todo: list[int], timeout: float) -> list:
        """Wait for the child (usually one wake-up); enforce the per-step wall deadline; collect frames."""
        cfg = self.cfg
        outcomes: list = [None] * len(steps)
        reader = wire.FrameReader(max_frame=cfg["max_value_bytes"])
        out_buf, out_len = [], 0
        wall = timeout * cfg["wall_factor"] + 0.5
        deadline = time.monotonic() + wall
        seen_step = -2
        kill_reason, load = "", None
        pidfd = os.pidfd_open(pid)
        open_fds = {r_res, r_out}
        exited = False
        while open_fds and not kill_reason:
            wait = deadline - time.monotonic()
            if wait <= 0:
                if exited:
                    break  # after the child exited, a straggler holding its pipes is simply killed
                step = self._step_in_progress()
                if step != seen_step:  # the child moved on since the last check: a new step's deadline
                    seen_step, deadline = step, time.monotonic() + wall
                    continue
                kill_reason = "timeout"
                break
            ready, _, _ = select.select(list(open_fds) + ([] if exited else [pidfd]), [], [], wait)
            if pidfd in ready:
                exited = True
                deadline = min(deadline, time.monotonic() + 0.2)
            for fd in ready:
                if fd == pidfd:
                    continue
                data = os.read(fd, 65536)
                if not data:
                    open_fds.discard(fd)
                elif fd == r_out:
                    out_len += len(data)
                    if out_len > cfg["output_bytes"]:
                        kill_reason = "output-limit"
                        break
                    out_buf.append(data)
                else:
                    try:
                        frames = reader.feed(data)
                    except wire.WireError as exc:
                        big = "exceeds" in str(exc)
                        kill_reason = (
                            "output-limit:return value too large"
                            if big
                            else f"error:corrupt result stream ({exc})"
                        )
                        break
                    load = self._on_frames(frames, outcomes, load)
        os.close(pidfd)
        if kill_reason or not exited:
            self._kill_all(pid)
        _, status = os.waitpid(pid, 0)
        return self._finish(outcomes, steps, todo, load, kill_reason, status, b"".join(out_buf))

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

    def _finish(self, outcomes, steps, todo, load, kill_reason, status, output) -> list:
        death = kill_reason.split(":", 1)
        death_status = death[0] or _status_from_wait(status)
        death_detail = death[1] if len(death) > 1 else _detail_from_wait(status, kill_reason)
        if load is not None and load[0] != "ok":  # the program did not load: every step shares that verdict
            return [[load[0], None, None, load[1], 0.0] if i in todo else None for i in range(len(steps))]
        step = self._step_in_progress()
        if step < 0 or step not in todo:  # died or was killed while loading
            detail = death_detail or "the program exited before the tests ran"
            return [[death_status, None, None, detail, 0.0] if i in todo else None for i in range(len(steps))]
        if outcomes[step] is None:
            outcomes[step] = [
                death_status,
                None,
                None,
                death_detail or "the program exited during the test",
                0.0,
            ]
        if steps[0][0] == "stdio" and outcomes[0] is not None and outcomes[0][0] == "ok":
            outcomes[0][2] = output.decode("utf-8", "replace")
        return outcomes

    def _kill_all(self, pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _cleanup(self, pid: int) -> None:
        """Nothing the program started outlives it (its files go at the next `_fresh_workdir`)."""
        self._kill_all(pid)
        if self.is_init:
            try:
                os.kill(-1, signal.SIGKILL)  # PID 1 of the namespace: every other process in it
            except ProcessLookupError:
                pass
        else:
            if self.drop["uid"] is not None:
                _kill_uid(self.drop["uid"])
            _kill_children_of(os.getpid())  # orphans re-parented to us (we are their subreaper)
        while True:
            try:
                reaped, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if reaped == 0:
                if self.is_init:
                    continue  # just-killed processes are still exiting; init must reap them all
                break


wire_statuses = frozenset(("ok", "error", "timeout", "memory", "output-limit", "syntax-error"))


def _kill_uid(uid: int) -> None:
    """Without a PID namespace: kill every process of the children's private uid (from a helper fork)."""
    pid = os.fork()
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
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    layers = enter_namespaces(cfg)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # children cannot ptrace or read the zygote's memory
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of a program come back to us
    import gc

    gc.collect()
    gc.freeze()  # keep warm objects out of the children's collections: fewer copy-on-write pages
    zygote = Zygote(cfg, layers)
    wire.write_frame(resp_fd, {"hello": layers, "pid": os.getpid()})
    while True:
        try:
            job = wire.read_frame_blocking(req_fd)
        except (OSError, wire.WireError, ValueError):
            break
        if job is None:
            break
        t0 = time.perf_counter()
        try:
            steps = zygote.handle(job)
            reply = {"id": job["id"], "steps": steps, "duration": time.perf_counter() - t0}
        except Exception as exc:  # noqa: BLE001 - reported as an infrastructure error, never a verdict
            reply = {"id": job.get("id"), "infra": f"{type(exc).__name__}: {exc}"}
        try:
            wire.write_frame(resp_fd, reply)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                break
            raise
    os._exit(0)
