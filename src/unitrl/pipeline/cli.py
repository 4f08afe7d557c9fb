"""Commands that run several stages: the embedded demo and (later) the whole pipeline."""

from __future__ import annotations

import click

from unitrl.config import config_command
from unitrl.pipeline.demo import DemoConfig, run_demo

demo_command = config_command(
    "demo", DemoConfig, run_demo, "HumanEval canonical and wrong programs through the sandbox."
)


@click.command("run")
@click.argument("config_file", required=False)
@click.option("--out-dir", default=None, help="run directory (default: from the config, else runs/default)")
@click.option("--from", "from_stage", default="", help="start at this stage (earlier ones must be done)")
@click.option("--only", default="", help="run just this stage")
@click.option("--force", is_flag=True, help="rerun the selected stages even when up to date")
def run_command(
    config_file: str | None, out_dir: str | None, from_stage: str, only: str, force: bool
) -> None:
    """mine -> synth -> sample -> exec -> pairs -> train-rm -> bon -> rl -> eval into one run directory.

    With no CONFIG_FILE: the embedded default (standard-library problems, the curriculum, tiny models).
    """
    from pathlib import Path

    from rich.console import Console

    from unitrl.config import save_config
    from unitrl.pipeline.plan import STAGES, build_plan, load_pipeline
    from unitrl.pipeline.runner import run_stages, select_stages, write_report

    console = Console(stderr=True)
    cfg = load_pipeline(config_file, out_dir)
    run = Path(cfg.out_dir)
    run.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run, "pipeline.yaml")
    names = select_stages(STAGES, from_stage, only)
    records = run_stages(run, build_plan(cfg), names, set(names) if force else set(), console)
    report = write_report(run, records, "unitrl run")
    console.print(f"[bold green]done[/bold green]: report in {report}")
