# The two commands of the README:
#   make demo   set up, then run a simulated city end to end; dashboards at a printed URL
#   make test   set up (Python packages + Debian packages), then lint, type-check and test
# Both are safe to run again; each does only the set-up still missing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CITY   ?= bandung
PORT   ?= 8050
APT_TEST := mosquitto mosquitto-clients influxdb chromium chromium-driver docker-compose socat shellcheck
APT_DEMO := mosquitto mosquitto-clients

.PHONY: demo test lint typecheck unit check-deps apt-test apt-demo clean fuzz-long messages

$(STAMP): pyproject.toml setup.py ingest/kernel.pyx
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Install Debian packages that are missing (needs root or sudo; skipped when present).
apt-test:
	@bash scripts/apt-ensure.sh $(APT_TEST)

apt-demo:
	@bash scripts/apt-ensure.sh --optional $(APT_DEMO)

demo: $(STAMP) apt-demo
	$(VENV)/bin/cityhub demo --city $(CITY) --port $(PORT) $(if $(WEBHOOK),--webhook $(WEBHOOK))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# After the suite: the ingest tests again with the lowest paho-mqtt the pin allows (the
# fast MQTT path uses its internals; scripts/paho-matrix.sh skips it when lowest = highest).
test: $(STAMP) apt-test lint
	$(VENV)/bin/pytest
	bash scripts/paho-matrix.sh $(VENV)

unit: $(STAMP)
	$(VENV)/bin/pytest -m "not integration and not browser"

# The decoder fuzzer for FUZZ_SECONDS (default 1200) on the kernel built with ASan and
# UBSan (docs/testing.md, Fuzzing). Low priority; do not run it under a benchmark.
fuzz-long: $(STAMP)
	@bash scripts/apt-ensure.sh clang
	fuzz/run_sanitized.sh

# The dashboards' strings: extract every _() and N_() into the template, then merge it
# into the Indonesian catalogue; translate the new empty msgstr entries (docs/dashboards.md).
messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F dashboards/babel.cfg -k _ -k N_ -k gettext --no-location \
		--omit-header --sort-output -o var/messages.pot .
	$(VENV)/bin/pybabel update -i var/messages.pot -d dashboards/locales -l id \
		--no-fuzzy-matching --omit-header

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
