# SoccerFactory: the two commands a new user needs are `make demo` and `make test`.
# Both set up the project-local virtual environment first (idempotent, seconds when nothing changed).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# A stamp keyed on every file that decides what gets installed, so `make install` is a no-op
# unless one of them changed.
STAMP := $(VENV)/.soccerfactory-installed
INSTALL_INPUTS := pyproject.toml constraints.txt Makefile
# Offline machines keep the CPU torch wheel in a local folder; point pip at it when present.
WHEEL_DIR ?= /opt/wheels
FIND_LINKS := $(if $(wildcard $(WHEEL_DIR)),--find-links $(WHEEL_DIR),)
PIPQ ?= -q
OUT ?= out
PYTEST_ARGS ?=
# `make gpu-check` runs on this device (DEVICE=cpu verifies the check on a machine without a GPU).
DEVICE ?= cuda
GPU_CHECK_ARGS ?=

export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR := $(CURDIR)/.yolo
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install browser demo test test-all bench gpu-check faults lint clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the pinned stack (CPU torch first, sam2 without build isolation)

$(STAMP): $(INSTALL_INPUTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIPQ) --upgrade "pip>=24" "setuptools>=68" wheel
	@# torch first and alone: any other order lets a dependency pull a multi-GB CUDA build.
	$(PIP) install $(PIPQ) $(FIND_LINKS) -c constraints.txt torch==2.13.0
	@# sam2 builds against the installed torch; with isolation it would fetch a CUDA torch to build with.
	SAM2_BUILD_CUDA=0 $(PIP) install $(PIPQ) $(FIND_LINKS) -c constraints.txt --no-build-isolation sam2==1.1.0
	@# sn-trackeval installs the module `trackeval`, as the upstream trackeval package (pinned before it)
	@# did: remove that one first, or a kept venv has two packages owning the same files.
	-$(PIP) uninstall $(PIPQ) -y trackeval
	$(PIP) install $(PIPQ) $(FIND_LINKS) -c constraints.txt -e ".[dev,sam2,tensorboard,s3]"
	@# rapidocr pulls opencv-python-headless, which overwrites the shared cv2 package; put the full build back on top.
	$(PIP) install $(PIPQ) $(FIND_LINKS) -c constraints.txt --no-deps --force-reinstall opencv-python
	$(BIN)/soccerfactory env --check
	@touch $@

demo: install ## render a synthetic broadcast clip and curate it on the embedded default (no server)
	$(BIN)/soccerfactory demo --output $(OUT)

# The report tests open the page in headless Chromium (tests/storage/report/chromium.py); without
# one they are skipped, saying so. Installed from the Debian/Ubuntu archive when missing, as root
# with apt-get; anywhere else this only says how to get it (or set CHROMIUM=/path/to/chrome).
browser: ## install headless Chromium for the report tests when missing (apt-get, as root)
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || [ -n "$$CHROMIUM" ]; then \
		true; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
			|| echo "could not install chromium: the report's browser tests will be skipped"; \
	else \
		echo "no Chromium: the report's browser tests will be skipped (install chromium, or set CHROMIUM=/path/to/chrome)"; \
	fi

# OpenVINO loaded into a process makes later torch training in it crash, so its runtime tests run in
# a pytest process of their own after the suite.
OPENVINO_TESTS := tests/curation/test_runtimes.py tests/curation/detection/test_yolo_export.py tests/curation/calibration/test_heatmap_runtime.py

test: install browser ## run the fast test suite (what CI runs)
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	SOCCERFACTORY_TEST_OPENVINO=1 $(BIN)/python -m pytest -q -k "openvino or sessions_take or retrained" $(OPENVINO_TESTS)

test-all: install browser ## run every test, slow model tests included
	$(BIN)/python -m pytest -m "" $(PYTEST_ARGS)

bench: install ## measure speed and quality figures (AP, ball recall, HOTA), written as JSON under bench/
	$(BIN)/python -m soccerfactory.flows.bench --output bench

gpu-check: install ## GPU worker check (DEVICE=cuda): curate 10 s of 720p, detector fps, ViT-L steps/s, peak memory -> bench/gpu-check.json
	$(BIN)/python -m soccerfactory.flows.gpu_check --device $(DEVICE) --out bench/gpu-check.json $(GPU_CHECK_ARGS)

faults: install ## SIGKILL `curate` at every failpoint, resume it, check the catalog equals a clean run's (bench/faults.json)
	$(BIN)/python -m soccerfactory.flows.bench_faults --out bench/faults.json

clean: ## remove the virtual environment and generated outputs
	rm -rf $(VENV) $(OUT) .pytest_cache .yolo
