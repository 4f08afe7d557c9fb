"""Every advantage estimator against values computed by hand on small tensors."""

from __future__ import annotations

import math

import pytest
import torch

from unitrl.rl.estimators import (
    ADVANTAGE_ESTIMATORS,
    AdvantageInputs,
    gae,
    group_std,
    k3_kl,
    masked_whiten,
    token_rewards,
)

# Two sequences: the first has 3 generated tokens, the second 2 (then padding).
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])


def test_token_rewards_terminal_clip_and_k1():
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -9.0]])
    ref = torch.tensor([[-1.5, -2.0, -0.25], [-0.5, -1.0, -9.0]])
    r = token_rewards(torch.tensor([20.0, -1.0]), MASK, logp, ref, kl_coef=0.1, reward_clip=10.0)
    # k1 = logp - ref: [[0.5, 0, -0.25], [-0.5, 0, pad]]; -0.1 * k1; terminal clipped 20 -> 10
    expected = torch.tensor([[-0.05, 0.0, 0.025 + 10.0], [0.05, 0.0 - 1.0, 0.0]])
    assert torch.allclose(r, expected)


def test_reinforce_pp_by_hand():
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -9.0]])
    ref = torch.tensor([[-1.5, -2.0, -0.25], [-0.5, -1.0, -9.0]])
    x = AdvantageInputs(torch.tensor([1.0, 0.0]), MASK, torch.tensor([0, 0]), logp, ref, kl_coef=0.1)
    out = ADVANTAGE_ESTIMATORS["reinforce_pp"](x)
    # token rewards [[-0.05, 0, 1.025], [0.05, 0, pad]]; gamma-1 returns (suffix sums):
    returns = [0.975, 1.025, 1.025, 0.05, 0.0]
    assert torch.allclose(out.returns[0], torch.tensor(returns[:3]))
    assert torch.allclose(out.returns[1, :2], torch.tensor(returns[3:]))
    mean = sum(returns) / 5
    std = math.sqrt(sum((v - mean) ** 2 for v in returns) / 5 + 1e-8)
    expected = [(v - mean) / std for v in returns]
    got = out.advantages[MASK.bool()]
    assert torch.allclose(got, torch.tensor(expected), atol=1e-5)
    assert out.advantages[1, 2] == 0


def test_reinforce_pp_baseline_subtracts_group_mean():
    mask = torch.ones(4, 1)
    x = AdvantageInputs(torch.tensor([1.0, 0.0, 1.0, 1.0]), mask, torch.tensor([0, 0, 1, 1]), kl_coef=0.0)
    out = ADVANTAGE_ESTIMATORS["reinforce_pp_baseline"](x)
    # centred rewards [0.5, -0.5, 0, 0]; mean 0, population var 0.125
    centred = torch.tensor([0.5, -0.5, 0.0, 0.0])
    assert torch.allclose(out.advantages[:, 0], centred / math.sqrt(0.125 + 1e-8), atol=1e-5)


def test_grpo_by_hand():
    x = AdvantageInputs(
        torch.tensor([1.0, 0.0, 0.0, 2.0, 2.0]), torch.ones(5, 2), torch.tensor([0, 0, 0, 1, 1])
    )
    out = ADVANTAGE_ESTIMATORS["grpo"](x)
    # group 0: mean 1/3, unbiased std sqrt(((2/3)^2 + 2 (1/3)^2) / 2) = sqrt(1/3); group 1: std 0
    s = math.sqrt(1 / 3)
    expected = [(2 / 3) / (s + 1e-4), (-1 / 3) / (s + 1e-4), (-1 / 3) / (s + 1e-4), 0.0, 0.0]
    assert torch.allclose(out.advantages[:, 0], torch.tensor(expected), atol=1e-5)
    assert torch.allclose(out.advantages[:, 1], out.advantages[:, 0])
    assert torch.allclose(
        group_std(torch.tensor([1.0, 3.0]), torch.tensor([0, 0])), torch.tensor(math.sqrt(2.0))
    )


def test_rloo_by_hand():
    x = AdvantageInputs(
        torch.tensor([1.0, 0.0, 0.5, 3.0, 1.0]), torch.ones(5, 1), torch.tensor([0, 0, 0, 1, 1])
    )
    out = ADVANTAGE_ESTIMATORS["rloo"](x)
    expected = [1 - 0.25, 0 - 0.75, 0.5 - 0.5, 3 - 1, 1 - 3]
    assert torch.allclose(out.advantages[:, 0], torch.tensor(expected))


def test_gae_by_hand():
    r = torch.tensor([[0.0, 0.0, 1.0]])
    v = torch.tensor([[0.5, 0.25, 0.75]])
    adv, ret = gae(r, v, torch.ones(1, 3), gamma=1.0, lam=0.5)
    # deltas: d2 = 1 - 0.75 = 0.25; d1 = 0 + 0.75 - 0.25 = 0.5; d0 = 0 + 0.25 - 0.5 = -0.25
    # A2 = 0.25; A1 = 0.5 + 0.5*0.25 = 0.625; A0 = -0.25 + 0.5*0.625 = 0.0625
    assert torch.allclose(adv, torch.tensor([[0.0625, 0.625, 0.25]]))
    assert torch.allclose(ret, adv + v)


def test_ppo_whitens_gae():
    x = AdvantageInputs(
        torch.tensor([1.0]),
        torch.ones(1, 3),
        torch.tensor([0]),
        values=torch.tensor([[0.5, 0.25, 0.75]]),
        kl_coef=0.0,
        lam=0.5,
    )
    out = ADVANTAGE_ESTIMATORS["ppo"](x)
    raw = torch.tensor([0.0625, 0.625, 0.25])
    assert torch.allclose(out.advantages[0], masked_whiten(raw, torch.ones(3)), atol=1e-6)
    with pytest.raises(ValueError):
        ADVANTAGE_ESTIMATORS["ppo"](AdvantageInputs(torch.tensor([1.0]), torch.ones(1, 3), torch.tensor([0])))


def test_actor_critic_by_hand():
    x = AdvantageInputs(
        torch.tensor([1.0, -0.6]), MASK, torch.tensor([0, 0]), values=torch.tensor([0.25, 0.1])
    )
    out = ADVANTAGE_ESTIMATORS["actor_critic"](x)
    assert torch.allclose(out.advantages, torch.tensor([[0.75, 0.75, 0.75], [-0.7, -0.7, 0.0]]))
    assert torch.allclose(out.returns, torch.tensor([1.0, -0.6]))


def test_k3_is_nonnegative_and_zero_at_equality():
    lp = torch.tensor([-1.0, -2.0])
    ref = torch.tensor([-1.0, -1.0])
    # d = ref - lp = [0, 1]: exp(1) - 1 - 1
    assert torch.allclose(k3_kl(lp, ref), torch.tensor([0.0, math.e - 2]))
