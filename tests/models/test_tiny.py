"""The tiny model builds, loads through the Auto* classes, and generates / scores."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from unitrl.cli import main
from unitrl.models.tiny import IM_END, build_tiny_model


def test_policy_loads_and_generates(tiny_policy_dir):
    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    assert tok.pad_token is not None and tok.eos_token == IM_END
    text = "def add(a, b):\n    return a + b  # é\n"
    assert tok.decode(tok(text)["input_ids"]) == text  # byte-level: every string round-trips
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(chat, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_reward_model_gives_one_score_per_row(tiny_reward_dir):
    tok = AutoTokenizer.from_pretrained(tiny_reward_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_reward_dir)
    batch = tok(["def f():\n    return 1\n", "x"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, 1)
    # Padding must not change a row's score: the head reads the last real token.
    with torch.no_grad():
        alone = model(**tok(["x"], return_tensors="pt")).logits
    assert torch.allclose(alone[0], logits[1], atol=1e-5)


def test_same_seed_same_weights(tmp_path):
    corpus = ["def f(x):\n    return x * 2\n" * 50]
    a = build_tiny_model(tmp_path / "a", corpus_texts=corpus, vocab_size=300, seed=3)
    b = build_tiny_model(tmp_path / "b", corpus_texts=corpus, vocab_size=300, seed=3)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


def test_cli_builds_reward_model(tmp_path):
    main(["tiny-model", "--out", str(tmp_path / "rm"), "--kind", "reward", "--vocab-size", "400"])
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm")
    assert model.config.num_labels == 1 and model.config.pad_token_id is not None
