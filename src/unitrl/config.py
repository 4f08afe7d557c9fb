"""Stage configs: one flat dataclass per stage feeds both the CLI flags and an optional YAML file.

`config_command(Config, run)` turns a dataclass into a click command: each field becomes a `--flag`
(underscores become dashes; `metadata={"short": "-n"}` adds a short name; `bool` fields become `--flag/--no-flag`; `list[str]` fields with
`metadata={"positional": True}` become positional arguments). `--config FILE.yaml` loads values first;
flags given on the command line win. Unknown YAML keys are an error naming the file and key.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from unitrl.errors import UserError

C = TypeVar("C")


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(python type for click, is_list) from a field annotation like `int | None` or `list[str]`."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is list:
        return (args[0] if args else str), True
    if args and origin is not None:  # a Union such as `float | None`
        return _base_type(args[0])
    return (annotation if isinstance(annotation, type) else str), False


def load_config(cls: type[C], yaml_path: str | None = None, overrides: dict[str, Any] | None = None) -> C:
    """A config from defaults, then a YAML file, then explicit overrides."""
    values: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    if yaml_path:
        import yaml

        p = Path(yaml_path)
        if not p.exists():
            raise UserError("config file not found", path=str(p))
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise UserError(
                f"malformed YAML: {exc}", path=str(p), line=mark.line + 1 if mark else None
            ) from None
        if not isinstance(loaded, dict):
            raise UserError("expected a mapping of option names to values", path=str(p))
        for key, value in loaded.items():
            key = str(key).replace("-", "_")
            if key not in names:
                raise UserError(f"unknown option (known: {', '.join(sorted(names))})", path=str(p), field=key)
            values[key] = value
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return cls(**values)


def save_config(cfg: Any, run_dir: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config into the run directory (atomically)."""
    import yaml

    from unitrl.records import write_text_atomic

    path = Path(run_dir) / name
    write_text_atomic(
        path, yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(cfg), default=str)), sort_keys=False)
    )
    return path


def config_command(
    name: str, cls: type[C], run: Callable[[C], Any], help: str, with_yaml: bool = True
) -> click.Command:
    """A click command whose options are the fields of `cls`; it calls `run(config)`."""
    params: list[click.Parameter] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        typ, is_list = _base_type(hints[f.name])
        meta = f.metadata or {}
        if meta.get("positional"):
            params.append(click.Argument([f.name], nargs=-1 if is_list else 1, type=typ, required=False))
            continue
        flag = "--" + f.name.replace("_", "-")
        names = [flag, meta["short"]] if meta.get("short") else [flag]
        helptext = meta.get("help", "")
        if typ is bool:
            params.append(click.Option([f"{flag}/--no-{flag[2:]}", f.name], default=None, help=helptext))
        elif is_list:
            params.append(
                click.Option([*names, f.name], type=typ, multiple=True, default=None, help=helptext)
            )
        else:
            params.append(
                click.Option([*names, f.name], type=typ, default=None, help=helptext, show_default=False)
            )
    if with_yaml:
        params.append(
            click.Option(["--config", "config_path"], type=str, default=None, help="YAML file of options")
        )

    def callback(**kwargs: Any) -> Any:
        config_path = kwargs.pop("config_path", None)
        overrides = {}
        for k, v in kwargs.items():
            if isinstance(v, tuple):
                v = list(v) if v else None
            overrides[k] = v
        return run(load_config(cls, config_path, overrides))

    return click.Command(name, params=params, callback=callback, help=help)
