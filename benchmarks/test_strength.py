"""How many wrong programs the synthesized test suites catch, against HumanEval's own hand-written tests.

Table 1, HumanEval: every problem's original tests are hidden and a suite is synthesized offline from the
canonical solution with `unitrl synth --engine execution --decontam off` (defaults otherwise; weak and
short suites are kept and flagged so that every problem has one). The same wrong programs are then
graded against HumanEval's own tests and against the synthesized suite, each under its own time limit
made by the same rule (per test max(0.25 s, 5 x the canonical solution's time)); a program is caught
when it fails a test. Wrong programs: (a) every single-site AST mutant the project makes of each
canonical solution (`unitrl.synth.mutants`, all of them, every one in the denominator), also split into
the ones synth used to guide its additions and the held-out rest; (b) mutants made by operators synth
never uses (`benchmarks/independent_mutants.py`: deleted statements, swapped variables, replaced
constants, swapped calls and arguments, dropped or swapped else branches), none identical to one of
synth's own; (c) the 638 known-wrong variants of
`unitrl.eval.wrong` (token-level edits and whole-body replacements, made independently of synth). A
mutant neither suite catches may be equivalent to the reference: a deep differential search (far larger
than synth's) looks for an input that tells it apart, and one more row leaves out only the mutants it
never separates, printing how many (likely equivalent) and how many it did separate (missed by both).
Table 2, the standard library: `unitrl mine` then `unitrl synth` with all defaults: problems kept,
suites a trivial program passes, suites with a single expected value, branch coverage, throughput.

    .venv/bin/python benchmarks/test_strength.py [--humaneval 164] [--no-stdlib] [--workers 2]

Writes benchmarks/results/test_strength.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from independent_mutants import independent_mutants, normalized  # benchmarks/: operators synth never sees
from rich.console import Console
from rich.table import Table

from unitrl.eval.importers import load_humaneval
from unitrl.eval.wrong import wrong_samples
from unitrl.inputs.search import new_search, search_inputs
from unitrl.mine.cli import MineConfig, run_mine
from unitrl.records import Problem, read_problems, write_records
from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.grade import build_job
from unitrl.synth.cli import SynthConfig, run_synth
from unitrl.synth.guide import Hunt, guided_inputs
from unitrl.synth.mutants import make_mutants
from unitrl.synth.quality import caught, time_limit

RESULTS = Path(__file__).parent / "results" / "test_strength.json"
INDEPENDENT = "independent mutants (operators synth never uses)"
FLOOR, FACTOR = 0.25, 5.0
DEEP_WANT, DEEP_STEPS = 200, 300  # the deep search: pooled calls per problem, differential calls per survivor


def deep_separated(sandbox: Sandbox, pairs: list[tuple[Problem, str]], seed: int) -> list[bool]:
    """For mutants neither suite catches: does a far larger search than synth's (a pool of DEEP_WANT
    calls of the reference, then DEEP_STEPS differential calls per mutant) find an input on which the
    mutant answers differently? A mutant it never separates is counted as likely equivalent; one it
    separates is a wrong program both suites miss. Entry-point calls only, as synth's tests are."""
    by_task: dict[str, list[int]] = {}
    for i, (p, _) in enumerate(pairs):
        by_task.setdefault(p.task_id, []).append(i)
    problems = {p.task_id: p for p, _ in pairs}
    searches = {tid: s for tid in by_task if (s := new_search(problems[tid])) is not None}
    rngs = {tid: random.Random(f"deep:{seed}:{tid}") for tid in searches}
    search_inputs(sandbox, searches, rngs, want=DEEP_WANT, rounds=4, timeout=1.0)
    hunts = [
        Hunt(
            problems[tid], [(t.src, t.status, t.value) for t in s.tried], [pairs[i][1] for i in by_task[tid]]
        )
        for tid, s in searches.items()
    ]
    for n in sorted({len(h.survivors) for h in hunts}):  # each problem gets DEEP_STEPS per survivor
        same = [h for h in hunts if len(h.survivors) == n]
        guided_inputs(sandbox, same, steps=DEEP_STEPS * n, seed=seed, timeout=1.0)
    out = [False] * len(pairs)
    for h in hunts:
        for m in h.found:
            out[by_task[h.problem.task_id][m]] = True
    return out


def synthesize(
    problems: list[Problem], tmp: Path, workers: int, seed: int
) -> tuple[dict[str, Problem], dict]:
    """Suites from the canonical solutions, original tests hidden: the CLI on a file, as a user runs it."""
    hidden = [replace(p, tests=[], meta={}) for p in problems]
    write_records(tmp / "hidden.jsonl", hidden)
    cfg = SynthConfig(
        problems=str(tmp / "hidden.jsonl"), out=str(tmp / "he_synth.jsonl"), decontam="off",
        keep_weak=True, keep_short=True, seed=seed, workers=workers,
    )  # fmt: skip
    summary = run_synth(cfg)
    return {p.task_id: p for p in read_problems(tmp / "he_synth.jsonl")}, summary


