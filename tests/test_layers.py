"""The house style's rule on imports (docs/STYLE.md): a stage never imports a later stage, so each stage
can be read, tested and reused without the ones after it. The order is the pipeline's; shared layers
(records, config, the sandbox, input generation, model loading) come first. Imports only a type checker
sees (`if TYPE_CHECKING:`) are left out: they never run."""

from __future__ import annotations

import ast
from pathlib import Path

import unitrl

# Earlier entries may be imported by later ones, never the other way round.
ORDER = [
    "errors", "jsonl", "fieldcheck", "policy_io", "records", "config", "sandbox", "inputs", "models",
    "data", "mine", "synth", "eval", "sample", "prefs", "rm", "rl", "serve", "formats", "integrations",
    "pipeline", "cli", "__main__",
]  # fmt: skip
ROOT = Path(unitrl.__file__).parent


def _runtime_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every unitrl import outside `if TYPE_CHECKING:` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [(node.lineno, node.module)]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in found if m == "unitrl" or m.startswith("unitrl.")]


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_is_placed():
    packages = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()}
    packages = {n for n in packages if not n.startswith((".", "__pycache__")) and n != "__init__"}
    assert packages <= set(ORDER), packages - set(ORDER)


def test_no_stage_imports_a_later_one():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        here = rel.parts[0].removesuffix(".py")
        if here == "__init__":
            continue
        for line, module in _runtime_imports(ast.parse(path.read_text())):
            there = _layer(module)
            if there in ("__init__", here):
                continue
            if ORDER.index(there) > ORDER.index(here):
                upward.append(f"src/unitrl/{rel}:{line}: {here} imports {module}")
    assert not upward, "\n".join(upward)
