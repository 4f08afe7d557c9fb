"""Advantage estimators: one pure function per algorithm, and `ALGORITHMS`, the table of what sets each
algorithm apart (estimator, critic, where the KL applies, loss), selected by name.

Every estimator takes the same `AdvantageInputs` (tensors of one rollout batch) and returns
`AdvantageResult(advantages (B, T), returns (B, T) | None)`. Shapes: B sequences, T completion tokens,
`mask` (B, T) is 1 on the tokens the policy generated (up to and including EOS).

Formulas follow the reference engines (docs/REFERENCE.md section 4):
- `reinforce_pp`: REINFORCE++ (Hu 2025; OpenRLHF `reinforce`, verl `reinforce_plus_plus`). Terminal reward
  clipped to [-10, 10] on the last generated token, a per-token k1 KL penalty -beta (log pi - log pi_ref),
  returns with gamma = 1, whitened over ALL valid tokens of the batch. No critic, no per-prompt baseline.
- `reinforce_pp_baseline`: the same after subtracting the mean reward of each prompt's group.
- `grpo`: GRPO (Shao et al. 2024, eq. 3) A = (r - mean_group) / (std_group + eps), std unbiased as in TRL.
- `rloo`: RLOO (Ahmadian et al. 2024) A_i = r_i - mean_{j != i} r_j.
- `ppo`: PPO with GAE (Schulman et al. 2016, eq. 16) on the k1-shaped token rewards, gamma = 1,
  lambda = 0.95; advantages whitened over the batch; returns = A + V are the value targets.
- `actor_critic`: the Gorinski et al. 2023 reconstruction: A = r - V(prompt + program) per sequence, the
  value from a small critic trained in sync (its target is r itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class AdvantageInputs:
    rewards: torch.Tensor  # (B,) sequence rewards
    mask: torch.Tensor  # (B, T) 1 on generated tokens
    group: torch.Tensor  # (B,) prompt index: samples of one prompt share a group
    logp: torch.Tensor | None = None  # (B, T) log pi of the sampled tokens (rollout policy)
    ref_logp: torch.Tensor | None = None  # (B, T) log pi_ref of the same tokens
    values: torch.Tensor | None = None  # (B, T) per-token values (ppo) or (B,) sequence values (actor_critic)
    kl_coef: float = 0.01
    reward_clip: float = 10.0
    gamma: float = 1.0
    lam: float = 0.95


@dataclass
class AdvantageResult:
    advantages: torch.Tensor  # (B, T), zero where mask is 0
    returns: torch.Tensor | None = None  # (B, T) value targets (ppo); (B,) for actor_critic


# ------------------------------------------------------------------------------------------- blocks


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) over the valid entries; population variance as in OpenRLHF."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def k1_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k1 estimate of KL(pi || pi_ref): log pi - log pi_ref (Schulman's k1)."""
    return logp - ref_logp


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate (GRPO eq. 4): exp(ref - logp) - (ref - logp) - 1, always >= 0."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """(B,) index of the last valid token of each row (0 for an empty row)."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return (positions * mask.long()).max(dim=1).values


def token_rewards(
    rewards: torch.Tensor,
    mask: torch.Tensor,
    logp: torch.Tensor | None,
    ref_logp: torch.Tensor | None,
    kl_coef: float,
    reward_clip: float,
) -> torch.Tensor:
    """(B, T): -beta * k1 on every token plus the clipped terminal reward on the last token."""
    out = torch.zeros_like(mask, dtype=torch.float32)
    if kl_coef and logp is not None and ref_logp is not None:
        out = out - kl_coef * k1_kl(logp, ref_logp).float()
    r = rewards.float().clamp(-reward_clip, reward_clip)
    out[torch.arange(mask.shape[0]), last_token_index(mask)] += r
    return out * mask


