"""One rollout's no-grad scoring pass and its gradient update, shared by every estimator.

`score_rollout` computes what the estimators need before the update (reference log-probs, rollout
log-probs when the update is off-policy, values). `update_policy` runs `ppo_epochs` passes of
`mini_batches` optimizer steps, each accumulated over micro-batches; the loss family is PPO-clip for the
REINFORCE++/GRPO/RLOO/PPO estimators and the Gorinski actor-critic loss for `actor_critic`: which one,
which critic and where the KL term goes are read from the algorithm's row (`estimators.ALGORITHMS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unitrl.rl.config import LossSettings, UpdateSettings
from unitrl.rl.estimators import Algorithm, k1_kl, masked_mean
from unitrl.rl.losses import actor_critic_loss, kl_loss, ppo_clip_loss, value_loss
from unitrl.rl.policy import PolicyParts, autocast, reference_context, reference_model
from unitrl.rl.rollout import RolloutBatch, forward_completion


@dataclass
class Scored:
    ref_logp: torch.Tensor | None  # (N, T)
    logp: torch.Tensor | None  # (N, T) rollout log-probs (for k1 reward shaping, values, off-policy ratios)
    values: torch.Tensor | None  # (N, T) token critic | (N,) sequence critic

    def select(self, idx: torch.Tensor) -> Scored:
        return Scored(*(t[idx] if t is not None else None for t in (self.ref_logp, self.logp, self.values)))


def micro_slices(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, max(1, size))]


def _to(batch: RolloutBatch, sl: slice, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return batch.input_ids[sl].to(device), batch.attention_mask[sl].to(device)


def critic_values(parts: PolicyParts, algo: Algorithm, hidden, mask, prompt_len: int, detach: bool = False):
    """(N, T) per-token values after the prompt, or (N,) one value per program."""
    if algo.critic == "token":
        return parts.critic(hidden, prompt_len)
    return parts.critic(hidden, mask, detach=detach)


@torch.no_grad()
def score_rollout(
    parts: PolicyParts, batch: RolloutBatch, algo: Algorithm, settings: UpdateSettings
) -> Scored:
    """Reference log-probs (when there is a KL term), and rollout log-probs and values when needed."""
    ref_rows, old_rows, value_rows = [], [], []
    P, loss = batch.prompt_len, settings.loss
    need_logp = settings.off_policy or parts.critic is not None or (loss.kl_coef and algo.kl == "reward")
    for sl in micro_slices(batch.input_ids.shape[0], settings.micro_batch):
        ids, mask = _to(batch, sl, parts.device)
        with autocast(parts.device, settings.bf16):
            if loss.kl_coef:
                with reference_context(parts):
                    ref = forward_completion(reference_model(parts), ids, mask, P, loss.temperature)[0]
                    ref_rows.append(ref.float().cpu())
            if need_logp:
                logp, _, hidden = forward_completion(
                    parts.model, ids, mask, P, loss.temperature, want_hidden=True
                )
                old_rows.append(logp.float().cpu())
                if parts.critic is not None:
                    value_rows.append(critic_values(parts, algo, hidden, mask, P).float().cpu())
    cat = lambda rows: torch.cat(rows) if rows else None  # noqa: E731
    return Scored(cat(ref_rows), cat(old_rows), cat(value_rows))


@dataclass
class UpdateInputs:
    """One rollout with what the estimator made of it."""

    batch: RolloutBatch
    advantages: torch.Tensor  # (N, T)
    returns: torch.Tensor | None  # (N, T) value targets, (N,) for a sequence critic
    scored: Scored
    rewards: torch.Tensor  # (N,)

    def select(self, idx: torch.Tensor) -> UpdateInputs:
        b = self.batch
        batch = RolloutBatch(
            b.input_ids[idx], b.attention_mask[idx], b.completion_mask[idx], b.prompt_len,
            [b.texts[i] for i in idx.tolist()], b.group[idx],
        )  # fmt: skip
        returns = self.returns[idx] if self.returns is not None else None
        return UpdateInputs(batch, self.advantages[idx], returns, self.scored.select(idx), self.rewards[idx])


def _micro_loss(
    parts: PolicyParts, algo: Algorithm, x: UpdateInputs, sl: slice, loss: LossSettings, off_policy: bool
) -> tuple[torch.Tensor, dict]:
    dev = parts.device
    ids, mask = _to(x.batch, sl, dev)
    cmask = x.batch.completion_mask[sl].to(dev)
    P = x.batch.prompt_len
    logp, entropy, hidden = forward_completion(
        parts.model, ids, mask, P, loss.temperature, want_hidden=parts.critic is not None, want_entropy=True
    )
    logp = logp.float()
    ref = x.scored.ref_logp[sl].to(dev) if x.scored.ref_logp is not None else None
    stats = {"entropy": masked_mean(entropy, cmask).item()}
    if ref is not None:
        stats["kl"] = masked_mean(k1_kl(logp.detach(), ref), cmask).item()
    if algo.loss == "actor_critic":
        values = critic_values(parts, algo, hidden, mask, P, detach=loss.critic_detach)
        actor, critic = actor_critic_loss(logp, cmask, x.rewards[sl].to(dev), values)
        total = actor + loss.vf_coef * critic
        stats.update(pg_loss=actor.item(), value_loss=critic.item())
    else:
        # on-policy (one pass, one mini-batch): the rollout policy IS the current one, ratio 1
        old = x.scored.logp[sl].to(dev) if off_policy else logp.detach()
        total, clipped = ppo_clip_loss(logp, old, x.advantages[sl].to(dev), cmask, loss.clip_eps)
        stats.update(pg_loss=total.item(), clip_frac=clipped.item())
        if algo.critic == "token":
            v = critic_values(parts, algo, hidden, mask, P)
            vl = value_loss(v, x.scored.values[sl].to(dev), x.returns[sl].to(dev), cmask, loss.value_clip)
            total = total + loss.vf_coef * vl
            stats["value_loss"] = vl.item()
    if loss.kl_coef and algo.kl == "loss" and ref is not None:
        total = total + loss.kl_coef * kl_loss(logp, ref, cmask)
    return total, stats


def update_policy(
    parts: PolicyParts,
    optimizer: torch.optim.Optimizer,
    algo: Algorithm,
    x: UpdateInputs,
    settings: UpdateSettings,
    generator: torch.Generator,
) -> dict:
    """Gradient steps on one rollout; returns averaged stats (loss terms, entropy, grad norm)."""
    n = x.batch.input_ids.shape[0]
    params = [p for g in optimizer.param_groups for p in g["params"]]
    clip = settings.max_grad_norm if settings.max_grad_norm > 0 else float("inf")
    totals: dict[str, list[float]] = {}
    for _ in range(settings.ppo_epochs):
        order = torch.randperm(n, generator=generator) if settings.mini_batches > 1 else torch.arange(n)
        for mb in order.chunk(settings.mini_batches):
            optimizer.zero_grad(set_to_none=True)
            sub = x.select(mb)
            for sl in micro_slices(len(mb), settings.micro_batch):
                with autocast(parts.device, settings.bf16):
                    loss, stats = _micro_loss(parts, algo, sub, sl, settings.loss, settings.off_policy)
                (loss * (sl.stop - sl.start) / len(mb)).backward()  # mean over the mini-batch's sequences
                for k, v in stats.items():
                    totals.setdefault(k, []).append(v)
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
            totals.setdefault("grad_norm", []).append(float(norm))
            optimizer.step()
    return {k: sum(v) / len(v) for k, v in totals.items()}
