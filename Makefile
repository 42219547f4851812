# Set-up happens on first use: a project-local virtual environment in .venv.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: demo test lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install torch==2.14.1 torchvision==0.29.1
	$(VENV)/bin/pip install -e '.[dev]'
	touch $(STAMP)

# The main job: a linear zoom walk on the pretrained DigiFace DCGAN, then its
# steerability report. Replaces the previous demo's runs/demo and reports/demo.
demo: $(STAMP)
	$(PY) train.py fit --config configs/digiface/zoom_linear.yaml --checkpoint.dirpath runs/demo --overwrite true
	$(PY) evaluate.py steerability --checkpoint runs/demo/last.ckpt --out reports/demo --overwrite true

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check steer tests train.py evaluate.py
