"""Checkpoints for exact resume: model, optimizer, scheduler, critic, RNG states, step, data cursor.

A checkpoint is a folder `checkpoints/step_N/` holding one `state.pt`. It is written into a temp folder and
renamed into place, so a run killed with -9 leaves either the previous checkpoint or the new one, never a
half-written one. Only the newest `keep` checkpoints are kept.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".step_{step}.", dir=root))
    with open(tmp / "state.pt", "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    final = root / f"step_{step}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(folder: str | Path) -> list[Path]:
    root = Path(folder)
    if not root.exists():
        return []
    done = [p for p in root.glob("step_*") if (p / "state.pt").exists()]
    return sorted(done, key=lambda p: int(p.name.split("_")[1]))


def load_latest(folder: str | Path) -> dict[str, Any] | None:
    found = list_checkpoints(folder)
    if not found:
        return None
    return torch.load(found[-1] / "state.pt", map_location="cpu", weights_only=False)
