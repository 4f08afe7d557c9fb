"""Static checks, extraction with carried names, dedup and corpus reading (no execution)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from unitrl.mine.corpus import SourceFile, clean_snippet, iter_sources
from unitrl.mine.dedup import dedup, normalized_key
from unitrl.mine.extract import extract_problems

MODULE = '''
import math
import os
from collections import Counter

LIMIT = 10
_TABLE = {"a": 1}

class Thing:
    pass

def helper(x):
    """Square it."""
    return x * x

def uses_helper(n):
    """Sum of squares up to LIMIT."""
    return sum(helper(i) for i in range(min(n, LIMIT)))

def uses_table(key):
    """Look up."""
    return _TABLE.get(key, math.floor(0.5))

def uses_os(path):
    """Impure."""
    return os.path.exists(path)

def prints(x):
    """Prints."""
    print(x)
    return x

def no_args():
    """Nothing to pass."""
    return 1

def no_return(x):
    """Returns nothing."""
    x.append(1)

def gen(x):
    """A generator."""
    yield x

def uses_class(x):
    """Needs a class."""
    return Thing()

def undefined(x):
    """Reads a name that is not defined."""
    return x + MISSING

def counts(words):
    """Most common word."""
    return Counter(words).most_common(1)[0][0]

def hashes(x):
    """hash() differs between interpreters."""
    return hash(x)

def no_doc(x):
    return x
'''


def _extract(text: str = MODULE, **kw):
    return extract_problems(SourceFile("mod", "mod.py", text), **kw)


def test_keeps_self_contained_functions_with_what_they_need():
    ex = _extract()
    by_name = {p.entry_point: p for p in ex.problems}
    assert set(by_name) == {"helper", "uses_helper", "uses_table", "counts"}
    ref = by_name["uses_helper"].reference
    assert (
        "LIMIT = 10" in ref
        and "def helper(x):" in ref
        and ref.index("def helper") < ref.index("def uses_helper")
    )
    assert "import math" in by_name["uses_table"].reference and "_TABLE = " in by_name["uses_table"].reference
    assert "from collections import Counter" in by_name["counts"].prompt
    assert by_name["uses_helper"].prompt.strip().endswith('"""Sum of squares up to LIMIT."""')
    assert "return" not in by_name["uses_helper"].prompt
    assert by_name["helper"].source.startswith("mod.py:")
    assert by_name["helper"].task_id.startswith("mine/mod.helper/")


def test_drop_reasons_are_counted():
    ex = _extract()
    assert ex.dropped == {
        "impure-import": 1,
        "io-or-nondeterminism": 2,
        "no-arguments": 1,
        "no-return-value": 1,
        "generator": 1,
        "uses-class": 1,
        "unresolved-name": 1,
        "no-docstring": 1,
    }
    assert "no_doc" in {p.entry_point for p in _extract(require_docstring=False).problems}


def test_extraction_is_the_same_in_every_process():
    """Ids, order and prompts must not depend on the interpreter's hash seed (a set or `hash()` behind
    them would change them from run to run, which one process alone cannot show)."""
    code = (
        "import json, sys\n"
        "from unitrl.mine.corpus import SourceFile\n"
        "from unitrl.mine.extract import extract_problems\n"
        "found = extract_problems(SourceFile('mod', 'mod.py', sys.stdin.read())).problems\n"
        "print(json.dumps([[p.task_id, p.entry_point, p.prompt, p.reference] for p in found]))\n"
    )
    outs = [
        subprocess.run([sys.executable, "-c", code], input=MODULE, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2", "3")
    ]  # fmt: skip
    here = [[p.task_id, p.entry_point, p.prompt, p.reference] for p in _extract().problems]
    assert json.loads(outs[0]) == json.loads(outs[1]) == json.loads(outs[2]) == here and len(here) > 3


def test_dedup_by_normalized_ast():
    a = "def f(xs):\n    '''Doc A.'''\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
    b = "def g(items):\n    '''Other doc.'''\n    acc = 0\n    for it in items:\n        acc += it\n    return acc\n"
    c = a.replace("total += x", "total -= x")
    assert normalized_key(a, "f") == normalized_key(b, "g") != normalized_key(c, "f")
    problems = []
    for text in (a, b, c):
        problems += _extract(text).problems
    kept, n = dedup(problems)
    assert n == 1 and len(kept) == 2


def test_snippet_files_strip_fences_and_print_lines(tmp_path):
    rows = [
        {
            "response": "Here:\n```python\ndef f(x):\n    '''Double.'''\n    print(x)\n    return 2 * x\n```\nDone."
        },
        {"content": "def g(s):\n    '''Upper.'''\n    return s.upper()\nprint(g('a'))\n"},
    ]
    path = tmp_path / "snips.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sources = list(iter_sources([str(path)]))
    assert [s.origin for s in sources] == [f"{path}:1", f"{path}:2"]
    assert (
        "print" not in sources[0].text and "return 2 * x" in sources[0].text and "Here" not in sources[0].text
    )
    assert clean_snippet("x = 1\n  print('a')\ny = 2\n") == "x = 1\n\ny = 2\n"
    names = [p.entry_point for s in sources for p in extract_problems(s).problems]
    assert names == ["f", "g"]


def test_default_corpus_is_the_stdlib():
    first = next(iter_sources([]))
    assert "python3" in first.origin and first.origin.endswith(".py")


EXC_MODULE = '''
class Error(ValueError):
    """Bad input."""

class TooBig(Error):
    limit = 10

class Thing:
    pass

class NotAnError(Thing):
    pass

class Smart(Exception):
    def __str__(self):
        return "smart"

def check(n):
    """n, unless it is over the limit."""
    if n > TooBig.limit:
        raise TooBig(n)
    return n

def wraps(n):
    """Uses a class that is not an exception."""
    if n < 0:
        raise NotAnError()
    return n

def clever(n):
    """Raises an exception class with a method."""
    if n < 0:
        raise Smart()
    return n
'''


def test_module_exception_classes_travel_with_the_function():
    ex = _extract(EXC_MODULE)
    [p] = ex.problems
    assert (
        p.entry_point == "check"
        and "class Error(ValueError)" in p.reference
        and "class TooBig(Error)" in p.reference
    )
    namespace: dict = {}
    exec(p.reference, namespace)  # the carried classes make the reference runnable on its own
    assert namespace["check"](3) == 3
    assert ex.dropped.get("uses-class") == 2  # a plain class's subclass, an exception with a method


TABLES_MODULE = '''
import re
import sys
_MAP = ['=%02X' % c for c in range(256)]
_HEADER = _MAP[:]
for c in b'-!*':
    _HEADER[c] = chr(c)
_HEADER[32] = '_'
_BODY = _MAP[:]
_BODY[32] = ' '
seps = ['/', '\\\\']
seps = ''.join(seps)
_EXTRA = {}
_EXTRA.update(a=1)
_FILLED = {}
def _fill(t):
    t['k'] = 2
_fill(_FILLED)
sys.modules['x'] = re
if len(seps) > 1:
    WIDE = 1

def header(s):
    """Quote a header."""
    return ''.join(_HEADER[b] for b in s)

def body(s):
    """Quote a body."""
    return ''.join(_BODY[b] for b in s)

def split_at(p):
    """Last separator."""
    return max(p.rfind(x) for x in seps)

def extra(k):
    """Look k up."""
    return _EXTRA.get(k, 0)

def wide(k):
    """Offset."""
    return WIDE + k

def filled(k):
    """Filled in by a helper."""
    return _FILLED.get(k)

def frame(d):
    """Caller's module."""
    return sys._getframe(d).f_globals.get('__name__')
