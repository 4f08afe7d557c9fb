"""Reading /proc for tests that check which processes a run leaves behind (imported as `procs`)."""

from __future__ import annotations

import os
from pathlib import Path


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, session, ...), or None
    when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def processes() -> dict[int, list[str]]:
    """Every process now: pid -> its stat fields (see stat_fields)."""
    out = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        fields = stat_fields(entry)
        if fields is not None:
            out[int(entry)] = fields
    return out


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    return [p for p, fields in processes().items() if int(fields[1]) == pid]
