"""A client for any OpenAI-compatible chat endpoint (OpenAI, vLLM, sglang, llama.cpp server).

Built on the real `openai` package. It adds what a data pipeline needs around it: a thread pool so many
requests are in flight at once, retries with exponential backoff on 429, 5xx, timeouts and dropped
connections (the client's own retries are turned off so every attempt is counted here), and a disk cache
keyed by (model, messages, sampling parameters) so a rerun of a stage sends nothing it already asked.
A bad key or an unknown model raises UserError at once, and so does an endpoint that cannot be reached:
at the first request (nothing answered yet: a wrong URL or a server that is not up) without retrying, and
later once the retries are spent (the server went away; going on would drop every remaining prompt).
Other failures are retried, then raised as EndpointError or (errors="empty") returned as an empty answer
and counted.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unitrl.errors import UserError
from unitrl.records import write_text_atomic


class EndpointError(Exception):
    """One request failed after all retries (only raised when complete_many(errors="raise"))."""


@dataclass
class EndpointStats:
    requests: int = 0  # HTTP requests sent, retries included
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0  # requests given up on after all retries
    prompt_tokens: int = 0
    completion_tokens: int = 0


def cache_key(model: str, messages: list[dict], params: dict[str, Any]) -> str:
    """A stable hash of everything that determines the answer."""
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError | openai.RateLimitError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409, 429)
    return False


def _unreachable(exc: Exception) -> bool:
    """No HTTP answer at all: refused, unknown host, reset (a timeout may be a busy server: retried)."""
    import openai

    return isinstance(exc, openai.APIConnectionError) and not isinstance(exc, openai.APITimeoutError)


def _cause(exc: BaseException) -> str:
    """The innermost cause's message ('[Errno 111] Connection refused'), not the client's generic one."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def _fatal(exc: Exception) -> bool:
    """Errors no retry or other prompt can fix: stop the whole run with a clear message."""
    import openai

    return isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError | openai.NotFoundError)


class ChatEndpoint:
    """Concurrent, retrying, caching chat completions against one model."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 60.0,
        cache_dir: str | os.PathLike | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
    ):
        import openai

        self.base_url, self.model = base_url, model
        self.concurrency, self.max_retries, self.timeout = max(1, concurrency), max_retries, timeout
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.cache_dir = Path(cache_dir) if cache_dir else None
        # Local servers (vLLM, llama.cpp) accept any key; the client insists on a non-empty one.
        api_key = os.environ.get(api_key_env) or "EMPTY"
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout)
        self.stats = EndpointStats()
        self._lock = threading.Lock()
        self._answered = False  # has any request got an HTTP answer (even an error status)?
        self._gone = ""  # why the endpoint was found unreachable: every other request stops too

    # ------------------------------------------------------------------------------------------ cache
    def _cache_path(self, key: str) -> Path | None:
        return self.cache_dir / key[:2] / f"{key}.json" if self.cache_dir else None

    def _cache_get(self, key: str) -> list[str] | None:
        path = self._cache_path(key)
        if path is None or not path.exists():
            return None
        try:
            return list(json.loads(path.read_text(encoding="utf-8"))["choices"])
        except (json.JSONDecodeError, KeyError, OSError):
            return None  # a damaged entry is simply asked again

    def _cache_put(self, key: str, choices: list[str]) -> None:
        path = self._cache_path(key)
        if path is not None:
            write_text_atomic(path, json.dumps({"model": self.model, "choices": choices}, ensure_ascii=False))

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, d in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + d)

    # ---------------------------------------------------------------------------------------- request
    def _request(self, messages: list[dict], params: dict[str, Any], n: int) -> list[str]:
        """One chat completion with retries; returns the text of each choice."""
        kwargs = {k: v for k, v in params.items() if v is not None}
        for attempt in range(self.max_retries + 1):
            if self._gone:
                raise UserError(self._gone)
            self._count(requests=1)
            try:
                resp = self._client.chat.completions.create(
                    model=self.model, messages=messages, n=n, **kwargs
                )
            except Exception as exc:  # openai raises its own hierarchy; classify below
                if _fatal(exc):
                    raise UserError(f"endpoint {self.base_url} refused model {self.model!r}: {exc}") from None
                if _unreachable(exc) and (not self._answered or attempt == self.max_retries):
                    self._gone = f"cannot reach the LLM endpoint at {self.base_url}: {_cause(exc)}"
                    raise UserError(self._gone) from None
                self._answered = self._answered or not _unreachable(exc)
                if not _retryable(exc) or attempt == self.max_retries:
                    raise EndpointError(f"{type(exc).__name__}: {exc}") from exc
                self._count(retries=1)
                time.sleep(self._backoff(attempt, exc))
                continue
            self._answered = True
            if resp.usage is not None:
                self._count(
                    prompt_tokens=resp.usage.prompt_tokens or 0,
                    completion_tokens=resp.usage.completion_tokens or 0,
                )
            return [(c.message.content or "") for c in resp.choices]
        raise EndpointError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, exc: Exception) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it is given."""
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                return min(float(retry_after), self.backoff_max)
            except ValueError:
                pass
        return random.uniform(0.5, 1.0) * min(self.backoff_max, self.backoff_base * 2**attempt)

    def _complete_one(self, messages: list[dict], params: dict[str, Any], n: int, errors: str) -> list[str]:
        key = cache_key(self.model, messages, dict(params, n=n))
        cached = self._cache_get(key)
        if cached is not None:
            self._count(cache_hits=1)
            return cached
        choices: list[str] = []
        try:
            # Some servers (llama.cpp) ignore `n`: ask again for what is missing.
            while len(choices) < n:
                got = self._request(messages, params, n - len(choices))
                if not got:
                    break
                choices.extend(got)
        except EndpointError:
            self._count(failures=1)
            if errors == "raise":
                raise
            return []
        self._cache_put(key, choices[:n])
        return choices[:n]

    def complete_many(
        self,
        message_lists: list[list[dict]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 1024,
        n: int = 1,
        top_p: float = 1.0,
        seed: int | None = None,
        errors: str = "raise",
    ) -> list[list[str]]:
        """The `n` completions of each conversation, in input order.

        errors="raise" stops at the first request that fails after all retries; errors="empty" returns
        an empty list for it instead (counted in `stats.failures`), which long synthesis runs prefer.
        """
        params = {"temperature": temperature, "max_tokens": max_tokens, "top_p": top_p, "seed": seed}
        if not message_lists:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(message_lists))) as pool:
            futures = [pool.submit(self._complete_one, m, params, n, errors) for m in message_lists]
            try:
                return [f.result() for f in futures]
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)  # queued prompts are not sent at all
                raise
