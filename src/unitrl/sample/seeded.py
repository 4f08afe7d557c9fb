"""Sampling with the hf backend where every sample draws from its own seeded random stream.

transformers samples a whole batch from one global torch generator, so a sample's text depends on which
other rows share its batch: the batch size, how many prompts go per call and where an interrupted run
resumed would all change the output. Here each row carries its own seed (from the run seed, task_id and
sample_id): a logits processor applies temperature and top-p, takes one uniform number per row and step from that
row's own seeded CPU stream and turns the scores into a one-hot choice that greedy decoding then follows.
The draws are the same on any device; only float rounding of the logits differs between batch shapes,
which changes a draw only when it lands within rounding distance of a boundary between two tokens.
"""

from __future__ import annotations

from typing import Any


class RowSampler:
    """A `LogitsProcessor`: temperature + top-p sampling, one seeded random stream per batch row.

    Each row's uniforms for the whole generation are drawn up front from its own generator, so a decoding
    step costs one tensor index rather than one call per row."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float, max_steps: int):
        import torch

        rows = [
            torch.rand(max_steps, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
            for s in seeds
        ]
        self.uniforms = torch.stack(rows)  # (B, max_steps)
        self.temperature, self.top_p, self.step = temperature, top_p, 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
            drop = sorted_p.cumsum(-1) - sorted_p >= self.top_p
            probs = probs.scatter(-1, order, sorted_p.masked_fill(drop, 0.0))
            probs = probs / probs.sum(-1, keepdim=True)
        u = self.uniforms[:, min(self.step, self.uniforms.shape[1] - 1)]  # (B,)
        self.step += 1
        cdf = probs.double().cumsum(-1)
        u = (u.to(cdf.device) * cdf[:, -1]).unsqueeze(-1)
        choice = torch.searchsorted(cdf, u, right=True).clamp_(max=scores.shape[-1] - 1)  # never a p=0 token
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(-1, choice, 0.0)


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """(input_ids, attention_mask), each (B, L), prompts right-aligned as generation needs."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r) :] = 1
    return ids, mask


def prompt_ids(tokenizer: Any, prompt: Any) -> list[int]:
    """Token ids as given, or those `unitrl.policy_io` encodes for a text or chat-message prompt."""
    from unitrl.policy_io import encode_prompt

    if isinstance(prompt, str) or (prompt and isinstance(prompt[0], dict)):
        return encode_prompt(tokenizer, prompt)
    return list(prompt)


def generate_rows(
    backend: Any, rows: list[tuple[Any, int]], temperature: float, top_p: float, max_new_tokens: int
) -> list[str]:
    """One text per (prompt, seed) row, the prompt as token ids, text or chat messages;
    `backend.batch_size` rows per generate call (RL's rollouts put a whole step's prompts x samples into
    one call the same way). Greedy when temperature <= 0 (the seed is then unused)."""
    import torch
    from transformers import LogitsProcessorList

    tok, texts = backend.tokenizer, []
    for start in range(0, len(rows), backend.batch_size):
        chunk = rows[start : start + backend.batch_size]
        ids, mask = left_pad([prompt_ids(tok, p) for p, _ in chunk], tok.pad_token_id)
        processors = []
        if temperature > 0:
            processors = [RowSampler([s for _, s in chunk], temperature, top_p, max_new_tokens)]
        with torch.no_grad():
            out = backend.model.generate(
                input_ids=ids.to(backend.device),
                attention_mask=mask.to(backend.device),
                max_new_tokens=max_new_tokens,
                pad_token_id=tok.pad_token_id,
                do_sample=False,
                logits_processor=LogitsProcessorList(processors),
            )
        new = out[:, ids.shape[1] :]
        backend.generated_tokens += int((new != tok.pad_token_id).sum())
        texts += tok.batch_decode(new, skip_special_tokens=True)
    return texts
