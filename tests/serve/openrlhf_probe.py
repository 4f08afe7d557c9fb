"""Run in a subprocess with OpenRLHF 0.11.2 importable: OpenRLHF's own reward client code against unitrl.

    python openrlhf_probe.py SERVE_URL TOKENIZER_DIR  ->  one JSON object on stdout

1. `bytes`: the raw HTTP request OpenRLHF's `_fetch_rewards_via_http` sends and the one the replica in
   `openrlhf_clients.py` sends, both captured by a socket server here.
2. `http`: OpenRLHF's `SingleTurnAgentExecutor.execute` (a stub engine stands in for vLLM and returns
   fixed token ids; the tokenizer is a real one) scored by a running `unitrl serve`.
3. `func`: the same with `unitrl/serve/reward_func.py` loaded by OpenRLHF's own file loader.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).parent))

ANSWER = b'{"rewards": [1.0], "scores": [1.0], "extra_logs": {}}'


def capture_server() -> tuple[str, list[bytes]]:
    """A socket server that records each request's bytes and answers a fixed 200."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    seen: list[bytes] = []

    def serve() -> None:
        while True:
            conn, _ = sock.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
            )
            while len(body) < length:
                body += conn.recv(65536)
            seen.append(head + b"\r\n\r\n" + body)
            reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(
                ANSWER
            )
            conn.sendall(reply + b"Connection: close\r\n\r\n" + ANSWER)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}/get_reward", seen


class StubEngine:
    """Stands in for vLLM: 'generates' the token ids of a fixed response, then <|im_end|>."""

    def __init__(self, tokenizer, response: str):
        ids = tokenizer(text=response, add_special_tokens=False)["input_ids"]
        self.ids = ids + [tokenizer.convert_tokens_to_ids("<|im_end|>")]
        self.text = tokenizer.decode(self.ids, skip_special_tokens=False)

    async def generate(self, prompt_ids, sampling_params, multi_modal_data=None):
        out = SimpleNamespace(token_ids=self.ids, text=self.text, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])


CASES = [  # (response, label)
    (
        "```python\ndef f(x):\n    return 2 * x\n```",
        json.dumps({"tests": ["assert f(1) == 2", "assert f(3) == 6"]}),
    ),
    (
        "```python\ndef f(x):\n    return x + 1\n```",
        json.dumps({"tests": ["assert f(1) == 2", "assert f(3) == 6"]}),
    ),
    ("def f(x) return", json.dumps(["assert f(1) == 2"])),
]


async def main(serve_url: str, tokenizer_dir: str) -> dict:
    import torch
    from openrlhf.utils.agent import SingleTurnAgentExecutor
    from openrlhf_clients import post_v0_11
    from transformers import AutoTokenizer

    out: dict = {}
    url, seen = capture_server()
    queries, prompts, labels = ["q <|im_end|>"], ["q "], [json.dumps({"tests": ["assert True"]})]
    await SingleTurnAgentExecutor(url)._fetch_rewards_via_http(queries, prompts, labels)
    await post_v0_11(url, queries, prompts, labels)
    out["bytes"] = [b.decode("utf-8", "replace") for b in seen]

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Write f(x) returning 2 * x."}],
        tokenize=False,
        add_generation_prompt=True,
    )
    params = SimpleNamespace(max_tokens=256, logprobs=None)
    reward_file = str(Path(__file__).resolve().parents[2] / "src" / "unitrl" / "serve" / "reward_func.py")
    for name, endpoint in (("http", f"{serve_url}/get_reward"), ("func", reward_file)):
        executor = SingleTurnAgentExecutor(endpoint)
        rows = []
        for response, label in CASES:
            got = await executor.execute(prompt, label, params, 2048, tok, StubEngine(tok, response))
            # what OpenRLHF's samples generator does with the answer next
            rows.append({"reward": torch.tensor([got["reward"]]).flatten().tolist(), "scores": got["scores"],
                         "extra_logs": got["extra_logs"]})  # fmt: skip
        out[name] = rows
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
