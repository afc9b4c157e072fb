# Two entry points a fresh machine needs: `make study` and `make test`.
# Both build .venv on first use (torch pinned to the small CPU build) and reuse it after.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv study demo test bench notebook clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned resolve pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The main study (attention swap) on the embedded model suite.
study: $(STAMP)
	$(PY) studies/attention_swap.py

demo: $(STAMP)
	$(PY) studies/demo.py

test: $(STAMP)
	$(PY) -m pytest tests interp hooks --doctest-modules

NB_STAMP := $(VENV)/.notebook-installed

# The tour notebook in a browser; installs the Jupyter server (the notebook extra) on first use.
notebook: $(NB_STAMP)
	$(VENV)/bin/jupyter notebook studies/explore.ipynb $(if $(filter 0,$(shell id -u)),--allow-root)

$(NB_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[notebook]'
	touch $@

bench: $(STAMP)
	$(PY) benchmarks/swap.py

clean:
	rm -rf $(VENV) .pytest_cache
