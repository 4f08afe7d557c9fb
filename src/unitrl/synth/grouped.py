"""Many programs made from ONE problem's reference (its mutants, the trivial programs) in shared sandbox jobs.

Synth grades each problem's 24 mutants and ~12 trivial programs on the problem's tests, then runs the
surviving mutants on more calls. One job per program pays the sandbox's per-program cost (a fork, its
page faults and exit: about 3 ms here) dozens of times per problem, against about 30 us per test. Here
the programs of one problem share jobs of up to MAX_PROGRAMS programs (all of a problem's mutants and
trivial programs in one job per grading stage; with `fail_fast` a program that loops costs one time
limit, and other problems' jobs keep the other workers busy): a loader runs each program in a
namespace of its own, and
each test expression of program k becomes `__unitrl_run(k, '<expression>')`, which evaluates it in
that namespace (names resolve exactly as alone; two more frames on the stack). Each step stands alone
(a step that kills the process is resumed in a fresh one by the sandbox, which loads the programs
again) and keeps its own time limit. The parent only formats strings: nothing is parsed per test.

Why this is safe: the trust boundary of synth's quality figures is the problem. These programs are the
reference edited at one site, or one-line programs of ours; what one could do to another through the
shared process (patch a builtin or an imported module at load time, leave a thread running) can change
only that problem's own figures, which its reference decides anyway. Programs of different problems
never share a process, and nothing here grades a sample for a reward: samples always get a job each.

What stays the same as one job per program: every step keeps its own CPU time limit (a program that
loops costs one limit per step, as alone); a program whose load raises, and any program with a step
that ended other than "ok", "error", "syntax-error" or "timeout" (memory, the output limit, which the
programs of a job share, an infrastructure error), runs again alone, as does every program of a job
whose loader did not answer. For programs that leave shared state alone (mutants of a mined reference:
mine drops functions that change modules or builtins at load time), the outcomes are those of one job
per program; `tests/synth/test_grouped.py` compares the two on failing, looping, crashing and
memory-hungry programs. A problem whose tests are not all split into expressions (`exec` steps:
whole-snippet tests in the harness) is not grouped.
"""

from __future__ import annotations

from typing import Any

from unitrl.sandbox.jobs import Job, JobResult, Step, StepOutcome

OK_FLAGS = "__unitrl_ok"
SAME_ALONE = frozenset(("ok", "error", "syntax-error", "timeout"))  # per-step outcomes of the program itself

_LOADER = """
def __unitrl_load(sources):
    spaces, ok = [], []
    for src in sources:
        g = {"__name__": __name__, "__builtins__": __builtins__}
        try:
            exec(compile(src, "<program>", "exec"), g)
        except (Exception, SystemExit):
            g = None
        spaces.append(g)
        ok.append(g is not None)
    return spaces, ok


def __unitrl_run(k, expr, __spaces=None):
    return eval(expr, __spaces[k])
"""


def group_job(
    programs: list[str], steps: list[list[Step]], timeout: float | None, tag: Any = None, stop: bool = False
) -> Job | None:
    """One job running program k's steps (eval steps only) for every k, each expression evaluated in
    program k's own namespace; None when some step is not an eval step. With `stop`, a step that ends
    the process (a timeout, say) ends its program's run: that program's later steps come back
    "not-run" (`Job.segments`), the other programs' steps still run."""
    if any(step.kind != "eval" for own in steps for step in own):
        return None
    routed = [Step("eval", exprs=[f"__unitrl_run({k}, {e!r})" for e in step.exprs]) for k, own in enumerate(steps)
              for step in own]  # fmt: skip
    program = (
        f"{_LOADER}\n__unitrl_spaces, {OK_FLAGS} = __unitrl_load({programs!r})\n"
        "__unitrl_run.__defaults__ = (__unitrl_spaces,)\n"
        "del __unitrl_load, __unitrl_spaces\n"
    )
    segments = None
    if stop:  # the loader's step, then one run per program that has steps
        starts = [1 + sum(len(own) for own in steps[:k]) for k in range(len(steps))]
        segments = [0] + sorted({at for at, own in zip(starts, steps) if own})
    job_steps = [Step("eval", exprs=[OK_FLAGS])] + routed
    return Job(program=program, steps=job_steps, timeout=timeout, tag=tag, segments=segments)


MAX_PROGRAMS = 64  # per job: every mutant (24) and trivial program (~12) of a problem


