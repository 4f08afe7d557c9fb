"""Policy backends: one small Protocol, three ways to turn prompts into sampled texts.

- `hf`: transformers `generate`, batched with left padding, on CUDA when present and the CPU otherwise.
  Runs anywhere the package installs; the tiny local model exercises exactly this path in tests.
- `vllm`: vLLM's offline engine for GPU machines. Imported only when chosen (the `[vllm]` extra).
- `openai`: any OpenAI-compatible chat endpoint through `unitrl.models.endpoint.ChatEndpoint` (retries,
  concurrency, a disk cache). Chat only, so completion-style prompts are sent as one user message.

`--model` is a hub id or a local folder for `hf` and `vllm`, and the served model name for `openai`.
Every backend counts the tokens it generated (`generated_tokens`) so the sample stage reports tokens/s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from unitrl.errors import UserError

Prompt = str | list[dict]


class PolicyBackend(Protocol):
    name: str
    has_chat_template: bool
    generated_tokens: int

    def generate(
        self,
        prompts: list[Prompt],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[list[str]]:
        """`n` texts per prompt, in input order. A string prompt is continued as is; a list of
        messages goes through the model's chat template with the generation prompt added."""
        ...


def pick_device(device: str) -> str:
    """The one device rule of every stage that loads a model: `auto` means CUDA when torch sees a GPU,
    else the CPU; asking for CUDA where there is none is a one-line error, not a crash later."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available", field="device")
    return device


def load_tokenizer(model: str, padding_side: str = "left"):
    """A tokenizer by hub id or path, with a pad token (falling back to eos), or a one-line UserError."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model, padding_side=padding_side)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load a tokenizer for model {model!r}: {str(exc).splitlines()[0]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


class HFBackend:
    """transformers `generate`, `batch_size` sequences at a time, prompts left-padded."""

    name = "hf"

    def __init__(self, model: str, device: str = "auto", batch_size: int = 16):
        import torch
        from transformers import AutoModelForCausalLM

        self.device = pick_device(device)
        self.batch_size = max(1, batch_size)
        self.tokenizer = load_tokenizer(model)
        dtype = (
            torch.bfloat16
            if self.device.startswith("cuda") and torch.cuda.is_bf16_supported()
            else torch.float32
        )
        try:
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from None
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.generated_tokens = 0

    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def _generate_batch(
        self, texts: list[str], do_sample: bool, temperature: float, top_p: float, max_new_tokens: int
    ):
        import torch

        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        # top_k=0: plain temperature/top-p sampling as in vLLM and ACECODER (transformers defaults to top_k=50).
        sampling = dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        kwargs = sampling if do_sample else dict(do_sample=False)
        with torch.no_grad():
            out = self.model.generate(
                **enc, max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **kwargs
            )
        new = out[:, enc["input_ids"].shape[1] :]  # (B, T_new); rows that stopped early are padded
        self.generated_tokens += int((new != self.tokenizer.pad_token_id).sum())
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)

    def generate(
        self, prompts: list[Prompt], n: int, temperature: float, top_p: float, max_new_tokens: int, seed: int
    ) -> list[list[str]]:
        import torch

        torch.manual_seed(seed)
        greedy = temperature <= 0
        copies = 1 if greedy else n  # greedy decoding gives the same text every time
        rows = [self.render(p) for p in prompts for _ in range(copies)]
        texts: list[str] = []
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            texts += self._generate_batch(chunk, not greedy, temperature, top_p, max_new_tokens)
        grouped = [texts[i * copies : (i + 1) * copies] for i in range(len(prompts))]
        return [g * n if greedy else g for g in grouped]


class VLLMBackend:
    """vLLM's offline `LLM`; chat prompts are rendered with the model's own template first."""

    name = "vllm"

    def __init__(self, model: str, tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9):
        try:
            import vllm
        except ImportError:
            raise UserError(
                "the vllm backend needs vLLM: pip install 'unitrl[vllm]' (GPU machines)"
            ) from None
        self._vllm = vllm
        self.llm = vllm.LLM(
            model=model,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.generated_tokens = 0

    def generate(
        self, prompts: list[Prompt], n: int, temperature: float, top_p: float, max_new_tokens: int, seed: int
    ) -> list[list[str]]:
        texts = [
            p
            if isinstance(p, str)
            else self.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in prompts
        ]
        params = self._vllm.SamplingParams(
            n=n, temperature=max(temperature, 0.0), top_p=top_p, max_tokens=max_new_tokens, seed=seed
        )
        outputs = self.llm.generate(texts, params, use_tqdm=False)
        self.generated_tokens += sum(len(c.token_ids) for o in outputs for c in o.outputs)
        return [[c.text for c in o.outputs] for o in outputs]


class OpenAIBackend:
    """An OpenAI-compatible chat endpoint (vLLM/sglang servers, hosted APIs)."""

    name = "openai"
    has_chat_template = True  # the server applies its own template

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        cache_dir: str | Path | None = None,
    ):
        from unitrl.models.endpoint import ChatEndpoint

        if not base_url:
            raise UserError(
                "the openai backend needs --base-url (e.g. http://127.0.0.1:8000/v1)", field="base_url"
            )
        self.endpoint = ChatEndpoint(
            base_url, model, api_key_env=api_key_env, concurrency=concurrency, cache_dir=cache_dir
        )

    @property
    def generated_tokens(self) -> int:
        return self.endpoint.stats.completion_tokens

    def generate(
        self, prompts: list[Prompt], n: int, temperature: float, top_p: float, max_new_tokens: int, seed: int
    ) -> list[list[str]]:
        messages = [[{"role": "user", "content": p}] if isinstance(p, str) else p for p in prompts]
        return self.endpoint.complete_many(
            messages, temperature=temperature, max_tokens=max_new_tokens, n=n, top_p=top_p, seed=seed
        )


BACKENDS = {"hf": HFBackend, "vllm": VLLMBackend, "openai": OpenAIBackend}


def make_backend(
    name: str,
    model: str,
    *,
    device: str = "auto",
    batch_size: int = 16,
    base_url: str = "",
    api_key_env: str = "OPENAI_API_KEY",
    concurrency: int = 8,
    cache_dir: str | None = None,
    tensor_parallel_size: int = 1,
) -> PolicyBackend:
    """The named backend with the arguments that apply to it."""
    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})", field="backend")
    if not model:
        raise UserError("missing --model (a hub id or a local folder)", field="model")
    if name == "hf":
        return HFBackend(model, device=device, batch_size=batch_size)
    if name == "vllm":
        return VLLMBackend(model, tensor_parallel_size=tensor_parallel_size)
    return OpenAIBackend(
        model, base_url, api_key_env=api_key_env, concurrency=concurrency, cache_dir=cache_dir
    )
