"""`unitrl sample` with the real hf backend on the tiny model, and the openai backend over loopback HTTP."""

from __future__ import annotations

import json

from openai_server import OpenAIServer, Reply, by_substring

from unitrl.cli import main
from unitrl.records import Problem, ResumableWriter, read_samples, write_records
from unitrl.sample.cli import SampleConfig, run_sample, sample_keys

PROBLEMS = [
    Problem("t/0", 'def add(a, b):\n    """Return a + b."""\n', "add", ["assert add(1, 2) == 3"]),
    Problem(
        "t/1", 'def neg(a):\n    """Return -a."""\n', "neg", ["assert neg(1) == -1", "assert neg(0) == 0"]
    ),
]


def _problems(tmp_path):
    path = tmp_path / "p.jsonl"
    write_records(path, PROBLEMS)
    return path


def test_hf_sampling_writes_samples_and_resumes(tmp_path, tiny_policy_dir):
    cfg = SampleConfig(problems=str(_problems(tmp_path)), model=str(tiny_policy_dir), out=str(tmp_path / "s.jsonl"),
                       n=3, max_new_tokens=12, greedy=True, device="cpu", seed=1)  # fmt: skip
    summary = run_sample(cfg)
    samples = read_samples(tmp_path / "s.jsonl")
    assert summary["new"] == 8 and summary["samples_per_s"] > 0 and summary["tokens_per_s"] > 0
    assert [(s.task_id, s.sample_id) for s in samples] == [
        ("t/0", 0), ("t/0", 1), ("t/0", 2), ("t/0", "greedy"), ("t/1", 0), ("t/1", 1), ("t/1", 2), ("t/1", "greedy"),
    ]  # fmt: skip
    # The tiny model has a chat template, so samples are whole-program solutions.
    assert all(s.solution is not None and s.completion is None for s in samples)
    greedy = [s for s in samples if s.meta.get("greedy")]
    assert len(greedy) == 2 and all(s.meta["temperature"] == 0.0 for s in greedy)
    assert samples[0].meta["model"] == str(tiny_policy_dir) and samples[0].meta["backend"] == "hf"

    # A crash after three rows: only the partial file remains, as the writer left it (content keys
    # beside each row, a torn last line). The rerun keeps those rows and makes the same five others.
    lines = (tmp_path / "s.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "s.jsonl").unlink()
    keys = sample_keys(cfg, PROBLEMS)
    writer = ResumableWriter(tmp_path / "s.jsonl", key_fields=("task_id", "sample_id"))
    for row in map(json.loads, lines[:3]):
        writer.write(row, keys[(row["task_id"], str(row["sample_id"]))])
    writer.close()
    with open(tmp_path / "s.jsonl.partial", "a") as fh:
        fh.write('{"__resume__": {"id": ["t/1", "0"], "ke')  # torn last line
    assert run_sample(cfg)["new"] == 5
    assert (tmp_path / "s.jsonl").read_text().splitlines(keepends=True) == lines  # per-sample seeds
    assert not (tmp_path / "s.jsonl.partial").exists()
    # A finished file is not redone; a larger -n only adds the new ids.
    assert run_sample(cfg)["new"] == 0
    cfg.n = 4
    assert run_sample(cfg)["new"] == 2


def test_hf_completion_format(tmp_path, tiny_policy_dir):
    out = tmp_path / "c.jsonl"
    main(["sample", "--problems", str(_problems(tmp_path)), "--model", str(tiny_policy_dir), "--out", str(out),
          "-n", "2", "--max-new-tokens", "8", "--prompt-format", "completion", "--device", "cpu"])  # fmt: skip
    samples = read_samples(out)
    assert len(samples) == 4 and all(s.completion is not None and s.solution is None for s in samples)
    assert samples[0].program(PROBLEMS[0]).startswith(PROBLEMS[0].prompt)


def test_openai_backend_extracts_programs(tmp_path):
    answer = "Sure:\n```python\ndef add(a, b):\n    return a + b\n\nassert add(1, 2) == 3\n```\nDone."
    script = {"add(1, 2)": [Reply(content=[answer, "```python\ndef add(a, b):\n    return 0\n```"])],
              "neg(1)": [Reply(content=["def neg(a):\n    return -a\n", "```python\nneg = abs\n```"])]}  # fmt: skip
    with OpenAIServer(by_substring(script)) as srv:
        main(["sample", "--problems", str(_problems(tmp_path)), "--model", "scripted", "--backend", "openai",
              "--base-url", srv.base_url, "-n", "2", "--temperature", "0.5", "--max-new-tokens", "64",
              "--out", str(tmp_path / "s.jsonl")])  # fmt: skip
        bodies = list(srv.requests)
    samples = {(s.task_id, s.sample_id): s for s in read_samples(tmp_path / "s.jsonl")}
    assert (
        samples[("t/0", 0)].solution == "def add(a, b):\n    return a + b\n\n"
    )  # the model's own assert is cut
    assert samples[("t/0", 1)].solution == "def add(a, b):\n    return 0\n"
    assert samples[("t/1", 0)].solution == "def neg(a):\n    return -a\n"
    assert samples[("t/1", 1)].meta == {"model": "scripted", "backend": "openai", "temperature": 0.5,
                                        "top_p": 1.0, "prompt_format": "chat", "show_test": True}  # fmt: skip
    assert len(bodies) == 2 and all(
        b["n"] == 2 and b["temperature"] == 0.5 and b["max_tokens"] == 64 for b in bodies
    )
    # The policy saw the question and the first test only.
    neg_prompt = next(b for b in bodies if "neg" in json.dumps(b))["messages"][0]["content"]
    assert "assert neg(1) == -1" in neg_prompt and "assert neg(0) == 0" not in neg_prompt


def test_hf_calls_fill_a_generate_batch_like_an_rl_rollout():
    from unitrl.sample.cli import call_size
    from unitrl.sample.sampler import batch_work, plan_work

    problems = [Problem(f"t/{i}", "x", None, []) for i in range(40)]
    cfg = SampleConfig(problems="p", model="m", out="o", n=16, greedy=True, batch_size=128)
    batches = batch_work(plan_work(problems, 16, True, set()), *call_size(cfg))
    sampled = [b for b in batches if not b[0].greedy]
    greedy = [b for b in batches if b[0].greedy]
    assert [len(b) for b in sampled] == [8] * 5  # 8 prompts x 16 samples = 128 sequences per call
    assert [len(b) for b in greedy] == [40]  # one sequence each: all in one call
    cfg.prompts_per_call = 3
    assert max(len(b) for b in batch_work(plan_work(problems, 16, False, set()), *call_size(cfg))) == 3
