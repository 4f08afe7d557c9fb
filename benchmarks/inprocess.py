"""The in-process runner shared by exec_throughput.py's in-process loop and its fork-per-program floor.

Standard library only, so the floor's lean workers can import it without growing.
"""

from __future__ import annotations

import contextlib
import io


def exec_one(item: tuple[str, str]) -> bool:
    """exec a program followed by its check call; True when nothing raised."""
    program, call = item
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(program + "\n" + call, {"__name__": "__bench__"})
        return True
    except BaseException:  # noqa: BLE001 - any exception is a failed check
        return False


def exec_tests(item: tuple[str, list[str]]) -> bool:
    """exec a program, then each of its assert tests on its own; True when every test passed."""
    program, tests = item
    ok = True
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        namespace = {"__name__": "__bench__"}
        try:
            exec(program, namespace)
        except BaseException:  # noqa: BLE001
            return False
        for test in tests:
            try:
                exec(test, namespace)
            except BaseException:  # noqa: BLE001 - a failed or crashing test
                ok = False
    return ok