def failed(sandbox: Sandbox, items: list[tuple[Problem, str, float]]) -> list[bool]:
    """For each (problem, program, time limit): does the program fail at least one test? Both suites
    are graded the same way, the way synth grades its mutants (`unitrl.synth.quality.caught`: the
    programs of one problem share a job, tests in doubling stages, a program leaves at its first
    failure), so a program that loops costs one time limit, not one per test."""
    return caught(sandbox, items)


def limits_for(sandbox: Sandbox, problems: list[Problem]) -> dict[str, float]:
    """The time limit of each problem's suite by the rule above, from its canonical solution's times."""
    jobs = [build_job(p, p.reference or "", tag=p.task_id, timeout=5.0) for p in problems]
    return {r.tag: time_limit([s.duration for s in r.steps], FLOOR, FACTOR, 5.0) for r in sandbox.run(jobs)}


def _row(he_fail: list[bool], sy_fail: list[bool]) -> dict:
    return {
        "programs": len(he_fail),
        "humaneval_caught": sum(he_fail),
        "synth_caught": sum(sy_fail),
        "synth_caught_of_humaneval_caught": sum(a and b for a, b in zip(he_fail, sy_fail)),
    }


def humaneval_table(sandbox: Sandbox, n: int, workers: int, seed: int, tmp: Path) -> dict:
    original = load_humaneval()[:n]
    t0 = time.time()
    synth, summary = synthesize(original, tmp, workers, seed)
    seconds = time.time() - t0
    he = [p for p in original if p.task_id in synth]
    he_limit = limits_for(sandbox, he)
    sets: dict[str, list[tuple[Problem, str]]] = {
        "mutants: all": [],
        "mutants: guided": [],
        "mutants: held out": [],
    }
    guide_n = SynthConfig().guide_mutants
    for p in he:
        every = [m for _, m in make_mutants(p.reference or "", 10**6, seed)]
        guided = set(m for _, m in make_mutants(p.reference or "", guide_n, seed))
        sets["mutants: all"] += [(p, m) for m in every]
        sets["mutants: guided"] += [(p, m) for m in every if m in guided]
        sets["mutants: held out"] += [(p, m) for m in every if m not in guided]
    sets[INDEPENDENT] = [
        (p, m)
        for p in he
        for _, m in independent_mutants(
            p.reference or "",
            {normalized(m) for _, m in make_mutants(p.reference or "", 10**6, seed)},
            per_site=1,
        )
    ]
    by_id = {p.task_id: p for p in he}
    sets["known-wrong variants (eval/wrong.py)"] = [
        (by_id[s.task_id], s.program(by_id[s.task_id])) for s in wrong_samples(he) if s.task_id in by_id
    ]
    rows, verdicts = {}, {}
    for name, programs in sets.items():
        he_fail = failed(sandbox, [(p, prog, he_limit[p.task_id]) for p, prog in programs])
        sy_fail = failed(
            sandbox,
            [(synth[p.task_id], prog, synth[p.task_id].meta.get("time_limit", 1.0)) for p, prog in programs],
        )
        verdicts[name] = (he_fail, sy_fail)
        rows[name] = _row(he_fail, sy_fail)
    # Mutants neither suite catches: equivalent, or wrong programs both miss? A deep search decides which
    # to count; the row below leaves out only the ones it never separates, and says how many.
    he_fail, sy_fail = verdicts["mutants: all"]
    missed = [i for i, (a, b) in enumerate(zip(he_fail, sy_fail)) if not a and not b]
    deep = deep_separated(sandbox, [sets["mutants: all"][i] for i in missed], seed)
    never = {i for i, d in zip(missed, deep) if not d}
    keep = [i for i in range(len(he_fail)) if i not in never]
    rows["mutants: all but the never-separated"] = _row(
        [he_fail[i] for i in keep], [sy_fail[i] for i in keep]
    )
    rows["mutants: all but the never-separated"]["left_out_never_separated"] = len(never)
    rows["mutants: all but the never-separated"]["missed_by_both_but_separated"] = sum(deep)
    canonical = failed(
        sandbox,
        [(synth[p.task_id], p.reference or "", synth[p.task_id].meta.get("time_limit", 1.0)) for p in he],
    )
    flags = [synth[p.task_id].meta["synth"] for p in he]
    return {
        "problems": len(he),
        "rows": rows,
        "canonical_rejected": sum(canonical),
        "tests_per_problem": {
            "humaneval": round(statistics.fmean(len(p.tests) for p in he), 1),
            "synth": round(statistics.fmean(len(synth[p.task_id].tests) for p in he), 1),
        },
        "synth_flagged_degenerate": sum(bool(f.get("degenerate")) for f in flags),
        "synth_flagged_too_few_tests": sum(bool(f.get("too_few_tests")) for f in flags),
        "synth_branch_coverage_median": statistics.median(f["branch_coverage"] for f in flags if f.get("branch_coverage") is not None),
        "synth_guided_tests": sum(f.get("n_guided", 0) for f in flags),
        "synth_seconds": round(seconds, 1),
        "synth_summary_mutants": summary["mutants"],
    }  # fmt: skip


