"""The trusted parent's side of the sandbox: a pool of warm workers and the job dispatcher.

`Sandbox(config)` starts `workers` worker processes (each a supervisor plus its zygote, see `supervisor`),
each with a scrubbed environment and its own private uid when run as root; the configuration travels as
the first frame on the worker's stdin. `run(jobs)` streams jobs to them over pipes with a single-threaded
selector loop (two jobs in flight per worker, non-blocking writes, so neither side can deadlock on a full
pipe) and returns `JobResult`s in input order, or hands each to `on_result` as it arrives (so a caller can
judge and release values at once instead of holding a whole batch). Several threads may call `run` at
once; their jobs share the workers, and one caller at a time drives the loop for all of them.

Failures are charged to whoever caused them. A worker runs one job at a time, so when it dies, stops
answering or answers `infra`, the job at the head of its queue is the suspect: it is retried once on a
fresh worker (the others it held are simply requeued). If the same program breaks a worker again, a
canary job on another fresh worker tells the two cases apart: the canary passes, so the program is charged
(`timeout` when it outran its time budget, else `error`); the canary fails too, so the sandbox itself is
broken and the job is an `infrastructure-error`, never a failed test. A job's time budget starts when
the job reaches the head of its worker's queue, and is longer than the supervisor's own cap for the job,
so a program that merely sleeps is a timeout reported by the supervisor, not a dead worker.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import json
import math
import os
import select
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from unitrl.errors import UserError
from unitrl.sandbox import wire
from unitrl.sandbox.jobs import Job, JobResult, StepOutcome

REQUIRED_LAYERS = ("network", "mount", "pid")
CANARY_SLOT = 255  # the uid slot of the canary worker (pool workers use slots 0..254)
_INSTANCES = itertools.count()


@dataclass
class SandboxConfig:
    workers: int = 0  # 0 = one per CPU core
    timeout: float = 3.0  # seconds of CPU per step (wall limit = timeout * wall_factor + 0.5)
    wall_factor: float = 3.0
    memory_mb: int = 1024  # RLIMIT_AS of each child
    output_bytes: int = 4 * 1024 * 1024  # captured stdout+stderr per child before it is killed
    max_job_output_bytes: int = 32 * 1024 * 1024  # captured stdout of all of a job's stdio tests
    max_value_bytes: int = 8 * 1024 * 1024  # result frames accepted from one job's children, in all
    max_value_objects: int = 2_000_000  # JSON values in those frames, counted before decoding
    file_mb: int = 16  # RLIMIT_FSIZE
    open_files: int = 64
    processes: int = 64  # RLIMIT_NPROC
    tmp_mb: int = 64  # size of the private tmpfs /tmp
    isolation: str = "auto"  # auto | none
    seccomp: bool = True  # the syscall filter (see `seccomp`); off only to diagnose
    require_isolation: bool = False  # refuse to run unless the network, mount and PID namespaces are active
    main_name: str = "__unitrl__"  # __name__ of programs in assert mode (stdio programs run as __main__)
    preimport: list[str] = field(default_factory=list)
    ro_paths: list[str] = field(default_factory=list)  # extra read-only paths visible inside the sandbox
    child_uid: int = 0  # base uid for children when run as root; 0 = derived from our PID (see Sandbox)

    def __post_init__(self) -> None:
        checks = {
            "workers": self.workers >= 0,
            "timeout": math.isfinite(self.timeout) and self.timeout > 0,
            "wall_factor": math.isfinite(self.wall_factor) and self.wall_factor >= 1,
            "memory_mb": self.memory_mb >= 16,
            "output_bytes": self.output_bytes >= 0,
            "max_value_bytes": self.max_value_bytes >= 1024,
            "max_value_objects": self.max_value_objects >= 16,
            "file_mb": self.file_mb >= 0,
            "open_files": self.open_files >= 8,
            "processes": self.processes >= 1,
            "tmp_mb": self.tmp_mb >= 1,
            "isolation": self.isolation in ("auto", "none"),
        }
        for name, ok in checks.items():
            if not ok:
                raise UserError(f"invalid sandbox setting {getattr(self, name)!r}", field=name)


class _Worker:
    def __init__(self, index: int, cfg: SandboxConfig, base: str):
        self.index = index
        zcfg = asdict(cfg)
        zcfg["workdir_base"] = base
        zcfg["child_uid"] = cfg.child_uid + index
        zcfg["python_paths"] = [p for p in sys.path if p and os.path.exists(p)]
        self.child_uid = zcfg["child_uid"]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": "/tmp",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-s", "-c", "from unitrl.sandbox.supervisor import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            close_fds=True,
        )
        self.reader = wire.FrameReader(max_frame=2 * wire.MAX_FRAME)
        try:
            wire.write_frame(self.proc.stdin.fileno(), zcfg)
            hello = wire.read_frame_blocking(self.proc.stdout.fileno())
        except (OSError, wire.WireError):
            hello = None
        if not isinstance(hello, dict) or "hello" not in hello:
            self.kill()
            raise RuntimeError("sandbox worker failed to start")
        self.layers: dict = hello["hello"]
        os.set_blocking(self.proc.stdin.fileno(), False)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.outbuf = bytearray()
        self.broken = ""  # the worker answered `infra` (it is exiting): replace it
        self.writing = False  # stdin registered with the selector for EVENT_WRITE
        self.inflight: collections.OrderedDict[int, float] = collections.OrderedDict()  # job id -> budget (s)
        self.head_since = time.monotonic()  # when the job at the head of `inflight` started running

    def late(self) -> bool:
        """The job at the head of the queue has run past its budget."""
        if not self.inflight:
            return False
        return time.monotonic() > self.head_since + next(iter(self.inflight.values()))

    def kill(self) -> None:
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class _Batch:
    """One `run` call's jobs and where their results go."""

    def __init__(self, jobs: list[Job], progress: Callable | None, on_result: Callable | None):
        self.jobs, self.progress, self.on_result = jobs, progress, on_result
        self.results: list[JobResult | None] = [None] * len(jobs)
        self.attempts = [0] * len(jobs)
        self.left = len(jobs)
        self.queue = collections.deque(range(len(jobs)))  # indices not yet sent to a worker
        self.error: BaseException | None = None


