"""The grading service: one thread owns a warm sandbox pool and runs batches from a bounded queue.

`Sandbox.run` is blocking and single-threaded, so exactly one thread calls it. Callers (HTTP handlers
on the event loop, or OpenRLHF's reward threads) `submit` a ticket: jobs plus a `judge(k, JobResult)`
that turns each raw result into what the caller wants (a `Result`, a SandboxFusion answer). The thread
takes every waiting ticket up to `batch` programs, runs them as one `Sandbox.run` call, judges each
job as it arrives and resolves a ticket as soon as its last job is in, not at the end of the batch.

Bounded: at most `capacity` programs are admitted (waiting or running) at once; past that `submit`
raises `QueueFull` with a Retry-After estimate, so a burst costs a 503, never memory. Every ticket has
a deadline: a caller stops waiting at it (`wait`/`wait_async` raise `DeadlineExceeded`), and a ticket
whose deadline passed, or whose caller went away, is dropped before it starts. A batch already in the
pool runs to its end (the pool cannot take jobs back); its size is bounded by `batch`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from unitrl.sandbox.jobs import Job, JobResult
from unitrl.serve.metrics import Metrics

log = logging.getLogger("unitrl.serve")


class QueueFull(Exception):
    """The queue holds `capacity` programs already; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int, queued: int, capacity: int):
        super().__init__(f"queue full: {queued} of {capacity} programs admitted; retry in {retry_after} s")
        self.retry_after = retry_after


class TooLarge(Exception):
    """One request holds more programs than the queue ever admits at once."""


class DeadlineExceeded(Exception):
    """The request's deadline passed before its programs were graded."""


class ServiceClosed(Exception):
    """The service is shutting down."""


@dataclass
class Ticket:
    jobs: list[Job]
    judge: Callable[[int, JobResult], Any]
    deadline: float  # time.monotonic() after which nobody waits for it
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    results: list[Any] = field(default_factory=list)
    left: int = 0

    def abandoned(self) -> bool:
        return self.future.done() or time.monotonic() > self.deadline

    def settle(self, value: Any = None, error: BaseException | None = None) -> None:
        """Resolve the future once; a caller that cancelled it (deadline, disconnect) is simply gone."""
        try:
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(value)
        except concurrent.futures.InvalidStateError:
            pass


def status_of(value: Any) -> str:
    """The verdict a judged value reports to the metrics: a Result's status, else the first step's."""
    if isinstance(value, tuple) and value:
        value = value[0]
    status = getattr(value, "status", None)
    if isinstance(status, str):
        return status
    steps = getattr(value, "steps", None)
    return steps[0].status if steps else "unknown"


