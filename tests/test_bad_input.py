"""Every bad input gets one clear error. A table of bad files x every command that reads files, run
through `unitrl.cli.main` in-process: each case must exit 2 with an `error:` line naming the file (and
the line and field where they apply), print no traceback, and leave no output behind. Then bad option
values from flags and YAML, pipeline YAMLs, the `--on-bad-record skip` policy, and the last line of
defence for a bug (exit 3, traceback in a file). Commands that load torch get fewer file cases.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from unitrl.cli import main

# ------------------------------------------------------------------------------------------ good rows

PROBLEMS = [
    {"task_id": f"t/{i}", "prompt": "def f(x):\n", "entry_point": "f", "tests": ["assert f(1) == 2"]}
    for i in range(2)
]
SAMPLES = [
    {"task_id": f"t/{i}", "sample_id": j, "completion": f"    return x + {j + 1}\n"}
    for i in range(2)
    for j in range(2)
]
RESULTS = [
    {"task_id": f"t/{i}", "sample_id": j, "passed": j == 0, "pass_rate": 1.0 if j == 0 else 0.0,
     "status": "pass" if j == 0 else "fail", "tests": [{"status": "pass" if j == 0 else "fail"}]}
    for i in range(2) for j in range(2)
]  # fmt: skip
SCORES = [{"task_id": f"t/{i}", "sample_id": j, "score": 0.5 - j} for i in range(2) for j in range(2)]
PAIRS = [
    {"task_id": f"t/{i}", "prompt": "p", "chosen": "a", "rejected": "b", "chosen_id": 0, "rejected_id": 1,
     "chosen_pass_rate": 1.0, "rejected_pass_rate": 0.0, "margin": 1.0}
    for i in range(2)
]  # fmt: skip
SNIPPETS = [{"content": "def double(x):\n    return 2 * x\n"} for _ in range(2)]
ACECODE = [
    {"id": f"a{i}", "question": "Double x.", "test_cases": ["assert double(1) == 2"]} for i in range(2)
]
GOOD = {
    "problems": PROBLEMS, "samples": SAMPLES, "results": RESULTS, "scores": SCORES, "pairs": PAIRS,
    "snippets": SNIPPETS, "acecode": ACECODE,
}  # fmt: skip
RECORD_KINDS = {"problems", "samples", "results", "scores", "pairs"}


def jsonl(rows: list) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def first_then(kind: str, line2: bytes) -> bytes:
    """One good row, then the bad line 2."""
    return jsonl(GOOD[kind][:1]) + line2 + b"\n"


def with_row(kind: str, **change) -> bytes:
    row = {k: v for k, v in GOOD[kind][1].items() if k not in change or change[k] is not DROP}
    row.update({k: v for k, v in change.items() if v is not DROP})
    return jsonl(GOOD[kind][:1]) + json.dumps(row).encode() + b"\n"


DROP = object()

# ------------------------------------------------------------------------------------------ bad files
# (case, suffix, content or a marker, line, field, regex the error must match). Bad lines are line 2.

MISSING, DIRECTORY = "<missing>", "<directory>"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256)) * 4


def generic_cases(kind: str) -> list[tuple]:
    cases = [
        ("missing", ".jsonl", MISSING, None, None, "file not found|no such file"),
        ("directory", ".jsonl", DIRECTORY, None, None, "is a directory"),
        ("binary", ".jsonl", PNG, None, None, "binary file"),
        ("invalid-utf8", ".jsonl", first_then(kind, b'{"task_id": "caf\xe9"}'), 2, None, "invalid UTF-8"),
        ("malformed-json", ".jsonl", first_then(kind, b'{"task_id": '), 2, None, "malformed JSON"),
        ("5000-digit-int", ".jsonl", first_then(kind, b'{"x": ' + b"7" * 5000 + b"}"), 2, None, "integer"),
        ("nested-100k", ".jsonl", first_then(kind, b"[" * 100_000), 2, None, "nested too deeply"),
        ("nested-500", ".jsonl", first_then(kind, b"[" * 500 + b"]" * 500), 2, None, "nested too deeply"),
        ("lone-surrogate", ".jsonl", first_then(kind, b'{"task_id": "\\udc80"}'), 2, None, "surrogate"),
        ("not-gzip", ".jsonl.gz", jsonl(GOOD[kind]), None, None, "gzip"),
        ("truncated-gzip", ".jsonl.gz", gzip.compress(jsonl(GOOD[kind]) * 50)[:60], None, None, "gzip"),
        ("not-parquet", ".parquet", jsonl(GOOD[kind]), None, None, "Parquet"),
    ]
    if kind in RECORD_KINDS:
        cases += [
            ("empty", ".jsonl", b"", None, None, "no .* records"),
            ("blank-lines", ".jsonl", b"\n  \n\t\n", None, None, "no .* records"),
            ("array-line", ".jsonl", first_then(kind, b"[1, 2]"), 2, None, "expected a JSON object"),
            ("unknown-field", ".jsonl", with_row(kind, colour=1), 2, "colour", "unknown field"),
            ("missing-task-id", ".jsonl", with_row(kind, task_id=DROP), 2, "task_id", "missing"),
            ("task-id-int", ".jsonl", with_row(kind, task_id=7), 2, "task_id", "expected a string"),
            ("task-id-empty", ".jsonl", with_row(kind, task_id=" "), 2, "task_id", "empty"),
        ]
    return cases


SPECIFIC = {
    "problems": [
        ("tests-not-list", with_row("problems", tests="assert f(1) == 2"), 2, "tests", "expected a list"),
        ("test-syntax-error", with_row("problems", tests=["assert 1", "assert 2", "x = 1", "assert f(1 =="]),
         2, "tests[3]", "does not compile"),
        ("test-not-str", with_row("problems", tests=["assert 1", 5]), 2, "tests[1]", "expected a test string"),
        ("tests-mixed", with_row("problems", tests=[{"stdin": "", "stdout": "1"}, "assert 1"]), 2, "tests[1]",
         "stdout"),
        ("stdio-no-stdout", with_row("problems", tests=[{"stdin": "1"}]), 2, "tests[0].stdout", "missing"),
        ("stdio-int-stdout", with_row("problems", tests=[{"stdout": 1}]), 2, "tests[0].stdout", "string"),
        ("meta-list", with_row("problems", meta=[1]), 2, "meta", "expected an object"),
        ("prompt-null", with_row("problems", prompt=None), 2, "prompt", "expected a string"),
        ("entry-point-bad", with_row("problems", entry_point="f(x)"), 2, "entry_point", "not a Python name"),
        ("duplicate-task-id", with_row("problems", task_id="t/0"), 2, "task_id", "duplicate .*first on line 1"),
    ],
    "samples": [
        ("duplicate-sample-id", with_row("samples", task_id="t/0", sample_id=0), 2, "sample_id",
         "duplicate sample_id .*first on line 1"),
        ("int-and-str-id", with_row("samples", task_id="t/0", sample_id="0"), 2, "sample_id",
         "duplicate sample_id '0'.*compare as strings.*first on line 1"),
        ("sample-id-bool", with_row("samples", sample_id=True), 2, "sample_id", "got a boolean"),
        ("sample-id-float", with_row("samples", sample_id=1.5), 2, "sample_id", "got a number"),
        ("no-program", with_row("samples", completion=DROP), 2, "completion", "needs a 'completion'"),
        ("completion-int", with_row("samples", completion=3), 2, "completion", "expected a string"),
        ("meta-string", with_row("samples", meta="x"), 2, "meta", "expected an object"),
    ],
    "results": [
        ("pass-rate-7.5", with_row("results", pass_rate=7.5), 2, "pass_rate", r"in \[0, 1\]"),
        ("pass-rate-nan", first_then("results", json.dumps(dict(RESULTS[1], pass_rate=0)).replace(
            '"pass_rate": 0', '"pass_rate": NaN').encode()), 2, "pass_rate", "NaN|nan"),
        ("pass-rate-str", with_row("results", pass_rate="1"), 2, "pass_rate", "expected a number"),
        ("passed-str", with_row("results", passed="yes"), 2, "passed", "true or false"),
        ("passed-but-rate", with_row("results", passed=True, pass_rate=0.5), 2, "pass_rate", "passed is true"),
        ("status-unknown", with_row("results", status="banana"), 2, "status", "unknown value"),
        ("test-status", with_row("results", tests=[{"status": "ok"}]), 2, "tests[0].status", "unknown value"),
        ("test-duration", with_row("results", tests=[{"status": "fail", "duration": -1}]), 2,
         "tests[0].duration", r"in \[0"),
        ("duplicate-result", with_row("results", task_id="t/0", sample_id=0), 2, "sample_id", "duplicate"),
    ],
    "scores": [
        ("score-nan", first_then("scores", b'{"task_id": "t/1", "sample_id": 0, "score": NaN}'), 2, "score",
         "finite"),
        ("score-inf", first_then("scores", b'{"task_id": "t/1", "sample_id": 0, "score": -Infinity}'), 2,
         "score", "finite"),
        ("score-1e999", first_then("scores", b'{"task_id": "t/1", "sample_id": 0, "score": 1e999}'), 2,
         "score", "finite"),
        ("score-str", with_row("scores", score="high"), 2, "score", "expected a number"),
    ],
    "pairs": [
        ("margin-negative", with_row("pairs", margin=-0.5), 2, "margin", r"in \[0, 1\]"),
        ("chosen-rate-1.5", with_row("pairs", chosen_pass_rate=1.5), 2, "chosen_pass_rate", r"in \[0, 1\]"),
        ("chosen-int", with_row("pairs", chosen=1), 2, "chosen", "expected a string"),
    ],
    "acecode": [("tests-not-list", with_row("acecode", test_cases="assert 1"), 2, "test_cases", "expected")],
}  # fmt: skip

# command -> (argv with {slot} placeholders, {slot: kind}, output path under OUT, torch-loading)
COMMANDS = {
    "exec": ("exec --problems {problems} --samples {samples} --out {out}/r.jsonl", {}, False),
    "eval": ("eval --problems {problems} --samples {samples} --out-dir {out}", {}, False),
    "pairs": ("pairs --problems {problems} --samples {samples} --results {results} --out {out}/p.jsonl", {},
              False),
    "select-hard": ("select-hard --problems {problems} --results {results} --samples {samples} "
                    "--out {out}/h.jsonl", {}, False),
    "bon": ("bon --samples {samples} --results {results} --scores {scores} --out {out}", {}, False),
    "synth": ("synth --problems {problems} --out {out}/s.jsonl --mutants 0", {}, False),
    "export": ("export --problems {problems} --out {out}/a.jsonl", {}, False),
    "mine": ("mine {snippets} --out {out}/m.jsonl --no-dynamic", {}, False),
    "import": ("import acecode --in {acecode} --out {out}/i.jsonl", {}, False),
    "score": ("score --model {out}/no-model --problems {problems} --samples {samples} --out {out}/c.jsonl",
              {}, True),
    "train-rm": ("train-rm --pairs {pairs} --model {out}/no-model --out {out}", {}, True),
    "sample": ("sample --problems {problems} --model {out}/no-model --out {out}/x.jsonl", {}, True),
    "rl": ("rl --problems {problems} --eval-problems {eval_problems} --model {out}/no-model --out {out}", {},
           True),
}  # fmt: skip
SLOT_KIND = {"eval_problems": "problems"}
# Torch-loading commands get this subset of the generic cases (each case still runs in-process).
FEW = {"malformed-json", "invalid-utf8", "directory", "empty", "5000-digit-int", "duplicate-task-id",
       "duplicate-sample-id", "margin-negative", "test-syntax-error"}  # fmt: skip
# Known: `unitrl rl` writes RUN_DIR/config.yaml before it reads its inputs (rl/trainer.py, not ours).
MAY_LEAVE = {"rl": {"config.yaml"}}


def slots(command: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", COMMANDS[command][0].replace("{out}", ""))


def build_cases() -> list:
    cases = []
    for command, (_, _, heavy) in COMMANDS.items():
        for slot in slots(command):
            kind = SLOT_KIND.get(slot, slot)
            table = [(c[0], c[1], c[2], c[3], c[4], c[5]) for c in generic_cases(kind)]
            table += [(c[0], ".jsonl", c[1], c[2], c[3], c[4]) for c in SPECIFIC.get(kind, [])]
            if command == "mine":  # a folder is a legitimate corpus for mine
                table = [c for c in table if c[2] is not DIRECTORY]
            if heavy:
                table = [c for c in table if c[0] in FEW]
            cases += [pytest.param(command, slot, *c, id=f"{command}-{slot}-{c[0]}") for c in table]
    return cases


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out + out.err


def write_inputs(tmp_path: Path, command: str) -> dict[str, str]:
    paths = {}
    for slot in slots(command):
        p = tmp_path / f"{slot}.jsonl"
        p.write_bytes(jsonl(GOOD[SLOT_KIND.get(slot, slot)]))
        paths[slot] = str(p)
    return paths


def assert_refused(
    code: int, text: str, path: str, line, field, pattern, out_dir: Path, command: str
) -> None:
    assert "Traceback" not in text, text[-2000:]
    assert code == 2, text[-2000:]
    errors = [x for x in text.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, text[-2000:]
    where = re.escape(path) + (f":{line}:" if line else ":")
    assert re.search(where, errors[0]), errors[0]
    if field:
        assert f"field '{field}'" in errors[0], errors[0]
    assert re.search(pattern, errors[0]), errors[0]
    left = {p.name for p in out_dir.rglob("*")} if out_dir.exists() else set()
    assert left <= MAY_LEAVE.get(command, set()), left


@pytest.mark.parametrize("command, slot, case, suffix, content, line, field, pattern", build_cases())
def test_bad_file_is_one_clear_error(
    tmp_path, capsys, command, slot, case, suffix, content, line, field, pattern
):
    paths = write_inputs(tmp_path, command)
    bad = tmp_path / f"bad-{slot}{suffix}"
    if content is DIRECTORY:
        bad.mkdir()
    elif content is not MISSING:
        bad.write_bytes(content)
    paths[slot] = str(bad)
    out = tmp_path / "out"
    argv = COMMANDS[command][0].format(out=out, **paths).split()
    code, text = run_cli(argv, capsys)
    assert_refused(code, text, str(bad), line, field, pattern, out, command)


def test_the_table_is_large():
    assert len(build_cases()) >= 200


# ------------------------------------------------------------------------------------------ options

OPTION_CASES = [
    ("exec --timeout 0", "--timeout", "must be > 0"),
    ("exec --timeout -1", "--timeout", "must be > 0"),
    ("exec --timeout nan", "--timeout", "finite"),
    ("exec --timeout inf", "--timeout", "finite"),
    ("exec --memory-mb -1", "--memory-mb", ">= 16"),
    ("exec --workers -1", "--workers", ">= 0"),
    ("exec --chunk 0", "--chunk", ">= 1"),
    ("exec --isolation full", "--isolation", "one of auto, none"),
    ("eval --k -1", "--k", ">= 1"),
    ("eval --k 1 --k 0", "--k", "item 2"),
    ("eval --memory-mb 1", "--memory-mb", ">= 16"),
    ("pairs --min-gap -0.1", "--min-gap", ">= 0"),
    ("pairs --min-chosen 1.5", "--min-chosen", "<= 1"),
    ("pairs --max-per-task -1", "--max-per-task", ">= 0"),
    ("pairs --format csv", "--format", "one of"),
    ("sample -n -1", "--n", ">= 0"),
    ("sample --temperature -1", "--temperature", ">= 0"),
    ("sample --top-p 0", "--top-p", "> 0"),
    ("sample --backend tgi", "--backend", "one of"),
    ("synth --timeout 0", "--timeout", "> 0"),
    ("synth --engine magic", "--engine", "one of"),
    ("synth --decontam-threshold 2", "--decontam-threshold", "<= 1"),
    ("mine --limit -1", "--limit", ">= 0"),
    ("mine --seed -1", "--seed", ">= 0"),
    ("bon --trials 0", "--trials", ">= 1"),
    ("score --batch-size 0", "--batch-size", ">= 1"),
    ("train-rm --learning-rate 0", "--learning-rate", "> 0"),
    ("train-rm --eval-fraction 1", "--eval-fraction", "< 1"),
    ("rl --algo dpo", "--algo", "one of"),
    ("rl --gamma 2", "--gamma", "<= 1"),
    ("rl --test-timeout 0", "--test-timeout", "> 0"),
    ("rl --lr nan", "--lr", "finite"),
    ("tiny-model --hidden-size 50", "--hidden-size", "multiple of 16"),
    ("demo --timeout -3", "--timeout", "> 0"),
]


@pytest.mark.parametrize("argv, flag, pattern", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_bad_option_is_refused_before_running(capsys, argv, flag, pattern):
    code, text = run_cli(argv.split(), capsys)
    assert code == 2 and "Traceback" not in text, text
    assert re.search(rf"^error: field '{flag}': .*{pattern}", text, re.M), text


def test_out_path_that_is_a_folder_or_under_a_file(tmp_path, capsys):
    code, text = run_cli(["exec", "--out", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in text and "field '--out'" in text, text
    blocker = tmp_path / "f"
    blocker.write_text("")
    code, text = run_cli(["bon", "--out", str(blocker / "sub")], capsys)
    assert code == 2 and f"cannot write under {blocker}: it is a file" in text, text
    code, text = run_cli(["eval", "--out-dir", str(blocker)], capsys)
    assert code == 2 and "is a file; expected a folder" in text, text


def test_writers_refuse_a_folder_or_a_file_in_the_way(tmp_path):
    from unitrl.errors import UserError
    from unitrl.records import write_records, write_text_atomic

    with pytest.raises(UserError, match="is a directory"):
        write_records(tmp_path, [])
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match="cannot create the folder"):
        write_text_atomic(tmp_path / "f" / "x.json", "{}")


@pytest.mark.parametrize("make", ["missing", "folder"])
def test_config_file_missing_or_a_folder(tmp_path, capsys, make):
    cfg = tmp_path / "c.yaml"
    if make == "folder":
        cfg.mkdir()
    code, text = run_cli(["exec", "--config", str(cfg)], capsys)
    assert code == 2 and re.search(
        rf"^error: {re.escape(str(cfg))}: (config file not found|is a dir)", text, re.M
    )


def test_hostile_prompts_are_not_code_and_do_not_crash():
    from unitrl.records import Problem, Sample

    for prompt in ["(" * 300, "-" * 200_000 + "1", "x = 1\x00"]:
        program = Sample("t", 0, completion="def f():\n    return 1\n").program(Problem("t", prompt))
        assert program == "def f():\n    return 1\n"


YAML_CASES = [
    (b'timeout: "abc"\n', 1, "timeout", "expected a number, got a string"),
    (b"workers: 1\ntimeout: .nan\n", 2, "timeout", "finite"),
    (b"memory_mb: -1\n", 1, "memory_mb", ">= 16"),
    (b"workers: 1.5\n", 1, "workers", "expected an integer"),
    (b"workers: '2'\n", 1, "workers", "expected an integer, got a string"),
    (b"isolation: [auto]\n", 1, "isolation", "expected a string, got a list"),
    (b"timeout:\n  cpu: 3\n", 1, "timeout", "got a mapping: this key is an option, not a section"),
    (b"plot: 1\n", 1, "plot", "true or false"),
    (b"colour: red\n", 1, "colour", "unknown option"),
    (b"timeout: 0\n", 1, "timeout", "> 0"),
    (b"timeout: [1\n", 2, None, "malformed YAML"),
    (b"- 1\n- 2\n", None, None, "expected a mapping"),
    (b"timeout: 1\nworkers: \xff\n", 2, None, "invalid UTF-8"),
    (PNG, None, None, "binary file"),
    (b"workers: " + b"9" * 5000 + b"\n", None, None, "unusable YAML value"),
    (b"workers: " + b"[" * 5000 + b"\n", None, None, "nested too deeply"),
]


@pytest.mark.parametrize(
    "text, line, key, pattern", YAML_CASES, ids=[f"yaml{i}" for i in range(len(YAML_CASES))]
)
def test_bad_yaml_names_file_line_and_key(tmp_path, capsys, text, line, key, pattern):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(text)
    code, out = run_cli(["exec", "--config", str(cfg), "--out", str(tmp_path / "o.jsonl")], capsys)
    assert code == 2 and "Traceback" not in out, out
    where = re.escape(str(cfg)) + (f":{line}:" if line else ":")
    assert re.search(rf"^error: {where}", out, re.M), out
    if key:
        assert f"field '{key}'" in out, out
    assert re.search(pattern, out), out


def test_yaml_number_written_without_a_dot_is_a_number(tmp_path):
    from unitrl.config import load_config
    from unitrl.sandbox.cli import ExecConfig

    cfg = tmp_path / "c.yaml"
    cfg.write_text("timeout: 5e-1\n")  # YAML 1.1 reads this as a string
    assert load_config(ExecConfig, str(cfg)).timeout == 0.5


STAGE_CONFIGS = [
    "unitrl.sandbox.cli:ExecConfig", "unitrl.eval.cli:EvalConfig",
    "unitrl.formats.cli:ImportConfig", "unitrl.formats.cli:ExportConfig",
    "unitrl.mine.cli:MineConfig", "unitrl.synth.cli:SynthConfig",
    "unitrl.sample.cli:SampleConfig", "unitrl.models.cli:TinyModelConfig", "unitrl.prefs.cli:PairsConfig",
    "unitrl.prefs.cli:SelectHardConfig", "unitrl.rm.cli:ScoreConfig", "unitrl.rm.cli:BonConfig",
    "unitrl.rm.train:TrainRMConfig", "unitrl.pipeline.demo:DemoConfig", "unitrl.pipeline.steps:CurriculumConfig",
    "unitrl.pipeline.steps:PolicyConfig", "unitrl.pipeline.steps:RewardBaseConfig", "unitrl.rl.config:RLConfig",
    "unitrl.pipeline.plan:PipelineConfig",
]  # fmt: skip


@pytest.mark.parametrize("spec", STAGE_CONFIGS)
def test_every_stage_default_passes_its_own_checks(spec):
    import dataclasses
    import importlib

    from unitrl.config import check_values

    module, name = spec.split(":")
    cls = getattr(importlib.import_module(module), name)
    values = {k: v for k, v in dataclasses.asdict(cls()).items() if k != "sections"}
    assert check_values(cls, values) == values


PIPELINE_CASES = [
    (b"policy_model:\n  steps: 3\n", 1, "policy_model", "expected a string"),
    (b"policy:\n  steps: -3\n", 2, "policy.steps", ">= "),
    (b"seed: abc\n", 1, "seed", "expected an integer"),
    (b"workers: -1\n", 1, "workers", ">= 0"),
    (b"exec:\n  timeout: 0\n", 2, "exec.timeout", "> 0"),
    (b"exec:\n  timeout: x\n", 2, "exec.timeout", "expected a number"),
    (b"rl:\n  gamma: 2\n", 2, "rl.gamma", "<= 1"),
    (b"sample:\n  temperature: -1\n", 2, "sample.temperature", ">= 0"),
    (b"exec:\n  bogus: 1\n", 2, "exec.bogus", "unknown option"),
    (b"exec: 3\n", 1, "exec", "must be a mapping"),
    (b"nosuch: {}\n", 1, "nosuch", "unknown stage"),
    (b"seed: [\n", None, None, "malformed YAML"),
    (PNG, None, None, "binary file"),
    (b"seed: 1\nout_dir: \xfe\n", 2, None, "invalid UTF-8"),
]


@pytest.mark.parametrize(
    "text, line, key, pattern", PIPELINE_CASES, ids=[f"run{i}" for i in range(len(PIPELINE_CASES))]
)
def test_bad_pipeline_yaml_fails_before_any_stage(tmp_path, capsys, text, line, key, pattern):
    cfg = tmp_path / "p.yaml"
    cfg.write_bytes(text)
    out_dir = tmp_path / "run"
    # `--only` names no stage: should the YAML check ever regress, this fails fast instead of running.
    code, out = run_cli(["run", str(cfg), "--out-dir", str(out_dir), "--only", "no-such-stage"], capsys)
    assert code == 2 and "Traceback" not in out, out
    where = re.escape(str(cfg)) + (f":{line}:" if line else ":")
    assert re.search(rf"^error: {where}", out, re.M), out
    if key:
        assert f"field '{key}'" in out, out
    assert re.search(pattern, out), out
    assert not out_dir.exists()


def test_pipeline_yaml_that_is_a_folder(tmp_path, capsys):
    code, out = run_cli(["run", str(tmp_path), "--only", "no-such-stage"], capsys)
    assert code == 2 and re.search(r"^error: .*is a directory", out, re.M), out


# ------------------------------------------------------------------------------------------ policies


def test_skip_reports_each_bad_record_and_drops_it_whole(tmp_path, capsys):
    paths = write_inputs(tmp_path, "pairs")
    results = tmp_path / "results.jsonl"
    rows = [dict(r) for r in RESULTS]
    rows[1]["pass_rate"] = 7.5  # line 2
    rows[3]["pass_rate"] = 0.5  # a rejected program must pass some tests (min_rejected is strict)
    rows.append(dict(RESULTS[0], sample_id="0"))  # line 5: duplicate of line 1
    results.write_bytes(jsonl(rows) + b"\xff\n")  # line 6: invalid UTF-8
    out = tmp_path / "p.jsonl"
    argv = ["pairs", "--problems", paths["problems"], "--samples", paths["samples"], "--results", str(results),
            "--out", str(out), "--min-gap", "0.1", "--on-bad-record", "skip"]  # fmt: skip
    code, text = run_cli(argv, capsys)
    assert code == 0, text
    assert f"skipped: {results}:2: field 'pass_rate'" in text
    assert re.search(rf"skipped: {re.escape(str(results))}:5: field 'sample_id': .*first on line 1", text)
    assert f"skipped: {results}:6: invalid UTF-8" in text
    assert "skipped 3 bad record(s) in all" in text
    pairs = [json.loads(x) for x in out.read_text().splitlines()]
    # t/0 lost its failing sample (line 2), so only t/1 still has a chosen/rejected pair.
    assert [p["task_id"] for p in pairs] == ["t/1"]


def test_skip_still_fails_when_nothing_is_left_or_the_file_is_unreadable(tmp_path, capsys):
    paths = write_inputs(tmp_path, "export")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"{\n[]\n")
    argv = ["export", "--problems", str(bad), "--out", str(tmp_path / "a.jsonl"), "--on-bad-record", "skip"]
    code, text = run_cli(argv, capsys)
    assert code == 2 and "no Problem records in the file (2 bad record(s) skipped)" in text, text
    argv[2] = str(tmp_path)
    code, text = run_cli(argv, capsys)
    assert code == 2 and "is a directory" in text, text
    argv[2] = paths["problems"]
    assert run_cli(argv, capsys)[0] == 0  # the policy does not leak into the next command
    code, text = run_cli(argv[:-2] + ["--out", str(tmp_path / "b.jsonl")], capsys)
    assert code == 0 and "skipped" not in text


def test_a_50mb_line_is_fine(tmp_path, capsys):
    paths = write_inputs(tmp_path, "export")
    big = dict(PROBLEMS[1], meta={"blob": "x" * 50_000_000})
    Path(paths["problems"]).write_bytes(jsonl([PROBLEMS[0], big]))
    code, text = run_cli(
        ["export", "--problems", paths["problems"], "--out", str(tmp_path / "a.jsonl")], capsys
    )
    assert code == 0, text[-500:]
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2


# ------------------------------------------------------------------------------------------ last resort


def test_an_unexpected_exception_is_one_line_and_exit_3(tmp_path, monkeypatch, capsys):
    (tmp_path / "boom_cmd.py").write_text(
        "import click\n\n@click.command()\ndef boom():\n    {}['missing key']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from unitrl import cli

    monkeypatch.setitem(cli.COMMANDS, "boom", ("boom_cmd", "boom", "raises a bug"))
    code, text = run_cli(["boom"], capsys)
    assert code == 3, text
    match = re.fullmatch(r"internal error: KeyError: 'missing key' \(traceback in (\S+)\)\n", text)
    assert match, text
    trace = Path(match.group(1))
    try:
        assert "Traceback" in trace.read_text() and "boom_cmd.py" in trace.read_text()
    finally:
        trace.unlink()


def test_the_installed_entry_point_prints_one_line(tmp_path):
    bad = tmp_path / "p.jsonl"
    bad.write_bytes(b'{"task_id": "a", "prompt": "", "tests": ["assert (1"]}\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "unitrl",
            "export",
            "--problems",
            str(bad),
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad}:1: field 'tests[0]': does not compile: '(' was never closed (line 1)"
    ]
