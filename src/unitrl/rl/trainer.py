"""`train(cfg)`: the RL loop shared by every advantage estimator, reading top to bottom.

Each step: (1) sample `samples_per_prompt` programs for `prompts_per_step` prompts; (2) hand them to a
thread that grades them in the sandbox (and scores them with a reward model if asked) while (3) the main
thread computes reference log-probs and values; (4) turn rewards into advantages with the chosen
estimator; (5) update; (6) log, evaluate on held-out problems every `eval_every` steps, checkpoint every
`checkpoint_every` steps. Generation, reward and update times are reported separately (`t_reward_wait`
is the part of the reward time the trainer actually waited for).

Exact resume: the data order is a pure function of (seed, position), and a checkpoint holds the model,
optimizer, scheduler, critic, replay buffer, RNG states, step and data cursor; a run killed with -9
restarts from its newest checkpoint and continues with the same batches and the same random draws.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from unitrl.config import save_config
from unitrl.errors import UserError
from unitrl.records import Problem, read_problems, write_text_atomic
from unitrl.rl import checkpoint
from unitrl.rl.batches import evaluate, policy_inputs, program_of, with_replay
from unitrl.rl.config import (
    RLConfig,
    RolloutSettings,
    UpdateSettings,
    eval_settings,
    rollout_settings,
    sandbox_config,
    update_settings,
)
from unitrl.rl.estimators import ALGORITHMS, AdvantageInputs, Algorithm
from unitrl.rl.plots import plot_curves
from unitrl.rl.policy import PolicyParts, autocast, build_optimizer, load_policy, lr_lambda, pick_device
from unitrl.rl.replay import ReplayBuffer, ReplayEntry
from unitrl.rl.rewards import RewardTerm, compute_rewards, parse_reward_spec
from unitrl.rl.rollout import RolloutBatch, generate_hf
from unitrl.rl.update import UpdateInputs, score_rollout, update_policy

# ------------------------------------------------------------------------------------ building blocks


def batch_indices(n: int, k: int, cursor: int, seed: int) -> list[int]:
    """Problem indices at data positions cursor .. cursor+k-1: a fresh seeded permutation per epoch."""
    out, perms = [], {}
    for pos in range(cursor, cursor + k):
        epoch = pos // n
        if epoch not in perms:
            perms[epoch] = random.Random(seed * 1_000_003 + epoch).sample(range(n), n)
        out.append(perms[epoch][pos % n])
    return out


def check_config(cfg: RLConfig) -> Algorithm:
    """The algorithm's row, once the settings are known to work together."""
    if cfg.algo not in ALGORITHMS:
        raise UserError(f"unknown algo {cfg.algo!r} (known: {', '.join(ALGORITHMS)})", field="algo")
    algo = ALGORITHMS[cfg.algo]
    if not cfg.problems or not cfg.model:
        raise UserError(
            "--problems and --model are required", field="problems" if not cfg.problems else "model"
        )
    if cfg.backend not in ("hf", "vllm"):
        raise UserError(f"unknown backend {cfg.backend!r} (hf, vllm)", field="backend")
    if cfg.samples_per_prompt < algo.min_group:
        raise UserError(
            f"{cfg.algo} needs samples_per_prompt >= {algo.min_group}", field="samples_per_prompt"
        )
    if cfg.tensorboard:
        try:
            import tensorboard  # noqa: F401  (torch's SummaryWriter needs it)
        except ImportError:
            raise UserError(
                "--tensorboard needs the tensorboard package: pip install tensorboard "
                "(metrics.jsonl is written either way)",
                field="tensorboard",
            ) from None
    return algo


class MetricsLog:
    """metrics.jsonl, appended per step; on resume, rows after the checkpoint's step are dropped."""

    def __init__(self, path: Path, keep_until: int):
        self.path = path
        self.rows = (
            [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
        )
        self.rows = [r for r in self.rows if r["step"] <= keep_until]
        write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in self.rows))

    def add(self, row: dict) -> None:
        self.rows.append(row)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")


