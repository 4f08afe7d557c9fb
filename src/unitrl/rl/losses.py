"""Policy and value losses, pure functions of tensors.

- `ppo_clip_loss`: the PPO clipped surrogate (Schulman et al. 2017, eq. 7), eps = 0.2; averaged over each
  sequence's tokens, then over sequences (OpenRLHF's default reduction). With one update per rollout the
  ratio is 1 and this is plain policy gradient with the given advantages.
- `value_loss`: the clipped value loss of PPO implementations (OpenAI baselines / OpenRLHF):
  0.5 * max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2), masked mean.
- `actor_critic_loss`: the Gorinski et al. reconstruction: actor -(r - V.detach()) * sum_t log pi(y_t),
  critic (V - r)^2, both averaged over sequences.
- `kl_loss`: the k3 KL term GRPO adds to its loss (Shao et al. 2024, eq. 4), masked mean.
"""

from __future__ import annotations

import torch

from unitrl.rl.estimators import k3_kl, masked_mean


def ppo_clip_loss(
    logp: torch.Tensor,  # (B, T) current policy
    old_logp: torch.Tensor,  # (B, T) rollout policy
    advantages: torch.Tensor,  # (B, T)
    mask: torch.Tensor,  # (B, T)
    clip_eps: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, fraction of tokens clipped)."""
    ratio = torch.exp(logp - old_logp)
    surr1 = ratio * advantages
    surr2 = ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages
    per_token = -torch.min(surr1, surr2)
    loss = masked_mean(per_token, mask, dim=-1).mean()
    clipped = masked_mean((surr2 < surr1).float(), mask)
    return loss, clipped.detach()


def value_loss(
    values: torch.Tensor,  # (B, T) current value head
    old_values: torch.Tensor,  # (B, T) values at rollout time
    returns: torch.Tensor,  # (B, T) targets
    mask: torch.Tensor,
    clip: float = 0.2,
) -> torch.Tensor:
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    per_token = 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    return masked_mean(per_token, mask)


def actor_critic_loss(
    logp: torch.Tensor,  # (B, T)
    mask: torch.Tensor,  # (B, T)
    rewards: torch.Tensor,  # (B,)
    values: torch.Tensor,  # (B,) critic output WITH grad
) -> tuple[torch.Tensor, torch.Tensor]:
    """(actor loss, critic loss)."""
    seq_logp = (logp * mask).sum(-1)  # (B,)
    actor = -((rewards - values.detach()) * seq_logp).mean()
    critic = ((values - rewards) ** 2).mean()
    return actor, critic


def kl_loss(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return masked_mean(k3_kl(logp, ref_logp), mask)
