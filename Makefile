# Two commands do everything on a fresh Debian / Raspberry Pi OS machine:
#   make run    installs what is missing, builds the venv, runs the appliance (Ctrl-C fades out)
#   make test   installs what is missing (sox, mosquitto, PulseAudio), builds the venv, runs ruff and the tests
#               (`make test-long` adds the long audio checks; CI runs both)
# and on a Pi, `make install` sets it up as a service that starts at boot.
PYTHON ?= python3
VENV ?= .venv
CONFIG ?= config/bedside.toml
BIN := $(VENV)/bin

.PHONY: run test test-long test-bookworm bench references screenshot install install-test system system-test clean

$(BIN)/bedside: pyproject.toml
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	./scripts/gpio-library.sh $(VENV)
	touch $@

# What the tests and benchmarks need on top (pytest, ruff, scipy for measuring): not on the Pi.
$(VENV)/.test-deps: $(BIN)/bedside
	$(BIN)/pip install -q -e '.[test]'
	touch $@

system:
	./scripts/system-packages.sh

system-test:
	./scripts/system-packages.sh --test

run: system $(BIN)/bedside
	$(BIN)/bedside --config $(CONFIG) run

install:
	./scripts/install.sh

# install.sh in a throw-away Debian bookworm chroot, with its results checked (not in CI: minutes,
# and a Debian base system to download). ARCH=arm64 for a 64-bit Pi, with qemu-user-static.
install-test:
	./scripts/install-test.sh

test: system-test $(VENV)/.test-deps
	$(BIN)/ruff check bedside tests benchmarks scripts
	$(BIN)/python -m pytest -m "not long"

# The long audio checks (an hour of every sound, the Pi-share runs on the clocked device): CI runs
# them after `make test`.
test-long: system-test $(VENV)/.test-deps
	$(BIN)/python -m pytest -m long

# The tests again on the numpy and soundfile a Pi's venv takes from Debian bookworm (system-packages.sh:
# PyPI has no armhf wheels). numpy 1.24 transforms in float64 and promotes scalars by value; every other
# venv here gets numpy 2 from PyPI, so this is where a difference shows. CI runs it after test-long.
BOOKWORM_VENV ?= .venv-bookworm
$(BOOKWORM_VENV)/.test-deps: pyproject.toml
	$(PYTHON) -m venv $(BOOKWORM_VENV)
	$(BOOKWORM_VENV)/bin/pip install -q --upgrade pip
	$(BOOKWORM_VENV)/bin/pip install -q numpy==1.24.2 soundfile==0.12.1 -e '.[test]'
	touch $@

test-bookworm: system-test $(BOOKWORM_VENV)/.test-deps
	$(BOOKWORM_VENV)/bin/python -c 'import numpy; assert numpy.__version__ == "1.24.2", numpy.__version__'
	$(BOOKWORM_VENV)/bin/python -m pytest -m "not long"

bench: system-test $(VENV)/.test-deps
	$(BIN)/python benchmarks/synthesis.py
	$(BIN)/python benchmarks/appliance.py
	$(BIN)/python benchmarks/mqtt.py
	$(BIN)/python benchmarks/realtime.py
	$(BIN)/python benchmarks/texture.py
	$(BIN)/python benchmarks/web.py

# docs/bedside-phone.png, the page at phone size in Debian's chromium (for the README).
screenshot: system-test $(VENV)/.test-deps
	$(BIN)/python scripts/screenshot.py

# The real recordings the natural sounds are measured against (about 3.5 GB of Debian packages
# downloaded once, 137 MB of excerpts kept in ~/.cache/bedside/references), and their statistics
# recomputed into benchmarks/references/statistics.json. Not needed for the tests or the benchmark.
references: system-test $(VENV)/.test-deps
	$(BIN)/python scripts/fetch_references.py
	$(BIN)/python benchmarks/texture.py --update

clean:
	rm -rf $(VENV) $(BOOKWORM_VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
