"""The `llm` engine (ACECODER) and the `llm-inputs` engine, over any OpenAI-compatible endpoint.

`llm` (ACECODER, arXiv 2502.01718, section 2.1): the model rewrites each seed program into a question
plus ~20 asserts (prompts.py); then every test is VALIDATED by running a solution on it in the sandbox:
the problem's reference when it has one, otherwise one greedy solution from an oracle model prompted
with the question and the first two tests. Tests the solution fails are dropped; a problem left with
fewer than `min_tests` tests is dropped (ACECODER keeps questions with at least 5). With
`codet_samples` > 0 and no separate oracle model, a question without a reference is validated instead by
CodeT agreement (codet.py) among that many programs sampled from the same endpoint. Departure: the pass
rate is over the kept tests only (REFERENCE.md section 1 pitfall), which is what the dropped tests imply.

`llm-inputs`: the model proposes argument lists only; expected values come from executing the reference
(execution.tests_from_inputs), so no expected value is ever written by the model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from unitrl.models.endpoint import ChatEndpoint
from unitrl.records import Problem, extract_code
from unitrl.sandbox.grade import grade_programs
from unitrl.synth import codet, prompts
from unitrl.synth.acecode import entry_point_of
from unitrl.synth.execution import tests_from_inputs


def _seed_program(p: Problem) -> str:
    return p.reference or p.prompt


def _oracle_solutions(oracle: ChatEndpoint, drafts: list[Problem], max_tokens: int) -> list[str]:
    """One greedy solution per question (ACECODER's validator), code cut out of the answer."""
    msgs = [prompts.oracle_messages(d.prompt, d.tests) for d in drafts]
    answers = oracle.complete_many(msgs, temperature=0.0, max_tokens=max_tokens, errors="empty")
    return [extract_code(a[0]) if a else "" for a in answers]


def synthesize_llm(
    sandbox: Any,
    endpoint: ChatEndpoint,
    problems: list[Problem],
    *,
    oracle: ChatEndpoint | None = None,
    n_tests: int = 20,
    temperature: float = 0.7,
    max_tokens: int = 2048,
    timeout: float = 2.0,
    codet_samples: int = 0,
) -> tuple[list[Problem], dict[str, str]]:
    """Problems with question-style prompts and validated tests, and the reason each other was dropped."""
    dropped: dict[str, str] = {}
    msgs = [
        prompts.synth_messages(
            _seed_program(p), p.entry_point or "solution", p.meta.get("instruction"), n_tests
        )
        for p in problems
    ]
    answers = endpoint.complete_many(msgs, temperature=temperature, max_tokens=max_tokens, errors="empty")
    drafts: list[Problem] = []
    for p, ans in zip(problems, answers):
        parsed = prompts.parse_synth_answer(ans[0]) if ans else None
        if parsed is None:
            dropped[p.task_id] = "no-answer" if not ans else "unparseable-answer"
            continue
        question, tests = parsed
        entry = entry_point_of(tests, p.reference) or p.entry_point
        meta = dict(p.meta, original_prompt=p.prompt)
        drafts.append(replace(p, prompt=question, tests=tests, entry_point=entry, meta=meta))
    agreed: list[Problem] = []
    if codet_samples > 0 and (oracle is None or oracle is endpoint):
        no_ref = [d for d in drafts if not d.reference]
        agreed, codet_dropped = codet.validate_drafts(
            sandbox, endpoint, no_ref, n_samples=codet_samples, max_tokens=max_tokens, timeout=timeout
        )
        dropped.update(codet_dropped)
        drafts = [d for d in drafts if d.reference]
    # Validation: the reference where there is one, else the oracle's solution.
    need_oracle = [d for d in drafts if not d.reference]
    oracle_code = dict(
        zip([d.task_id for d in need_oracle], _oracle_solutions(oracle or endpoint, need_oracle, max_tokens))
    )
    items = [(d, d.reference or oracle_code[d.task_id], "validator") for d in drafts]
    results = grade_programs(sandbox, items, timeout=timeout)
    out = []
    for (d, _, _), r in zip(items, results):
        kept = [t for t, tr in zip(d.tests, r.tests) if tr.status == "pass"]
        n_generated = len(d.tests)
        validator = "reference" if d.reference else f"oracle:{(oracle or endpoint).model}"
        synth = {
            "engine": "llm",
            "model": endpoint.model,
            "validator": validator,
            "n_generated": n_generated,
            "n_kept": len(kept),
            "dropped": {"validator-failed": n_generated - len(kept)} if n_generated > len(kept) else {},
        }
        out.append(replace(d, tests=kept, meta=dict(d.meta, synth=synth)))
    return out + agreed, dropped


def synthesize_llm_inputs(
    sandbox: Any,
    endpoint: ChatEndpoint,
    problems: list[Problem],
    *,
    n_tests: int = 20,
    temperature: float = 0.7,
    max_tokens: int = 1024,
    timeout: float = 2.0,
) -> tuple[list[Problem], dict[str, str]]:
    """Tests from model-proposed inputs and executed expected values (needs a reference), and the
    reason each problem left out was dropped."""
    usable = [p for p in problems if p.reference and p.entry_point]
    dropped = {p.task_id: "no-reference" for p in problems if not (p.reference and p.entry_point)}
    msgs = [prompts.inputs_messages(p.reference or "", p.entry_point or "", n_tests) for p in usable]
    answers = endpoint.complete_many(msgs, temperature=temperature, max_tokens=max_tokens, errors="empty")
    inputs = {p.task_id: prompts.parse_inputs_answer(a[0]) if a else [] for p, a in zip(usable, answers)}
    answered = {p.task_id for p, a in zip(usable, answers) if a}
    tests = tests_from_inputs(sandbox, usable, inputs, timeout=timeout)
    out = []
    for p in usable:
        kept, proposed = tests[p.task_id], inputs[p.task_id]
        if not proposed:
            dropped[p.task_id] = "unparseable-answer" if p.task_id in answered else "no-answer"
            continue
        synth = {
            "engine": "llm-inputs",
            "model": endpoint.model,
            "n_generated": len(proposed),
            "n_kept": len(kept),
            "dropped": {"raised-or-unstable": len(proposed) - len(kept)} if len(proposed) > len(kept) else {},
        }
        out.append(replace(p, tests=kept, meta=dict(p.meta, synth=synth)))
    return out, dropped
