"""A small scripted OpenAI-chat-compatible HTTP server on 127.0.0.1, for tests of the LLM engines.

It speaks just enough of `POST /v1/chat/completions` for the real `openai` client. A `responder`
decides each answer from the request body and how many times the same conversation was asked before
(so "500 then success" is easy to script); replies can be malformed JSON, truncated, error statuses
with or without Retry-After, or slow (to trigger client timeouts). Every request is counted.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: `content` (a list gives one choice each), or an error `status`."""

    content: str | list[str] = ""
    status: int = 200
    delay: float = 0.0
    finish_reason: str = "stop"
    retry_after: float | None = None


def last_user_text(body: dict) -> str:
    msgs = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return msgs[-1]["content"] if msgs else ""


Responder = Callable[[dict, int], Reply]


@dataclass
class OpenAIServer:
    """Start with `with OpenAIServer(responder) as srv:`; `srv.base_url` goes to the client."""

    responder: Responder
    requests: list[dict] = field(default_factory=list)
    attempts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                key = json.dumps(body.get("messages"), sort_keys=True)
                with server._lock:
                    server.requests.append(body)
                    nth = server.attempts[key]
                    server.attempts[key] += 1
                reply = server.responder(body, nth)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self._send(body, reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout) while we slept

            def _send(self, body: dict, reply: Reply) -> None:
                if reply.status != 200:
                    payload = {"error": {"message": f"scripted {reply.status}", "type": "server_error"}}
                    data = json.dumps(payload).encode()
                    self.send_response(reply.status)
                    if reply.retry_after is not None:
                        self.send_header("retry-after", str(reply.retry_after))
                else:
                    contents = reply.content if isinstance(reply.content, list) else [reply.content]
                    contents = contents[: body.get("n") or 1]
                    data = json.dumps(_completion(body, contents, reply.finish_reason)).encode()
                    self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def n_requests(self) -> int:
        return len(self.requests)


def _completion(body: dict, contents: list[str], finish_reason: str) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": c}, "finish_reason": finish_reason}
            for i, c in enumerate(contents)
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }


def by_substring(script: dict[str, list[Reply]], default: Reply | None = None) -> Responder:
    """A responder: the first key found in the last user message picks a list of replies; the
    n-th attempt of one conversation gets the n-th reply (the last one repeats)."""

    def respond(body: dict, nth: int) -> Reply:
        text = last_user_text(body)
        for key, replies in script.items():
            if key in text:
                return replies[min(nth, len(replies) - 1)]
        return default or Reply(status=400)

    return respond
