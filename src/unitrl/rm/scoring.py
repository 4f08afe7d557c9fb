"""Batched reward-model scoring, in exactly the input format the RM was trained on (unitrl.rm.prompt).

`RewardModelScorer` is what `unitrl score` and the RL stage's learned-RM reward use: load once, then
`score_problems(problems, programs)` (or `score(questions, first_tests, programs)` with first tests as
`unitrl.policy_io.first_test` writes them) returns one float per program. Rows are sorted by length
before batching so padding stays small; right padding is used because the sequence-classification head
reads each row's last non-pad token.
"""

from __future__ import annotations

from unitrl.errors import UserError
from unitrl.records import Problem
from unitrl.rm.prompt import encode, problem_rm_prompt, rm_prompt_text


def score_rows(model, pad_id: int, rows: list[list[int]], batch_size: int, device: str) -> list[float]:
    """The scalar head's output for each token-id row, batched by length, in input order."""
    import torch

    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    scores = [0.0] * len(rows)
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(rows[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)  # (B, T), right padded
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, : len(rows[i])] = torch.tensor(rows[i])
            mask[r, : len(rows[i])] = 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits  # (B, 1)
        for r, i in enumerate(idx):
            scores[i] = float(logits[r, 0])
    model.train(was_training)
    return scores


class RewardModelScorer:
    """A reward model loaded by hub id or path (`AutoModelForSequenceClassification`, one label)."""

    def __init__(self, path: str, device: str = "cpu", batch_size: int = 16, max_length: int = 2048):
        import torch
        from transformers import AutoModelForSequenceClassification

        from unitrl.models.backends import load_tokenizer, pick_device

        self.device = pick_device(device)
        self.batch_size = max(1, batch_size)
        self.max_length = max_length
        self.tokenizer = load_tokenizer(path, padding_side="right")
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                path, num_labels=1, dtype=torch.float32
            )
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot load reward model {path!r}: {str(exc).splitlines()[0]}") from None
        model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model = model.to(self.device).eval()

    def score_ids(self, rows: list[list[int]]) -> list[float]:
        """Scores of pre-encoded inputs, in input order."""
        return score_rows(self.model, self.tokenizer.pad_token_id, rows, self.batch_size, self.device)

    def score_prompts(self, prompt_texts: list[str], programs: list[str]) -> list[float]:
        """Scores of programs under ready-made RM prompt texts (as stored in Pair.prompt)."""
        rows = [encode(self.tokenizer, p, prog, self.max_length) for p, prog in zip(prompt_texts, programs)]
        return self.score_ids(rows)

    def score_problems(self, problems: list[Problem], programs: list[str]) -> list[float]:
        """One score per program under its problem's RM prompt: what the pairs stage trained it on."""
        return self.score_prompts([problem_rm_prompt(p) for p in problems], programs)

    def score(self, questions: list[str], first_tests: list[str], programs: list[str]) -> list[float]:
        """One score per program, given its question and the question's first test."""
        if not len(questions) == len(first_tests) == len(programs):
            raise ValueError("questions, first_tests and programs must have the same length")
        return self.score_prompts([rm_prompt_text(q, t) for q, t in zip(questions, first_tests)], programs)
