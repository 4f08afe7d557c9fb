"""Prompts of the LLM engines and robust parsing of their JSON answers.

The synthesis prompt follows ACECODER (arXiv 2502.01718, section 2 and appendix): rewrite a seed into a
LeetCode-style question solvable by ONE function (no class, no external resources, no complexity
analysis) plus about 20 independent `assert` tests with constant arguments and expected outputs, answered
as JSON `{"question": ..., "tests": [...]}`; seeds without an instruction get a program-only variant.
The text is ours. Parsing accepts fenced, prefixed and trailed answers, and repairs a truncated answer by
cutting it back to the last complete list element and closing the brackets (ACECODER trims the tail).
"""

from __future__ import annotations

import ast
import json
from typing import Any

SYNTH_WITH_INSTRUCTION = """You are given a programming task and a Python solution to it.

## Task
{instruction}

## Solution
```python
{program}
```

Rewrite this into a self-contained coding question, in the style of a LeetCode problem, that can be
solved by implementing ONE Python function named `{entry}` (no class, no file, network or other external
resources, and no request for complexity analysis). The question must state the function's signature and
exactly what it returns. Then write about {n_tests} independent test cases as Python `assert` statements,
each calling `{entry}` with constant arguments and comparing to a constant expected output, e.g.
`assert {entry}(...) == ...`. Cover normal cases and edge cases.

Answer with JSON only, in this form:
{{"question": "...", "tests": ["assert ...", "assert ..."]}}"""

SYNTH_PROGRAM_ONLY = """Here is a Python program.

```python
{program}
```

Write a self-contained coding question, in the style of a LeetCode problem, whose answer is the function
`{entry}` above: ONE Python function, no class, no external resources, and no request for complexity
analysis. The question must state the function's signature and exactly what it returns. Then write about
{n_tests} independent test cases as Python `assert` statements, each calling `{entry}` with constant
arguments and comparing to a constant expected output, e.g. `assert {entry}(...) == ...`. Cover normal
cases and edge cases.

Answer with JSON only, in this form:
{{"question": "...", "tests": ["assert ...", "assert ..."]}}"""

# ACECODER's oracle sees the question plus the first two tests.
ORACLE = """{question}

Your solution must pass tests such as:
{tests}

Write the complete Python function in one ```python code block."""

INPUTS_ONLY = """Here is a Python function.

```python
{program}
```

Propose {n_inputs} different, meaningful inputs for `{entry}` that together exercise its normal cases,
boundaries and edge cases. Write each input as the Python argument list you would put between the
parentheses of a call, using only literals, e.g. "[1, 2, 3], 2" or "'abc'".

Answer with JSON only, in this form:
{{"inputs": ["...", "..."]}}"""


def synth_messages(program: str, entry: str, instruction: str | None = None, n_tests: int = 20) -> list[dict]:
    if instruction:
        text = SYNTH_WITH_INSTRUCTION.format(
            instruction=instruction, program=program, entry=entry, n_tests=n_tests
        )
    else:
        text = SYNTH_PROGRAM_ONLY.format(program=program, entry=entry, n_tests=n_tests)
    return [{"role": "user", "content": text}]


def oracle_messages(question: str, tests: list[str]) -> list[dict]:
    return [{"role": "user", "content": ORACLE.format(question=question, tests="\n".join(tests[:2]))}]


def inputs_messages(program: str, entry: str, n_inputs: int = 20) -> list[dict]:
    return [{"role": "user", "content": INPUTS_ONLY.format(program=program, entry=entry, n_inputs=n_inputs)}]


# ------------------------------------------------------------------------------------ JSON repair


def _cut_points(text: str) -> list[tuple[int, str]]:
    """(position, closing brackets) after each complete element of a list or object, in order."""
    stack: list[str] = []
    cuts: list[tuple[int, str]] = []
    in_str = escaped = False
    for i, ch in enumerate(text):
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
                if stack and stack[-1] == "]":
                    cuts.append((i + 1, "".join(reversed(stack))))
            continue
        if ch == '"':
            in_str = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}" and stack:
            stack.pop()
            cuts.append((i + 1, "".join(reversed(stack))))
        elif ch == "," and stack:
            cuts.append((i, "".join(reversed(stack))))
    return cuts


def parse_json_answer(text: str) -> dict[str, Any] | None:
    """The first JSON object in a model's answer, repairing fences, junk around it and a cut-off tail."""
    start = text.find("{")
    if start < 0:
        return None
    body = text[start:]
    try:
        obj, _ = json.JSONDecoder().raw_decode(body)  # ignores whatever trails the object
        return obj if isinstance(obj, dict) else None
    except json.JSONDecodeError:
        pass
    for pos, closers in reversed(_cut_points(body)):
        try:
            obj = json.loads(body[:pos] + closers)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def clean_tests(tests: Any) -> list[str]:
    """Keep strings that parse as exactly one `assert` statement; drop duplicates, keep order."""
    out: list[str] = []
    for t in tests if isinstance(tests, list) else []:
        if not isinstance(t, str):
            continue
        try:
            tree = ast.parse(t.strip())
        except SyntaxError:
            continue
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert) and t.strip() not in out:
            out.append(t.strip())
    return out


def parse_synth_answer(text: str) -> tuple[str, list[str]] | None:
    """(question, asserts) from a synthesis answer, or None when nothing usable came back."""
    obj = parse_json_answer(text)
    if not obj or not isinstance(obj.get("question"), str) or not obj["question"].strip():
        return None
    tests = clean_tests(obj.get("tests"))
    return (obj["question"].strip(), tests) if tests else None


def parse_inputs_answer(text: str) -> list[str]:
    """Argument-list sources from an inputs answer that parse as a call's arguments."""
    obj = parse_json_answer(text) or {}
    out = []
    for s in obj.get("inputs", []) if isinstance(obj.get("inputs"), list) else []:
        if isinstance(s, str) and s not in out:
            try:
                call = ast.parse(f"f({s})", mode="eval").body
            except SyntaxError:
                continue
            if all(_is_literal(a) for a in call.args + [k.value for k in call.keywords]):  # type: ignore[attr-defined]
                out.append(s)
    return out


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False
    return True
