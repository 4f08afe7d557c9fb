"""An embedded curriculum a tiny CPU model can learn, written as ordinary Python, and the tiny model for it.

Problems are small typed functions generated from templates: 29 integer and list operations chained 1 to
3 steps, each a documented function such as

    def list_sort_first2_sum(x: list[int]) -> int:
        \"\"\"sort then first 2 then sum\"\"\"
        x = sorted(x)
        x = x[:2]
        x = sum(x)
        return x

`write_corpus` writes a fixed set of them as source files (shipped in `unitrl/data/curriculum/`), the
embedded corpus `unitrl mine` reads in the default pipeline; synth then makes their tests, as for any
mined code. `render` gives the same text as `mine` gives (the prompt is the header and docstring exactly
as `mine` prints them), so the policy sees one format from warm start to evaluation.

Every operation has a confusable partner (add/sub, >/<, keep first/drop first, ...). The warm start trains
on references where each body line's operation is swapped for its partner with probability 0.4, so the
policy starts near 40% pass@1 with errors that are choices among a few options, which RL can fix from test
rewards alone (docs/REFERENCE.md section 8).

The model is a real transformers model: a 2-layer Llama (~0.4M parameters) with a word-level
`tokenizers` tokenizer whose pieces are cut by one regular expression (`PIECES`) and joined back as they
are, so any text made of known pieces round-trips exactly, indentation included.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from unitrl.records import Problem, write_records

CORPUS_DIR = Path(__file__).resolve().parents[1] / "data" / "curriculum"
CORPUS_SIZE, CORPUS_SEED, CORPUS_PER_FILE = 1200, 20240, 50


@dataclass(frozen=True)
class Op:
    name: str
    words: str  # docstring words; K is replaced by the constant
    code: str  # one line of the body; K is replaced by the constant
    src: str  # "int" or "list": the type of x before the line
    dst: str  # the type after
    partner: str  # the confusable operation used by the noisy warm start
    ks: tuple[int, ...] = ()  # constants to draw from; () = no constant


D = tuple(range(1, 10))
OPS = [
    Op("add", "add K", "x = x + K", "int", "int", "sub", D),
    Op("sub", "subtract K", "x = x - K", "int", "int", "add", D),
    Op("mul", "multiply by K", "x = x * K", "int", "int", "div", (2, 3, 4, 5)),
    Op("div", "divide by K", "x = x // K", "int", "int", "mul", (2, 3, 4, 5)),
    Op("mod", "modulo K", "x = x % K", "int", "int", "div", (2, 3, 4, 5)),
    Op("atleast", "at least K", "x = max(x, K)", "int", "int", "atmost", D),
    Op("atmost", "at most K", "x = min(x, K)", "int", "int", "atleast", D),
    Op("square", "square", "x = x * x", "int", "int", "double"),
    Op("double", "double", "x = x + x", "int", "int", "square"),
    Op("negate", "negate", "x = -x", "int", "int", "abs"),
    Op("abs", "absolute value", "x = abs(x)", "int", "int", "negate"),
    Op("reverse", "reverse", "x = x[::-1]", "list", "list", "sort"),
    Op("sort", "sort", "x = sorted(x)", "list", "list", "reverse"),
    Op("sortdesc", "sort descending", "x = sorted(x, reverse=True)", "list", "list", "sort"),
    Op("first", "first K", "x = x[:K]", "list", "list", "dropfirst", (1, 2, 3)),
    Op("dropfirst", "drop first K", "x = x[K:]", "list", "list", "first", (1, 2, 3)),
    Op("last", "last K", "x = x[-K:]", "list", "list", "first", (1, 2, 3)),
    Op("above", "keep above K", "x = [v for v in x if v > K]", "list", "list", "below", D),
    Op("below", "keep below K", "x = [v for v in x if v < K]", "list", "list", "above", D),
    Op("addeach", "add K to each", "x = [v + K for v in x]", "list", "list", "subeach", D),
    Op("subeach", "subtract K from each", "x = [v - K for v in x]", "list", "list", "addeach", D),
    Op("doubleeach", "double each", "x = [v + v for v in x]", "list", "list", "squareeach"),
    Op("squareeach", "square each", "x = [v * v for v in x]", "list", "list", "doubleeach"),
    Op("sum", "sum", "x = sum(x)", "list", "int", "len"),
    Op("len", "length", "x = len(x)", "list", "int", "sum"),
    Op("largest", "largest", "x = max(x, default=0)", "list", "int", "smallest"),
    Op("smallest", "smallest", "x = min(x, default=0)", "list", "int", "largest"),
    Op("countabove", "count above K", "x = len([v for v in x if v > K])", "list", "int", "countbelow", D),
    Op("countbelow", "count below K", "x = len([v for v in x if v < K])", "list", "int", "countabove", D),
]
OPS_BY_NAME = {op.name: op for op in OPS}
ANNOTATION = {"int": "int", "list": "list[int]"}
Chain = list[tuple[str, int | None]]


def _line(op: Op, k: int | None) -> tuple[str, str]:
    kk = str(k) if k is not None else ""
    return op.words.replace("K", kk), op.code.replace("K", kk)


def function_name(src: str, chain: Chain) -> str:
    """A descriptive name (`list_sort_first2_sum`); the type prefix keeps it off builtins like `sum`."""
    return "_".join([src] + [name + (str(k) if k is not None else "") for name, k in chain])


def render(
    src: str, chain: Chain, noise: float = 0.0, rng: random.Random | None = None, name: str = "f"
) -> tuple[str, str]:
    """(prompt, program): the prompt is the header and docstring as `unitrl mine` prints them; the program
    is the whole function. `noise` swaps body lines for their partners (the docstring stays true)."""
    words, lines, typ = [], [], src
    for op_name, k in chain:
        op = OPS_BY_NAME[op_name]
        words.append(_line(op, k)[0])
        typ = op.dst
        if noise and rng is not None and rng.random() < noise:
            partner = OPS_BY_NAME[op.partner]
            pk = k if partner.ks and k in partner.ks else (partner.ks[0] if partner.ks else None)
            op, k = partner, pk
        lines.append(_line(op, k)[1])
    header = f"def {name}(x: {ANNOTATION[src]}) -> {ANNOTATION[typ]}:\n"
    prompt = header + f'    """{" then ".join(words)}"""\n'
    return prompt, prompt + "".join(f"    {line}\n" for line in lines) + "    return x\n"


def random_chain(rng: random.Random) -> tuple[str, Chain]:
    src = rng.choice(["int", "list"])
    chain, typ = [], src
    for _ in range(rng.randint(1, 3)):
        op = rng.choice([o for o in OPS if o.src == typ])
        chain.append((op.name, rng.choice(op.ks) if op.ks else None))
        typ = op.dst
    return src, chain


def random_input(src: str, rng: random.Random) -> str:
    if src == "int":
        return str(rng.randint(-9, 20))
    return str([rng.randint(0, 9) for _ in range(rng.randint(1, 6))])


def generate_problems(
    n: int, seed: int, prefix: str, exclude: set[str] | None = None, named: bool = False
) -> list[Problem]:
    """`n` distinct problems, none of whose prompts is in `exclude`. `named`: descriptive function names
    (the corpus and the warm start); otherwise every function is `f`."""
    rng = random.Random(seed)
    seen = set(exclude or ())
    out: list[Problem] = []
    while len(out) < n:
        src, chain = random_chain(rng)
        name = function_name(src, chain) if named else "f"
        prompt, program = render(src, chain, name=name)
        if prompt in seen:
            continue
        seen.add(prompt)
        out.append(
            Problem(
                task_id=f"{prefix}/{len(out)}",
                prompt=prompt,
                entry_point=name,
                reference=program,
                source="curriculum",
                meta={"src": src, "chain": [list(c) for c in chain]},
            )
        )
    return out


def corpus_problems() -> list[Problem]:
    """The embedded corpus as problems (without tests): what `write_corpus` writes as source."""
    return generate_problems(CORPUS_SIZE, CORPUS_SEED, "corpus", named=True)


def write_corpus(out_dir: str | Path = CORPUS_DIR) -> list[Path]:
    """The embedded corpus as Python modules of `CORPUS_PER_FILE` functions each; returns the paths.

    Regenerate the shipped copy with `python -c "from unitrl.rl.curriculum import write_corpus;
    write_corpus()"` (a test checks that it is in sync)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    problems = corpus_problems()
    paths = []
    for i in range(0, len(problems), CORPUS_PER_FILE):
        chunk = problems[i : i + CORPUS_PER_FILE]
        head = (
            f'"""Curriculum functions {i} to {i + len(chunk) - 1} (generated by unitrl.rl.curriculum)."""\n'
        )
        path = out / f"ops_{i // CORPUS_PER_FILE:02d}.py"
        path.write_text(head + "".join("\n\n" + p.reference for p in chunk))
        paths.append(path)
    return paths


