"""Proof that RL on synthesized-test rewards learns, on this CPU: held-out pass@1 before and after.

1. Build the embedded curriculum (unitrl.rl.curriculum): template problems whose tests are synthesized
   by the synth engine running the references in the sandbox. Splits: warm-start, RL, held-out.
2. Warm-start the tiny word-level policy with a short supervised run on NOISY examples (each line's
   operation swapped for a confusable partner with probability 0.4; docs/REFERENCE.md section 8).
3. From the same warm start: RL with each algorithm for the same wall-clock budget, and an SFT-only
   baseline that keeps training on the noisy demonstrations for that budget.
4. Print a table (algorithm, reward, pass@1 before/after, minutes), write curves.png, and end with one
   JSON object per run on its own line.

pass@1 is measured through the sandbox on the held-out split: `pass1` = mean over problems of the fraction
of `--eval-samples` programs sampled at temperature 1.0 that pass all tests; `greedy` = greedy decoding.

    python benchmarks/rl_curriculum.py --out runs/bench-rl            # full run (~35 min on 2 cores)
    python benchmarks/rl_curriculum.py --out /tmp/smoke --smoke       # about a minute
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ALGO_REWARDS = {
    "reinforce_pp": "binary",
    "actor_critic": "partial",
    "grpo": "binary",
    "rloo": "binary",
    "reinforce_pp_baseline": "binary",
    "ppo": "binary",
}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/bench-rl-curriculum")
    ap.add_argument("--algos", default="reinforce_pp,actor_critic")
    ap.add_argument("--minutes", type=float, default=10.0, help="RL (and SFT-only) wall-clock budget per run")
    ap.add_argument("--steps", type=int, default=100000, help="cap on RL steps")
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-rl", type=int, default=5000)
    ap.add_argument("--n-heldout", type=int, default=400)
    ap.add_argument("--warm-steps", type=int, default=600)
    ap.add_argument("--noise", type=float, default=0.4)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--kl-coef", type=float, default=0.01)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--eval-samples", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--replay", type=int, default=8, help="replayed programs per actor_critic step")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--clock",
        default="process",
        choices=["process", "wall"],
        help="what --minutes counts: this process's CPU time (fair on a shared machine) or wall time",
    )
    ap.add_argument("--no-sft-baseline", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a few steps: a wiring check")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n_train, args.n_rl, args.n_heldout, args.warm_steps, args.eval_samples = 200, 32, 12, 20, 1
        args.steps, args.minutes, args.prompts, args.samples, args.eval_every = 3, 1.0, 4, 4, 0
    return args


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    out = Path(args.out)
    # The sandbox's fork server starts before torch is imported (docs/REFERENCE.md section 8).
    from unitrl.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(workers=2)) as sb:
        return run(args, out, sb)


def run(args, out: Path, sb) -> list[dict]:
    import torch

    from unitrl.records import read_problems
    from unitrl.rl.curriculum import build_curriculum, build_curriculum_model
    from unitrl.rl.plots import plot_runs
    from unitrl.rl.warmstart import warm_start

    torch.set_num_threads(2)
    paths = {s: out / "problems" / f"{s}.jsonl" for s in ("train", "rl", "heldout")}
    if not all(p.exists() for p in paths.values()):
        paths = build_curriculum(out / "problems", args.n_train, args.n_rl, args.n_heldout, args.seed, sb)
    warm = out / "warm"
    if not (warm / "config.json").exists():
        base = build_curriculum_model(out / "base", seed=args.seed)
        t = time.time()
        warm_start(
            base, read_problems(paths["train"]), warm, args.warm_steps, 64, 1e-3, args.noise, args.seed
        )
        print(
            f"warm start: {args.warm_steps} noisy SFT steps in {(time.time() - t) / 60:.1f} min", flush=True
        )
    rows, curves = [], {}
    for algo in [a for a in args.algos.split(",") if a]:
        summary, metrics = rl_run(args, algo, paths, warm, out / f"rl-{algo}", sb)
        rows.append(summary)
        curves[algo] = metrics
    if not args.no_sft_baseline:
        rows.append(sft_baseline(args, paths, warm, out / "sft-only", sb))
    plot_runs(curves, out / "curves.png", x="step")
    print_table(rows)
    print(f"curves: {out / 'curves.png'}")
    for r in rows:
        print(
            json.dumps(
                {
                    k: r[k]
                    for k in (
                        "algo",
                        "reward",
                        "pass1_before",
                        "pass1_after",
                        "minutes",
                        "greedy_before",
                        "greedy_after",
                        "steps",
                    )
                }
            )
        )
    return rows


def rl_run(args, algo: str, paths, warm: Path, run_dir: Path, sb) -> tuple[dict, list[dict]]:
    from unitrl.rl.config import RLConfig
    from unitrl.rl.trainer import train

    cfg = RLConfig(
        problems=str(paths["rl"]),
        model=str(warm),
        algo=algo,
        reward=ALGO_REWARDS.get(algo, "binary"),
        out=str(run_dir),
        eval_problems=str(paths["heldout"]),
        steps=args.steps,
        max_minutes=args.minutes,
        prompts_per_step=args.prompts,
        samples_per_prompt=args.samples,
        micro_batch=128,
        lr=args.lr,
        kl_coef=args.kl_coef,
        max_new_tokens=60,
        eval_every=args.eval_every,
        eval_samples=args.eval_samples,
        checkpoint_every=100,
        replay_per_step=args.replay if algo == "actor_critic" else 0,
        seed=args.seed,
        threads=2,
        resume=False,
        budget_clock=args.clock,
    )
    summary = train(cfg, sandbox=sb, progress=True)
    metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return summary, metrics


def sft_baseline(args, paths, warm: Path, run_dir: Path, sb) -> dict:
    """SFT-only: continue noisy supervised training from the warm start for the same wall-clock budget."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from unitrl.records import read_problems
    from unitrl.rl.warmstart import supervised_train

    tok = AutoTokenizer.from_pretrained(warm)
    model = AutoModelForCausalLM.from_pretrained(warm)
    heldout = read_problems(paths["heldout"])
    before = evaluate_model(model, tok, heldout, sb, args.eval_samples)
    max_steps = args.steps if args.smoke else 10**9
    stats = supervised_train(
        model,
        tok,
        read_problems(paths["rl"]),
        max_steps,
        64,
        1e-3,
        args.noise,
        args.seed + 1,
        max_seconds=args.minutes * 60,
        clock=time.process_time if args.clock == "process" else time.time,
    )
    after = evaluate_model(model, tok, heldout, sb, args.eval_samples)
    model.save_pretrained(run_dir / "final")
    return {
        "algo": "sft_only",
        "reward": "-",
        "pass1_before": before["eval_pass1"],
        "pass1_after": after["eval_pass1"],
        "greedy_before": before["eval_greedy"],
        "greedy_after": after["eval_greedy"],
        "minutes": stats["seconds"] / 60,
        "steps": stats["steps"],
    }


