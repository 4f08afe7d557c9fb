"""The sandbox spread over a Ray cluster: one warm local `Sandbox` per node, inside a Ray actor.

`RaySandbox(config, address)` joins a running cluster (`ray start --head` / `ray start --address`),
places one actor per alive node (hard node affinity), each holding a `Sandbox` with as many workers as
the node has CPUs (or `config.workers`), and has the same `run(jobs, progress, on_result)` as `Sandbox`,
so `grade_programs` and `unitrl exec` use it unchanged. Jobs travel in batches, several queued per actor
so that a node never waits on a round trip. Results are keyed by job index and each index is delivered
once: a batch that runs twice (a retried task, a requeue after a node loss) can neither duplicate nor
lose a result. A killed actor is restarted by Ray on its node and its queued batches are retried there
(`max_restarts`, `max_task_retries`); a node that dies is reported (`summary_lines`) and its unfinished
batches go to the other nodes, as do jobs a node answers with an infrastructure error. A job nothing
is left to run (every node gone, or BATCH_ATTEMPTS failed tries) comes back as `infrastructure-error`,
never as a failed program. `make_sandbox(config, address)` picks this or the local pool.
"""

from __future__ import annotations

import collections
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from unitrl.errors import UserError
from unitrl.sandbox.jobs import Job, JobResult, StepOutcome
from unitrl.sandbox.pool import REQUIRED_LAYERS, Sandbox, SandboxConfig, hand_over

ACTOR_RESTARTS = 4  # a killed actor comes back this many times on its node before it counts as lost
TASK_RETRIES = 4  # a batch queued on an actor that died is rerun there after its restart
BATCH_ATTEMPTS = 3  # a batch whose actor was lost this many times comes back as infrastructure-error
QUEUED_BATCHES = 3  # batches shipped to an actor at once: one runs while the next ones wait there
START_TIMEOUT = 180.0  # seconds for every actor to start its local pool
NODE_POLL = 1.0  # seconds between checks that the actors' nodes are still alive


RAY_HELP = "spread programs over a Ray cluster: `--ray` alone or `auto` joins the local one, else its ADDRESS"


def ray_field() -> Any:
    """The `ray` option of every command that grades programs (exec, eval, synth, rl)."""
    return field(default="", metadata={"help": RAY_HELP})


def ray_option_value_optional(command: Any) -> None:
    """`--ray` given without a value means `--ray auto` (the cluster `ray start` made on this machine)."""
    option = next(p for p in command.params if p.name == "ray")
    option._flag_needs_value = True
    option.flag_value = "auto"


def make_sandbox(config: SandboxConfig, ray_address: str = "") -> Sandbox | RaySandbox:
    """The local pool, or with a Ray address ("auto" or host:port) the pool spread over that cluster."""
    return RaySandbox(config, ray_address) if ray_address else Sandbox(config)


class NodeSandbox:
    """The actor's body: a warm local pool on one node. Its batches return (actor pid, [(index, result)])
    so the caller sees a restart (a new pid) and files each result under its job's index."""

    def __init__(self, config: SandboxConfig):
        self.sandbox = Sandbox(config)

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "layers": dict(self.sandbox.layers), "workers": self.sandbox.n}

    def run(self, batch: list[tuple[int, Job]]) -> tuple[int, list[tuple[int, JobResult]]]:
        results = self.sandbox.run([job for _, job in batch])
        return os.getpid(), [(i, r) for (i, _), r in zip(batch, results)]


@dataclass
class _Actor:
    handle: Any
    node: str  # Ray node id
    workers: int = 1
    pid: int = 0
    lost: str = ""  # why it no longer takes batches
    refs: set = field(default_factory=set)  # batches in flight on it (ObjectRefs)


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'unitrl[ray]'", field="ray") from None
    return ray