def reverse_cumsum(x: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """G_t = sum_{s >= t} gamma^(s-t) x_s along the last dim, masked."""
    out = torch.zeros_like(x)
    running = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for t in reversed(range(x.shape[1])):
        running = x[:, t] + gamma * running
        out[:, t] = running
    return out * mask


def group_mean(values: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """(B,) mean of `values` over each row's group."""
    n_groups = int(group.max().item()) + 1
    sums = torch.zeros(n_groups, dtype=values.dtype, device=values.device).index_add_(0, group, values)
    counts = torch.zeros(n_groups, dtype=values.dtype, device=values.device).index_add_(
        0, group, torch.ones_like(values)
    )
    return (sums / counts)[group]


def group_std(values: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """(B,) unbiased standard deviation over each row's group (0 for a group of one)."""
    mean = group_mean(values, group)
    n_groups = int(group.max().item()) + 1
    sq = torch.zeros(n_groups, dtype=values.dtype, device=values.device).index_add_(
        0, group, (values - mean) ** 2
    )
    counts = torch.zeros(n_groups, dtype=values.dtype, device=values.device).index_add_(
        0, group, torch.ones_like(values)
    )
    return torch.sqrt(sq / (counts - 1).clamp(min=1))[group]


def broadcast(seq_adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return seq_adv.float()[:, None] * mask


# ------------------------------------------------------------------------------------------- estimators


def reinforce_pp(x: AdvantageInputs) -> AdvantageResult:
    """REINFORCE++: k1-shaped token rewards, gamma-1 returns, whitened over all tokens of the batch."""
    r = token_rewards(x.rewards, x.mask, x.logp, x.ref_logp, x.kl_coef, x.reward_clip)
    returns = reverse_cumsum(r, x.mask, x.gamma)
    return AdvantageResult(masked_whiten(returns, x.mask), returns)


def reinforce_pp_baseline(x: AdvantageInputs) -> AdvantageResult:
    """REINFORCE++-baseline: subtract the group mean reward, then REINFORCE++ (OpenRLHF)."""
    centred = x.rewards.float() - group_mean(x.rewards.float(), x.group)
    return reinforce_pp(AdvantageInputs(**{**x.__dict__, "rewards": centred}))


def grpo(x: AdvantageInputs, eps: float = 1e-4) -> AdvantageResult:
    r = x.rewards.float()
    adv = (r - group_mean(r, x.group)) / (group_std(r, x.group) + eps)
    return AdvantageResult(broadcast(adv, x.mask))


def rloo(x: AdvantageInputs) -> AdvantageResult:
    r = x.rewards.float()
    counts = _group_counts(x.group).float()
    sums = group_mean(r, x.group) * counts
    adv = r - (sums - r) / (counts - 1).clamp(min=1)
    return AdvantageResult(broadcast(adv, x.mask))


def _group_counts(group: torch.Tensor) -> torch.Tensor:
    return torch.bincount(group)[group]


def gae(token_r: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalized advantage estimation (Schulman et al. 2016, eq. 16); V after the last token is 0."""
    values = values.float() * mask
    adv = torch.zeros_like(token_r)
    running = torch.zeros(token_r.shape[0], dtype=token_r.dtype)
    for t in reversed(range(token_r.shape[1])):
        next_v = values[:, t + 1] if t + 1 < token_r.shape[1] else torch.zeros_like(running)
        delta = token_r[:, t] + gamma * next_v - values[:, t]
        running = delta + gamma * lam * running
        adv[:, t] = running
    adv = adv * mask
    return adv, (adv + values) * mask


def ppo(x: AdvantageInputs) -> AdvantageResult:
    if x.values is None:
        raise ValueError("ppo needs per-token values")
    r = token_rewards(x.rewards, x.mask, x.logp, x.ref_logp, x.kl_coef, x.reward_clip)
    adv, returns = gae(r, x.values, x.mask, x.gamma, x.lam)
    return AdvantageResult(masked_whiten(adv, x.mask), returns)


def actor_critic(x: AdvantageInputs) -> AdvantageResult:
    """Gorinski et al. reconstruction: A = r - V.detach(); the critic's target is r."""
    if x.values is None:
        raise ValueError("actor_critic needs sequence values")
    r = x.rewards.float()
    return AdvantageResult(broadcast(r - x.values.detach().float(), x.mask), r)


# ------------------------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Algorithm:
    """What sets one algorithm apart, read by the trainer, the policy loader and the update."""

    estimator: Callable[[AdvantageInputs], AdvantageResult]
    critic: str  # "none" | "token": a value per token (GAE) | "sequence": one value per program
    kl: str  # "reward": k1 KL shaped into the token rewards | "loss": a k3 KL term added to the loss
    loss: str  # "ppo_clip": the clipped surrogate | "actor_critic": Gorinski's actor + critic loss
    min_group: int = 1  # samples per prompt the estimator needs (a group baseline needs two)
    replay: bool = False  # replayed good programs join the update (`replay_per_step`)


ALGORITHMS: dict[str, Algorithm] = {
    "reinforce_pp": Algorithm(reinforce_pp, critic="none", kl="reward", loss="ppo_clip"),
    "reinforce_pp_baseline": Algorithm(
        reinforce_pp_baseline, critic="none", kl="reward", loss="ppo_clip", min_group=2
    ),
    "grpo": Algorithm(grpo, critic="none", kl="loss", loss="ppo_clip", min_group=2),
    "rloo": Algorithm(rloo, critic="none", kl="loss", loss="ppo_clip", min_group=2),
    "ppo": Algorithm(ppo, critic="token", kl="reward", loss="ppo_clip"),
    "actor_critic": Algorithm(actor_critic, critic="sequence", kl="loss", loss="actor_critic", replay=True),
}
ADVANTAGE_ESTIMATORS = {name: row.estimator for name, row in ALGORITHMS.items()}
