# The frontend (widget, full page, JupyterLab extension), and the browser the end-to-end tests drive.
# Included from the Makefile:  include mk/frontend.mk
NPM ?= npm
FRONTEND_SRC := $(shell find frontend/src -type f 2>/dev/null) frontend/build.mjs package.json tsconfig.json
FRONTEND_OUT := cnnvis/static/widget.js
LABEXT_OUT := cnnvis/labextension/package.json
# The prebuilt extension linked into the venv the way `jupyter labextension develop` does.
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/cnnvis
NODE_STAMP := node_modules/.cnnvis-installed

.PHONY: frontend frontend-check chromium

# npm ci when the lockfile exists (reproducible), npm install otherwise.
$(NODE_STAMP): package.json $(wildcard package-lock.json)
	if [ -f package-lock.json ]; then $(NPM) ci --no-audit --no-fund; else $(NPM) install --no-audit --no-fund; fi
	touch $@

# Rebuilt only when a source changed; writes widget.js/.css, page.js/.css and lib/lab.js.
$(FRONTEND_OUT): $(NODE_STAMP) $(FRONTEND_SRC)
	$(NPM) run build

# jupyter-builder comes with the venv's JupyterLab.
$(LABEXT_OUT): $(FRONTEND_OUT)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(NPM) run build:labextension

$(LABEXT_LINK): $(LABEXT_OUT)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" jupyter-builder develop --overwrite .

frontend: $(FRONTEND_OUT) $(LABEXT_OUT) $(LABEXT_LINK)

# Strict TypeScript type-check (esbuild only strips types).
frontend-check: $(NODE_STAMP)
	$(NPM) run typecheck

# Debian's chromium for the Playwright tests (no browser download needed); CI runs as root.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then apt-get update && apt-get install -y chromium; fi
