# Two commands do all the set-up: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; override e.g. TORCH_SPEC='torch>=2.6' on a GPU machine.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/python examples/make_clips.py examples/clips
	$(BIN)/sertk predict examples/clips
	$(BIN)/python examples/make_recording.py examples/out/recording.wav
	$(BIN)/sertk predict examples/out/recording.wav --segment 2 --hop 1 --plot examples/out

test: venv
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
