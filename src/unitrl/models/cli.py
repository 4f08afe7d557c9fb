"""`unitrl tiny-model`: build a tiny local policy or reward model (see unitrl.models.tiny).

Heavy imports (torch, transformers) happen inside the run function so `unitrl --help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unitrl.config import config_command
from unitrl.errors import UserError


@dataclass
class TinyModelConfig:
    out: str = field(default="", metadata={"help": "Folder to write the model and tokenizer into."})
    kind: str = field(
        default="policy",
        metadata={"help": "policy (causal LM) or reward (scalar head).", "choices": ("policy", "reward")},
    )
    corpus: str = field(
        default="", metadata={"help": "Folder of .py files for the tokenizer (default: stdlib slice)."}
    )
    vocab_size: int = field(
        default=2048, metadata={"help": "BPE vocabulary size.", "min": 260, "max": 1000000}
    )
    hidden_size: int = field(
        default=64, metadata={"help": "Hidden width.", "min": 16, "max": 8192, "multiple_of": 16}
    )
    num_layers: int = field(default=2, metadata={"help": "Transformer layers.", "min": 1, "max": 64})
    seed: int = field(
        default=0, metadata={"help": "Seed for the random weights.", "min": 0, "max": 4294967295}
    )


def read_corpus(folder: str) -> list[str]:
    """The text of every .py file under a folder (sorted, so the tokenizer is reproducible)."""
    from pathlib import Path

    root = Path(folder)
    if not root.is_dir():
        raise UserError("corpus folder not found", path=folder)
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(root.rglob("*.py"))]
    if not texts:
        raise UserError("no .py files in the corpus folder", path=folder)
    return texts


def run_tiny_model(cfg: TinyModelConfig) -> None:
    from rich.console import Console

    from unitrl.models.tiny import build_tiny_model

    if not cfg.out:
        raise UserError("missing --out (the folder to write the model into)", field="out")
    corpus = read_corpus(cfg.corpus) if cfg.corpus else None
    path = build_tiny_model(
        cfg.out, cfg.kind, corpus, cfg.vocab_size, cfg.hidden_size, cfg.num_layers, cfg.seed
    )
    Console(stderr=True).print(f"[green]tiny {cfg.kind} model written to[/] {path}")


tiny_model_command = config_command(
    "tiny-model", TinyModelConfig, run_tiny_model, help="Build a tiny local policy or reward model."
)
