# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-tf test-jax demo train gpu-check wheel serving-compat clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,notebooks]'
	touch $(STAMP)

install: $(STAMP)

# The whole suite on TensorFlow, then the layer/model tests of what the backend computes
# on JAX (they share no fixtures: xdist's work stealing spreads them evenly).
# Two pytest-xdist workers: much of the suite is single-threaded (tracing, process
# start-up); tests that share an expensive fixture stay in one worker (tests/conftest.py).
test: test-tf test-jax

test-tf: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q -n 2 --durations=15

# On JAX the tests run the layers op by op, and XLA compiles each op for each new shape:
# its lowest optimization level compiles them about a quarter faster.
test-jax: $(STAMP)
	XLA_FLAGS="--xla_backend_optimization_level=0 $(XLA_FLAGS)" KERAS_BACKEND=jax \
		$(PY) -m pytest -q -n 2 --dist worksteal -m "not tf_backend_only" \
		tests/layers tests/model_test.py

# Offline copy of Multi30k when present; otherwise the official files are downloaded.
MULTI30K_DIR ?= $(wildcard ../shared/data/multi30k)

demo: $(STAMP)
	MULTI30K_DIR=$(MULTI30K_DIR) $(PY) -m tf_transformer.demo

train: $(STAMP)
	MULTI30K_DIR=$(MULTI30K_DIR) $(VENV)/bin/tf-transformer train --config best --run-dir runs/best

# On a GPU: layer/model tests, training and decoding throughput, test BLEU through the
# SavedModel (or the Keras-on-JAX part where TensorFlow is missing); without one it says
# so and exits 0. Uses .venv if there, else $(PYTHON): a GPU machine may have no index.
GPU_PY := $(if $(wildcard $(PY)),$(PY),$(PYTHON))
gpu-check:
	MULTI30K_DIR=$(MULTI30K_DIR) $(GPU_PY) benchmarks/gpu_check.py

# A wheel in dist/ (configs included; the shipped model is not: it stays in the checkout).
wheel: $(STAMP)
	$(PY) -m pip install -q 'build>=1.2,<2'
	$(PY) -m build --wheel --outdir dist .

# TF Serving's newest release runs TensorFlow 2.20 and TF Text 2.20: a second venv with
# just those two loads an export in a fresh process and must translate exactly as 2.21.
SERVING_VENV := .venv-serving
SERVING_STAMP := $(SERVING_VENV)/.installed-stamp
EXPORT ?= saved_models/multi30k_de_en/3

$(SERVING_STAMP):
	test -x $(SERVING_VENV)/bin/python || $(PYTHON) -m venv $(SERVING_VENV)
	$(SERVING_VENV)/bin/python -m pip install -q --upgrade pip
	$(SERVING_VENV)/bin/python -m pip install -q 'tensorflow==2.20.*' 'tensorflow-text==2.20.*'
	touch $(SERVING_STAMP)

serving-compat: $(STAMP) $(SERVING_STAMP)
	$(PY) -m tests.export.serving_compat --python $(SERVING_VENV)/bin/python $(EXPORT)

clean:
	rm -rf $(VENV) $(SERVING_VENV) build dist *.egg-info .pytest_cache
