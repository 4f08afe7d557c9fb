"""What a policy is shown for a problem, and which program is taken from what it writes: one module that
`sample`, RL rollouts and evaluation, the reward model's inputs and the TRL reward functions all use, so a
model is trained, scored and evaluated on the same prompt and judged on the same program.

Two prompt formats (ACECODER, docs/REFERENCE.md section 1):
- `chat`: for models with a chat template. One user message asks for a self-contained Python script in
  one code block and shows the question and, unless `show_test` is off, the FIRST test (so the model sees
  the function name and the call convention). The whole answer stands for the program.
- `completion`: plain continuation of `problem.prompt` (HumanEval style). The test is never added: extra
  text would change what a code prompt asks the model to continue. The continuation completes the prompt
  when the prompt is Python code, and is the whole program otherwise (an instruction prompt), taken from
  it as from a chat answer.
`auto` means chat when the tokenizer has a chat template, completion otherwise.

Extraction cuts the program at the first of: the closing code fence, `if __name__`, `import unittest`, or
a top-level `assert` (ACECODER's rule), so a model's own tests never run as part of its program. For a
stdin/stdout problem only the fence cuts: there the `if __name__ == "__main__": main()` block IS the
program. The
prompt text is rendered with the tokenizer's chat template (generation prompt added) and encoded without
extra special tokens, the same way for every stage. The reward model's prompt (the question and the
same first test) is here too. Only string functions live here: no model is loaded.
"""

from __future__ import annotations

import ast
import functools
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # records imports this module; the type is only needed by checkers
    from unitrl.records import Problem

PROMPT_FORMATS = ("auto", "chat", "completion")
Prompt = str | list[dict]  # completion text, or chat messages

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
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PYTHON = ("python", "py", "python3")

# ------------------------------------------------------------------------------------------ prompts


def resolve_format(fmt: str, has_chat_template: bool) -> str:
    """`auto` means chat when the model has a chat template, completion otherwise."""
    if fmt not in PROMPT_FORMATS:
        raise ValueError(f"unknown prompt format {fmt!r}")
    if fmt == "auto":
        return "chat" if has_chat_template else "completion"
    return fmt


def tokenizer_has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def first_test(problem: Problem) -> str:
    """The first test as a user would read it: an assert line, or an input/output example."""
    if not problem.tests:
        return ""
    test = problem.tests[0]
    if isinstance(test, dict):  # stdin/stdout problem
        return f"Example input:\n{test.get('stdin', '')}\nExpected output:\n{test.get('stdout', '')}"
    return str(test).strip()


def chat_messages(problem: Problem, show_test: bool = True) -> list[dict]:
    """The single-turn conversation ACECODER shows a chat policy."""
    test = first_test(problem) if show_test else ""
    test_block = f"Your code should pass this test:\n```python\n{test}\n```" if test else ""
    content = CHAT_INSTRUCTION.format(question=problem.prompt.strip(), test_block=test_block).rstrip()
    return [{"role": "user", "content": content}]


def build_prompt(problem: Problem, fmt: str, show_test: bool = True) -> Prompt:
    """Messages for `chat`, the raw prompt text for `completion`."""
    if fmt == "chat":
        return chat_messages(problem, show_test)
    if fmt == "completion":
        return problem.prompt
    raise ValueError(f"unknown prompt format {fmt!r}")


def rm_prompt_text(question: str, test: str) -> str:
    """The reward model's prompt: the question and one test (ACECODER), ending in a blank line so that
    `prompt + program` (what TRL's RewardTrainer builds from a Pair file's plain-text columns) reads
    naturally. `unitrl.rm.prompt` turns it and the program into the RM's input."""
    question = question.strip()
    if not test:
        return f"{question}\n\n"
    return f"{question}\n\nTest:\n{test.strip()}\n\n"


