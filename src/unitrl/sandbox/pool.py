"""The trusted parent's side of the sandbox: a pool of warm workers and the job dispatcher.

`Sandbox(config)` starts `workers` worker processes (each a supervisor plus its zygote, see `zygote`),
each with a scrubbed environment and its own private uid when run as root. `run(jobs)` streams jobs to
them over pipes with a single-threaded selector loop (two jobs in flight per worker, non-blocking writes,
so neither side can deadlock on a full pipe) and returns `JobResult`s in input order. A worker that dies
or stops answering is replaced; the jobs it held are retried once on a fresh worker and, if that fails
too, reported as `infrastructure-error`, never as a failed test.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from unitrl.errors import UserError
from unitrl.sandbox import wire
from unitrl.sandbox.jobs import Job, JobResult, StepOutcome

REQUIRED_LAYERS = ("network", "mount", "pid")
_INSTANCES = itertools.count()


@dataclass
class SandboxConfig:
    workers: int = 0  # 0 = one per CPU core
    timeout: float = 3.0  # seconds of CPU per step (wall limit = timeout * wall_factor + 0.5)
    wall_factor: float = 3.0
    memory_mb: int = 1024  # RLIMIT_AS of each child
    output_bytes: int = 4 * 1024 * 1024  # captured stdout+stderr per child before it is killed
    max_value_bytes: int = 16 * 1024 * 1024  # largest result frame accepted from a child
    file_mb: int = 16  # RLIMIT_FSIZE
    open_files: int = 64
    processes: int = 64  # RLIMIT_NPROC
    tmp_mb: int = 64  # size of the private tmpfs /tmp
    isolation: str = "auto"  # auto | none
    require_isolation: bool = False  # refuse to run unless the network, mount and PID namespaces are active
    main_name: str = "__unitrl__"  # __name__ of programs in assert mode (stdio programs run as __main__)
    preimport: list[str] = field(default_factory=list)
    ro_paths: list[str] = field(default_factory=list)  # extra read-only paths visible inside the sandbox
    child_uid: int = 0  # base uid for children when run as root; 0 = derived from our PID (see Sandbox)


class _Worker:
    def __init__(self, index: int, cfg: SandboxConfig, base: str):
        self.index = index
        zcfg = asdict(cfg)
        zcfg["workdir_base"] = base
        zcfg["child_uid"] = cfg.child_uid + index
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
            [sys.executable, "-s", "-c", "from unitrl.sandbox.zygote import main; main()", json.dumps(zcfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            close_fds=True,
        )
        self.reader = wire.FrameReader()
        hello = wire.read_frame_blocking(self.proc.stdout.fileno())
        if not isinstance(hello, dict) or "hello" not in hello:
            self.kill()
            raise RuntimeError("sandbox worker failed to start")
        self.layers: dict = hello["hello"]
        os.set_blocking(self.proc.stdin.fileno(), False)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.outbuf = bytearray()
        self.writing = False  # stdin registered with the selector for EVENT_WRITE
        self.inflight: collections.OrderedDict[int, float] = collections.OrderedDict()  # job id -> deadline

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


class Sandbox:
    """A pool of isolated workers. Use as a context manager; reusable across many `run` calls."""

    def __init__(self, config: SandboxConfig | None = None):
        self.cfg = config or SandboxConfig()
        self.n = self.cfg.workers or os.cpu_count() or 1
        if not self.cfg.child_uid:
            # A uid range of our own, so that killing "every process of uid X" after a program can never
            # touch another sandbox's children on the same machine.
            from dataclasses import replace

            slot = (os.getpid() % 1_000_000) * 16 + next(_INSTANCES) % 16  # several sandboxes per process too
            self.cfg = replace(self.cfg, child_uid=1_000_000 + slot * 256)
        if self.n > 256:
            raise UserError("at most 256 sandbox workers", field="workers")
        # Only created (by a worker) when no mount namespace gives it a private tmpfs; removed on close.
        self.base = os.path.join(tempfile.gettempdir(), f"unitrl-sandbox-{os.getpid()}-{id(self) % 100000}")
        self.workers: list[_Worker] = []
        self._steps_json: dict[int, tuple[list, str]] = {}  # id(job.steps) -> (the list, its JSON)
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
        shutil.rmtree(self.base, ignore_errors=True)

    # ------------------------------------------------------------------------------------------ run

    def run(self, jobs: Iterable[Job], progress: Callable[[int], None] | None = None) -> list[JobResult]:
        """Run every job; results in input order. `progress(k)` is called as k more jobs finish."""
        jobs = list(jobs)
        results: list[JobResult | None] = [None] * len(jobs)
        pending = collections.deque(range(len(jobs)))
        attempts = [0] * len(jobs)
        payloads: dict[int, bytes] = {}
        sel = selectors.DefaultSelector()
        for w in self.workers:
            sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        done = 0
        try:
            while done < len(jobs):
                for w in self.workers:
                    while pending and len(w.inflight) < 2:
                        i = pending.popleft()
                        if i not in payloads:
                            payloads[i] = self._payload(i, jobs[i])
                        w.outbuf += payloads[i]
                        w.inflight[i] = time.monotonic() + self._budget(jobs[i])
                    self._flush(w)
                    self._want_write(sel, w)
                for key, _ in sel.select(timeout=0.5):
                    w = key.data
                    if key.fileobj is w.proc.stdin:  # room in the pipe for the rest of a large job
                        self._flush(w)
                        self._want_write(sel, w)
                        continue
                    for reply in self._read(w):
                        i = reply.get("id")
                        if not isinstance(i, int) or i not in w.inflight:
                            continue
                        del w.inflight[i]
                        results[i] = self._result(jobs[i], reply)
                        payloads.pop(i, None)
                        done += 1
                        if progress:
                            progress(1)
                for w in list(self.workers):
                    dead = w.proc.poll() is not None
                    late = any(t < time.monotonic() for t in w.inflight.values())
                    if dead or late:
                        for i in w.inflight:
                            attempts[i] += 1
                            if attempts[i] >= 2:
                                why = "sandbox worker died" if dead else "sandbox worker stopped answering"
                                results[i] = _infra(jobs[i], why)
                                done += 1
                                if progress:
                                    progress(1)
                            else:
                                pending.appendleft(i)
                        sel.unregister(w.proc.stdout)
                        w.outbuf.clear()
                        self._want_write(sel, w)
                        fresh = self._replace(w)
                        sel.register(fresh.proc.stdout, selectors.EVENT_READ, fresh)
        finally:
            sel.close()
        return results  # type: ignore[return-value]

    def _payload(self, i: int, job: Job) -> bytes:
        """The job frame. Steps travel as one JSON string: workers compile each distinct one once."""
        cached = self._steps_json.get(id(job.steps))
        if cached is None or cached[0] is not job.steps:
            steps = [{"kind": s.kind, "exprs": s.exprs, "code": s.code, "stdin": s.stdin} for s in job.steps]
            if len(self._steps_json) > 10_000:
                self._steps_json.clear()
            cached = self._steps_json[id(job.steps)] = (job.steps, json.dumps(steps, separators=(",", ":")))
        timeout = job.timeout if job.timeout is not None else self.cfg.timeout
        return wire.pack({"id": i, "program": job.program, "steps": cached[1], "timeout": timeout})

    def _budget(self, job: Job) -> float:
        timeout = job.timeout if job.timeout is not None else self.cfg.timeout
        return (len(job.steps) + 1) * (timeout * self.cfg.wall_factor + 1.0) + 10.0

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
                    outcome.values = [wire.decode_value(v) for v in values]
                except (wire.WireError, ValueError, TypeError) as exc:
                    outcome = StepOutcome(
                        "error", None, None, f"undecodable return value: {exc}"[:300], outcome.duration
                    )
            steps.append(outcome)
        if len(steps) != len(job.steps):
            return _infra(job, "sandbox reply had the wrong number of steps")
        return JobResult(job.tag, steps, float(reply.get("duration", 0.0)))


def _infra(job: Job, why: str) -> JobResult:
    return JobResult(job.tag, [StepOutcome("infrastructure-error", error=why) for _ in job.steps])
