# Two commands on a fresh machine:  make book  (build the HTML)  and  make test  (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
# Where there is no NVIDIA GPU, take PyTorch's CPU build (a fraction of the download) if its
# index answers; otherwise pip's default index.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_INDEX = $(shell if ! command -v nvidia-smi >/dev/null 2>&1 && \
	curl -fsS --max-time 5 -o /dev/null $(TORCH_CPU_INDEX)/torch/ 2>/dev/null; then \
	echo "--index-url $(TORCH_CPU_INDEX)"; fi)

.PHONY: book test test-fast install notebooks artifacts bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[book,test]"
	touch $@

install: $(VENV)/.installed

book: install
	# --all: re-read every page, so a change inside the package never leaves stale outputs.
	$(BIN)/jupyter-book build --all -W -n --keep-going .
	@echo "The book is at $(CURDIR)/_build/html/index.html"

# The whole suite: unit tests, a clean full book build with -W -n, and a real browser.
test: install
	$(BIN)/python -m pytest

# The unit tests alone (no book build, no browser): what to run while editing the package.
test-fast: install
	$(BIN)/python -m pytest -m "not slow" --durations=10

# Regenerate the Colab notebooks (chapters/*.ipynb, no outputs) from the MyST sources; prose
# with glued numbers becomes a cell that shows it with the numbers filled in (tools/colab_notebooks.py).
notebooks: install
	$(BIN)/python tools/colab_notebooks.py chapters/*.md

# Retrain every shipped cpu-profile artifact with the command the manifest recorded for it.
artifacts: install
	$(BIN)/icl-book retrain

bench: install
	$(BIN)/python benchmarks/train_throughput.py --config small --device cpu

clean:
	rm -rf _build build runs
