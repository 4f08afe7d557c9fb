"""The non-root path: the sandbox run by an ordinary user, isolated through a user namespace.

As root, `unshare --user --map-user=1000` gives a process that is uid 1000 to itself, which is exactly what
an unprivileged user's run sees: the sandbox must then enter a user namespace, drop every capability in
the children, and keep the same verdicts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, os
from unitrl.records import Problem
from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.grade import grade_programs

ADD = Problem("add", "def add(a, b):\n", "add", ["assert add(1, 2) == 3", "assert add(20, 22) == 42"])
PROGRAMS = {
    "good": "def add(a, b):\n    return a + b\n",
    "wrong": "def add(a, b):\n    return 3\n",
    "caps": "def add(a, b):\n    return open('/proc/self/status').read().split('CapEff:')[1].split()[0]\n",
    "kill_zygote": "import os, signal\ndef add(a, b):\n    os.kill(1, signal.SIGKILL)\n    return a + b\n",
    "busy": "def add(a, b):\n    while True:\n        pass\n",
}
with Sandbox(SandboxConfig(workers=1, timeout=1.0)) as box:
    results = grade_programs(box, [(ADD, p, name) for name, p in PROGRAMS.items()])
    print(json.dumps({
        "uid": os.getuid(),
        "layers": box.layers,
        "verdicts": {r.sample_id: [t.status for t in r.tests] for r in results},
        "details": {r.sample_id: [t.detail for t in r.tests] for r in results},
    }))
"""


def test_an_unprivileged_user_gets_a_user_namespace_and_the_same_verdicts(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("util-linux `unshare` is not installed")
    command = ["unshare", "--user", "--map-user=1000", "--map-group=1000", sys.executable, "-c", SCRIPT]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    if proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip(f"user namespaces are not available here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["uid"] == 1000
    assert out["layers"]["user"] and not out["layers"]["uid"]
    assert all(out["layers"][name] for name in ("network", "mount", "pid"))
    verdicts = out["verdicts"]
    assert verdicts["good"] == ["pass", "pass"]
    assert verdicts["wrong"] == ["pass", "fail"]
    # children hold no capability at all (the program returns CapEff, which then fails the comparison)
    assert verdicts["caps"] == ["fail", "fail"] and "0000000000000000" in out["details"]["caps"][0]
    # the zygote is PID 1 of the namespace: a child cannot kill it, and the program's own result stands
    assert verdicts["kill_zygote"] == ["pass", "pass"]
    assert verdicts["busy"] == ["timeout", "timeout"]
