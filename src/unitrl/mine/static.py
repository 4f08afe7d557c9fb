"""Static checks on a candidate function, done before anything runs (the cheap half of the filter).

A mined function must look like a unit-testable problem: a plain top-level `def` (no decorator, not
async, not a generator) with at least one argument, that returns a value, does no I/O, randomness, clock,
network or process control, and imports only pure standard-library modules. "Pure" is an allowlist:
modules whose functions compute values from arguments (math, re, itertools, ...). Names like `hash` and
`id` are banned too: their values change between interpreters (hash randomization), so expected outputs
made from them would be wrong elsewhere. What static checks miss, the dynamic check in the sandbox
(two separate runs must agree) catches.
"""

from __future__ import annotations

import ast
import builtins
import sys

PURE_MODULES = {
    "math",
    "cmath",
    "re",
    "string",
    "itertools",
    "functools",
    "collections",
    "operator",
    "heapq",
    "bisect",
    "fractions",
    "decimal",
    "statistics",
    "textwrap",
    "unicodedata",
    "struct",
    "binascii",
    "base64",
    "hashlib",
    "zlib",
    "json",
    "copy",
    "keyword",
    "numbers",
    "typing",
    "array",
    "difflib",
    "html",
    "colorsys",
    "calendar",
    "fnmatch",
    "shlex",
    "enum",
    "dataclasses",
    "graphlib",
    "reprlib",
    "stringprep",
    "quopri",
    "abc",
    "types",
    "codecs",
    "sre_compile",
    "sre_parse",
    "sre_constants",
    "_collections_abc",
    "__future__",
    # Computing modules whose functions work on the values they are given (a clock read such as
    # datetime.now is caught by the dynamic check: two runs must agree); warnings only write to stderr.
    "warnings",
    "datetime",
    "stat",
    "builtins",
    "urllib.parse",
    "email",
}
# Modules that are I/O or process state as a whole but whose listed attributes are plain values or pure
# string functions: a function may import them when it uses nothing else of them (restricted_verdict).
# Path functions that read the file system, the working directory or the environment (exists, abspath,
# expanduser, realpath...) are not listed; neither are values that differ between machines of the same
# platform (sys.platform is the same on every Linux, but sys.version_info is not: left out).
PATH_FUNCS = frozenset({
    "join", "split", "splitext", "splitdrive", "splitroot", "basename", "dirname", "normpath", "normcase",
    "isabs", "commonprefix", "commonpath", "sep", "altsep", "extsep", "curdir", "pardir", "pathsep",
    "_splitext", "_get_sep", "_get_bothseps", "_check_arg_types",
})  # fmt: skip
RESTRICTED_MODULES: dict[str, frozenset[str]] = {
    "os": frozenset({"fspath", "sep", "altsep", "extsep", "curdir", "pardir", "pathsep", "linesep", "path"}),
    "os.path": PATH_FUNCS,
    "posixpath": PATH_FUNCS,
    "ntpath": PATH_FUNCS,
    "genericpath": PATH_FUNCS,
    "sys": frozenset({"maxsize", "byteorder", "intern", "float_info", "int_info", "maxunicode"}),
}
BANNED_NAMES = {
    "open",
    "print",
    "input",
    "exec",
    "eval",
    "compile",
    "__import__",
    "globals",
    "locals",
    "vars",
    "exit",
    "quit",
    "breakpoint",
    "help",
    "id",
    "hash",
    "memoryview",
    "setattr",
    "delattr",
}
# Method names that are I/O on whatever object was passed in (files, sockets, streams).
IO_METHODS = {
    "write",
    "writelines",
    "read",
    "readline",
    "readlines",
    "flush",
    "close",
    "seek",
    "tell",
    "send",
    "sendall",
    "recv",
    "connect",
    "fileno",
    "makefile",
    "system",
    "popen",
    "spawn",
    "kill",
}
BUILTIN_NAMES = set(dir(builtins))


def module_verdict(module: str) -> str | None:
    """None when importing `module` (or a package holding it: `urllib.parse`) is fine, else the reason.
    A restricted module is fine here; what the code uses of it is checked by restricted_verdict."""
    root = module.split(".")[0]
    parts = module.split(".")
    if (
        any(".".join(parts[:i]) in PURE_MODULES for i in range(1, len(parts) + 1))
        or module in RESTRICTED_MODULES
    ):
        return None
    return "impure-import" if root in sys.stdlib_module_names else "non-stdlib-import"


