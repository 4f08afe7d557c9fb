"""CodeT dual execution agreement: consensus scores worked out by hand, then sampled programs from the real
loopback server meeting LLM tests in the real sandbox."""

from __future__ import annotations

from openai_server import OpenAIServer, Reply, by_substring

from unitrl.models.endpoint import ChatEndpoint
from unitrl.records import Problem
from unitrl.synth.codet import agree, consensus_sets, pass_patterns, validate_drafts


def test_consensus_scores_by_hand():
    # 5 tests. Programs 0-2 pass tests 0-3, program 3 passes all five, 4 passes only test 4, 5 nothing.
    patterns = [{0, 1, 2, 3}] * 3 + [{0, 1, 2, 3, 4}, {4}, set()]
    sets = consensus_sets(patterns)
    assert [(s.programs, s.score) for s in sets] == [((0, 1, 2), 12), ((3,), 5), ((4,), 1), ((5,), 0)]
    verdict = agree(patterns, 5)
    assert verdict.kept == [0, 1, 2, 3] and verdict.conflict == ""
    assert verdict.program_scores(6) == [12.0, 12.0, 12.0, 5.0, 1.0, 0.0]
    assert verdict.summary() == {
        "sets": 4,
        "top_programs": 3,
        "top_tests": 4,
        "top_score": 12,
        "runner_up_score": 5,
        "conflict": "",
    }


def test_more_programs_on_fewer_tests_beat_fewer_on_more():
    # 3 programs x 4 tests = 12 beats 2 programs x 5 tests = 10; the rival passes a superset: no conflict.
    verdict = agree([{0, 1, 2, 3, 4}] * 2 + [{0, 1, 2, 3}] * 3, 5)
    assert verdict.top.programs == (2, 3, 4) and verdict.kept == [0, 1, 2, 3]
    assert verdict.conflict == ""


def test_contradictions_are_flagged():
    # Two readings of an ambiguous question, each backed by 2 programs on 3 tests (6 = 6): rival sets.
    rivals = agree([{0, 1, 2}, {0, 1, 2}, {3, 4, 5}, {3, 4, 5}, {0}], 6)
    assert rivals.conflict == "rival-sets" and rivals.top.programs == (0, 1)  # tie: earliest program
    # A rival below 0.8 of the top score is not "similar": 3 x 3 = 9 against 2 x 3 = 6.
    assert agree([{0, 1, 2}] * 3 + [{3, 4, 5}] * 2, 6).conflict == ""
    # The best program passes 2 of 10 tests: the tests disagree with every program.
    assert agree([{0, 1}, {0, 1}, {2, 3}], 10).conflict == "low-agreement"
    none = agree([set(), set()], 4)
    assert none.conflict == "no-agreement" and none.kept == [] and none.top is None


DOUBLE = Problem(
    "d",
    "Write double(x) returning twice the integer x.",
    "double",
    tests=[
        "assert double(2) == 4",
        "assert double(0) == 0",
        "assert double(5) == 10",
        "assert double(-1) == -2",
        "assert double(3) == 7",  # wrong: no sampled program agrees with it
    ],
)
CASE = Problem(
    "c",
    "Write flip(s) changing the case of a letter.",  # ambiguous: the tests disagree on the direction
    "flip",
    tests=[
        "assert flip('a') == 'A'",
        "assert flip('b') == 'B'",
        "assert flip('C') == 'c'",
        "assert flip('D') == 'd'",
    ],
)
FENCE = "```python\n{}\n```"
SAMPLES = {
    "Write double(x)": [
        FENCE.format("def double(x):\n    return 2 * x"),
        FENCE.format("def double(x):\n    return x + x"),
        FENCE.format("def double(x):\n    return x * 2"),
        FENCE.format("def double(x):\n    return x * x"),  # passes double(2) and double(0) only
        FENCE.format("def double(x) return 2x"),  # does not compile: passes nothing
    ],
    "Write flip(s)": [
        FENCE.format("def flip(s):\n    return s.upper()"),
        FENCE.format("def flip(s):\n    return s.upper()"),
        FENCE.format("def flip(s):\n    return s.lower()"),
        FENCE.format("def flip(s):\n    return s.lower()"),
        FENCE.format("def flip(s):\n    return s"),
    ],
}


def test_validate_drafts_through_the_loopback_server_and_sandbox(sandbox):
    script = {key: [Reply(content=answers)] for key, answers in SAMPLES.items()}
    gone = Problem("g", "Write gone(x).", "gone", tests=["assert gone(1) == 1"])  # the endpoint refuses it
    with OpenAIServer(by_substring(script)) as srv:
        endpoint = ChatEndpoint(srv.base_url, "scripted", backoff_base=0.01, timeout=5.0)
        out, dropped = validate_drafts(sandbox, endpoint, [DOUBLE, CASE, gone], n_samples=5, timeout=2.0)
        asks = [r for r in srv.requests if "double" in r["messages"][0]["content"]]
    assert dropped == {"c": "codet-rival-sets", "g": "no-answer"}
    [d] = out
    assert d.tests == DOUBLE.tests[:4]  # 3 programs x 4 tests = 12 beats x*x's 1 x 2
    synth = d.meta["synth"]
    assert synth["validator"] == "codet:scriptedx5" and synth["dropped"] == {"codet-rejected": 1}
    assert synth["codet"] == {
        "sets": 3,
        "top_programs": 3,
        "top_tests": 4,
        "top_score": 12,
        "runner_up_score": 2,
        "conflict": "",
        "samples": 5,
    }
    # Programs are sampled from the question alone, never shown the tests they will be judged by.
    assert asks[0]["n"] == 5 and "assert" not in asks[0]["messages"][0]["content"]


def test_kept_and_flagged_when_asked(sandbox):
    script = {"Write flip(s)": [Reply(content=SAMPLES["Write flip(s)"])]}
    with OpenAIServer(by_substring(script)) as srv:
        endpoint = ChatEndpoint(srv.base_url, "scripted", backoff_base=0.01, timeout=5.0)
        out, dropped = validate_drafts(sandbox, endpoint, [CASE], n_samples=5, drop_contradictory=False)
    assert dropped == {} and out[0].tests == CASE.tests[:2]  # upper() wins the tie (earliest program)
    assert out[0].meta["synth"]["codet"]["conflict"] == "rival-sets"


def test_pass_patterns_in_the_sandbox(sandbox):
    programs = ["def double(x):\n    return 2 * x", "def double(x):\n    return x * x", "raise SystemExit"]
    assert pass_patterns(sandbox, [(DOUBLE, programs)], timeout=2.0) == [[{0, 1, 2, 3}, {0, 1}, set()]]
