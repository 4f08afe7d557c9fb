"""Problems and samples written in other tools' formats: verl training rows, evalplus and LiveCodeBench
sample files.

verl (parquet, one row per problem): `data_source` ("unitrl/<source>"), `prompt` (the chat messages
`unitrl.policy_io` builds, so verl's policy sees what `unitrl sample` would show), `ability` "code",
`reward_model` {"style": "rule", "ground_truth": JSON text of the tests (`formats.ground_truth`)},
`extra_info` {"split", "index", "task_id", "entry_point", "source"}. evalplus: JSONL rows
{"task_id", "solution"}, the whole program of each sample (`evalplus.evaluate --samples`). LiveCodeBench:
a JSON list of {"question_id", "code_list"} (its custom evaluator's input), one entry per problem with
samples, codes in sample order. Programs are the ones unitrl grades (`Sample.program`).
"""

from __future__ import annotations

import json
from pathlib import Path

from unitrl.errors import UserError
from unitrl.formats.ground_truth import ground_truth_of
from unitrl.policy_io import chat_messages
from unitrl.records import Problem, Sample, write_records, write_text_atomic


def write_acecode(path: str, problems: list[Problem]) -> int:
    """AceCode-87K-style rows (id, question, tests, inferences, source), JSONL or Parquet by suffix."""
    from unitrl.synth.acecode import problem_to_row

    return write_records(path, [problem_to_row(p) for p in problems])


def verl_rows(problems: list[Problem], split: str = "train", show_test: bool = True) -> list[dict]:
    """One verl row per problem, in order."""
    return [
        {
            "data_source": f"unitrl/{p.source or 'problems'}",
            "prompt": chat_messages(p, show_test),
            "ability": "code",
            "reward_model": {"style": "rule", "ground_truth": ground_truth_of(p)},
            "extra_info": {
                "split": split,
                "index": i,
                "task_id": p.task_id,
                "entry_point": p.entry_point or "",
                "source": p.source,
            },
        }
        for i, p in enumerate(problems)
    ]


def write_verl(path: str, problems: list[Problem], split: str = "train", show_test: bool = True) -> int:
    if not path.endswith(".parquet"):
        raise UserError("verl reads parquet: name the output FILE.parquet", path=path)
    return write_records(path, verl_rows(problems, split, show_test))


def _programs(samples: list[Sample], problems: dict[str, Problem], path: str) -> list[tuple[Sample, str]]:
    out = []
    for s in samples:
        problem = problems.get(s.task_id)
        if problem is None:
            raise UserError(f"task_id {s.task_id!r} is not among the problems", path=path, field="task_id")
        out.append((s, s.program(problem)))
    return out


def write_evalplus(path: str, samples: list[Sample], problems: dict[str, Problem], samples_path: str) -> int:
    """evalplus's samples JSONL: {"task_id", "solution"} with the whole program."""
    rows = [
        {"task_id": s.task_id, "solution": prog} for s, prog in _programs(samples, problems, samples_path)
    ]
    return write_records(path, rows)


def write_livecodebench(
    path: str, samples: list[Sample], problems: dict[str, Problem], samples_path: str
) -> int:
    """LiveCodeBench's generations file: [{"question_id", "code_list"}], problems in first-seen order."""
    codes: dict[str, list[str]] = {}
    for s, prog in _programs(samples, problems, samples_path):
        problem = problems[s.task_id]
        qid = str(problem.meta.get("question_id") or s.task_id.removeprefix("lcb/"))
        codes.setdefault(qid, []).append(prog)
    rows = [{"question_id": q, "code_list": c} for q, c in codes.items()]
    write_text_atomic(Path(path), json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    return sum(len(c) for c in codes.values())
