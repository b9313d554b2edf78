# The VS Code extension (vscode/) and the code-server its end-to-end test drives.
# Included from the Makefile:  include mk/vscode.mk
VSCODE_VERSION := $(shell sed -n 's/^  "version": "\(.*\)",/\1/p' vscode/package.json)
VSIX := dist/cnnvis-$(VSCODE_VERSION).vsix
VSCODE_STAMP := vscode/node_modules/.cnnvis-installed
VSCODE_SRC := $(shell find vscode/src vscode/media -type f 2>/dev/null) vscode/package.json vscode/build.mjs
# code-server is large and slow to build: cached outside the repository, shared by checkouts.
CODE_SERVER_VERSION := 4.139.1
CODE_SERVER_DIR ?= $(HOME)/.cache/cnnvis-code-server
CODE_SERVER_STAMP := $(CODE_SERVER_DIR)/.installed-$(CODE_SERVER_VERSION)

.PHONY: vsix vscode-unit vscode-check code-server

$(VSCODE_STAMP): vscode/package.json $(wildcard vscode/package-lock.json)
	cd vscode && if [ -f package-lock.json ]; then $(NPM) ci --no-audit --no-fund; else $(NPM) install --no-audit --no-fund; fi
	touch $@

# out/webview.js comes from the frontend build (frontend/build.mjs), out/extension.js from vscode/build.mjs.
vscode/out/extension.js: $(VSCODE_STAMP) $(NODE_STAMP) $(VSCODE_SRC) $(FRONTEND_SRC)
	cd vscode && node build.mjs

vscode/out/webview.js: $(NODE_STAMP) $(FRONTEND_SRC)
	$(NPM) run build

$(VSIX): vscode/out/extension.js vscode/out/webview.js vscode/README.md
	mkdir -p dist
	cd vscode && npx vsce package --no-dependencies --skip-license --allow-missing-repository --out ../$(VSIX)

vsix: $(VSIX)

# Relay and framing unit tests (node's test runner), after a strict type-check of the extension.
vscode-unit: $(VSCODE_STAMP) $(NODE_STAMP)
	cd vscode && npx tsc --noEmit -p tsconfig.json && node build.mjs --tests && node --test out/test/

vscode-check: $(VSCODE_STAMP) $(NODE_STAMP)
	cd vscode && npx tsc --noEmit -p tsconfig.json

$(CODE_SERVER_STAMP): vscode/scripts/install-code-server.sh
	vscode/scripts/install-code-server.sh $(CODE_SERVER_DIR) $(CODE_SERVER_VERSION)

code-server: $(CODE_SERVER_STAMP)
