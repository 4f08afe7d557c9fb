"""A real `unitrl serve` process on 127.0.0.1 (a free port it picks itself), started per test module.

`serve(*args, env=...)` starts `python -m unitrl serve --port 0 ARGS`, reads the URL from its first
stderr line and hands back a `Server`. Teardown stops it with SIGTERM and checks that it exited
cleanly and that every process it had started (the sandbox workers and their children) is gone.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from procs import processes, stat_fields

START_TIMEOUT = 60.0


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (by parent links in /proc)."""
    children: dict[int, list[int]] = {}
    for p, fields in processes().items():
        children.setdefault(int(fields[1]), []).append(p)
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    stderr: list[str] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)  # processes it started, recorded while it ran

    def remember_children(self) -> None:
        self.seen |= descendants(self.proc.pid)

    def stop(self, timeout: float = 30.0) -> int:
        self.remember_children()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("unitrl serve did not stop within 30 s of SIGTERM") from None
        return code


def _drain(server: Server) -> None:
    for line in server.proc.stderr:
        server.stderr.append(line.rstrip("\n"))


def start_server(*args: str, env: dict | None = None, expect_start: bool = True) -> Server:
    cmd = [sys.executable, "-m", "unitrl", "serve", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})}
    )
    server = Server(proc, "")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        server.stderr.append(line.rstrip("\n"))
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            server.url = match.group(1)
            server.remember_children()
            # keep draining stderr so a chatty server never blocks on a full pipe
            threading.Thread(target=_drain, args=(server,), daemon=True).start()
            return server
    if expect_start:
        server.stop()
        raise AssertionError("unitrl serve did not start:\n" + "\n".join(server.stderr))
    return server


def stop_and_check(server: Server) -> None:
    """SIGTERM, a clean exit, and nothing it started left running."""
    code = server.stop()
    assert code == 0, "\n".join(server.stderr)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in server.seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in server.seen if alive(p)], "processes left behind by unitrl serve"


@pytest.fixture(scope="module")
def serve() -> Iterator:
    started: list[Server] = []

    def factory(*args: str, env: dict | None = None) -> Server:
        server = start_server(*args, env=env)
        started.append(server)
        return server

    yield factory
    for server in started:  # stop them all first: a failed check must not leave another one running
        try:
            server.stop()
        except AssertionError:
            pass  # it was killed; stop_and_check reports it below
    for server in started:
        stop_and_check(server)
