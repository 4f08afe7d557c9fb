"""A small client of `unitrl serve`'s native `/grade` endpoint, sync and async (httpx).

    from unitrl.sandbox.remote import ServeClient
    client = ServeClient("http://127.0.0.1:8000", token=os.environ.get("UNITRL_TOKEN"))
    results = client.grade(samples, problems)          # list[Result], in sample order
    results = await client.agrade(samples, problems)   # the same from a coroutine

Samples and problems are records or their dicts. A 503 (queue full, or a sandbox failure) is retried
after the server's Retry-After, up to `retries` times within the overall `timeout`; any other error
raises `ServeError` with the server's message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from unitrl.records import Result, record_from_dict, to_dict


class ServeError(Exception):
    """The server answered with an error (status and message)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"unitrl serve answered {status}: {message}")
        self.status = status


def _rows(records: Sequence[Any] | None) -> list[dict]:
    return [to_dict(r) if dataclasses.is_dataclass(r) else dict(r) for r in records or []]


class ServeClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 180.0, retries: int = 5):
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout, self.retries = timeout, retries

    def body(self, samples: Sequence[Any], problems: Sequence[Any] | None, timeout: float | None) -> dict:
        # the server gives up a little before we do, so a slow batch is a clear 504, not a read timeout
        body: dict[str, Any] = {"samples": _rows(samples), "deadline": max(1.0, self.timeout - 5)}
        if problems:
            body["problems"] = _rows(problems)
        if timeout is not None:
            body["timeout"] = timeout
        return body

    def grade(
        self, samples: Sequence[Any], problems: Sequence[Any] | None = None, timeout: float | None = None
    ) -> list[Result]:
        import httpx

        body, end = self.body(samples, problems, timeout), time.monotonic() + self.timeout
        with httpx.Client(headers=self.headers, timeout=self.timeout) as http:
            for attempt in range(self.retries + 1):
                response = http.post(f"{self.url}/grade", json=body)
                wait = self._retry_wait(response, attempt, end)
                if wait is None:
                    return self._results(response)
                time.sleep(wait)
        raise AssertionError("unreachable")

    async def agrade(
        self, samples: Sequence[Any], problems: Sequence[Any] | None = None, timeout: float | None = None
    ) -> list[Result]:
        import httpx

        body, end = self.body(samples, problems, timeout), time.monotonic() + self.timeout
        async with httpx.AsyncClient(headers=self.headers, timeout=self.timeout) as http:
            for attempt in range(self.retries + 1):
                response = await http.post(f"{self.url}/grade", json=body)
                wait = self._retry_wait(response, attempt, end)
                if wait is None:
                    return self._results(response)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _retry_wait(self, response: Any, attempt: int, end: float) -> float | None:
        """Seconds to wait before retrying a 503, None when the answer is final; raises when out of tries."""
        if response.status_code != 503:
            return None
        retry_after = response.headers.get("retry-after", "1")
        wait = float(retry_after) if retry_after.isdigit() else 1.0
        if attempt >= self.retries or time.monotonic() + wait > end:
            raise ServeError(503, _message(response))
        return wait

    @staticmethod
    def _results(response: Any) -> list[Result]:
        if response.status_code != 200:
            raise ServeError(response.status_code, _message(response))
        return [
            record_from_dict(Result, row, path="unitrl serve answer") for row in response.json()["results"]
        ]


def _message(response: Any) -> str:
    try:
        return str(response.json().get("error", response.text))[:500]
    except ValueError:
        return response.text[:500]
