#!/usr/bin/env bash
# Makes what examples/debian/static.yaml and shell.yaml include: sources.yaml, the Debian 12
# repositories (bookworm, bookworm-updates, bookworm-security) at the mirror this machine's apt
# sources name, or PROVENANT_DEBIAN_MIRROR (scripts/debian-sources.sh). Written in this folder, or
# in the folder given as the first argument. Then: provenant build examples/debian/static.yaml
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-$here}
mkdir -p "$dir"
bash "$here/../../scripts/debian-sources.sh" "$dir/sources.yaml"
echo "wrote $dir/sources.yaml" >&2
