"""A replay buffer of good programs, deduplicated by syntax tree (Gorinski et al. 2023, reconstruction).

Programs whose reward reaches `min_reward` are kept once per (task, `ast.dump` of the program), so
renamed-whitespace or re-formatted copies of the same program count once. A few are replayed into each
actor-critic update with their stored reward (assumption: the paper does not say how the buffer is used;
`replay_per_step` = 0 turns replay off). Programs that do not parse are never stored.
"""

from __future__ import annotations

import ast
import random
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class ReplayEntry:
    task_id: str
    prompt_ids: list[int]
    completion_ids: list[int]
    reward: float


def ast_key(program: str) -> str | None:
    try:
        return ast.dump(ast.parse(program))
    except (SyntaxError, ValueError):
        return None


class ReplayBuffer:
    def __init__(self, capacity: int = 4096, min_reward: float = 1.0):
        self.capacity, self.min_reward = capacity, min_reward
        self.entries: OrderedDict[tuple[str, str], ReplayEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: ReplayEntry, program: str) -> bool:
        """Store the entry if it is good enough and new; True when stored."""
        if entry.reward < self.min_reward:
            return False
        key = ast_key(program)
        if key is None or (entry.task_id, key) in self.entries:
            return False
        self.entries[(entry.task_id, key)] = entry
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)  # oldest first
        return True

    def sample(self, k: int, rng: random.Random) -> list[ReplayEntry]:
        items = list(self.entries.values())
        return rng.sample(items, min(k, len(items)))

    def state_dict(self) -> dict:
        return {"entries": [(key, e.__dict__) for key, e in self.entries.items()]}

    def load_state_dict(self, state: dict) -> None:
        self.entries = OrderedDict((tuple(key), ReplayEntry(**e)) for key, e in state["entries"])
