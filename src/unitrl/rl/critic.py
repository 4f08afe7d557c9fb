"""Critics: the small feed-forward critic of the actor-critic reconstruction and PPO's value head.

- `SequenceCritic` (Gorinski et al. 2023, reconstruction in REFERENCE.md section 2): an MLP on the
  mean-pooled last hidden state of prompt + program, predicting the program's reward. It is trained in
  sync with the policy at every step (its own loss (V - r)^2). By default it reads a DETACHED hidden state,
  so the critic loss never moves the policy (assumption, flag `critic_detach`).
- `ValueHead`: PPO's per-token value, a linear map of the hidden state at each completion position.
"""

from __future__ import annotations

import torch
from torch import nn


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, H) mean of `hidden` (N, L, H) over positions where `mask` (N, L) is 1."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


class SequenceCritic(nn.Module):
    def __init__(self, hidden_size: int, width: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden_size, width), nn.Tanh(), nn.Linear(width, 1))

    def forward(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, detach: bool = True
    ) -> torch.Tensor:
        pooled = mean_pool(hidden.detach() if detach else hidden, attention_mask).float()
        return self.net(pooled).squeeze(-1)  # (N,)


class ValueHead(nn.Module):
    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor, prompt_len: int) -> torch.Tensor:
        """(N, T) value of the state before each completion token (aligned with the logits)."""
        return self.linear(hidden[:, prompt_len - 1 : -1].float()).squeeze(-1)
