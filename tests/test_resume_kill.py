"""Every resumable stage, killed with SIGKILL mid-run and rerun, writes what an uninterrupted run writes.

Each test runs the real CLI in a subprocess, kills it once `<out>.partial` holds some records, reruns it
to completion and compares the output with an uninterrupted run (and with one at another chunk or batch
size). exec/eval results carry measured durations, so those two compare with durations zeroed; every
other byte must match. exec also proves stale results are never reused: programs changed after the kill
are graded again under the same ids.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unitrl.records import Problem, Sample, write_records

N_TASKS = 24
CORRECT = "def f(x):\n    return x + {k}\n"
WRONG = "def f(x):\n    return 2 * x + {k} + 1\n"
SLOW = "import time\n\ndef f(x):\n    time.sleep(0.02)\n    return x + {k}\n"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "unitrl", *args]


def run_ok(args: list[str]) -> str:
    """Run the CLI to completion; returns its stderr (where the resume note goes), whitespace joined
    (rich wraps lines at the terminal width)."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return " ".join(proc.stderr.split())


def run_killed(args: list[str], partial: Path, min_records: int, timeout: float = 120) -> int:
    """Start the CLI, SIGKILL it once `partial` holds `min_records` complete lines; returns that count."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the run finished (rc {proc.returncode}) before {min_records} records")
            if partial.exists() and partial.read_bytes().count(b"\n") >= min_records:
                break
            time.sleep(0.005)
        else:
            pytest.fail(f"no {min_records} records in {partial} within {timeout} s")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return partial.read_bytes().count(b"\n")


def partial_records(partial: Path) -> dict[tuple, dict]:
    """The records a killed run left in its partial file, by ids."""
    out = {}
    for line in partial.read_text().splitlines():
        obj = json.loads(line)
        record = obj["record"]
        out[tuple(obj["__resume__"]["id"])] = record
    return out


def without_durations(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r["duration"] = 0.0
        for t in r["tests"]:
            t["duration"] = 0.0
    return rows


# ------------------------------------------------------------------------------------------------ exec


def _grading_inputs(tmp_path: Path) -> tuple[Path, Path, list[Sample]]:
    problems = [
        Problem(f"t{k}", f"Return x + {k}.", "f", [f"assert f(1) == {1 + k}", f"assert f(5) == {5 + k}"])
        for k in range(N_TASKS)
    ]
    samples = []
    for k in range(N_TASKS):
        for i, template in enumerate((CORRECT, WRONG, SLOW, CORRECT)):
            samples.append(Sample(f"t{k}", i, solution=template.format(k=k)))
    write_records(tmp_path / "p.jsonl", problems)
    write_records(tmp_path / "s.jsonl", samples)
    return tmp_path / "p.jsonl", tmp_path / "s.jsonl", samples


def _exec(p: Path, s: Path, out: Path, chunk: int) -> list[str]:
    return _cli("exec", "--problems", str(p), "--samples", str(s), "--out", str(out),
                "--chunk", str(chunk), "--workers", "2", "--no-plot")  # fmt: skip


def test_exec_killed_and_resumed_matches_and_regrades_changed_programs(tmp_path):
    p, s, samples = _grading_inputs(tmp_path)
    run_ok(_exec(p, s, tmp_path / "a.jsonl", chunk=8))
    reference = without_durations(tmp_path / "a.jsonl")
    assert sum(r["passed"] for r in reference) == 3 * N_TASKS  # correct, slow-but-correct, correct

    # Killed, rerun: the same verdicts; the results from before the kill are reused byte for byte.
    out = tmp_path / "b.jsonl"
    partial = out.with_name("b.jsonl.partial")
    n = run_killed(_exec(p, s, out, chunk=8), partial, min_records=16)
    before = partial_records(partial)
    note = run_ok(_exec(p, s, out, chunk=8))
    assert f"{len(before)} of {len(samples)} results reused" in note
    assert without_durations(out) == reference and not partial.exists()
    lines = {(str(r["task_id"]), str(r["sample_id"])): line for r, line in
             zip(map(json.loads, out.read_text().splitlines()), out.read_text().splitlines())}  # fmt: skip
    assert all(lines[k] == json.dumps(v, ensure_ascii=False) for k, v in before.items()) and n >= 16

    # Another chunk size: the same verdicts.
    run_ok(_exec(p, s, tmp_path / "c.jsonl", chunk=5))
    assert without_durations(tmp_path / "c.jsonl") == reference

    # Killed, then some samples change under the same ids (to `return None`): those are graded again.
    out = tmp_path / "d.jsonl"
    partial = out.with_name("d.jsonl.partial")
    run_killed(_exec(p, s, out, chunk=8), partial, min_records=16)
    done = set(partial_records(partial))
    changed = {(x.task_id, str(x.sample_id)) for x in samples if x.sample_id in (0, 2)}
    stale = changed & done
    assert stale, "the kill came before any changed sample was graded"
    for x in samples:
        if (x.task_id, str(x.sample_id)) in changed:
            x.solution = "def f(x):\n    return None\n"
    write_records(s, samples)
    note = run_ok(_exec(p, s, out, chunk=8))
    assert f"{len(done - changed)} of {len(samples)} results reused" in note
    assert f"({len(stale)} of them changed since)" in note
    rows = {(r["task_id"], str(r["sample_id"])): r for r in without_durations(out)}
    assert all(not rows[k]["passed"] and rows[k]["status"] == "fail" for k in changed)
    expected = {(r["task_id"], str(r["sample_id"])): r for r in reference}
    assert all(rows[k] == expected[k] for k in rows if k not in changed)


# ------------------------------------------------------------------------------------------------ eval


def test_eval_killed_and_resumed_matches(tmp_path):
    from unitrl.eval.cli import EVAL_CHUNK

    p, s, samples = _grading_inputs(tmp_path)
    # More samples than one eval chunk, the slow ones last, so a kill can land between two chunks.
    extra = [Sample(f"t{k % N_TASKS}", 100 + k, solution=SLOW.format(k=k % N_TASKS)) for k in range(60)]
    fast = [x for x in samples if x.sample_id != 2]
    many = [Sample(x.task_id, 1000 * r + x.sample_id, solution=x.solution) for r in range(8) for x in fast]
    all_samples = many[: EVAL_CHUNK + 4] + extra
    write_records(s, all_samples)

    def args(out_dir: Path) -> list[str]:
        return _cli("eval", "--problems", str(p), "--samples", str(s), "--out-dir", str(out_dir),
                    "--workers", "2", "--k", "1")  # fmt: skip

    run_ok(args(tmp_path / "a"))
    partial = tmp_path / "b" / "results.jsonl.partial"
    run_killed(args(tmp_path / "b"), partial, min_records=EVAL_CHUNK)
    note = run_ok(args(tmp_path / "b"))
    assert f"{EVAL_CHUNK} of {len(all_samples)} results reused" in note
    assert without_durations(tmp_path / "b" / "results.jsonl") == without_durations(
        tmp_path / "a" / "results.jsonl"
    )
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["samples"] == len(all_samples)


# ------------------------------------------------------------------------------------------------ synth

REFS = [
    ("clamp", "def clamp(x: int, lo: int, hi: int) -> int:\n    return max(lo, min(hi, x))\n"),
    ("second", "def second(xs: list[int]) -> int:\n    return sorted(set(xs))[-2]\n"),
    ("words", "def words(s: str) -> int:\n    return len(s.split())\n"),
    ("dedup", "def dedup(xs: list[int]) -> list[int]:\n    return list(dict.fromkeys(xs))\n"),
    ("scale", "def scale(xs: list[float], k: float) -> list[float]:\n    return [x * k for x in xs]\n"),
    (
        "caesar",
        "def caesar(s: str, k: int) -> str:\n    return ''.join(chr((ord(c) + k) % 128) for c in s)\n",
    ),
]


def test_synth_killed_and_resumed_is_byte_identical_and_chunk_free(tmp_path):
    problems = [Problem(f"{name}/{i}", f"Implement {name}.", name, reference=ref)
                for i in range(2) for name, ref in REFS]  # fmt: skip
    write_records(tmp_path / "p.jsonl", problems)

    def args(out: Path, chunk: int) -> list[str]:
        return _cli("synth", "--problems", str(tmp_path / "p.jsonl"), "--out", str(out), "--chunk", str(chunk),
                    "--n-tests", "8", "--min-tests", "3", "--mutants", "4", "--decontam", "off")  # fmt: skip

    run_ok(args(tmp_path / "a.jsonl", chunk=2))
    reference = (tmp_path / "a.jsonl").read_bytes()
    assert reference.count(b"\n") >= len(problems) - 2
    out = tmp_path / "b.jsonl"
    run_killed(args(out, chunk=2), out.with_name("b.jsonl.partial"), min_records=2)
    note = run_ok(args(out, chunk=2))
    assert "problems reused" in note
    assert out.read_bytes() == reference
    run_ok(args(tmp_path / "c.jsonl", chunk=5))
    assert (tmp_path / "c.jsonl").read_bytes() == reference


# ------------------------------------------------------------------------------------------------ sample


def test_hf_rows_draw_from_their_own_random_streams(tiny_policy_dir):
    """In process (fast): a sample's text depends on its prompt and seed, not on its batch."""
    from unitrl.models.backends import HFBackend
    from unitrl.sample.seeded import generate_rows

    backend = HFBackend(str(tiny_policy_dir), device="cpu", batch_size=1)
    rows = [(f"def f{k}(x):\n    " + "y = x\n    " * k, 100 + k) for k in range(5)]  # padded unevenly
    alone = generate_rows(backend, rows, temperature=0.9, top_p=0.95, max_new_tokens=16)
    backend.batch_size = 5
    together = generate_rows(backend, rows[::-1], temperature=0.9, top_p=0.95, max_new_tokens=16)[::-1]
    assert together == alone and len(set(alone)) == 5
    reseeded = generate_rows(
        backend, [(p, s + 1) for p, s in rows], temperature=0.9, top_p=0.95, max_new_tokens=16
    )
    assert sum(a != b for a, b in zip(alone, reseeded)) >= 4


