"""A dead LLM endpoint stops synth and sample with one clear error, non-zero exit and no output file."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from openai_server import OpenAIServer, Reply, by_substring

from unitrl.errors import UserError
from unitrl.models.endpoint import ChatEndpoint
from unitrl.records import Problem, write_records

ADD = "def add_one(x: int) -> int:\n    return x + 1\n"


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "stage",
    [
        ["synth", "--engine", "llm", "--model", "m", "--decontam", "off"],
        ["synth", "--engine", "llm-inputs", "--model", "m", "--decontam", "off"],
        ["sample", "--backend", "openai", "--model", "m", "-n", "2"],
    ],
)
def test_unreachable_endpoint_is_one_error_and_no_output(tmp_path, stage):
    write_records(
        tmp_path / "p.jsonl", [Problem(f"a{i}", "Add one.", "add_one", reference=ADD) for i in range(3)]
    )
    url = f"http://127.0.0.1:{closed_port()}/v1"
    out = tmp_path / "out.jsonl"
    args = [*stage, "--problems", str(tmp_path / "p.jsonl"), "--out", str(out), "--base-url", url]
    proc = subprocess.run(
        [sys.executable, "-m", "unitrl", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: cannot reach the LLM endpoint at {url}: "), proc.stderr
    assert "Connection refused" in lines[-1] and "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "out.jsonl.summary.json").exists()


def test_endpoint_that_goes_away_mid_run_is_an_error_after_retries():
    with OpenAIServer(by_substring({"q": [Reply(content="ok")]})) as srv:
        ep = ChatEndpoint(srv.base_url, "scripted", max_retries=2, backoff_base=0.01)
        assert ep.complete_many([[{"role": "user", "content": "q"}]], errors="empty") == [["ok"]]
    # The server is gone now: retried (it answered before, so it may be restarting), then one error
    # instead of an empty answer for every remaining prompt.
    with pytest.raises(UserError, match="cannot reach the LLM endpoint"):
        ep.complete_many([[{"role": "user", "content": f"q{i}"}] for i in range(5)], errors="empty")
    assert ep.stats.retries >= 2
