#!/usr/bin/env bash
# Installs what the benchmarks need on a fresh Debian machine (the tests have scripts/setup.sh):
# Node >= 22.12 and the npm dependencies (esbuild among them), the registry the push benchmarks
# push to (docker-registry), the peers each benchmark runs side by side with Provenant (skopeo,
# buildah, mmdebstrap; pigz and GNU tar for the floor), and GNU time for peak memory. Benchmarks
# run on demand (`node bench/all.ts`, as root), never in CI. Safe to run again: it skips what is there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/node.sh"
source "$root/scripts/packages.sh"
install_npm_dependencies
install_debian_packages time pigz tar buildah mmdebstrap skopeo docker-registry
