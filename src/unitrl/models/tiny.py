"""Tiny local models: a Qwen2-style policy or reward model built in seconds, with no download.

Tests and the embedded demo need a real transformers model that loads by path exactly like
Qwen2.5-Coder does on a GPU machine (`AutoTokenizer`, `AutoModelForCausalLM`,
`AutoModelForSequenceClassification`). This module trains a byte-level BPE tokenizer with `tokenizers`
on a code corpus (by default a small, fixed slice of the Python standard library's own source), gives it
ChatML special tokens and a ChatML chat template, and saves a randomly initialised Qwen2 model of a few
layers beside it. The weights are random: the model is for exercising code paths, not for writing code.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

# ChatML, as Qwen2.5 uses it. `<|im_end|>` ends an assistant turn; `<|endoftext|>` pads.
ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Standard-library modules read for the default tokenizer corpus: plain, varied, always present.
DEFAULT_CORPUS_MODULES = (
    "textwrap.py",
    "string.py",
    "bisect.py",
    "heapq.py",
    "fractions.py",
    "statistics.py",
    "functools.py",
    "difflib.py",
    "calendar.py",
    "shlex.py",
    "glob.py",
    "fnmatch.py",
    "colorsys.py",
    "operator.py",
    "random.py",
)

KINDS = ("policy", "reward")

QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def default_corpus() -> list[str]:
    """The source text of a fixed slice of the standard library (about 0.5 MB)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for name in DEFAULT_CORPUS_MODULES:
        path = stdlib / name
        if path.exists():
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    if not texts:  # an unusual install without sources: fall back to every .py file we can find
        texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(stdlib.glob("*.py"))[:20]]
    return texts


def train_tokenizer(corpus_texts: list[str], vocab_size: int):
    """A byte-level BPE `tokenizers.Tokenizer` trained on the texts, with the ChatML special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    # The same split Qwen2's tokenizer class applies when transformers loads the files back, so the
    # merges learned here are the ones used at encode time.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte is encodable
        show_progress=False,
    )
    tok.train_from_iterator(corpus_texts, trainer=trainer)
    return tok


def wrap_tokenizer(tok):
    """The `tokenizers` object as a transformers fast tokenizer with pad/eos and the chat template."""
    from transformers import PreTrainedTokenizerFast

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[IM_START],
        model_max_length=2048,
    )
    hf_tok.chat_template = CHAT_TEMPLATE
    return hf_tok


def qwen2_config(tokenizer, kind: str, hidden_size: int, num_layers: int):
    """A small Qwen2Config whose special-token ids match the tokenizer."""
    from transformers import Qwen2Config

    heads = max(1, hidden_size // 16)
    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2) if heads % 2 == 0 else heads,
        max_position_embeddings=2048,
        tie_word_embeddings=(kind == "policy"),
        bos_token_id=tokenizer.convert_tokens_to_ids(ENDOFTEXT),
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.pad_token_id,  # the reward head finds each row's last token by it
        num_labels=1,
    )


def build_tiny_model(
    out_dir: str | Path,
    kind: str = "policy",
    corpus_texts: list[str] | None = None,
    vocab_size: int = 2048,
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
) -> Path:
    """Build and save a tiny policy (causal LM) or reward model (scalar head); returns `out_dir`."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM, Qwen2ForSequenceClassification

    from unitrl.errors import UserError

    if kind not in KINDS:
        raise UserError(f"unknown model kind {kind!r} (choose from {', '.join(KINDS)})", field="kind")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = wrap_tokenizer(train_tokenizer(corpus_texts or default_corpus(), vocab_size))
    config = qwen2_config(tokenizer, kind, hidden_size, num_layers)
    torch.manual_seed(seed)
    if kind == "policy":
        model = Qwen2ForCausalLM(config)
        # Stop at the end of an assistant turn or at end of text, like Qwen2.5-Instruct.
        model.generation_config = GenerationConfig(
            eos_token_id=[config.eos_token_id, config.bos_token_id],
            pad_token_id=config.pad_token_id,
            do_sample=True,
        )
    else:
        model = Qwen2ForSequenceClassification(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
