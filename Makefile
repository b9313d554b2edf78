# The two commands: `make demo` and `make test`. Both create .venv/ and install everything first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.cnnvis-installed
DEMO_DIR := examples/demo
HEADLESS ?=
PYTHON ?= $(shell command -v python3.11 || command -v python3)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install demo demo-data test lint bench clean

.DEFAULT_GOAL := install
include mk/frontend.mk
include mk/vscode.mk

$(PY):
	$(PYTHON) -m venv $(VENV)

# grad-cam pins the GUI build of OpenCV; cnnvis uses the headless one, so it goes in without deps.
$(STAMP): $(PY) pyproject.toml constraints.txt
	SKIP_JUPYTER_BUILDER=1 $(PIP) install -q -c constraints.txt -e ".[all,test]"
	$(PIP) install -q -c constraints.txt --no-deps "grad-cam>=1.5.4" "ttach>=0.0.3"
	touch $(STAMP)

install: $(STAMP) frontend

demo-data: install
	$(PY) -m cnnvis.demo $(DEMO_DIR)

demo: demo-data
ifeq ($(HEADLESS),)
	cd $(DEMO_DIR) && ../../$(VENV)/bin/jupyter lab demo.ipynb $(ROOT_FLAG)
else
	$(VENV)/bin/jupyter nbconvert --to notebook --execute $(DEMO_DIR)/demo.ipynb \
		--output demo.executed.ipynb --ExecutePreprocessor.timeout=600 \
		--ExecutePreprocessor.store_widget_state=False
	@echo "Demo notebook executed: $(DEMO_DIR)/demo.executed.ipynb"
endif

test: install chromium vscode-unit vsix code-server
	$(PY) -m pytest -q -p no:cacheprovider

lint: install frontend-check vscode-check
	$(VENV)/bin/ruff check cnnvis tests benchmarks
	$(PY) tests/security/test_floors.py

bench: install
	$(PIP) install -q -c constraints.txt -e ".[bench]"
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_DIR)/runs $(DEMO_DIR)/model.* $(DEMO_DIR)/samples.npz $(DEMO_DIR)/demo.json \
		$(DEMO_DIR)/demo.executed.ipynb build dist lib cnnvis/labextension vscode/out

# Whole model zoos (random weights, nothing downloaded): one outcome per model against the reference.
SWEEPS := sweep_torchvision.py sweep_timm.py sweep_keras.py sweep_onnx_backend.py sweep_onnx_torchvision.py
.PHONY: sweep
sweep: install
	cd benchmarks && for s in $(SWEEPS); do TF_CPP_MIN_LOG_LEVEL=2 ../$(PY) $$s || exit 1; done
