#!/usr/bin/env bash
# Writes a Provenant config fragment (contents.repositories) with the Debian mirror that this
# machine's apt sources name, or PROVENANT_DEBIAN_MIRROR: bookworm, bookworm-updates and
# bookworm-security as one-line `deb` sources. Usage: scripts/debian-sources.sh OUT.yaml
set -euo pipefail
out=${1:?usage: debian-sources.sh OUT.yaml}
mirror=${PROVENANT_DEBIAN_MIRROR:-}
security=${PROVENANT_DEBIAN_SECURITY_MIRROR:-}
if [[ -z "$mirror" ]]; then
  # deb822 files first (URIs: lines), then one-line sources.list entries.
  uris=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' || true)
  uris+=$'\n'$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i ~ /:\/\//) {print $i; break}}' || true)
  mirror=$(echo "$uris" | grep -v -- '-security' | grep -m1 . || true)
  security=${security:-$(echo "$uris" | grep -m1 -- '-security' || true)}
fi
if [[ -z "$mirror" ]]; then
  echo "no Debian mirror found in /etc/apt; set PROVENANT_DEBIAN_MIRROR" >&2
  exit 1
fi
{
  echo "# Written by scripts/debian-sources.sh from this machine's apt sources."
  echo "contents:"
  echo "  repositories:"
  echo "    - deb ${mirror%/} bookworm main"
  echo "    - deb ${mirror%/} bookworm-updates main"
  if [[ -n "$security" ]]; then echo "    - deb ${security%/} bookworm-security main"; fi
} >"$out"
