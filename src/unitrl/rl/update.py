"""One rollout's no-grad scoring pass and its gradient update, shared by every estimator.

`score_rollout` computes what the estimators need before the update (reference log-probs, rollout
log-probs when the update is off-policy, values). `update_policy` runs `ppo_epochs` passes of
`mini_batches` optimizer steps, each accumulated over micro-batches; the loss family is PPO-clip for the
REINFORCE++/GRPO/RLOO/PPO estimators and the Gorinski actor-critic loss for `actor_critic`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unitrl.rl.estimators import KL_IN_REWARD, k1_kl, masked_mean
from unitrl.rl.losses import actor_critic_loss, kl_loss, ppo_clip_loss, value_loss
from unitrl.rl.policy import PolicyParts, autocast, reference_context, reference_model
from unitrl.rl.rollout import RolloutBatch, forward_completion


@dataclass
class Scored:
    ref_logp: torch.Tensor | None  # (N, T)
    logp: torch.Tensor | None  # (N, T) rollout log-probs (for k1 reward shaping, values, off-policy ratios)
    values: torch.Tensor | None  # (N, T) ppo | (N,) actor_critic


def micro_slices(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, max(1, size))]


def _to(batch: RolloutBatch, sl: slice, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return batch.input_ids[sl].to(device), batch.attention_mask[sl].to(device)


@torch.no_grad()
def score_rollout(
    parts: PolicyParts,
    batch: RolloutBatch,
    algo: str,
    kl_coef: float,
    off_policy: bool,
    temperature: float,
    micro_batch: int,
    bf16: bool,
) -> Scored:
    ref_rows, old_rows, value_rows = [], [], []
    P = batch.prompt_len
    for sl in micro_slices(batch.input_ids.shape[0], micro_batch):
        ids, mask = _to(batch, sl, parts.device)
        with autocast(parts.device, bf16):
            if kl_coef:
                with reference_context(parts):
                    ref_rows.append(
                        forward_completion(reference_model(parts), ids, mask, P, temperature)[0].float().cpu()
                    )
            if off_policy or parts.critic is not None or (kl_coef and algo in KL_IN_REWARD):
                logp, _, hidden = forward_completion(parts.model, ids, mask, P, temperature, want_hidden=True)
                old_rows.append(logp.float().cpu())
                if algo == "ppo":
                    value_rows.append(parts.critic(hidden, P).float().cpu())
                elif algo == "actor_critic":
                    value_rows.append(parts.critic(hidden, mask).float().cpu())
    cat = lambda rows: torch.cat(rows) if rows else None  # noqa: E731
    return Scored(cat(ref_rows), cat(old_rows), cat(value_rows))


def _micro_loss(
    parts: PolicyParts,
    batch: RolloutBatch,
    sl: slice,
    algo: str,
    adv: torch.Tensor,
    returns,
    scored: Scored,
    rewards: torch.Tensor,
    kl_coef: float,
    clip_eps: float,
    value_clip: float,
    vf_coef: float,
    critic_detach: bool,
    temperature: float,
    off_policy: bool,
) -> tuple[torch.Tensor, dict]:
    ids, mask = _to(batch, sl, parts.device)
    cmask = batch.completion_mask[sl].to(parts.device)
    P = batch.prompt_len
    logp, entropy, hidden = forward_completion(
        parts.model, ids, mask, P, temperature, want_hidden=parts.critic is not None, want_entropy=True
    )
    logp = logp.float()
    stats = {"entropy": masked_mean(entropy, cmask).item()}
    if scored.ref_logp is not None:
        stats["kl"] = masked_mean(k1_kl(logp.detach(), scored.ref_logp[sl].to(parts.device)), cmask).item()
    if algo == "actor_critic":
        values = parts.critic(hidden, mask, detach=critic_detach)
        actor, critic = actor_critic_loss(logp, cmask, rewards[sl].to(parts.device), values)
        loss = actor + vf_coef * critic
        stats.update(pg_loss=actor.item(), value_loss=critic.item())
    else:
        # on-policy (one pass, one mini-batch): the rollout policy IS the current one, ratio 1
        old = scored.logp[sl].to(parts.device) if off_policy else logp.detach()
        pg, clipped = ppo_clip_loss(logp, old, adv[sl].to(parts.device), cmask, clip_eps)
        loss = pg
        stats.update(pg_loss=pg.item(), clip_frac=clipped.item())
        if algo == "ppo":
            v = parts.critic(hidden, P)
            vl = value_loss(
                v, scored.values[sl].to(parts.device), returns[sl].to(parts.device), cmask, value_clip
            )
            loss = loss + vf_coef * vl
            stats["value_loss"] = vl.item()
    if kl_coef and algo not in KL_IN_REWARD and scored.ref_logp is not None:
        loss = loss + kl_coef * kl_loss(logp, scored.ref_logp[sl].to(parts.device), cmask)
    return loss, stats


def update_policy(
    parts: PolicyParts,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    algo: str,
    adv: torch.Tensor,
    returns,
    scored: Scored,
    rewards: torch.Tensor,
    *,
    ppo_epochs: int,
    mini_batches: int,
    micro_batch: int,
    kl_coef: float,
    clip_eps: float,
    value_clip: float,
    vf_coef: float,
    critic_detach: bool,
    max_grad_norm: float,
    temperature: float,
    bf16: bool,
    generator: torch.Generator,
) -> dict:
    """Gradient steps on one rollout; returns averaged stats (loss terms, entropy, grad norm)."""
    n = batch.input_ids.shape[0]
    off_policy = ppo_epochs > 1 or mini_batches > 1
    params = [p for g in optimizer.param_groups for p in g["params"]]
    totals: dict[str, list[float]] = {}
    for _ in range(ppo_epochs):
        order = torch.randperm(n, generator=generator) if mini_batches > 1 else torch.arange(n)
        for mb in order.chunk(mini_batches):
            optimizer.zero_grad(set_to_none=True)
            sub = _select(batch, mb)
            sub_adv, sub_ret = adv[mb], (returns[mb] if returns is not None else None)
            sub_scored = Scored(
                *(t[mb] if t is not None else None for t in (scored.ref_logp, scored.logp, scored.values))
            )
            for sl in micro_slices(len(mb), micro_batch):
                with autocast(parts.device, bf16):
                    loss, stats = _micro_loss(
                        parts,
                        sub,
                        sl,
                        algo,
                        sub_adv,
                        sub_ret,
                        sub_scored,
                        rewards[mb],
                        kl_coef,
                        clip_eps,
                        value_clip,
                        vf_coef,
                        critic_detach,
                        temperature,
                        off_policy,
                    )
                (loss * (sl.stop - sl.start) / len(mb)).backward()  # mean over the mini-batch's sequences
                for k, v in stats.items():
                    totals.setdefault(k, []).append(v)
            norm = torch.nn.utils.clip_grad_norm_(
                params, max_grad_norm if max_grad_norm > 0 else float("inf")
            )
            totals.setdefault("grad_norm", []).append(float(norm))
            optimizer.step()
    return {k: sum(v) / len(v) for k, v in totals.items()}


def _select(batch: RolloutBatch, idx: torch.Tensor) -> RolloutBatch:
    return RolloutBatch(
        batch.input_ids[idx],
        batch.attention_mask[idx],
        batch.completion_mask[idx],
        batch.prompt_len,
        [batch.texts[i] for i in idx.tolist()],
        batch.group[idx],
    )
