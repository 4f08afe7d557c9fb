"""`unitrl sample`: sample programs for every problem from a policy (hf, vllm or an OpenAI endpoint).

ACECODER samples 16 programs per question at temperature 0.7, top_p 1.0 (docs/REFERENCE.md section 1).
The prompt is the model's chat template with ACECODER's wrapper when it has one, else the problem's prompt
continued as is; prompts and program extraction are `unitrl.policy_io`'s, the same RL uses. The hf
backend batches like RL's rollouts: many prompts x samples in one generate call. Output: records.Sample
rows, written as they finish so a rerun skips what is done. Heavy imports stay inside the run function.
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
    out: str = field(default="", metadata={"help": "Samples file to write (JSONL).", "path": "out_file"})
    backend: str = field(
        default="hf", metadata={"help": "hf, vllm or openai.", "choices": ("hf", "vllm", "openai")}
    )
    n: int = field(default=16, metadata={"help": "Samples per problem.", "short": "-n", "min": 0})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature.", "min": 0, "max": 100})
    top_p: float = field(
        default=1.0, metadata={"help": "Nucleus sampling top-p.", "min": 0, "min_exclusive": True, "max": 1}
    )
    max_new_tokens: int = field(
        default=512, metadata={"help": "Tokens generated per sample at most.", "min": 1}
    )
    greedy: bool = field(default=False, metadata={"help": "Also write one greedy sample per problem."})
    prompt_format: str = field(
        default="auto",
        metadata={"help": "auto, chat or completion.", "choices": ("auto", "chat", "completion")},
    )
    show_test: bool = field(default=True, metadata={"help": "Chat prompts show the problem's first test."})
    seed: int = field(default=0, metadata={"help": "Sampling seed.", "min": 0, "max": 4294967295})
    device: str = field(default="auto", metadata={"help": "hf backend: auto, cpu, cuda, cuda:1, ..."})
    batch_size: int = field(
        default=128, metadata={"help": "hf backend: sequences per generate call.", "min": 1}
    )
    prompts_per_call: int = field(
        default=0, metadata={"help": "Prompts per backend call (0: automatic).", "min": 0}
    )
    base_url: str = field(default="", metadata={"help": "openai backend: endpoint URL."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "openai backend: key variable."})
    concurrency: int = field(
        default=8, metadata={"help": "openai backend: requests in flight.", "min": 1, "max": 1024}
    )
    cache_dir: str = field(default="", metadata={"help": "openai backend: response cache folder."})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vllm backend: GPUs per model.", "min": 1})
    limit: int = field(default=0, metadata={"help": "Only the first N problems (0: all).", "min": 0})


def check_config(cfg: SampleConfig) -> None:
    from unitrl.policy_io import PROMPT_FORMATS

    for name in ("problems", "model", "out"):
        if not getattr(cfg, name):
            raise UserError(f"missing --{name}", field=name)
    if cfg.n < 0:
        raise UserError("must be >= 0", field="n")
    if cfg.prompt_format not in PROMPT_FORMATS:
        raise UserError(
            f"unknown prompt format (choose from {', '.join(PROMPT_FORMATS)})", field="prompt_format"
        )


def call_size(cfg: SampleConfig) -> tuple[int, int]:
    """(prompts, sequences) per backend call, 0 = no limit. hf: as many prompts as fill one generate batch
    of `batch_size` sequences (sampled or greedy), like a rollout of RL; openai: keep every connection
    busy; vllm: a large slab per call."""
    if cfg.prompts_per_call > 0:
        return cfg.prompts_per_call, 0
    if cfg.backend == "hf":
        return cfg.batch_size, cfg.batch_size
    return (cfg.concurrency * 2 if cfg.backend == "openai" else 256), 0


def sample_keys(cfg: SampleConfig, problems: list) -> dict[tuple[str, str], str]:
    """(task_id, sample_id) -> content key: the problem's prompt material, the model and every setting
    that changes the text (the prompt format is resolved from the model, which is in the key)."""
    from unitrl.policy_io import first_test
    from unitrl.records import content_key
    from unitrl.sample.sampler import GREEDY_ID

    names = ("model", "backend", "max_new_tokens", "prompt_format", "show_test")
    fixed = {name: getattr(cfg, name) for name in names}
    sampling = {"temperature": cfg.temperature, "top_p": cfg.top_p, "seed": cfg.seed}  # greedy ignores these
    keys = {}
    for p in problems:
        prompt = content_key(p.prompt, first_test(p), fixed)
        for i in range(cfg.n):
            keys[(p.task_id, str(i))] = content_key("sample", p.task_id, str(i), prompt, sampling)
        if cfg.greedy:
            keys[(p.task_id, GREEDY_ID)] = content_key("greedy", p.task_id, prompt)
    return keys


def complete_units(reused: set[tuple], info: dict[tuple, dict]) -> set[tuple]:
    """Reused ids whose whole unit (the samples one request made together) is reused: a unit cut by a
    kill is asked again as a whole, so the request, and with it the answer, is the same as before."""
    return {i for i in reused if all((i[0], str(u)) in reused for u in info.get(i, {}).get("unit", []))}


def policy_inputs(backend, cfg: SampleConfig, problems: list) -> tuple[str, list]:
    """(format, the prompt per problem): token ids for the hf backend, messages or text for the others."""
    from unitrl.policy_io import build_prompt, encode_prompt, resolve_format

    fmt = resolve_format(cfg.prompt_format, backend.has_chat_template)
    prompts = [build_prompt(p, fmt, cfg.show_test) for p in problems]
    if backend.name == "hf":
        prompts = [encode_prompt(backend.tokenizer, p) for p in prompts]
    return fmt, prompts


def generate_batch(backend, cfg: SampleConfig, batch: list) -> list[list[str]]:
    """Texts per item of one batch. hf: one seeded random stream per sample; others: one seed per call."""
    from unitrl.sample.sampler import batch_seed, sample_seed
    from unitrl.sample.seeded import generate_rows

    greedy = batch[0].greedy
    temperature, top_p = (0.0, 1.0) if greedy else (cfg.temperature, cfg.top_p)
    _, prompts = policy_inputs(backend, cfg, [item.problem for item in batch])
    if backend.name != "hf":
        n = len(batch[0].sample_ids)
        seed = batch_seed(cfg.seed, batch)
        return backend.generate(prompts, n, temperature, top_p, cfg.max_new_tokens, seed)
    rows = [(ids, sample_seed(cfg.seed, item.problem.task_id, i))
            for item, ids in zip(batch, prompts) for i in item.sample_ids]  # fmt: skip
    texts = generate_rows(backend, rows, temperature, top_p, cfg.max_new_tokens)
    out, at = [], 0
    for item in batch:
        out.append(texts[at : at + len(item.sample_ids)])
        at += len(item.sample_ids)
    return out


def run_sample(cfg: SampleConfig) -> dict:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from unitrl.models.backends import make_backend
    from unitrl.policy_io import resolve_format
    from unitrl.records import ResumableWriter, read_problems
    from unitrl.sample.sampler import batch_work, make_samples, plan_work

    console = Console(stderr=True)
    check_config(cfg)
    problems = read_problems(cfg.problems)
    if cfg.limit:
        problems = problems[: cfg.limit]

    # 1. What is left to do: a rerun skips the samples already written from the same prompt and settings.
    writer = ResumableWriter(cfg.out, key_fields=("task_id", "sample_id"), adopt_finished=True)
    keys = sample_keys(cfg, problems)
    done = complete_units(writer.resume(keys), writer.info)
    if note := writer.resume_note(len(keys), "samples"):
        console.print(note)
    work = plan_work(problems, cfg.n, cfg.greedy, done)
    todo = sum(len(item.sample_ids) for item in work)
    order = list(keys)
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
            "prompt_format": fmt, "show_test": cfg.show_test}  # fmt: skip

    # 3. Generate batch by batch, writing each batch as it finishes.
    start, tokens0 = time.perf_counter(), backend.generated_tokens
    columns = [TextColumn("sample"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("sample", total=todo)
        for batch in batch_work(work, *call_size(cfg)):
            greedy = batch[0].greedy
            texts = generate_batch(backend, cfg, batch)
            for item, item_texts in zip(batch, texts):
                unit = {"unit": [str(i) for i in item.sample_ids]}
                for sample in make_samples(
                    item, item_texts, fmt, dict(meta, temperature=0.0) if greedy else meta
                ):
                    writer.write(sample, keys[(sample.task_id, str(sample.sample_id))], info=unit)
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
