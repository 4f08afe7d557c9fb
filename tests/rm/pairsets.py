"""A preference set where the chosen program is correct and the rejected one clearly is not."""

from __future__ import annotations

import random

from unitrl.records import Pair
from unitrl.rm.prompt import rm_prompt_text

OPS = {"+": "adds {k} to x", "-": "subtracts {k} from x", "*": "multiplies x by {k}"}
WRONG = [
    "def {f}(x):\n    pass\n",
    "def {f}(x):\n    return None\n",
    "def {f}(x):\n    raise NotImplementedError\n",
    "def {f}(x)\n    return x {op}\n",  # a syntax error
]


def correct_vs_wrong_pairs(n_tasks: int, per_task: int = 2, seed: int = 0) -> list[Pair]:
    rng = random.Random(seed)
    pairs = []
    for i in range(n_tasks):
        op, k, f = rng.choice(list(OPS)), rng.randint(1, 9), f"fn_{i}"
        question = f"Write a function `{f}(x)` that {OPS[op].format(k=k)} and returns the result."
        test = f"assert {f}(2) == {eval(f'2 {op} {k}')}"
        good = f"def {f}(x):\n    return x {op} {k}\n"
        for j in range(per_task):
            bad = rng.choice(WRONG).format(f=f, op=op)
            pairs.append(Pair(f"t/{i}", rm_prompt_text(question, test), good, bad, 0, j + 1, 1.0, 0.0, 1.0))
    return pairs
