"""Prompt building and program extraction on hand-written model outputs."""

from __future__ import annotations

from unitrl.models.prompts import (
    build_prompt,
    cut_program,
    extract_from_chat,
    extract_from_completion,
    first_test,
    resolve_format,
)
from unitrl.records import Problem

P = Problem("t", "Return the sum of a and b.", "add", ["assert add(1, 2) == 3", "assert add(0, 0) == 0"])


def test_chat_prompt_shows_question_and_first_test_only():
    [msg] = build_prompt(P, "chat")
    assert msg["role"] == "user"
    assert "Return the sum of a and b." in msg["content"] and "assert add(1, 2) == 3" in msg["content"]
    assert "assert add(0, 0) == 0" not in msg["content"]
    assert "```python" in msg["content"] and "self-contained" in msg["content"]


def test_completion_prompt_is_the_problem_prompt():
    assert build_prompt(P, "completion") == P.prompt


def test_first_test_of_stdio_problem():
    p = Problem("s", "Echo.", tests=[{"stdin": "1\n", "stdout": "1\n"}])
    assert "1" in first_test(p) and "Expected output" in first_test(p)
    assert first_test(Problem("e", "x")) == ""


def test_resolve_format():
    assert resolve_format("auto", True) == "chat" and resolve_format("auto", False) == "completion"
    assert resolve_format("completion", True) == "completion"


def test_chat_extraction_cuts_at_closing_fence():
    text = (
        "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nThis adds.\n```python\nprint(1)\n```"
    )
    assert extract_from_chat(text) == "def add(a, b):\n    return a + b\n"


def test_chat_extraction_prefers_python_block_and_handles_unclosed():
    text = "```text\nnot code\n```\n```python\ndef f():\n    return 1\n"
    assert extract_from_chat(text) == "def f():\n    return 1\n"
    assert extract_from_chat("def g():\n    pass\n") == "def g():\n    pass\n"  # no fence at all


def test_cut_markers():
    body = "def add(a, b):\n    assert a is not None\n    return a + b\n"
    assert cut_program(body + "\nassert add(1, 2) == 3\n") == body + "\n"  # top-level assert cut
    assert cut_program(body + "if __name__ == '__main__':\n    print(add(1, 2))\n") == body
    assert cut_program(body + "import unittest\nclass T(unittest.TestCase): pass\n") == body
    assert cut_program(body) == body  # the indented assert inside the function stays
    assert cut_program("x = 1\nassertion = 2\n") == "x = 1\nassertion = 2\n"  # a name, not the statement


def test_chat_extraction_cuts_tests_inside_the_block():
    text = "```python\ndef f(x):\n    return x\n\nassert f(1) == 1\n```"
    assert extract_from_chat(text) == "def f(x):\n    return x\n\n"


def test_completion_extraction():
    assert extract_from_completion("    return a + b\n```\nmore") == "    return a + b\n"
    assert (
        extract_from_completion("    return a + b\n\nif __name__ == '__main__':\n    pass")
        == "    return a + b\n\n"
    )