def synthesize_tests(sandbox, problems: list[Problem], n_tests: int, seed: int) -> list[Problem]:
    """Tests from random inputs via the synth engine (the reference runs in the sandbox)."""
    from unitrl.synth.execution import tests_from_inputs

    rng = random.Random(seed)
    inputs: dict[str, list[str]] = {}
    for p in problems:
        seen: list[str] = []
        for _ in range(50):
            if len(seen) == n_tests:
                break
            s = random_input(p.meta["src"], rng)
            if s not in seen:
                seen.append(s)
        inputs[p.task_id] = seen
    tests = tests_from_inputs(sandbox, problems, inputs, timeout=5.0)
    kept = []
    for p in problems:
        p.tests = list(tests.get(p.task_id, []))
        if len(p.tests) >= max(1, n_tests - 1):
            kept.append(p)
    return kept


def build_curriculum(
    out_dir: str | Path, n_train: int, n_rl: int, n_heldout: int, seed: int, sandbox
) -> dict[str, Path]:
    """Write train/rl/heldout problem files (disjoint prompts) with synthesized tests; returns the paths.

    A quick path for tests and benchmarks; the pipeline instead mines the corpus and runs `synth`."""
    out = Path(out_dir)
    paths = {}
    seen: set[str] = set()
    for i, (split, n) in enumerate([("heldout", n_heldout), ("rl", n_rl), ("train", n_train)]):
        problems = generate_problems(n, seed * 1000 + i, f"curriculum-{split}", exclude=seen)
        seen.update(p.prompt for p in problems)
        problems = synthesize_tests(sandbox, problems, n_tests=5, seed=seed * 1000 + 10 + i)
        paths[split] = out / f"{split}.jsonl"
        write_records(paths[split], problems)
    return paths


