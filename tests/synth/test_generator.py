"""The llm-generator engine: line validation, the seeded sampler, the generator program in the real sandbox,
and the whole engine through the real loopback server (a fixed generator program) and `unitrl synth`."""

from __future__ import annotations

import json
import random

from openai_server import OpenAIServer, Reply, by_substring

from unitrl.models.endpoint import ChatEndpoint
from unitrl.records import Problem, read_problems, write_records
from unitrl.sandbox.grade import grade_programs
from unitrl.synth.cli import SynthConfig, run_synth
from unitrl.synth.generator import _spread, parse_inputs, run_generators, synthesize_llm_generator


def test_parse_inputs_validates_dedups_and_caps():
    lines = [
        "[[1, 2], 3]",
        "[[1, 2], 3]",  # duplicate
        "[NaN]",  # json accepts it; no literal can hold it
        '{"a": 1}',  # not an argument list
        "[1,",  # broken
        "",
        '["abc", {"k": [true, null]}]',
        json.dumps([list(range(50))]),  # too large for a cap of 100 characters
        "[[7, 8",  # cut off by the output cap: dropped silently
    ]
    inputs, rejected = parse_inputs("\n".join(lines), stdio=False, capped=True, max_chars=100)
    assert inputs == ["[1, 2], 3", "'abc', {'k': [True, None]}"]
    assert rejected == {"duplicate": 1, "invalid-line": 3, "too-large": 1}
    stdins, rejected = parse_inputs('"1 2\\n"\n[1]\n"3 4\\n"\n"1 2\\n"', stdio=True)
    assert stdins == ["1 2\n", "3 4\n"] and rejected == {"invalid-line": 1, "duplicate": 1}
    raw = json.dumps("a\u2028b\n", ensure_ascii=False)  # U+2028 unescaped: still one line
    assert parse_inputs(raw, stdio=True)[0] == ["a\u2028b\n"]


def test_spread_keeps_the_largest_and_spreads_outputs():
    # 9 inputs answering True and 1 answering False, plus one large input: 5 picks.
    cands = [(f"{i}", True) for i in range(9)] + [("9", False), ("[" + "0, " * 40 + "0]", True)]
    picked = _spread(cands, 5, random.Random(0))
    assert picked == _spread(cands, 5, random.Random(0))  # seeded: the same picks every time
    assert len(picked) == 5 and cands[-1] in picked and ("9", False) in picked
    assert [c[0] for c in picked] == sorted((c[0] for c in picked), key=[c[0] for c in cands].index)


def test_generators_run_seeded_and_capped_in_the_sandbox(sandbox):
    rolls = "import random\nfor _ in range(3):\n    print(random.randint(0, 10**9))\n"
    flood = "while True:\n    try:\n        print('[1, 2, 3]')\n    except Exception:\n        pass\n"
    crash = "print('[1]')\nprint('[2]')\nraise ValueError('generator bug')\n"
    spin = "while True:\n    pass\n"
    reach = "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\nprint('[1]')\n"
    leave = "import sys\nprint('[3]')\nsys.exit(0)\nprint('[4]')\n"
    programs = [rolls, rolls, rolls, flood, crash, spin, reach, leave]
    out = run_generators(sandbox, programs, [7, 7, 8, 0, 0, 0, 0, 0], 1.0)
    assert out[0] == out[1] and out[0][0] != out[2][0] and len(out[0][0].split()) == 3
    text, capped, error = out[3]
    assert capped and 400_000 < len(text) <= 500_000 and error == ""
    assert out[4] == ("[1]\n[2]\n", False, "ValueError: generator bug")  # inputs before the crash are kept
    assert out[5][0] == "" and "Timeout" in out[5][2]
    assert out[6][0] == "" and out[6][2]  # no network in the sandbox
    assert out[7] == ("[3]\n", False, "")  # sys.exit() ends a generator normally


COUNT_GE = "def count_ge(xs: list[int], k: int) -> int:\n    return sum(1 for x in xs if x >= k)\n"
FUNCTION_GENERATOR = """```python
import json, random
print(json.dumps([[], 0]))
print(json.dumps([[5], 5]))
print(json.dumps([[1, 2, 3], 2]))
for _ in range(30):
    n = random.randint(1, 8)
    print(json.dumps([[random.randint(-9, 9) for _ in range(n)], random.randint(-3, 3)]))
print(json.dumps([list(range(2000)), 1000]))  # large
print(json.dumps(["not a list", 1]))  # the reference raises: dropped
print(json.dumps([float("nan"), 1]))  # not a literal: dropped
```"""
ADD_STDIO = "a, b = map(int, input().split())\nprint(a + b)\n"
STDIO_GENERATOR = """```python
import json, random
print(json.dumps("0 0\\n"))
print(json.dumps("-5 5\\n"))
for _ in range(12):
    print(json.dumps(f"{random.randint(-10**9, 10**9)} {random.randint(-10**9, 10**9)}\\n"))
print(json.dumps("1 x\\n"))  # the reference raises: dropped
```"""


