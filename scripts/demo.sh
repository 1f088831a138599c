#!/usr/bin/env bash
# The main job on the bundled example, on a fresh machine: installs what is needed, then copies
# the example two-platform image (examples/hello-oci) into a new OCI layout and an oci-archive,
# inspects both, and has skopeo read the result as an independent check. Output goes to out/demo.
# (Build, SBOM, provenance and signing join this script as they land.)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/setup.sh"
cd "$root"
out=${1:-out/demo}
rm -rf "$out"
mkdir -p "$out"
p() { echo "+ provenant $*" >&2; node src/cli/main.ts "$@"; }
p copy oci:examples/hello-oci:latest "oci:$out/layout:hello"
p inspect "oci:$out/layout:hello"
p copy --platform linux/arm64 oci:examples/hello-oci:latest "oci-archive:$out/hello-arm64.tar:hello"
p inspect "oci-archive:$out/hello-arm64.tar:hello"
p digest "oci:$out/layout:hello"
echo "+ skopeo inspect --raw oci:$out/layout:hello | sha256sum" >&2
skopeo inspect --raw "oci:$out/layout:hello" | sha256sum
