# Set-up happens on first use: a project-local virtual environment in .venv.
VENV   := .venv
PY     := $(VENV)/bin/python
STEER  := $(VENV)/bin/steer
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: demo test test-fast lint joint-shift joint-shift-seeds chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install torch==2.14.1 torchvision==0.29.1
	$(VENV)/bin/pip install -e '.[dev]'
	$(MAKE) chromium
	touch $(STAMP)

# The browser test of `steer explore` drives Debian's chromium (playwright's own download cannot be reached here);
# installed with apt-get where there is one and chromium is missing.
chromium:
	command -v chromium >/dev/null || ! command -v apt-get >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)

# The main job: a linear zoom walk on the pretrained DigiFace DCGAN, then its
# steerability report. Replaces the previous demo's runs/demo and reports/demo.
demo: $(STAMP)
	$(STEER) fit --config configs/digiface/zoom_linear.yaml --checkpoint.dirpath runs/demo --overwrite true
	$(STEER) evaluate steerability --checkpoint runs/demo/last.ckpt --out reports/demo --overwrite true

# The joint-steering experiment (docs/JOINT_STEERING.md): three sprites models, (a) GAN + walk, (b) GAN on
# shift-augmented data + walk, (c) joint G + walk with augmentation, trained with seed SEED (default 0); their
# reports and the comparison. About 30 minutes on 2 CPU cores (measured: 20 min with (c) beside the others).
# Replaces runs/joint_shift/seedSEED and reports/joint_shift/seedSEED.
# `make joint-shift-seeds SEEDS="0 1 2"` runs it per seed, then compares a, b, c over the seeds (mean, 95 % CI).
SEED  ?= 0
SEEDS ?= 0 1 2
JS := runs/joint_shift/seed$(SEED)
JR := reports/joint_shift/seed$(SEED)
SEEDED := --seed_everything $(SEED) --data.init_args.seed $(SEED)
joint-shift: $(STAMP)
	$(STEER) fit --config configs/sprites/gan_biased_x.yaml --checkpoint.dirpath $(JS)/a --overwrite true \
		$(SEEDED) --model.init_args.seed $(SEED)
	$(STEER) fit --config configs/sprites/gan_augmented_x.yaml --checkpoint.dirpath $(JS)/b --overwrite true \
		$(SEEDED) --model.init_args.seed $(SEED)
	$(STEER) fit --config configs/sprites/joint_shift_x.yaml --checkpoint.dirpath $(JS)/c --overwrite true \
		$(SEEDED) --model.init_args.seed $(SEED)
	$(STEER) fit --config configs/sprites/walk_biased_x.yaml --checkpoint.dirpath $(JS)/walk_a --overwrite true \
		$(SEEDED) --model.init_args.generator.init_args.checkpoint $(JS)/a/last.ckpt
	$(STEER) fit --config configs/sprites/walk_augmented_x.yaml --checkpoint.dirpath $(JS)/walk_b --overwrite true \
		$(SEEDED) --model.init_args.generator.init_args.checkpoint $(JS)/b/last.ckpt
	for m in walk_a walk_b c; do \
		$(STEER) evaluate steerability --checkpoint $(JS)/$$m/last.ckpt --out $(JR)/$$m --n 1000 --batch_size 200 --overwrite true || exit 1; \
	done
	$(STEER) evaluate compare --reports '[a=$(JR)/walk_a, b=$(JR)/walk_b, c=$(JR)/c]' --out $(JR)/comparison --overwrite true

joint-shift-seeds: $(STAMP)
	for s in $(SEEDS); do $(MAKE) joint-shift SEED=$$s || exit 1; done
	r=""; for s in $(SEEDS); do for m in a=walk_a b=walk_b c=c; do \
		r="$$r$${r:+, }$${m%%=*}=reports/joint_shift/seed$$s/$${m#*=}"; done; done; \
	$(STEER) evaluate compare --reports "[$$r]" --out reports/joint_shift/seeds --overwrite true

# The layer contract (pyproject.toml [tool.importlinter], docs/architecture.md) runs before the tests.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

# The tests that neither spawn a process nor run a Trainer (under a minute on 2 CPU cores).
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check steer tests train.py evaluate.py bench setup.py
	$(VENV)/bin/lint-imports
