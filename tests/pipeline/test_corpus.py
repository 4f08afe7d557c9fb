"""The embedded corpus: shipped in sync with its generator, mined exactly as the policy is trained to read
it, tokenized without unknown pieces, and kept out of the warm-start examples."""

from __future__ import annotations

import random

from transformers import AutoTokenizer

from unitrl.mine.corpus import SourceFile
from unitrl.mine.extract import extract_problems
from unitrl.pipeline.steps import CurriculumConfig, run_curriculum
from unitrl.records import read_problems, write_records
from unitrl.rl.curriculum import CORPUS_DIR, build_curriculum_model, corpus_problems, render, write_corpus
from unitrl.rl.warmstart import example


def test_shipped_corpus_matches_its_generator(tmp_path):
    fresh = write_corpus(tmp_path)
    shipped = sorted(CORPUS_DIR.glob("*.py"))
    assert [p.name for p in fresh] == [p.name for p in shipped]
    assert all(a.read_text() == b.read_text() for a, b in zip(fresh, shipped))


def test_mine_reads_the_prompt_the_policy_is_trained_on():
    problems = {p.entry_point: p for p in corpus_problems()}
    path = sorted(CORPUS_DIR.glob("*.py"))[0]
    mined = extract_problems(SourceFile(path.stem, str(path), path.read_text())).problems
    assert len(mined) == 50
    rng = random.Random(0)
    for m in mined:
        p = problems[m.entry_point]
        assert m.prompt == p.prompt and m.reference.strip() == p.reference.strip()
        prompt, body = example(p, noise=0.5, rng=rng)  # a warm-start example of the same function
        assert prompt == m.prompt and body.startswith("    ")


def test_tokenizer_round_trips_every_function_and_its_noisy_variants(tmp_path):
    tok = AutoTokenizer.from_pretrained(build_curriculum_model(tmp_path / "m"))
    rng = random.Random(1)
    for p in corpus_problems()[:150]:
        chain = [tuple(c) for c in p.meta["chain"]]
        for text in (p.reference, render(p.meta["src"], chain, 0.7, rng, name=p.entry_point)[1]):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert tok.unk_token_id not in ids and tok.decode(ids) == text
            assert len(ids) < 120
        # prompt and body tokenize apart exactly as together, so a rollout continues the training layout
        prompt_ids = tok(p.prompt, add_special_tokens=False)["input_ids"]
        body_ids = tok(p.reference[len(p.prompt) :], add_special_tokens=False)["input_ids"]
        assert prompt_ids + body_ids == tok(p.reference, add_special_tokens=False)["input_ids"]


def test_warm_start_examples_avoid_every_mined_prompt(tmp_path):
    corpus = corpus_problems()
    write_records(tmp_path / "mined.jsonl", corpus)
    cfg = CurriculumConfig(exclude=str(tmp_path / "mined.jsonl"), out=str(tmp_path / "w.jsonl"), n=2000)
    assert run_curriculum(cfg)["excluded_prompts"] == len(corpus)
    warm = read_problems(tmp_path / "w.jsonl")
    assert len(warm) == 2000 and not {p.prompt for p in warm} & {p.prompt for p in corpus}
