"""Stage configs: one flat dataclass per stage feeds both the CLI flags and an optional YAML file.

`config_command(name, Config, run)` turns a dataclass into a click command: each field becomes a `--flag`
(underscores become dashes; `metadata={"short": "-n"}` adds a short name; `bool` fields become
`--flag/--no-flag`; `list[str]` fields with `metadata={"positional": True}` become positional arguments).
`--config FILE.yaml` loads values first; flags given on the command line win. Every command also gets
`--on-bad-record fail|skip` (unitrl.jsonl), the policy for bad records in the files it reads.

Values are checked at this boundary, from flags and YAML alike, by field metadata: `min`/`max` (with
`min_exclusive`/`max_exclusive`), `multiple_of`, `choices`, `finite` (default True: a float field refuses
nan and inf) and `path` ("out_file": not an existing folder; "out_dir": not an existing file; for both,
no file where a parent folder must be). YAML values must have the field's type: an int field takes an
integer only, a float field an integer or a number (also `1e-4`, which YAML reads as a string), a list
field a list or one value; a mapping where an option expects a value is refused by name. Errors name
the YAML file, line and key (or the flag). `check_values`/`build_config` apply the same checks to values
from elsewhere (the pipeline's YAML sections).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from unitrl.errors import UserError
from unitrl.jsonl import POLICIES, set_bad_record_policy, skipped_records

C = TypeVar("C")
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(python type for click, is_list) from a field annotation like `int | None` or `list[str]`."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is list:
        return (args[0] if args else str), True
    if origin is dict:
        return dict, False
    if args and origin is not None:  # a Union such as `float | None`
        return _base_type(args[0])
    return (annotation if isinstance(annotation, type) else str), False


def _optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _KINDS.get(type(value), type(value).__name__)


def _coerce_one(value: Any, typ: type) -> Any:
    """The value as `typ`, or raise ValueError saying what was expected."""
    if typ is float and isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        return float(value)  # YAML reads `1e-4` (no dot) as a string
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        dict: lambda v: isinstance(v, dict),
    }.get(typ, lambda v: True)
    if not ok(value):
        raise ValueError(f"expected {_KINDS.get(typ, typ.__name__)}, got {_kind(value)}")
    return float(value) if typ is float else value


def _limits(value: Any, meta: dict, is_float: bool) -> None:
    """Raise ValueError when a scalar breaks the field's `min`/`max`/`choices`/`finite` metadata."""
    if "choices" in meta and value not in meta["choices"]:
        raise ValueError(f"must be one of {', '.join(map(str, meta['choices']))}; got {value!r}")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    if is_float and meta.get("finite", True) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value}")
    low, high = meta.get("min"), meta.get("max")
    if low is not None and (value <= low if meta.get("min_exclusive") else value < low):
        raise ValueError(f"must be {'>' if meta.get('min_exclusive') else '>='} {low}, got {value}")
    if high is not None and (value >= high if meta.get("max_exclusive") else value > high):
        raise ValueError(f"must be {'<' if meta.get('max_exclusive') else '<='} {high}, got {value}")
    if meta.get("multiple_of") and value % meta["multiple_of"]:
        raise ValueError(f"must be a multiple of {meta['multiple_of']}, got {value}")


