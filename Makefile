# make run   - set up and start the app on 127.0.0.1 (no configuration needed)
# make test  - set up (system packages included) and run the whole test suite
# make bench - benchmarks (builds their image sets under ~/.cache/segregator-data first)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
TEST_WORKERS ?= 2
APT_RUN  := tesseract-ocr tesseract-ocr-eng fonts-dejavu-core
APT_TEST := $(APT_RUN) chromium fonts-noto-color-emoji

.PHONY: run test bench install system-run system-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Installs the Debian packages that are missing (as root, or through sudo when there is one).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "warning: cannot install$$missing (not root, no sudo)"; $(2) \
	  else echo "installing$$missing"; $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi; \
	fi
endef

system-run:
	$(call apt_install,$(APT_RUN),true;)

system-test:
	$(call apt_install,$(APT_TEST),exit 1;)

run: system-run install
	SEGREGATOR_DEMO_BUCKET=1 $(BIN)/python -m segregator serve --address 127.0.0.1 --port $(PORT)

test: system-test install
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile tests

bench: install
	$(BIN)/python -m bench.analyse
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.r2_moves
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.rescan
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.accuracy

clean:
	rm -rf $(VENV) demo_workspace
