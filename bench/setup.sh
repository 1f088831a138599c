#!/usr/bin/env bash
# Installs what the benchmarks need on a fresh Debian machine (the tests have scripts/setup.sh):
# Node >= 22.12 and the npm dependencies (esbuild among them), the registry the push benchmarks
# push to (docker-registry), the peers each benchmark runs side by side with Provenant (skopeo,
# buildah, mmdebstrap; pigz and GNU tar for the floor), and GNU time for peak memory. Benchmarks
# run on demand (`node bench/all.ts`, as root), never in CI. Safe to run again: it skips what is there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/node.sh"
if [[ ! -d "$root/node_modules" ]] || [[ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]]; then
  (cd "$root" && npm install --no-audit --no-fund >&2)
fi

need=(time pigz tar buildah mmdebstrap skopeo docker-registry)
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
