# Set-up and the jobs the README names. The environment lives in .venv/ at the repository root.
# torch is installed first and pinned: on these machines `torch==2.13.0` is a CPU build found on disk,
# and the [train] extra's floor (torch>=2.4) is then already met, so pip pulls no multi-GB CUDA build.
PY ?= python3
BIN := .venv/bin
STAMP := .venv/.installed

.PHONY: setup demo test test-all lint bench-exec bench-synth bench-strength bench-rl bench-serve bench-soak verl-env test-verl

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv .venv
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[train,dev]'
	# OpenRLHF's own client code, for tests/serve (its full install pins other torch/transformers versions)
	-$(BIN)/pip install -q --no-deps --target .cache/openrlhf openrlhf==0.11.2 pylatexenc==2.11
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/unitrl

test: setup
	$(BIN)/pytest -q -m "not slow and not gpu"

test-all: setup
	$(BIN)/pytest -q -m "not gpu"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench-exec: setup
	$(BIN)/python benchmarks/exec_throughput.py
	$(BIN)/python benchmarks/exec_breakdown.py

bench-synth: setup
	$(BIN)/python benchmarks/synth_throughput.py

bench-strength: setup
	$(BIN)/python benchmarks/test_strength.py

bench-serve: setup
	$(BIN)/python benchmarks/serve_load.py

bench-soak: setup
	$(BIN)/python benchmarks/soak.py

bench-rl: setup
	$(BIN)/python benchmarks/rl_curriculum.py

# verl's own reward managers, in a venv of their own (verl pins an older transformers than ours). No
# system site packages; torch pinned first (the CPU build on disk); verl itself with --no-deps plus only
# what its DataProto and reward managers import, so no CUDA, vLLM or flash-attn.
VERL_VENV := .cache/verl-venv
VERL_VERSION ?= 0.9.1

$(VERL_VENV)/.installed:
	$(PY) -m venv --clear $(VERL_VENV)
	$(VERL_VENV)/bin/pip install -q torch==2.13.0
	$(VERL_VENV)/bin/pip install -q --no-deps verl==$(VERL_VERSION)
	# the versions verl 0.9.1 asks for, pinned to those the README reports as proven
	$(VERL_VENV)/bin/pip install -q 'numpy>=2' tensordict==0.10.0 transformers==5.10.4 ray==2.60.0 \
	  omegaconf packaging pandas pyarrow aiohttp codetiming click rich pyyaml httpx
	# unitrl from this checkout via a .pth file (what an editable install does, without building in src/):
	# the sandbox's workers start with a scrubbed environment, so PYTHONPATH would not reach them
	$(VERL_VENV)/bin/python -c "import pathlib, site; pathlib.Path(site.getsitepackages()[0], 'unitrl-src.pth').write_text('$(CURDIR)/src\\n')"
	touch $@

verl-env: $(VERL_VENV)/.installed

test-verl: verl-env
	$(VERL_VENV)/bin/python tests/verl_env/run_verl_managers.py
