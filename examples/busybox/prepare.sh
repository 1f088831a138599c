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
p() { echo "+ provenant $*" >&2; "$root/bin/provenant" "$@"; }
p apk keygen --name demo.rsa -o keys
p apk build busybox.yaml --key keys/demo.rsa -o repo/x86_64/busybox-1.36.1-r0.apk
p apk index repo/x86_64/busybox-1.36.1-r0.apk --key keys/demo.rsa -o repo/x86_64/APKINDEX.tar.gz
