"""Policy and value losses against values computed by hand."""

from __future__ import annotations

import math

import torch

from unitrl.rl.losses import actor_critic_loss, kl_loss, ppo_clip_loss, value_loss


def test_ppo_clip_by_hand():
    old = torch.zeros(2, 2)
    # ratios: e^0.5 = 1.6487 (clipped to 1.2 for positive A), e^-0.5 = 0.6065 (clipped to 0.8 for negative A)
    logp = torch.tensor([[0.5, 0.0], [-0.5, 0.0]])
    adv = torch.tensor([[1.0, 2.0], [-1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    loss, clipped = ppo_clip_loss(logp, old, adv, mask, clip_eps=0.2)
    # row 0: tokens -min(1.6487, 1.2) = -1.2 and -2.0 -> mean -1.6
    # row 1: -min(-0.6065, -0.8) = 0.8 -> mean 0.8; batch mean (-1.6 + 0.8) / 2 = -0.4
    assert math.isclose(loss.item(), -0.4, abs_tol=1e-6)
    assert math.isclose(clipped.item(), 2 / 3, abs_tol=1e-6)


def test_ppo_clip_gradient_is_policy_gradient_on_policy():
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    adv = torch.tensor([[0.5, -1.0]])
    loss, _ = ppo_clip_loss(logp, logp.detach(), adv, torch.ones(1, 2))
    loss.backward()
    # ratio 1: d/dlogp of -mean(ratio * A) = -A / 2
    assert torch.allclose(logp.grad, torch.tensor([[-0.25, 0.5]]))


def test_value_loss_clipped_by_hand():
    v = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[0.5, 0.0]])
    ret = torch.tensor([[2.0, 1.0]])
    # token 0: unclipped (1-2)^2 = 1; clipped v = 0.5 + 0.2 = 0.7 -> (0.7-2)^2 = 1.69 -> max 1.69
    # token 1: both (0-1)^2 = 1; loss = 0.5 * mean(1.69, 1) = 0.6725
    assert math.isclose(value_loss(v, old, ret, torch.ones(1, 2), clip=0.2).item(), 0.6725, abs_tol=1e-6)


def test_actor_critic_loss_by_hand():
    logp = torch.tensor([[-1.0, -0.5], [-2.0, -3.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    rewards = torch.tensor([1.0, -0.6])
    values = torch.tensor([0.5, 0.0], requires_grad=True)
    actor, critic = actor_critic_loss(logp, mask, rewards, values)
    # sum log pi: [-1.5, -2.0]; advantages [0.5, -0.6]; actor = -mean(0.5*-1.5, -0.6*-2.0) = -(-0.75+1.2)/2
    assert math.isclose(actor.item(), -0.225, abs_tol=1e-6)
    # critic: mean((0.5-1)^2, (0+0.6)^2) = (0.25 + 0.36) / 2
    assert math.isclose(critic.item(), 0.305, abs_tol=1e-6)
    (actor + critic).backward()
    # the actor term never reaches the critic: d critic / dV = (V - r) = [-0.5, 0.6]
    assert torch.allclose(values.grad, torch.tensor([-0.5, 0.6]))
    assert torch.allclose(logp.grad, torch.tensor([[-0.25, -0.25], [0.3, 0.0]]))


def test_kl_loss_by_hand():
    lp = torch.tensor([[-1.0, -2.0]])
    ref = torch.tensor([[-1.0, -1.0]])
    assert math.isclose(kl_loss(lp, ref, torch.ones(1, 2)).item(), (math.e - 2) / 2, abs_tol=1e-6)