def import_verdict(node: ast.Import | ast.ImportFrom) -> str | None:
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return "relative-import"
        allowed = RESTRICTED_MODULES.get(node.module or "")
        if allowed is not None:  # `from os.path import join`: only the listed names
            return None if all(a.name in allowed for a in node.names) else "impure-import"
        return module_verdict(node.module or "")
    for alias in node.names:
        reason = module_verdict(alias.name)
        if reason:
            return reason
    return None


def restricted_verdict(pieces: list[ast.AST]) -> str | None:
    """ "impure-import" when the code uses a restricted module (os, sys, posixpath...) for anything but
    its listed attributes (`os.path.join(...)` is fine, `os.environ` or passing `os` along is not)."""
    aliases: dict[str, str] = {}
    for piece in pieces:
        for node in ast.walk(piece):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in RESTRICTED_MODULES or a.name.split(".")[0] in RESTRICTED_MODULES:
                        aliases[a.asname or a.name.split(".")[0]] = (
                            a.name if a.asname else a.name.split(".")[0]
                        )
            elif isinstance(node, ast.ImportFrom):  # `from os import path`: a module, held to its list
                for a in node.names:
                    if f"{node.module}.{a.name}" in RESTRICTED_MODULES:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    if not aliases:
        return None
    for piece in pieces:
        parents = {id(c): n for n in ast.walk(piece) for c in ast.iter_child_nodes(n)}
        for node in ast.walk(piece):
            if not (isinstance(node, ast.Name) and node.id in aliases):
                continue
            module, at = aliases[node.id], node
            while True:
                parent = parents.get(id(at))
                if not (
                    isinstance(parent, ast.Attribute)
                    and parent.value is at
                    and isinstance(parent.ctx, ast.Load)
                ):
                    return "impure-import"
                if parent.attr not in RESTRICTED_MODULES[module]:
                    return "impure-import"
                nested = f"{module}.{parent.attr}"
                if nested not in RESTRICTED_MODULES:
                    break
                module, at = nested, parent
    return None


def body_verdict(func: ast.FunctionDef) -> str | None:
    """Checks every carried function must pass: no banned names, I/O methods, globals or bad imports."""
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and node.id in BANNED_NAMES:
            return "io-or-nondeterminism"
        if isinstance(node, ast.Attribute) and node.attr in IO_METHODS:
            return "io-or-nondeterminism"
        if isinstance(node, ast.Global | ast.Nonlocal):
            return "mutates-global"
        if isinstance(node, ast.Import | ast.ImportFrom):
            reason = import_verdict(node)
            if reason:
                return reason
        if isinstance(node, ast.Yield | ast.YieldFrom | ast.Await):
            return "generator"
    return None


def _returns_value(func: ast.FunctionDef) -> bool:
    for node in ast.walk(func):
        if isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):
                return True
    return False


def entry_verdict(func: ast.AST, require_docstring: bool, max_lines: int) -> str | None:
    """Checks on the function that becomes the problem (on top of body_verdict)."""
    if isinstance(func, ast.AsyncFunctionDef):
        return "async"
    assert isinstance(func, ast.FunctionDef)
    if func.decorator_list:
        return "decorated"
    if func.name.startswith("__") and func.name.endswith("__"):
        return "dunder"
    a = func.args
    if not (a.posonlyargs or a.args or a.kwonlyargs):
        return "no-arguments"
    if require_docstring and not ast.get_docstring(func):
        return "no-docstring"
    if (func.end_lineno or func.lineno) - func.lineno + 1 > max_lines:
        return "too-long"
    reason = body_verdict(func)
    if reason:
        return reason
    if not _returns_value(func):
        return "no-return-value"
    return None


def free_names(func: ast.FunctionDef) -> set[str]:
    """Names the function reads but does not bind itself and that are not builtins."""
    bound = {a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)}
    loaded = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node is not func:
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    # A recursive call reads the function's own name: it comes along with the function itself.
    return loaded - bound - BUILTIN_NAMES - {func.name}
