"""Rollout layout, replay deduplication by syntax tree, atomic checkpoints, LR schedules, critic heads."""

from __future__ import annotations

import random

import torch

from unitrl.rl import checkpoint
from unitrl.rl.critic import SequenceCritic, ValueHead, mean_pool
from unitrl.rl.policy import lr_lambda
from unitrl.rl.replay import ReplayBuffer, ReplayEntry
from unitrl.rl.rollout import completion_mask, forward_completion, left_pad, position_ids


def test_completion_mask_stops_after_first_eos():
    comp = torch.tensor([[5, 6, 2, 7, 2], [5, 5, 5, 5, 5], [2, 9, 9, 9, 9]])
    assert completion_mask(comp, [2]).tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]


def test_left_pad_and_positions():
    ids, mask = left_pad([[4, 5, 6], [7]], pad_id=0)
    assert ids.tolist() == [[4, 5, 6], [0, 0, 7]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert position_ids(mask).tolist() == [[0, 1, 2], [0, 0, 0]]


def test_padding_does_not_change_logprobs(curriculum):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(curriculum["model"]).eval()
    prompt, completion = [10, 11, 12], [13, 14]
    alone = torch.tensor([prompt + completion])
    padded = torch.tensor([[0, 0] + prompt + completion])
    with torch.no_grad():
        a, _, _ = forward_completion(model, alone, torch.ones_like(alone), 3)
        b, _, _ = forward_completion(model, padded, torch.tensor([[0, 0, 1, 1, 1, 1, 1]]), 5)
        logits = model(alone).logits[0]
    assert torch.allclose(a, b, atol=1e-5)
    # the completion token t is scored by the logits one position earlier
    manual = torch.log_softmax(logits[2], -1)[13]
    assert torch.allclose(a[0, 0], manual, atol=1e-5)


def test_replay_dedups_by_syntax_tree():
    buf = ReplayBuffer(capacity=2, min_reward=1.0)
    e = ReplayEntry("t", [1], [2], 1.0)
    assert buf.add(e, "def f(x):\n    return x+1\n")
    assert not buf.add(e, "def f( x ):\n\n    return (x + 1)  # same tree\n")
    assert not buf.add(ReplayEntry("t", [1], [3], 0.5), "def f(x):\n    return x\n")  # reward too low
    assert not buf.add(e, "def f(x) return")  # does not parse
    assert buf.add(ReplayEntry("u", [1], [2], 1.0), "def f(x):\n    return x+1\n")  # other task
    assert buf.add(ReplayEntry("v", [1], [4], 1.0), "def g():\n    pass\n")
    assert len(buf) == 2 and {k[0] for k in buf.entries} == {"u", "v"}  # oldest evicted
    clone = ReplayBuffer()
    clone.load_state_dict(buf.state_dict())
    assert [e.__dict__ for e in clone.sample(5, random.Random(0))] == [
        e.__dict__ for e in buf.sample(5, random.Random(0))
    ]


def test_checkpoint_keeps_newest_and_ignores_partial(tmp_path):
    for step in (1, 2, 3):
        checkpoint.save_checkpoint(tmp_path, step, {"step": step, "x": torch.tensor([step])}, keep=2)
    (tmp_path / ".step_4.abc").mkdir()  # a write killed before its rename
    (tmp_path / "step_9").mkdir()  # a folder without state.pt
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["step_2", "step_3"]
    assert checkpoint.load_latest(tmp_path)["step"] == 3


def test_rng_state_round_trip():
    state = checkpoint.rng_state()
    a = (random.random(), torch.rand(2))
    checkpoint.set_rng_state(state)
    b = (random.random(), torch.rand(2))
    assert a[0] == b[0] and torch.equal(a[1], b[1])


def test_lr_schedules_by_hand():
    assert [lr_lambda("constant", 2, 10)(s) for s in (0, 1, 5)] == [0.5, 1.0, 1.0]
    assert lr_lambda("linear", 0, 10)(5) == 0.5
    assert abs(lr_lambda("cosine", 0, 10)(5) - 0.5) < 1e-9 and lr_lambda("cosine", 0, 10)(10) == 0.0


def test_critic_heads_shapes_and_pooling():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert mean_pool(hidden, mask).tolist() == [[2.0, 3.0]]
    critic = SequenceCritic(2, width=4)
    assert critic(hidden, mask).shape == (1,)
    h = hidden.clone().requires_grad_(True)
    critic(h, mask, detach=True).sum().backward()
    assert h.grad is None  # the critic loss never reaches the policy when detached
    assert ValueHead(2)(hidden, prompt_len=1).shape == (1, 2)
