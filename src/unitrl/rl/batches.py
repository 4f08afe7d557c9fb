"""Prompts, programs and batches: how a problem becomes policy input and a completion becomes a program.

- `program_of`: completion-style prompts (the prompt holds `def entry_point`, as in HumanEval) give
  prompt + completion; instruction prompts give the code extracted from the answer (`records.extract_code`).
- `use_chat`: instruction prompts go through the tokenizer's chat template when it has one.
- `with_replay`: a rollout plus replayed rows, re-padded into the rollout layout.
- `evaluate`: held-out pass@1 through the sandbox, sampled and greedy.
"""

from __future__ import annotations

import torch

from unitrl.records import Problem, Sample
from unitrl.rl.config import RLConfig
from unitrl.rl.replay import ReplayEntry
from unitrl.rl.rollout import RolloutBatch, encode_prompts, left_pad


def is_completion_style(problem: Problem, style: str) -> bool:
    if style != "auto":
        return style == "complete"
    return bool(problem.entry_point) and f"def {problem.entry_point}" in problem.prompt


def program_of(problem: Problem, text: str, style: str) -> str:
    if is_completion_style(problem, style):
        return Sample(problem.task_id, completion=text).program(problem)
    return Sample(problem.task_id, solution=text).program(problem)


def use_chat(tokenizer, problems: list[Problem], chat: str, style: str) -> bool:
    if chat != "auto":
        return chat == "yes"
    has_template = bool(getattr(tokenizer, "chat_template", None))
    return has_template and not any(is_completion_style(p, style) for p in problems[:1])


def with_replay(tokenizer, batch: RolloutBatch, entries: list[ReplayEntry]) -> RolloutBatch:
    """The rollout plus replayed (prompt, completion) rows, re-padded to one layout."""
    if not entries:
        return batch
    rows = []
    for ids, am, cm in zip(batch.input_ids, batch.attention_mask, batch.completion_mask):
        prompt = ids[: batch.prompt_len][am[: batch.prompt_len].bool()].tolist()
        rows.append((prompt, ids[batch.prompt_len :][cm.bool()].tolist()))
    rows += [(e.prompt_ids, e.completion_ids) for e in entries]
    pad = tokenizer.pad_token_id
    p_ids, p_mask = left_pad([r[0] for r in rows], pad)
    width = max(1, max(len(r[1]) for r in rows))
    comp = torch.full((len(rows), width), pad, dtype=torch.long)
    cmask = torch.zeros((len(rows), width))
    for i, (_, c) in enumerate(rows):
        comp[i, : len(c)], cmask[i, : len(c)] = torch.tensor(c, dtype=torch.long), 1
    group = torch.cat([batch.group, torch.arange(len(entries)) + int(batch.group.max()) + 1])
    return RolloutBatch(
        torch.cat([p_ids, comp], 1),
        torch.cat([p_mask, cmask.long()], 1),
        cmask,
        p_ids.shape[1],
        batch.texts + ["<replay>"] * len(entries),
        group,
    )


def evaluate(parts, problems: list[Problem], sandbox, cfg: RLConfig, chat: bool, generate) -> dict:
    """Held-out pass@1: sampled (mean over `eval_samples` draws at the training temperature) and greedy."""
    out: dict[str, float] = {}
    modes = ([("eval_pass1", cfg.eval_samples, False)] if cfg.eval_samples > 0 else []) + (
        [("eval_greedy", 1, True)] if cfg.eval_greedy else []
    )
    for key, n, greedy in modes:
        passed = 0
        for i in range(0, len(problems), 64):
            chunk = problems[i : i + 64]
            batch = generate(encode_prompts(parts.tokenizer, [p.prompt for p in chunk], chat), n, greedy)
            probs = [p for p in chunk for _ in range(n)]
            programs = [program_of(p, t, cfg.prompt_style) for p, t in zip(probs, batch.texts)]
            from unitrl.sandbox.grade import grade_programs

            results = grade_programs(
                sandbox,
                [(p, prog, j) for j, (p, prog) in enumerate(zip(probs, programs))],
                timeout=cfg.test_timeout,
            )
            passed += sum(r.passed for r in results)
        out[key] = passed / max(1, len(problems) * n)
    return out
