"""The `unitrl` command: one subcommand per stage, each defined in its stage's `cli.py`.

Stage command modules are imported only when their subcommand runs, so `unitrl exec` never pays for
torch or transformers. User errors print one line (`error: FILE:LINE: field 'F': reason`) and exit
with status 2; an unexpected exception prints one line `internal error: ...` naming a file under the
system temp dir that holds the traceback, and exits with status 3.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from unitrl.errors import UserError

# subcommand -> (module, attribute, one-line help). The attribute is a click.Command.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "doctor": ("unitrl.sandbox.cli", "doctor", "Show which sandbox isolation layers are active."),
    "exec": ("unitrl.sandbox.cli", "exec_command", "Run samples against problems' tests in the sandbox."),
    "eval": ("unitrl.eval.cli", "eval_command", "pass@k on HumanEval or any problems file."),
    "demo": ("unitrl.pipeline.cli", "demo_command", "The embedded default job (see README)."),
    "import": ("unitrl.formats.cli", "import_command", "Benchmark files (HumanEval, APPS...) to problems."),
    "mine": ("unitrl.mine.cli", "mine_command", "Mine function-level problems from Python code."),
    "synth": ("unitrl.synth.cli", "synth_command", "Synthesize and validate unit tests for problems."),
    "export": ("unitrl.formats.cli", "export_command", "AceCode rows, verl parquet, evalplus/LCB samples."),
    "tiny-model": ("unitrl.models.cli", "tiny_model_command", "Build a tiny local policy or reward model."),
    "sample": ("unitrl.sample.cli", "sample_command", "Sample programs from a policy."),
    "pairs": ("unitrl.prefs.cli", "pairs_command", "Build preference pairs from pass rates."),
    "select-hard": ("unitrl.prefs.cli", "select_hard_command", "ACECODER's hard RL subset."),
    "train-rm": ("unitrl.rm.cli", "train_rm_command", "Train a Bradley-Terry reward model."),
    "score": ("unitrl.rm.cli", "score_command", "Score samples with a reward model."),
    "bon": ("unitrl.rm.cli", "bon_command", "Best-of-N reranking table and curve."),
    "rl": ("unitrl.rl.cli", "rl_command", "RL training on test rewards."),
    "run": ("unitrl.pipeline.cli", "run_command", "The whole pipeline into one run directory."),
    "serve": ("unitrl.serve.cli", "serve_command", "Serve sandbox rewards over HTTP (verl, OpenRLHF, TRL)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (mod, _, _) in COMMANDS.items() if importlib.util.find_spec(mod) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        try:
            cmd = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise click.UsageError(f"'{name}' is not available in this install: {exc}") from None
        cmd.name = name
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, h) for n, (_, _, h) in COMMANDS.items() if n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, invoke_without_command=True)
@click.pass_context
def app(ctx: click.Context) -> None:
    """unitrl: mine problems, synthesize tests, execute safely, build rewards, train code models."""
    if ctx.invoked_subcommand is None:
        # The embedded default pipeline, so `unitrl` alone does the main thing.
        ctx.invoke(app.get_command(ctx, "run"))


def _internal_error(exc: BaseException) -> None:
    """Last line of defence: one line on stderr, the traceback in a temp file, exit 3."""
    import tempfile
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix="unitrl-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
            fh.write(f"unitrl {' '.join(sys.argv[1:])}\n")
            traceback.print_exception(exc, file=fh)
    except OSError:
        path = "<not written: the temp folder is not writable>"
    message = " ".join(str(exc).split())[:300]
    click.echo(f"internal error: {type(exc).__name__}: {message} (traceback in {path})", err=True)
    sys.exit(3)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. A user error is one line and exit 2; a bug is one line, exit 3 (traceback in a file)."""
    try:
        app.main(args=argv, prog_name="unitrl", standalone_mode=False)
    except UserError as exc:
        click.echo("error: " + " ".join(str(exc).splitlines()), err=True)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        hint = ""
        ctx = getattr(exc, "ctx", None)
        if isinstance(exc, click.UsageError) and ctx is not None:
            hint = f" (see `{ctx.command_path} --help`)"
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence, reported as a bug
        _internal_error(exc)


if __name__ == "__main__":
    main()
