"""What the sandbox is asked to run (`Job`, `Step`) and what it answers (`JobResult`, `StepOutcome`).

A job is one untrusted program plus ordered steps run after it, each with its own time limit:
- `eval`: a list of Python expressions evaluated in the program's namespace; their values come back
  reduced to exact builtin types (None, bool, int, float, complex, str, bytes, list, tuple, dict, set,
  frozenset), size-capped. The trusted side compares them; expected values never enter the sandbox.
- `exec`: statements run whole (a test that cannot be split) in a harness process that never loads the
  program: the program's names it reads are proxies into the program's process, whose results come back
  reduced to exact builtin types (see `harness`); the outcome, "it raised or not", is decided there.
- `stdio`: the program runs as `__main__` in a fresh child with `stdin` as its standard input; the
  captured stdout comes back (capped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STEP_KINDS = ("eval", "exec", "stdio")

# Step statuses. "ok" means the step ran to completion (for eval: values returned); verdicts such as
# pass/fail are decided by the trusted caller, never by the sandbox.
STEP_STATUSES = (
    "ok",
    "error",
    "timeout",
    "memory",
    "output-limit",
    "syntax-error",
    "not-run",
    "infrastructure-error",
)


@dataclass
class Step:
    kind: str
    exprs: list[str] = field(default_factory=list)  # for "eval"
    code: str = ""  # for "exec"
    stdin: str = ""  # for "stdio"


@dataclass
class Job:
    program: str
    steps: list[Step]
    timeout: float | None = None  # seconds per step; None = the sandbox's default
    tag: Any = None  # caller's key, returned untouched
    # Optional: the step indices at which runs of steps begin (ascending, the first 0). When a step ends
    # the program's process (a timeout, the memory or output limit, a crash), the later steps of ITS run
    # come back "not-run" instead of running in a fresh process; the other runs go on as usual. For a
    # caller that stops at a program's first failure anyway (mutant scoring: many programs' steps in
    # one job, one run each), so a program that loops costs one time limit, not one per test left.
    segments: list[int] | None = None


@dataclass
class StepOutcome:
    status: str
    values: list[Any] | None = None  # eval: one decoded value per expression
    stdout: str | None = None  # stdio: captured standard output
    error: str = ""  # exception type and message, truncated
    duration: float = 0.0


@dataclass
class JobResult:
    tag: Any
    steps: list[StepOutcome]
    duration: float = 0.0
