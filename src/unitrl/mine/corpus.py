"""Where mined code comes from: Python files, folders of them, snippet files, or the standard library.

With no path the corpus is the running interpreter's standard library (`sysconfig`'s "stdlib" path):
real, reviewed code present on every machine, minus test suites, GUI and packaging folders. Snippet files
are JSONL or Parquet rows with a `content` (stack-dedup-python-fns) or `response` (Magicoder) field,
or AceCode rows (whose best inference is the code); markdown fences are stripped and lines starting
with `print` removed, as ACECODER does with its seeds. A row with no code (an AceCode row without a
passing inference, a row of other fields) is skipped and counted, never the end of the run.
"""

from __future__ import annotations

import re
import sysconfig
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from unitrl.errors import UserError
from unitrl.records import extract_code, iter_json_lines

# Folders of the stdlib that are tests, GUI, build tooling or vendored packages: not worth mining.
STDLIB_SKIP = {
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "site-packages",
    "dist-packages",
    "ensurepip",
    "venv",
    "__pycache__",
    "config-3",
    "distutils",
    "pydoc_data",
    "unittest",
    "msilib",
}
SNIPPET_FIELDS = ("content", "response")
PRINT_LINE = re.compile(r"^\s*print\b.*$", re.M)


@dataclass
class SourceFile:
    name: str  # module-like name used in task ids, e.g. "textwrap" or "snippets.jsonl:12"
    origin: str  # file path (and line for snippets), for Problem.source
    text: str


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts) or path.stem


def _py_files(root: Path, skip: set[str]) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if any(part in skip or part.startswith("config-") for part in rel[:-1]):
            continue
        if path.name.startswith("test_") or path.name == "setup.py":
            continue
        yield path


def clean_snippet(text: str) -> str:
    """Fenced code out of a markdown answer, with `print` lines removed (ACECODER's seed cleaning)."""
    return PRINT_LINE.sub("", extract_code(text))


def snippet_text(row: dict) -> str | None:
    for f in SNIPPET_FIELDS:
        if isinstance(row.get(f), str):
            return row[f]
    inferences = row.get("inferences")
    for inf in inferences if isinstance(inferences, list) else []:  # an AceCode row: its verified program
        if isinstance(inf, dict) and inf.get("pass_rate") == 1.0 and isinstance(inf.get("completion"), str):
            return inf["completion"]
    return None


def _snippets(path: Path, skipped: Counter) -> Iterator[SourceFile]:
    for line, row in iter_json_lines(path):
        text = snippet_text(row) if isinstance(row, dict) else None
        if text is None:
            skipped["snippet-row-without-code"] += 1
            continue
        yield SourceFile(f"{path.stem}.{line}", f"{path}:{line}", clean_snippet(text))


def read_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def iter_sources(paths: list[str], skipped: Counter | None = None) -> Iterator[SourceFile]:
    """Every source file of the corpus, in a stable order (the stdlib when `paths` is empty). Snippet
    rows without code are counted in `skipped` (by reason) and left out."""
    skipped = Counter() if skipped is None else skipped
    if not paths:
        root = stdlib_root()
        for f in _py_files(root, STDLIB_SKIP):
            text = read_file(f)
            if text is not None:
                yield SourceFile(_module_name(f, root), str(f), text)
        return
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UserError("no such file or folder", path=raw)
        if path.is_dir():
            for f in _py_files(path, {"__pycache__", "site-packages"}):
                text = read_file(f)
                if text is not None:
                    yield SourceFile(_module_name(f, path), str(f), text)
        elif path.suffix == ".py":
            text = read_file(path)
            if text is not None:
                yield SourceFile(path.stem, str(path), text)
        elif path.suffix in (".jsonl", ".json", ".gz", ".parquet"):
            yield from _snippets(path, skipped)
        else:
            raise UserError("expected a folder, a .py file, or a .jsonl/.parquet file of snippets", path=raw)