def run_each(
    sandbox: Any, items: list[tuple[Any, str, list[Step], float | None]], *, fail_fast: bool = False
) -> list[list[StepOutcome]]:
    """For each (owner, program, its steps, time limit per step): the program's step outcomes, as one
    job per program would give them (see the module's docstring). Programs of the same owner (a
    problem: compared by identity) and time limit share jobs of at most MAX_PROGRAMS programs;
    programs of different owners never do. With `fail_fast` (for callers that stop at a program's
    first failure), a step that ends the process (a timeout) also ends that program: its later steps
    come back "not-run"; and a program that must run again alone (a step ran out of memory, say) runs
    only up to that step, its later steps "not-run", unless the step now ends normally."""
    by_owner: dict[tuple[int, float | None], list[int]] = {}
    for i, (owner, _, _, timeout) in enumerate(items):
        by_owner.setdefault((id(owner), timeout), []).append(i)
    chunks = [
        idx[lo : lo + MAX_PROGRAMS] for idx in by_owner.values() for lo in range(0, len(idx), MAX_PROGRAMS)
    ]
    parts = [([items[i][1] for i in c], [items[i][2] for i in c], items[c[0]][3]) for c in chunks]
    out: list[list[StepOutcome]] = [[] for _ in items]
    for c, got in zip(chunks, _run_parts(sandbox, parts, fail_fast)):
        for i, steps in zip(c, got):
            out[i] = steps
    return out


def _run_parts(
    sandbox: Any, groups: list[tuple[list[str], list[list[Step]], float | None]], fail_fast: bool
) -> list[list[list[StepOutcome]]]:
    jobs, plan = [], []  # plan: (group, program) -> where its outcomes come from
    for g, (programs, steps, timeout) in enumerate(groups):
        job = group_job(programs, steps, timeout, ("group", g), fail_fast) if len(programs) > 1 else None
        if job is not None:
            jobs.append(job)
        plan.append(job is not None)
    results = dict(zip([j.tag for j in jobs], sandbox.run(jobs) if jobs else []))
    out: list[list[list[StepOutcome] | None]] = []
    alone: list[tuple[int, int]] = []
    for g, ((programs, steps, _), grouped) in enumerate(zip(groups, plan)):
        outcomes: list[list[StepOutcome] | None] = [None] * len(programs)
        r: JobResult | None = results.get(("group", g)) if grouped else None
        flags = _flags(r, len(programs)) if r is not None else None
        at = 1
        for k, own in enumerate(steps):
            mine = r.steps[at : at + len(own)] if r is not None else []
            at += len(own)
            odd = next((j for j, o in enumerate(_until_stop(mine)) if not _same_alone(o)), None)
            if flags is not None and flags[k] and len(mine) == len(own) and odd is None:
                outcomes[k] = mine
            else:  # alone: all of it, or with fail_fast up to the first odd step of a loaded program
                upto = (
                    odd + 1 if fail_fast and odd is not None and flags is not None and flags[k] else len(own)
                )
                alone.append((g, k, upto))
        out.append(outcomes)
    out = _alone(sandbox, groups, alone, out, fail_fast)
    if fail_fast:  # a cut rerun whose last step now ended normally: the rest must run after all
        again = [(g, k, len(groups[g][1][k])) for g, k, upto in alone
                 if upto < len(groups[g][1][k]) and _same_alone(out[g][k][upto - 1])]  # fmt: skip
        out = _alone(sandbox, groups, again, out, fail_fast)
    return out  # type: ignore[return-value]


def _until_stop(mine: list[StepOutcome]) -> list[StepOutcome]:
    """A program's outcomes up to the step that ended its run (the "not-run" after it are the stop's)."""
    for j, o in enumerate(mine):
        if o.status == "not-run" and j and mine[j - 1].status != "ok":
            return mine[:j]
    return mine


def _alone(sandbox: Any, groups: list, todo: list[tuple[int, int, int]], out: list, stop: bool) -> list:
    """Run program k of group g alone on its first `upto` steps; the rest come back "not-run". With
    `stop`, a step that ends the process ends the program's run too."""
    jobs = [Job(program=groups[g][0][k], steps=groups[g][1][k][:upto], timeout=groups[g][2], tag=(g, k),
                segments=[0] if stop and upto else None)
            for g, k, upto in todo]  # fmt: skip
    for (g, k, upto), r in zip(todo, sandbox.run(jobs) if jobs else []):
        rest = len(groups[g][1][k]) - upto
        out[g][k] = list(r.steps) + [StepOutcome("not-run", error="after a failed step") for _ in range(rest)]
    return out


def _same_alone(o: StepOutcome) -> bool:
    """An outcome the program gives the same alone: not one the shared job caused, and not a test
    that does not compile (alone that is "syntax-error", here an error raised by eval)."""
    return o.status in SAME_ALONE and not (o.status == "error" and o.error.startswith("SyntaxError"))


def _flags(r: JobResult, n: int) -> list[bool] | None:
    """The loader's per-program "loaded" flags, or None when it did not answer with n booleans."""
    if not r.steps or r.steps[0].status != "ok" or not r.steps[0].values:
        return None
    flags = r.steps[0].values[0]
    if not isinstance(flags, list) or len(flags) != n or not all(type(f) is bool for f in flags):
        return None
    return flags
