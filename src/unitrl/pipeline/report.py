"""`<run>/report.md`: warnings first, then the figures that matter, which problems trained what, and every
stage's summary and plots.

The report reads the stages' own result files (`HEADLINE_FILES`), not numbers kept in memory, so it can be
rebuilt from a run directory. The first lines say whether a user-set time limit cut a stage short; without
one, every budget is a step count and a rerun with the same seed trains the same steps on any machine.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from unitrl.pipeline.runner import StageSpec
from unitrl.records import write_text_atomic

# stage -> the file (inside its output folder) the headline reads
HEADLINE_FILES = {
    "humaneval": "summary.json",
    "train_rm": "metrics.json",
    "bon": "bon.json",
    "rl": "summary.json",
    "eval": "summary.json",
}


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (0, 1 when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _read(specs: dict[str, StageSpec], stage: str) -> dict:
    spec = specs.get(stage)
    if spec is None or not spec.outputs:
        return {}
    path = spec.outputs[0] / HEADLINE_FILES[stage]
    return json.loads(path.read_text()) if path.exists() else {}


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}" if isinstance(x, int | float) else "-"


def headline(specs: dict[str, StageSpec]) -> list[str]:
    lines = []
    rl, ev = _read(specs, "rl"), _read(specs, "eval")
    if rl:
        heldout = getattr(specs["rl"].config, "eval_problems", "")
        gain = (rl["pass1_after"] - rl["pass1_before"]) if rl.get("pass1_after") is not None else None
        lines.append(
            f"- **RL** ({rl.get('algo')}, reward `{rl.get('reward')}`, {rl.get('steps')} steps): held-out "
            f"pass@1 {_pct(rl.get('pass1_before'))} -> {_pct(rl.get('pass1_after'))} "
            f"({'+' if (gain or 0) >= 0 else ''}{_pct(gain)} points), greedy {_pct(rl.get('greedy_before'))} "
            f"-> {_pct(rl.get('greedy_after'))}, on `{_rel(heldout)}`"
        )
    if ev:
        lines.append(
            f"- **eval** of the trained policy: greedy pass@1 {_pct(ev.get('greedy_pass_at_1'))} on "
            f"{ev.get('problems')} held-out problems"
        )
    rm = _read(specs, "train_rm")
    if rm:
        n, acc = rm.get("pairs_heldout", 0), rm.get("heldout_accuracy")
        lo, hi = wilson((acc or 0) * n, n)
        lines.append(
            f"- **reward model**: held-out pairwise accuracy {_pct(acc)}% on {n} pairs from "
            f"{rm.get('tasks_heldout')} unseen questions (95% Wilson interval {_pct(lo)}-{_pct(hi)}; pairs of "
            f"one question are correlated, so the true interval is wider); before training "
            f"{_pct(rm.get('heldout_accuracy_before'))}%"
        )
    bon = _read(specs, "bon")
    if bon.get("rows"):
        top = bon["rows"][-1]
        rankers = ", ".join(f"{r} {_pct(top.get(r))}" for r in bon.get("rankers", []))
        lines.append(
            f"- **best-of-{top['n']}** over {bon['tasks']} problems: {rankers}; oracle {_pct(top['oracle'])}, "
            f"average sample {_pct(bon.get('average'))}, greedy {_pct(bon.get('greedy'))}"
        )
    lines += _data_line(specs)
    he = _read(specs, "humaneval")
    if he:
        lines.append(
            f"- **sandbox**: HumanEval canonical {he.get('canonical_passed')}/{he.get('canonical_total')} "
            f"pass, known-wrong {he.get('wrong_caught')}/{he.get('wrong_total')} caught"
        )
    return lines


def _data_line(specs: dict[str, StageSpec]) -> list[str]:
    """Which problems RL trained on and which it was evaluated on, with the stage that made each."""
    rl = specs.get("rl")
    if rl is None:
        return []
    parts = []
    pairs = (("trained on", "problems"), ("evaluated on", "eval_problems"))
    for role, path in ((r, getattr(rl.config, f, "")) for r, f in pairs):
        p = Path(path) if path else None
        if p is None or not p.exists():
            continue
        parts.append(f"{role} `{_rel(p)}` ({_count_lines(p)} problems: {_provenance(p, specs)})")
    return [f"- **problems**: RL {'; '.join(parts)}"] if parts else []


def _provenance(path: Path, specs: dict[str, StageSpec]) -> str:
    """`split <- synth <- mine <- corpus`: the stages a file came through, back to its first input."""
    chain = []
    while len(chain) < len(specs):
        writer = next((s for s in specs.values() if path in s.outputs), None)
        if writer is None:
            return " <- ".join(chain + [f"`{_rel(path)}`"])
        chain.append(writer.name)
        if not writer.inputs:
            break
        path = writer.inputs[0]
    return " <- ".join(chain)


def lineage(specs: list[StageSpec]) -> list[str]:
    """Every file a stage wrote: how many records (JSONL), and the stages (or the report) that read it."""
    rows = ["| file | written by | records | read by |", "|---|---|---|---|"]
    for spec in specs:
        for out in spec.outputs:
            readers = [s.name for s in specs if any(p == out or out in p.parents for p in s.inputs)]
            if spec.name in HEADLINE_FILES:
                readers.append("report")
            count = _count_lines(out) if out.suffix == ".jsonl" and out.exists() else ""
            rows.append(f"| `{_rel(out)}` | {spec.name} | {count} | {', '.join(readers) or '-'} |")
    return rows


def _rel(path: Path | str) -> str:
    """A path as the reader of the report in the working directory would type it."""
    p = Path(path)
    return os.path.relpath(p) if p.is_absolute() and not os.path.relpath(p).startswith("..") else str(p)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def write_report(run_dir: Path, specs: list[StageSpec], records: list[dict], title: str) -> Path:
    """Write `<run>/report.md` and return its path."""
    by_name = {s.name: s for s in specs}
    cut = [r for r in records if r.get("cut_short")]
    lines = [f"# {title}", ""]
    if cut:
        lines += [f"> **Warning: a time limit cut a stage short.** {r['cut_short']}." for r in cut] + [""]
    else:
        lines += ["Every stage ran its full budget (step counts; no time limit cut any stage short).", ""]
    stale = [r["stage"] for r in records if r.get("stale")]
    if stale:
        lines += [f"> **Out of date:** {', '.join(stale)}: settings or inputs changed since these ran; "
                  "their figures are the earlier run's (rerun without --only/--from to update).", ""]  # fmt: skip
    lines += ["## Results", "", *headline(by_name), "", "## Which problems trained what", ""]
    lines += lineage(specs)
    ran = [r for r in records if not r.get("skipped")]
    minutes, cpu = sum(r.get("seconds", 0) for r in ran) / 60, sum(r.get("cpu_seconds", 0) for r in ran) / 60
    lines += ["", "## Stages", "", f"Run directory: `{_rel(run_dir)}`. This invocation ran {len(ran)} of "
              f"{len(records)} stages in {minutes:.1f} min; the pipeline process used {cpu:.1f} CPU min (sandbox "
              "workers not counted). Up-to-date stages were skipped and show the run that made them.", ""]  # fmt: skip
    lines += [
        "| stage | seconds | CPU seconds | estimated | skipped | cut short |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        skipped = "yes" if r.get("skipped") else ""
        lines.append(
            f"| {r['stage']} | {r.get('seconds', '')} | {r.get('cpu_seconds', '')} | {r.get('estimate', '')} | "
            f"{skipped} | {'yes' if r.get('cut_short') else ''} |"
        )
    for r in records:
        lines += ["", f"## {r['stage']}", ""]
        summary = {
            k: v
            for k, v in r.get("summary", {}).items()
            if not isinstance(v, dict | list) or len(str(v)) < 600
        }
        if summary:
            lines += ["```json", json.dumps(summary, indent=2, default=str), "```"]
        for plot in r.get("plots", []):
            lines += ["", f"![{Path(plot).stem}]({os.path.relpath(plot, run_dir)})"]
    path = run_dir / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
