"""HumanEval+ and MBPP+ (evalplus's HumanEvalPlus.jsonl / MbppPlus.jsonl) -> problems with one test per input.

evalplus grades a program on each row's `base_input` (the original benchmark's inputs) and `plus_input`
(its extra ones) against the outputs of the row's canonical solution (`prompt + canonical_solution`, run
on every input), compared as `evalplus.eval.unsafe_execute` does: exact `==`, or, when `atol` > 0 or the
expected value is a float or a non-empty list/tuple of floats (atol then 1e-6), same type, same length
and `np.allclose(out, exp, rtol=1e-07, atol=atol)`. "base" passes on base_input, "plus" on base_input
and plus_input. Here the canonical solution runs in unitrl's sandbox at import time; each input becomes
one test (`assert f(args) == expected`, or a small snippet with evalplus's float rule), base tests first,
and `meta["plus"] = {"base": N}` says the first N tests are the base ones. Expected values whose `repr`
does not evaluate back to them are checked by one script test per block (base, plus) that runs the
canonical solution beside the program, as evalplus's own check does. evalplus's special oracles
(HumanEval/32 `find_zero`, MBPP's set-equality, not-None and four single tasks) are kept. Inputs on which
the canonical solution itself fails are dropped and counted; nothing is capped.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from typing import Any

from unitrl.errors import UserError
from unitrl.inputs.calls import literal, run_calls, source
from unitrl.jsonl import row_field
from unitrl.records import Problem, iter_json_lines
from unitrl.synth.execution import assert_for

PLUS_KEY = "plus"  # Problem.meta key: {"base": N}, the first N tests are evalplus's base tests
CHUNK = 200  # inputs per sandbox job (one job's returned values are capped in bytes)
REFERENCE_TIMEOUT = 20.0  # CPU seconds per input for the canonical solution (plus inputs can be large)

# evalplus's comparison (evalplus.eval.unsafe_execute), run where the test runs: exact `==`; else, when
# atol > 0 or the expected value is float(s) (atol then 1e-6), same type, same length and
# np.allclose(out, exp, rtol=1e-07, atol=atol), i.e. |o - e| <= atol + 1e-07 * |e| item by item
# (infinities equal only to themselves; NaN to nothing).
CLOSE_HELPER = """\
def _near(o, e, atol):
    if isinstance(e, (list, tuple)):
        return isinstance(o, (list, tuple)) and len(o) == len(e) and all(_near(x, y, atol) for x, y in zip(o, e))
    if o == e:
        return True
    # numpy compares non-finite values by equality only (inf is not close to anything finite)
    return abs(o) != float("inf") != abs(e) and abs(o - e) <= atol + 1e-07 * abs(e)


def _close(out, exp, atol):
    if out == exp:
        return True
    floats = isinstance(exp, float) or (
        isinstance(exp, (list, tuple)) and len(exp) > 0 and all(isinstance(i, float) for i in exp)
    )
    if atol == 0 and not floats:
        return False
    return type(out) is type(exp) and _near(out, exp, atol or 1e-6)
"""


def is_floats(x: Any) -> bool:
    """evalplus's `is_floats`: a float, or a non-empty list/tuple of floats."""
    if isinstance(x, float):
        return True
    return isinstance(x, list | tuple) and bool(x) and all(isinstance(i, float) for i in x)


# ------------------------------------------------------------------------------------ MBPP+ specifics

# evalplus.eval._special_oracle: outputs compared as sets / only as "is not None".
MBPP_SET_EQ = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum"}
MBPP_SET_EQ |= {"intersection_array", "find_dissimilar", "Diff"}
MBPP_NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}

# evalplus.data.mbpp.mbpp_deserialize_inputs: JSON has no tuples, sets or complex numbers.
_TUPLES = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740}
_TUPLES |= {744, 809}
_NESTED = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}
_FIRST_NESTED = {75, 413, 444, 753}
_FIRST = {250, 405, 446, 617, 720, 763, 808}
_DOUBLE = {259, 401, 445}
_ALL = {580, 615, 791}


def _all_tuples(v: Any) -> Any:
    return tuple(_all_tuples(i) for i in v) if isinstance(v, list) else v


