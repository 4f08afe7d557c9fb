"""samples -> real sandbox -> pairs -> reward model -> scores -> best-of-N, through the CLI commands."""

from __future__ import annotations

import json

import pytest
from openai_server import OpenAIServer, Reply, last_user_text

from unitrl.cli import main
from unitrl.records import Pair, Problem, Result, read_records, write_records

# Four questions with 4 tests each; the scripted policy writes programs that pass 4, 3, 2, 1 or 0 tests.
TESTS = {
    "double": [
        "assert double(0) == 0",
        "assert double(1) == 2",
        "assert double(2) == 4",
        "assert double(-3) == -6",
    ],
    "square": [
        "assert square(0) == 0",
        "assert square(1) == 1",
        "assert square(2) == 4",
        "assert square(-3) == 9",
    ],
    "inc": ["assert inc(0) == 1", "assert inc(1) == 2", "assert inc(2) == 3", "assert inc(-3) == -2"],
    "neg": ["assert neg(0) == 0", "assert neg(1) == -1", "assert neg(2) == -2", "assert neg(-3) == 3"],
}
BODIES = {
    "double": ["x * 2", "x * 2 if x >= 0 else 0", "x + x if x < 1 else 0", "0", "undefined_name"],
    "square": ["x * x", "x * x if x >= 0 else 0", "x if x < 2 else 0", "0", "undefined_name"],
    "inc": ["x + 1", "x + 1 if x >= 0 else 0", "x + 1 if x < 1 else 0", "1", "undefined_name"],
    "neg": ["-x", "-x if x >= 0 else 0", "-x if x < 1 else 5", "0", "undefined_name"],
}


def respond(body: dict, nth: int) -> Reply:
    name = next(n for n in TESTS if f"assert {n}(" in last_user_text(body))
    return Reply(content=[f"```python\ndef {name}(x):\n    return {b}\n```" for b in BODIES[name]])


@pytest.mark.integration
def test_pipeline_middle_half(tmp_path):
    problems = [Problem(f"t/{n}", f"Write `{n}(x)`.", n, tests) for n, tests in TESTS.items()]
    write_records(tmp_path / "p.jsonl", problems)
    f = {k: str(tmp_path / v) for k, v in dict(p="p.jsonl", s="s.jsonl", r="r.jsonl", pairs="pairs.jsonl",
                                               scores="scores.jsonl", rm="rm", bon="bon").items()}  # fmt: skip
    with OpenAIServer(respond) as srv:
        main(["sample", "--problems", f["p"], "--model", "scripted", "--backend", "openai", "--base-url",
              srv.base_url, "-n", "5", "--out", f["s"]])  # fmt: skip
    main(["exec", "--problems", f["p"], "--samples", f["s"], "--out", f["r"], "--workers", "2", "--no-plot"])
    rates = sorted(r.pass_rate for r in read_records(f["r"], Result) if r.task_id == "t/double")
    assert rates == [0.0, 0.25, 0.5, 0.75, 1.0]  # graded by the real sandbox

    main(["pairs", "--problems", f["p"], "--samples", f["s"], "--results", f["r"], "--out", f["pairs"]])
    pairs = read_records(f["pairs"], Pair)
    # Per question: chosen 1.0 vs rejected 0.5 and 0.25; chosen 0.75 vs 0.25 (0.75 < 0.8: no). Rejected 0.0 never.
    assert sorted((p.chosen_pass_rate, p.rejected_pass_rate) for p in pairs if p.task_id == "t/double") == [
        (1.0, 0.25), (1.0, 0.5)]  # fmt: skip
    assert len(pairs) == 8

    main(["tiny-model", "--out", f["rm"] + "-base", "--kind", "reward", "--vocab-size", "512"])
    main(["train-rm", "--pairs", f["pairs"], "--model", f["rm"] + "-base", "--out", f["rm"], "--epochs", "2",
          "--learning-rate", "1e-3", "--eval-fraction", "0.25", "--device", "cpu"])  # fmt: skip
    main(["score", "--model", f["rm"], "--problems", f["p"], "--samples", f["s"], "--out", f["scores"]])
    main(["bon", "--samples", f["s"], "--results", f["r"], "--scores", f["scores"], "--out", f["bon"]])
    table = json.loads((tmp_path / "bon" / "bon.json").read_text())
    assert table["average"] == pytest.approx(0.2)  # one fully passing program of five per question
    assert [r["n"] for r in table["rows"]] == [1, 2, 4, 5]
    assert table["rows"][-1]["oracle"] == 1.0 and table["rows"][0]["rm"] == pytest.approx(0.2)