def _problems() -> list[Problem]:
    return [
        Problem("f", "def count_ge(xs: list[int], k: int) -> int:\n", "count_ge", reference=COUNT_GE),
        Problem(
            "s",
            "Read two integers and print their sum.",
            None,
            tests=[{"stdin": "1 2\n", "stdout": "3\n"}],
            reference=ADD_STDIO,
        ),
        Problem("n", "def nothing(x):\n", "nothing"),  # no reference
        Problem("b", "def bad(x):\n", "bad", reference="def bad(x):\n    return x\n"),
    ]


def _script() -> dict:
    return {
        "`count_ge`": [Reply(content=FUNCTION_GENERATOR)],
        "stdin/stdout": [Reply(content=STDIO_GENERATOR)],
        "`bad`": [Reply(content="```python\nprint('no json here')\n```")],
    }


def test_engine_end_to_end(sandbox):
    with OpenAIServer(by_substring(_script())) as srv:
        endpoint = ChatEndpoint(srv.base_url, "scripted", backoff_base=0.01, timeout=5.0)
        first = synthesize_llm_generator(sandbox, endpoint, _problems(), n_tests=10, seed=3, timeout=2.0)
        again = synthesize_llm_generator(sandbox, endpoint, _problems(), n_tests=10, seed=3, timeout=2.0)
        other = synthesize_llm_generator(sandbox, endpoint, _problems(), n_tests=10, seed=4, timeout=2.0)
        asked = next(r for r in srv.requests if "def count_ge" in r["messages"][0]["content"])
    out, dropped, pools = first
    assert first[0] == again[0] and out != other[0]  # deterministic for a seed, different for another
    assert dropped == {"n": "no-reference", "b": "generator-failed"}
    f, s = out
    # Function problem: asserts whose expected values come from the reference; the large input is kept.
    assert len(f.tests) == 10 and all(t.startswith("assert count_ge(") for t in f.tests)
    assert any("1999" in t and t.endswith("== 1000") for t in f.tests)
    assert len({t.split(" == ")[1] for t in f.tests}) >= 5  # spread over distinct answers
    synth = f.meta["synth"]
    assert synth["engine"] == "llm-generator" and synth["kind"] == "function"
    assert synth["dropped"]["raised"] == 1 and synth["dropped"]["invalid-line"] == 1
    assert {status for _, status, _ in pools["f"]} == {"ok", "raised"} and "s" not in pools
    # stdio problem: the existing test is kept and extended by {"stdin", "stdout"} tests.
    assert s.tests[0] == {"stdin": "1 2\n", "stdout": "3\n"} and len(s.tests) == 11
    assert all(int(t["stdout"]) == sum(map(int, t["stdin"].split())) for t in s.tests)
    assert s.meta["synth"]["kind"] == "stdio" and s.meta["synth"]["n_existing"] == 1
    # Every written test passes the reference when graded like any program.
    results = grade_programs(sandbox, [(p, p.reference, "ref") for p in out], timeout=2.0)
    assert all(r.passed for r in results)
    assert asked["seed"] == 3 and "JSON array of the positional arguments" in asked["messages"][0]["content"]


def test_synth_cli_llm_generator(tmp_path):
    src = tmp_path / "p.jsonl"
    write_records(src, _problems()[:2])
    cfg = SynthConfig(
        problems=str(src),
        out=str(tmp_path / "out.jsonl"),
        engine="llm-generator",
        model="scripted",
        n_tests=8,
        mutants=4,
        decontam="off",
        timeout=2.0,
    )
    with OpenAIServer(by_substring(_script())) as srv:
        cfg.base_url = srv.base_url
        summary = run_synth(cfg)
    assert summary["problems_out"] == 2
    f, s = read_problems(tmp_path / "out.jsonl")
    assert len(f.tests) == 8 and f.meta["synth"]["kill_rate"] is not None
    assert s.is_stdio and len(s.tests) == 9
