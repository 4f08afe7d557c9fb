"""`RLConfig`: the one flat config of `unitrl rl` (CLI flags and YAML). Defaults run on this CPU machine.

ACECODER's GPU settings for reference (REFERENCE.md section 1): 256 prompts x 8 samples, lr 5e-7,
kl_coef 0.01, temperature 1.0, 80 rollout iterations, binary reward; see configs/ for a full file.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _h(text: str, **checks: object) -> dict:
    """Field metadata: the help text and the checks `unitrl.config` applies (min, max, choices, ...)."""
    return {"help": text, **checks}


@dataclass
class RLConfig:
    problems: str = field(default="", metadata=_h("problems JSONL to train on (records.Problem)"))
    model: str = field(default="", metadata=_h("policy model: a local path or a hub name"))
    algo: str = field(
        default="reinforce_pp",
        metadata=_h(
            "reinforce_pp | reinforce_pp_baseline | grpo | rloo | ppo | actor_critic",
            choices=("reinforce_pp", "reinforce_pp_baseline", "grpo", "rloo", "ppo", "actor_critic"),
        ),
    )
    reward: str = field(
        default="binary",
        metadata=_h(
            "binary | pass_rate | coderl | rltf | partial | rm:PATH | mixes like 0.5*binary+0.5*rm:PATH"
        ),
    )
    out: str = field(
        default="runs/rl",
        metadata=_h("run directory (checkpoints, metrics, curves, final model)", path="out_dir"),
    )
    eval_problems: str = field(
        default="", metadata=_h("held-out problems JSONL for pass@1 every --eval-every steps")
    )
    steps: int = field(default=100, metadata=_h("optimizer steps (rollout iterations)", min=1))
    max_minutes: float = field(
        default=0.0, metadata=_h("stop after this many minutes of training (0 = no limit)", min=0)
    )
    budget_clock: str = field(
        default="wall",
        metadata=_h(
            "wall | process: what --max-minutes counts (process = trainer CPU time)",
            choices=("wall", "process"),
        ),
    )
    prompts_per_step: int = field(default=16, metadata=_h("prompts per rollout", min=1))
    samples_per_prompt: int = field(default=8, metadata=_h("samples per prompt (the group size)", min=1))
    micro_batch: int = field(
        default=64, metadata=_h("sequences per forward/backward (gradient accumulation)", min=1)
    )
    ppo_epochs: int = field(default=1, metadata=_h("passes over each rollout", min=1))
    mini_batches: int = field(default=1, metadata=_h("optimizer steps per pass over a rollout", min=1))
    lr: float = field(
        default=1e-4, metadata=_h("policy learning rate (ACECODER on 7B: 5e-7)", min=0, min_exclusive=True)
    )
    critic_lr: float = field(
        default=1e-3, metadata=_h("learning rate of the critic / value head", min=0, min_exclusive=True)
    )
    lr_schedule: str = field(
        default="constant",
        metadata=_h("constant | linear | cosine (after warmup)", choices=("constant", "linear", "cosine")),
    )
    warmup_steps: int = field(default=0, metadata=_h("linear LR warmup steps", min=0))
    weight_decay: float = field(default=0.0, metadata=_h("AdamW weight decay", min=0))
    max_grad_norm: float = field(default=1.0, metadata=_h("gradient clipping (0 = off)", min=0))
    clip_eps: float = field(default=0.2, metadata=_h("PPO ratio clip", min=0, min_exclusive=True))
    kl_coef: float = field(
        default=0.01, metadata=_h("KL to the frozen reference (k1 in reward or k3 in loss)", min=0)
    )
    reward_clip: float = field(
        default=10.0, metadata=_h("terminal reward clip (REINFORCE++)", min=0, min_exclusive=True)
    )
    gamma: float = field(default=1.0, metadata=_h("discount", min=0, max=1))
    lam: float = field(default=0.95, metadata=_h("GAE lambda (ppo)", min=0, max=1))
    value_clip: float = field(default=0.2, metadata=_h("value clip (ppo)", min=0, min_exclusive=True))
    vf_coef: float = field(default=0.5, metadata=_h("value loss weight (ppo, actor_critic)", min=0))
    critic_width: int = field(default=256, metadata=_h("hidden width of the actor-critic MLP critic", min=1))
    critic_detach: bool = field(
        default=True, metadata=_h("critic reads a detached hidden state (assumption)")
    )
    replay_per_step: int = field(
        default=0, metadata=_h("replayed good programs per actor_critic step (assumption)", min=0)
    )
    replay_size: int = field(default=4096, metadata=_h("replay buffer capacity (deduplicated by AST)", min=0))
    replay_min_reward: float = field(default=1.0, metadata=_h("reward needed to enter the replay buffer"))
    temperature: float = field(default=1.0, metadata=_h("sampling temperature", min=0, max=100))
    top_p: float = field(default=1.0, metadata=_h("nucleus sampling", min=0, min_exclusive=True, max=1))
    max_new_tokens: int = field(default=256, metadata=_h("completion length limit", min=1))
    chat: str = field(
        default="auto",
        metadata=_h("auto | yes | no: wrap prompts in the chat template", choices=("auto", "yes", "no")),
    )
    prompt_style: str = field(
        default="auto",
        metadata=_h(
            "auto | complete (program = prompt + completion) | instruct",
            choices=("auto", "complete", "instruct"),
        ),
    )
    backend: str = field(
        default="hf", metadata=_h("hf | vllm (GPU machines with vllm installed)", choices=("hf", "vllm"))
    )
    device: str = field(default="auto", metadata=_h("auto | cpu | cuda"))
    bf16: bool = field(default=True, metadata=_h("bf16 autocast (CUDA only)"))
    lora_r: int = field(default=0, metadata=_h("LoRA rank (0 = full fine-tuning)", min=0))
    lora_alpha: int = field(default=32, metadata=_h("LoRA alpha", min=1))
    seed: int = field(default=0, metadata=_h("random seed (data order, sampling)", min=0, max=4294967295))
    eval_every: int = field(
        default=10, metadata=_h("held-out evaluation every K steps (0 = only before/after)", min=0)
    )
    eval_samples: int = field(
        default=4, metadata=_h("samples per held-out problem for sampled pass@1 (0 = off)", min=0)
    )
    eval_greedy: bool = field(default=True, metadata=_h("also report greedy pass@1"))
    eval_limit: int = field(default=0, metadata=_h("use only the first N held-out problems (0 = all)", min=0))
    checkpoint_every: int = field(default=10, metadata=_h("checkpoint every K steps", min=0))
    keep_checkpoints: int = field(default=2, metadata=_h("checkpoints kept", min=1))
    resume: bool = field(default=True, metadata=_h("resume from the newest checkpoint in --out"))
    sandbox_workers: int = field(default=2, metadata=_h("sandbox worker processes", min=0, max=1024))
    test_timeout: float = field(
        default=3.0, metadata=_h("seconds per test", min=0, min_exclusive=True, max=86400)
    )
    overlap_rewards: bool = field(
        default=True, metadata=_h("grade in a thread while the trainer scores tokens")
    )
    tensorboard: bool = field(default=False, metadata=_h("also log to TensorBoard (if installed)"))
    threads: int = field(default=0, metadata=_h("torch CPU threads (0 = torch default)", min=0, max=1024))
