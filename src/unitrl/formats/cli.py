"""`unitrl import FORMAT` (benchmark rows -> problems) and `unitrl export [FORMAT]` (problems or samples ->
another tool's file).

import: humaneval | mbpp | humanevalplus | mbppplus | acecode (`unitrl.eval.importers`) and apps |
livecodebench | codecontests (`unitrl.formats.importers`). `--in` is a JSONL/Parquet file or a Hugging
Face dataset id / local dataset folder with `--split` (for the first group the split is written to a
temporary JSONL named after the dataset, which their readers take). export: acecode (the default, so
`unitrl export --problems P --out F` still writes AceCode rows), verl (training parquet), evalplus and
livecodebench (sample files, from `--samples`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from unitrl.config import config_command
from unitrl.errors import UserError

NEW_IMPORTS = ("apps", "livecodebench", "codecontests")
EXPORTS = ("acecode", "verl", "evalplus", "livecodebench")


@dataclass
class ImportConfig:
    format: list[str] = field(
        default_factory=list,
        metadata={
            "positional": True,
            "help": "humaneval | mbpp | humanevalplus | mbppplus | acecode | apps | livecodebench | codecontests",
        },
    )
    input: str | None = field(
        default=None,
        metadata={"help": "the benchmark's JSONL/Parquet file, or a Hugging Face dataset id (--in)"},
    )
    split: str = field(default="train", metadata={"help": "split of a dataset id"})
    generated: bool = field(default=True, metadata={"help": "CodeContests: keep its generated tests"})
    out: str | None = field(default=None, metadata={"help": "problems JSONL to write", "path": "out_file"})


def is_dataset_id(source: str) -> bool:
    """Not a file on disk nor a file name: a Hugging Face dataset id or a local dataset folder."""
    return not Path(source).is_file() and not source.endswith((".jsonl", ".jsonl.gz", ".json", ".parquet"))


def materialize(source: str, split: str, folder: Path) -> str:
    """A dataset split written as JSONL (named after the dataset, so an error names it too), for the
    importers that read files: HumanEval, MBPP, their evalplus versions and AceCode-87K."""
    from unitrl.formats.importers import iter_rows

    path = folder / f"{source.strip('/').replace('/', '__')}[{split}].jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for _, row in iter_rows(source, split):
            fh.write(json.dumps(dict(row), default=str) + "\n")
    return str(path)


def run_import(cfg: ImportConfig) -> dict[str, int]:
    from unitrl.eval.importers import IMPORTERS
    from unitrl.records import write_records

    known = (*IMPORTERS, *NEW_IMPORTS)
    if len(cfg.format) != 1 or cfg.format[0] not in known:
        raise UserError(f"name one format to import: {' | '.join(known)}")
    if not cfg.out:
        raise UserError("--out FILE is required")
    fmt = cfg.format[0]
    if fmt in NEW_IMPORTS:
        from unitrl.formats.importers import load_format

        if not cfg.input:
            raise UserError(f"{fmt} needs its rows: --in FILE.jsonl|FILE.parquet or a dataset id")
        problems = load_format(fmt, cfg.input, cfg.split, include_generated=cfg.generated)
    elif cfg.input and is_dataset_id(cfg.input):
        with tempfile.TemporaryDirectory(prefix="unitrl-import-") as tmp:
            problems = IMPORTERS[fmt](materialize(cfg.input, cfg.split, Path(tmp)))
    else:
        problems = IMPORTERS[fmt](cfg.input)
    write_records(cfg.out, problems)
    stdio = sum(p.is_stdio for p in problems)
    counts = {"problems": len(problems), "stdio": stdio, "assert": len(problems) - stdio,
              "tests": sum(len(p.tests) for p in problems)}  # fmt: skip
    print(
        f"wrote {counts['problems']} problems to {cfg.out}: {counts['assert']} with assert tests, "
        f"{counts['stdio']} with stdin/stdout tests ({counts['tests']} tests)"
    )
    return counts


@dataclass
class ExportConfig:
    format: list[str] = field(
        default_factory=list,
        metadata={"positional": True, "help": "acecode (default) | verl | evalplus | livecodebench"},
    )
    problems: str = field(default="", metadata={"help": "problems JSONL/Parquet"})
    samples: str | None = field(default=None, metadata={"help": "samples JSONL (evalplus, livecodebench)"})
    out: str | None = field(
        default=None,
        metadata={
            "help": "file to write (acecode: acecode_rows.jsonl; verl: a .parquet)",
            "path": "out_file",
        },
    )
    split: str = field(default="train", metadata={"help": "verl: extra_info.split"})
    show_test: bool = field(default=True, metadata={"help": "verl: show the first test in the prompt"})


def run_export(cfg: ExportConfig) -> int:
    from unitrl.formats import export
    from unitrl.records import read_problems, read_samples

    if len(cfg.format) > 1 or (cfg.format and cfg.format[0] not in EXPORTS):
        raise UserError(f"name one format to export: {' | '.join(EXPORTS)}")
    fmt = cfg.format[0] if cfg.format else "acecode"
    if not cfg.problems:
        raise UserError("--problems is required", field="problems")
    problems = read_problems(cfg.problems)
    if fmt == "acecode":
        out = cfg.out or "acecode_rows.jsonl"
        n = export.write_acecode(out, problems)
        print(f"wrote {n} AceCode rows to {out}")
        return n
    if not cfg.out:
        raise UserError("--out FILE is required", field="out")
    if fmt == "verl":
        n = export.write_verl(cfg.out, problems, cfg.split, cfg.show_test)
        print(f"wrote {n} verl rows to {cfg.out}")
        return n
    if not cfg.samples:
        raise UserError(f"{fmt} writes samples: --samples FILE is required", field="samples")
    by_id = {p.task_id: p for p in problems}
    samples = read_samples(cfg.samples)
    write = export.write_evalplus if fmt == "evalplus" else export.write_livecodebench
    n = write(cfg.out, samples, by_id, cfg.samples)
    print(f"wrote {n} {fmt} samples to {cfg.out}")
    return n


import_command = config_command(
    "import",
    ImportConfig,
    run_import,
    help="Convert a HumanEval/MBPP/HumanEval+/AceCode-87K/APPS/LiveCodeBench/CodeContests file to problems.",
)
# `--in FILE` is the documented spelling; `in` cannot be a dataclass field name, so alias it here.
next(p for p in import_command.params if p.name == "input").opts.append("--in")

export_command = config_command(
    "export",
    ExportConfig,
    run_export,
    help="Write problems as AceCode rows (default) or verl parquet, or samples for evalplus/LiveCodeBench.",
)
