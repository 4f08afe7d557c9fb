"""OpenRLHF's in-process reward path: pass this file's path to `--reward.remote_url` (0.11) or
`--remote_rm_url` (0.9), and OpenRLHF calls `reward_func(queries, prompts, labels)` from it.

    --reward.remote_url $(python -c "import unitrl.serve.reward_func as m; print(m.__file__)")

OpenRLHF loads the file by path (as a module named `reward_func`) and calls it from worker threads,
one sample per call in 0.11, so the calls feed one module-level grading service (a warm sandbox pool
behind a batching queue, `unitrl.serve.service`): concurrent calls are graded together, not one by
one. Settings come from environment variables, since OpenRLHF passes none:
- `UNITRL_URL`: grade on a running `unitrl serve` instead (its `/get_reward`; `UNITRL_TOKEN` if set);
- `UNITRL_PROBLEMS`: a problems file whose task_ids labels may name;
- `UNITRL_REWARD` (binary), `UNITRL_WORKERS` (0 = one per core), `UNITRL_TIMEOUT` (3.0 CPU s per test),
  `UNITRL_DEADLINE` (600 s a call may wait).
Labels and answers are as for the HTTP endpoint (`unitrl.serve.openrlhf`). A sandbox infrastructure
error raises instead of inventing a reward.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from unitrl.serve import native, openrlhf

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def _local() -> dict[str, Any]:
    """The module's grading service, started on first use (one per process)."""
    with _LOCK:
        if "service" not in _STATE:
            from unitrl.records import read_problems
            from unitrl.serve.service import service_from_env

            path = os.environ.get("UNITRL_PROBLEMS", "")
            terms = openrlhf.reward_terms(os.environ.get("UNITRL_REWARD", "binary"))
            problems = {p.task_id: p for p in read_problems(path)} if path else {}
            service, deadline = service_from_env()
            _STATE.update(terms=terms, problems=problems, deadline=deadline, service=service)
            atexit.register(_STATE["service"].close, 5.0)
        return _STATE


def _remote(url: str, body: dict) -> dict:
    import httpx

    token = os.environ.get("UNITRL_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{url.rstrip('/')}/get_reward", json=body, headers=headers, timeout=600)
    if response.status_code != 200:
        raise RuntimeError(f"unitrl serve answered {response.status_code}: {response.text[:300]}")
    return response.json()


def reward_func(queries: list[str], prompts: list[str], labels: list[Any], **kwargs: Any) -> dict:
    """`{"rewards": [...], "scores": [...], "extra_logs": {...}}` for OpenRLHF (lists of floats)."""
    body = {"query": list(queries), "prompts": list(prompts), "labels": list(labels)}
    url = os.environ.get("UNITRL_URL")
    if url:
        return _remote(url, body)
    state = _local()
    items = openrlhf.parse_reward_request(body, state["problems"])
    results = native.grade_items(state["service"], items, None, state["deadline"])
    return openrlhf.reward_answer(state["terms"], results)
