"""Sampling with the hf backend where every sample draws from its own seeded random stream.

transformers samples a whole batch from one global torch generator, so a sample's text depends on which
other rows share its batch: the batch size, how many prompts go per call and where an interrupted run
resumed would all change the output. Here each row carries its own seed (from the run seed, task_id and
sample_id): a logits processor applies temperature and top-p, draws one uniform number per row from that
row's own CPU generator and turns the scores into a one-hot choice that greedy decoding then follows.
The draws are the same on any device; only float rounding of the logits differs between batch shapes,
which changes a draw only when it lands within rounding distance of a boundary between two tokens.
"""

from __future__ import annotations

from typing import Any


class RowSampler:
    """A `LogitsProcessor`: temperature + top-p sampling, one torch.Generator per batch row."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float):
        import torch

        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
            drop = sorted_p.cumsum(-1) - sorted_p >= self.top_p
            probs = probs.scatter(-1, order, sorted_p.masked_fill(drop, 0.0))
            probs = probs / probs.sum(-1, keepdim=True)
        u = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in self.generators])
        cdf = probs.double().cumsum(-1)
        u = (u.to(cdf.device) * cdf[:, -1]).unsqueeze(-1)
        choice = torch.searchsorted(cdf, u, right=True).clamp_(max=scores.shape[-1] - 1)  # never a p=0 token
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(-1, choice, 0.0)


def generate_rows(
    backend: Any, rows: list[tuple[Any, int]], temperature: float, top_p: float, max_new_tokens: int
) -> list[str]:
    """One text per (prompt, seed) row, `backend.batch_size` rows per generate call. Greedy when
    temperature <= 0 (the seed is then unused)."""
    import torch
    from transformers import LogitsProcessorList

    tok, texts = backend.tokenizer, []
    for start in range(0, len(rows), backend.batch_size):
        chunk = rows[start : start + backend.batch_size]
        enc = tok(
            [backend.render(p) for p, _ in chunk], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(backend.device)
        processors = []
        if temperature > 0:
            processors = [RowSampler([s for _, s in chunk], temperature, top_p)]
        with torch.no_grad():
            out = backend.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                pad_token_id=tok.pad_token_id,
                do_sample=False,
                logits_processor=LogitsProcessorList(processors),
            )
        new = out[:, enc["input_ids"].shape[1] :]
        backend.generated_tokens += int((new != tok.pad_token_id).sum())
        texts += tok.batch_decode(new, skip_special_tokens=True)
    return texts
