# The two commands of the README: `make tutorial` and `make test`.
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --disable-pip-version-check -q

.PHONY: tutorial test lint build browser-deps

## Run the quick-start notebook against the offline simulator (no API key needed).
tutorial: build
	$(PIP) -e ".[notebooks]"
	$(PYTHON) -m ipykernel install --sys-prefix --name python3 >/dev/null
	NBIMAGES_BACKEND=local $(PYTHON) -m jupyter execute --kernel_name=python3 --output='{notebook_name}.executed.ipynb' notebooks/01_quickstart.ipynb
	@echo "Executed: notebooks/01_quickstart.executed.ipynb (open it in JupyterLab); images in the store (NBIMAGES_HOME or ~/.local/share/nbimages)."

## Install everything the tests need (Chromium from Debian for the browser tests), check the
## code with ruff and mypy, and run the tests.
test: browser-deps build
	$(PIP) -e ".[test]"
	$(PYTHON) -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(MAKE) lint PYTHON="$(PYTHON)"
	$(PYTHON) -m pytest

## ruff and mypy, with the settings in pyproject.toml (both come with the test extra).
lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy

## Bundle the widgets' ES modules (js/src -> js/build/) for a source checkout; `--watch` in development.
build:
	$(PYTHON) js/build.py

browser-deps:
	bash tools/install-chromium.sh
