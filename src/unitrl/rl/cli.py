"""`unitrl rl`: RL training on test rewards. Heavy imports happen inside the run function."""

from __future__ import annotations

from unitrl.config import config_command
from unitrl.rl.config import RLConfig
from unitrl.sandbox.ray_pool import ray_option_value_optional


def run_rl(cfg: RLConfig) -> dict:
    from rich.console import Console

    from unitrl.rl.trainer import train

    summary = train(cfg)
    console = Console()
    console.print(
        f"[bold]{cfg.algo}[/] reward={cfg.reward} steps={summary['steps']} minutes={summary['minutes']:.1f} "
        f"pass@1 {summary['pass1_before']} -> {summary['pass1_after']} "
        f"(greedy {summary['greedy_before']} -> {summary['greedy_after']})"
    )
    console.print(f"run directory: {cfg.out} (metrics.jsonl, curves.png, summary.json, final/, checkpoints/)")
    return summary


rl_command = config_command(
    "rl",
    RLConfig,
    run_rl,
    help="RL training on test rewards: unitrl rl --problems P.jsonl --model M --algo ALGO --reward REWARD --out RUN_DIR",
)
ray_option_value_optional(rl_command)  # `--ray` alone = `--ray auto`