# --------------------------------------------------------------------------------------- tiny model

SPECIAL = ["<pad>", "<eos>", "<unk>"]
# Newline, one indent, words and single digits (each with an optional leading space), `_`, and runs of
# punctuation: `x = x[:2]` is `x`, ` =`, ` x`, `[:`, `2`, `]`. A line's start `    x =` is one piece.
PIECES = r"\n|    x =|    return x|    | ?[A-Za-z]+| ?\d|_| ?[^\sA-Za-z\d_]+"


def vocabulary() -> list[str]:
    """Every piece of every function the templates can write (each operation, constant and type)."""
    pieces: set[str] = {" f", "_"}
    for op in OPS:
        for k in op.ks or (None,):
            chains: list[Chain] = [[(op.name, k)]]
            chains += [[(op.name, k), (o.name, o.ks[0] if o.ks else None)] for o in OPS if o.src == op.dst]
            for chain in chains:
                text = render(op.src, chain, name=function_name(op.src, chain))[1]
                pieces.update(re.findall(PIECES, text))
    return SPECIAL + sorted(pieces)


def build_curriculum_model(out_dir: str | Path, seed: int = 0, hidden: int = 128, layers: int = 2) -> Path:
    """A ~0.4M-parameter Llama causal LM plus a word-level tokenizer, saved for `from_pretrained`.

    Llama rather than Qwen2: transformers 5 loads any tokenizer saved beside a Qwen2 config as its byte-level
    `Qwen2Tokenizer`, which breaks a word-level vocabulary; beside a Llama config it keeps the saved one.
    """
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(PIECES), behavior="isolated")
    tok.decoder = decoders.Fuse()  # pieces carry their own spaces: join them as they are
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=3 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=160,
        tie_word_embeddings=True,
        bos_token_id=vocab["<eos>"],
        eos_token_id=vocab["<eos>"],
        pad_token_id=vocab["<pad>"],
    )
    model = LlamaForCausalLM(config)
    out = Path(out_dir)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out