@pytest.mark.slow
def test_sample_killed_and_resumed_is_byte_identical_and_batch_free(tmp_path, tiny_policy_dir):
    problems = [Problem(f"q{k}", f"def f{k}(x):\n    '''Return x times {k}.'''\n", f"f{k}",
                        [f"assert f{k}(2) == {2 * k}"]) for k in range(6)]  # fmt: skip
    write_records(tmp_path / "p.jsonl", problems)

    def args(out: Path, batch: int, per_call: int) -> list[str]:
        return _cli("sample", "--problems", str(tmp_path / "p.jsonl"), "--model", str(tiny_policy_dir),
                    "--out", str(out), "-n", "4", "--max-new-tokens", "24", "--device", "cpu", "--seed", "3",
                    "--greedy", "--batch-size", str(batch), "--prompts-per-call", str(per_call))  # fmt: skip

    run_ok(args(tmp_path / "a.jsonl", batch=2, per_call=1))
    reference = (tmp_path / "a.jsonl").read_bytes()
    assert reference.count(b"\n") == 6 * 5
    out = tmp_path / "b.jsonl"
    run_killed(args(out, batch=2, per_call=1), out.with_name("b.jsonl.partial"), min_records=6)
    assert "samples reused" in run_ok(args(out, batch=2, per_call=1))
    assert out.read_bytes() == reference
    run_ok(args(tmp_path / "c.jsonl", batch=8, per_call=3))
    assert (tmp_path / "c.jsonl").read_bytes() == reference
    # A finished file is kept as it is; another seed makes the sampled ones stale, not the greedy ones.
    assert "nothing to do" in run_ok(args(out, batch=2, per_call=1))
    reseeded = args(out, batch=2, per_call=1)
    reseeded[reseeded.index("--seed") + 1] = "4"
    assert "6 of 30 samples reused from an earlier run, 24 to compute (24 of them changed" in run_ok(reseeded)
    assert out.read_bytes() != reference and Path(f"{out}.keys").exists()


