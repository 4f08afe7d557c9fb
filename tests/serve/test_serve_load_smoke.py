"""benchmarks/serve_load.py --quick: every phase of the load test at small size, in one real run.

480 programs through the native, SandboxFusion and OpenRLHF endpoints of a real server (16 clients),
the in-process reference, a burst past a 512-program queue, then SIGTERM and the leftover checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


def test_quick_load_run_has_no_errors_no_leftovers_and_refuses_the_burst(tmp_path):
    out = tmp_path / "serve_load.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    n = report["programs"]
    assert report["native"]["errors"] == 0 and report["native"]["verdict_mismatches"] == 0
    assert report["openrlhf"]["errors"] == 0 and report["openrlhf"]["verdict_mismatches"] == 0
    assert report["run_code"]["errors"] == 0 and report["run_code"]["agree_with_in_process"] > 0.9 * n
    for phase in ("in_process", "native", "run_code", "openrlhf"):
        assert report[phase]["programs_per_second"] > 0
    burst = report["burst"]
    assert burst["refused_503"] > 0 and burst["refused_with_retry_after"] == burst["refused_503"]
    assert burst["served"] > 0 and burst["served_complete"] == burst["served"] and burst["other"] == 0
    assert report["exit_code"] == 0
    assert report["leftover_processes"] == [] and report["leftover_temp_files"] == []
    assert report["fds_gained"] <= 0
    assert "native POST /grade" in done.stdout
