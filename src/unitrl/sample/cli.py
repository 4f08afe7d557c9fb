"""`unitrl sample`: sample programs for every problem from a policy (hf, vllm or an OpenAI endpoint).

ACECODER samples 16 programs per question at temperature 0.7, top_p 1.0 (REFERENCE section 1). The
prompt is the model's chat template with ACECODER's wrapper when it has one, else the problem's prompt
continued as is (unitrl.models.prompts). Output: records.Sample rows, written as they finish so a rerun
skips what is done. Heavy imports stay inside the run function.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from unitrl.config import config_command
from unitrl.errors import UserError


@dataclass
class SampleConfig:
    problems: str = field(default="", metadata={"help": "Problems file (JSONL)."})
    model: str = field(
        default="", metadata={"help": "Hub id or local folder (served model name for openai)."}
    )
    out: str = field(default="", metadata={"help": "Samples file to write (JSONL)."})
    backend: str = field(default="hf", metadata={"help": "hf, vllm or openai."})
    n: int = field(default=16, metadata={"help": "Samples per problem.", "short": "-n"})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling top-p."})
    max_new_tokens: int = field(default=512, metadata={"help": "Tokens generated per sample at most."})
    greedy: bool = field(default=False, metadata={"help": "Also write one greedy sample per problem."})
    prompt_format: str = field(default="auto", metadata={"help": "auto, chat or completion."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    device: str = field(default="auto", metadata={"help": "hf backend: auto, cpu, cuda, cuda:1, ..."})
    batch_size: int = field(default=16, metadata={"help": "hf backend: sequences per generate call."})
    prompts_per_call: int = field(default=0, metadata={"help": "Prompts per backend call (0: automatic)."})
    base_url: str = field(default="", metadata={"help": "openai backend: endpoint URL."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "openai backend: key variable."})
    concurrency: int = field(default=8, metadata={"help": "openai backend: requests in flight."})
    cache_dir: str = field(default="", metadata={"help": "openai backend: response cache folder."})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vllm backend: GPUs per model."})
    limit: int = field(default=0, metadata={"help": "Only the first N problems (0: all)."})


def check_config(cfg: SampleConfig) -> None:
    from unitrl.models.prompts import PROMPT_FORMATS

    for name in ("problems", "model", "out"):
        if not getattr(cfg, name):
            raise UserError(f"missing --{name}", field=name)
    if cfg.n < 0:
        raise UserError("must be >= 0", field="n")
    if cfg.prompt_format not in PROMPT_FORMATS:
        raise UserError(
            f"unknown prompt format (choose from {', '.join(PROMPT_FORMATS)})", field="prompt_format"
        )


def auto_prompts_per_call(cfg: SampleConfig) -> int:
    """hf: fill one generate batch; openai: keep every connection busy; vllm: a large slab per call."""
    if cfg.prompts_per_call > 0:
        return cfg.prompts_per_call
    return {"hf": max(1, cfg.batch_size // max(cfg.n, 1)), "openai": cfg.concurrency * 2}.get(
        cfg.backend, 256
    )


def run_sample(cfg: SampleConfig) -> dict:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from unitrl.models.backends import make_backend
    from unitrl.models.prompts import build_prompt, resolve_format
    from unitrl.records import ResumableWriter, read_problems
    from unitrl.sample.sampler import GREEDY_ID, batch_seed, batch_work, make_samples, plan_work

    console = Console(stderr=True)
    check_config(cfg)
    problems = read_problems(cfg.problems)
    if cfg.limit:
        problems = problems[: cfg.limit]

    # 1. What is left to do (a rerun skips the (task, sample) pairs already written).
    writer = ResumableWriter(cfg.out, key_fields=("task_id", "sample_id"), adopt_finished=True)
    work = plan_work(problems, cfg.n, cfg.greedy, set(writer.done))
    todo = sum(len(item.sample_ids) for item in work)
    order = [
        (p.task_id, str(i)) for p in problems for i in [*range(cfg.n), *([GREEDY_ID] if cfg.greedy else [])]
    ]
    if todo == 0:
        writer.finish(order)
        console.print(f"[green]sample:[/] nothing to do, {len(order)} samples already in {cfg.out}")
        return {"samples": len(order), "new": 0}

    # 2. The policy and its prompt format.
    backend = make_backend(
        cfg.backend, cfg.model, device=cfg.device, batch_size=cfg.batch_size, base_url=cfg.base_url,
        api_key_env=cfg.api_key_env, concurrency=cfg.concurrency, cache_dir=cfg.cache_dir or None,
        tensor_parallel_size=cfg.tensor_parallel_size,
    )  # fmt: skip
    fmt = resolve_format(cfg.prompt_format, backend.has_chat_template)
    meta = {"model": cfg.model, "backend": cfg.backend, "temperature": cfg.temperature, "top_p": cfg.top_p,
            "prompt_format": fmt}  # fmt: skip

    # 3. Generate batch by batch, writing each batch as it finishes.
    start, tokens0 = time.perf_counter(), backend.generated_tokens
    columns = [TextColumn("sample"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("sample", total=todo)
        for batch in batch_work(work, auto_prompts_per_call(cfg)):
            greedy = batch[0].greedy
            texts = backend.generate(
                [build_prompt(item.problem, fmt) for item in batch],
                n=len(batch[0].sample_ids),
                temperature=0.0 if greedy else cfg.temperature,
                top_p=1.0 if greedy else cfg.top_p,
                max_new_tokens=cfg.max_new_tokens,
                seed=batch_seed(cfg.seed, batch),
            )
            for item, item_texts in zip(batch, texts):
                for sample in make_samples(
                    item, item_texts, fmt, dict(meta, temperature=0.0) if greedy else meta
                ):
                    writer.write(sample)
                progress.advance(bar, len(item.sample_ids))
    rows = writer.finish(order)

    # 4. Summary with throughput (this run's new samples only).
    elapsed = max(time.perf_counter() - start, 1e-9)
    tokens = backend.generated_tokens - tokens0
    summary = {"samples": len(rows), "new": todo, "seconds": round(elapsed, 2),
               "samples_per_s": round(todo / elapsed, 2), "tokens_per_s": round(tokens / elapsed, 1),
               "prompt_format": fmt}  # fmt: skip
    console.print(
        f"[green]sample:[/] {todo} new samples ({len(rows)} in {cfg.out}) in {elapsed:.1f}s: "
        f"{summary['samples_per_s']} samples/s, {summary['tokens_per_s']} tokens/s [{cfg.backend}, {fmt}]"
    )
    return summary


sample_command = config_command("sample", SampleConfig, run_sample, help="Sample programs from a policy.")
