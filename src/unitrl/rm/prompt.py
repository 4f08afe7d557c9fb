"""The one input format of the reward model, shared by training (train-rm) and scoring (score, RL).

ACECODER's RM sees the question plus ONE test, then the program (docs/REFERENCE.md section 1). The
first test is written by `unitrl.policy_io.first_test` (an assert line, or a stdin/stdout example), the
same text the policy's chat prompt shows. The pairs stage writes the prompt text into each Pair
(`problem_rm_prompt`); RL's RM reward and `unitrl score` build it with the same function, and training
and scoring both turn (prompt text, program) into token ids with `encode`, so a score at RL time means
what it meant in training. With a chat template the input is a user turn (the prompt) and an
assistant turn (the program); without one it is prompt + program + eos, exactly what TRL's
RewardTrainer builds from the plain-text columns of a pairs file.
Over-long inputs are cut from the left so the program's end, where the scalar head reads, is kept.
"""

from __future__ import annotations

# The RM's prompt text lives with the policy's prompts (one module for what a model is shown); the
# pairs stage, scoring and RL import it from here or from there alike.
from unitrl.policy_io import problem_rm_prompt, rm_prompt_text  # noqa: F401


def render(tokenizer, prompt_text: str, program: str) -> str:
    """The full text the reward model reads for one program."""
    if getattr(tokenizer, "chat_template", None):
        messages = [
            {"role": "user", "content": prompt_text.strip()},
            {"role": "assistant", "content": program},
        ]
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return f"{prompt_text}{program}{tokenizer.eos_token or ''}"  # exactly TRL's prompt + chosen + eos


def encode(tokenizer, prompt_text: str, program: str, max_length: int | None = None) -> list[int]:
    """Token ids of the rendered input, keeping the last `max_length` tokens."""
    # A chat template writes its own special tokens; plain text gets the tokenizer's (e.g. BOS) as in TRL.
    plain = not getattr(tokenizer, "chat_template", None)
    ids = tokenizer(render(tokenizer, prompt_text, program), add_special_tokens=plain)["input_ids"]
    if max_length is not None and len(ids) > max_length:
        ids = ids[-max_length:]
    return ids
