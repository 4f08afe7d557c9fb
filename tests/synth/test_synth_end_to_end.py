"""Mine a slice of the standard library, synthesize tests with `execution`, check them for real."""

from __future__ import annotations

import json

from unitrl.formats.cli import ExportConfig, run_export
from unitrl.mine.cli import MineConfig, run_mine
from unitrl.records import read_problems
from unitrl.synth.cli import SynthConfig, run_synth


def test_mine_synth_export_end_to_end(tmp_path, sandbox):
    from unitrl.sandbox.grade import grade_programs

    mined = tmp_path / "mined.jsonl"
    run_mine(MineConfig(out=str(mined), limit=12, seed=7))
    out = tmp_path / "synth.jsonl"
    summary = run_synth(SynthConfig(problems=str(mined), out=str(out), n_tests=20, mutants=8))
    problems = read_problems(out)
    # Problems whose suite a trivial program passes (object predicates such as inspect.ismodule: no
    # literal input is a module) are dropped and counted.
    assert len(problems) >= 4 and summary["problems_out"] == len(problems)
    assert summary["problems_out"] + sum(summary["problems_dropped"].values()) == summary["problems_in"]
    assert all(not p.meta["synth"]["degenerate"] and not p.meta["synth"]["trivial_passed"] for p in problems)
    assert all(5 <= len(p.tests) <= 20 + p.meta["synth"]["n_guided"] for p in problems)
    results = grade_programs(sandbox, [(p, p.reference, "reference") for p in problems])
    assert all(r.passed for r in results), [(r.task_id, r.status) for r in results if not r.passed]
    on_disk = json.loads((tmp_path / "synth.jsonl.summary.json").read_text())
    assert 0.0 < on_disk["kill_rate"]["mean"] <= 1.0 and sum(on_disk["kill_rate_histogram"].values()) > 0
    assert all("kill_rate" in p.meta["synth"] and p.meta["synth"]["reference_passes"] for p in problems)
    rows = tmp_path / "rows.jsonl"
    assert run_export(ExportConfig(problems=str(out), out=str(rows))) == len(problems)
    first = json.loads(rows.read_text().splitlines()[0])
    assert set(first) == {"id", "source", "question", "test_cases", "inferences", "context_messages"}


def test_overlapping_parts_write_exactly_what_one_at_a_time_writes(tmp_path):
    """`--overlap` works on several parts at once over one sandbox; every problem's outcome depends on
    that problem alone, so the file is byte for byte the one a sequential run writes."""
    from unitrl.synth.cli import PART

    mined = tmp_path / "mined.jsonl"
    run_mine(MineConfig(out=str(mined), limit=2 * PART + 4, seed=3))
    outs = {}
    for overlap in (1, 3):
        out = tmp_path / f"synth{overlap}.jsonl"
        run_synth(SynthConfig(problems=str(mined), out=str(out), mutants=6, overlap=overlap, workers=2))
        outs[overlap] = out.read_text()
    assert outs[1] == outs[3] and outs[1].count("\n") >= PART


HASH_SEED_REFERENCE = """
def visible(name, all=None):
    if name in {'__author__', '__builtins__', '__cached__', '__credits__', '__date__', '__doc__',
                '__file__', '__spec__', '__loader__', '__module__', '__name__', '__package__'}:
        return 0
    if name.startswith('__') and name.endswith('__'):
        return 1
    if all is not None:
        return name in all
    return not name.startswith('_')


def tags(words):
    return {w.lower() for w in words if w}
"""


def test_the_output_does_not_depend_on_the_processs_hash_seed(tmp_path):
    """A set of strings iterates in an order that changes with PYTHONHASHSEED: the search must not
    follow that order, and a set in a test's text is written in a fixed one."""
    import os
    import subprocess
    import sys

    from unitrl.records import Problem, write_records

    problems = tmp_path / "p.jsonl"
    write_records(problems, [Problem("visible", "", "visible", [], HASH_SEED_REFERENCE),
                             Problem("tags", "", "tags", [], HASH_SEED_REFERENCE)])  # fmt: skip
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}.jsonl"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        cmd = [sys.executable, "-m", "unitrl", "synth", "--problems", str(problems), "--out", str(out),
               "--workers", "1", "--keep-weak", "--keep-short"]  # fmt: skip
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
        outs.append(out.read_text())
    assert outs[0] == outs[1] and outs[0].count("\n") == 2
    assert "assert tags(" in outs[0]