class Sandbox:
    """A pool of isolated workers. Use as a context manager; reusable across many `run` calls, from
    several threads at once."""

    concurrent_runs = True  # `run` may be called from several threads at once

    def __init__(self, config: SandboxConfig | None = None):
        self.cfg = config or SandboxConfig()
        self.n = self.cfg.workers or os.cpu_count() or 1
        if not self.cfg.child_uid:
            # A uid range of our own, so that killing "every process of uid X" after a program can never
            # touch another sandbox's children on the same machine.
            from dataclasses import replace

            slot = (os.getpid() % 1_000_000) * 16 + next(_INSTANCES) % 16  # several sandboxes per process too
            self.cfg = replace(self.cfg, child_uid=1_000_000 + slot * 256)
        if self.n >= CANARY_SLOT:
            raise UserError(f"at most {CANARY_SLOT - 1} sandbox workers", field="workers")
        # Only created (by a worker) when no mount namespace gives it a private tmpfs; removed on close.
        self.base = os.path.join(tempfile.gettempdir(), f"unitrl-sandbox-{os.getpid()}-{id(self) % 100000}")
        self.workers: list[_Worker] = []
        self._steps_json: dict[int, tuple[list, str]] = {}  # id(job.steps) -> (the list, its JSON)
        # Shared by the callers of `run` (see there): jobs not yet sent, and who drives the loop.
        self._state = threading.Condition()
        self._pending: collections.deque[_Batch] = collections.deque()  # batches with jobs to send
        self._driving = False
        self._where: dict[int, tuple[_Batch, int]] = {}  # job id on the wire -> (batch, index)
        self._ids = itertools.count()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        atexit.register(self.close)
        try:
            self.workers = [_Worker(i, self.cfg, self.base) for i in range(self.n)]
        except BaseException:
            self.close()
            raise
        self.layers = self.workers[0].layers
        self.child_uids = [w.child_uid for w in self.workers]
        missing = [name for name in REQUIRED_LAYERS if not self.layers.get(name)]
        if self.cfg.require_isolation and missing:
            self.close()
            raise UserError(
                f"--require-isolation: these isolation layers are unavailable here: {', '.join(missing)} "
                "(run `unitrl doctor` for details)"
            )

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for w in self.workers:
            w.kill()
        self.workers = []
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        shutil.rmtree(self.base, ignore_errors=True)

    # ------------------------------------------------------------------------------------------ run

    def run(
        self,
        jobs: Iterable[Job],
        progress: Callable[[int], None] | None = None,
        on_result: Callable[[int, JobResult], None] | None = None,
    ) -> list[JobResult | None]:
        """Run every job. Results come back in input order, or, with `on_result(index, result)`, are
        handed over as they arrive and not kept (the returned list then holds None).
        `progress(k)` is called as k more jobs finish.

        Several threads may call `run` at once: their jobs share the workers (first come, first
        served, the batches taking turns job by job), so one caller's jobs run while another works out
        its next batch and a small batch never waits for a large one. One caller at a time
        drives the dispatch loop for everyone's jobs; when its own jobs are done it hands over to a
        waiting caller. A batch's callbacks may then run on another caller's thread; an exception from
        them ends that batch (its jobs not yet started are dropped) and is raised in its own caller."""
        batch = _Batch(list(jobs), progress, on_result)
        if not batch.jobs:
            return []
        for job in batch.jobs:
            wire.segment_ends(job.segments, len(job.steps))  # a malformed one raises before anything runs
        with self._state:
            self._pending.append(batch)
        self._wake()
        while True:
            with self._state:
                self._state.wait_for(lambda: batch.left == 0 or not self._driving)
                if batch.left == 0:
                    break
                self._driving = True
            try:
                self._drive(batch)
            finally:
                with self._state:
                    self._driving = False
                    self._state.notify_all()
        if batch.error is not None:
            raise batch.error
        return batch.results

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the driver wakes anyway

    def _finish(self, batch: _Batch, i: int, result: JobResult) -> None:
        """Hand one result to its batch (called by the driving thread)."""
        if batch.error is None:
            try:
                hand_over(batch.results, batch.on_result, batch.progress, i, result)
            except BaseException as exc:  # noqa: BLE001 - raised in the batch's own caller
                batch.error = exc
        with self._state:
            batch.left -= 1
            if batch.error is not None and batch.queue:  # its jobs not yet started are dropped
                batch.left -= len(batch.queue)
                batch.queue.clear()
            if batch.left == 0:
                self._state.notify_all()

    def _next(self) -> tuple[_Batch, int] | None:
        """The next job to send: the batches with jobs left take turns, one job each."""
        with self._state:
            while self._pending:
                batch = self._pending.popleft()
                if batch.queue:
                    i = batch.queue.popleft()
                    if batch.queue:
                        self._pending.append(batch)
                    return batch, i
            return None

    def _requeue(self, items: list[tuple[_Batch, int]]) -> None:
        """Jobs a dead worker held: first in line again, each in its own batch."""
        with self._state:
            for batch, i in reversed(items):
                batch.queue.appendleft(i)
                if batch in self._pending:
                    self._pending.remove(batch)
                self._pending.appendleft(batch)

    def _drive(self, mine: _Batch) -> None:
        """Dispatch everyone's jobs to the workers and collect replies until `mine` is done."""
        sel = selectors.DefaultSelector()
        for w in self.workers:
            sel.register(w.proc.stdout, selectors.EVENT_READ, w)
            w.writing = False
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while mine.left:
                for w in self.workers:
                    while len(w.inflight) < 2 and (item := self._next()) is not None:
                        batch, i = item
                        gid = next(self._ids)
                        self._where[gid] = item
                        if not w.inflight:
                            w.head_since = time.monotonic()
                        w.outbuf += self._payload(gid, batch.jobs[i])
                        w.inflight[gid] = self._budget(batch.jobs[i])
                    self._flush(w)
                    self._want_write(sel, w)
                for key, _ in sel.select(timeout=0.5):
                    w = key.data
                    if w is None:  # another caller queued jobs
                        try:
                            os.read(self._wake_r, 4096)
                        except BlockingIOError:
                            pass
                        continue
                    if key.fileobj is w.proc.stdin:  # room in the pipe for the rest of a large job
                        self._flush(w)
                        self._want_write(sel, w)
                        continue
                    for reply in self._read(w):
                        gid = reply.get("id")
                        if w.broken or not isinstance(gid, int) or gid not in w.inflight:
                            continue
                        if "infra" in reply:
                            w.broken = str(reply["infra"])[:300]
                            continue
                        del w.inflight[gid]
                        w.head_since = time.monotonic()
                        batch, i = self._where.pop(gid)
                        self._finish(batch, i, self._result(batch.jobs[i], reply))
                for w in list(self.workers):
                    failure = self._failure(w)
                    if failure is None:
                        continue
                    kind, why = failure
                    head = next(iter(w.inflight), None)
                    # never started: requeued, not charged
                    self._requeue([self._where.pop(g) for g in w.inflight if g != head])
                    sel.unregister(w.proc.stdout)
                    if w.writing:
                        sel.unregister(w.proc.stdin)
                    w.outbuf.clear()
                    fresh = self._replace(w)
                    sel.register(fresh.proc.stdout, selectors.EVENT_READ, fresh)
                    if head is None:
                        continue
                    batch, i = self._where.pop(head)
                    batch.attempts[i] += 1
                    if batch.attempts[i] < 2:
                        self._requeue([(batch, i)])
                    else:
                        self._finish(batch, i, self._charge(batch.jobs[i], kind, why))
        finally:
            for w in self.workers:
                if w.writing:
                    sel.unregister(w.proc.stdin)
                    w.writing = False
            sel.close()

    @staticmethod
    def _failure(w: _Worker) -> tuple[str, str] | None:
        """Why a worker must be replaced, if it must: ("infra" | "died" | "late", detail)."""
        if w.broken:
            return "infra", w.broken
        if w.proc.poll() is not None:
            return "died", "sandbox worker died"
        if w.late():
            return "late", "sandbox worker stopped answering"
        return None

    def _charge(self, job: Job, kind: str, why: str) -> JobResult:
        """The same program broke a worker twice: its failure if a canary job runs fine, else ours.

        A worker killed by a signal while its programs run in their own PID namespace under another uid
        was killed from outside (the OOM killer, an operator): no program can signal it, so that is never
        charged to the program."""
        walled = self.layers.get("pid") and (self.layers.get("uid") or self.layers.get("user"))
        if kind == "died" and walled:
            return _infra(job, f"{why} (twice)")
        if not self._canary_ok():
            return _infra(job, f"{why} (twice; the sandbox also failed a canary job)")
        status = "timeout" if kind == "late" else "error"
        detail = f"the program broke the sandbox worker twice ({why}); a canary job ran fine"
        return JobResult(job.tag, [StepOutcome(status, error=detail) for _ in job.steps])

    def _canary_ok(self) -> bool:
        """Run a trivial job on a fresh worker of its own (uid slot 255, never a pool worker's)."""
        try:
            w = _Worker(CANARY_SLOT, self.cfg, self.base)
        except Exception:  # noqa: BLE001 - a sandbox that cannot start a worker is broken
            return False
        try:
            steps = json.dumps([{"kind": "eval", "exprs": ["f()"], "code": "", "stdin": ""}])
            frame = {"id": 0, "program": "def f():\n    return 41 + 1\n", "steps": steps, "timeout": 5.0}
            os.set_blocking(w.proc.stdin.fileno(), True)
            wire.write_frame(w.proc.stdin.fileno(), frame)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ready, _, _ = select.select([w.proc.stdout], [], [], max(deadline - time.monotonic(), 0))
                if not ready:
                    break
                for reply in self._read(w):
                    steps_out = reply.get("steps")
                    return bool(steps_out) and steps_out[0][0] == "ok" and steps_out[0][1] == "[42]"
                if w.proc.poll() is not None:
                    break
            return False
        finally:
            w.kill()

    def _payload(self, i: int, job: Job) -> bytes:
        """The job frame. Steps travel as one JSON string: workers compile each distinct one once."""
        cached = self._steps_json.get(id(job.steps))
        if cached is None or cached[0] is not job.steps:
            steps = [{"kind": s.kind, "exprs": s.exprs, "code": s.code, "stdin": s.stdin} for s in job.steps]
            if len(self._steps_json) > 10_000:
                self._steps_json.clear()
            cached = self._steps_json[id(job.steps)] = (job.steps, json.dumps(steps, separators=(",", ":")))
        timeout = job.timeout if job.timeout is not None else self.cfg.timeout
        frame = {"id": i, "program": job.program, "steps": cached[1], "timeout": timeout}
        if job.segments is not None:
            frame["segments"] = list(job.segments)
        return wire.pack(frame)

    def _budget(self, job: Job) -> float:
        """Seconds a job may hold its worker: more than the supervisor's own cap for it (see
        `supervisor.JobBudget`), so the supervisor, not this, ends a program that takes too long."""
        timeout = job.timeout if job.timeout is not None else self.cfg.timeout
        wall = timeout * self.cfg.wall_factor + 0.5
        return (len(job.steps) + 2) * wall * 1.5 + 30.0

    @staticmethod
    def _want_write(sel: selectors.BaseSelector, w: _Worker) -> None:
        """Watch the worker's stdin for room exactly while a frame is only partly written."""
        if w.outbuf and not w.writing:
            sel.register(w.proc.stdin, selectors.EVENT_WRITE, w)
            w.writing = True
        elif not w.outbuf and w.writing:
            sel.unregister(w.proc.stdin)
            w.writing = False

    def _flush(self, w: _Worker) -> None:
        if not w.outbuf:
            return
        try:
            n = os.write(w.proc.stdin.fileno(), w.outbuf)
            del w.outbuf[:n]
        except BlockingIOError:
            pass
        except (BrokenPipeError, OSError):
            w.outbuf.clear()  # the worker is dead; the liveness check replaces it

    def _read(self, w: _Worker) -> list[dict]:
        try:
            data = os.read(w.proc.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            return []
        try:
            return [f for f in w.reader.feed(data) if isinstance(f, dict)]
        except wire.WireError:
            w.proc.kill()
            return []

    def _replace(self, w: _Worker) -> _Worker:
        w.kill()
        fresh = _Worker(w.index, self.cfg, self.base)
        self.workers[self.workers.index(w)] = fresh
        return fresh

    @staticmethod
    def _result(job: Job, reply: dict) -> JobResult:
        if "infra" in reply:
            return _infra(job, reply["infra"])
        steps = []
        for raw in reply.get("steps", []):
            if raw is None:
                steps.append(StepOutcome("not-run"))
                continue
            status, values, stdout, detail, seconds = raw
            outcome = StepOutcome(status, None, stdout, detail, float(seconds or 0.0))
            if status == "ok" and values is not None:
                try:
                    outcome.values = [wire.decode_value(v) for v in json.loads(values)]
                except (wire.WireError, ValueError, TypeError, RecursionError) as exc:
                    outcome = StepOutcome(
                        "error", None, None, f"undecodable return value: {exc}"[:300], outcome.duration
                    )
            steps.append(outcome)
        if len(steps) != len(job.steps):
            return _infra(job, "sandbox reply had the wrong number of steps")
        return JobResult(job.tag, steps, float(reply.get("duration", 0.0)))


def hand_over(
    results: list, on_result: Callable[[int, JobResult], None] | None, progress: Callable | None, i: int,
    result: JobResult,
) -> None:  # fmt: skip
    """A finished job's result to where a `run` call wants it: `on_result`, else its slot in `results`."""
    if on_result is not None:
        on_result(i, result)
    else:
        results[i] = result
    if progress:
        progress(1)


def _infra(job: Job, why: str) -> JobResult:
    return JobResult(job.tag, [StepOutcome("infrastructure-error", error=why) for _ in job.steps])