@dataclass
class Run:
    """What every step of one run uses, built once by `train`."""

    cfg: RLConfig
    algo: Algorithm
    rollout: RolloutSettings
    update: UpdateSettings
    parts: PolicyParts
    optimizer: torch.optim.Optimizer
    sandbox: Any
    pool: ThreadPoolExecutor
    terms: list[RewardTerm]
    problems: list[Problem]
    fmt: str  # the prompt format (unitrl.policy_io), resolved from the tokenizer
    prompt_ids: list[list[int]]
    generate: Callable[..., RolloutBatch]
    replay: ReplayBuffer
    perm_gen: torch.Generator


def make_generate(cfg: RLConfig, parts: PolicyParts, rollout: RolloutSettings):
    """(generate(prompt_ids, n, greedy) -> RolloutBatch, the vLLM engine or None)."""
    engine = None
    if cfg.backend == "vllm":
        from unitrl.rl.rollout import VLLMGenerator

        engine = VLLMGenerator(cfg.model, seed=cfg.seed)

    def generate(prompts: list[list[int]], n: int, greedy: bool = False) -> RolloutBatch:
        r = rollout
        if engine is not None:
            return engine.generate(
                parts.tokenizer, prompts, n, r.max_new_tokens, r.temperature, r.top_p, greedy
            )
        with autocast(parts.device, cfg.bf16):
            return generate_hf(
                parts.model, parts.tokenizer, prompts, n, r.max_new_tokens, r.temperature, r.top_p, greedy
            )

    return generate, engine


# ------------------------------------------------------------------------------------------- the loop


