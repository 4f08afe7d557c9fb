"""`unitrl score` and RewardModelScorer on the tiny reward model."""

from __future__ import annotations

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from unitrl.cli import main
from unitrl.records import Problem, ResumableWriter, Sample, Score, read_records, write_records
from unitrl.rm.cli import ScoreConfig, score_keys
from unitrl.rm.prompt import encode, rm_prompt_text
from unitrl.rm.scoring import RewardModelScorer

PROBLEM = Problem("t/0", "Return a + b.", "add", ["assert add(1, 2) == 3", "assert add(2, 2) == 4"])
PROGRAMS = ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return 0\n", "pass\n"]


def test_scorer_matches_an_unbatched_forward_pass(tiny_reward_dir):
    scorer = RewardModelScorer(str(tiny_reward_dir), batch_size=2)
    scores = scorer.score([PROBLEM.prompt] * 3, ["assert add(1, 2) == 3"] * 3, PROGRAMS)
    tok = AutoTokenizer.from_pretrained(tiny_reward_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_reward_dir).eval()
    for program, got in zip(PROGRAMS, scores):
        ids = encode(tok, rm_prompt_text(PROBLEM.prompt, "assert add(1, 2) == 3"), program)
        with torch.no_grad():
            want = model(input_ids=torch.tensor([ids])).logits[0, 0].item()
        assert abs(got - want) < 1e-5  # padding and batching change nothing
    assert len(set(scores)) == 3


def test_rm_input_shows_one_test_and_the_program(tiny_reward_dir):
    tok = AutoTokenizer.from_pretrained(tiny_reward_dir)
    text = tok.decode(encode(tok, rm_prompt_text(PROBLEM.prompt, PROBLEM.tests[0]), PROGRAMS[0]))
    assert "Return a + b." in text and "assert add(1, 2) == 3" in text and "return a + b" in text
    assert text.index("assert add(1, 2)") < text.index("return a + b")
    ids = encode(tok, "x" * 500, PROGRAMS[0], max_length=20)
    assert len(ids) == 20 and tok.decode(ids).endswith("<|im_end|>\n")  # cut from the left


def test_score_cli_writes_scores_and_resumes(tmp_path, tiny_reward_dir):
    write_records(tmp_path / "p.jsonl", [PROBLEM])
    write_records(tmp_path / "s.jsonl", [Sample("t/0", i, solution=p) for i, p in enumerate(PROGRAMS)])
    args = ["score", "--model", str(tiny_reward_dir), "--problems", str(tmp_path / "p.jsonl"),
            "--samples", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "scores.jsonl"), "--device", "cpu"]  # fmt: skip
    main(args)
    scores = read_records(tmp_path / "scores.jsonl", Score)
    direct = RewardModelScorer(str(tiny_reward_dir)).score(
        [PROBLEM.prompt] * 3, [PROBLEM.tests[0]] * 3, PROGRAMS
    )
    assert [s.sample_id for s in scores] == [0, 1, 2]
    assert all(abs(s.score - d) < 1e-5 for s, d in zip(scores, direct))
    # Resume: a partial file with one score under its content key; with one program per chunk only the
    # other two are computed. The same id under another key (a changed program) would be scored again.
    (tmp_path / "scores.jsonl").unlink()
    cfg = ScoreConfig(model=str(tiny_reward_dir), max_length=1024)
    [key] = score_keys(cfg, {"t/0": PROBLEM}, [Sample("t/0", 0, solution=PROGRAMS[0])])
    writer = ResumableWriter(tmp_path / "scores.jsonl", key_fields=("task_id", "sample_id"))
    writer.write(Score("t/0", 0, 123.0, "x"), key)
    writer.close()
    main([*args, "--chunk", "1"])
    again = read_records(tmp_path / "scores.jsonl", Score)
    assert again[0].score == 123.0 and abs(again[2].score - direct[2]) < 1e-5


def test_plain_text_input_is_what_trl_builds_from_a_pairs_file(tiny_reward_dir):
    from trl.data_utils import _tokenize

    tok = AutoTokenizer.from_pretrained(tiny_reward_dir)
    tok.chat_template = None  # a base model without a template
    prompt = rm_prompt_text(PROBLEM.prompt, PROBLEM.tests[0])
    # TRL RewardTrainer (explicit prompt, plain text): prompt + chosen, plus eos, tokenized with `tok(text=...)`.
    assert (
        encode(tok, prompt, PROGRAMS[0]) == _tokenize(tok, prompt + PROGRAMS[0] + tok.eos_token)["input_ids"]
    )


def test_rl_scores_a_stdio_problem_on_the_input_the_rm_was_trained_on(tmp_path, tiny_reward_dir):
    """`unitrl pairs` writes the RM prompt into each pair; RL's `rm:` reward must build the same one, also
    for stdin/stdout problems (whose first test is an example, not an assert line)."""
    from unitrl.records import Pair, Result
    from unitrl.rl.rewards import score_with_rm

    io = Problem("io/0", "Print the sum of two integers.", None, [{"stdin": "1 2\n", "stdout": "3\n"}])
    good, bad = "a, b = map(int, input().split())\nprint(a + b)\n", "print(3)\n"
    write_records(tmp_path / "p.jsonl", [io])
    write_records(tmp_path / "s.jsonl", [Sample("io/0", 0, solution=good), Sample("io/0", 1, solution=bad)])
    write_records(
        tmp_path / "r.jsonl", [Result("io/0", 0, True, 1.0, "pass"), Result("io/0", 1, False, 0.5, "fail")]
    )
    main(["pairs", "--problems", str(tmp_path / "p.jsonl"), "--samples", str(tmp_path / "s.jsonl"),
          "--results", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "pairs.jsonl")])  # fmt: skip
    [pair] = read_records(tmp_path / "pairs.jsonl", Pair)
    assert "Example input:\n1 2" in pair.prompt and "{'stdin'" not in pair.prompt
    trained_on = RewardModelScorer(str(tiny_reward_dir)).score_prompts([pair.prompt] * 2, [good, bad])
    assert score_with_rm(str(tiny_reward_dir), "cpu", [io, io], [good, bad]) == trained_on