def mbpp_deserialize_inputs(task_id: str, inputs: list) -> list:
    """evalplus's per-task conversion of MbppPlus.jsonl inputs back to the Python values it tests."""
    try:
        n = int(task_id.split("/")[-1])
    except ValueError:
        return inputs
    if n in _TUPLES:
        return [[tuple(x) for x in inp] for inp in inputs]
    if n in _NESTED or n in _DOUBLE:
        out = [[[tuple(x) for x in lst] for lst in inp] for inp in inputs]
        return [[tuple(x) for x in inp] for inp in out] if n in _DOUBLE else out
    if n in _FIRST_NESTED:
        return [[[tuple(x) for x in inp[0]]] + [inp[1]] for inp in inputs]
    if n in (106, 750):
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if n == 115:
        return [[[set(x) if isinstance(x, list) and len(x) else {} for x in inp[0]]] for inp in inputs]
    if n == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if n in _FIRST:
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if n == 278:
        out = [[[tuple(x) if isinstance(x, list) else x for x in inp[0]]] for inp in inputs]
        return [[tuple(x) for x in inp] for inp in out]
    if n == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}] + inp[1:] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    if n in _ALL:
        return [_all_tuples(inp) for inp in inputs]
    return inputs


def surface_area(base_edge: float, height: float) -> int:
    """evalplus's oracle for Mbpp/581."""
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant) / 2)


def digit_distance_nums(num1: int, num2: int) -> int:
    """evalplus's oracle for Mbpp/558."""
    a, b = str(num1), str(num2)
    width = max(len(a), len(b))
    return sum(abs(int(x) - int(y)) for x, y in zip(a.zfill(width), b.zfill(width)))


# ------------------------------------------------------------------------------------ one test per input


def value_test(dataset: str, entry: str, args: list, args_src: str, exp: Any, atol: float) -> str | None:
    """The test for one input whose expected value is known; None when it is not a literal."""
    exp_src = literal(exp)
    if exp_src is None:
        return None
    call = f"{entry}({args_src})"
    if dataset == "mbpp":
        if entry in MBPP_SET_EQ:
            return f"assert set({call}) == set({exp_src})"
        if entry in MBPP_NOT_NONE:  # exp is "the canonical output is not None"
            return f"_out = {call}\nassert _out == {exp_src} if isinstance(_out, bool) else (_out is not None) == {exp_src}"
        if entry == "are_equivalent":  # Mbpp/164: any output that does not raise
            return f"{call}\n"
        if entry == "sum_div":  # Mbpp/295: 0 is accepted too
            return f"assert {call} in [{exp_src}, 0]"
        if entry == "digit_distance_nums":  # Mbpp/558
            return f"assert {call} in [{exp_src}, {digit_distance_nums(*args)!r}]"
        if entry == "surface_Area":  # Mbpp/581
            other = surface_area(*args)
            return f"_out = {call}\nassert _out == {exp_src} or abs(_out - {other!r}) <= {atol!r}"
    if dataset == "humaneval" and entry == "find_zero":  # HumanEval/32: a root within atol
        return (
            f"import math\n_x = {call}\n"
            f"assert abs(sum(c * math.pow(_x, i) for i, c in enumerate({args_src.rstrip(',')}))) <= {atol!r}"
        )
    if atol == 0 and not is_floats(exp):
        return assert_for(entry, args_src, exp)
    return f"{CLOSE_HELPER}\n\nassert _close({call}, {exp_src}, {atol!r})\n"


def script_test(reference: str, entry: str, inputs: list[str], atol: float) -> str:
    """evalplus's own check for inputs whose expected value is not a literal: the canonical solution
    runs beside the program (in the harness, never in the program's process) on each input."""
    listed = ",\n    ".join(f"({a})" for a in inputs)
    return (
        f"import copy\n\n{CLOSE_HELPER}\n\n_REFERENCE = {reference!r}\n_INPUTS = [\n    {listed},\n]\n\n\n"
        f"def check(candidate):\n    ns = {{}}\n    exec(_REFERENCE, ns)\n    for args in _INPUTS:\n"
        f"        exp = ns[{entry!r}](*copy.deepcopy(args))\n"
        f"        assert _close(candidate(*args), exp, {atol!r})\n\n\ncheck({entry})\n"
    )


# ------------------------------------------------------------------------------------ rows


def parse_row(row: Any, path: str, line: int, dataset: str) -> dict[str, Any]:
    """A checked evalplus row: task_id, prompt, entry_point, reference, base, plus, atol, test."""
    parsed = {name: row_field(row, name, str, path, line) for name in ("task_id", "prompt", "entry_point")}
    parsed["reference"] = parsed["prompt"] + row_field(row, "canonical_solution", str, path, line)
    for block in ("base", "plus"):
        inputs = row_field(row, f"{block}_input", list, path, line)
        if not all(isinstance(i, list | tuple) for i in inputs):
            raise UserError("expected a list of argument lists", path=path, line=line, field=f"{block}_input")
        if dataset == "mbpp":
            inputs = mbpp_deserialize_inputs(parsed["task_id"], inputs)
        parsed[block] = [list(i) for i in inputs]
    atol = row.get("atol", 0) or 0
    if not isinstance(atol, int | float) or isinstance(atol, bool) or atol < 0:
        raise UserError("expected a number >= 0", path=path, line=line, field="atol")
    parsed["atol"] = float(atol)
    parsed["test"] = row.get("test") if isinstance(row.get("test"), str) else ""
    return parsed


