"""Commands that run several stages: the embedded sandbox demo and the whole pipeline (`unitrl run`)."""

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
    """mine -> synth -> split -> sample -> exec -> pairs -> train-rm -> bon -> rl -> eval in one run directory.

    With no CONFIG_FILE: the embedded default (the curriculum corpus, tiny models, a 2-core CPU).
    """
    from pathlib import Path

    from rich.console import Console

    from unitrl.config import save_config
    from unitrl.pipeline.plan import load_pipeline, resolve
    from unitrl.pipeline.report import write_report
    from unitrl.pipeline.runner import all_records, estimate_line, run_stages, select_stages

    console = Console(stderr=True)
    cfg = load_pipeline(config_file, out_dir)
    specs = resolve(cfg)
    names = select_stages([s.name for s in specs], from_stage, only)  # all checks before any write
    run = Path(cfg.out_dir)
    run.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run, "pipeline.yaml")
    forced = set(names) if force else set()
    console.print(f"[bold]unitrl run[/bold] into {run}: {estimate_line(specs, names, run, forced)}")
    records = run_stages(run, specs, names, forced, console)
    report = write_report(run, specs, all_records(run, specs, records), "unitrl run")
    for r in records:
        if r.get("cut_short"):
            console.print(f"[yellow]warning:[/yellow] {r['cut_short']}")
    console.print(f"[bold green]done[/bold green]: report in {report}")
