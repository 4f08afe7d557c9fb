"""Supervised warm start (and the SFT-only baseline) for the curriculum's tiny model.

Plain next-token cross-entropy on `prompt + body + EOS` with the loss on the body only: the prompt is the
function's header and docstring exactly as `unitrl mine` prints them, the body what the policy is asked to
continue with (so `sample`, RL and `eval` show the policy what it was trained on). With `noise` > 0 every
drawn example is rendered afresh with each body line's operation swapped for its confusable partner with
that probability, so the model learns a policy that is right about 60% of the time per line: a starting
point RL can improve from test rewards alone. Training stops after `steps` steps (a count, so the same
seed gives the same model on any machine); a time limit applies only when the caller sets one.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import torch

from unitrl.records import Problem
from unitrl.rl.curriculum import render


def example(problem: Problem, noise: float, rng: random.Random) -> tuple[str, str]:
    """(prompt, body) of one noisy rendering of a curriculum problem."""
    chain = [tuple(c) for c in problem.meta["chain"]]
    prompt, program = render(problem.meta["src"], chain, noise, rng, name=problem.entry_point or "f")
    return prompt, program[len(prompt) :]


def encode_batch(tokenizer, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, labels) right-padded; labels are -100 outside the body + EOS."""
    rows, label_rows = [], []
    for prompt, body in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(body, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append(p + c)
        label_rows.append([-100] * len(p) + c)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, lab) in enumerate(zip(rows, label_rows)):
        ids[i, : len(r)] = torch.tensor(r)
        labels[i, : len(r)] = torch.tensor(lab)
        mask[i, : len(r)] = 1
    return ids, mask, labels


def supervised_train(
    model,
    tokenizer,
    problems: list[Problem],
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    noise: float = 0.4,
    seed: int = 0,
    max_seconds: float | None = None,
    clock=time.time,
    log_every: int = 0,
) -> dict:
    """Train in place for `steps` steps (or until `max_seconds` on `clock`, only when given).

    Returns {"steps", "loss", "seconds"}: `steps` below the requested count means the time limit cut it."""
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    start, loss_value, done = clock(), float("nan"), 0
    while done < steps:
        done += 1
        batch = [example(rng.choice(problems), noise, rng) for _ in range(batch_size)]
        ids, mask, labels = encode_batch(tokenizer, batch)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_value = loss.item()
        if log_every and done % log_every == 0:
            print(f"warm start step {done}/{steps} loss={loss_value:.3f}", flush=True)
        if max_seconds is not None and clock() - start >= max_seconds:
            break
    return {"steps": done, "loss": loss_value, "seconds": clock() - start}


def warm_start(
    model_dir: str | Path,
    problems: list[Problem],
    out_dir: str | Path,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    noise: float = 0.4,
    seed: int = 0,
    max_seconds: float | None = None,
    log_every: int = 0,
) -> tuple[Path, dict]:
    """Load, train on noisy examples, save to `out_dir`; returns (out_dir, stats)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    stats = supervised_train(
        model, tokenizer, problems, steps, batch_size, lr, noise, seed, max_seconds, log_every=log_every
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir), stats
