"""The input search on functions whose first calls all fail: what the errors say is learned, and a
problem on which nothing has run yet gets extra rounds (a count, not a clock)."""

from __future__ import annotations

import random

from unitrl.inputs.generate import function_params
from unitrl.inputs.search import (
    RESCUE_ROUNDS,
    Search,
    Tried,
    _wanted,
    learn_from_errors,
    new_search,
    search_inputs,
)
from unitrl.records import Problem


def test_error_messages_name_the_wanted_types():
    cases = {
        "TypeError: unsupported operand type(s) for &: 'float' and 'int'": (["int"], {"float"}),
        "TypeError: unsupported operand type(s) for divmod(): 'list' and 'float'": (
            ["int"],
            {"list", "float"},
        ),
        "TypeError: '<=' not supported between instances of 'int' and 'list'": (["int"], {"list"}),
        "TypeError: object of type 'int' has no len()": (["str", "list[int]"], {"int"}),
        "TypeError: 'bool' object is not subscriptable": (["list[int]", "str"], {"bool"}),
        "TypeError: string indices must be integers, not 'str'": (["dict[str,str]"], {"str"}),
        "TypeError: 'int' object is not iterable": (["list[int]", "str"], {"int"}),
        "AttributeError: 'int' object has no attribute 'startswith'": (["str"], {"int"}),
        "TypeError: '<' not supported between instances of 'str' and 'int'": ([], None),  # both scalars
        "ValueError: math domain error": ([], None),
    }
    for msg, want in cases.items():
        assert _wanted(msg) == want, msg


def test_learning_promotes_the_wanted_type_on_the_argument_that_was_rejected():
    import ast

    func = ast.parse("def f(a, b):\n    return divmod(a, b)\n").body[0]
    s = Search("f", function_params(func), {}, [], None)
    bad = Tried(((1.5, [1]), {}), "1.5, [1]", "raised",
                "TypeError: unsupported operand type(s) for divmod(): 'float' and 'list'")  # fmt: skip
    learn_from_errors(s, [bad])
    assert [p.types[0] for p in s.params] == ["int", "int"]


NEEDS_INTS = '''
def weekday(year, month, day):
    """Day of the week (0 is Monday) of a date."""
    import datetime
    if not 1 <= year <= 9999:
        year = 2000 + year % 400
    return datetime.date(year, month, day).weekday()

def mix(a, b):
    """Nearest integer to a / b."""
    q, r = divmod(a, b)
    return q + (2 * r + (q & 1) > b)
'''


def test_a_stuck_problem_gets_rescue_rounds_and_finds_calls_that_run(sandbox):
    probs = [
        Problem(task_id=f"t/{e}", prompt="", entry_point=e, reference=NEEDS_INTS) for e in ("weekday", "mix")
    ]
    ran = {}
    for rescue in (0, RESCUE_ROUNDS):
        searches = {p.task_id: new_search(p) for p in probs}
        rngs = {tid: random.Random(f"3:{tid}") for tid in searches}  # a seed on which round one finds nothing
        search_inputs(sandbox, searches, rngs, want=12, rounds=1, timeout=1.0, rescue=rescue)
        ran[rescue] = {tid: sum(t.status == "ok" for t in s.tried) for tid, s in searches.items()}
    assert ran[0] == {"t/weekday": 0, "t/mix": 0}
    assert all(n > 0 for n in ran[RESCUE_ROUNDS].values()), ran