def _block_tests(dataset: str, row: dict, inputs: list[list], outcomes: list, counts: Counter) -> list[str]:
    entry, atol = row["entry_point"], row["atol"]
    tests, scripted = [], []
    for args, outcome in zip(inputs, outcomes):
        args_src = ", ".join(source(a) for a in args)
        if outcome.status != "ok" and "cannot be compared outside the sandbox" not in outcome.error:
            counts["reference_failed"] += 1  # evalplus's data never has these; say so rather than guess
            continue
        test = (
            value_test(dataset, entry, args, args_src, outcome.values[0], atol)
            if outcome.status == "ok"
            else None
        )
        if test is None:
            scripted.append(args_src + ("," if len(args) == 1 else ""))
        else:
            tests.append(test)
    if scripted:
        counts["script_inputs"] += len(scripted)
        tests.append(script_test(row["reference"], entry, scripted, atol))
    return tests


def plus_problems(
    sandbox: Any, rows: list[dict], dataset: str, source_name: str
) -> tuple[list[Problem], Counter]:
    """Problems from parsed rows, the canonical solutions run in `sandbox`; plus the import's counts."""
    calls, where = [], []
    for i, row in enumerate(rows):
        for block in ("base", "plus"):
            entry = row["entry_point"]
            srcs = [", ".join(source(a) for a in args) for args in row[block]]
            if dataset == "mbpp" and entry in MBPP_NOT_NONE:  # evalplus's `output_not_none`
                srcs, entry = [f"{entry}({a}) is not None" for a in srcs], ""
            for start in range(0, len(srcs), CHUNK):
                calls.append((row["reference"], entry, srcs[start : start + CHUNK]))
                where.append((i, block))
    outcomes: dict[tuple[int, str], list] = {}
    for key, steps in zip(where, run_calls(sandbox, calls, REFERENCE_TIMEOUT)):
        outcomes.setdefault(key, []).extend(steps)
    total: Counter = Counter()
    problems = []
    for i, row in enumerate(rows):
        counts: Counter = Counter()
        base = _block_tests(dataset, row, row["base"], outcomes.get((i, "base"), []), counts)
        extra = _block_tests(dataset, row, row["plus"], outcomes.get((i, "plus"), []), counts)
        counts.update(base_inputs=len(row["base"]), plus_inputs=len(row["plus"]))
        total.update(counts)
        meta = {PLUS_KEY: {"base": len(base)}, "evalplus": dict(counts), "atol": row["atol"]}
        meta["original_test"] = row["test"]
        problems.append(
            Problem(
                row["task_id"],
                row["prompt"],
                row["entry_point"],
                base + extra,
                row["reference"],
                source_name,
                meta,
            )
        )
    return problems, total


def load_plus(path: str | None, dataset: str) -> list[Problem]:
    """HumanEvalPlus.jsonl (dataset "humaneval") or MbppPlus.jsonl ("mbpp") -> problems; prints the counts."""
    from unitrl.sandbox import Sandbox, SandboxConfig

    name = "HumanEval+" if dataset == "humaneval" else "MBPP+"
    if not path:
        raise UserError(
            f"{name} needs its file: pass --in {'HumanEvalPlus' if dataset == 'humaneval' else 'MbppPlus'}.jsonl (from evalplus)"
        )
    rows, seen = [], {}
    for line, row in iter_json_lines(path):
        parsed = parse_row(row, path, line, dataset)
        if parsed["task_id"] in seen:
            raise UserError(
                f"duplicate task_id {parsed['task_id']!r} (first on line {seen[parsed['task_id']]})",
                path=path,
                line=line,
                field="task_id",
            )
        seen[parsed["task_id"]] = line
        rows.append(parsed)
    with Sandbox(SandboxConfig(timeout=REFERENCE_TIMEOUT, memory_mb=4096)) as sandbox:
        problems, counts = plus_problems(sandbox, rows, dataset, f"{dataset}plus")
    print(
        f"{name}: {counts['base_inputs']} base and {counts['plus_inputs']} plus inputs; "
        f"{counts['script_inputs']} checked by a script test (expected value not a literal), "
        f"{counts['reference_failed']} dropped (the canonical solution failed on them)",
        file=sys.stderr,
    )
    return problems