def train(cfg: RLConfig, sandbox=None, progress: bool = True) -> dict:
    """Run RL as configured; returns summary metrics (also written to RUN_DIR/summary.json)."""
    algo = check_config(cfg)
    run_dir = Path(cfg.out)
    problems = read_problems(cfg.problems)  # bad input fails before anything is written
    eval_problems = read_problems(cfg.eval_problems) if cfg.eval_problems else []
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir)
    eval_problems = eval_problems[: cfg.eval_limit] if cfg.eval_limit else eval_problems
    terms = parse_reward_spec(cfg.reward)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    # --- model, optimizer, state -------------------------------------------------------------------
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    parts = load_policy(
        cfg.model, algo.critic, device, cfg.kl_coef > 0, cfg.lora_r, cfg.lora_alpha, cfg.critic_width
    )
    optimizer = build_optimizer(parts, cfg.lr, cfg.critic_lr, cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(cfg.lr_schedule, cfg.warmup_steps, cfg.steps)
    )
    replay = ReplayBuffer(cfg.replay_size, cfg.replay_min_reward)
    perm_gen = torch.Generator().manual_seed(cfg.seed)
    step, cursor, elapsed = 0, 0, 0.0
    state = checkpoint.load_latest(run_dir / "checkpoints") if cfg.resume else None
    if state is not None:
        parts.model.load_state_dict(state["model"])
        if parts.critic is not None:
            parts.critic.load_state_dict(state["critic"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        replay.load_state_dict(state["replay"])
        perm_gen.set_state(state["perm_gen"])
        checkpoint.set_rng_state(state["rng"])
        step, cursor, elapsed = state["step"], state["cursor"], state["elapsed"]
    metrics = MetricsLog(run_dir / "metrics.jsonl", keep_until=step if state is not None else -1)
    # the prompts exactly as `unitrl sample` builds them (unitrl.policy_io)
    fmt, prompt_ids = policy_inputs(parts.tokenizer, problems, cfg.prompt_format, cfg.show_test)
    _, eval_ids = policy_inputs(parts.tokenizer, eval_problems, cfg.prompt_format, cfg.show_test)
    writer = _tensorboard(run_dir) if cfg.tensorboard else None
    rollout = rollout_settings(cfg)
    generate, engine = make_generate(cfg, parts, rollout)

    own_sandbox = sandbox is None
    if own_sandbox:
        from unitrl.sandbox.ray_pool import make_sandbox

        sandbox = make_sandbox(sandbox_config(cfg), cfg.ray)
    pool = ThreadPoolExecutor(max_workers=1)
    run = Run(cfg, algo, rollout, update_settings(cfg), parts, optimizer, sandbox, pool, terms, problems,
              fmt, prompt_ids, generate, replay, perm_gen)  # fmt: skip

    def held_out() -> dict:
        return evaluate(eval_problems, eval_ids, fmt, sandbox, eval_settings(cfg), generate)

    try:
        # --- evaluation before training ------------------------------------------------------------
        if step == 0 and eval_problems:
            metrics.add({"step": 0, "elapsed": 0.0, **held_out()})
        # the budget clock: wall time, or this process's CPU time (a fair budget on a shared machine)
        clock = time.process_time if cfg.budget_clock == "process" else time.time
        started, wall_started = clock() - elapsed, time.time()
        while step < cfg.steps and not (cfg.max_minutes and clock() - started >= cfg.max_minutes * 60):
            row = _one_step(run, cursor)
            scheduler.step()
            if engine is not None:
                engine.sync_weights(parts.model)
            step, cursor = step + 1, cursor + cfg.prompts_per_step
            row.update(step=step, lr=scheduler.get_last_lr()[0])
            if eval_problems and cfg.eval_every and step % cfg.eval_every == 0:
                t_eval = clock()
                row.update(held_out())
                started += clock() - t_eval  # evaluation does not count against the time budget
            row["elapsed"] = clock() - started
            metrics.add(row)
            if writer is not None:
                for k, v in row.items():
                    writer.add_scalar(k, v, step)
            if progress:
                _print_row(row)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                _save(
                    run_dir, cfg, parts, optimizer, scheduler, replay, perm_gen, step, cursor, row["elapsed"]
                )
        elapsed, wall = clock() - started, time.time() - wall_started
        # --- final evaluation, model, summary ----------------------------------------------------------
        last = metrics.rows[-1] if metrics.rows else {}
        if eval_problems and "eval_pass1" not in last and "eval_greedy" not in last:
            metrics.rows[-1].update(held_out())
            write_text_atomic(metrics.path, "".join(json.dumps(r) + "\n" for r in metrics.rows))
    finally:
        pool.shutdown(wait=True)
        if writer is not None:
            writer.close()
        if own_sandbox:
            sandbox.close()
    parts.model.save_pretrained(run_dir / "final")
    parts.tokenizer.save_pretrained(run_dir / "final")
    plot_curves(metrics.rows, run_dir / "curves.png")
    summary = {**_summary(cfg, metrics.rows, step, elapsed), "wall_minutes_this_run": wall / 60}
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _one_step(run: Run, cursor: int) -> dict:
    cfg, parts = run.cfg, run.parts
    idx = batch_indices(len(run.problems), cfg.prompts_per_step, cursor, cfg.seed)
    # 1. generate
    t0 = time.time()
    batch = run.generate([run.prompt_ids[i] for i in idx], run.rollout.samples_per_prompt)
    row_problems = [run.problems[idx[g]] for g in batch.group.tolist()]
    programs = [program_of(p, t, run.fmt) for p, t in zip(row_problems, batch.texts)]
    t1 = time.time()
    # 2. rewards in a thread, 3. meanwhile reference log-probs and values
    device = cfg.device if cfg.device != "auto" else "cpu"
    future = run.pool.submit(
        _timed_rewards, run.terms, run.sandbox, row_problems, programs, device, cfg.test_timeout
    )
    replayed = (
        run.replay.sample(cfg.replay_per_step, random) if run.algo.replay and cfg.replay_per_step else []
    )
    full = with_replay(parts.tokenizer, batch, replayed)
    scored = score_rollout(parts, full, run.algo, run.update)
    t2 = time.time()
    rewards_list, t_reward = future.result()
    t3 = time.time()
    # 4. advantages; rows whose reward is None (sandbox infrastructure error) are masked out
    valid = torch.tensor([r is not None for r in rewards_list] + [True] * len(replayed), dtype=torch.float32)
    rewards = torch.tensor([r if r is not None else 0.0 for r in rewards_list] + [e.reward for e in replayed])
    full.completion_mask = full.completion_mask * valid[:, None]
    adv = run.algo.estimator(
        AdvantageInputs(
            rewards, full.completion_mask, full.group, scored.logp, scored.ref_logp, scored.values,
            kl_coef=cfg.kl_coef, reward_clip=cfg.reward_clip, gamma=cfg.gamma, lam=cfg.lam,
        )
    )  # fmt: skip
    # 5. update
    inputs = UpdateInputs(full, adv.advantages, adv.returns, scored, rewards)
    stats = update_policy(parts, run.optimizer, run.algo, inputs, run.update, run.perm_gen)
    t4 = time.time()
    for i, (r, p, prog) in enumerate(zip(rewards_list, row_problems, programs)):
        if r is not None:
            comp = batch.completion_ids[i][batch.completion_mask[i].bool()].tolist()
            entry = ReplayEntry(p.task_id, run.prompt_ids[idx[int(batch.group[i])]], comp, float(r))
            run.replay.add(entry, prog)
    got = [r for r in rewards_list if r is not None]
    lengths = batch.completion_mask.sum(1)
    return {
        "reward_mean": sum(got) / max(1, len(got)),
        "valid_frac": len(got) / len(rewards_list),
        "length_mean": lengths.float().mean().item(),
        "replay_size": len(run.replay),
        **stats,
        "t_gen": t1 - t0,
        "t_score": t2 - t1,
        "t_reward": t_reward,
        "t_reward_wait": t3 - t2,
        "t_update": t4 - t3,
    }


def _timed_rewards(terms, sandbox, problems, programs, device, timeout):
    t = time.time()
    rewards, _ = compute_rewards(terms, sandbox, problems, programs, device=device, timeout=timeout)
    return rewards, time.time() - t


def _save(run_dir, cfg, parts, optimizer, scheduler, replay, perm_gen, step, cursor, elapsed) -> None:
    state = {
        "model": parts.model.state_dict(),
        "critic": parts.critic.state_dict() if parts.critic is not None else None,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "replay": replay.state_dict(),
        "perm_gen": perm_gen.get_state(),
        "rng": checkpoint.rng_state(),
        "step": step,
        "cursor": cursor,
        "elapsed": elapsed,
    }
    checkpoint.save_checkpoint(run_dir / "checkpoints", step, state, keep=cfg.keep_checkpoints)


def _summary(cfg: RLConfig, rows: list[dict], step: int, elapsed: float) -> dict:
    evals = [r for r in rows if "eval_pass1" in r or "eval_greedy" in r]
    first, last = (evals[0], evals[-1]) if evals else ({}, {})
    train_rows = [r for r in rows if "reward_mean" in r]
    mean = lambda k: sum(r.get(k, 0.0) for r in train_rows) / max(1, len(train_rows))  # noqa: E731
    return {
        "algo": cfg.algo,
        "reward": cfg.reward,
        "steps": step,
        "minutes": elapsed / 60,
        "pass1_before": first.get("eval_pass1"),
        "pass1_after": last.get("eval_pass1"),
        "greedy_before": first.get("eval_greedy"),
        "greedy_after": last.get("eval_greedy"),
        "reward_first": train_rows[0]["reward_mean"] if train_rows else None,
        "reward_last": train_rows[-1]["reward_mean"] if train_rows else None,
        "t_gen": mean("t_gen"),
        "t_reward": mean("t_reward"),
        "t_reward_wait": mean("t_reward_wait"),
        "t_update": mean("t_update"),
    }


def _print_row(row: dict) -> None:
    keys = [
        "step",
        "reward_mean",
        "kl",
        "entropy",
        "length_mean",
        "eval_pass1",
        "eval_greedy",
        "t_gen",
        "t_reward",
        "t_update",
    ]
    parts = [f"{k}={row[k]:.3g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in keys if k in row]
    print(" ".join(parts), flush=True)


def _tensorboard(run_dir: Path):
    from torch.utils.tensorboard import SummaryWriter  # check_config made sure it is installed

    return SummaryWriter(str(run_dir / "tensorboard"))