def problem_rm_prompt(problem: Problem) -> str:
    """The RM prompt for a problem: its prompt and its first test, written as the policy sees it."""
    return rm_prompt_text(problem.prompt, first_test(problem))


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """The text the model continues: chat messages through its template with the generation prompt."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def encode_prompt(tokenizer: Any, prompt: Prompt) -> list[int]:
    """Token ids of the rendered prompt; a chat template writes its own special tokens, and plain text
    gets none, so the ids are exactly the rendered text's."""
    return list(tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"])


# ---------------------------------------------------------------------------------------- programs


@functools.lru_cache(maxsize=65536)
def prompt_is_code(prompt: str) -> bool:
    """True when the prompt parses as Python (a signature with its docstring, a module header...)."""
    if not prompt.strip():
        return True
    # Besides SyntaxError, hostile text can make the parser raise ValueError (NUL bytes), RecursionError
    # or MemoryError (deep nesting): none of those is code.
    errors = (SyntaxError, ValueError, RecursionError, MemoryError)
    try:
        ast.parse(prompt)
    except errors:
        try:  # a signature with no docstring yet: `def f(x):`
            ast.parse(prompt.rstrip() + "\n    pass\n")
        except errors:
            return False
    return True


def extract_code(text: str) -> str:
    """The code inside the first markdown fence (preferring a python one), or the text itself. Used on
    programs from files (samples written by other tools), where no cut rule is assumed."""
    if "```" not in text:
        return text
    blocks = _FENCE.findall(text)
    if not blocks:
        return text
    for lang, body in blocks:
        if lang.lower() in _PYTHON:
            return body
    return blocks[0][1]


def cut_program(code: str, stdio: bool = False) -> str:
    """Code up to the first top-level `if __name__`, `import unittest` or `assert` line (for a function
    problem; a stdin/stdout script is kept whole)."""
    match = None if stdio else _CUT_LINE.search(code)
    return code[: match.start()] if match else code


def extract_from_chat(text: str, stdio: bool = False) -> str:
    """The program in a chat answer: the first code block (python preferred) cut at its closing fence.

    An unclosed block (the model ran out of tokens) keeps everything after the opening fence; an answer
    without any fence is taken as code as it stands.
    """
    opens = list(_OPEN_FENCE.finditer(text))
    if opens:
        python = [m for m in opens if m.group(1).lower() in _PYTHON]
        start = (python or opens)[0].end()
        end = text.find("```", start)
        text = text[start:] if end < 0 else text[start:end]
    return cut_program(text, stdio)


def extract_from_completion(text: str, stdio: bool = False) -> str:
    """The continuation of a prompt, cut at a closing fence or one of the cut lines."""
    fence = text.find("```")
    if fence >= 0:
        text = text[:fence]
    return cut_program(text, stdio)


EXTRACTORS = {"chat": extract_from_chat, "completion": extract_from_completion}


def sample_fields(text: str, fmt: str, prompt: str, stdio: bool = False) -> dict[str, str]:
    """What a Sample record keeps of a generated text: a chat answer's program as the whole `solution`;
    in the completion format, the `completion`: cut at a fence when it continues a code prompt, and
    taken like a chat answer (first code block) when it is the whole program after an instruction."""
    if fmt == "chat":
        return {"solution": extract_from_chat(text, stdio)}
    whole = not prompt_is_code(prompt)
    return {"completion": extract_from_chat(text, stdio) if whole else extract_from_completion(text, stdio)}


def join_program(prompt: str, solution: str | None = None, completion: str | None = None) -> str:
    """The program a sample stands for: its solution, or the prompt followed by its completion when the
    prompt is Python code (for an instruction prompt the completion is the whole program)."""
    if solution is not None:
        return extract_code(solution)
    code = extract_code(completion or "")
    return prompt + code if prompt_is_code(prompt) else code


def program_of(problem: Problem, text: str, fmt: str) -> str:
    """The program to run for a generated text, exactly what `unitrl sample` would store and run."""
    return join_program(problem.prompt, **sample_fields(text, fmt, problem.prompt, problem.is_stdio))
