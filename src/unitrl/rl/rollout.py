"""Rollouts: sample completions from the policy and score their tokens.

Layout of a rollout batch: every sequence is `[prompt left-padded to P | completion right-padded to T]`,
so completion token t of every row sits at column P + t and is predicted by the logits at column P + t - 1.
`completion_mask` (N, T) is 1 on generated tokens up to and including the first EOS.

Two generation backends share that layout:
- `hf`: `transformers` `generate` on CPU or GPU (the default, and the only one run on this machine).
- `vllm`: a vLLM engine on a GPU machine, imported only when chosen; after each optimizer step the
  trainer pushes the policy's weights into the engine (`VLLMGenerator.sync_weights`). This path is
  written against vLLM's documented `LLM` API but has not been run here (no GPU). It is kept apart from
  `unitrl sample --backend vllm` (`models.backends.VLLMBackend`) on purpose: that one turns prompts into
  texts for a fixed model; this one takes the policy's own prompt token ids, returns token ids in the
  layout above, and takes new weights after every step.
Prompt token ids come from `unitrl.policy_io` (via `rl.batches.policy_inputs`), as in `unitrl sample`.
Log-probabilities are always recomputed by a forward pass of the training model (with the same
temperature as sampling), so both backends feed the loss identically.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RolloutBatch:
    input_ids: torch.Tensor  # (N, P + T)
    attention_mask: torch.Tensor  # (N, P + T)
    completion_mask: torch.Tensor  # (N, T) float
    prompt_len: int  # P
    texts: list[str]  # decoded completions
    group: torch.Tensor  # (N,) index of the prompt each row answers

    @property
    def completion_ids(self) -> torch.Tensor:
        return self.input_ids[:, self.prompt_len :]


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = torch.tensor(s)
            mask[i, width - len(s) :] = 1
    return ids, mask


def eos_ids(tokenizer, model) -> list[int]:
    ids = model.generation_config.eos_token_id if model.generation_config is not None else None
    ids = ids if isinstance(ids, list) else ([ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def completion_mask(completion: torch.Tensor, eos: list[int]) -> torch.Tensor:
    """(N, T) 1 up to and including the first EOS (all ones when no EOS was produced)."""
    is_eos = torch.isin(completion, torch.tensor(eos, device=completion.device))
    # number of EOS strictly before each position; a token is kept while that is zero
    before = torch.cumsum(is_eos.long(), dim=1) - is_eos.long()
    return (before == 0).float()


def assemble(
    tokenizer,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion: torch.Tensor,
    eos: list[int],
    group,
) -> RolloutBatch:
    cmask = completion_mask(completion, eos)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    completion = torch.where(cmask.bool(), completion, torch.full_like(completion, pad))
    texts = [
        tokenizer.decode(row[: int(m.sum())].tolist(), skip_special_tokens=True)
        for row, m in zip(completion, cmask)
    ]
    return RolloutBatch(
        input_ids=torch.cat([prompt_ids, completion], dim=1),
        attention_mask=torch.cat([prompt_mask, cmask.long()], dim=1),
        completion_mask=cmask,
        prompt_len=prompt_ids.shape[1],
        texts=texts,
        group=group,
    )


@torch.no_grad()
def generate_hf(
    model,
    tokenizer,
    prompts: list[list[int]],
    n: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
) -> RolloutBatch:
    """n samples per prompt with `model.generate`; rows of one prompt are adjacent (group = prompt index)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    seqs = [p for p in prompts for _ in range(n)]
    ids, mask = left_pad(seqs, pad)
    device = next(model.parameters()).device
    eos = eos_ids(tokenizer, model)
    was_training = model.training
    model.eval()
    out = model.generate(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        max_new_tokens=max_new_tokens,
        do_sample=not greedy,
        temperature=temperature if not greedy else None,
        top_p=top_p if not greedy else None,
        top_k=None if not greedy else None,
        pad_token_id=pad,
        eos_token_id=eos,
    )
    model.train(was_training)
    completion = out[:, ids.shape[1] :].cpu()
    group = torch.arange(len(prompts)).repeat_interleave(n)
    return assemble(tokenizer, ids, mask, completion, eos, group)


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[targets] without materializing the full log-softmax twice."""
    return torch.gather(logits, -1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def forward_completion(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    prompt_len: int,
    temperature: float = 1.0,
    want_hidden: bool = False,
    want_entropy: bool = False,
):
    """(logp (N, T), entropy (N, T) | None, last hidden state (N, L, H) | None) for the completion tokens."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids(attention_mask),
        output_hidden_states=want_hidden,
        use_cache=False,
    )
    logits = out.logits[:, prompt_len - 1 : -1].float() / temperature  # (N, T, V)
    targets = input_ids[:, prompt_len:]
    logp = token_logprobs(logits, targets)
    entropy = entropy_from_logits(logits).detach() if want_entropy else None
    hidden = out.hidden_states[-1] if want_hidden else None
    return logp, entropy, hidden


class VLLMGenerator:
    """Generation with vLLM on a GPU machine (weights pushed from the training model after each update)."""

    def __init__(self, model_path: str, gpu_memory_utilization: float = 0.3, seed: int = 0):
        from vllm import LLM  # only when the vllm backend is chosen

        self.llm = LLM(
            model=model_path,
            gpu_memory_utilization=gpu_memory_utilization,
            seed=seed,
            enable_prefix_caching=True,
        )

    def generate(
        self,
        tokenizer,
        prompts: list[list[int]],
        n: int,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        greedy: bool = False,
        eos: list[int] | None = None,
    ) -> RolloutBatch:
        from vllm import SamplingParams

        params = SamplingParams(
            n=n,
            temperature=0.0 if greedy else temperature,
            top_p=1.0 if greedy else top_p,
            max_tokens=max_new_tokens,
        )
        outs = self.llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        rows = [list(c.token_ids) for o in outs for c in o.outputs]
        width = max(1, max(len(r) for r in rows))
        completion = torch.full((len(rows), width), pad, dtype=torch.long)
        for i, r in enumerate(rows):
            completion[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        ids, mask = left_pad([p for p in prompts for _ in range(n)], pad)
        group = torch.arange(len(prompts)).repeat_interleave(n)
        return assemble(tokenizer, ids, mask, completion, eos or [tokenizer.eos_token_id], group)

    def sync_weights(self, model) -> None:
        """Load the policy's current weights into the engine; LoRA adapters are merged for the copy."""
        engine_model = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        is_peft = hasattr(model, "merge_adapter")
        if is_peft:
            model.merge_adapter()
        source = model.base_model.model if is_peft else model
        weights = (
            (name.replace(".base_layer", ""), p.data)
            for name, p in source.named_parameters()
            if "lora_" not in name
        )
        engine_model.load_weights(weights)
        if is_peft:
            model.unmerge_adapter()
