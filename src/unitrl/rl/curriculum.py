"""An embedded curriculum a tiny CPU model can learn, and the tiny word-level model for it.

Problems are small function-writing tasks generated from templates: 29 integer and list operations
chained 1 to 3 steps ("list : sort then first 2 then sum"), each with a reference program
(`def f ( x ) : \\n x = sorted ( x ) \\n ...`). Inputs are drawn at random; the expected outputs and the
`assert` tests are synthesized by our own synth engine, which runs the reference in the sandbox
(`unitrl.synth.execution.tests_from_inputs`), exactly as for mined code.

Every operation has a confusable partner (add/sub, >/<, keep first/drop first, ...). The warm start trains
on references where each line's operation is swapped for its partner with probability 0.4, so the policy
starts near 40% pass@1 with errors that are choices among a few options, which RL can fix from test
rewards alone (REFERENCE.md section 8).

The model is a real transformers model: a 2-layer Llama (~0.4M parameters) with a word-level
`tokenizers` tokenizer over the template language. Tokens are separated by single spaces, so decoding
joins them with spaces and a body line after the `\\n` token is indented by one space: valid Python.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from unitrl.records import Problem, write_records


@dataclass(frozen=True)
class Op:
    name: str
    words: str  # prompt words; K is replaced by the constant
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
    Op("atleast", "at least K", "x = max ( x , K )", "int", "int", "atmost", D),
    Op("atmost", "at most K", "x = min ( x , K )", "int", "int", "atleast", D),
    Op("square", "square", "x = x * x", "int", "int", "double"),
    Op("double", "double", "x = x + x", "int", "int", "square"),
    Op("negate", "negate", "x = - x", "int", "int", "abs"),
    Op("abs", "absolute value", "x = abs ( x )", "int", "int", "negate"),
    Op("reverse", "reverse", "x = x [ : : - 1 ]", "list", "list", "sort"),
    Op("sort", "sort", "x = sorted ( x )", "list", "list", "reverse"),
    Op("sortdesc", "sort descending", "x = sorted ( x , reverse = True )", "list", "list", "sort"),
    Op("first", "first K", "x = x [ : K ]", "list", "list", "dropfirst", (1, 2, 3)),
    Op("dropfirst", "drop first K", "x = x [ K : ]", "list", "list", "first", (1, 2, 3)),
    Op("last", "last K", "x = x [ - K : ]", "list", "list", "first", (1, 2, 3)),
    Op("above", "keep above K", "x = [ v for v in x if v > K ]", "list", "list", "below", D),
    Op("below", "keep below K", "x = [ v for v in x if v < K ]", "list", "list", "above", D),
    Op("addeach", "add K to each", "x = [ v + K for v in x ]", "list", "list", "subeach", D),
    Op("subeach", "subtract K from each", "x = [ v - K for v in x ]", "list", "list", "addeach", D),
    Op("doubleeach", "double each", "x = [ v + v for v in x ]", "list", "list", "squareeach"),
    Op("squareeach", "square each", "x = [ v * v for v in x ]", "list", "list", "doubleeach"),
    Op("sum", "sum", "x = sum ( x )", "list", "int", "len"),
    Op("len", "length", "x = len ( x )", "list", "int", "sum"),
    Op("largest", "largest", "x = max ( x , default = 0 )", "list", "int", "smallest"),
    Op("smallest", "smallest", "x = min ( x , default = 0 )", "list", "int", "largest"),
    Op(
        "countabove", "count above K", "x = len ( [ v for v in x if v > K ] )", "list", "int", "countbelow", D
    ),
    Op(
        "countbelow", "count below K", "x = len ( [ v for v in x if v < K ] )", "list", "int", "countabove", D
    ),
]
OPS_BY_NAME = {op.name: op for op in OPS}
SPECIAL = ["<pad>", "<eos>", "<unk>"]


def _line(op: Op, k: int | None) -> tuple[str, str]:
    kk = str(k) if k is not None else ""
    return op.words.replace("K", kk), op.code.replace("K", kk)


def render(
    src: str, chain: list[tuple[str, int | None]], noise: float = 0.0, rng: random.Random | None = None
):
    """(prompt, program) for a chain of (op name, constant); `noise` swaps lines for their partners."""
    words, lines = [], []
    for name, k in chain:
        op = OPS_BY_NAME[name]
        words.append(_line(op, k)[0])
        if noise and rng is not None and rng.random() < noise:
            partner = OPS_BY_NAME[op.partner]
            pk = k if partner.ks and k in partner.ks else (partner.ks[0] if partner.ks else None)
            op, k = partner, pk
        lines.append(_line(op, k)[1])
    prompt = f"{'list' if src == 'list' else 'number'} : {' then '.join(words)} ."
    program = "def f ( x ) : \n " + " \n ".join(lines) + " \n return x"
    return prompt, program


def random_chain(rng: random.Random) -> tuple[str, list[tuple[str, int | None]]]:
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


def generate_problems(n: int, seed: int, prefix: str, exclude: set[str] | None = None) -> list[Problem]:
    """`n` distinct problems (by prompt), none of whose prompts is in `exclude`."""
    rng = random.Random(seed)
    seen = set(exclude or ())
    out: list[Problem] = []
    while len(out) < n:
        src, chain = random_chain(rng)
        prompt, program = render(src, chain)
        if prompt in seen:
            continue
        seen.add(prompt)
        out.append(
            Problem(
                task_id=f"{prefix}/{len(out)}",
                prompt=prompt,
                entry_point="f",
                reference=program,
                source="curriculum",
                meta={"src": src, "chain": [list(c) for c in chain]},
            )
        )
    return out


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
    """Write train/rl/heldout problem files (disjoint prompts) with synthesized tests; returns the paths."""
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


def vocabulary() -> list[str]:
    words: set[str] = {"list", "number", ":", "then", ".", "def", "f", "(", "x", ")", "\n", "return", "="}
    for op in OPS:
        words.update(op.words.replace("K", "").split())
        words.update(op.code.replace("K", "").split())
    words.update(str(d) for d in range(10))
    return SPECIAL + sorted(words)


def build_curriculum_model(out_dir: str | Path, seed: int = 0, hidden: int = 128, layers: int = 2) -> Path:
    """A ~0.4M-parameter Llama causal LM plus a word-level tokenizer, saved for `from_pretrained`.

    Llama rather than Qwen2: transformers 5 loads any tokenizer saved beside a Qwen2 config as its byte-level
    `Qwen2Tokenizer`, which breaks a word-level vocabulary; beside a Llama config it keeps the saved one.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(" ", behavior="removed")
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
        max_position_embeddings=128,
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
