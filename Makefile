# garbage-edge: one command to set up and run the demo, one to set up and run the tests.
#   make demo   - fresh machine -> the agent running on the simulated room, with a local platform receiver
#   make test   - fresh machine -> the whole test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= ultralytics,mqtt,gpio,dev
# python3-venv: Debian ships `python3 -m venv` apart; systemd: `systemd-analyze verify` of the unit (containers often lack it)
DEB_PACKAGES := python3-venv espeak-ng alsa-utils socat mosquitto ffmpeg sox systemd
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_OUT ?= demo-out

.PHONY: all deps venv lint test test-fast demo bench install clean

all: test

# Debian packages the agent and the tests use; installed only when missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: setup.py
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

venv: $(VENV)/.installed

# pyflakes-class errors only (undefined names, unused imports): cheap, and they are real bugs
lint: venv
	$(VENV)/bin/ruff check --select F,E9 edge hw models bench tests

test: deps venv lint
	$(PY) -m pytest

# the suite without the slow end-to-end and crash tests
test-fast: deps venv
	$(PY) -m pytest -m "not slow"

demo: deps venv
	$(VENV)/bin/gedge demo --out $(DEMO_OUT)

bench: deps venv
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Install on the box itself (Raspberry Pi OS): see docs/install.md
install:
	./systemd/install.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache $(DEMO_OUT)