'''


def test_tables_changed_after_binding_travel_with_their_changes():
    """A table filled in by later module-level statements (assignments, method calls, a plain `for`
    loop) is carried with them, or the function is not carried at all: a reference with only the first
    binding would disagree with the module (and its own docstring)."""
    ex = _extract(TABLES_MODULE)
    kept = {p.entry_point: p for p in ex.problems}
    assert set(kept) == {"header", "body", "split_at", "extra", "filled"}
    for name, call, want in [("header", "header(b'-a ')", "-=61_"), ("body", "body(b' a')", " =61"),
                             ("split_at", "split_at('a/b')", 1), ("extra", "extra('a')", 1),
                             ("filled", "filled('k')", 2)]:  # fmt: skip
        namespace: dict = {}
        exec(kept[name].reference, namespace)
        assert eval(call, namespace) == want
    # wide: bound under `if`; frame: `sys` changed at module level
    assert ex.dropped.get("bound-under-control-flow") == 2
    assert "_getframe" not in "".join(p.reference for p in ex.problems)


PATHS_MODULE = '''
import os
import sys
import posixpath

def _sep(p):
    return b'/' if isinstance(p, bytes) else '/'

def tail(p):
    """Last component."""
    p = os.fspath(p)
    return p[p.rfind(_sep(p)) + 1:]

def joined(a, b):
    """Join two parts."""
    return os.path.join(a, b) + os.sep

def pp(a):
    """Normalized."""
    return posixpath.normpath(a)

def home(p):
    """Under the home folder."""
    return os.path.join(os.environ.get('HOME', ''), p)

def real(p):
    """Resolved."""
    return os.path.realpath(p)

def biggest(n):
    """Clamp to the largest index."""
    return min(n, sys.maxsize)

def args(n):
    """Command-line argument."""
    return sys.argv[n]

def resolved(p):
    """Real path, through an imported submodule."""
    from os import path as P
    return P.realpath(p)

def split_from(p):
    """Split, through an imported submodule."""
    from os import path
    return path.split(p)[1]

def passes_along(n):
    """Hands the module on."""
    return _use(os, n)

def _use(m, n):
    return n
'''


def test_os_and_sys_only_for_their_pure_attributes():
    """os, sys and the path modules are process state as a whole; a function that uses only their
    string functions and constants (os.fspath, os.path.join, os.sep, sys.maxsize) is still a problem."""
    ex = _extract(PATHS_MODULE)
    assert {p.entry_point for p in ex.problems} == {"tail", "joined", "pp", "biggest", "split_from"}
    assert ex.dropped.get("impure-import") == 5  # environ, realpath twice, argv, passing `os` along
