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
