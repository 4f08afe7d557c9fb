# Set-up and the jobs the README names. The environment lives in .venv/ at the repository root.
# torch is installed first and pinned: on these machines `torch==2.13.0` is a CPU build found on disk,
# and the [train] extra's floor (torch>=2.4) is then already met, so pip pulls no multi-GB CUDA build.
PY ?= python3
BIN := .venv/bin
STAMP := .venv/.installed

.PHONY: setup demo test test-all lint bench-exec bench-synth bench-rl bench-serve bench-soak

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

bench-serve: setup
	$(BIN)/python benchmarks/serve_load.py

bench-soak: setup
	$(BIN)/python benchmarks/soak.py

bench-rl: setup
	$(BIN)/python benchmarks/rl_curriculum.py