def _path_kind(value: Any, meta: dict) -> None:
    kind = meta.get("path")
    if not kind or not isinstance(value, str) or not value:
        return
    p = Path(value)
    if kind == "out_file" and p.is_dir():
        raise ValueError(f"{value} is a directory; expected a file path to write")
    if kind == "out_dir" and p.exists() and not p.is_dir():
        raise ValueError(f"{value} is a file; expected a folder")
    blocker = next((a for a in p.parents if a.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ValueError(f"cannot write under {blocker}: it is a file, not a folder")


def check_field(f: dataclasses.Field, annotation: Any, value: Any, coerce: bool) -> Any:
    """One field's value, coerced (YAML) or as given (flags), after its metadata checks; ValueError."""
    typ, is_list = _base_type(annotation)
    meta = f.metadata or {}
    if value is None:
        if _optional(annotation):
            return None
        raise ValueError(f"expected {'a list' if is_list else _KINDS.get(typ, typ.__name__)}, got null")
    if is_list:
        items = value if isinstance(value, list | tuple) else [value]
        if isinstance(value, dict):
            raise ValueError("expected a list, got a mapping")
        value = [_coerce_one(v, typ) if coerce else v for v in items]
        for i, v in enumerate(value):
            try:
                _limits(v, meta, typ is float)
            except ValueError as exc:
                raise ValueError(f"item {i + 1}: {exc}") from None
        return value
    if isinstance(value, dict) and typ is not dict:
        what = _KINDS.get(typ, typ.__name__) + (f" ({meta['help']})" if meta.get("help") else "")
        raise ValueError(f"expected {what}, got a mapping: this key is an option, not a section")
    if coerce:
        value = _coerce_one(value, typ)
    _limits(value, meta, typ is float)
    _path_kind(value, meta)
    return value


def check_values(
    cls: type, values: dict[str, Any], *, path: str | None = None, prefix: str = "", lines: dict | None = None
) -> dict[str, Any]:
    """Values for `cls(**...)`, each key known and each value coerced and checked like a YAML file's.

    Errors name `path`, the line from `lines` (key -> line) and the key as `prefix + key`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = str(raw_key).replace("-", "_")
        line = (lines or {}).get(prefix + str(raw_key))
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise UserError(f"unknown option (known: {known})", path=path, line=line, field=prefix + key)
        try:
            out[key] = check_field(fields[key], hints[key], value, coerce=True)
        except ValueError as exc:
            raise UserError(str(exc), path=path, line=line, field=prefix + key) from None
    return out


def build_config(cls: type[C], values: dict[str, Any], **where: Any) -> C:
    """`cls(**values)` after `check_values` (for values that did not come through `load_config`)."""
    return cls(**check_values(cls, values, **where))


def read_yaml(path: str) -> tuple[dict[str, Any], dict[str, int]]:
    """(mapping, key -> line) from a YAML file, or a UserError naming the file (and line).

    Keys of nested mappings get dotted names in the line table (`exec.timeout`)."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise UserError("config file not found", path=str(p))
    if p.is_dir():
        raise UserError("is a directory, expected a YAML file", path=str(p))
    data = p.read_bytes()
    if b"\x00" in data:
        raise UserError("binary file (NUL bytes), expected a YAML file", path=str(p))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError("invalid UTF-8", path=str(p), line=data[: exc.start].count(b"\n") + 1) from None
    try:
        loaded = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise UserError(
            f"malformed YAML: {reason}", path=str(p), line=mark.line + 1 if mark else None
        ) from None
    except RecursionError:
        raise UserError("malformed YAML: nested too deeply", path=str(p)) from None
    except ValueError as exc:  # e.g. an integer over Python's 4,300-digit conversion limit
        raise UserError(f"unusable YAML value: {str(exc).split(':')[0]}", path=str(p)) from None
    if loaded is None:
        return {}, {}
    if not isinstance(loaded, dict):
        raise UserError(f"expected a mapping of option names to values, got {_kind(loaded)}", path=str(p))
    return loaded, _key_lines(node)


def _key_lines(node: Any, prefix: str = "", depth: int = 0) -> dict[str, int]:
    import yaml

    lines: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode) or depth > 1:
        return lines
    for key_node, value_node in node.value:
        key = f"{prefix}{key_node.value}"
        lines[key] = key_node.start_mark.line + 1
        lines.update(_key_lines(value_node, key + ".", depth + 1))
    return lines


def load_config(cls: type[C], yaml_path: str | None = None, overrides: dict[str, Any] | None = None) -> C:
    """A config from defaults, then a YAML file, then explicit overrides (flags), all checked."""
    values: dict[str, Any] = {}
    if yaml_path:
        loaded, lines = read_yaml(yaml_path)
        values = check_values(cls, loaded, path=yaml_path, lines=lines)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        try:
            values[key] = check_field(fields[key], hints[key], value, coerce=False)
        except ValueError as exc:
            raise UserError(str(exc), field="--" + key.replace("_", "-")) from None
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


def _help(meta: dict) -> str:
    """The field's help text plus its constraints, so `--help` shows what a check will refuse."""
    parts = []
    if "choices" in meta:
        parts.append(" | ".join(map(str, meta["choices"])))
    if meta.get("min") is not None:
        parts.append(f"{'>' if meta.get('min_exclusive') else '>='} {meta['min']}")
    if meta.get("max") is not None:
        parts.append(f"{'<' if meta.get('max_exclusive') else '<='} {meta['max']}")
    if meta.get("multiple_of"):
        parts.append(f"a multiple of {meta['multiple_of']}")
    text = meta.get("help", "")
    return f"{text} [{', '.join(parts)}]" if parts else text


def _params(cls: type) -> list[click.Parameter]:
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
        if typ is bool:
            params.append(click.Option([f"{flag}/--no-{flag[2:]}", f.name], default=None, help=_help(meta)))
        else:
            params.append(
                click.Option([*names, f.name], type=typ, multiple=is_list, default=None, help=_help(meta))
            )
    return params


def config_command(
    name: str, cls: type[C], run: Callable[[C], Any], help: str, with_yaml: bool = True
) -> click.Command:
    """A click command whose options are the fields of `cls`; it calls `run(config)`."""
    params = _params(cls)
    for param, f in zip(params, dataclasses.fields(cls)):  # options default to None (YAML may set them),
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if isinstance(param, click.Option) and value not in ("", None, []):  # so the help names the real one
            flag = f.name.replace("_", "-")
            shown = {True: f"--{flag}", False: f"--no-{flag}"}.get(value) if isinstance(value, bool) else None
            shown = shown or (" ".join(map(str, value)) if isinstance(value, list) else str(value))
            param.help = f"{param.help}  [default: {shown}]"
    if with_yaml:
        params.append(
            click.Option(["--config", "config_path"], type=str, default=None, help="YAML file of options")
        )
    params.append(
        click.Option(
            ["--on-bad-record"],
            type=click.Choice(POLICIES),
            default=None,
            help="a bad record in an input file: fail (default) or skip it with a message on stderr",
        )
    )

    def callback(**kwargs: Any) -> Any:
        config_path = kwargs.pop("config_path", None)
        policy = kwargs.pop("on_bad_record", None) or "fail"
        overrides = {k: (list(v) or None) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        cfg = load_config(cls, config_path, overrides)
        set_bad_record_policy(policy)
        try:
            return run(cfg)
        finally:
            skipped = skipped_records()
            set_bad_record_policy("fail")  # in-process callers (tests, the pipeline) start clean
            if skipped:
                print(f"skipped {skipped} bad record(s) in all (--on-bad-record skip)", file=sys.stderr)

    return click.Command(name, params=params, callback=callback, help=help)
