"""`RLConfig`: the one flat config of `unitrl rl` (CLI flags and YAML), and the typed settings the
building blocks take instead of it. Defaults run on this CPU machine.

`RLConfig` is what a user writes. The loop hands each part only what it needs: `RolloutSettings`
(generation), `LossSettings` and `UpdateSettings` (the gradient step), `EvalSettings` (held-out pass@1),
and `sandbox_config`, the one place the user's per-test time limit becomes the sandbox's limits. What
differs between algorithms (estimator, critic, where the KL goes, loss) is a row of
`unitrl.rl.estimators.ALGORITHMS`, not a name compared in the code. This module imports no torch, so
the CLI starts fast.

ACECODER's GPU settings for reference (docs/REFERENCE.md section 1): 256 prompts x 8 samples, lr 5e-7,
kl_coef 0.01, temperature 1.0, 80 rollout iterations, binary reward; see configs/ for a full file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unitrl.sandbox.ray_pool import ray_field


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
    prompt_format: str = field(
        default="auto",
        metadata=_h(
            "auto | chat | completion: what the policy sees (unitrl.policy_io, the same as `unitrl sample`)",
            choices=("auto", "chat", "completion"),
        ),
    )
    show_test: bool = field(default=True, metadata=_h("chat prompts show the problem's first test"))
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
    ray: str = ray_field()  # the rewards and held-out grading on a Ray cluster
    test_timeout: float = field(
        default=3.0,
        metadata=_h("CPU seconds per test (wall: 3x + 0.5 s)", min=0, min_exclusive=True, max=86400),
    )
    overlap_rewards: bool = field(
        default=True, metadata=_h("grade in a thread while the trainer scores tokens")
    )
    tensorboard: bool = field(
        default=False, metadata=_h("also log to TensorBoard (needs the tensorboard package)")
    )
    threads: int = field(default=0, metadata=_h("torch CPU threads (0 = torch default)", min=0, max=1024))


# ---------------------------------------------------------------------------- what the parts receive


@dataclass(frozen=True)
class RolloutSettings:
    """How programs are sampled for one step (and for held-out evaluation)."""

    samples_per_prompt: int = 8
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0


@dataclass(frozen=True)
class LossSettings:
    """The terms of one micro-batch's loss."""

    kl_coef: float = 0.01
    clip_eps: float = 0.2
    value_clip: float = 0.2
    vf_coef: float = 0.5
    critic_detach: bool = True
    temperature: float = 1.0  # log-probs are scored at the sampling temperature


@dataclass(frozen=True)
class UpdateSettings:
    """How one rollout becomes optimizer steps."""

    loss: LossSettings = LossSettings()
    ppo_epochs: int = 1
    mini_batches: int = 1
    micro_batch: int = 64
    max_grad_norm: float = 1.0
    bf16: bool = True

    @property
    def off_policy(self) -> bool:
        """More than one optimizer step per rollout: ratios against the rollout policy are not 1."""
        return self.ppo_epochs > 1 or self.mini_batches > 1


@dataclass(frozen=True)
class EvalSettings:
    """Held-out pass@1: `samples` draws per problem at the rollout temperature, and greedy."""

    samples: int = 4
    greedy: bool = True
    test_timeout: float = 3.0


def rollout_settings(cfg: RLConfig) -> RolloutSettings:
    return RolloutSettings(cfg.samples_per_prompt, cfg.max_new_tokens, cfg.temperature, cfg.top_p)


def update_settings(cfg: RLConfig) -> UpdateSettings:
    loss = LossSettings(
        cfg.kl_coef, cfg.clip_eps, cfg.value_clip, cfg.vf_coef, cfg.critic_detach, cfg.temperature
    )
    return UpdateSettings(
        loss, cfg.ppo_epochs, cfg.mini_batches, cfg.micro_batch, cfg.max_grad_norm, cfg.bf16
    )


def eval_settings(cfg: RLConfig) -> EvalSettings:
    return EvalSettings(cfg.eval_samples, cfg.eval_greedy, cfg.test_timeout)


def sandbox_config(cfg: RLConfig):
    """The sandbox RL grades in. `--test-timeout` is the CPU seconds each test may use; the sandbox
    derives the wall limit from it (x `wall_factor` + 0.5 s). Reward and evaluation grading pass the
    same value per job, so a sandbox handed in by a caller applies it too."""
    from unitrl.sandbox import SandboxConfig

    return SandboxConfig(workers=cfg.sandbox_workers, timeout=cfg.test_timeout)
