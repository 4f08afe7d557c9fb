"""OpenRLHF's remote reward protocol (`--reward.remote_url`, formerly `--remote_rm_url`), version 0.11.

OpenRLHF POSTs `{"query": [...], "prompts": [...], "labels": [...]}` and reads `{"rewards": [...],
"scores": [...], "extra_logs": {...}}` (0.11: one sample per request, aiohttp, 180 s timeout, 5 tries
a second apart; 0.9: a whole rollout batch per request with `requests`). A query is the decoded prompt
plus response, special tokens kept (`skip_special_tokens=False`), so the response is what follows the
prompt, cut at the first end-of-sequence marker. The label (the dataset's `--data.label_key` column)
carries the tests: a task_id of the server's `--problems` file, or a problem object / JSON string
`{"tests": [...], "entry_point"?, "task_id"?, "meta"?}`, or a bare list of tests. The reward is any
test reward of `unitrl.rl.rewards` (`--reward`); `scores` (OpenRLHF's 0-1 value for dynamic filtering)
is 1 when every test passes; `extra_logs` carries the pass rate and the pass flag per sample.

A sample whose grading hit a sandbox infrastructure error has no reward: OpenRLHF has no way to skip
one, so the whole answer becomes an error (HTTP 503) that OpenRLHF's client retries, never a 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from unitrl.errors import UserError
from unitrl.records import Problem, Result, Sample, record_from_dict
from unitrl.rl.rewards import RewardTerm, combine, parse_reward_spec

# End-of-sequence / end-of-turn markers of common tokenizers (Qwen, Llama 3, Mistral, Gemma, DeepSeek,
# Phi, gpt-oss). Generation stops at one of them, so everything after the first is padding.
END_MARKERS = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "</s>",
    "<end_of_turn>",
    "<eos>",
    "<｜end▁of▁sentence｜>",
    "<|end|>",
    "<|return|>",
)


class InfrastructureError(Exception):
    """Some sample could not be graded because the sandbox failed; no reward may be invented."""


def reward_terms(spec: str) -> list[RewardTerm]:
    """Test rewards only: a reward model cannot run inside the sandbox service."""
    terms = parse_reward_spec(spec)
    if any(t.name == "rm" for t in terms):
        raise UserError("a reward model (rm:PATH) cannot be served here; use test rewards", field="reward")
    return terms


def response_of(query: str, prompt: str, stops: Sequence[str] = END_MARKERS) -> str:
    """The model's response inside an OpenRLHF query: what follows the prompt (pad tokens before the
    prompt, as 0.9's left-padded batches have, are skipped), cut at the first end marker."""
    at = query.find(prompt) if prompt else -1
    response = query[at + len(prompt) :] if at >= 0 else query
    cut = min((i for i in (response.find(s) for s in stops if s) if i >= 0), default=len(response))
    return response[:cut]


def problem_of_label(label: Any, known: dict[str, Problem], index: int) -> Problem:
    """The problem a label names or carries (see the module docstring)."""
    where = f"request labels[{index}]"
    if isinstance(label, str):
        if label in known:
            return known[label]
        text = label.strip()
        if not text.startswith(("{", "[")):
            raise UserError(f"not a task_id of the server's --problems file: {label[:80]!r}", path=where)
        try:
            label = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"label is not valid JSON: {exc}", path=where) from None
    if isinstance(label, list):
        label = {"tests": label}
    if not isinstance(label, dict):
        raise UserError("expected a task_id, a list of tests or a problem object", path=where)
    if set(label) == {"task_id"} and label["task_id"] in known:
        return known[label["task_id"]]
    if "tests" not in label:
        raise UserError("a label object needs 'tests' (or a 'task_id' of --problems)", path=where)
    allowed = {"task_id", "tests", "entry_point", "meta", "prompt", "reference", "source"}
    obj = {k: v for k, v in label.items() if k in allowed}
    obj.setdefault("task_id", f"openrlhf/{index}")
    obj.setdefault("prompt", "")
    return record_from_dict(Problem, obj, path=where)


def parse_reward_request(
    body: Any, known: dict[str, Problem], stops: Sequence[str] = END_MARKERS
) -> list[tuple[Problem, str, int]]:
    """(problem, program, index) per query of an OpenRLHF request."""
    if not isinstance(body, dict):
        raise UserError("expected a JSON object with 'query', 'prompts' and 'labels'", path="request")
    queries, prompts, labels = body.get("query"), body.get("prompts"), body.get("labels")
    for name, value in (("query", queries), ("prompts", prompts), ("labels", labels)):
        if not isinstance(value, list):
            raise UserError("expected a list", path="request", field=name)
    if not len(queries) == len(prompts) == len(labels):
        raise UserError(
            f"query, prompts and labels differ in length ({len(queries)}, {len(prompts)}, {len(labels)})",
            path="request",
        )
    items = []
    for i, (query, prompt, label) in enumerate(zip(queries, prompts, labels)):
        if not isinstance(query, str) or not isinstance(prompt, str):
            raise UserError("query and prompt must be strings", path=f"request item {i}")
        problem = problem_of_label(label, known, i)
        items.append((problem, program_of(problem, prompt, response_of(query, prompt, stops)), i))
    return items


def program_of(problem: Problem, prompt: str, response: str) -> str:
    """The program to run: prompt + response when the prompt the model continued is itself code (a
    base model completing a signature), else the code in the response (fenced or whole)."""
    return Sample(problem.task_id, completion=response).program(Problem(problem.task_id, prompt))


def reward_answer(terms: list[RewardTerm], results: Sequence[Result]) -> dict:
    """OpenRLHF's answer for graded results; InfrastructureError when any sample has no reward."""
    rewards = combine(terms, results)
    broken = [i for i, r in enumerate(rewards) if r is None]
    if broken:
        detail = next((t.detail for t in results[broken[0]].tests if t.status == "infrastructure-error"), "")
        raise InfrastructureError(f"sandbox infrastructure error on {len(broken)} sample(s): {detail}"[:500])
    return {
        "rewards": rewards,
        "scores": [1.0 if r.passed else 0.0 for r in results],
        "extra_logs": {
            "pass_rate": [float(r.pass_rate) for r in results],
            "passed": [1.0 if r.passed else 0.0 for r in results],
        },
    }
