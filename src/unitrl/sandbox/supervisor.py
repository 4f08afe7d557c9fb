"""The sandbox worker's trusted half: the supervisor, and the worker's main loop.

Started by the trusted parent as `python -s -c "...supervisor.main()"`; its configuration arrives as the
first frame on stdin (never on the command line, where /proc/1/cmdline would show it), then jobs arrive
as frames and replies go back on stdout (see `wire`). At start the worker imports the common standard
library (so each fork starts warm), enters the namespaces (`rootfs`), and forks the zygote (`zygote`).
The supervisor never forks again. Per job it decodes and compiles the program and the tests (test code is
compiled once per distinct test list and cached), leaves them in a memfd for the next child, makes a
FRESH result pipe and output pipe for that child (sent to the zygote with the "go" message), reads the
child's frames and capped output, enforces the deadlines, and answers the parent.

Every byte from a child is hostile. A frame that is malformed, too large, has too many values, or carries
fields of the wrong type or range fails that program's current step ("corrupt result stream") and never
the supervisor; the child is always dead and reaped (the zygote's status record says so) and its pipes
drained to end-of-file and closed before the next job starts, so nothing it wrote can be read as another
program's result. Deadlines: each step gets `timeout * wall_factor + 0.5` s of wall time from when it
was seen to start (the child's progress page is polled at least four times per limit; only a forward
move through the job's steps counts), and the whole job at most that times (steps + 1): a program that sleeps in every test ends as `timeout`, never as a
sandbox failure. Between programs /tmp is reset (a fresh tmpfs when the last program left anything) and,
where SysV IPC could not be switched off, every IPC object is removed. Any internal error makes the
worker answer `infra` and exit; the parent replaces it.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import json
import marshal
import math
import os
import select
import signal
import socket
import sys
import time

from unitrl.sandbox import child, rootfs, wire, zygote

STEP_CACHE = 4096  # distinct compiled test lists kept by the supervisor
WIRE_STATUSES = frozenset(("ok", "error", "timeout", "memory", "output-limit", "syntax-error"))
MAX_DETAIL = 500


class ZygoteError(RuntimeError):
    """The zygote died or stopped answering: the worker reports an infrastructure error and exits."""


class JobBudget:
    """What one job may still send back (values and output), and when it must end."""

    def __init__(self, cfg: dict, n_steps: int, wall: float):
        self.value_bytes = cfg["max_value_bytes"]
        self.value_objects = cfg["max_value_objects"]
        self.output_bytes = cfg["max_job_output_bytes"]
        self.deadline = time.monotonic() + wall * (n_steps + 1)


class _Run:
    """What the supervisor gathers while one child runs."""

    def __init__(self, n_steps: int, budget: JobBudget, res_r: int, out_r: int, output_cap: int):
        self.outcomes: list = [None] * n_steps
        self.reader = wire.FrameReader(max_frame=budget.value_bytes, max_objects=budget.value_objects)
        self.budget = budget
        self.res_r, self.out_r = res_r, out_r
        self.out_buf: list[bytes] = []
        self.out_len = 0
        self.output_cap = output_cap
        self.kill_reason = ""
        self.kill_deadline = 0.0
        self.load: list | None = None


class Supervisor:
    def __init__(self, cfg: dict, layers: dict, keep_out: tuple[int, ...] = ()):
        self.cfg, self.layers = cfg, layers
        self.base = "/tmp" if layers["mount"] else cfg["workdir_base"]
        if not layers["mount"]:
            os.makedirs(self.base, mode=0o711, exist_ok=True)
        self.drop = {
            "uid": None,
            "gid": None,
            "caps": layers["user"],
            "pdeathsig": not layers["pid"],
            "seccomp": cfg.get("seccomp", True),
        }
        if layers["uid"]:
            self.drop["uid"] = self.drop["gid"] = cfg["child_uid"]
        self.workdir = os.path.join(self.base, f"w{os.getpid()}")
        self.steps_cache: collections.OrderedDict[str, tuple[list, bytes]] = collections.OrderedDict()
        self.ch = zygote.Channels()
        pid = os.fork()
        if pid == 0:  # ---- the zygote
            try:
                for fd in keep_out:
                    os.close(fd)
                self.ch.zygote_side()
                proc = layers["new_root"] + "/proc" if layers["pid"] and layers["mount"] else None
                zygote.serve_zygote(self.ch, layers["pid"], self.drop, proc_path=proc)
            finally:
                os._exit(70)
        self.zygote_pid = pid
        self.ch.supervisor_side()
        ready = _read_exactly(self.ch.st_r, 2, time.monotonic() + 30)
        if len(ready) != 2 or ready[:1] != b"Z":
            raise ZygoteError("the zygote did not start")
        flags = ready[1]
        layers["seccomp"] = bool(flags & zygote.READY_SECCOMP)
        layers["sysv_off"] = bool(flags & zygote.READY_SYSV)
        if layers["pid"] and layers["mount"] and not flags & zygote.READY_PROC:
            layers["proc_error"] = "could not mount /proc in the PID namespace"
        if layers["mount"]:
            rootfs.enter_root(layers.pop("new_root"))
        self._fresh_workdir(force=True)

    # ------------------------------------------------------------------------------ between programs

    def _fresh_workdir(self, force: bool = False) -> str:
        """An empty private work dir (and, with a mount namespace, an empty /tmp around it)."""
        owner = self.drop["uid"]
        if self.layers["mount"]:
            if force or not rootfs.tmp_is_clean(self.workdir, owner):
                if not force:
                    rootfs.reset_tmp(self.cfg["tmp_mb"])
                if not os.path.isdir(self.workdir):
                    os.mkdir(self.workdir, 0o700)
        else:
            rootfs.wipe_tree(self.workdir)
        os.chmod(self.workdir, 0o700)
        if owner is not None:
            os.chown(self.workdir, owner, self.drop["gid"])
        if not self.layers.get("sysv_off") and self.layers["ipc"]:
            rootfs.clear_sysv()
        return self.workdir

    # ------------------------------------------------------------------------------------------ jobs

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
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"bad timeout {timeout!r}")
        code, error = child.compile_source(job["program"], "<program>", "exec")
        if code is None:  # no need to fork for a program that does not compile
            return [["syntax-error", None, None, error, 0.0] for _ in steps]
        program = marshal.dumps(code)
        wall = timeout * self.cfg["wall_factor"] + 0.5
        budget = JobBudget(self.cfg, len(steps), wall)
        if steps and all(s["kind"] == "stdio" for s in steps):
            out = []
            for s in steps:
                if time.monotonic() >= budget.deadline:
                    out.append(["timeout", None, None, "the job's time budget is used up", 0.0])
                    continue
                got = self.supervise(program, steps_blob, 1, timeout, [0], budget, stdin=s.get("stdin", ""))
                out.append(got[0] or ["error", None, None, "no result", 0.0])
            return out
        outcomes: list = [None] * len(steps)
        ends = wire.segment_ends(job.get("segments"), len(steps))
        todo = list(range(len(steps)))
        while todo:
            got = self.supervise(program, steps_blob, len(steps), timeout, todo, budget, ends=ends)
            for i in todo:
                outcomes[i] = got[i]
            if ends:
                _stop_runs(outcomes, todo, ends)
            left = [i for i in todo if outcomes[i] is None]
            if len(left) == len(todo):  # no progress at all (should not happen): never loop forever
                outcomes[left[0]] = ["error", None, None, "the program made no progress", 0.0]
                left = left[1:]
            todo = left  # steps a killed child never reported run again in a fresh child
        return outcomes

    def supervise(
        self,
        program: bytes,
        steps_blob: bytes,
        n_steps: int,
        timeout: float,
        todo: list[int],
        budget: JobBudget,
        stdin: str | None = None,
        ends: list[int] | None = None,
    ) -> list:
        """Run one child over the steps in `todo`; return outcomes (None for steps it did not report)."""
        cfg = self.cfg
        if time.monotonic() >= budget.deadline:
            return [
                ["timeout", None, None, "the job's time budget is used up", 0.0] if i in todo else None
                for i in range(n_steps)
            ]
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
            "ends": ends,
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
            os.pwrite(self.ch.stdin, stdin.encode("utf-8", "surrogatepass"), 0)
            os.lseek(self.ch.stdin, 0, os.SEEK_SET)
        self.ch.progress[0:4] = (-1).to_bytes(4, "little", signed=True)
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            for fd in (res_r, out_r):
                os.set_blocking(fd, False)
            try:
                socket.send_fds(self.ch.ctl_sup, [zygote.GO], [res_w, out_w])
            except OSError as exc:
                raise ZygoteError("the zygote is gone") from exc
            os.close(res_w)
            os.close(out_w)
            res_w = out_w = -1
            output_cap = min(cfg["output_bytes"], max(budget.output_bytes, 0))
            run = _Run(n_steps, budget, res_r, out_r, output_cap)
            outcomes = self._watch(run, todo, timeout, stdio=stdin is not None)
            budget.value_objects, budget.value_bytes = run.reader.max_objects, run.reader.max_frame
            return outcomes
        finally:
            for fd in (res_r, res_w, out_r, out_w):
                if fd >= 0:
                    os.close(fd)

    def _step_in_progress(self) -> int:
        return int.from_bytes(self.ch.progress[0:4], "little", signed=True)

    def _watch(self, run: _Run, todo: list[int], timeout: float, stdio: bool) -> list:
        """Collect frames and output until the zygote reports the child's end; enforce deadlines.

        A step's deadline runs from when the supervisor first sees it in progress (the page is polled at
        least every quarter of the limit); the job's deadline caps everything, since the progress page is
        writable by the child."""
        wall = timeout * self.cfg["wall_factor"] + 0.5
        poll = max(wall / 4, 0.01)
        now = time.monotonic()
        seen_step, step_deadline = -1, now + wall
        record = b""
        fds = [self.ch.st_r, run.res_r, run.out_r]
        while len(record) < zygote.STATUS.size:
            now = time.monotonic()
            if not run.kill_reason:
                step = self._step_in_progress()
                if step > seen_step and step in todo:  # an honest child only moves forward through todo
                    seen_step, step_deadline = step, now + wall
                if now >= run.budget.deadline:
                    self._kill(run, "job-timeout")
                elif now >= step_deadline:
                    self._kill(run, "timeout")
                wait = min(step_deadline, run.budget.deadline, now + poll) - now
            else:
                if now >= run.kill_deadline:
                    raise ZygoteError("the zygote stopped answering")
                wait = run.kill_deadline - now
            ready, _, _ = select.select(fds, [], [], max(wait, 0.0))
            if self.ch.st_r in ready:
                got = _read_some(self.ch.st_r, zygote.STATUS.size - len(record))
                if got == b"":
                    raise ZygoteError("the zygote died")
                record += got or b""
            for fd in ready:
                if fd != self.ch.st_r:
                    data = _read_some(fd, 1 << 16)
                    if data == b"":
                        fds.remove(fd)  # end of file: this child and all it started closed it
                    elif data:
                        self._take(run, fd, data)
        pid, status = zygote.STATUS.unpack(record)
        if pid < 0:
            raise ZygoteError(f"the zygote could not fork: {os.strerror(-pid)}")
        self._drain(run)
        return self._finish(run, todo, status, stdio)

    def _drain(self, run: _Run) -> None:
        """Read what the dead child left in its pipes, up to end-of-file (every writer is gone now)."""
        deadline = time.monotonic() + 2.0
        for fd in (run.res_r, run.out_r):
            while time.monotonic() < deadline:
                select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
                data = _read_some(fd, 1 << 16)
                if data == b"":
                    break
                if data:
                    self._take(run, fd, data)

    def _take(self, run: _Run, fd: int, data: bytes) -> None:
        """Account for data read from the child; kill it when it oversteps (never raises for its bytes)."""
        if fd == run.out_r:
            run.out_len += len(data)
            if run.out_len <= run.output_cap:
                run.out_buf.append(data)
            elif not run.kill_reason:
                self._kill(run, "output-limit")
            return
        if run.kill_reason:
            return  # frames after a kill are not trusted to be whole; ignored
        try:
            run.load = _on_frames(run.reader.feed(data), run.outcomes, run.load)
        except wire.WireError as exc:
            big = exc.too_large
            reason = "output-limit:return value too large" if big else f"error:corrupt result stream ({exc})"
            self._kill(run, reason[:MAX_DETAIL])
        except Exception as exc:  # noqa: BLE001 - whatever the bytes were, they fail this program only
            self._kill(run, f"error:corrupt result stream ({type(exc).__name__})")

    def _kill(self, run: _Run, reason: str) -> None:
        run.kill_reason = reason
        run.kill_deadline = time.monotonic() + 30
        try:
            self.ch.ctl_sup.send(zygote.KILL)
        except OSError as exc:
            raise ZygoteError(f"the zygote is gone ({reason})") from exc

    def _finish(self, run: _Run, todo: list[int], status: int, stdio: bool) -> list:
        outcomes, load, n_steps = run.outcomes, run.load, len(run.outcomes)
        if run.kill_reason == "job-timeout":
            for i in todo:
                if outcomes[i] is None:
                    outcomes[i] = ["timeout", None, None, "the job's time budget is used up", 0.0]
            return outcomes
        death = run.kill_reason.split(":", 1)
        death_status = death[0] or zygote._status_from_wait(status)
        death_detail = death[1] if len(death) > 1 else zygote._detail_from_wait(status, run.kill_reason)
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
            text = b"".join(run.out_buf)
            run.budget.output_bytes -= len(text)
            outcomes[0][2] = text.decode("utf-8", "replace")
        return outcomes


def _stop_runs(outcomes: list, todo: list[int], ends: list[int]) -> None:
    """After a step that timed out, ran out of memory or output, or ended the process (the last step
    reported before the child died), the later steps of its run come back "not-run" (the child skips
    them; a fresh child must not run them either)."""
    reported = [i for i in todo if outcomes[i] is not None]
    died = reported[-1] if reported and len(reported) < len(todo) else -1
    for i in reported:
        if outcomes[i][0] in wire.RUN_ENDING or (i == died and outcomes[i][0] != "ok"):
            for j in range(i + 1, ends[i]):
                if outcomes[j] is None:
                    outcomes[j] = ["not-run", None, None, "after a step that ended its run", 0.0]


def _on_frames(frames: list, outcomes: list, load: list | None) -> list | None:
    """Record step results; returns the load frame once seen. Anything malformed is a WireError."""
    for frame in frames:
        if type(frame) is not list or not frame:
            raise wire.WireError("a frame that is not a non-empty list")
        tag = frame[0]
        if tag == "load" and len(frame) == 3 and load is None:
            load = [_status(frame[1]), _detail(frame[2])]
        elif type(tag) is int and 0 <= tag < len(outcomes) and len(frame) == 5 and outcomes[tag] is None:
            status = _status(frame[1])
            values = frame[2] if status == "ok" else None
            if status == "ok" and values is not None:
                if type(values) is not list:
                    raise wire.WireError("step values that are not a list")
                # forwarded as text: the parent decodes each step on its own, so a value it cannot
                # decode fails that step only
                values = json.dumps(values, separators=(",", ":"), allow_nan=False)
            outcomes[tag] = [status, values, None, _detail(frame[3]), _seconds(frame[4])]
        else:
            raise wire.WireError("an unexpected frame")
    return load


def _status(value: object) -> str:
    if type(value) is not str or value not in WIRE_STATUSES:
        raise wire.WireError("an unknown step status")
    return value


def _detail(value: object) -> str:
    return value[:MAX_DETAIL] if type(value) is str else ""


def _seconds(value: object) -> float:
    """A duration as the child reported it, if it is a sane one (it is informational only)."""
    if type(value) is float and math.isfinite(value) and 0 <= value < 1e6:
        return value
    if type(value) is int and 0 <= value < 10**6:
        return float(value)
    return 0.0


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


# ------------------------------------------------------------------------------------------ main loop

_libc = ctypes.CDLL(None, use_errno=True)


def main() -> None:
    req_fd, resp_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.set_inheritable(req_fd, False)
    os.set_inheritable(resp_fd, False)
    cfg = wire.read_frame_blocking(req_fd)
    if not isinstance(cfg, dict):
        os._exit(2)
    for path in cfg.get("python_paths", []):
        if path not in sys.path:
            sys.path.append(path)
    for name in zygote.PREIMPORT + cfg.get("preimport", []):
        try:
            __import__(name)
        except ImportError:
            pass
    import random

    random.seed(0)  # children inherit this state (see fast_fork): the same stream for every program
    _libc.prctl(zygote.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _libc.prctl(zygote.PR_SET_NAME, b"unitrl-worker", 0, 0, 0)
    layers = rootfs.enter_namespaces(cfg)
    rootfs.relocate_sys_path(cfg.get("relocated", {}))
    sys.path_importer_cache.clear()
    _libc.prctl(zygote.PR_SET_DUMPABLE, 0, 0, 0, 0)  # children cannot ptrace or read our memory
    import gc

    gc.collect()
    gc.freeze()  # keep warm objects out of the children's collections: fewer copy-on-write pages
    supervisor = Supervisor(cfg, layers, keep_out=(req_fd, resp_fd))
    wire.write_frame(resp_fd, {"hello": layers, "pid": os.getpid()})
    serve(supervisor, req_fd, resp_fd)
    os._exit(0)


def serve(supervisor: Supervisor, req_fd: int, resp_fd: int) -> None:
    """Answer jobs until the parent closes the pipe; any internal failure answers `infra` and ends the
    worker (a fresh one is started by the parent), so a poisoned worker never serves another job."""
    while True:
        try:
            job = wire.read_frame_blocking(req_fd)
        except (OSError, wire.WireError, ValueError):
            return
        if job is None:
            return
        t0 = time.perf_counter()
        broken = False
        try:
            steps = supervisor.handle(job)
            reply = {"id": job["id"], "steps": steps, "duration": time.perf_counter() - t0}
        except Exception as exc:  # noqa: BLE001 - reported as an infrastructure error, never a verdict
            reply = {
                "id": job.get("id") if isinstance(job, dict) else None,
                "infra": f"{type(exc).__name__}: {exc}",
            }
            broken = True
        try:
            wire.write_frame(resp_fd, reply)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                return
            raise
        if broken:
            return
