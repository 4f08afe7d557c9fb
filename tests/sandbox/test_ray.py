"""The sandbox over a real local Ray cluster: a head and a second node process started here, in a temp dir.

Verdicts must equal the local pool's on the same HumanEval programs (canonical and known-wrong), through
`unitrl exec --ray ADDRESS` end to end; an actor killed mid-run (SIGKILL of its process: Ray restarts it
and retries its batches) must lose and duplicate nothing; a node that dies for good is reported and its
jobs are rerun elsewhere; with nothing left to run them, jobs come back as infrastructure errors, never
as failed programs.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from procs import children, processes  # noqa: E402

from unitrl.eval.importers import load_humaneval  # noqa: E402
from unitrl.eval.wrong import canonical_samples, wrong_samples  # noqa: E402
from unitrl.records import Problem, write_records  # noqa: E402
from unitrl.sandbox.grade import build_job, judge_job  # noqa: E402
from unitrl.sandbox.pool import Sandbox, SandboxConfig  # noqa: E402
from unitrl.sandbox.ray_pool import RaySandbox  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
# Quick node-death detection (the defaults take ~15 s), small object stores.
HEAD_CONFIG = (
    '{"health_check_period_ms":500,"health_check_failure_threshold":3,"health_check_initial_delay_ms":500}'
)
STORE = "--object-store-memory=80000000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """A `ray start --block` in a session of its own: every process of that node keeps the session id,
    so the node can be killed as a whole (and only it)."""
    cmd = [RAY, "start", "--block", "--num-cpus=1", STORE, "--disable-usage-stats", *args]
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, env=ENV, start_new_session=True, stdout=fh, stderr=subprocess.STDOUT)


def _kill_session(sid: int) -> None:
    """SIGKILL every process whose session is `sid` (a node started by `_start`)."""
    for pid, fields in processes().items():
        if int(fields[3]) == sid:  # state, ppid, pgrp, session
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive_nodes() -> int:
    return sum(bool(n["Alive"]) for n in ray.nodes())


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen] = []

    def start_head(self) -> None:
        head = _start(
            ["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.root}",
             f"--system-config={HEAD_CONFIG}"],
            self.root.parent / "head.log",
        )  # fmt: skip
        self.nodes.append(head)

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        _wait(listening, 60, "the Ray head did not start")

    def add_node(self) -> subprocess.Popen:
        node = _start([f"--address={self.address}"], self.root.parent / f"node{len(self.nodes)}.log")
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            _kill_session(node.pid)
            node.wait()


@pytest.fixture(scope="module")
def cluster():
    tmp = Path(tempfile.mkdtemp(prefix="unitrl-ray-"))
    c = Cluster(tmp / "ray")
    try:
        c.start_head()
        c.add_node()
        ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
        _wait(lambda: _alive_nodes() == 2, 60, "the second Ray node did not join")
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def humaneval():
    """(problems, samples): the canonical and two known-wrong programs of 100 HumanEval problems."""
    problems = load_humaneval()[:100]
    return problems, canonical_samples(problems) + wrong_samples(problems, per_task=2)


def _items(problems, samples) -> list:
    by_id = {p.task_id: p for p in problems}
    return [(by_id[s.task_id], s.program(by_id[s.task_id]), s.sample_id) for s in samples]


def _verdict(r) -> tuple:
    return (r.task_id, str(r.sample_id), r.status, r.passed, tuple(t.status for t in r.tests))


@pytest.fixture(scope="module")
def local_verdicts(humaneval):
    items = _items(*humaneval)
    with Sandbox(SandboxConfig(workers=2)) as sb:
        results = [None] * len(items)

        def judge(i, res):
            results[i] = judge_job(items[i][0], res, items[i][2])

        sb.run([build_job(p, prog, tag=i) for i, (p, prog, _) in enumerate(items)], on_result=judge)
    return [_verdict(r) for r in results]


def _run_counted(sb, items, during=None):
    """Run items on `sb`; returns (verdicts in order, how many times each index was delivered)."""
    jobs = [build_job(p, prog, tag=i) for i, (p, prog, _) in enumerate(items)]
    delivered = collections.Counter()
    verdicts = [None] * len(items)

    def on_result(i, res):
        delivered[i] += 1
        assert res.tag == i
        verdicts[i] = _verdict(judge_job(items[i][0], res, items[i][2]))
        if during:
            during(sum(delivered.values()))

    sb.run(jobs, on_result=on_result)
    return verdicts, delivered


def test_exec_on_ray_gives_local_verdicts(cluster, humaneval, tmp_path):
    problems, samples = humaneval
    write_records(tmp_path / "problems.jsonl", problems)
    write_records(tmp_path / "samples.jsonl", samples)
    outputs = {}
    for name, extra in (("local", ["--workers", "2"]), ("ray", ["--ray", cluster.address])):
        out = tmp_path / f"{name}.jsonl"
        cmd = [sys.executable, "-m", "unitrl", "exec", "--problems", str(tmp_path / "problems.jsonl"),
               "--samples", str(tmp_path / "samples.jsonl"), "--out", str(out), "--no-plot", *extra]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs[name] = [json.loads(line) for line in out.read_text().splitlines()]
        if name == "ray":
            assert "ray: 2 node(s)" in proc.stderr
    assert len(outputs["ray"]) == len(samples) >= 300
    strip = [{k: v for k, v in r.items() if k != "duration"} for r in outputs["local"]]
    for row in strip:
        for t in row["tests"]:
            t.pop("duration", None)
    ray_rows = [{k: v for k, v in r.items() if k != "duration"} for r in outputs["ray"]]
    for row in ray_rows:
        for t in row["tests"]:
            t.pop("duration", None)
    assert ray_rows == strip
    assert {r["status"] for r in ray_rows} >= {"pass", "fail"}


def test_killed_actor_loses_and_duplicates_nothing(cluster, humaneval, local_verdicts):
    items = _items(*humaneval)
    killed = []
    with Sandbox(SandboxConfig(workers=1)) as local:
        local_layers = dict(local.layers)
    with RaySandbox(SandboxConfig(), cluster.address) as sb:
        assert len(sb.actors) == 2
        assert sb.layers == local_layers  # the same isolation on every node as on this machine
        victim = sb.actors[1]

        def kill_once(n_done):
            if not killed and n_done >= 30:
                killed.append(victim.pid)
                orphans.extend(children(victim.pid))  # its sandbox workers
                os.kill(victim.pid, signal.SIGKILL)  # the actor's process, mid-run

        orphans: list[int] = []

        verdicts, delivered = _run_counted(sb, items, kill_once)
        restarts = sb.restarts
        lines = sb.summary_lines()
    assert killed and orphans
    # the dead actor's sandbox workers see their pipe close and exit: nothing is left behind
    _wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in orphans), 30, "orphaned workers")
    assert restarts >= 1, lines
    assert set(delivered.values()) == {1} and len(delivered) == len(items)
    assert verdicts == local_verdicts
    keys = [(v[0], v[1]) for v in verdicts]
    assert len(set(keys)) == len(keys)


def test_dead_node_is_reported_and_its_jobs_rerun(cluster, humaneval, local_verdicts):
    extra = cluster.add_node()
    _wait(lambda: _alive_nodes() == 3, 60, "the third Ray node did not join")
    items = _items(*humaneval)
    with RaySandbox(SandboxConfig(), cluster.address) as sb:
        assert len(sb.actors) == 3
        killed = []

        def kill_node(n_done):
            if not killed and n_done >= 30:
                killed.append(extra.pid)
                _kill_session(extra.pid)  # raylet, its workers and the actor: the node is gone
                # the run goes on while Ray notices (about 1.5 s here), so the loss is seen mid-run
                _wait(lambda: _alive_nodes() == 2, 30, "Ray did not notice the dead node")

        verdicts, delivered = _run_counted(sb, items, kill_node)
        lines = sb.summary_lines()
    assert killed
    assert any("node died" in line for line in lines), lines
    assert any("sent again" in line for line in lines), lines
    assert set(delivered.values()) == {1} and len(delivered) == len(items)
    assert verdicts == local_verdicts  # nothing scored as a failed program, nothing an infra error


def test_jobs_nothing_can_run_are_infrastructure_errors(cluster, humaneval, local_verdicts):
    items = _items(*humaneval)[:120]
    with RaySandbox(SandboxConfig(), cluster.address) as sb:
        actors = list(sb.actors)

        def kill_all(n_done):
            if n_done == 10:
                for actor in actors:
                    ray.kill(actor.handle, no_restart=True)

        verdicts, delivered = _run_counted(sb, items, kill_all)
    assert set(delivered.values()) == {1} and len(delivered) == len(items)
    infra = [v for v in verdicts if v[2] == "infrastructure-error"]
    assert infra, "killing every actor must leave jobs unrun"
    for got, want in zip(verdicts, local_verdicts):
        assert got == want or got[2] == "infrastructure-error"


def test_eval_on_ray(cluster, humaneval, tmp_path):
    problems, samples = humaneval
    write_records(tmp_path / "problems.jsonl", problems)
    write_records(tmp_path / "samples.jsonl", samples[:40])
    cmd = [sys.executable, "-m", "unitrl", "eval", "--problems", str(tmp_path / "problems.jsonl"),
           "--samples", str(tmp_path / "samples.jsonl"), "--out-dir", str(tmp_path / "run"), "--k", "1",
           "--ray", cluster.address]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ray: 2 node(s)" in proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["pass_at_k"]["pass@1"] == 1.0  # the first 40 samples are canonical solutions


def test_unreachable_address_is_a_one_line_error(tmp_path):
    with socket.socket() as s:  # a port bound but not listening: nothing answers there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        write_records(tmp_path / "p.jsonl", load_humaneval()[:1])
        write_records(tmp_path / "s.jsonl", canonical_samples(load_humaneval()[:1]))
        cmd = [sys.executable, "-m", "unitrl", "exec", "--problems", str(tmp_path / "p.jsonl"),
               "--samples", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "r.jsonl"),
               "--ray", f"127.0.0.1:{port}"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ENV)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: field 'ray': cannot reach the Ray cluster at '127.0.0.1:{port}': [Errno 111] Connection refused"
    ]


def test_synth_on_ray_writes_the_local_suites(cluster, tmp_path):
    """Test synthesis (input search, reruns, mutants) on the cluster gives the suites it gives locally."""
    from unitrl.records import read_problems
    from unitrl.synth.cli import SynthConfig, run_synth

    hidden = [
        Problem(p.task_id, p.prompt, p.entry_point, [], reference=p.reference) for p in load_humaneval()[:6]
    ]
    write_records(tmp_path / "p.jsonl", hidden)
    suites = {}
    for where in ("", cluster.address):
        out = tmp_path / f"synth{bool(where)}.jsonl"
        run_synth(SynthConfig(problems=str(tmp_path / "p.jsonl"), out=str(out), decontam="off", ray=where,
                              keep_weak=True, keep_short=True, mutants=4))  # fmt: skip
        suites[where] = {p.task_id: p.tests for p in read_problems(out)}
    assert suites[""] and suites[""] == suites[cluster.address]


@pytest.mark.parametrize("command", ["exec", "eval", "synth", "rl"])
def test_ray_flag_alone_means_auto(command):
    from unitrl.eval.cli import eval_command
    from unitrl.rl.cli import rl_command
    from unitrl.sandbox.cli import exec_command
    from unitrl.synth.cli import synth_command

    cmd = {"exec": exec_command, "eval": eval_command, "synth": synth_command, "rl": rl_command}[command]
    opt = "--samples" if command in ("exec", "eval") else "--out"
    parse = lambda *args: cmd.make_context(command, list(args)).params["ray"]  # noqa: E731
    assert parse("--ray", opt, "x.jsonl") == "auto"
    assert parse(opt, "x.jsonl", "--ray") == "auto"
    assert parse("--ray", "10.0.0.1:6379", opt, "x.jsonl") == "10.0.0.1:6379"
    assert parse(opt, "x.jsonl") is None  # not given: the config's default ("", local) stands
