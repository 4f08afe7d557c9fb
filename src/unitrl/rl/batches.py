"""Prompts, programs and batches: what the policy sees in RL and which program each rollout stands for.

- `policy_inputs`: the prompt format (resolved from the tokenizer as `unitrl sample` resolves it) and
  each problem's prompt token ids, both from `unitrl.policy_io`: RL and `sample` feed a model the same ids.
- `program_of`: the program a generated text stands for (`policy_io.program_of`: ACECODER's cut).
- `with_replay`: a rollout plus replayed rows, re-padded into the rollout layout.
- `evaluate`: held-out pass@1 through the sandbox, sampled and greedy.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from unitrl import policy_io
from unitrl.records import Problem
from unitrl.rl.config import EvalSettings
from unitrl.rl.replay import ReplayEntry
from unitrl.rl.rollout import RolloutBatch, left_pad


def policy_inputs(
    tokenizer, problems: list[Problem], prompt_format: str, show_test: bool
) -> tuple[str, list[list[int]]]:
    """(resolved format, prompt token ids per problem)."""
    fmt = policy_io.resolve_format(prompt_format, policy_io.tokenizer_has_chat_template(tokenizer))
    return fmt, [
        policy_io.encode_prompt(tokenizer, policy_io.build_prompt(p, fmt, show_test)) for p in problems
    ]


# rl/trl_rewards.py still names its formats by the older prompt styles; read them until it passes a format.
_STYLES = {"complete": "completion", "instruct": "chat"}


def program_of(problem: Problem, text: str, fmt: str) -> str:
    """The program a generated text stands for, as `unitrl sample` would store it (format chat or
    completion; the older style names auto | complete | instruct are accepted too)."""
    if fmt == "auto":
        code_prompt = bool(problem.entry_point) and f"def {problem.entry_point}" in problem.prompt
        fmt = "completion" if code_prompt else "chat"
    return policy_io.program_of(problem, text, _STYLES.get(fmt, fmt))


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


def evaluate(
    problems: list[Problem],
    prompt_ids: list[list[int]],
    fmt: str,
    sandbox,
    settings: EvalSettings,
    generate: Callable[..., RolloutBatch],
) -> dict:
    """Held-out pass@1: sampled (mean over `settings.samples` draws at the rollout temperature) and greedy."""
    from unitrl.sandbox.grade import grade_programs

    out: dict[str, float] = {}
    modes = ([("eval_pass1", settings.samples, False)] if settings.samples > 0 else []) + (
        [("eval_greedy", 1, True)] if settings.greedy else []
    )
    for key, n, greedy in modes:
        passed = 0
        for i in range(0, len(problems), 64):
            chunk = problems[i : i + 64]
            batch = generate(prompt_ids[i : i + 64], n, greedy)
            rows = [p for p in chunk for _ in range(n)]
            items = [(p, program_of(p, t, fmt), j) for j, (p, t) in enumerate(zip(rows, batch.texts))]
            passed += sum(r.passed for r in grade_programs(sandbox, items, timeout=settings.test_timeout))
        out[key] = passed / max(1, len(problems) * n)
    return out