def evaluate_model(model, tok, problems, sb, eval_samples: int) -> dict:
    """Held-out pass@1 of a model outside the trainer, with the trainer's own evaluation."""
    from unitrl.rl.batches import evaluate, policy_inputs
    from unitrl.rl.config import EvalSettings
    from unitrl.rl.rollout import generate_hf

    fmt, prompt_ids = policy_inputs(tok, problems, "auto", True)

    def generate(prompts, n, greedy=False):
        return generate_hf(model, tok, prompts, n, 60, 1.0, 1.0, greedy)

    return evaluate(problems, prompt_ids, fmt, sb, EvalSettings(samples=eval_samples, greedy=True), generate)


def print_table(rows: list[dict]) -> None:
    fmt = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    print(
        f"{'algorithm':<24}{'reward':<10}{'pass@1 before':>14}{'pass@1 after':>14}{'greedy before':>15}"
        f"{'greedy after':>14}{'steps':>8}{'minutes':>9}"
    )
    for r in rows:
        print(
            f"{r['algo']:<24}{r['reward']:<10}{fmt(r['pass1_before']):>14}{fmt(r['pass1_after']):>14}"
            f"{fmt(r['greedy_before']):>15}{fmt(r['greedy_after']):>14}{r['steps']:>8}{r['minutes']:>9.1f}"
        )


if __name__ == "__main__":
    main()
