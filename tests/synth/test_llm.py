"""The llm and llm-inputs engines through the real openai client against a scripted loopback server."""

from __future__ import annotations

import json

from openai_server import OpenAIServer, Reply, by_substring

from unitrl.models.endpoint import ChatEndpoint
from unitrl.records import Problem, read_problems, write_records
from unitrl.synth.cli import SynthConfig, run_synth
from unitrl.synth.llm import synthesize_llm, synthesize_llm_inputs

ADD = "def add_one(x: int) -> int:\n    return x + 1\n"
REV = "def rev(s: str) -> str:\n    return s[::-1]\n"
GOOD_TESTS = [f"assert add_one({i}) == {i + 1}" for i in range(6)]
ANSWER = json.dumps(
    {"question": "Write add_one(x) returning x + 1.", "tests": GOOD_TESTS + ["assert add_one(1) == 5"]}
)


def _endpoint(srv: OpenAIServer, tmp_path=None) -> ChatEndpoint:
    return ChatEndpoint(srv.base_url, "scripted", backoff_base=0.01, timeout=2.0, cache_dir=tmp_path)


def test_llm_engine_validates_with_the_reference(sandbox):
    script = {
        "def add_one": [Reply(status=500), Reply(content="```json\n" + ANSWER + "\n```")],
        "def rev": [
            Reply(content='{"question": "Reverse.", "tests": ["assert rev(\'ab\') == \'ba\'", "assert rev(\'')
        ],
        "def broken": [Reply(content="I cannot answer that.")],
    }
    problems = [
        Problem("a", "", "add_one", reference=ADD),
        Problem("r", "", "rev", reference=REV),
        Problem("b", "", "broken", reference="def broken(x):\n    return x\n"),
    ]
    with OpenAIServer(by_substring(script)) as srv:
        out, dropped = synthesize_llm(sandbox, _endpoint(srv), problems)
    assert dropped == {"b": "unparseable-answer"}
    a, r = out
    assert (
        a.prompt == "Write add_one(x) returning x + 1."
        and a.tests == GOOD_TESTS
        and a.entry_point == "add_one"
    )
    assert a.meta["synth"] | {} == {
        "engine": "llm",
        "model": "scripted",
        "validator": "reference",
        "n_generated": 7,
        "n_kept": 6,
        "dropped": {"validator-failed": 1},
    }
    assert r.tests == ["assert rev('ab') == 'ba'"]  # the truncated tail was trimmed, the rest kept
    assert a.meta["original_prompt"] == ""


def test_llm_engine_uses_an_oracle_without_reference(sandbox):
    question = json.dumps(
        {
            "question": "Write double(x).",
            "tests": ["assert double(2) == 4", "assert double(0) == 0", "assert double(3) == 7"],
        }
    )
    script = {
        "Write double(x).": [Reply(content="Sure:\n```python\ndef double(x):\n    return 2 * x\n```")],
        "double": [Reply(content=question)],
    }
    with OpenAIServer(by_substring(script)) as srv:
        out, _ = synthesize_llm(
            sandbox, _endpoint(srv), [Problem("d", "def double(x):\n    '''Twice x.'''\n", "double")]
        )
        oracle_calls = [r for r in srv.requests if r["temperature"] == 0.0]
    assert out[0].tests == ["assert double(2) == 4", "assert double(0) == 0"]
    assert out[0].meta["synth"]["validator"] == "oracle:scripted" and len(oracle_calls) == 1
    assert "assert double(2) == 4\nassert double(0) == 0" in oracle_calls[0]["messages"][0]["content"]


def test_llm_inputs_engine_executes_the_reference(sandbox):
    script = {
        "def add_one": [Reply(status=429), Reply(content='{"inputs": ["1", "-5", "10**3", "\'x\'", "2"]}')]
    }
    with OpenAIServer(by_substring(script)) as srv:
        out, _ = synthesize_llm_inputs(sandbox, _endpoint(srv), [Problem("a", "", "add_one", reference=ADD)])
    # 10**3 is no literal (dropped by the parser); 'x' raises TypeError in the reference.
    assert out[0].tests == ["assert add_one(1) == 2", "assert add_one(-5) == -4", "assert add_one(2) == 3"]
    assert out[0].meta["synth"]["engine"] == "llm-inputs" and out[0].meta["synth"]["n_generated"] == 4


def test_synth_cli_llm_engine_with_cache_and_min_tests(tmp_path):
    problems = [Problem("a", "", "add_one", reference=ADD), Problem("r", "", "rev", reference=REV)]
    src = tmp_path / "p.jsonl"
    write_records(src, problems)
    few = json.dumps({"question": "Reverse s.", "tests": ["assert rev('ab') == 'ba'"]})
    script = {"def add_one": [Reply(content=ANSWER)], "def rev": [Reply(content=few, delay=0.05)]}
    cfg = SynthConfig(
        problems=str(src),
        out=str(tmp_path / "out.jsonl"),
        engine="llm",
        model="scripted",
        mutants=4,
        decontam="off",
    )
    with OpenAIServer(by_substring(script)) as srv:
        cfg.base_url = srv.base_url
        summary = run_synth(cfg)
        assert srv.n_requests == 2
        assert summary["problems_dropped"] == {"too-few-tests": 1} and summary["problems_out"] == 1
        assert summary["endpoint"]["requests"] == 2
        (tmp_path / "out.jsonl").unlink()
        again = run_synth(cfg)
        assert srv.n_requests == 2 and again["endpoint"]["cache_hits"] == 2  # a rerun costs nothing
    [p] = read_problems(tmp_path / "out.jsonl")
    assert p.tests == GOOD_TESTS and p.meta["synth"]["kill_rate"] is not None


def test_synth_cli_llm_engine_validates_by_codet_without_reference(tmp_path):
    """No reference, no --oracle-model: tests chosen by CodeT agreement among programs sampled from --model."""
    question = json.dumps(
        {"question": "Write double(x).", "tests": ["assert double(2) == 4", "assert double(0) == 0",
                                                   "assert double(5) == 10", "assert double(3) == 7"]}
    )  # fmt: skip
    good, bad = (
        "```python\ndef double(x):\n    return 2 * x\n```",
        "```python\ndef double(x):\n    return x * x\n```",
    )
    script = {
        "complete Python function `double`": [Reply(content=[good, good, good, bad])],
        "double": [Reply(content=question)],
    }
    src = tmp_path / "p.jsonl"
    write_records(src, [Problem("d", "def double(x):\n    '''Twice x.'''\n", "double")])
    cfg = SynthConfig(problems=str(src), out=str(tmp_path / "out.jsonl"), engine="llm", model="scripted",
                      codet_samples=4, min_tests=3, mutants=0, decontam="off")  # fmt: skip
    with OpenAIServer(by_substring(script)) as srv:
        cfg.base_url = srv.base_url
        run_synth(cfg)
        sampled = [r for r in srv.requests if r.get("n") == 4]
    [p] = read_problems(tmp_path / "out.jsonl")
    assert p.tests == ["assert double(2) == 4", "assert double(0) == 0", "assert double(5) == 10"]
    assert p.meta["synth"]["validator"] == "codet:scriptedx4" and len(sampled) == 1
