# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs what it needs, then runs.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every test by default (cuda tests skip themselves without a GPU); select with e.g.
# `make test MARKERS="not slow and not browser"`.
MARKERS ?=

.PHONY: demo test lint bench venv clean labels browser-deps

venv: $(STAMP)

# The ray extra (tests/test_batch.py) adds about 25 s and 240 MB to a fresh install.
# torch==2.13.0 first: pip takes the CPU build that lies on this kind of machine's disk;
# a bare `torch` requirement would pull a multi-GB CUDA build instead.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,demo,bench,webcam,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/facestream demo --overwrite

test: $(STAMP)
	$(PY) -m pytest -m "$(MARKERS)"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy stream models filters demo

# Teacher labels (docs/LABELS.md): mediapipe==0.10.21 needs numpy<2, so it gets its own venv;
# the labelling script imports only numpy, cv2 and mediapipe and runs there by path.
MP_VENV := .venv-mp
MP_STAMP := $(MP_VENV)/.installed
DATA ?= ../shared/data

$(MP_STAMP):
	$(PYTHON) -m venv $(MP_VENV)
	$(MP_VENV)/bin/python -m pip install --quiet mediapipe==0.10.21 'numpy<2'
	touch $(MP_STAMP)

labels: $(STAMP) $(MP_STAMP)
	nice -n 10 $(MP_VENV)/bin/python models/train/labels.py --data $(DATA)
	nice -n 10 $(PY) -m facestream.models.train.mesh_to_ibug

clean:
	rm -rf $(VENV) build *.egg-info

# Headless Chromium for the browser test (tests/browser), from Debian; a no-op when present.
browser-deps:
	@test -x /usr/bin/chromium || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }
