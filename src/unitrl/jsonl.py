"""Reading JSON-lines (and .jsonl.gz / Parquet) files defensively, and the bad-record policy.

Every way a file can be wrong becomes a `UserError` naming the file (and line): missing, a directory, not
readable, binary, not gzip, not Parquet, invalid UTF-8, malformed JSON, an integer over Python's 4,300-digit
conversion limit, nesting deeper than `MAX_DEPTH`, lone UTF-16 surrogates. File-level problems always
fail. Line-level problems follow the bad-record policy (`--on-bad-record`, set once per command by
`unitrl.config.config_command`): `fail` raises on the first one; `skip` prints it to stderr as
`file:line: field: reason`, counts it, and drops the whole record. Readers of typed records
(`unitrl.records.read_records`) route their own per-record errors through `bad_record` too.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from unitrl.errors import UserError

POLICIES = ("fail", "skip")
# Deeper JSON than this is refused: no record needs it, and later recursive code (copy, dumps, Arrow,
# printing) could hit the interpreter's recursion limit on it.
MAX_DEPTH = 100
_SNIFF = 8192  # bytes read to tell a binary file from text
_LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")

_policy = "fail"
_skipped = 0


def set_bad_record_policy(policy: str) -> None:
    """`fail` (raise on the first bad record) or `skip` (report, count and drop it); resets the count."""
    global _policy, _skipped
    if policy not in POLICIES:
        raise UserError(
            f"unknown policy {policy!r} (choose from {', '.join(POLICIES)})", field="on_bad_record"
        )
    _policy, _skipped = policy, 0


def bad_record_policy() -> str:
    return _policy


def skipped_records() -> int:
    """Bad records skipped since the policy was last set."""
    return _skipped


def bad_record(error: UserError) -> None:
    """One bad record: raise it under `fail`; under `skip` report it on stderr and count it."""
    global _skipped
    if _policy != "skip":
        raise error
    _skipped += 1
    print(f"skipped: {error}", file=sys.stderr)


def open_checked(path: str | os.PathLike) -> IO[bytes]:
    """A binary handle on a readable, non-binary regular file (gunzipped for .gz), or a UserError."""
    p = Path(path)
    if not p.exists():
        raise UserError("file not found", path=str(p))
    if p.is_dir():
        raise UserError("is a directory, expected a file", path=str(p))
    try:
        fh: IO[bytes] = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
        head = fh.peek(_SNIFF)[:_SNIFF] if hasattr(fh, "peek") else b""
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise UserError(f"not a valid gzip file ({exc})", path=str(p)) from None
    except OSError as exc:
        raise UserError(f"cannot read the file: {exc.strerror or exc}", path=str(p)) from None
    if b"\x00" in head:
        fh.close()
        raise UserError("binary file (NUL bytes), expected UTF-8 JSON lines", path=str(p))
    return fh


def _depth_exceeds(obj: Any, limit: int) -> bool:
    """True when containers nest deeper than `limit` (iterative: no recursion on hostile input)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return False


def _has_lone_surrogate(obj: Any) -> bool:
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def parse_line(raw: bytes) -> Any:
    """One JSON value from one line of bytes; ValueError with a one-line reason when it is not usable."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
    try:
        obj = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"JSON nested too deeply (more than {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # the int-string conversion limit (5,000-digit integers)
        raise ValueError(f"unusable JSON value: {str(exc).split(':')[0]}") from None
    # Cheap guards first: a line with few brackets cannot nest deeply.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth_exceeds(obj, MAX_DEPTH):
        raise ValueError(f"JSON nested too deeply (more than {MAX_DEPTH} levels)")
    if _LONE_SURROGATE.search(raw) and _has_lone_surrogate(obj):
        raise ValueError("a string holds a lone UTF-16 surrogate (not valid Unicode)")
    return obj


def _read_parquet(p: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with the [train] extra
        raise UserError("reading Parquet needs pyarrow (pip install 'unitrl[train]')", path=str(p)) from None
    if p.is_dir():
        raise UserError("is a directory, expected a file", path=str(p))
    try:
        return pq.read_table(p).to_pylist()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types (ArrowInvalid, OSError, ...)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"not a readable Parquet file ({reason})", path=str(p)) from None


def iter_json_lines(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; bad lines follow the bad-record policy."""
    p = Path(path)
    if p.suffix == ".parquet":
        if not p.exists():
            raise UserError("file not found", path=str(p))
        yield from enumerate(_read_parquet(p), start=1)
        return
    fh = open_checked(p)
    with fh:
        lineno = 0
        while True:
            try:
                raw = fh.readline()
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise UserError(f"corrupt gzip data ({exc})", path=str(p), line=lineno + 1) from None
            if not raw:
                return
            lineno += 1
            if not raw.strip():
                continue
            try:
                obj = parse_line(raw)
            except ValueError as exc:
                bad_record(UserError(str(exc), path=str(p), line=lineno))
                continue
            yield lineno, obj


def row_field(
    row: Any, name: str, kind: type | tuple[type, ...], path: str, line: int | None, optional: bool = False
) -> Any:
    """A field of a raw row (an importer's input), checked for presence and type, or a UserError naming
    file, line and field. A bool never counts as an int; `optional` returns None when it is missing."""
    if not isinstance(row, dict):
        raise UserError(f"expected a JSON object, got {type(row).__name__}", path=path, line=line)
    if name not in row or row[name] is None:
        if optional:
            return None
        raise UserError("missing required field", path=path, line=line, field=name)
    value = row[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise UserError(f"expected {want}, got {type(value).__name__}", path=path, line=line, field=name)
    return value