# ------------------------------------------------------------------------------------------------ score


@pytest.mark.slow
def test_score_killed_and_resumed_is_byte_identical(tmp_path, tiny_reward_dir):
    p, s, samples = _grading_inputs(tmp_path)

    def args(out: Path, chunk: int, batch: int = 4) -> list[str]:
        return _cli("score", "--model", str(tiny_reward_dir), "--problems", str(p), "--samples", str(s),
                    "--out", str(out), "--device", "cpu", "--chunk", str(chunk), "--batch-size", str(batch))  # fmt: skip

    run_ok(args(tmp_path / "a.jsonl", chunk=8))
    reference = (tmp_path / "a.jsonl").read_bytes()
    out = tmp_path / "b.jsonl"
    n = run_killed(args(out, chunk=8), out.with_name("b.jsonl.partial"), min_records=12)
    assert f"{n - n % 8} of {len(samples)} scores reused" in run_ok(args(out, chunk=8))  # whole chunks only
    assert out.read_bytes() == reference
    # Other batches round floats differently (last bits of float32): the same scores, not the same bytes.
    run_ok(args(tmp_path / "c.jsonl", chunk=20, batch=7))
    other = [json.loads(line)["score"] for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    ref = [json.loads(line)["score"] for line in reference.decode().splitlines()]
    assert len(other) == len(ref) == len(samples) and max(abs(a - b) for a, b in zip(other, ref)) < 1e-5