def stdlib_table(workers: int, tmp: Path) -> dict:
    """`unitrl mine` and `unitrl synth` with their defaults on the standard library."""
    t0 = time.time()
    mined = run_mine(MineConfig(out=str(tmp / "mined.jsonl"), workers=workers))
    t1 = time.time()
    summary = run_synth(
        SynthConfig(problems=str(tmp / "mined.jsonl"), out=str(tmp / "synth.jsonl"), workers=workers)
    )
    kept = read_problems(tmp / "synth.jsonl")
    flags = [p.meta["synth"] for p in kept]
    return {
        "mined": mined["problems"],
        "mine_spread": mined["spread"],
        "mine_seconds": round(t1 - t0, 1),
        "kept": len(kept),
        "dropped": summary["problems_dropped"],
        "kept_passed_by_a_trivial_program": sum(bool(f["trivial_passed"]) for f in flags),
        "kept_one_expected_value": sum(f["n_distinct_outputs"] == 1 for f in flags),
        "branch_coverage": summary["branch_coverage"],
        "branch_coverage_histogram": summary["branch_coverage_histogram"],
        "distinct_outputs": summary["distinct_outputs"],
        "mutants": summary["mutants"],
        "kill_rate": summary["kill_rate"],
        "tests_per_problem": summary["tests_per_problem"],
        "synth_seconds": summary["seconds"],
        "problems_per_minute": summary["problems_per_minute"],
    }  # fmt: skip


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def print_tables(result: dict, console: Console) -> None:
    he = result.get("humaneval")
    if he:
        t = Table(
            title=f"HumanEval ({he['problems']} problems): wrong programs caught, original tests vs synthesized"
        )
        for col in (
            "wrong programs",
            "count",
            "HumanEval's tests",
            "synthesized",
            "difference",
            "synth of HE-caught",
        ):
            t.add_column(col)
        for name, r in he["rows"].items():
            n, a, b, both = (
                r["programs"],
                r["humaneval_caught"],
                r["synth_caught"],
                r["synth_caught_of_humaneval_caught"],
            )
            t.add_row(
                name,
                str(n),
                pct(a, n),
                pct(b, n),
                f"{100 * (b - a) / n:+.1f} pts" if n else "-",
                pct(both, a),
            )
        console.print(t)
        deep = he["rows"].get("mutants: all but the never-separated")
        if deep:
            console.print(
                f"mutants neither suite catches: {deep['missed_by_both_but_separated']} told apart by the deep "
                f"search (wrong programs both miss), {deep['left_out_never_separated']} never (likely "
                "equivalent; the last mutant row leaves only these out)"
            )
        console.print(
            f"canonical solutions rejected by their synthesized suite: {he['canonical_rejected']}; tests per problem: "
            f"HumanEval {he['tests_per_problem']['humaneval']}, synthesized {he['tests_per_problem']['synth']}; "
            f"synthesized suites flagged degenerate {he['synth_flagged_degenerate']}, short {he['synth_flagged_too_few_tests']}; "
            f"median branch coverage {he['synth_branch_coverage_median']}; guided tests {he['synth_guided_tests']}"
        )
    st = result.get("stdlib")
    if st:
        t = Table(title="Standard library, `unitrl mine` + `unitrl synth` defaults")
        t.add_column("what")
        t.add_column("value", justify="right")
        for key in (
            "mined",
            "kept",
            "kept_passed_by_a_trivial_program",
            "kept_one_expected_value",
            "synth_seconds",
            "problems_per_minute",
        ):
            t.add_row(key, str(st[key]))
        for group in ("dropped", "branch_coverage", "distinct_outputs", "mutants"):
            for k, v in st[group].items():
                t.add_row(f"{group}.{k}", str(v))
        t.add_row(
            "modules (max per module)",
            f"{st['mine_spread']['modules']} ({st['mine_spread']['max_per_module']})",
        )
        console.print(t)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--humaneval", type=int, default=164, help="HumanEval problems (0: skip)")
    ap.add_argument("--no-stdlib", action="store_true", help="skip the standard-library table")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--work", default="", help="folder for intermediate files (a rerun resumes from them)")
    args = ap.parse_args()
    result: dict = {"workers": args.workers, "cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(args.work or d)
        tmp.mkdir(parents=True, exist_ok=True)
        if args.humaneval:
            with Sandbox(SandboxConfig(workers=args.workers, timeout=5.0)) as sb:
                result["humaneval"] = humaneval_table(sb, args.humaneval, args.workers, args.seed, tmp)
        if not args.no_stdlib:
            result["stdlib"] = stdlib_table(args.workers, tmp)
    result["load_after"] = os.getloadavg()[0]
    print_tables(result, Console(width=160))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
