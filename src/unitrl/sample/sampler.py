"""Building blocks of the sample stage: what is left to do, how it is batched, and the Sample records.

Sample ids are 0..n-1 per task; the optional greedy sample has id "greedy" and `meta["greedy"] = True`,
the documented marker by which `eval` and best-of-N report it apart from the sampled ones. A rerun skips every (task_id, sample_id) the
resumable writer holds with an unchanged content key. Seeds never depend on how work is batched: the hf
backend seeds every sample from (seed, task_id, sample_id) (seeded.py); vllm and openai seed each
request from (seed, its sample ids), one request per task, so what a task gets does not depend on which
tasks share a call.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from unitrl.policy_io import sample_fields
from unitrl.records import Problem, Sample

GREEDY_ID = "greedy"


@dataclass
class WorkItem:
    """One task's missing samples: the ids to fill and whether they are the greedy one."""

    problem: Problem
    sample_ids: list[int | str]
    greedy: bool = False


def plan_work(problems: list[Problem], n: int, greedy: bool, done: set[tuple[str, str]]) -> list[WorkItem]:
    """The samples still missing, task by task (sampled ones first, then the greedy ones)."""
    items = []
    for p in problems:
        missing: list[int | str] = [i for i in range(n) if (p.task_id, str(i)) not in done]
        if missing:
            items.append(WorkItem(p, missing))
    if greedy:
        items += [WorkItem(p, [GREEDY_ID], True) for p in problems if (p.task_id, GREEDY_ID) not in done]
    return items


def batch_work(items: list[WorkItem], prompts_per_call: int, rows_per_call: int = 0) -> list[list[WorkItem]]:
    """Consecutive items grouped for one backend call: the same sample ids and the same decoding, at most
    `prompts_per_call` items and (when set) `rows_per_call` sequences; a single item may exceed it."""
    batches: list[list[WorkItem]] = []
    for item in items:
        last = batches[-1] if batches else None
        if (
            last is not None
            and len(last) < prompts_per_call
            and (not rows_per_call or (len(last) + 1) * len(item.sample_ids) <= rows_per_call)
            and last[0].sample_ids == item.sample_ids
            and last[0].greedy == item.greedy
        ):
            last.append(item)
        else:
            batches.append([item])
    return batches


def batch_seed(seed: int, batch: list[WorkItem]) -> int:
    """The per-request seed of a vllm/openai call: the run seed and the sample ids every item of the
    batch shares, not which tasks are in it (each task is its own request there)."""
    ids = ",".join(map(str, batch[0].sample_ids))
    return (seed * 1_000_003 + zlib.crc32(ids.encode())) % 2**31


def sample_seed(seed: int, task_id: str, sample_id: int | str) -> int:
    """The seed of one hf sample's own random stream."""
    return (seed * 1_000_003 + zlib.crc32(f"{task_id}/{sample_id}".encode())) % 2**63


def make_samples(item: WorkItem, texts: list[str], fmt: str, meta: dict[str, Any]) -> list[Sample]:
    """Sample records from one task's generated texts. Chat answers become whole-program `solution`s;
    completions are kept as `completion`s to append to the prompt."""
    meta = dict(meta, greedy=True) if item.greedy else meta
    return [
        Sample(
            item.problem.task_id,
            sample_id,
            meta=dict(meta),
            **sample_fields(text, fmt, item.problem.prompt, item.problem.is_stdio),
        )
        for sample_id, text in zip(item.sample_ids, texts)
    ]
