#!/usr/bin/env bash
# Makes what examples/debian/static.yaml and shell.yaml include: sources.yaml, the Debian 12
# repositories (bookworm, bookworm-updates, bookworm-security) at the mirror this machine's apt
# sources name, or PROVENANT_DEBIAN_MIRROR (scripts/debian-sources.sh). Written in this folder, or
# in the folder given as the first argument. Then: provenant build examples/debian/static.yaml
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-$here}
mkdir -p "$dir"
script=$here/../../scripts/debian-sources.sh
if [[ ! -f $script ]]; then
  echo "prepare.sh: $script not found: this copy of the example is outside a Provenant checkout" >&2
  echo "  hint: run the checkout's examples/debian/prepare.sh with this folder as its argument (bash CHECKOUT/examples/debian/prepare.sh $dir)" >&2
  exit 1
fi
bash "$script" "$dir/sources.yaml"
echo "wrote $dir/sources.yaml" >&2