class GradingService:
    """A warm pool behind a bounded queue; `start()` launches the thread that owns the pool."""

    def __init__(self, sandbox: Any, capacity: int = 4096, batch: int = 1024, metrics: Metrics | None = None):
        self.sandbox = sandbox
        self.capacity, self.batch = capacity, max(1, batch)
        self.metrics = metrics or Metrics()
        self._cond = threading.Condition()
        self._queue: deque[Ticket] = deque()
        self._waiting = 0  # programs in queued tickets
        self._running = 0  # programs of the current batch not finished yet
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="unitrl-sandbox", daemon=True)
        self.metrics.set_queue(0, 0, capacity)

    def start(self) -> GradingService:
        self._thread.start()
        return self

    # ------------------------------------------------------------------------------ callers' side

    def submit(
        self, jobs: Sequence[Job], judge: Callable[[int, JobResult], Any], deadline_s: float
    ) -> Ticket:
        """Admit a ticket or raise QueueFull / TooLarge / ServiceClosed. An empty ticket resolves at once."""
        ticket = Ticket(list(jobs), judge, time.monotonic() + deadline_s)
        ticket.results, ticket.left = [None] * len(ticket.jobs), len(ticket.jobs)
        if not ticket.jobs:
            ticket.settle([])
            return ticket
        if len(ticket.jobs) > self.capacity:
            raise TooLarge(f"{len(ticket.jobs)} programs in one request; this server admits {self.capacity}")
        with self._cond:
            if self._stopping:
                raise ServiceClosed("the server is shutting down")
            admitted = self._waiting + self._running
            if admitted + len(ticket.jobs) > self.capacity:
                raise QueueFull(self._retry_after(admitted), admitted, self.capacity)
            self._queue.append(ticket)
            self._waiting += len(ticket.jobs)
            self._publish()
            self._cond.notify()
        return ticket

    def wait(self, ticket: Ticket) -> list[Any]:
        """Block until the ticket is graded or its deadline passes (then DeadlineExceeded)."""
        try:
            return ticket.future.result(timeout=max(0.0, ticket.deadline - time.monotonic()))
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            # cancelled: the pool's thread dropped it at its deadline a moment before we timed out
            ticket.future.cancel()
            raise DeadlineExceeded("deadline passed before the programs were graded") from None

    async def wait_async(self, ticket: Ticket) -> list[Any]:
        """The same from a coroutine. Cancelling the awaiting task (a client that hung up) cancels the
        ticket too, so it is dropped if it has not started."""
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(ticket.future), max(0.0, ticket.deadline - time.monotonic())
            )
        except TimeoutError:
            ticket.future.cancel()
            raise DeadlineExceeded("deadline passed before the programs were graded") from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if ticket.future.cancelled() and task is not None and not task.cancelling():
                # the pool's thread dropped the ticket at its deadline just before wait_for timed out
                raise DeadlineExceeded("deadline passed before the programs were graded") from None
            raise

    def close(self, wait_s: float = 30.0) -> None:
        """Refuse new work, fail what is queued, let the running batch finish (up to `wait_s`), close
        the pool."""
        with self._cond:
            self._stopping = True
            dropped = list(self._queue)
            self._queue.clear()
            self._waiting = 0
            self._cond.notify_all()
        for t in dropped:
            t.settle(error=ServiceClosed("the server is shutting down"))
        if self._thread.is_alive():
            self._thread.join(wait_s)
        self.sandbox.close()

    def _retry_after(self, admitted: int) -> int:
        rate = self.metrics.programs_per_second()
        return int(min(60, max(1, math.ceil(admitted / rate) if rate > 0 else 5)))

    def _publish(self) -> None:
        self.metrics.set_queue(self._waiting, self._running, self.capacity)

    # ---------------------------------------------------------------------------- the pool's thread

    def _take(self) -> list[Ticket] | None:
        """The next batch: waiting tickets in order up to `batch` programs (at least one ticket);
        abandoned tickets are dropped on the way. None when stopping."""
        with self._cond:
            while True:
                while not self._queue and not self._stopping:
                    self._cond.wait(0.5)
                if self._stopping:
                    return None
                taken, size = [], 0
                while self._queue and (not taken or size + len(self._queue[0].jobs) <= self.batch):
                    t = self._queue.popleft()
                    self._waiting -= len(t.jobs)
                    if t.abandoned():
                        t.future.cancel()
                        continue
                    taken.append(t)
                    size += len(t.jobs)
                self._running = size
                self._publish()
                if taken:
                    return taken

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            self._run_batch(batch)

    def _run_batch(self, batch: list[Ticket]) -> None:
        owners = [(t, k) for t in batch for k in range(len(t.jobs))]
        jobs = [t.jobs[k] for t, k in owners]

        def on_result(i: int, raw: JobResult) -> None:
            t, k = owners[i]
            with self._cond:
                self._running -= 1
                self._publish()
            if t.future.done():  # its caller gave up while it ran
                self.metrics.graded(status_of(raw))
                return
            try:
                t.results[k] = t.judge(k, raw)
            except Exception as exc:  # noqa: BLE001 - a judging bug fails that request, not the server
                log.exception("judging a result failed")
                t.settle(error=exc)
                return
            self.metrics.graded(status_of(t.results[k]))
            t.left -= 1
            if t.left == 0:
                t.settle(t.results)

        try:
            self.sandbox.run(jobs, on_result=on_result)
        except Exception as exc:  # noqa: BLE001 - the pool itself failed: every caller hears it
            log.exception("the sandbox pool failed a batch")
            for t in batch:
                t.settle(error=RuntimeError(f"sandbox failure: {exc}"))
        finally:
            with self._cond:
                self._running = 0
                self._publish()


def service_from_env() -> tuple[GradingService, float]:
    """The warm pool of the in-process reward paths (OpenRLHF's `reward_func` file, verl's reward
    function), which get no settings but the environment: a started service on a local pool with
    `UNITRL_WORKERS` workers (0 = one per core) and `UNITRL_TIMEOUT` CPU seconds per test (3.0), and the
    seconds a call may wait, `UNITRL_DEADLINE` (600)."""
    from unitrl.sandbox.pool import Sandbox, SandboxConfig

    sandbox = Sandbox(
        SandboxConfig(
            workers=int(os.environ.get("UNITRL_WORKERS", "0")),
            timeout=float(os.environ.get("UNITRL_TIMEOUT", "3.0")),
        )
    )
    return GradingService(sandbox, capacity=1 << 20).start(), float(os.environ.get("UNITRL_DEADLINE", "600"))
