"""The trainable parts of a run: policy (optionally LoRA), frozen reference, critic heads, optimizer.

The reference for the KL penalty is a frozen copy of the starting policy; with LoRA it is the same model
with its adapters disabled, so no second copy is kept. bf16 autocast is used on CUDA only (CPU autocast
in bf16 is slower than float32 on most CPUs and changes results).
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass

import torch

from unitrl.errors import UserError
from unitrl.rl.critic import SequenceCritic, ValueHead


@dataclass
class PolicyParts:
    model: torch.nn.Module
    tokenizer: object
    ref: torch.nn.Module | None  # None: no KL, or LoRA (use `reference_context`)
    critic: torch.nn.Module | None  # SequenceCritic ("sequence") or ValueHead ("token"), by the algorithm
    device: torch.device
    lora: bool


def pick_device(name: str) -> torch.device:
    """`unitrl.models.backends.pick_device` as a torch.device."""
    from unitrl.models.backends import pick_device as device_name

    return torch.device(device_name(name))


def load_policy(
    model_path: str,
    critic_kind: str,
    device: torch.device,
    kl: bool,
    lora_r: int,
    lora_alpha: int,
    critic_width: int,
) -> PolicyParts:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path)
    except OSError as exc:
        raise UserError(f"cannot load model: {exc}", field="model") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    ref = None
    if lora_r > 0:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(r=lora_r, lora_alpha=lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"),
        )
    elif kl:
        ref = copy.deepcopy(model).eval().requires_grad_(False)
    hidden = model.config.hidden_size
    # "token": a value per completion token (PPO's GAE); "sequence": one per program (Gorinski)
    critic = {
        "sequence": lambda: SequenceCritic(hidden, critic_width),
        "token": lambda: ValueHead(hidden),
    }.get(critic_kind)
    return PolicyParts(model, tokenizer, ref, critic().to(device) if critic else None, device, lora_r > 0)


def reference_context(parts: PolicyParts):
    """Context in which `reference_model(parts)` computes reference log-probs."""
    if parts.lora:
        return parts.model.disable_adapter()
    return contextlib.nullcontext()


def reference_model(parts: PolicyParts) -> torch.nn.Module:
    return parts.model if parts.lora else parts.ref


def autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_optimizer(
    parts: PolicyParts, lr: float, critic_lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    groups = [{"params": [p for p in parts.model.parameters() if p.requires_grad], "lr": lr}]
    if parts.critic is not None:
        groups.append({"params": list(parts.critic.parameters()), "lr": critic_lr})
    return torch.optim.AdamW(groups, weight_decay=weight_decay)


def lr_lambda(schedule: str, warmup: int, total: int):
    """Multiplier of the base LR at optimizer step s: linear warmup, then constant/linear/cosine decay."""

    def f(s: int) -> float:
        if warmup and s < warmup:
            return (s + 1) / warmup
        frac = (s - warmup) / max(1, total - warmup)
        if schedule == "linear":
            return max(0.0, 1 - frac)
        if schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
        return 1.0

    if schedule not in ("constant", "linear", "cosine"):
        raise UserError(f"unknown lr_schedule {schedule!r} (constant, linear, cosine)", field="lr_schedule")
    return f
