"""verl's OWN reward managers scoring with `unitrl.integrations.verl`, run inside `.cache/verl-venv`
(`make test-verl`; verl pins an older transformers than unitrl's venv).

Rows come from `unitrl export verl` (written to parquet and read back) plus hand-made rows in the APPS
layout verl's code datasets use. Prompts and responses are tokenized with a byte-level BPE tokenizer
trained here (decode round-trips exactly), laid out as verl's rollout does (left-padded prompts,
right-padded responses, one attention mask) in a real `DataProto`. The config is verl's own generated
trainer config with the README's command-line overrides (`reward.custom_reward_function.path/name`,
`+...reward_kwargs`, or the older top-level spelling), migrated by verl's `migrate_legacy_reward_impl`;
the function is loaded by verl's `get_custom_reward_fn` and scored by the legacy naive and batch managers
and by the reward loop's naive manager (`load_reward_manager`, sync and async functions). Each checks: correct programs 1.0; an always-True `__eq__`, `exit(0)`, and failing only
the 11th of 12 tests 0.0 (binary) or their pass rate. Prints "verl managers: all checks passed".
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import verl
from omegaconf import OmegaConf

import unitrl.integrations.verl as unitrl_verl
from unitrl.formats.export import write_verl
from unitrl.records import Problem


def answer(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}\n```\nassert f(1) == 2\n"


TWELVE = Problem(
    "t/twelve", "Return twice x.", "f", [f"assert f({i}) == {2 * i}" for i in range(12)], source="demo"
)
STDIO = Problem("t/add", "Print a+b.", None, [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "3 4\n", "stdout": "7\n"}],
                source="demo")  # fmt: skip
APPS_CALL = json.dumps(
    {"inputs": [[[2, 7, 11, 15], 9], [[1, 5, 3], 8]], "outputs": [[0, 1], [1, 2]], "fn_name": "twoSum"}
)

RESPONSES = [  # (row index, response, binary, pass rate)
    (0, answer("def f(x):\n    return 2 * x"), 1.0, 1.0),
    (0, answer("class Any:\n    def __eq__(self, other):\n        return True\n\ndef f(x):\n    return Any()"), 0.0, 0.0),
    (0, answer("import sys\nsys.exit(0)\ndef f(x):\n    return 2 * x"), 0.0, 0.0),
    (0, answer("def f(x):\n    return -1 if x == 10 else 2 * x"), 0.0, 11 / 12),
    (1, answer("import sys\n\ndef main():\n    a, b = map(int, sys.stdin.read().split())\n    print(a + b)\n\n"
               'if __name__ == "__main__":\n    main()'), 1.0, 1.0),
    (1, answer("raise SystemExit(0)"), 0.0, 0.0),
    (2, answer("class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
               "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
               "                return [seen[target - x], i]\n            seen[x] = i"), 1.0, 1.0),
    (2, answer("class Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]"), 0.0, 0.5),
]  # fmt: skip


def dataset_rows(tmp: Path) -> list[dict]:
    """Two rows from `unitrl export verl` (through parquet) and one APPS-layout row as verl ships them."""
    path = tmp / "train.parquet"
    write_verl(str(path), [TWELVE, STDIO])
    rows = pd.read_parquet(path).to_dict("records")
    assert list(rows[0]) == ["data_source", "prompt", "ability", "reward_model", "extra_info"], list(rows[0])
    rows.append({"data_source": "codecontests", "prompt": [{"role": "user", "content": "Two sum."}],
                 "ability": "code", "reward_model": {"style": "rule", "ground_truth": APPS_CALL},
                 "extra_info": {"split": "train", "index": 2}})  # fmt: skip
    return rows


def tokenizer_for(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=["<pad>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))  # fmt: skip
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", clean_up_tokenization_spaces=False)
    for text in texts:
        assert hf.decode(hf.encode(text), skip_special_tokens=True) == text, "tokenizer does not round-trip"
    return hf


def data_proto(rows: list[dict], tokenizer) -> verl.DataProto:
    """verl's rollout layout: left-padded prompts, right-padded responses (with extra padding)."""
    prompts = ["\n".join(m["content"] for m in rows[i]["prompt"]) for i, _, _, _ in RESPONSES]
    p_ids = [tokenizer.encode(p) for p in prompts]
    r_ids = [tokenizer.encode(r) for _, r, _, _ in RESPONSES]
    P, R, pad = max(map(len, p_ids)), max(map(len, r_ids)) + 5, tokenizer.pad_token_id
    prompt_t = torch.tensor([[pad] * (P - len(x)) + x for x in p_ids])
    resp_t = torch.tensor([x + [pad] * (R - len(x)) for x in r_ids])
    mask = torch.tensor([[0] * (P - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (R - len(r))
                         for p, r in zip(p_ids, r_ids)])  # fmt: skip
    chosen = [rows[i] for i, _, _, _ in RESPONSES]
    return verl.DataProto.from_dict(
        tensors={"prompts": prompt_t, "responses": resp_t, "input_ids": torch.cat([prompt_t, resp_t], 1),
                 "attention_mask": mask},
        non_tensors={"data_source": np.array([r["data_source"] for r in chosen], dtype=object),
                     "reward_model": np.array([dict(r["reward_model"]) for r in chosen], dtype=object),
                     "extra_info": np.array([dict(r["extra_info"]) for r in chosen], dtype=object)},
    )  # fmt: skip


def config(name: str, manager: str = "naive", legacy: bool = False, **reward_kwargs) -> OmegaConf:
    """verl's trainer config (its generated ppo_trainer.yaml) with the README's command-line overrides,
    migrated by verl itself; `legacy` uses the older top-level spelling of the keys."""
    from verl.experimental.reward_loop.reward_loop import migrate_legacy_reward_impl

    if legacy:
        overrides = [f"reward_model.reward_manager={manager}", f"custom_reward_function.path={unitrl_verl.__file__}",
                     f"custom_reward_function.name={name}"]  # fmt: skip
    else:
        overrides = [f"reward.reward_manager.name={manager}", f"reward.custom_reward_function.path={unitrl_verl.__file__}",
                     f"reward.custom_reward_function.name={name}"]  # fmt: skip
    prefix = "+custom_reward_function" if legacy else "+reward.custom_reward_function"
    overrides += [f"{prefix}.reward_kwargs.{k}={json.dumps(v)}" for k, v in reward_kwargs.items()]
    base = OmegaConf.load(Path(verl.__file__).parent / "trainer" / "config" / "_generated_ppo_trainer.yaml")
    # hydra's `+key=value` adds a key; OmegaConf's dotlist adds any key, so the `+` is dropped here
    return migrate_legacy_reward_impl(
        OmegaConf.merge(base, OmegaConf.from_dotlist([o.lstrip("+") for o in overrides]))
    )


def check(label: str, rewards: torch.Tensor, column: int) -> None:
    want = [case[column] for case in RESPONSES]
    got = [round(float(x), 6) for x in rewards]
    assert np.allclose(got, want), f"{label}: got {got}, want {want}"
    print(f"ok  {label}: {got}")


def legacy_managers(data: verl.DataProto, tokenizer) -> None:
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.workers.reward_manager import BatchRewardManager, NaiveRewardManager

    for reward, column in (("binary", 2), ("pass_rate", 3)):
        for cls, name in ((NaiveRewardManager, "compute_score"), (BatchRewardManager, "compute_score"),
                          (BatchRewardManager, "compute_score_batch")):  # fmt: skip
            fn = get_custom_reward_fn(config(name, legacy=cls is BatchRewardManager, reward=reward))
            out = cls(tokenizer, 0, compute_score=fn)(data, return_dict=True)
            check(f"{cls.__name__}[{name}, {reward}]", out["reward_tensor"].sum(-1), column)
    # the dict form: verl takes "score" as the reward and logs the other keys as reward_extra_info
    fn = get_custom_reward_fn(config("compute_score", return_dict=True))
    out = NaiveRewardManager(tokenizer, 0, compute_score=fn)(data, return_dict=True)
    check("NaiveRewardManager[return_dict]", out["reward_tensor"].sum(-1), 2)
    check("reward_extra_info pass_rate", torch.tensor(out["reward_extra_info"]["pass_rate"]), 3)
    assert out["reward_extra_info"]["tests"] == [12, 12, 12, 12, 2, 2, 2, 2], out["reward_extra_info"][
        "tests"
    ]


def reward_loop(data: verl.DataProto, tokenizer) -> None:
    from verl.trainer.ppo.reward import load_reward_manager

    for name, column, kwargs in (
        ("compute_score", 2, {}),
        ("compute_score_async", 3, {"reward": "pass_rate"}),
    ):
        manager = load_reward_manager(config(name, **kwargs), tokenizer)
        jobs = [manager.run_single(data[i : i + 1]) for i in range(len(data))]
        outs = manager.loop.run_until_complete(asyncio.gather(*jobs))
        check(
            f"reward loop {type(manager).__name__}[{name}]",
            torch.tensor([o["reward_score"] for o in outs]),
            column,
        )


def main() -> int:
    print(f"verl {verl.__version__}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = dataset_rows(Path(tmp))
    texts = ["\n".join(m["content"] for m in r["prompt"]) for r in rows] + [r for _, r, _, _ in RESPONSES]
    tokenizer = tokenizer_for(texts)
    data = data_proto(rows, tokenizer)
    legacy_managers(data, tokenizer)
    reward_loop(data, tokenizer)
    unitrl_verl.close()
    print("verl managers: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
