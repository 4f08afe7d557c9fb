"""Bradley-Terry reward-model training with TRL's RewardTrainer (ACECODER section 4,
docs/REFERENCE.md section 1).

Loss: -log sigmoid(r(chosen) - r(rejected) [- margin]) + c * mean((r+ + r-)^2) when centering is on
(TRL 1.16 `RewardTrainer.compute_loss`; the centering term is Eisenstein et al. 2023, Eq. 2). ACECODER
trains without margin or centering; both are flags here. The inputs are tokenized by
`unitrl.rm.prompt.encode` (question + one test, then the program), the same function scoring uses,
and handed to TRL already tokenized (`chosen_ids`/`rejected_ids`), so training and scoring cannot drift.
Pairs are split into train and held-out BY QUESTION, so held-out accuracy measures unseen questions; it
is reported with the number of pairs and a 95% Wilson interval, so a figure on a handful of pairs reads
as what it is.
Departures from the paper: defaults sized for a CPU (small batch, a higher learning rate for tiny models).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from unitrl.errors import UserError
from unitrl.records import Pair, read_records, write_text_atomic


@dataclass
class TrainRMConfig:
    pairs: str = field(default="", metadata={"help": "Pairs file from `unitrl pairs`."})
    model: str = field(
        default="", metadata={"help": "Base model: hub id or local folder (causal LM or classifier)."}
    )
    out: str = field(
        default="",
        metadata={"help": "Run folder: the trained model, config, metrics, loss curve.", "path": "out_dir"},
    )
    lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank.", "min": 1})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha.", "min": 1})
    epochs: float = field(
        default=1.0, metadata={"help": "Passes over the training pairs.", "min": 0, "min_exclusive": True}
    )
    learning_rate: float = field(
        default=1e-4,
        metadata={"help": "Peak learning rate (ACECODER 7B: 1e-5).", "min": 0, "min_exclusive": True},
    )
    batch_size: int = field(default=8, metadata={"help": "Pairs per device step.", "min": 1})
    grad_accum: int = field(default=1, metadata={"help": "Gradient accumulation steps.", "min": 1})
    warmup_ratio: float = field(
        default=0.1, metadata={"help": "Warmup fraction (cosine schedule).", "min": 0, "max": 1}
    )
    max_length: int = field(
        default=1024, metadata={"help": "Tokens per input; longer inputs keep their end.", "min": 8}
    )
    use_margin: bool = field(
        default=False, metadata={"help": "Subtract the pass-rate gap inside the sigmoid."}
    )
    center_rewards: float = field(
        default=0.0, metadata={"help": "Centering coefficient (0: off; 0.01 typical).", "min": 0}
    )
    eval_fraction: float = field(
        default=0.1,
        metadata={"help": "Fraction of questions held out.", "min": 0, "max": 1, "max_exclusive": True},
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda."})
    seed: int = field(
        default=0,
        metadata={
            "help": "Seed for the split, init of the head and data order.",
            "min": 0,
            "max": 4294967295,
        },
    )
    logging_steps: int = field(default=5, metadata={"help": "Log the loss every N steps.", "min": 1})


def split_by_task(pairs: list[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held-out) with every question on one side only; at least one held-out question when
    the fraction is positive and there are two or more questions."""
    tasks = sorted({p.task_id for p in pairs})
    random.Random(seed).shuffle(tasks)
    n_eval = round(len(tasks) * eval_fraction)
    if eval_fraction > 0 and len(tasks) >= 2:
        n_eval = min(max(n_eval, 1), len(tasks) - 1)
    held = set(tasks[:n_eval])
    return [p for p in pairs if p.task_id not in held], [p for p in pairs if p.task_id in held]


def tokenize_pairs(tokenizer, pairs: list[Pair], max_length: int, use_margin: bool):
    """A datasets.Dataset in TRL's pre-tokenized preference format."""
    from datasets import Dataset

    from unitrl.rm.prompt import encode

    rows = []
    for p in pairs:
        row = {
            "chosen_ids": encode(tokenizer, p.prompt, p.chosen, max_length),
            "rejected_ids": encode(tokenizer, p.prompt, p.rejected, max_length),
        }
        if use_margin:
            row["margin"] = float(p.margin)
        rows.append(row)
    return Dataset.from_list(rows)


