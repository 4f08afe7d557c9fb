"""What a policy sees and which program is taken from its output (unitrl.policy_io), on hand-written
model outputs."""

from __future__ import annotations

import pytest

from unitrl.policy_io import (
    build_prompt,
    cut_program,
    encode_prompt,
    extract_from_chat,
    extract_from_completion,
    first_test,
    program_of,
    render_prompt,
    resolve_format,
    sample_fields,
)
from unitrl.records import Problem, Sample

P = Problem("t", "Return the sum of a and b.", "add", ["assert add(1, 2) == 3", "assert add(0, 0) == 0"])


def test_chat_prompt_shows_question_and_first_test_only():
    [msg] = build_prompt(P, "chat")
    assert msg["role"] == "user"
    assert "Return the sum of a and b." in msg["content"] and "assert add(1, 2) == 3" in msg["content"]
    assert "assert add(0, 0) == 0" not in msg["content"]
    assert "```python" in msg["content"] and "self-contained" in msg["content"]


def test_chat_prompt_without_the_test():
    [msg] = build_prompt(P, "chat", show_test=False)
    assert "Return the sum of a and b." in msg["content"] and "assert" not in msg["content"]
    assert msg["content"] != build_prompt(P, "chat")[0]["content"]


def test_completion_prompt_is_the_problem_prompt():
    assert build_prompt(P, "completion") == P.prompt
    assert build_prompt(P, "completion", show_test=False) == P.prompt


def test_first_test_of_stdio_problem():
    p = Problem("s", "Echo.", tests=[{"stdin": "1\n", "stdout": "1\n"}])
    assert "1" in first_test(p) and "Expected output" in first_test(p)
    assert first_test(Problem("e", "x")) == ""


def test_resolve_format():
    assert resolve_format("auto", True) == "chat" and resolve_format("auto", False) == "completion"
    assert resolve_format("completion", True) == "completion"
    with pytest.raises(ValueError):
        resolve_format("instruct", True)


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


CODE = Problem("c", 'def add(a, b):\n    """Return a + b."""\n', "add", ["assert add(1, 2) == 3"])


def test_program_of_is_what_a_stored_sample_runs():
    texts = [
        "    return a + b\n\nassert add(1, 2) == 3\n",
        "Sure:\n```python\ndef add(a, b):\n    return a + b\nif __name__ == '__main__':\n    print(1)\n```",
        "```\nx = 1\n```\n```python\ndef add(a, b):\n    return b + a\n",
    ]
    for problem in (P, CODE):
        for fmt in ("chat", "completion"):
            for text in texts:
                stored = Sample(problem.task_id, 0, **sample_fields(text, fmt, problem.prompt))
                assert program_of(problem, text, fmt) == stored.program(problem)
    # a completion continues a code prompt, and is the whole program after an instruction prompt
    assert program_of(CODE, texts[0], "completion") == CODE.prompt + "    return a + b\n\n"
    assert program_of(P, texts[0], "completion") == "    return a + b\n\n"
    assert program_of(P, texts[1], "chat") == "def add(a, b):\n    return a + b\n"
    # an instruction prompt continued in the completion format: the answer is taken like a chat answer
    assert program_of(P, texts[1], "completion") == program_of(P, texts[1], "chat")
    assert (
        program_of(CODE, texts[1], "completion") == CODE.prompt + "Sure:\n"
    )  # a continuation stops at a fence


class _Tokenizer:
    """Just enough of a tokenizer: a chat template and character-level ids."""

    chat_template = "x"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        assert not tokenize and add_generation_prompt
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": ([0] if add_special_tokens else []) + [ord(c) for c in text]}


def test_render_and_encode_add_no_special_tokens():
    tok = _Tokenizer()
    chat = build_prompt(P, "chat")
    assert render_prompt(tok, chat).startswith("<user>Write") and render_prompt(tok, "abc") == "abc"
    assert encode_prompt(tok, "ab") == [97, 98]
    assert encode_prompt(tok, chat) == [ord(c) for c in render_prompt(tok, chat)]


def test_stdio_script_keeps_its_main_guard_and_function_problem_cuts_it():
    """A stdin/stdout program's `if __name__` block is what reads the input; a function problem's is the
    model's own test harness. Both go through the same functions the samplers and RL use."""
    answer = (
        "```python\ndef main():\n    print(int(input()) * 2)\n\n"
        "if __name__ == '__main__':\n    main()\nassert True\n```\nDone."
    )
    stdio = Problem("s", "Double the number read from stdin.", "", tests=[{"stdin": "2\n", "stdout": "4\n"}])
    func = Problem("f", "Write double(x).", "double", tests=["assert double(2) == 4"])
    assert "main()\nassert True" in program_of(stdio, answer, "chat")
    assert "__name__" not in program_of(func, answer, "chat")
    assert "__name__" in sample_fields(answer, "chat", stdio.prompt, stdio=True)["solution"]