class RaySandbox:
    """A `Sandbox` look-alike over a Ray cluster. Use as a context manager."""

    def __init__(self, config: SandboxConfig | None = None, address: str = "auto"):
        ray = _ray()
        self.cfg = config or SandboxConfig()
        self.address = address
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            _check_reachable(address)
            try:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserError(f"cannot join the Ray cluster at {address!r}: {exc}", field="ray") from None
        self.actors: list[_Actor] = []
        self._closed = False
        self.restarts = 0  # actor restarts seen (a batch answered by a new pid)
        self.events: list[str] = []  # nodes and actors lost, for the summary
        self.rerun: collections.Counter = collections.Counter()  # why -> jobs sent to another actor
        try:
            self._start_actors(ray)
        except BaseException:
            self.close()
            raise
        infos = self._infos
        self.n = sum(a.workers for a in self.actors)
        names = sorted({k for info in infos for k in info["layers"]})
        # a layer counts as active only if every node has it; --require-isolation is judged here, over all
        self.layers = {k: all(info["layers"].get(k) for info in infos) for k in names}
        missing = [k for k in REQUIRED_LAYERS if not self.layers.get(k)]
        if self.cfg.require_isolation and missing:
            self.close()
            raise UserError(
                f"--require-isolation: these isolation layers are unavailable on some Ray node: "
                f"{', '.join(missing)}"
            )

    def _start_actors(self, ray) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(NodeSandbox)
        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        if not nodes:
            raise UserError(f"the Ray cluster at {self.address!r} has no alive node with CPUs", field="ray")
        for node in nodes:
            workers = self.cfg.workers or max(1, int(node["Resources"]["CPU"]))
            handle = remote.options(
                num_cpus=0,  # the pool's workers are the node's CPUs; the actor itself only waits
                max_restarts=ACTOR_RESTARTS,
                max_task_retries=TASK_RETRIES,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            ).remote(replace(self.cfg, workers=workers, child_uid=0, require_isolation=False))
            self.actors.append(_Actor(handle, node["NodeID"], workers))
        refs = [a.handle.info.remote() for a in self.actors]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=START_TIMEOUT)
        self._infos = []
        for actor, ref in zip(self.actors, refs):
            try:
                info = ray.get(ref, timeout=0) if ref in ready else None
            except ray.exceptions.RayError as exc:
                info, actor.lost = None, f"failed to start: {str(exc).splitlines()[0][:200]}"
            if info is None:
                actor.lost = actor.lost or f"did not start within {START_TIMEOUT:.0f} s"
                self.events.append(f"node {actor.node[:12]}: sandbox actor {actor.lost}")
                ray.kill(actor.handle, no_restart=True)
                continue
            actor.pid, actor.workers = info["pid"], info["workers"]
            self._infos.append(info)
        self.actors = [a for a in self.actors if not a.lost]
        if not self.actors:
            raise UserError(
                f"no sandbox could start on the Ray cluster: {'; '.join(self.events)}", field="ray"
            )

    def __enter__(self) -> RaySandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        ray = _ray()
        if self._closed:
            return
        self._closed = True
        for actor in self.actors:
            try:
                ray.kill(actor.handle, no_restart=True)
            except Exception:  # noqa: BLE001 - an actor already gone needs no killing
                pass
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()

    def summary_lines(self) -> list[str]:
        """What the cluster did: nodes used, actor restarts, nodes or actors lost and jobs rerun."""
        alive = [a for a in self.actors if not a.lost]
        lines = [
            f"ray: {len(self.actors)} node(s), {self.n} sandbox workers; {len(alive)} still up at the end"
        ]
        if self.restarts:
            lines.append(f"ray: {self.restarts} sandbox actor restart(s); their batches were retried")
        lines += [f"ray: {e}" for e in self.events]
        if self.rerun:
            why = ", ".join(f"{n} {reason}" for reason, n in self.rerun.most_common())
            lines.append(f"ray: {sum(self.rerun.values())} job(s) sent again ({why})")
        return lines

    # ------------------------------------------------------------------------------------------ run

    def _batch_size(self, n: int) -> int:
        workers = max(a.workers for a in self.actors)
        return max(1, min(16 * workers, math.ceil(n / (4 * len(self.actors)))))

    def run(
        self,
        jobs: Iterable[Job],
        progress: Callable[[int], None] | None = None,
        on_result: Callable[[int, JobResult], None] | None = None,
    ) -> list[JobResult | None]:
        """As `Sandbox.run`: results in input order, or handed to `on_result(index, result)` once each."""
        ray = _ray()
        state = _Run(self, list(jobs), progress, on_result)
        last_poll = 0.0
        while state.left:
            if time.monotonic() - last_poll > NODE_POLL:
                last_poll = time.monotonic()
                alive_nodes = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
                for actor in self.actors:
                    if not actor.lost and actor.node not in alive_nodes:
                        state.lose(actor, "node died")
            alive = [a for a in self.actors if not a.lost]
            if not alive:
                break
            state.submit(alive)
            if state.flight:
                ready, _ = ray.wait(list(state.flight), num_returns=1, timeout=NODE_POLL)
                for ref in ready:
                    state.collect(ray, ref)
        for i in range(len(state.jobs)):
            if not state.done[i]:
                state.deliver(i, _infra(state.jobs[i], "no Ray node was left to run it"))
        return state.results


