"""What OpenRLHF's remote-reward clients send and how they retry, rebuilt with the same libraries.

Followed versions (read from OpenRLHF's sources):
- 0.11.2, `openrlhf/utils/agent.py`, `SingleTurnAgentExecutor._fetch_rewards_via_http`: one sample per
  request; aiohttp, a fresh `ClientSession(timeout=ClientTimeout(total=180))` per try, `session.post(url,
  json=payload)` with payload keys in the order query, prompts, labels; `raise_for_status()`; up to 5
  tries with `asyncio.sleep(1)` after each failure; the answer is the whole JSON object.
- 0.9.1, `openrlhf/utils/remote_rm_utils.py`, `request_api_wrapper`: a whole batch per request;
  `requests.post(url=url, json=data, headers={"Content-Type": "application/json"}, timeout=180)`,
  `raise_for_status()`, up to 5 tries with `time.sleep(1)`.
`test_openrlhf.py` checks, when OpenRLHF 0.11.2 is installed beside the tests, that the first sends the
very bytes OpenRLHF's own function sends.
"""

from __future__ import annotations

import asyncio
import time


async def post_v0_11(
    url: str, queries: list, prompts: list, labels: list, attempts: list | None = None
) -> dict:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=180)
    payload = {"query": queries, "prompts": prompts, "labels": labels}
    for _ in range(5):
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(url, json=payload) as response:
                    if attempts is not None:
                        attempts.append(response.status)
                    response.raise_for_status()
                    return await response.json()
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1)
    raise RuntimeError("Request error for 5 times")


def post_v0_9(url: str, queries: list, prompts: list, labels: list) -> dict:
    import requests

    data = {"query": queries, "prompts": prompts, "labels": labels}
    for _ in range(5):
        try:
            response = requests.post(
                url=url, json=data, headers={"Content-Type": "application/json"}, timeout=180
            )
            response.raise_for_status()
            return response.json()
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError("Request error for 5 times")
