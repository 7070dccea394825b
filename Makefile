# Two commands do all the set-up: `make demo` and `make test`.
# Both create the environment from the lock file when it is missing or stale.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# compile bytecode at install: where PYTHONDONTWRITEBYTECODE is set, nothing would ever be
# cached and every command would recompile its imports on start
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test bench env clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

env: $(VENV)/.synced

demo: env
	$(VENV)/bin/upmarket demo

# the suite runs on every core; a file's tests stay on one worker, so a world built once for a
# file is built once
test: env
	$(VENV)/bin/python -m pytest -n auto --dist loadfile

bench: env
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) upmarket.duckdb upmarket-output