class _Run:
    """One `RaySandbox.run`: the queue of batches, the batches in flight, and which indices are done."""

    def __init__(self, sb: RaySandbox, jobs: list[Job], progress, on_result):
        self.sb, self.jobs, self.progress, self.on_result = sb, jobs, progress, on_result
        self.results: list[JobResult | None] = [None] * len(jobs)
        self.done = bytearray(len(jobs))
        self.left = len(jobs)
        size = sb._batch_size(len(jobs)) if jobs else 1
        # (indices, attempts so far, an actor to avoid: the one it just failed on)
        self.queue: collections.deque = collections.deque(
            (list(range(s, min(s + size, len(jobs)))), 0, None) for s in range(0, len(jobs), size)
        )
        self.flight: dict[Any, tuple[_Actor, list[int], int]] = {}  # ref -> (actor, indices, attempts)

    def deliver(self, i: int, result: JobResult) -> None:
        if self.done[i]:
            return  # a batch that ran twice: the first answer stands
        self.done[i], self.left = 1, self.left - 1
        result.tag = self.jobs[i].tag
        hand_over(self.results, self.on_result, self.progress, i, result)

    def requeue(self, indices: list[int], attempts: int, why: str, avoid: _Actor | None) -> None:
        """Send the unfinished jobs again, elsewhere if possible; past BATCH_ATTEMPTS they are ours."""
        todo = [i for i in indices if not self.done[i]]
        if attempts + 1 >= BATCH_ATTEMPTS:
            for i in todo:
                self.deliver(i, _infra(self.jobs[i], f"{why}; given up after {attempts + 1} attempts"))
        elif todo:
            self.sb.rerun[why.split(":")[0].split(" (")[0]] += len(todo)
            self.queue.appendleft((todo, attempts + 1, avoid))

    def lose(self, actor: _Actor, why: str) -> None:
        actor.lost = why
        self.sb.events.append(f"node {actor.node[:12]}: {why}; its unfinished jobs went to other nodes")
        for ref in list(actor.refs):
            _, indices, attempts = self.flight.pop(ref)
            self.requeue(indices, attempts, why, actor)
        actor.refs.clear()

    def submit(self, alive: list[_Actor]) -> None:
        """Top the actors up to QUEUED_BATCHES batches each, least loaded first."""
        while self.queue:
            indices, attempts, avoid = self.queue[0]
            choices = [a for a in alive if a is not avoid] or alive
            actor = min(choices, key=lambda a: len(a.refs))
            if len(actor.refs) >= QUEUED_BATCHES:
                return
            self.queue.popleft()
            batch = [(i, replace(self.jobs[i], tag=None)) for i in indices]  # tags stay here
            ref = actor.handle.run.remote(batch)
            actor.refs.add(ref)
            self.flight[ref] = (actor, indices, attempts)

    def collect(self, ray, ref: Any) -> None:
        """A batch came back: deliver its results; its infrastructure errors (a node's sandbox failing
        under it) and a batch Ray could not run are sent to another actor."""
        actor, indices, attempts = self.flight.pop(ref)
        actor.refs.discard(ref)
        try:
            pid, pairs = ray.get(ref)
        except ray.exceptions.ActorDiedError as exc:
            if not actor.lost:
                self.lose(actor, f"sandbox actor died for good ({_first_line(exc)})")
            self.requeue(indices, attempts, "its Ray actor died", actor)
            return
        except ray.exceptions.RayError as exc:
            self.requeue(indices, attempts, f"Ray error: {_first_line(exc)}", actor)
            return
        if pid != actor.pid:
            self.sb.restarts += 1
            actor.pid = pid
        broken = []
        for i, result in pairs:
            infra = any(step.status == "infrastructure-error" for step in result.steps)
            if infra and attempts + 1 < BATCH_ATTEMPTS:
                broken.append(i)
            else:
                self.deliver(i, result)
        if broken:
            self.requeue(broken, attempts, "infrastructure error on its node", actor)


def _check_reachable(address: str) -> None:
    """Refuse at once a host:port nothing listens on (ray.init would retry it for minutes)."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", a ray:// client address: ray.init reports those itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()  # [::1]:6379 too
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address!r}: {exc}", field="ray") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _infra(job: Job, why: str) -> JobResult:
    return JobResult(job.tag, [StepOutcome("infrastructure-error", error=why) for _ in job.steps])
