#!/usr/bin/env bash
# Makes what examples/busybox/image.yaml reads: an RSA signing key (keys/demo.rsa and
# keys/demo.rsa.pub), the machine's statically linked busybox packaged as a signed apk
# (busybox.yaml; Debian's busybox-static provides /bin/busybox), and the signed repository index
# (repo/x86_64/APKINDEX.tar.gz). In this folder, or in the folder given as the first argument
# (busybox.yaml is copied there). Then: provenant build examples/busybox/image.yaml
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${1:-$here}
mkdir -p "$dir"
[[ -f $dir/busybox.yaml ]] || cp "$here/busybox.yaml" "$dir/"
cd "$dir"
# The checkout's launcher; from a copy of this folder, the provenant on PATH.
provenant=$root/bin/provenant
if [[ ! -x $provenant ]]; then
  provenant=$(command -v provenant || true)
  if [[ -z $provenant ]]; then
    echo "prepare.sh: no provenant found: not in a Provenant checkout, and none on PATH" >&2
    echo "  hint: run bash scripts/setup.sh in the checkout, or this checkout's prepare.sh with this folder as its argument" >&2
    exit 1
  fi
fi
p() { echo "+ provenant $*" >&2; "$provenant" "$@"; }
# Run again, the script keeps the key: the repository below is signed with it again.
[[ -f keys/demo.rsa ]] || p apk keygen --name demo.rsa -o keys
p apk build busybox.yaml --key keys/demo.rsa -o repo/x86_64/busybox-1.36.1-r0.apk
p apk index repo/x86_64/busybox-1.36.1-r0.apk --key keys/demo.rsa -o repo/x86_64/APKINDEX.tar.gz