def pairwise_accuracy(model, tokenizer, pairs: list[Pair], max_length: int, batch_size: int = 16) -> float:
    """Fraction of pairs where r(chosen) > r(rejected) (ties count as wrong)."""
    from unitrl.rm.prompt import encode
    from unitrl.rm.scoring import score_rows

    if not pairs:
        return float("nan")
    device = str(next(model.parameters()).device)
    rows = [encode(tokenizer, p.prompt, x, max_length) for p in pairs for x in (p.chosen, p.rejected)]
    s = score_rows(model, tokenizer.pad_token_id, rows, batch_size, device)
    return sum(s[2 * i] > s[2 * i + 1] for i in range(len(pairs))) / len(pairs)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% for z = 1.96); None without trials."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def lora_config(r: int, alpha: int):
    """LoRA on every linear layer; the fresh scalar head is trained in full (`modules_to_save`)."""
    from peft import LoraConfig

    return LoraConfig(
        task_type="SEQ_CLS", r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear",
        modules_to_save=["score"],
    )  # fmt: skip


def reward_config(cfg: TrainRMConfig, output_dir: Path, device: str):
    """TRL's RewardConfig for this run: CPU-safe precision, no checkpoints, logs for the loss curve."""
    import torch
    from trl import RewardConfig

    on_cuda = device.startswith("cuda")
    return RewardConfig(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of all steps
        max_length=None,  # `encode` already cut every input to max_length
        center_rewards_coefficient=cfg.center_rewards or None,
        bf16=on_cuda and torch.cuda.is_bf16_supported(),
        use_cpu=not on_cuda,
        gradient_checkpointing=False,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,  # the loss curve starts at step 1 even on a short run
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=False,
    )


def plot_loss(log_history: list[dict], path: Path) -> None:
    """Training loss against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(h["step"], h["loss"]) for h in log_history if "loss" in h and "step" in h]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if points:
        ax.plot(*zip(*points), marker="o", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("Bradley-Terry loss")
    ax.set_title("reward model training")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train_reward_model(cfg: TrainRMConfig) -> dict:
    """Train, evaluate on held-out questions, save model + config + metrics + loss curve into cfg.out."""
    import transformers
    from trl import RewardTrainer

    from unitrl.config import save_config
    from unitrl.models.backends import load_tokenizer, pick_device

    # 1. Data: pairs split by question, tokenized with the shared RM input format.
    for name in ("pairs", "model", "out"):
        if not getattr(cfg, name):
            raise UserError(f"missing --{name}", field=name)
    pairs = read_records(cfg.pairs, Pair)
    if not pairs:
        raise UserError("no pairs to train on", path=cfg.pairs)
    run_dir = Path(cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir)
    train_pairs, eval_pairs = split_by_task(pairs, cfg.eval_fraction, cfg.seed)
    device = pick_device(cfg.device)
    tokenizer = load_tokenizer(cfg.model, padding_side="right")
    train_ds = tokenize_pairs(tokenizer, train_pairs, cfg.max_length, cfg.use_margin)

    # 2. Trainer: TRL loads the base as AutoModelForSequenceClassification (num_labels=1).
    transformers.set_seed(cfg.seed)
    args = reward_config(cfg, run_dir / "trainer", device)
    trainer = RewardTrainer(
        model=cfg.model, args=args, train_dataset=train_ds, processing_class=tokenizer,
        peft_config=lora_config(cfg.lora_r, cfg.lora_alpha) if cfg.lora else None,
    )  # fmt: skip
    acc_before = pairwise_accuracy(trainer.model, tokenizer, eval_pairs, cfg.max_length)

    # 3. Train.
    start = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - start
    acc_after = pairwise_accuracy(trainer.model, tokenizer, eval_pairs, cfg.max_length)
    train_acc = pairwise_accuracy(trainer.model, tokenizer, train_pairs[:512], cfg.max_length)

    # 4. Save a plain classifier (LoRA merged) that AutoModelForSequenceClassification loads by path.
    model = trainer.model.merge_and_unload() if cfg.lora else trainer.model
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(run_dir)
    tokenizer.save_pretrained(run_dir)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    plot_loss(trainer.state.log_history, run_dir / "loss.png")
    metrics = {
        "pairs_train": len(train_pairs),
        "pairs_heldout": len(eval_pairs),
        "tasks_heldout": len({p.task_id for p in eval_pairs}),
        "heldout_accuracy_before": acc_before,
        "heldout_accuracy": acc_after,
        "heldout_accuracy_ci95": wilson_interval(round(acc_after * len(eval_pairs)), len(eval_pairs))
        if eval_pairs
        else None,
        "train_accuracy": train_acc,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "mean_train_loss": output.training_loss,
        "steps": trainer.state.global_step,
        "seconds": round(seconds, 2),
        "device": device,
        "lora": cfg.lora,
    }
    metrics = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}
    write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_text_atomic(run_dir / "log_history.json", json.dumps(trainer.state.log_history, indent=2) + "\n")
    return metrics
